#if Kafka
import Foundation
import StrongroomLog
import Testing

@testable import StrongroomKafka

@Suite("Kafka client settings", .serialized)
struct KafkaProducerSettingsTests {
    @Test("the mock cluster's brokers answer without Nagle's delay, as Kafka's brokers do")
    func mockWithoutNagle() throws {
        let cluster = try MockKafkaCluster(brokers: 3)
        #expect(cluster.host.property("socket.nagle.disable") == "true")
        // Clients keep librdkafka's default: the setting is the brokers'.
        let log = try KafkaEventLog(.init(connection: cluster.connection, timeoutMs: 20_000))
        #expect(log.producer.property("socket.nagle.disable") == "false")
    }

    @Test("requests in flight per broker: tunable up to the five idempotence allows, never more")
    func inFlight() throws {
        let cluster = try MockKafkaCluster(brokers: 3)
        var tuned = cluster.connection
        tuned.tuning["max.in.flight.requests.per.connection"] = "2"
        try tuned.validate()
        let log = try KafkaEventLog(.init(connection: tuned, timeoutMs: 20_000))
        #expect(log.producer.property("max.in.flight.requests.per.connection") == "2")
        #expect(log.producer.property("enable.idempotence") == "true")
        tuned.tuning["max.in.flight.requests.per.connection"] = "6"
        #expect(throws: LogError.self) { _ = try KafkaEventLog(.init(connection: tuned, timeoutMs: 20_000)) }
    }
}
#endif
