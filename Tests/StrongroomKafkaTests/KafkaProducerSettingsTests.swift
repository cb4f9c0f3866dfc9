#if Kafka
import Foundation
import StrongroomLog
import Testing

@testable import StrongroomKafka

@Suite("Kafka producer settings", .serialized)
struct KafkaProducerSettingsTests {
    @Test("the log's producer is idempotent with one request in flight per broker unless tuned")
    func inFlight() throws {
        let cluster = try MockKafkaCluster(brokers: 3)
        let log = try KafkaEventLog(.init(connection: cluster.connection, timeoutMs: 20_000))
        #expect(log.producer.property("enable.idempotence") == "true")
        #expect(log.producer.property("max.in.flight.requests.per.connection") == "1")

        var tuned = cluster.connection
        tuned.tuning["max.in.flight.requests.per.connection"] = "5"
        try tuned.validate()
        let wider = try KafkaEventLog(.init(connection: tuned, timeoutMs: 20_000))
        #expect(wider.producer.property("max.in.flight.requests.per.connection") == "5")
        #expect(wider.producer.property("enable.idempotence") == "true")

        // Idempotence allows at most five: librdkafka refuses more, and so does the log.
        tuned.tuning["max.in.flight.requests.per.connection"] = "6"
        #expect(throws: LogError.self) { _ = try KafkaEventLog(.init(connection: tuned, timeoutMs: 20_000)) }
    }
}
#endif
