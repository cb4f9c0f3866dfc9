#if Kafka
import Foundation
import StrongroomKafka
import StrongroomLog
import StrongroomLogTestSupport
import StrongroomTestSupport
import Testing

struct KafkaConformanceCase: Sendable, CustomStringConvertible {
    var name: String
    var run: @Sendable (URL, EventLogConformance.Factory) throws -> Void
    var description: String { name }

    /// What librdkafka's mock cluster cannot show, and why; the rest must pass as on SQLite.
    static let notOnTheMock: [String: String] = [
        "retention by time and by size removes the oldest; offsets are never reused":
            "brokers enforce retention.ms/retention.bytes; the mock enforces none and has no DeleteRecords",
        "deleting a topic removes its records; a new topic of that name starts at 0":
            "the mock has no DeleteTopics",
        "producer sequences survive a restart":
            "sequences are remembered in the producing process; across restarts consumers drop duplicates by event id",
    ]

    static let all = EventLogConformance.checks.filter { notOnTheMock[$0.name] == nil }.map {
        KafkaConformanceCase(name: $0.name, run: $0.run)
    }
}

@Suite("Kafka event log (librdkafka mock cluster, 3 brokers)", .serialized)
struct KafkaEventLogTests {
    static func open(_ cluster: MockKafkaCluster) throws -> KafkaEventLog {
        try KafkaEventLog(.init(connection: cluster.connection, timeoutMs: 20_000))
    }

    @Test("conformance", arguments: KafkaConformanceCase.all)
    func conformance(_ check: KafkaConformanceCase) throws {
        let cluster = try MockKafkaCluster(brokers: 3)
        try check.run(TestSupport.scratchDirectory("kafka")) { _ in try Self.open(cluster) }
    }

    @Test("the checks the mock cannot run are exactly the ones named, each with its reason")
    func exclusions() {
        let names = Set(EventLogConformance.checks.map(\.name))
        #expect(Set(KafkaConformanceCase.notOnTheMock.keys).isSubset(of: names))
        #expect(KafkaConformanceCase.all.count == names.count - KafkaConformanceCase.notOnTheMock.count)
    }
}
#endif
