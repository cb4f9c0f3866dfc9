import Foundation
import Synchronization

/// Per-event work of a large batch spread over the machine's cores.
///
/// Events of a batch are independent until they are numbered, signed and appended, so
/// validation, DLP and sealing run on contiguous chunks at once; results keep the input order.
enum Parallel {
    /// Chunks smaller than this are not worth a thread hop.
    static let minimumChunk = 64
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Chunks per core: a core that is held up (another process, a slow chunk) leaves its
    /// later chunks to the others instead of holding up the whole batch.
    static let chunksPerCore = 4

    /// `body(i)` for every `i` in `0..<count`, in order, computed on up to `threads` cores
    /// (nil: every core).
    static func map<T: Sendable>(_ count: Int, threads: Int? = nil, _ body: @Sendable (Int) -> T) -> [T] {
        let workers = min(threads ?? cores, cores)
        // Fewer threads than cores: one chunk each, so no more than `threads` run at once.
        let chunks = min(workers == cores ? workers * chunksPerCore : workers, count / minimumChunk)
        guard workers > 1, chunks > 1 else { return (0..<count).map(body) }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let base = UncheckedBuffer(buffer)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                // Each chunk writes only its own slots.
                for i in (count * chunk / chunks)..<(count * (chunk + 1) / chunks) {
                    (base.buffer.baseAddress.unsafelyUnwrapped + i).initialize(to: body(i))
                }
            }
            initialized = count
        }
    }

    /// `body` once per contiguous chunk of `0..<count`, the chunks on up to every core; the
    /// results in chunk order (one chunk when the work is too small to split).
    static func chunks<T: Sendable>(_ count: Int, _ body: @Sendable (Range<Int>) -> T) -> [T] {
        let chunks = min(cores * chunksPerCore, count / minimumChunk)
        guard cores > 1, chunks > 1 else { return [body(0..<count)] }
        return [T](unsafeUninitializedCapacity: chunks) { buffer, initialized in
            let base = UncheckedBuffer(buffer)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let range = (count * chunk / chunks)..<(count * (chunk + 1) / chunks)
                (base.buffer.baseAddress.unsafelyUnwrapped + chunk).initialize(to: body(range))
            }
            initialized = chunks
        }
    }

    private struct UncheckedBuffer<T>: @unchecked Sendable {
        let buffer: UnsafeMutableBufferPointer<T>
        init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
    }
}

/// Frees a batch's large values on another thread.
///
/// A batch leaves thousands of small buffers behind (records, headers, sealed values); freed
/// on the calling thread, that time would add to the latency of every batch.
enum Retire {
    private static let queue = DispatchQueue(label: "strongroom.retire", qos: .utility)

    private final class Box<T>: @unchecked Sendable {
        let value: T
        init(_ value: consuming T) { self.value = value }
    }

    private struct Token: @unchecked Sendable {
        let box: UnsafeMutableRawPointer
    }

    /// Releases `value` on the retire queue: the box holds the only reference when it leaves.
    static func later<T: Sendable>(_ value: consuming T) {
        let token = Token(box: Unmanaged.passRetained(Box(value)).toOpaque())
        queue.async { Unmanaged<AnyObject>.fromOpaque(token.box).release() }
    }
}

/// Values handed from one thread to another in order, at most `depth` waiting: `put` waits
/// for room, `take` for a value (nil once closed and emptied, once).
///
/// One thread puts and then closes; one thread takes until nil, so every `put` finds room
/// in the end.
final class Handoff<T: Sendable>: Sendable {
    private let room: DispatchSemaphore
    private let ready = DispatchSemaphore(value: 0)
    private let values = Mutex<[T]>([])

    init(depth: Int) { room = DispatchSemaphore(value: max(1, depth)) }

    func put(_ value: T) {
        room.wait()
        values.withLock { $0.append(value) }
        ready.signal()
    }

    /// No more values: `take` answers nil once the queue is empty.
    func close() { ready.signal() }

    func take() -> T? {
        ready.wait()
        // Each `put` and the `close` signal once: an empty queue here means closed.
        let value: T? = values.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        if value != nil { room.signal() }
        return value
    }
}
