import Foundation
import GRDB
import StrongroomLogTestSupport
import StrongroomTestSupport
import Synchronization
import Testing

@testable import StrongroomLog

struct ConformanceCase: Sendable, CustomStringConvertible {
    var name: String
    var run: @Sendable (URL, EventLogConformance.Factory) throws -> Void
    var description: String { name }

    static let all = EventLogConformance.checks.map { ConformanceCase(name: $0.name, run: $0.run) }
}

@Suite("SQLite event log")
struct SQLiteEventLogTests {
    static let factory: EventLogConformance.Factory = { try SQLiteEventLog(dataDirectory: $0) }

    @Test("conformance", arguments: ConformanceCase.all)
    func conformance(_ check: ConformanceCase) throws {
        try check.run(TestSupport.scratchDirectory("log"), Self.factory)
    }

    @Test(
        "conformance with synchronous=NORMAL",
        arguments: ConformanceCase.all.filter { $0.name.contains("murmur2") || $0.name.contains("continue after") }
    )
    func conformanceNormal(_ check: ConformanceCase) throws {
        try check.run(TestSupport.scratchDirectory("log")) {
            try SQLiteEventLog(dataDirectory: $0, durability: .normal)
        }
    }

    @Test("the WAL is checkpointed after appends, not inside them, and stays bounded; nothing is lost")
    func backgroundCheckpoint() throws {
        let dir = TestSupport.scratchDirectory("log")
        var log: SQLiteEventLog? = try SQLiteEventLog(dataDirectory: dir)
        try log?.createTopic("big", config: TopicConfig(partitions: 1, maxRecordBytes: 1 << 20))
        // 48 MiB in 24 appends: without checkpoints the WAL would hold all of it.
        let value = [UInt8](repeating: 0x5A, count: 8 << 10)
        for batch in 0..<24 {
            let records = (0..<256).map { LogRecord(key: Array("\(batch)-\($0)".utf8), value: value) }
            _ = try log?.append(records, to: "big")
        }
        let wal = try #require(log?.wal)
        let deadline = Date().addingTimeInterval(60)
        while wal.checkpointing.load(ordering: .acquiring), Date() < deadline { usleep(10_000) }
        #expect(wal.checkpoints.load(ordering: .relaxed) >= 3)
        let walFile = dir.appendingPathComponent(SQLiteEventLog.databaseFileName + "-wal").path
        let walBytes = (try FileManager.default.attributesOfItem(atPath: walFile)[.size] as? Int) ?? 0
        #expect(walBytes < 20 << 20, "the WAL restarted after checkpoints (\(walBytes) bytes)")
        log = nil
        let reopened = try SQLiteEventLog(dataDirectory: dir)
        let last = try reopened.fetch(topic: "big", partition: 0, from: 6_143, maxBytes: 1 << 20, maxRecords: 10)
        #expect(last.count == 1 && last.first?.value == value && last.first?.key == Array("23-255".utf8))
    }

    @Test("the writer commits with the durability asked for: GRDB's WAL setup does not leave it at NORMAL")
    func writerDurability() throws {
        let cases: [(SQLiteEventLog.Durability, Int)] = [(.full, 2), (.normal, 1), (.off, 0)]
        for (durability, expected) in cases {
            let log = try SQLiteEventLog(dataDirectory: TestSupport.scratchDirectory("log"), durability: durability)
            #expect(try log.writerPragma("synchronous") == expected, "\(durability)")
            // Statement journals (one per append) stay in memory: records never reach a temp file.
            #expect(try log.writerPragma("temp_store") == 2, "\(durability)")
        }
    }

    @Test("a new log has 64 KiB pages, and its checkpoint starts at SQLite's 4 MB as before")
    func pageSize() throws {
        let log = try SQLiteEventLog(dataDirectory: TestSupport.scratchDirectory("log"))
        #expect(log.pageSize == 65_536)
        #expect(Int(log.checkpointPages) == SQLiteEventLog.checkpointBytes / 65_536)
    }

