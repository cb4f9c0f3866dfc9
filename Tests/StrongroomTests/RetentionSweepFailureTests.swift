import Foundation
import GRDB
import Strongroom
import StrongroomAudit
import StrongroomLog
import StrongroomTestSupport
import Testing

extension RetentionSweepTests {
    @Test("a partition whose records do not decode keeps them, is audited as refused, and the others are swept")
    func sweepPastCorruptPartition() throws {
        let f = try PipelineFixture()
        let day: Int64 = 86_400_000
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let nowMs: Int64 = 1_800_000_000_000
        try f.services.log.createTopic("short_lived", config: TopicConfig(partitions: 2, retentionMs: 7 * day))
        for partition in 0..<2 {
            _ = try f.services.log.append(
                [8, 6].map { LogRecord(value: Array("x".utf8), timestamp: nowMs - $0 * day, partition: partition) },
                to: "short_lived"
            )
        }
        let path = f.directory.appendingPathComponent(SQLiteEventLog.databaseFileName).path
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "UPDATE batch SET body = x'00' WHERE id = (SELECT MIN(id) FROM batch)")
        }
        let outcomes = try RetentionSweep(services: f.services).run(now: now)
        let outcome = try #require(outcomes.first { $0.topic == "short_lived" })
        #expect(outcome.records == 1 && outcome.failures.map(\.partition) == [0])
        #expect(try f.services.log.describeTopic("short_lived").partitions.map(\.startOffset) == [0, 1])
        let audit = try f.services.audit.entries(from: 0, limit: 100).compactMap { AuditEntry(canonical: $0.bytes) }
        let refused = audit.filter { $0.action == "RetentionSweep" && $0.decision == .deny }
        #expect(refused.count == 1 && refused.first?.reason?.contains("partition(s) 0 ") == true)
        #expect(audit.filter { $0.action == "RetentionSweep" && $0.decision == .allow }.map(\.count) == [1])
    }
}
