import Crypto

#if OpenSSL
import CLibCrypto
#endif

/// HMAC-SHA256 for key-derivation chains (the keyring's key tree, family ids): many MACs
/// under different keys in a row.
///
/// With the `OpenSSL` trait, RFC 2104's construction on one OpenSSL SHA-256 digest context,
/// re-initialised for each hash (about 250 ns a MAC here; `EVP_MAC` took 380 ns, swift-crypto's
/// generic `HMAC<SHA256>` six times that); OpenSSL clears the context when the chain is freed.
/// Without the trait, swift-crypto's `HMAC<SHA256>`. Both give the same bytes, checked against
/// RFC 4231 and Wycheproof vectors.
public final class HMACChain {
    #if OpenSSL
    private let context: OpaquePointer

    /// OpenSSL's SHA-256: fetched once, shared by every chain.
    private static let sha256 = Digest(pointer: sr_sha256_fetch())

    private struct Digest: @unchecked Sendable {
        let pointer: OpaquePointer?
    }
    #endif

    /// A chain for one derivation; use it from one thread.
    public init() throws(CipherError) {
        #if OpenSSL
        guard let md = Self.sha256.pointer, let context = sr_sha256_ctx_new(md) else {
            throw CipherError(.invalidKey, "OpenSSL has no SHA-256")
        }
        self.context = context
        #endif
    }

    deinit {
        #if OpenSSL
        sr_sha256_ctx_free(context)
        #endif
    }

    /// HKDF-SHA256 (RFC 5869) with no salt: `out.count` bytes (at most 8,160) from `key` and
    /// `info` (at most 256 bytes).
    public func hkdf(
        key: UnsafeRawBufferPointer,
        info: [UInt8],
        into out: UnsafeMutableRawBufferPointer
    ) {
        #if OpenSSL
        let ok = info.withUnsafeBufferPointer { i in
            sr_hkdf_sha256(
                context,
                key.bindMemory(to: UInt8.self).baseAddress,
                key.count,
                i.baseAddress,
                i.count,
                out.bindMemory(to: UInt8.self).baseAddress,
                out.count
            )
        }
        precondition(ok == 1, "OpenSSL HKDF-SHA256 failed")
        #else
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: key),
            info: info,
            outputByteCount: out.count
        )
        derived.withUnsafeBytes { out.copyMemory(from: $0) }
        #endif
    }

    /// HMAC-SHA256 of `message` under `key`: 32 bytes.
    public func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        #if OpenSSL
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBytes { o in
                    sr_hmac_sha256(
                        context,
                        k.bindMemory(to: UInt8.self).baseAddress,
                        key.count,
                        m.bindMemory(to: UInt8.self).baseAddress,
                        m.count,
                        o.bindMemory(to: UInt8.self).baseAddress
                    )
                }
            }
        }
        // Keys and messages are plain byte arrays: only memory exhaustion fails here.
        precondition(ok == 1, "OpenSSL HMAC-SHA256 failed")
        return out
        #else
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
        #endif
    }

    /// A walk down a key tree: the key becomes `mac(key, [step])` for each step in turn, and
    /// the result is `mac(key, last)`.
    ///
    /// The same bytes as those calls one by one. With OpenSSL it is one call, and the keys
    /// met on the way stay on C's stack, cleared before it returns.
    public func walk(key: [UInt8], steps: [UInt8], last: [UInt8]) -> [UInt8] {
        #if OpenSSL
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBufferPointer { k in
            steps.withUnsafeBufferPointer { s in
                last.withUnsafeBufferPointer { l in
                    out.withUnsafeMutableBufferPointer { o in
                        sr_hmac_sha256_walk(
                            context,
                            k.baseAddress,
                            key.count,
                            s.baseAddress,
                            s.count,
                            l.baseAddress,
                            last.count,
                            o.baseAddress
                        )
                    }
                }
            }
        }
        precondition(ok == 1, "OpenSSL HMAC-SHA256 failed")
        return out
        #else
        var node = key
        for step in steps { node = mac(key: node, message: [step]) }
        return mac(key: node, message: last)
        #endif
    }
}
