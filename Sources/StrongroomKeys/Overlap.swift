import Foundation
import Synchronization

/// Work started on another thread, waited for once: what overlaps a commit or another batch
/// of work (the key store's sealing during its commit, the sealing of events under cached keys).
package final class Overlap<T: Sendable>: Sendable {
    private let group = DispatchGroup()
    private let result = Mutex<T?>(nil)
    private let started = Atomic<Bool>(false)

    package init() {}

    /// Starts `work`; once only (a second start would be work the first did not ask for, as a
    /// transaction attempt that did not commit).
    package func start(_ work: @escaping @Sendable () -> T) {
        precondition(!started.exchange(true, ordering: .sequentiallyConsistent), "overlapped work started twice")
        group.enter()
        DispatchQueue.global(qos: .userInitiated).async {
            let value = work()
            self.result.withLock { $0 = value }
            self.group.leave()
        }
    }

    /// The work's result once it finished; nil when it never started.
    package func wait() -> T? {
        guard started.load(ordering: .sequentiallyConsistent) else { return nil }
        group.wait()
        return result.withLock { $0 }
    }
}
