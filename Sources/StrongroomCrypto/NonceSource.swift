import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Random GCM nonces, data keys and subject pseudonyms from the kernel CSPRNG, drawn in
/// blocks into a per-thread pool.
///
/// One `getentropy` call per nonce costs about half a microsecond, more than the AES-GCM
/// seal of a field. Each thread instead keeps its own pool of about a thousand nonces
/// (12 KiB of kernel randomness, refilled in one `getrandom` call) and hands each
/// byte out once. Nothing is ever counted or derived: every nonce is fresh kernel output.
///
/// A pool must never be handed out twice, so its memory is mapped with
/// `MADV_WIPEONFORK`: a forked child sees the page zeroed (an empty pool) and draws its
/// own bytes. Where the kernel cannot wipe on fork (before Linux 4.14, or not Linux), no
/// pool is kept and each nonce is one `getentropy` call. A failing entropy source stops
/// the process rather than fall back to anything weaker. VM snapshots that are resumed
/// twice are out of reach of any in-process scheme and are documented as such.
enum NonceSource {
    static let pageBytes = 12_288
    /// Bytes before the pool: the count of unused pool bytes (zero after a fork), then the
    /// fork generation the pool was filled in.
    static let headerBytes = 64
    /// The pool: 1018 twelve-byte nonces.
    static let poolBytes = (pageBytes - headerBytes) / 12 * 12

    /// Bumped in every child `fork()` makes (a `pthread_atfork` handler): a second guard
    /// beside the wiped page, for kernels or emulators that accept `MADV_WIPEONFORK` and
    /// ignore it.
    static let forkGeneration = Atomic<Int>(0)

    /// The key of each thread's pool, or nil when pools cannot be made fork-safe here.
    static let threadKey: pthread_key_t? = {
        guard wipeOnForkWorks() else { return nil }
        guard pthread_atfork(nil, nil, { NonceSource.forkGeneration.add(1, ordering: .relaxed) }) == 0 else {
            return nil
        }
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { pool in
            if let pool { munmap(pool, NonceSource.pageBytes) }
        }
        return status == 0 ? key : nil
    }()

    /// True when nonces come from per-thread pools; false means one syscall per nonce.
    static var isPooled: Bool { threadKey != nil }

    /// Fills `nonce` (at most 64 bytes) with fresh random bytes never handed out before.
    static func fill(_ nonce: UnsafeMutableRawBufferPointer) {
        precondition(nonce.count <= 64)
        guard nonce.count > 0 else { return }
        guard let pool = threadPool() else {
            draw(nonce)
            return
        }
        var available = pool.load(as: Int.self)
        let generation = forkGeneration.load(ordering: .relaxed)
        if available < nonce.count || available > poolBytes || pool.load(fromByteOffset: 8, as: Int.self) != generation
        {
            draw(UnsafeMutableRawBufferPointer(start: pool + headerBytes, count: poolBytes))
            available = poolBytes
            pool.storeBytes(of: generation, toByteOffset: 8, as: Int.self)
        }
        available -= nonce.count
        let taken = UnsafeMutableRawBufferPointer(start: pool + headerBytes + available, count: nonce.count)
        nonce.copyMemory(from: UnsafeRawBufferPointer(taken))
        // Bytes handed out are erased from the pool: some become key material.
        taken.initializeMemory(as: UInt8.self, repeating: 0)
        pool.storeBytes(of: available, as: Int.self)
    }

    /// The calling thread's pool, mapped on first use; nil without fork-safe pools.
    static func threadPool() -> UnsafeMutableRawPointer? {
        guard let key = threadKey else { return nil }
        if let pool = pthread_getspecific(key) { return pool }
        guard let pool = mapWipedOnFork() else { return nil }
        guard pthread_setspecific(key, pool) == 0 else {
            munmap(pool, pageBytes)
            return nil
        }
        return pool
    }

    /// A zeroed private mapping the kernel wipes in any forked child, or nil.
    static func mapWipedOnFork() -> UnsafeMutableRawPointer? {
        #if os(Linux)
        guard let page = mmap(nil, pageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            page != MAP_FAILED
        else { return nil }
        // MADV_WIPEONFORK (Linux 4.14+); the Glibc module does not export the constant. Some
        // emulators (QEMU user mode) accept any advice and ignore it: an invalid advice must
        // fail first (BoringSSL's check), or no pool is kept.
        guard madvise(page, pageBytes, -1) != 0, madvise(page, pageBytes, 18) == 0 else {
            munmap(page, pageBytes)
            return nil
        }
        // MADV_DONTDUMP: future keys and nonces stay out of core dumps (best effort).
        _ = madvise(page, pageBytes, 16)
        return page
        #else
        return nil
        #endif
    }

    static func wipeOnForkWorks() -> Bool {
        guard let page = mapWipedOnFork() else { return false }
        munmap(page, pageBytes)
        return true
    }

    /// Fills `buffer` straight from the kernel.
    ///
    /// With `getrandom` where the C library has it (the pool's 12 KiB in one call, where
    /// 256-byte `getentropy` calls took 48, each setting up the kernel generator's state
    /// again); otherwise 256 bytes per `getentropy` call (its limit).
    static func draw(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            if let getrandom = KernelRandom.getrandom {
                // Large requests may return short (a signal arrived): take what came, ask again.
                let n = getrandom(base + offset, buffer.count - offset, 0)
                if n < 0 && errno == EINTR { continue }
                precondition(n > 0, "the kernel entropy source failed")
                offset += n
            } else {
                let n = min(256, buffer.count - offset)
                let status = getentropy(base + offset, n)
                precondition(status == 0, "the kernel entropy source failed")
                offset += n
            }
        }
    }
}

/// glibc's `getrandom` (2.25 and later), which Swift's Glibc module does not export.
private enum KernelRandom {
    typealias Function = @convention(c) (UnsafeMutableRawPointer?, Int, UInt32) -> Int

    private struct Resolved: @unchecked Sendable {
        let function: Function?
    }

    private static let resolved: Resolved = {
        #if canImport(Glibc)
        // A null handle is RTLD_DEFAULT: the symbol as the process already links it.
        if let symbol = dlsym(nil, "getrandom") {
            return Resolved(function: unsafeBitCast(symbol, to: Function.self))
        }
        #endif
        return Resolved(function: nil)
    }()

    static var getrandom: Function? { resolved.function }
}
