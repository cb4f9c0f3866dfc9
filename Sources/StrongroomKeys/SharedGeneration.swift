import Atomics
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A 64-bit counter in a small memory-mapped file that every process sharing a data
/// directory sees at once.
///
/// Erasure and KEK changes bump it after they commit; each key cache compares it on
/// every lookup (one atomic load) and drops everything when it moved. That is how a
/// second process with a warm cache stops decrypting an erased subject immediately.
final class SharedGeneration: @unchecked Sendable {
    // The mapping lives as long as this object; the atomic is the only access.
    private let base: UnsafeMutableRawPointer
    private let atomic: UnsafeAtomic<UInt64>

    init(path: String) throws(KeyStoreError) {
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyStoreError(.storage, "cannot open \(path)") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw KeyStoreError(.storage, "cannot stat \(path)") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw KeyStoreError(.storage, "\(path) is not a regular file") }
        if info.st_mode & 0o077 != 0 { _ = fchmod(fd, 0o600) }
        if info.st_size < 8 {
            guard ftruncate(fd, 8) == 0 else { throw KeyStoreError(.storage, "cannot size \(path)") }
        }
        guard let mapped = mmap(nil, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw KeyStoreError(.storage, "cannot map \(path)")
        }
        base = mapped
        atomic = UnsafeAtomic(at: mapped.bindMemory(to: UInt64.AtomicRepresentation.self, capacity: 1))
    }

    deinit { munmap(base, 8) }

    /// The current value.
    @inline(__always) var value: UInt64 { atomic.load(ordering: .acquiring) }

    /// Adds one; returns the new value.
    @discardableResult
    func bump() -> UInt64 { atomic.wrappingIncrementThenLoad(ordering: .sequentiallyConsistent) }
}