    @Test("writes other than appends (offset commits) also start a background checkpoint")
    func checkpointAfterCommits() throws {
        let log = try SQLiteEventLog(dataDirectory: TestSupport.scratchDirectory("log"))
        try log.createTopic("t", config: TopicConfig(partitions: 1))
        _ = try log.append([LogRecord(key: nil, value: Array("v".utf8))], to: "t")
        let before = log.wal.checkpoints.load(ordering: .relaxed)
        // Each commit adds a few WAL pages: enough of them pass the checkpoint threshold.
        for i in 0..<1_500 { try log.commit(group: "g\(i % 7)", topic: "t", partition: 0, offset: 1) }
        let deadline = Date().addingTimeInterval(60)
        while log.wal.checkpointing.load(ordering: .acquiring), Date() < deadline { usleep(10_000) }
        #expect(log.wal.checkpoints.load(ordering: .relaxed) > before)
    }

    @Test(
        "a topic's configuration is read as stored: a topic made again with another configuration reads as the new one, here and in another log on the directory"
    )
    func topicConfigAsStored() throws {
        let dir = TestSupport.scratchDirectory("log-config")
        let log = try SQLiteEventLog(dataDirectory: dir)
        let first = TopicConfig(partitions: 2, classification: "CONFIDENTIAL", dlpAction: "reject")
        let second = TopicConfig(partitions: 3, classification: "RESTRICTED", dlpAction: "flag")
        try log.createTopic("t", config: first)
        try log.createTopic("u", config: first)
        #expect(try log.topicConfig("t") == first)
        #expect(try log.describeTopic("t").config == first)
        let other = try SQLiteEventLog(dataDirectory: dir)
        #expect(try other.topicConfig("t") == first)
        try other.deleteTopic("t")
        try other.createTopic("t", config: second)
        #expect(try log.topicConfig("t") == second)
        #expect(try log.topicConfig("u") == first)
        _ = try log.append([LogRecord(key: nil, value: Array("v".utf8), partition: 2)], to: "t")
        #expect(throws: LogError.self) {
            try log.append([LogRecord(key: nil, value: Array("v".utf8), partition: 2)], to: "u")
        }
        #expect(throws: LogError.self) { try log.topicConfig("missing") }
    }

    @Test("Kafka's murmur2 test vectors (UtilsTest) and partition choice")
    func murmur2() {
        let vectors: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), ("abc", 479_470_107),
        ]
        for (text, hash) in vectors { #expect(Partitioner.murmur2(Array(text.utf8)) == hash, "\(text)") }
        // toPositive masks the sign bit before the modulo, as Kafka's DefaultPartitioner does.
        #expect(Partitioner.partition(forKey: Array("21".utf8), partitions: 7) == Int(-973_932_308 & 0x7fff_ffff) % 7)
    }
}

@Suite("SQLite event log: record batches (format 2)")
struct RecordBatchTests {
    func rows(_ dir: URL) throws -> [(id: Int64, records: Int, size: Int, body: Int)] {
        try DatabaseQueue(path: dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path).read { db in
            try Row.fetchAll(db, sql: "SELECT id, records, size, length(body) FROM batch ORDER BY id").map {
                ($0[0], $0[1], $0[2], $0[3])
            }
        }
    }

    @Test(
        "an append is one row per partition; records come back alike from any offset, absent and empty parts kept apart"
    )
    func onePerPartition() throws {
        let dir = TestSupport.scratchDirectory("log-batch")
        let log = try SQLiteEventLog(dataDirectory: dir)
        try log.createTopic("t", config: TopicConfig(partitions: 2))
        let records = (0..<10).map { i in
            LogRecord(
                key: i % 3 == 0 ? nil : Array("k\(i)".utf8),
                value: i % 4 == 0 ? [] : Array("value \(i)".utf8),
                headers: i % 2 == 0 ? [RecordHeader("h", Array("\(i)".utf8)), RecordHeader("e", [])] : [],
                timestamp: 1_000 + Int64(i),
                partition: i % 2
            )
        }
        let positions = try log.append(records, to: "t")
        #expect(positions.map(\.offset) == (0..<10).map { Int64($0 / 2) })
        #expect(try rows(dir).map(\.records) == [5, 5])
        for partition in 0..<2 {
            let mine = records.enumerated().filter { $0.offset % 2 == partition }.map(\.element)
            for from in 0..<6 {
                let got = try log.fetch(topic: "t", partition: partition, from: Int64(from))
                #expect(got.map(\.offset) == (from..<5).map(Int64.init))
                for (record, stored) in zip(mine[min(from, 5)...], got) {
                    #expect(stored.key == record.key && stored.value == record.value)
                    #expect(stored.headers == record.headers && stored.timestamp == record.timestamp)
                }
            }
            let limited = try log.fetch(topic: "t", partition: partition, from: 1, maxRecords: 2)
            #expect(limited.map(\.offset) == [1, 2])
        }
        _ = try log.append([LogRecord(value: Array("after".utf8), partition: 0)], to: "t")
        #expect(try log.fetch(topic: "t", partition: 0, from: 3).map(\.offset) == [3, 4, 5])
    }

