import Foundation

/// Lines of standard input as bytes, each at most `maxBytes` long.
///
/// Bytes are never decoded on the way in (`readLine` would repair invalid UTF-8 to U+FFFD and
/// hide it from the strict JSON reader); a line longer than the limit is reported and skipped
/// without being held in memory, so a stream without newlines cannot grow the process.
struct InputLines {
    /// One line, or the fact that it was too long.
    enum Line {
        case line([UInt8])
        case tooLong
    }

    /// The default limit: the largest event the validator accepts (1 MiB), plus room.
    static let defaultMaxBytes = 1 << 20

    let maxBytes: Int
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var pending: [UInt8] = []
    private var start = 0
    private var end = 0
    private var skipping = false
    private var finished = false

    init(maxBytes: Int = InputLines.defaultMaxBytes) { self.maxBytes = maxBytes }

    /// What ``nextIfReady()`` found.
    enum Ready {
        case line(Line)
        /// The end of input.
        case end
        /// No whole line without waiting for the writer.
        case waiting
    }

    /// The next line (without its newline), or nil at the end of input.
    mutating func next() -> Line? {
        switch pull(wait: true) {
        case .line(let line): line
        case .end, .waiting: nil
        }
    }

    /// The next line if it can be had without waiting.
    ///
    /// Buffered, or its bytes ready to read (a file, a pipe with data in it). Lines that arrived together are handled as one batch,
    /// and a slow writer is never kept waiting for a full one; a partial line read meanwhile
    /// is kept for the next call.
    mutating func nextIfReady() -> Ready { pull(wait: false) }

    private mutating func pull(wait: Bool) -> Ready {
        while true {
            if start < end {
                let slice = buffer[start..<end]
                if let newline = slice.firstIndex(of: 0x0A) {
                    let chunk = buffer[start..<newline]
                    start = newline + 1
                    if skipping {
                        skipping = false
                        pending.removeAll(keepingCapacity: true)
                        return .line(.tooLong)
                    }
                    if pending.count + chunk.count > maxBytes {
                        pending.removeAll(keepingCapacity: true)
                        return .line(.tooLong)
                    }
                    let line = pending + chunk
                    pending.removeAll(keepingCapacity: true)
                    return .line(.line(line))
                }
                if !skipping {
                    if pending.count + slice.count > maxBytes {
                        skipping = true
                        pending.removeAll(keepingCapacity: true)
                    } else {
                        pending.append(contentsOf: slice)
                    }
                }
                start = end
            }
            if finished {
                if skipping {
                    skipping = false
                    return .line(.tooLong)
                }
                guard !pending.isEmpty else { return .end }
                defer { pending.removeAll() }
                return .line(.line(pending))
            }
            if !wait {
                var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 0) == 1 else { return .waiting }
            }
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                finished = true
                start = 0
                end = 0
            } else {
                start = 0
                end = n
            }
        }
    }

    /// True for a line of only blanks.
    static func isBlank(_ line: [UInt8]) -> Bool { line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }
}
