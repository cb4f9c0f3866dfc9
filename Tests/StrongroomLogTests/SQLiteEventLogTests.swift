import Foundation
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