    @Test("an append larger than a row's body limit is stored as several rows, in order")
    func largeAppendSplits() throws {
        let dir = TestSupport.scratchDirectory("log-batch-large")
        let log = try SQLiteEventLog(dataDirectory: dir)
        try log.createTopic("t", config: TopicConfig(partitions: 1))
        let records = (0..<12).map { LogRecord(value: [UInt8](repeating: UInt8($0), count: 1 << 20)) }
        _ = try log.append(records, to: "t")
        let stored = try rows(dir)
        #expect(stored.count == 2 && stored.map(\.records).reduce(0, +) == 12)
        #expect(stored.allSatisfy { $0.body <= RecordBatch.maxBody && $0.body > RecordBatch.maxBody / 2 })
        let back = try log.fetch(topic: "t", partition: 0, from: 0, maxBytes: 64 << 20, maxRecords: 100)
        #expect(back.map { $0.value?.first } == (0..<12).map { UInt8($0) })
    }

    @Test("retention inside a batch: expired records in its middle go, the rest keep their offsets")
    func retentionInsideBatch() throws {
        let dir = TestSupport.scratchDirectory("log-batch-retention")
        let log = try SQLiteEventLog(dataDirectory: dir)
        try log.createTopic("t", config: TopicConfig(partitions: 1))
        let stamps: [Int64] = [500, 10, 600, 20, 700]
        _ = try log.append(stamps.map { LogRecord(value: Array("\($0)".utf8), timestamp: $0) }, to: "t")
        let report = try log.deleteRecords(of: "t", olderThan: 100)
        #expect(report.removals.first?.records == 2 && report.removals.first?.bytes == 4)
        let left = try log.fetch(topic: "t", partition: 0, from: 0)
        #expect(left.map(\.offset) == [0, 2, 4])
        #expect(left.map(\.timestamp) == [500, 600, 700])
        #expect(try log.fetch(topic: "t", partition: 0, from: 1).map(\.offset) == [2, 4])
        // The first record expiring moves the row to the next one kept.
        _ = try log.deleteRecords(of: "t", olderThan: 550)
        #expect(try log.fetch(topic: "t", partition: 0, from: 0).map(\.offset) == [2, 4])
        #expect(try rows(dir).map(\.id).map { $0 & SQLiteEventLog.offsetMask } == [2])
        #expect(try log.describeTopic("t").partitions[0].startOffset == 2)
        #expect(try log.describeTopic("t").partitions[0].bytes == 6)
    }

