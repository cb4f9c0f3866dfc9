#if Kafka
import Foundation
import StrongroomKafka
import StrongroomLog
import Testing

@Suite("Kafka faults: leader changes, brokers down and up", .serialized)
struct KafkaFaultTests {
    static func open(_ cluster: MockKafkaCluster) throws -> KafkaEventLog {
        var connection = cluster.connection
        // Reconnect quickly once a broker is back (the default backoff reaches 10 s).
        connection.tuning["reconnect.backoff.max.ms"] = "200"
        return try KafkaEventLog(.init(connection: connection, timeoutMs: 20_000))
    }

    static func values(_ log: KafkaEventLog, _ topic: String, partitions: Int) throws -> [String] {
        var out: [String] = []
        for p in 0..<partitions {
            var next: Int64 = 0
            while true {
                let page = try log.fetch(topic: topic, partition: p, from: next, maxBytes: 1 << 20, maxRecords: 500)
                guard let last = page.last else { break }
                out += page.map { String(decoding: $0.value ?? [], as: UTF8.self) }
                next = last.offset + 1
            }
        }
        return out
    }

    @Test("injected NOT_LEADER errors on Produce are retried: every record stored once")
    func notLeader() throws {
        let cluster = try MockKafkaCluster(brokers: 3)
        let log = try Self.open(cluster)
        try log.createTopic("payments", config: TopicConfig(partitions: 3))
        cluster.failNextWithNotLeader(.produce, count: 5)
        var acknowledged: [String] = []
        for batch in 0..<10 {
            let records = (0..<20).map { LogRecord(key: Array("k\($0)".utf8), value: Array("\(batch)-\($0)".utf8)) }
            let positions = try log.append(records, to: "payments")
            #expect(positions.count == 20)
            acknowledged += records.map { String(decoding: $0.value ?? [], as: UTF8.self) }
        }
        let stored = try Self.values(log, "payments", partitions: 3)
        #expect(stored.count == acknowledged.count, "no record duplicated")
        #expect(Set(stored) == Set(acknowledged), "no acknowledged record lost")
    }

    @Test("a group commit while every broker is down fails within the timeout instead of waiting without end")
    func commitWithEveryBrokerDown() throws {
        let cluster = try MockKafkaCluster(brokers: 3)
        var connection = cluster.connection
        connection.tuning["reconnect.backoff.max.ms"] = "200"
        let log = try KafkaEventLog(.init(connection: connection, timeoutMs: 3000))
        try log.createTopic("orders", config: TopicConfig(partitions: 1))
        _ = try log.append([LogRecord(key: nil, value: Array("a".utf8))], to: "orders")
        try log.commit(group: "billing", topic: "orders", partition: 0, offset: 1)
        for broker in 1...3 { cluster.setBroker(broker, up: false) }
        let started = Date()
        #expect(throws: LogError.self) {
            try log.commit(group: "billing", topic: "orders", partition: 0, offset: 1)
        }
        #expect(Date().timeIntervalSince(started) < 10, "bounded by the 3 s timeout, with slack for a loaded machine")
        for broker in 1...3 { cluster.setBroker(broker, up: true) }
        var committed: Int64?
        let reconnected = Date().addingTimeInterval(60)
        while committed == nil, Date() < reconnected {
            committed = try? log.committedOffset(group: "billing", topic: "orders", partition: 0)
            if committed == nil { usleep(200_000) }
        }
        #expect(committed == 1, "the group's offset is intact once the brokers are back")
    }

    @Test("a partition leader down and up mid-stream: no acknowledged record lost, none duplicated")
    func brokerDownAndUp() throws {
        let cluster = try MockKafkaCluster(brokers: 3)
        let log = try Self.open(cluster)
        try log.createTopic("ledger", config: TopicConfig(partitions: 2))
        cluster.setLeader(topic: "ledger", partition: 0, broker: 1)
        cluster.setLeader(topic: "ledger", partition: 1, broker: 2)
        let acknowledged = Locked<[String]>([])
        let failures = Locked<[String]>([])
        let longestWait = Locked<Double>(0)
        let producing = DispatchGroup()
        DispatchQueue.global().async(group: producing) {
            for batch in 0..<40 {
                let records = (0..<10).map { i in
                    LogRecord(value: Array("\(batch)-\(i)".utf8), partition: i % 2)
                }
                do {
                    let start = Date()
                    _ = try log.append(records, to: "ledger")
                    let waited = Date().timeIntervalSince(start)
                    longestWait.mutate { $0 = max($0, waited) }
                    acknowledged.mutate { $0 += records.map { String(decoding: $0.value ?? [], as: UTF8.self) } }
                } catch {
                    failures.mutate { $0.append("\(error)") }
                }
                usleep(20_000)
            }
        }
        // The outage starts once appends are flowing, so one of them must wait it out.
        let flowing = Date().addingTimeInterval(120)
        while acknowledged.value.isEmpty && Date() < flowing { usleep(10_000) }
        cluster.setBroker(1, up: false)
        usleep(2_000_000)
        cluster.setBroker(1, up: true)
        producing.wait()
        #expect(failures.value.isEmpty, "appends waited for the broker: \(failures.value)")
        let stored = try Self.values(log, "ledger", partitions: 2)
        #expect(stored.count == Set(stored).count, "no record duplicated")
        #expect(Set(acknowledged.value).isSubset(of: Set(stored)), "no acknowledged record lost")
        #expect(acknowledged.value.count == 400)
        #expect(longestWait.value > 1.0, "an append waited out the outage (\(longestWait.value) s)")
    }

    @Test("a client configured for TLS against a plaintext broker fails with the cause, not a hang")
    func tlsAgainstPlaintext() throws {
        let cluster = try MockKafkaCluster(brokers: 1)
        let connection = KafkaConnection(bootstrapServers: cluster.bootstrapServers, securityProtocol: .ssl)
        do {
            _ = try KafkaEventLog(.init(connection: connection, timeoutMs: 3000))
            Issue.record("connected over TLS to a plaintext listener")
        } catch {
            #expect(error.code == .storage)
            #expect(error.detail.contains("no Kafka broker answered"), "\(error)")
            #expect(error.detail.contains("last error"), "the cause is given: \(error)")
            #expect(error.detail.contains("SSL"), "the TLS failure is named: \(error)")
        }
    }

    @Test("the development cluster refuses what its brokers cannot do, with the reason")
    func developmentLimits() throws {
        let cluster = try MockKafkaCluster(brokers: 1)
        let log = try Self.open(cluster)
        #expect(log.isDevelopmentCluster)
        try log.createTopic("t", config: TopicConfig(partitions: 2))
        #expect(throws: LogError(.invalidArgument)) { try log.deleteTopic("t") }
        #expect(throws: LogError(.invalidArgument)) { _ = try log.deleteRecords(of: "t", olderThan: 0) }
        #expect(throws: LogError(.invalidArgument)) {
            try log.createTopic("__strongroom_topics", config: TopicConfig())
        }
        // A second client sees the registration: topics live on the cluster, not in the process.
        let other = try Self.open(cluster)
        #expect(try other.topics().map(\.name) == ["t"])
        #expect(try other.describeTopic("t").partitions.map(\.endOffset) == [0, 0])
    }
}

final class Locked<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
#endif
