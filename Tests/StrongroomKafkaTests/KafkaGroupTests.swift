#if Kafka
import Foundation
import Logging
import ServiceLifecycle
import StrongroomKafka
import StrongroomLog
import Testing

@Suite("Kafka consumer groups: joins, rebalances, pause and graceful shutdown", .serialized)
struct KafkaGroupTests {
    static func open(_ cluster: MockKafkaCluster) throws -> KafkaEventLog {
        var connection = cluster.connection
        // The mock's rebalance waits session.timeout.ms - 1 s for members to rejoin.
        connection.tuning["session.timeout.ms"] = "6000"
        connection.tuning["reconnect.backoff.max.ms"] = "200"
        return try KafkaEventLog(.init(connection: connection, timeoutMs: 20_000))
    }

    /// Waits without holding one of Swift's shared threads: a full test run keeps them busy, so
    /// a member's start may wait behind other tests, and the limit is generous.
    static func wait(
        _ what: String,
        _ members: [KafkaGroupConsumer] = [],
        until condition: () throws -> Bool
    ) async throws {
        let deadline = Date().addingTimeInterval(180)
        while try !condition() {
            guard Date() < deadline else {
                let state = members.map {
                    "\($0.assignment.sorted { $0.partition < $1.partition }) after \($0.assignmentCount)"
                }
                throw LogError(.storage, "timed out waiting for \(what); members: \(state)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// A handler that records what it was given and commits after it, as the secure consumer does.
    final class Ledger: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var handled: [TopicPartition: [Int64]] = [:]
        let log: KafkaEventLog
        let group: String

        init(log: KafkaEventLog, group: String) {
            self.log = log
            self.group = group
        }

        var count: Int { lock.withLock { handled.values.reduce(0) { $0 + Set($1).count } } }

        func offsets(_ partition: TopicPartition) -> Set<Int64> { lock.withLock { Set(handled[partition] ?? []) } }

        func handle(_ partition: TopicPartition, _ records: [StoredRecord]) throws {
            lock.withLock { handled[partition, default: []] += records.map(\.offset) }
            guard let last = records.last else { return }
            try log.commit(
                group: group,
                topic: partition.topic,
                partition: partition.partition,
                offset: last.offset + 1
            )
        }
    }

    static func produce(_ log: KafkaEventLog, _ count: Int, from start: Int) throws {
        let records = (start..<start + count).map {
            LogRecord(key: Array("order-\($0 % 37)".utf8), value: Array("\($0)".utf8))
        }
        for chunk in stride(from: 0, to: records.count, by: 100) {
            _ = try log.append(Array(records[chunk..<min(chunk + 100, records.count)]), to: "orders")
        }
    }

    @Test("two members of one group: a join and a leave rebalance the partitions; every record handled, none skipped")
    func rebalance() async throws {
        let cluster = try MockKafkaCluster(brokers: 3)
        let log = try Self.open(cluster)
        try log.createTopic("orders", config: TopicConfig(partitions: 4))
        let ledger = Ledger(log: log, group: "fulfilment")
        try Self.produce(log, 400, from: 0)

        let a = try KafkaGroupConsumer(log: log, group: "fulfilment", topics: ["orders"], maxRecords: 50) {
            try ledger.handle($0, $1)
        }
        let runA = Task { try await a.run() }
        try await Self.wait("member a to own every partition") { a.assignment.count == 4 }
        try await Self.wait("the first 400 records") { ledger.count >= 400 }

        let b = try KafkaGroupConsumer(log: log, group: "fulfilment", topics: ["orders"], maxRecords: 50) {
            try ledger.handle($0, $1)
        }
        let group = ServiceGroup(
            configuration: .init(services: [b], gracefulShutdownSignals: [], logger: Logger(label: "test"))
        )
        let runB = Task { try await group.run() }
        try Self.produce(log, 400, from: 400)
        try await Self.wait("the join to split the partitions", [a, b]) {
            !b.assignment.isEmpty && a.assignment.count + b.assignment.count == 4 && a.assignment.count < 4
        }
        #expect(a.assignment.isDisjoint(with: b.assignment), "no partition has two owners")
        try Self.produce(log, 400, from: 800)
        try await Self.wait("1,200 records") { ledger.count >= 1200 }

        runA.cancel()
        _ = try? await runA.value
        try await Self.wait("the leave to give b every partition", [a, b]) { b.assignment.count == 4 }
        try Self.produce(log, 400, from: 1200)
        try await Self.wait("1,600 records") { ledger.count >= 1600 }
        await group.triggerGracefulShutdown()
        try await runB.value
        #expect(b.assignment.isEmpty, "a member that shut down owns nothing")

        var total = 0
        for p in 0..<4 {
            let partition = TopicPartition(topic: "orders", partition: p)
            let end = try log.describeTopic("orders").partitions[p].endOffset
            let seen = ledger.offsets(partition)
            #expect(seen == Set(0..<end), "\(partition): every offset handled (\(seen.count) of \(end))")
            #expect(try log.committedOffset(group: "fulfilment", topic: "orders", partition: p) == end)
            total += Int(end)
        }
        #expect(total == 1600)
        #expect(a.assignmentCount >= 2 && b.assignmentCount >= 2, "both members saw a rebalance")
    }

    @Test("a paused member keeps its partitions and handles nothing until resumed")
    func pauseAndResume() async throws {
        let cluster = try MockKafkaCluster(brokers: 1)
        let log = try Self.open(cluster)
        try log.createTopic("orders", config: TopicConfig(partitions: 2))
        let ledger = Ledger(log: log, group: "audit-export")
        let member = try KafkaGroupConsumer(log: log, group: "audit-export", topics: ["orders"]) {
            try ledger.handle($0, $1)
        }
        let run = Task { try await member.run() }
        try await Self.wait("the assignment") { member.assignment.count == 2 }
        member.pause()
        try Self.produce(log, 200, from: 0)
        try await Task.sleep(for: .milliseconds(1500))
        #expect(ledger.count == 0, "nothing handled while paused")
        #expect(member.assignment.count == 2, "partitions kept while paused")
        member.resume()
        try await Self.wait("the records after resume") { ledger.count == 200 }
        run.cancel()
        _ = try? await run.value
    }
}
#endif