    @Test("a batch that is not what its row says is a corrupt-records error naming its offset, never a partial answer")
    func corruptBatch() throws {
        let dir = TestSupport.scratchDirectory("log-batch-corrupt")
        let log = try SQLiteEventLog(dataDirectory: dir)
        try log.createTopic("t", config: TopicConfig(partitions: 1))
        _ = try log.append((0..<3).map { LogRecord(value: Array("v\($0)".utf8)) }, to: "t")
        let queue = try DatabaseQueue(path: dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path)
        let original = try #require(
            try queue.read {
                try Row.fetchOne(
                    $0,
                    sql: "SELECT records, last_offset, min_timestamp, max_timestamp, size, body FROM batch"
                )
            }
        )
        // Each record of "v0".."v2" takes 26 bytes: 24 of lengths and timestamp, 2 of value.
        let damages: [(String, String)] = [
            ("cut mid-record", "UPDATE batch SET body = substr(body, 1, length(body) - 1)"),
            ("cut mid-header", "UPDATE batch SET body = substr(body, 1, length(body) - 23)"),
            ("cut at a record's boundary", "UPDATE batch SET body = substr(body, 1, length(body) - 26)"),
            ("empty", "UPDATE batch SET body = x''"),
            ("one record more than the row says", "UPDATE batch SET records = 2"),
            ("last offset past the body's", "UPDATE batch SET last_offset = 3"),
            ("last offset beyond any partition", "UPDATE batch SET last_offset = 1099511627776"),
            ("timestamps not the body's", "UPDATE batch SET max_timestamp = max_timestamp + 1"),
            ("bytes not the body's", "UPDATE batch SET size = size + 1"),
            ("a count that is text", "UPDATE batch SET records = 'three'"),
            ("a body that is text", "UPDATE batch SET body = 'v0'"),
        ]
        for (name, damage) in damages {
            try queue.write { db in
                try db.execute(
                    sql: """
                        UPDATE batch SET records = ?, last_offset = ?, min_timestamp = ?, max_timestamp = ?,
                        size = ?, body = ?
                        """,
                    arguments: StatementArguments((0..<6).map { original[$0] as DatabaseValue })
                )
                try db.execute(sql: damage)
            }
            let error = #expect(throws: LogError.self, "\(name)") {
                _ = try log.fetch(topic: "t", partition: 0, from: 0)
            }
            #expect(error?.code == .corrupt, "\(name)")
            #expect(error?.description.contains("offset 0") == true, "\(name)")
            #expect(error?.description.contains("v0") == false, "\(name)")
        }
    }

    @Test("a consumer at the end reads no batch body: polling does not decode the last batch again")
    func caughtUpReadsNothing() throws {
        let dir = TestSupport.scratchDirectory("log-batch-caught-up")
        let log = try SQLiteEventLog(dataDirectory: dir)
        try log.createTopic("t", config: TopicConfig(partitions: 1))
        _ = try log.append((0..<3).map { LogRecord(value: Array("v\($0)".utf8)) }, to: "t")
        // A body that would not decode: only a read of it could fail.
        try DatabaseQueue(path: dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path).write {
            try $0.execute(sql: "UPDATE batch SET body = x'00'")
        }
        #expect(try log.fetch(topic: "t", partition: 0, from: 3).isEmpty)
        #expect(try log.fetch(topic: "t", partition: 0, from: 1 << 40).isEmpty)
        #expect(throws: LogError(.corrupt)) { _ = try log.fetch(topic: "t", partition: 0, from: 2) }
        _ = try log.append([LogRecord(value: Array("v3".utf8))], to: "t")
        #expect(try log.fetch(topic: "t", partition: 0, from: 3).map(\.offset) == [3])
    }

    @Test("retention skips a partition whose batch does not decode, reports it, and sweeps the others")
    func retentionPastCorruptBatch() throws {
        let dir = TestSupport.scratchDirectory("log-batch-corrupt-retention")
        let log = try SQLiteEventLog(dataDirectory: dir)
        try log.createTopic("t", config: TopicConfig(partitions: 3, retentionMs: 1000))
        // Partitions 0 and 1: half expired (a rewrite must decode); partition 2: all expired.
        for partition in 0..<3 {
            let stamps: [Int64] = partition == 2 ? [1, 2] : [1, 50_000]
            _ = try log.append(
                stamps.map { LogRecord(value: Array("p\(partition)".utf8), timestamp: $0, partition: partition) },
                to: "t"
            )
        }
        let queue = try DatabaseQueue(path: dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path)
        let ids = try rows(dir).map(\.id)
        // Partitions 0 and 2 damaged: 2's batch goes whole, by its row's timestamps, unread.
        try queue.write { db in
            try db.execute(sql: "UPDATE batch SET body = x'00' WHERE id IN (?, ?)", arguments: [ids[0], ids[2]])
        }
        let report = try log.enforceRetention(now: 10_000)
        #expect(report.failures.map(\.partition) == [0])
        #expect(report.failures.first?.reason.contains("does not decode") == true)
        #expect(report.removals.map(\.partition).sorted() == [1, 2])
        #expect(try log.fetch(topic: "t", partition: 1, from: 0).map(\.timestamp) == [50_000])
        #expect(try log.fetch(topic: "t", partition: 2, from: 0).isEmpty)
        // Partition 0 as it was: its row, start offset and bytes.
        #expect(try rows(dir).first?.id == ids[0] && rows(dir).first?.records == 2)
        #expect(try log.describeTopic("t").partitions[0].startOffset == 0)
        #expect(try log.deleteRecords(of: "t", olderThan: 10).failures.map(\.partition) == [0])
    }

    @Test("a partition left by retention is left whole: batches deleted before the corrupt one are back")
    func retentionRollsBackPartition() throws {
        let dir = TestSupport.scratchDirectory("log-batch-corrupt-rollback")
        let log = try SQLiteEventLog(dataDirectory: dir)
        try log.createTopic("t", config: TopicConfig(partitions: 1, retentionMs: 1000))
        _ = try log.append([1, 2].map { LogRecord(value: Array("old".utf8), timestamp: $0) }, to: "t")
        _ = try log.append([3, 50_000].map { LogRecord(value: Array("mix".utf8), timestamp: $0) }, to: "t")
        let before = try rows(dir)
        try DatabaseQueue(path: dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path).write {
            try $0.execute(sql: "UPDATE batch SET body = x'00' WHERE id = ?", arguments: [before[1].id])
        }
        let report = try log.enforceRetention(now: 10_000)
        #expect(report.failures.count == 1 && report.removals.isEmpty)
        // The first batch, all expired and deleted before the second failed, is still there.
        #expect(try rows(dir).map(\.id) == before.map(\.id))
        let partition = try log.describeTopic("t").partitions[0]
        #expect(partition.startOffset == 0 && partition.bytes == 12)
    }

    @Test("a new topic never shows rows an older build left in its id's range")
    func newTopicStartsEmpty() throws {
        let dir = TestSupport.scratchDirectory("log-stray-rows")
        let log = try SQLiteEventLog(dataDirectory: dir)
        try log.createTopic("a", config: TopicConfig(partitions: 1))
        // What deleting topic 2047 left before: here in topic 2's range, which "b" takes next.
        try DatabaseQueue(path: dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path).write { db in
            try db.execute(
                sql: "INSERT INTO batch VALUES (?, 0, 1, 5, 5, 5, ?)",
                arguments: [SQLiteEventLog.recordID(topic: 2, partition: 0, offset: 0), Data(stray)]
            )
        }
        try log.createTopic("b", config: TopicConfig(partitions: 1))
        #expect(try rows(dir).isEmpty)
        _ = try log.append([LogRecord(value: Array("new".utf8))], to: "b")
        #expect(try log.fetch(topic: "b", partition: 0, from: 0).map(\.value) == [Array("new".utf8)])
    }

    /// One record "stray" at delta 0, timestamp 5, no key or headers.
    var stray: [UInt8] {
        var body: [UInt8] = []
        Array("stray".utf8).withUnsafeBytes { v in
            RecordBatch.append(delta: 0, timestamp: 5, key: nil, value: v, headers: nil, to: &body)
        }
        return body
    }

    @Test("a retention report written before failures were reported still reads")
    func reportDecodesWithoutFailures() throws {
        let old = #"{"removals":[{"topic":"t","partition":0,"records":2,"bytes":4,"reason":"time"}]}"#
        let report = try JSONDecoder().decode(RetentionReport.self, from: Data(old.utf8))
        #expect(report.removals.map(\.records) == [2] && report.failures.isEmpty)
    }

    @Test("topic id 2047's last partition: append, fetch, retention and deletion stay inside it")
    func lastTopicLastPartition() throws {
        let dir = TestSupport.scratchDirectory("log-topic-2047")
        let log = try SQLiteEventLog(dataDirectory: dir)
        try log.createTopic("low", config: TopicConfig(partitions: 1))
        // Topic 2047 made directly: creating 2,046 topics first would take the test's time.
        try DatabaseQueue(path: dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path).write { db in
            let config = try SQLiteEventLog.encode(TopicConfig(partitions: 4096, retentionMs: 1000))
            try db.execute(sql: "INSERT INTO topic (id, name, config) VALUES (2047, 'high', ?)", arguments: [config])
            for p in [0, 4095] {
                try db.execute(sql: "INSERT INTO partition VALUES (2047, ?, 0, 0, 0)", arguments: [p])
            }
        }
        _ = try log.append([LogRecord(value: Array("low".utf8), timestamp: 1)], to: "low")
        for stamp: Int64 in [1, 50_000] {
            _ = try log.append(
                [LogRecord(value: Array("\(stamp)".utf8), timestamp: stamp, partition: 4095)],
                to: "high"
            )
        }
        #expect(try log.fetch(topic: "high", partition: 4095, from: 0).map(\.offset) == [0, 1])
        #expect(try log.fetch(topic: "high", partition: 4095, from: 1).map(\.offset) == [1])
        #expect(try log.deleteRecords(of: "high", olderThan: 10).removals.map(\.records) == [1])
        #expect(try log.fetch(topic: "high", partition: 4095, from: 0).map(\.offset) == [1])
        try log.deleteTopic("high")
        #expect(try rows(dir).count == 1)
        #expect(try log.fetch(topic: "low", partition: 0, from: 0).map(\.value) == [Array("low".utf8)])
    }

    @Test("a format-1 log (a row per record) is rewritten as batches when opened: every record, offset and header kept")
    func upgradesFormat1() throws {
        let dir = TestSupport.scratchDirectory("log-format1")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path
        let config = TopicConfig(partitions: 2)
        let headers = [RecordHeader("sig", [1, 2, 3])]
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: """
                    \(Self.format1Tables)
                    """
            )
            try db.execute(
                sql: "INSERT INTO topic VALUES (1, 't', ?)",
                arguments: [try SQLiteEventLog.encode(config)]
            )
            try db.execute(sql: "INSERT INTO partition VALUES (1, 0, 3, 1, 13), (1, 1, 1, 0, 1)")
            let encoded = SQLiteEventLog.encodeHeaders(headers)
            for offset in 1..<3 {
                try db.execute(
                    sql: "INSERT INTO record VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [
                        SQLiteEventLog.recordID(topic: 1, partition: 0, offset: Int64(offset)),
                        offset == 1 ? nil : Data("k".utf8), Data("v\(offset)".utf8), encoded, 77, 2,
                    ]
                )
            }
            try db.execute(
                sql: "INSERT INTO record VALUES (?, NULL, x'', NULL, 5, 0)",
                arguments: [SQLiteEventLog.recordID(topic: 1, partition: 1, offset: 0)]
            )
        }
        let log = try SQLiteEventLog(dataDirectory: dir)
        let p0 = try log.fetch(topic: "t", partition: 0, from: 0)
        #expect(p0.map(\.offset) == [1, 2])
        #expect(p0.map(\.key) == [nil, Array("k".utf8)])
        #expect(p0.map(\.value) == [Array("v1".utf8), Array("v2".utf8)])
        #expect(p0.allSatisfy { $0.headers == headers && $0.timestamp == 77 })
        let p1 = try log.fetch(topic: "t", partition: 1, from: 0)
        #expect(p1.count == 1 && p1[0].key == nil && p1[0].value == [] && p1[0].headers.isEmpty)
        #expect(try log.append([LogRecord(value: Array("v3".utf8), partition: 0)], to: "t").first?.offset == 3)
        // Consecutive records of a partition share a batch.
        #expect(try rows(dir).map(\.records) == [2, 1, 1])
        let (version, kind) = try DatabaseQueue(path: path).read { db in
            (
                try Int.fetchOne(db, sql: "PRAGMA user_version"),
                try String.fetchOne(db, sql: "SELECT type FROM sqlite_master WHERE name = 'record'")
            )
        }
        #expect(version == 2 && kind == "view")
        try expectFormat1BuildsStopped(path)
    }

    /// Format 1's `record` table, as its builds create it.
    static let format1RecordColumns = """
        (id INTEGER PRIMARY KEY, key BLOB, value BLOB, headers BLOB, timestamp INTEGER NOT NULL, size INTEGER NOT NULL)
        """
    /// Format 1's tables.
    static let format1Tables = """
        CREATE TABLE topic (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, config TEXT NOT NULL);
        CREATE TABLE partition (
            topic_id INTEGER NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
            start_offset INTEGER NOT NULL, bytes INTEGER NOT NULL,
            PRIMARY KEY (topic_id, partition)) WITHOUT ROWID;
        CREATE TABLE record \(format1RecordColumns);
        """

    /// What a format-1 build runs on open, append and fetch fails or does nothing.
    func expectFormat1BuildsStopped(_ path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS record \(Self.format1RecordColumns)
                    """
            )
        }
        #expect(throws: DatabaseError.self) {
            try queue.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO record (id, key, value, headers, timestamp, size) VALUES (9, NULL, x'01', NULL, 1, 1)"
                )
            }
        }
        #expect(throws: DatabaseError.self) {
            try queue.read { db in _ = try Row.fetchAll(db, sql: "SELECT id, value FROM record WHERE id >= 0") }
        }
    }

    @Test("a format-1 upgrade the file system cannot hold is refused before any record moves")
    func upgradeNeedsSpace() throws {
        let dir = TestSupport.scratchDirectory("log-format1-space")
        let path = try makeFormat1(dir)
        let error = #expect(throws: LogError.self) {
            _ = try SQLiteEventLog(dataDirectory: dir, durability: .full, freeSpace: { _ in 1 << 20 })
        }
        #expect(error?.description.contains("needs about 16 MiB") == true)
        #expect(error?.description.contains("1 MiB are") == true)
        let (version, records) = try DatabaseQueue(path: path).read { db in
            (try Int.fetchOne(db, sql: "PRAGMA user_version"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM record"))
        }
        #expect(version == 0 && records == 1)
        let log = try SQLiteEventLog(dataDirectory: dir)
        #expect(try log.fetch(topic: "t", partition: 0, from: 0).map(\.value) == [Array("one".utf8)])
    }

    @Test("records a format-1 build appended to a format-2 log (in a `record` table it made) are kept as batches")
    func format1BuildsAppends() throws {
        let dir = TestSupport.scratchDirectory("log-format1-after-2")
        let path = dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path
        do {
            let log = try SQLiteEventLog(dataDirectory: dir)
            try log.createTopic("t", config: TopicConfig(partitions: 1))
            _ = try log.append([LogRecord(value: Array("new".utf8))], to: "t")
        }
        // What bd6ffff's log, without the view, let a format-1 build do.
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: """
                    DROP VIEW record;
                    CREATE TABLE record \(Self.format1RecordColumns);
                    UPDATE partition SET next_offset = 2, start_offset = 1, bytes = 3;
                    """
            )
            try db.execute(
                sql: "INSERT INTO record VALUES (?, NULL, x'6f6c64', NULL, 5, 3)",
                arguments: [SQLiteEventLog.recordID(topic: 1, partition: 0, offset: 1)]
            )
        }
        let log = try SQLiteEventLog(dataDirectory: dir)
        #expect(
            try log.fetch(topic: "t", partition: 0, from: 0).map(\.value) == [Array("new".utf8), Array("old".utf8)]
        )
        // What that build's retention counted from `record` alone is counted again from every batch.
        let partition = try log.describeTopic("t").partitions[0]
        #expect(partition.startOffset == 0 && partition.bytes == 6 && partition.endOffset == 2)
        try expectFormat1BuildsStopped(path)
    }

    /// A format-1 log: topic `t`, one partition, one record "one" at offset 0.
    func makeFormat1(_ dir: URL) throws -> String {
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: """
                    \(Self.format1Tables)
                    INSERT INTO partition VALUES (1, 0, 1, 0, 3);
                    """
            )
            try db.execute(
                sql: "INSERT INTO topic VALUES (1, 't', ?)",
                arguments: [try SQLiteEventLog.encode(TopicConfig(partitions: 1))]
            )
            try db.execute(
                sql: "INSERT INTO record VALUES (?, NULL, x'6f6e65', NULL, 5, 3)",
                arguments: [SQLiteEventLog.recordID(topic: 1, partition: 0, offset: 0)]
            )
        }
        return path
    }

    @Test("the last of 4,096 partitions of an odd topic id: fetch and retention reach it")
    func lastPartition() throws {
        let log = try SQLiteEventLog(dataDirectory: TestSupport.scratchDirectory("log-4096"))
        try log.createTopic("t", config: TopicConfig(partitions: 4096, retentionMs: 1000))
        _ = try log.append([LogRecord(value: Array("old".utf8), timestamp: 1, partition: 4095)], to: "t")
        #expect(try log.fetch(topic: "t", partition: 4095, from: 0).count == 1)
        let report = try log.enforceRetention(now: 10_000)
        #expect(report.removals.map(\.partition) == [4095])
        #expect(try log.fetch(topic: "t", partition: 4095, from: 0).isEmpty)
    }

    @Test("a log of a later format is refused untouched")
    func laterFormatRefused() throws {
        let dir = TestSupport.scratchDirectory("log-format3")
        do {
            let log = try SQLiteEventLog(dataDirectory: dir)
            try log.createTopic("t", config: TopicConfig(partitions: 1))
        }
        let path = dir.appendingPathComponent(SQLiteEventLog.databaseFileName).path
        try DatabaseQueue(path: path).write { try $0.execute(sql: "DROP TABLE group_offset; PRAGMA user_version = 3") }
        #expect(throws: LogError(.storage)) { _ = try SQLiteEventLog(dataDirectory: dir) }
        let (version, table) = try DatabaseQueue(path: path).read { db in
            (try Int.fetchOne(db, sql: "PRAGMA user_version"), try db.tableExists("group_offset"))
        }
        #expect(version == 3 && !table)
    }
}
