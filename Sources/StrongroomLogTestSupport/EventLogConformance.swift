public import Foundation
public import StrongroomLog

/// A conformance check that failed: what was expected and what happened.
public struct ConformanceFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
}

/// The behaviour every `EventLog` engine must show, run by each engine's tests.
///
/// Each check gets a factory that opens the engine on a directory; calling it again on the
/// same directory is a restart.
public enum EventLogConformance {
    /// Opens an engine on a directory.
    public typealias Factory = @Sendable (URL) throws -> any EventLog

    /// Every check, by name, so a test can run each as its own case.
    public static let checks: [(name: String, run: @Sendable (URL, Factory) throws -> Void)] = [
        ("topics are created explicitly; names and configurations are validated", explicitTopics),
        ("keys land on Kafka's murmur2 partition; order and offsets are kept per partition", orderPerPartition),
        ("keys, values, nulls, headers and timestamps round-trip", roundTrip),
        ("a retried idempotent batch is stored once; a skipped sequence is refused", idempotence),
        ("producer sequences survive a restart", idempotenceAfterRestart),
        ("group offsets commit and resume after a restart", commitAndResume),
        ("fetch honours the byte and record limits and returns at least one record", fetchLimits),
        ("retention by time and by size removes the oldest; offsets are never reused", retention),
        ("offsets continue after a restart", restart),
        ("concurrent producers and consumers see every record once, in order", concurrency),
        ("a refused batch stores nothing and does not disturb other batches", refusedBatch),
        ("deleting a topic removes its records; a new topic of that name starts at 0", deletion),
    ]

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConformanceFailure(description: message()) }
    }

    static func expectError(_ code: LogError.Code, _ message: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as LogError {
            try expect(error.code == code, "\(message): expected \(code), got \(error.code)")
            return
        }
        throw ConformanceFailure(description: "\(message): expected \(code), got success")
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func all(_ log: any EventLog, _ topic: String, partition: Int) throws -> [StoredRecord] {
        var out: [StoredRecord] = []
        var next: Int64 = 0
        while true {
            let page = try log.fetch(topic: topic, partition: partition, from: next, maxBytes: 1 << 20, maxRecords: 500)
            guard let last = page.last else { return out }
            out += page
            next = last.offset + 1
        }
    }

    static func explicitTopics(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try expectError(.unknownTopic, "append to a topic never created") {
            _ = try log.append([LogRecord(value: bytes("x"))], to: "nope")
        }
        try log.createTopic("loan_applications", config: TopicConfig(partitions: 3, classification: "RESTRICTED"))
        try expectError(.topicExists, "second create") {
            try log.createTopic("loan_applications", config: TopicConfig())
        }
        for bad in ["", "a b", "..", "x/y", String(repeating: "a", count: 250)] {
            try expectError(.invalidArgument, "topic name \(bad.prefix(10))") {
                try log.createTopic(bad, config: TopicConfig())
            }
        }
        try expectError(.invalidArgument, "zero partitions") {
            try log.createTopic("t0", config: TopicConfig(partitions: 0))
        }
        let description = try log.describeTopic("loan_applications")
        try expect(description.partitions.count == 3, "three partitions")
        try expect(description.config.classification == "RESTRICTED", "configuration kept")
        try expect(try log.topics().map(\.name) == ["loan_applications"], "topic list")
        try expectError(.unknownPartition, "explicit partition out of range") {
            _ = try log.append([LogRecord(value: bytes("x"), partition: 3)], to: "loan_applications")
        }
    }

    static func orderPerPartition(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try log.createTopic("orders", config: TopicConfig(partitions: 4))
        var expected: [String: [String]] = [:]
        for batch in 0..<30 {
            var records: [LogRecord] = []
            for i in 0..<10 {
                let key = "CUST-\(String(format: "%08d", (batch * 7 + i) % 13))"
                let value = "\(key)#\(batch * 10 + i)"
                expected[key, default: []].append(value)
                records.append(LogRecord(key: bytes(key), value: bytes(value)))
            }
            let positions = try log.append(records, to: "orders")
            for (record, position) in zip(records, positions) {
                let want = Partitioner.partition(forKey: record.key ?? [], partitions: 4)
                try expect(position.partition == want, "key partition \(position.partition) != murmur2 \(want)")
            }
        }
        var seen: [String: [String]] = [:]
        for p in 0..<4 {
            let records = try all(log, "orders", partition: p)
            try expect(
                records.map(\.offset) == (0..<Int64(records.count)).map { $0 },
                "offsets 0…n-1 in partition \(p)"
            )
            try expect(try log.firstOffset(topic: "orders", partition: p) == 0, "partition \(p) holds its first record")
            for r in records {
                let key = String(decoding: r.key ?? [], as: UTF8.self)
                seen[key, default: []].append(String(decoding: r.value ?? [], as: UTF8.self))
            }
        }
        try expect(seen == expected, "every key's records, in append order")
        try expectError(.unknownPartition, "first offset of a partition the topic lacks") {
            _ = try log.firstOffset(topic: "orders", partition: 4)
        }
        try expectError(.unknownTopic, "first offset of a topic that does not exist") {
            _ = try log.firstOffset(topic: "no-such-topic", partition: 0)
        }
    }

    static func roundTrip(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try log.createTopic("rt", config: TopicConfig(partitions: 1))
        let records = [
            LogRecord(key: nil, value: nil, headers: [], timestamp: 1_700_000_000_000),
            LogRecord(
                key: [0, 255, 7],
                value: Array(repeating: 0xAB, count: 70_000),
                headers: [
                    RecordHeader("schema-id", text: "7"), RecordHeader("sig", [0, 1, 2]), RecordHeader("", []),
                    RecordHeader("räksmörgås", [0xFF, 0]),
                ],
                timestamp: 1_700_000_000_001
            ),
            LogRecord(key: [], value: [], headers: [RecordHeader("empty", [])]),
        ]
        _ = try log.append(records, to: "rt")
        let stored = try all(log, "rt", partition: 0)
        try expect(stored.count == 3, "three records")
        for (a, b) in zip(records, stored) {
            try expect(a.key == b.key && a.value == b.value && a.headers == b.headers, "record round trip")
            if let t = a.timestamp { try expect(b.timestamp == t, "timestamp kept") }
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try expect(abs(stored[2].timestamp - now) < 60_000, "append time given when none is set")
    }

    static func idempotence(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try log.createTopic("idem", config: TopicConfig(partitions: 2))
        let batch = (0..<5).map { LogRecord(key: bytes("k\($0)"), value: bytes("v\($0)")) }
        let first = try log.append(batch, to: "idem", producer: ProducerStamp(id: 42, sequence: 0))
        let retry = try log.append(batch, to: "idem", producer: ProducerStamp(id: 42, sequence: 0))
        try expect(first == retry, "a retry returns the first positions")
        let count = { () throws -> Int in
            try all(log, "idem", partition: 0).count + all(log, "idem", partition: 1).count
        }
        try expect(try count() == 5, "a retried batch is stored once")
        try expectError(.outOfOrderSequence, "skipped sequence") {
            _ = try log.append(batch, to: "idem", producer: ProducerStamp(id: 42, sequence: 2))
        }
        _ = try log.append(batch, to: "idem", producer: ProducerStamp(id: 42, sequence: 1))
        // Another producer has its own sequence.
        _ = try log.append(batch, to: "idem", producer: ProducerStamp(id: 7, sequence: 0))
        try expect(try count() == 15, "three batches stored")
    }

    static func idempotenceAfterRestart(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try log.createTopic("idem", config: TopicConfig(partitions: 2))
        let batch = (0..<5).map { LogRecord(key: bytes("k\($0)"), value: bytes("v\($0)")) }
        _ = try log.append(batch, to: "idem", producer: ProducerStamp(id: 42, sequence: 0))
        _ = try log.append(batch, to: "idem", producer: ProducerStamp(id: 42, sequence: 1))
        _ = try log.append(batch, to: "idem", producer: ProducerStamp(id: 7, sequence: 0))
        let reopened = try make(dir)
        let again = try reopened.append(batch, to: "idem", producer: ProducerStamp(id: 42, sequence: 1))
        try expect(again.count == 5, "retry after restart")
        try expect(
            try all(reopened, "idem", partition: 0).count + all(reopened, "idem", partition: 1).count == 15,
            "retry after a restart stored nothing"
        )
    }

    static func commitAndResume(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try log.createTopic("c", config: TopicConfig(partitions: 2))
        _ = try log.append((0..<20).map { LogRecord(value: bytes("\($0)"), partition: $0 % 2) }, to: "c")
        try expect(try log.committedOffset(group: "fraud", topic: "c", partition: 0) == nil, "no commit yet")
        try log.commit(group: "fraud", topic: "c", partition: 0, offset: 4)
        try log.commit(group: "fraud", topic: "c", partition: 0, offset: 6)
        try log.commit(group: "analytics", topic: "c", partition: 0, offset: 1)
        let reopened = try make(dir)
        let resume = try reopened.committedOffset(group: "fraud", topic: "c", partition: 0)
        try expect(resume == 6, "last commit wins and survives restart")
        try expect(
            try reopened.committedOffset(group: "analytics", topic: "c", partition: 0) == 1,
            "groups independent"
        )
        let next = try reopened.fetch(topic: "c", partition: 0, from: resume ?? 0, maxBytes: 1 << 20, maxRecords: 1)
        try expect(next.first?.offset == 6 && next.first?.value == bytes("12"), "resume at the committed offset")
        try expectError(.unknownPartition, "commit to a missing partition") {
            try reopened.commit(group: "fraud", topic: "c", partition: 9, offset: 0)
        }
    }

    static func fetchLimits(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try log.createTopic("f", config: TopicConfig(partitions: 1))
        _ = try log.append((0..<10).map { _ in LogRecord(value: Array(repeating: 1, count: 1000)) }, to: "f")
        let one = try log.fetch(topic: "f", partition: 0, from: 0, maxBytes: 10, maxRecords: 100)
        try expect(one.count == 1, "a record larger than maxBytes still comes alone")
        let three = try log.fetch(topic: "f", partition: 0, from: 2, maxBytes: 3500, maxRecords: 100)
        try expect(three.map(\.offset) == [2, 3, 4], "byte limit")
        let two = try log.fetch(topic: "f", partition: 0, from: 8, maxBytes: 1 << 20, maxRecords: 5)
        try expect(two.map(\.offset) == [8, 9], "end of partition")
        try expect(try log.fetch(topic: "f", partition: 0, from: 10, maxBytes: 100, maxRecords: 5).isEmpty, "past end")
    }

    static func retention(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        let day: Int64 = 86_400_000
        let now: Int64 = 1_800_000_000_000
        try log.createTopic("timed", config: TopicConfig(partitions: 1, retentionMs: 7 * day))
        try log.createTopic("sized", config: TopicConfig(partitions: 1, retentionBytes: 5_000))
        try log.createTopic("kept", config: TopicConfig(partitions: 1))
        _ = try log.append(
            (0..<10).map { LogRecord(value: bytes("old\($0)"), timestamp: now - 30 * day + Int64($0)) }
                + (0..<5).map { LogRecord(value: bytes("new\($0)"), timestamp: now - day) },
            to: "timed"
        )
        _ = try log.append((0..<10).map { _ in LogRecord(value: Array(repeating: 2, count: 1000)) }, to: "sized")
        _ = try log.append([LogRecord(value: bytes("x"), timestamp: 0)], to: "kept")
        let report = try log.enforceRetention(now: now)
        let timed = report.removals.first { $0.topic == "timed" }
        let sized = report.removals.first { $0.topic == "sized" }
        try expect(timed?.records == 10 && timed?.reason == "time", "ten expired records reported")
        try expect(sized?.records == 5 && sized?.reason == "size", "five oldest over the size limit reported")
        try expect(!report.removals.contains { $0.topic == "kept" }, "no retention, nothing removed")
        try expect(try all(log, "timed", partition: 0).map(\.offset) == Array(10..<15), "only fresh records remain")
        try expect(try all(log, "sized", partition: 0).map(\.offset) == Array(5..<10), "newest 5,000 bytes remain")
        let description = try log.describeTopic("sized").partitions[0]
        try expect(description.startOffset == 5 && description.endOffset == 10, "start offset advanced")
        try expect(try log.firstOffset(topic: "sized", partition: 0) == 5, "the first offset held advanced")
        try expect(description.bytes == 5_000, "bytes accounted")
        let next = try log.append([LogRecord(value: bytes("after"), timestamp: now)], to: "timed")
        try expect(next.first?.offset == 15, "offsets are never reused after retention")
        try expect(try log.enforceRetention(now: now).removals.isEmpty, "a second sweep finds nothing")
    }

    static func restart(_ dir: URL, _ make: Factory) throws {
        do {
            let log = try make(dir)
            try log.createTopic("r", config: TopicConfig(partitions: 2))
            _ = try log.append((0..<6).map { LogRecord(value: bytes("a\($0)"), partition: $0 % 2) }, to: "r")
        }
        let log = try make(dir)
        let positions = try log.append([LogRecord(value: bytes("b"), partition: 0)], to: "r")
        try expect(positions == [RecordPosition(partition: 0, offset: 3)], "offset continues after restart")
        try expect(
            try all(log, "r", partition: 0).map { String(decoding: $0.value ?? [], as: UTF8.self) } == [
                "a0", "a2", "a4", "b",
            ],
            "records survive restart"
        )
    }

    static func concurrency(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try log.createTopic("cc", config: TopicConfig(partitions: 3))
        let producers = 4
        let batches = 60
        let failures = LockedBox<[String]>([])
        let group = DispatchGroup()
        for p in 0..<producers {
            DispatchQueue.global().async(group: group) {
                do {
                    for b in 0..<batches {
                        let records = (0..<4).map { i in
                            LogRecord(key: bytes("producer-\(p)"), value: bytes("\(p):\(b * 4 + i)"))
                        }
                        _ = try log.append(
                            records,
                            to: "cc",
                            producer: ProducerStamp(id: UInt64(p + 1), sequence: UInt64(b))
                        )
                    }
                } catch { failures.mutate { $0.append("producer \(p): \(error)") } }
            }
        }
        for c in 0..<2 {
            DispatchQueue.global().async(group: group) {
                do {
                    var next = [Int64](repeating: 0, count: 3)
                    for _ in 0..<200 {
                        for partition in 0..<3 {
                            let page = try log.fetch(
                                topic: "cc",
                                partition: partition,
                                from: next[partition],
                                maxBytes: 1 << 16,
                                maxRecords: 50
                            )
                            for r in page {
                                if r.offset != next[partition] {
                                    failures.mutate {
                                        $0.append("consumer \(c): expected \(next[partition]), got \(r.offset)")
                                    }
                                    return
                                }
                                next[partition] += 1
                            }
                        }
                    }
                } catch { failures.mutate { $0.append("consumer \(c): \(error)") } }
            }
        }
        group.wait()
        try expect(failures.value.isEmpty, failures.value.joined(separator: "; "))
        var count = 0
        for partition in 0..<3 {
            let records = try all(log, "cc", partition: partition)
            count += records.count
            var last: [String: Int] = [:]
            for r in records {
                let parts = String(decoding: r.value ?? [], as: UTF8.self).split(separator: ":")
                let producer = String(parts[0])
                let n = Int(parts[1]) ?? -1
                try expect(n > last[producer, default: -1], "producer \(producer) out of order")
                last[producer] = n
            }
        }
        try expect(count == producers * batches * 4, "every record stored once (\(count))")
    }

    static func refusedBatch(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try log.createTopic("small", config: TopicConfig(partitions: 1, maxRecordBytes: 100))
        _ = try log.append([LogRecord(value: bytes("ok"))], to: "small")
        try expectError(.recordTooLarge, "oversized record") {
            _ = try log.append(
                [LogRecord(value: bytes("fine")), LogRecord(value: Array(repeating: 0, count: 101))],
                to: "small"
            )
        }
        _ = try log.append([LogRecord(value: bytes("ok2"))], to: "small")
        try expect(try all(log, "small", partition: 0).map(\.offset) == [0, 1], "nothing of the refused batch stored")
    }

    static func deletion(_ dir: URL, _ make: Factory) throws {
        let log = try make(dir)
        try log.createTopic("gone", config: TopicConfig(partitions: 2))
        try log.createTopic("stays", config: TopicConfig(partitions: 1))
        _ = try log.append((0..<8).map { LogRecord(value: bytes("\($0)")) }, to: "gone")
        _ = try log.append([LogRecord(value: bytes("s"))], to: "stays")
        try log.commit(group: "g", topic: "gone", partition: 0, offset: 2)
        try log.deleteTopic("gone")
        try expectError(.unknownTopic, "append after delete") {
            _ = try log.append([LogRecord(value: bytes("x"))], to: "gone")
        }
        try expectError(.unknownTopic, "delete twice") { try log.deleteTopic("gone") }
        try log.createTopic("gone", config: TopicConfig(partitions: 1))
        try expect(try log.append([LogRecord(value: bytes("new"))], to: "gone").first?.offset == 0, "fresh offsets")
        try expect(try all(log, "gone", partition: 0).count == 1, "old records gone")
        try expect(try log.committedOffset(group: "g", topic: "gone", partition: 0) == nil, "old group offsets gone")
        try expect(try all(log, "stays", partition: 0).count == 1, "other topics untouched")
    }
}

/// A value shared by threads in the checks.
final class LockedBox<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()

    init(_ value: Value) { stored = value }

    var value: Value { lock.withLock { stored } }

    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
