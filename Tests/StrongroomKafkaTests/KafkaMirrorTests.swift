#if Kafka
import Foundation
import StrongroomKafka
import StrongroomLog
import Testing

@Suite("Kafka disaster recovery: mirror, exact offset translation, failover", .serialized)
struct KafkaMirrorTests {
    static func open(_ cluster: MockKafkaCluster, timeoutMs: Int = 20_000) throws -> KafkaEventLog {
        var connection = cluster.connection
        connection.tuning["message.timeout.ms"] = "1500"
        connection.tuning["reconnect.backoff.max.ms"] = "200"
        return try KafkaEventLog(.init(connection: connection, timeoutMs: timeoutMs))
    }

    static func values(
        _ log: KafkaEventLog,
        _ topic: String,
        _ partition: Int,
        from: Int64 = 0
    ) throws -> [StoredRecord] {
        var out: [StoredRecord] = []
        var next = from
        while true {
            let page = try log.fetch(
                topic: topic,
                partition: partition,
                from: next,
                maxBytes: 8 << 20,
                maxRecords: 2000
            )
            guard let last = page.last else { return out }
            out += page
            next = last.offset + 1
        }
    }

    static func text(_ record: StoredRecord) -> String { String(decoding: record.value ?? [], as: UTF8.self) }

    @Test("offsets are translated exactly, groups are carried forward only, and a restart recovers the map")
    func translation() throws {
        let primary = try MockKafkaCluster(brokers: 1)
        let standby = try MockKafkaCluster(brokers: 1)
        let p = try Self.open(primary)
        let s = try Self.open(standby)
        try p.createTopic("payments", config: TopicConfig(partitions: 1, classification: "RESTRICTED"))
        // The standby's offsets diverge: the topic holds 7 records of its own there.
        try s.createTopic("payments", config: TopicConfig(partitions: 1, classification: "RESTRICTED"))
        _ = try s.append((0..<7).map { LogRecord(value: Array("local-\($0)".utf8)) }, to: "payments")
        _ = try p.append((0..<20).map { LogRecord(value: Array("event-\($0)".utf8)) }, to: "payments")
        try p.commit(group: "settlement", topic: "payments", partition: 0, offset: 12)
        let mirror = try KafkaMirror(from: p, to: s, options: .init(groups: ["settlement"]))
        #expect(try mirror.mirrorOnce() == 20)
        let partition = TopicPartition(topic: "payments", partition: 0)
        #expect(mirror.translate(partition, 12) == 19, "primary 12 is standby 19 (7 records ahead)")
        #expect(mirror.translate(partition, 20) == 27, "the end maps to the standby's end")
        #expect(mirror.translate(partition, 21) == nil, "nothing is translated past what is mirrored")
        let written = try mirror.syncGroupOffsets()
        #expect(written.map(\.target) == [19])
        #expect(try s.committedOffset(group: "settlement", topic: "payments", partition: 0) == 19)
        let resumed = try Self.values(s, "payments", 0, from: 19).map(Self.text)
        #expect(resumed == (12..<20).map { "event-\($0)" }, "the group resumes at event-12: no gap, no duplicate")
        // Never rewound: a primary commit behind the standby's is not carried.
        try p.commit(group: "settlement", topic: "payments", partition: 0, offset: 5)
        #expect(try mirror.syncGroupOffsets().isEmpty)
        #expect(try s.committedOffset(group: "settlement", topic: "payments", partition: 0) == 19)
        // The topic's settings came across; the records keep their source.
        #expect(try s.describeTopic("payments").config.classification == "RESTRICTED")
        let copied = try Self.values(s, "payments", 0, from: 7)
        #expect(copied.first?.headers.contains { $0.name == KafkaMirror.sourceHeader } == true)
        // A new mirror process recovers the map from the standby and copies only what is new.
        _ = try p.append((20..<25).map { LogRecord(value: Array("event-\($0)".utf8)) }, to: "payments")
        let restarted = try KafkaMirror(from: p, to: s, options: .init(groups: ["settlement"]))
        let again = try restarted.mirrorOnce()
        #expect(again == 5, "nothing copied twice after a restart: \(again), at \(restarted.positions)")
        #expect(restarted.translate(partition, 12) == 19)
        #expect(try Self.values(s, "payments", 0).count == 7 + 25)
    }

}

#endif
