#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Random GCM nonces straight from the kernel CSPRNG, one `getentropy` call per nonce.
///
/// `AES.GCM.Nonce()` fills 12 bytes with two 8-byte generator calls (two syscalls); one call
/// does. No bytes are buffered in the process: a pool would have to survive `fork`,
/// snapshots and closed descriptors without ever handing the same nonce out twice, and a
/// repeated nonce under one key breaks AES-GCM. A failing entropy source stops the process
/// rather than fall back to anything weaker.
enum NonceSource {
    /// Fills `nonce` (at most 256 bytes) with fresh random bytes.
    static func fill(_ nonce: UnsafeMutableRawBufferPointer) {
        precondition(nonce.count <= 256)
        guard nonce.count > 0 else { return }
        let status = getentropy(nonce.baseAddress, nonce.count)
        precondition(status == 0, "the kernel entropy source failed")
    }
}
