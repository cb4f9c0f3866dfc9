#if Kafka
import CRdKafka
import Foundation
public import StrongroomLog

/// A Kafka cluster in this process: librdkafka's mock brokers on loopback, for development and
/// tests (`strongroom dev kafka`).
///
/// Real Kafka protocol on real sockets, so any Kafka client (kcat, confluent-kafka) can use
/// it, with real consumer-group joins and rebalances. What it lacks (librdkafka 2.0.2): TLS,
/// SASL, the admin API (create/delete topics, DeleteRecords), retention and read_committed.
/// Because there is no admin API, this host creates the topics Strongroom registers in
/// ``KafkaEventLog/registryTopic``. Everything is in memory and ends with this object.
public final class MockKafkaCluster: @unchecked Sendable {
    /// `host:port,…` of the brokers.
    public let bootstrapServers: String
    /// The number of brokers (ids 1…brokers).
    public let brokers: Int

    let host: KafkaHandle
    private let cluster: OpaquePointer
    private let stopping = NSLock()
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)
    private var provisioned: Set<String> = []

    /// Starts `brokers` brokers (1…10) and the topic provisioner.
    public init(brokers: Int = 3) throws(LogError) {
        guard (1...10).contains(brokers) else { throw LogError(.invalidArgument, "brokers must be 1…10") }
        self.brokers = brokers
        // The mock's brokers take their socket options from the client that owns them. Kafka's
        // brokers set TCP_NODELAY; with Nagle on, a response written right behind another waits
        // for the client's delayed ACK (~40 ms), which held back a third of large appends.
        host = try KafkaHandle(RD_KAFKA_PRODUCER, properties: [("log_level", "3"), ("socket.nagle.disable", "true")])
        guard let cluster = rd_kafka_mock_cluster_new(host.pointer, Int32(brokers)) else {
            throw LogError(.storage, "librdkafka could not start a mock cluster")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        try createTopic(KafkaEventLog.registryTopic, partitions: 1)
        let reader = try PartitionReader(properties: [
            ("bootstrap.servers", bootstrapServers), ("log.connection.close", "false"),
        ])
        let thread = Thread { [unowned self] in
            self.provision(reader)
            self.finished.signal()
        }
        thread.name = "strongroom-mock-provisioner"
        thread.start()
    }

    deinit {
        stopping.withLock { stopped = true }
        finished.wait()
        rd_kafka_mock_cluster_destroy(cluster)
    }

    /// A connection to this cluster (plaintext: the mock has no TLS).
    public var connection: KafkaConnection {
        KafkaConnection(bootstrapServers: bootstrapServers, securityProtocol: .plaintext, allowPlaintext: true)
    }

    /// Creates a topic directly, as Kafka's admin API would.
    public func createTopic(_ name: String, partitions: Int) throws(LogError) {
        let code = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(min(3, brokers)))
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw LogError(.storage, "mock topic \(name): \(KafkaHandle.describe(code))")
        }
    }

    /// Takes a broker down (connections refused) or brings it back.
    public func setBroker(_ id: Int, up: Bool) {
        if up {
            _ = rd_kafka_mock_broker_set_up(cluster, Int32(id))
        } else {
            _ = rd_kafka_mock_broker_set_down(cluster, Int32(id))
        }
    }

    /// Makes `broker` the leader of a partition.
    public func setLeader(topic: String, partition: Int, broker: Int) {
        _ = rd_kafka_mock_partition_set_leader(cluster, topic, Int32(partition), Int32(broker))
    }

    /// The Kafka requests errors can be injected into.
    public enum Request: Int16, Sendable {
        /// Produce (API key 0).
        case produce = 0
        /// Fetch (API key 1).
        case fetch = 1
        /// OffsetCommit (API key 8).
        case offsetCommit = 8
    }

    /// The next `count` requests of a kind fail with NOT_LEADER_OR_FOLLOWER, as during a leader change.
    public func failNextWithNotLeader(_ request: Request, count: Int) {
        let errors = [rd_kafka_resp_err_t](repeating: RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, count: count)
        errors.withUnsafeBufferPointer {
            rd_kafka_mock_push_request_errors_array(cluster, request.rawValue, $0.count, $0.baseAddress)
        }
    }

    /// Creates every topic registered by Strongroom, until stopped.
    private func provision(_ reader: PartitionReader) {
        var next: Int64 = 0
        while !stopping.withLock({ stopped }) {
            do {
                let (_, high) = try reader.handle.watermarks(KafkaEventLog.registryTopic, 0, timeoutMs: 2000)
                guard next < high else {
                    usleep(10_000)
                    continue
                }
                let page = try reader.read(
                    topic: KafkaEventLog.registryTopic,
                    partition: 0,
                    from: next,
                    end: high,
                    maxBytes: 1 << 20,
                    maxRecords: 1000,
                    timeoutMs: 2000
                )
                for record in page {
                    next = record.offset + 1
                    let name = String(decoding: record.key ?? [], as: UTF8.self)
                    guard let value = record.value, !provisioned.contains(name),
                        let registration = try? JSONDecoder().decode(TopicRegistration.self, from: Data(value))
                    else { continue }
                    try createTopic(name, partitions: registration.config.partitions)
                    provisioned.insert(name)
                }
            } catch {
                usleep(50_000)
            }
        }
    }
}
#endif
