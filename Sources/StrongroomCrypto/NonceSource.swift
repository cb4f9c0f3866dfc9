import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Random GCM nonces from the operating system's CSPRNG, read in blocks.
///
/// `AES.GCM.Nonce()` makes two `getrandom` calls per nonce, a fifth of the cost of
/// sealing a short field. This reads 4 KiB at a time and hands out 12-byte slices,
/// each used once. A forked child must not reuse its parent's block, so the block
/// is dropped in the child (`pthread_atfork`) and refilled.
enum NonceSource {
    static let blockSize = 4096

    struct Pool: ~Copyable {
        var bytes = [UInt8](repeating: 0, count: NonceSource.blockSize)
        var offset = NonceSource.blockSize
        var epoch: UInt64 = 0
    }

    static let pool = Mutex(Pool())
    static let forkEpoch = Atomic<UInt64>(0)
    static let registered: Bool = {
        pthread_atfork(nil, nil) { NonceSource.forkEpoch.add(1, ordering: .relaxed) }
        return true
    }()

    /// Fills `nonce` with fresh random bytes.
    static func fill(_ nonce: UnsafeMutableRawBufferPointer) {
        precondition(registered && nonce.count <= 64)
        pool.withLock { pool in
            let epoch = forkEpoch.load(ordering: .relaxed)
            if pool.offset + nonce.count > blockSize || pool.epoch != epoch {
                pool.bytes.withUnsafeMutableBytes { systemRandom($0) }
                pool.offset = 0
                pool.epoch = epoch
            }
            let start = pool.offset
            pool.bytes.withUnsafeMutableBytes { block in
                nonce.copyMemory(from: UnsafeRawBufferPointer(rebasing: block[start..<(start + nonce.count)]))
                // A handed-out nonce never stays in the pool.
                block[start..<(start + nonce.count)].initializeMemory(as: UInt8.self, repeating: 0)
            }
            pool.offset += nonce.count
        }
    }

    /// `/dev/urandom` (the kernel CSPRNG; one read per block), opened once.
    static let urandom: Int32 = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

    static func systemRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        var filled = 0
        if urandom >= 0, let base = buffer.baseAddress {
            while filled < buffer.count {
                let n = read(urandom, base + filled, buffer.count - filled)
                if n > 0 {
                    filled += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
        }
        // Without /dev/urandom (a bare chroot), the standard library's generator.
        var generator = SystemRandomNumberGenerator()
        while filled < buffer.count {
            let word = generator.next()
            withUnsafeBytes(of: word) { bytes in
                let n = min(8, buffer.count - filled)
                UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + n)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
            }
            filled += min(8, buffer.count - filled)
        }
    }
}
