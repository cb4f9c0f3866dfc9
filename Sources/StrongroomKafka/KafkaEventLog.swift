#if Kafka
import CRdKafka
import Foundation
public import StrongroomKeys
public import StrongroomLog

/// A topic's Strongroom settings as kept on the cluster, in ``KafkaEventLog/registryTopic``.
struct TopicRegistration: Codable {
    var config: TopicConfig
}

/// The event log on an Apache Kafka cluster, through librdkafka.
///
/// - Appends go through one idempotent producer (`enable.idempotence`, `acks=all`) and return
///   only when every record is acknowledged by the brokers; a full local queue makes the
///   caller wait, never drops. Keyed records go to Kafka's murmur2 partition (as the Java
///   client and the embedded log choose).
/// - Strongroom's topic settings (classification, encryption required, size limit, DLP action)
///   live in the compacted topic `__strongroom_topics`, keyed by topic name: a topic exists
///   for Strongroom once it is registered there, whatever else the cluster holds.
/// - Group offsets are Kafka's own (`__consumer_offsets`), so Kafka's tools see them.
/// - Retention is the brokers' (`retention.ms`/`retention.bytes` set at creation);
///   ``deleteRecords(of:olderThan:)`` uses Kafka's DeleteRecords.
public final class KafkaEventLog: EventLog, @unchecked Sendable {
    /// The compacted topic holding Strongroom's topic settings.
    public static let registryTopic = "__strongroom_topics"
    /// The compacted, single-partition topic holding the key metadata of the key stores that
    /// ``replicateKeys(from:)`` publishes, for a standby site (``KafkaMirror``).
    public static let keysTopic = "__strongroom_keys"

    /// Where and how to connect, and how topics are made.
    public struct Options: Sendable {
        /// The cluster and its security settings.
        public var connection: KafkaConnection
        /// Replicas per partition of topics Strongroom creates (capped by the brokers there are).
        public var replicationFactor: Int
        /// `min.insync.replicas` of topics that are not PUBLIC (PUBLIC ones get 1).
        public var minInSyncReplicas: Int
        /// How long a metadata, admin or read request may take, in milliseconds.
        public var timeoutMs: Int

        /// Options with Kafka's usual production settings: three replicas, two in sync.
        public init(
            connection: KafkaConnection,
            replicationFactor: Int = 3,
            minInSyncReplicas: Int = 2,
            timeoutMs: Int = 30_000
        ) {
            self.connection = connection
            self.replicationFactor = replicationFactor
            self.minInSyncReplicas = minInSyncReplicas
            self.timeoutMs = timeoutMs
        }
    }

    /// The options this log was opened with.
    public let options: Options
    /// True for a cluster started by ``MockKafkaCluster`` (`strongroom dev kafka`), which has no
    /// admin API: its host creates the topics registered in ``registryTopic``.
    public let isDevelopmentCluster: Bool
    /// The cluster's id.
    public let clusterID: String

    let producer: KafkaHandle
    let properties: [(String, String)]
    private let registryReader: PartitionReader
    private let registryLock = NSLock()
    private var registered: [String: TopicConfig] = [:]
    private var registryNext: Int64 = 0
    private let stateLock = NSLock()
    private var readers: [String: PartitionReader] = [:]
    private var groups: [String: KafkaHandle] = [:]
    private var stamps: [String: (sequence: UInt64, positions: [RecordPosition])] = [:]
    private var members: [ObjectIdentifier: WeakMember] = [:]
    private var keyStore: KeyStore?
    private var keysTopicReady = false

    struct WeakMember {
        weak var member: KafkaGroupConsumer?
        let group: String
    }

    func addMember(_ member: KafkaGroupConsumer) {
        stateLock.withLock { members[ObjectIdentifier(member)] = WeakMember(member: member, group: member.group) }
    }

    func removeMember(_ member: KafkaGroupConsumer) {
        _ = stateLock.withLock { members.removeValue(forKey: ObjectIdentifier(member)) }
    }

    /// The client that may commit for `group` on `partition`: the member of this process that
    /// owns it; nil if this process has members of the group but none owns it.
    private func committer(_ group: String, _ partition: TopicPartition) throws(LogError) -> KafkaHandle? {
        let local = stateLock.withLock { members.values.filter { $0.group == group }.compactMap(\.member) }
        if local.isEmpty { return try self.group(group) }
        return local.first { $0.owns(partition) }?.handle
    }

    var timeout: Int32 { Int32(clamping: options.timeoutMs) }

    /// Connects to the cluster, checks it answers, and reads Strongroom's topic registry.
    public init(_ options: Options) throws(LogError) {
        do { try options.connection.validate() } catch { throw LogError(.invalidArgument, error.description) }
        self.options = options
        // A request to a broker that went away fails within the log's timeout, not librdkafka's
        // 60 s (offset queries wait out the request, not their own timeout); tuning may override.
        properties =
            [("socket.timeout.ms", "\(max(options.timeoutMs, 10))")] + options.connection.clientProperties + [
                ("log.connection.close", "false")
            ]
        producer = try KafkaHandle(
            RD_KAFKA_PRODUCER,
            properties: properties + [
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("partitioner", "murmur2_random"),
                ("compression.type", options.connection.compression ?? "none"),
            ]
        ) { conf in rd_kafka_conf_set_dr_msg_cb(conf, deliveryReport) }
        var id: String?
        let deadline = Date().addingTimeInterval(Double(options.timeoutMs) / 1000)
        while id == nil && Date() < deadline {
            id = producer.clusterID(timeoutMs: 250)
            rd_kafka_poll(producer.pointer, 0)  // serves error callbacks: the cause if no broker answers
        }
        guard let id else {
            throw LogError(
                .storage,
                "no Kafka broker answered at \(options.connection.bootstrapServers) within \(options.timeoutMs) ms"
                    + (producer.lastError.map { "; last error: \($0)" } ?? "")
            )
        }
        clusterID = id
        isDevelopmentCluster = id.hasPrefix("mockCluster")
        registryReader = try PartitionReader(properties: properties)
        try ensureRegistryTopic()
        _ = try refreshRegistry()
    }

    // MARK: Registry

    private func ensureRegistryTopic() throws(LogError) {
        if try producer.partitionCount(Self.registryTopic, timeoutMs: timeout) != nil { return }
        if isDevelopmentCluster {
            throw LogError(
                .storage,
                "the development cluster has no \(Self.registryTopic): was it started by Strongroom?"
            )
        }
        let code = try createKafkaTopic(
            Self.registryTopic,
            partitions: 1,
            configs: [("cleanup.policy", "compact"), ("min.insync.replicas", "\(options.minInSyncReplicas)")]
        )
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR || code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
            throw LogError(.storage, "creating \(Self.registryTopic): \(KafkaHandle.describe(code))")
        }
    }

    /// Reads registrations added since the last read; returns every registered topic.
    @discardableResult
    func refreshRegistry() throws(LogError) -> [String: TopicConfig] {
        registryLock.lock()
        defer { registryLock.unlock() }
        let (_, high) = try producer.watermarks(Self.registryTopic, 0, timeoutMs: timeout)
        while registryNext < high {
            let page = try registryReader.read(
                topic: Self.registryTopic,
                partition: 0,
                from: registryNext,
                end: high,
                maxBytes: 1 << 20,
                maxRecords: 1000,
                timeoutMs: options.timeoutMs
            )
            guard let last = page.last else { break }
            for record in page {
                let name = String(decoding: record.key ?? [], as: UTF8.self)
                if let value = record.value {
                    guard let registration = try? JSONDecoder().decode(TopicRegistration.self, from: Data(value)) else {
                        throw LogError(.storage, "\(Self.registryTopic) offset \(record.offset) is not a registration")
                    }
                    registered[name] = registration.config
                } else {
                    registered[name] = nil
                }
            }
            registryNext = last.offset + 1
        }
        return registered
    }

    func config(of topic: String) throws(LogError) -> TopicConfig {
        registryLock.lock()
        let cached = registered[topic]
        registryLock.unlock()
        if let cached { return cached }
        guard let config = try refreshRegistry()[topic] else { throw LogError(.unknownTopic, topic) }
        return config
    }

    private func register(_ name: String, _ config: TopicConfig?) throws(LogError) {
        let value: [UInt8]?
        if let config {
            guard let data = try? JSONEncoder().encode(TopicRegistration(config: config)) else {
                throw LogError(.invalidArgument, "configuration of \(name) cannot be encoded")
            }
            value = Array(data)
        } else {
            value = nil
        }
        _ = try produce([LogRecord(key: Array(name.utf8), value: value, partition: 0)], to: Self.registryTopic)
        try refreshRegistry()
    }

    // MARK: Topics

    /// The broker-side settings of a topic: retention, durability and record size.
    func kafkaConfigs(_ config: TopicConfig) -> [(String, String)] {
        let isPublic = config.classification?.uppercased() == "PUBLIC"
        return [
            ("cleanup.policy", "delete"),
            ("min.insync.replicas", isPublic ? "1" : "\(options.minInSyncReplicas)"),
            ("retention.ms", config.retentionMs.map { "\($0)" } ?? "-1"),
            ("retention.bytes", config.retentionBytes.map { "\($0)" } ?? "-1"),
            // The record limit is Strongroom's; the batch limit leaves room for Kafka's framing.
            ("max.message.bytes", "\(max(config.maxRecordBytes, 1 << 20) + 64 * 1024)"),
        ]
    }

    /// Creates the topic on the cluster (admin API, or the development cluster's host) and registers it.
    public func createTopic(_ name: String, config: TopicConfig) throws(LogError) {
        try SQLiteEventLog.validateTopicName(name)
        guard !name.hasPrefix("__") else {
            throw LogError(.invalidArgument, "topic names starting with __ are Kafka's and Strongroom's own")
        }
        try config.validate()
        if try refreshRegistry()[name] != nil { throw LogError(.topicExists, name) }
        if isDevelopmentCluster {
            // The cluster's host creates registered topics (MockKafkaCluster).
            if let existing = try producer.partitionCount(name, timeoutMs: timeout), existing != config.partitions {
                throw LogError(
                    .topicExists,
                    "the development cluster already has \(name) with \(existing) partitions (it cannot delete topics)"
                )
            }
            try register(name, config)
            let deadline = Date().addingTimeInterval(Double(options.timeoutMs) / 1000)
            while try producer.partitionCount(name, timeoutMs: timeout) != config.partitions {
                guard Date() < deadline else {
                    try? register(name, nil)
                    throw LogError(.storage, "the development cluster did not create \(name) in time")
                }
                usleep(20_000)
            }
            return
        }
        let code = try createKafkaTopic(name, partitions: config.partitions, configs: kafkaConfigs(config))
        switch code {
        case RD_KAFKA_RESP_ERR_NO_ERROR: break
        case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
            let existing = try producer.partitionCount(name, timeoutMs: timeout)
            guard existing == config.partitions else {
                throw LogError(
                    .topicExists,
                    "Kafka already has a topic \(name) with \(existing ?? 0) partitions, not \(config.partitions)"
                )
            }
        default:
            throw LogError(.storage, "Kafka refused to create \(name): \(KafkaHandle.describe(code))")
        }
        try register(name, config)
    }

    /// Deletes the topic on the cluster, then its registration.
    public func deleteTopic(_ name: String) throws(LogError) {
        _ = try config(of: name)
        guard !isDevelopmentCluster else {
            throw LogError(
                .invalidArgument,
                "the development cluster cannot delete topics (librdkafka's mock has no DeleteTopics)"
            )
        }
        let code = try adminDeleteTopic(name)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR || code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART else {
            throw LogError(.storage, "Kafka refused to delete \(name): \(KafkaHandle.describe(code))")
        }
        try register(name, nil)
    }

    /// Whether a broker answers a metadata request within `timeoutMs`: a readiness probe that
    /// does not wait the log's whole timeout when the cluster is down.
    public func probe(timeoutMs: Int) throws(LogError) {
        _ = try producer.partitionCount(Self.registryTopic, timeoutMs: Int32(clamping: timeoutMs))
    }

    /// Every registered topic.
    public func topics() throws(LogError) -> [TopicDescription] {
        var out: [TopicDescription] = []
        for name in try refreshRegistry().keys.sorted() where !name.hasPrefix("__") {
            out.append(try describeTopic(name))
        }
        return out
    }

    /// Creates one of Strongroom's own single-partition, compacted topics (not a data topic).
    func createInternalTopic(_ name: String) throws(LogError) {
        guard name.hasPrefix("__") else { throw LogError(.invalidArgument, "\(name) is not an internal name") }
        if isDevelopmentCluster {
            try register(name, TopicConfig(partitions: 1))
            let deadline = Date().addingTimeInterval(Double(options.timeoutMs) / 1000)
            while try producer.partitionCount(name, timeoutMs: timeout) == nil {
                guard Date() < deadline else {
                    throw LogError(.storage, "the development cluster did not create \(name)")
                }
                usleep(20_000)
            }
            return
        }
        let code = try createKafkaTopic(
            name,
            partitions: 1,
            configs: [("cleanup.policy", "compact"), ("min.insync.replicas", "\(options.minInSyncReplicas)")]
        )
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR || code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
            throw LogError(.storage, "creating \(name): \(KafkaHandle.describe(code))")
        }
    }

    /// Records of one of Strongroom's own topics, which the registry does not list.
    func fetchUnregistered(
        _ topic: String,
        partition: Int,
        from offset: Int64,
        end: Int64
    ) throws(LogError)
        -> [StoredRecord]
    {
        try reader(topic, partition).read(
            topic: topic,
            partition: partition,
            from: offset,
            end: end,
            maxBytes: 8 << 20,
            maxRecords: 5000,
            timeoutMs: options.timeoutMs
        )
    }

    /// A topic's settings from the registry (read once, then on a miss).
    public func topicConfig(_ name: String) throws(LogError) -> TopicConfig { try config(of: name) }

    /// A registered topic with its partitions' offsets (sizes are not known: -1).
    public func describeTopic(_ name: String) throws(LogError) -> TopicDescription {
        let config = try config(of: name)
        var partitions: [TopicDescription.Partition] = []
        for p in 0..<config.partitions {
            let (low, high) = try producer.watermarks(name, p, timeoutMs: timeout)
            partitions.append(TopicDescription.Partition(partition: p, startOffset: low, endOffset: high, bytes: -1))
        }
        return TopicDescription(name: name, config: config, partitions: partitions)
    }

    // MARK: Key metadata

    /// Publishes `store`'s key metadata to ``keysTopic`` now and before every later append, so
    /// the keys (and erasures) a record needs are on the cluster before the record is: a mirror
    /// that copies the keys topic first gives a standby every key its records need.
    public func replicateKeys(from store: KeyStore) throws(LogError) {
        do { try store.startReplicationJournal() } catch {
            throw LogError(.storage, "key metadata journal: \(error)")
        }
        stateLock.withLock { keyStore = store }
        try publishKeyChanges()
    }

    /// Publishes the key store's unpublished changes and waits for their acknowledgement.
    ///
    /// New keys, rotations and erasures; the number of records. Nothing when no store is replicated.
    @discardableResult
    public func publishKeyChanges() throws(LogError) -> Int {
        guard let store = stateLock.withLock({ keyStore }) else { return 0 }
        do {
            guard try store.hasUnpublishedChanges() else { return 0 }
            if !stateLock.withLock({ keysTopicReady }) {
                if try producer.partitionCount(Self.keysTopic, timeoutMs: timeout) == nil {
                    try createInternalTopic(Self.keysTopic)
                }
                stateLock.withLock { keysTopicReady = true }
            }
            return try store.publishChanges { records in
                _ = try self.produce(
                    records.map { LogRecord(key: $0.key, value: $0.value, partition: 0) },
                    to: Self.keysTopic
                )
            }
        } catch let error as LogError {
            throw error
        } catch {
            throw LogError(.storage, "publishing key metadata: \(error)")
        }
    }

    // MARK: Append

    /// Appends and waits until every record is acknowledged by the brokers.
    public func append(
        _ records: [LogRecord],
        to topic: String,
        producer stamp: ProducerStamp?
    ) throws(LogError) -> [RecordPosition] {
        let config = try config(of: topic)
        for (i, record) in records.enumerated() {
            if let explicit = record.partition, !(0..<config.partitions).contains(explicit) {
                throw LogError(.unknownPartition, "\(topic) has no partition \(explicit) (record \(i))")
            }
            let size =
                (record.key?.count ?? 0) + (record.value?.count ?? 0)
                + record.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.count }
            guard size <= config.maxRecordBytes else {
                throw LogError(.recordTooLarge, "record \(i): \(size) bytes, limit \(config.maxRecordBytes)")
            }
        }
        let stampKey = stamp.map { "\($0.id)/\(topic)" }
        if let stamp, let stampKey {
            stateLock.lock()
            let last = stamps[stampKey]
            stateLock.unlock()
            if let last {
                if last.sequence == stamp.sequence { return last.positions }
                guard stamp.sequence == last.sequence + 1 else {
                    throw LogError(
                        .outOfOrderSequence,
                        "producer \(stamp.id): got \(stamp.sequence), expected \(last.sequence + 1)"
                    )
                }
            }
        }
        // The keys these records were sealed under reach the cluster first.
        try publishKeyChanges()
        let positions = try produce(records, to: topic, partitions: config.partitions)
        if let stamp, let stampKey {
            stateLock.lock()
            stamps[stampKey] = (stamp.sequence, positions)
            stateLock.unlock()
        }
        return positions
    }

    /// Produces `records` and waits until each is acknowledged or has failed; with `partitions`,
    /// a record with a key and no partition goes to the key's partition of that many.
    func produce(
        _ records: [LogRecord],
        to topic: String,
        partitions: Int? = nil
    ) throws(LogError) -> [RecordPosition] {
        // Nothing to send: not even a topic handle (it would ask the cluster about the topic).
        guard !records.isEmpty else { return [] }
        guard let handle = rd_kafka_topic_new(producer.pointer, topic, nil) else {
            throw LogError(.storage, "\(topic): the client could not open the topic")
        }
        defer { rd_kafka_topic_destroy(handle) }
        let batch = DeliveryBatch(count: records.count)
        // One slot per record, each naming the batch and its index, in one allocation: the
        // delivery report of a record finds its place through its slot.
        let slots = UnsafeMutablePointer<DeliverySlot>.allocate(capacity: max(records.count, 1))
        let owner = Unmanaged.passRetained(batch)
        defer {
            // Safe only because of the wait below: librdkafka reports every record it accepted
            // exactly once (timeouts and purges included) and none it refused, so once `sent`
            // reports are in, no report reads a slot. Never return before that wait.
            precondition(batch.isComplete, "a delivery slot freed before its report")
            slots.deallocate()
            owner.release()
        }
        var sent = 0
        var refused: rd_kafka_resp_err_t?
        for (i, record) in records.enumerated() {
            (slots + i).initialize(to: DeliverySlot(batch: owner, index: i))
            var partition = record.partition
            if partition == nil, let partitions, let key = record.key {
                partition = Partitioner.partition(forKey: key, partitions: partitions)
            }
            while true {
                let code = Self.send(
                    record,
                    partition: partition,
                    topic: handle,
                    on: producer.pointer,
                    opaque: slots + i
                )
                if code == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                    // Backpressure: serve delivery reports until the local queue has room.
                    rd_kafka_poll(producer.pointer, 50)
                    continue
                }
                if code != RD_KAFKA_RESP_ERR_NO_ERROR { refused = code }
                break
            }
            if refused != nil { break }
            sent += 1
        }
        batch.expect(sent)
        // flush, not poll: it sends at once instead of waiting out linger.ms, since the caller
        // waits for these acknowledgements anyway. It may also wait for other appends' records.
        while !batch.isComplete { _ = rd_kafka_flush(producer.pointer, 20) }
        let (positions, failure) = batch.result
        if let refused {
            throw LogError(
                Self.code(refused),
                "\(topic): record \(sent) refused by the client: \(KafkaHandle.describe(refused)); "
                    + "\(positions.prefix(sent).compactMap { $0 }.count) of \(records.count) records acknowledged"
            )
        }
        if let failure {
            throw LogError(
                Self.code(failure.code),
                "\(topic): record \(failure.index) not acknowledged: \(KafkaHandle.describe(failure.code)); "
                    + "\(positions.compactMap { $0 }.count) of \(records.count) records acknowledged"
            )
        }
        // Every record was acknowledged: their positions in one array made at its size, not grown.
        var acknowledged: [RecordPosition] = []
        acknowledged.reserveCapacity(positions.count)
        for case let position? in positions { acknowledged.append(position) }
        return acknowledged
    }

    static func code(_ error: rd_kafka_resp_err_t) -> LogError.Code {
        switch error {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: .recordTooLarge
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC: .unknownTopic
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION: .unknownPartition
        default: .storage
        }
    }

    static func send(
        _ record: LogRecord,
        partition: Int?,
        topic: OpaquePointer,
        on handle: OpaquePointer,
        opaque: UnsafeMutablePointer<DeliverySlot>
    ) -> rd_kafka_resp_err_t {
        var headers: OpaquePointer?
        if !record.headers.isEmpty {
            headers = rd_kafka_headers_new(record.headers.count)
            for header in record.headers {
                // `withCString`: a short name passed as a `String` argument is copied to the heap.
                header.name.withCString { name in
                    header.value.withUnsafeBytes { value in
                        _ = rd_kafka_header_add(headers, name, -1, value.baseAddress, value.count)
                    }
                }
            }
        }
        let partition = partition.map { Int32($0) } ?? RD_KAFKA_PARTITION_UA
        let key = record.key ?? []
        let value = record.value ?? []
        return key.withUnsafeBytes { keyBytes in
            value.withUnsafeBytes { valueBytes in
                sr_kafka_produce(
                    handle,
                    topic,
                    partition,
                    record.key == nil ? 0 : 1,
                    keyBytes.baseAddress,
                    keyBytes.count,
                    record.value == nil ? 0 : 1,
                    valueBytes.baseAddress,
                    valueBytes.count,
                    headers,
                    record.timestamp ?? 0,
                    opaque
                )
            }
        }
    }

    // MARK: Read and commit

    /// Refuses a partition that `topic` (a registered topic) does not have.
    private func requirePartition(_ topic: String, _ partition: Int) throws(LogError) {
        guard (0..<(try config(of: topic)).partitions).contains(partition) else {
            throw LogError(.unknownPartition, "\(topic) has no partition \(partition)")
        }
    }

    /// The partition's low watermark: one request to its leader (``describeTopic(_:)`` asks for
    /// both watermarks of every partition).
    public func firstOffset(topic: String, partition: Int) throws(LogError) -> Int64 {
        try requirePartition(topic, partition)
        return try producer.offset(topic, partition, at: Int64(RD_KAFKA_OFFSET_BEGINNING), timeoutMs: timeout)
    }

    /// Records of one partition from `offset`, read through an assigned consumer.
    public func fetch(
        topic: String,
        partition: Int,
        from offset: Int64,
        maxBytes: Int,
        maxRecords: Int
    ) throws(LogError) -> [StoredRecord] {
        try requirePartition(topic, partition)
        guard maxRecords > 0 else { return [] }
        let (low, high) = try producer.watermarks(topic, partition, timeoutMs: timeout)
        guard offset < high else { return [] }
        let reader = try reader(topic, partition)
        let page = try reader.read(
            topic: topic,
            partition: partition,
            from: max(offset, low),
            end: high,
            maxBytes: maxBytes,
            maxRecords: maxRecords,
            timeoutMs: options.timeoutMs
        )
        guard page.isEmpty else { return page }
        // The end the reader saw last time is stale (records arrived since): read again from a new assignment.
        return try reader.read(
            topic: topic,
            partition: partition,
            from: max(offset, low),
            end: high,
            maxBytes: maxBytes,
            maxRecords: maxRecords,
            timeoutMs: options.timeoutMs,
            reassign: true
        )
    }

    private func reader(_ topic: String, _ partition: Int) throws(LogError) -> PartitionReader {
        let key = "\(topic)\u{0}\(partition)"
        stateLock.lock()
        defer { stateLock.unlock() }
        if let reader = readers[key] { return reader }
        let reader = try PartitionReader(properties: properties)
        readers[key] = reader
        return reader
    }

    private func group(_ id: String) throws(LogError) -> KafkaHandle {
        guard !id.isEmpty else { throw LogError(.invalidArgument, "group ids are not empty") }
        stateLock.lock()
        defer { stateLock.unlock() }
        if let handle = groups[id] { return handle }
        let handle = try KafkaHandle(
            RD_KAFKA_CONSUMER,
            properties: properties + [
                ("group.id", id), ("enable.auto.commit", "false"), ("enable.auto.offset.store", "false"),
            ]
        )
        groups[id] = handle
        return handle
    }

    /// Commits a group's offset to Kafka's `__consumer_offsets`.
    public func commit(group id: String, topic: String, partition: Int, offset: Int64) throws(LogError) {
        try requirePartition(topic, partition)
        guard let handle = try committer(id, TopicPartition(topic: topic, partition: partition)) else {
            throw LogError(.rebalanced, "\(topic)[\(partition)] is no longer this member's in group \(id)")
        }
        let error = handle.commit(topic, partition, offset: offset, timeoutMs: options.timeoutMs)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let moved: Set<rd_kafka_resp_err_t> = [
                RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
                RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST, RD_KAFKA_RESP_ERR__STATE,
            ]
            throw LogError(
                moved.contains(error) ? .rebalanced : .storage,
                "commit of \(id) on \(topic)[\(partition)]: \(KafkaHandle.describe(error))"
            )
        }
    }

    /// A group's committed offset from Kafka, nil if none.
    public func committedOffset(group id: String, topic: String, partition: Int) throws(LogError) -> Int64? {
        try requirePartition(topic, partition)
        let list = PartitionList([(topic, partition, Int64(RD_KAFKA_OFFSET_INVALID))])
        let code = rd_kafka_committed(try group(id).pointer, list.pointer, timeout)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let entry = list.elements.first,
            entry.err == RD_KAFKA_RESP_ERR_NO_ERROR
        else {
            let error = code == RD_KAFKA_RESP_ERR_NO_ERROR ? (list.elements.first?.err ?? code) : code
            throw LogError(
                .storage,
                "committed offset of \(id) on \(topic)[\(partition)]: \(KafkaHandle.describe(error))"
            )
        }
        return entry.offset >= 0 ? entry.offset : nil
    }

    // MARK: Retention

    /// Kafka's brokers enforce `retention.ms` and `retention.bytes` themselves: nothing to do here.
    public func enforceRetention(now: Int64) throws(LogError) -> RetentionReport { RetentionReport() }

    /// Deletes records older than `cutoff` with Kafka's DeleteRecords (sizes removed are not known: 0).
    public func deleteRecords(of topic: String, olderThan cutoff: Int64) throws(LogError) -> RetentionReport {
        let config = try config(of: topic)
        guard !isDevelopmentCluster else {
            throw LogError(
                .invalidArgument,
                "the development cluster cannot delete records (librdkafka's mock has no DeleteRecords)"
            )
        }
        let times = PartitionList((0..<config.partitions).map { (topic, $0, cutoff) })
        let code = rd_kafka_offsets_for_times(producer.pointer, times.pointer, timeout)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw LogError(.storage, "offsets by time of \(topic): \(KafkaHandle.describe(code))")
        }
        var before: [(String, Int, Int64)] = []
        var lows: [Int: Int64] = [:]
        for entry in times.elements {
            let p = Int(entry.partition)
            let (low, high) = try producer.watermarks(topic, p, timeoutMs: timeout)
            // No record at or after the cutoff: every record is older.
            let first = entry.offset >= 0 ? entry.offset : high
            if first > low {
                before.append((topic, p, first))
                lows[p] = low
            }
        }
        guard !before.isEmpty else { return RetentionReport() }
        let deleted = try adminDeleteRecords(PartitionList(before))
        return RetentionReport(
            removals: deleted.map { entry in
                RetentionReport.Removal(
                    topic: topic,
                    partition: entry.partition,
                    records: Int(entry.low - (lows[entry.partition] ?? entry.low)),
                    bytes: 0,
                    reason: "time"
                )
            }
        )
    }

    // MARK: Admin

    private func adminRequest(
        _ op: rd_kafka_admin_op_t,
        _ call: (OpaquePointer?, OpaquePointer?) -> Void
    ) throws(LogError) -> OpaquePointer {
        var error = [CChar](repeating: 0, count: 512)
        guard let queue = rd_kafka_queue_new(producer.pointer) else { throw LogError(.storage, "librdkafka queue") }
        defer { rd_kafka_queue_destroy(queue) }
        guard let adminOptions = rd_kafka_AdminOptions_new(producer.pointer, op) else {
            throw LogError(.storage, "librdkafka admin options")
        }
        defer { rd_kafka_AdminOptions_destroy(adminOptions) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(adminOptions, timeout, &error, error.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(adminOptions, timeout, &error, error.count)
        call(adminOptions, queue)
        guard let event = rd_kafka_queue_poll(queue, Int32(clamping: options.timeoutMs + 5000)) else {
            throw LogError(.storage, "Kafka admin request timed out after \(options.timeoutMs) ms")
        }
        let code = rd_kafka_event_error(event)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            rd_kafka_event_destroy(event)
            throw LogError(.storage, "Kafka admin request: \(KafkaHandle.describe(code)) \(text)")
        }
        return event
    }

    private func createKafkaTopic(
        _ name: String,
        partitions: Int,
        configs: [(String, String)]
    ) throws(LogError) -> rd_kafka_resp_err_t {
        var error = [CChar](repeating: 0, count: 512)
        guard
            let topic = rd_kafka_NewTopic_new(
                name,
                Int32(partitions),
                Int32(options.replicationFactor),
                &error,
                error.count
            )
        else { throw LogError(.invalidArgument, "topic \(name): \(KafkaHandle.text(error))") }
        defer { rd_kafka_NewTopic_destroy(topic) }
        for (key, value) in configs { _ = rd_kafka_NewTopic_set_config(topic, key, value) }
        var topics: [OpaquePointer?] = [topic]
        let event = try adminRequest(RD_KAFKA_ADMIN_OP_CREATETOPICS) { adminOptions, queue in
            rd_kafka_CreateTopics(producer.pointer, &topics, 1, adminOptions, queue)
        }
        defer { rd_kafka_event_destroy(event) }
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
            let results = rd_kafka_CreateTopics_result_topics(result, &count), count == 1
        else { throw LogError(.storage, "Kafka CreateTopics gave no result") }
        return rd_kafka_topic_result_error(results[0])
    }

    private func adminDeleteTopic(_ name: String) throws(LogError) -> rd_kafka_resp_err_t {
        guard let topic = rd_kafka_DeleteTopic_new(name) else { throw LogError(.storage, "librdkafka delete topic") }
        defer { rd_kafka_DeleteTopic_destroy(topic) }
        var topics: [OpaquePointer?] = [topic]
        let event = try adminRequest(RD_KAFKA_ADMIN_OP_DELETETOPICS) { adminOptions, queue in
            rd_kafka_DeleteTopics(producer.pointer, &topics, 1, adminOptions, queue)
        }
        defer { rd_kafka_event_destroy(event) }
        var count = 0
        guard let result = rd_kafka_event_DeleteTopics_result(event),
            let results = rd_kafka_DeleteTopics_result_topics(result, &count), count == 1
        else { throw LogError(.storage, "Kafka DeleteTopics gave no result") }
        return rd_kafka_topic_result_error(results[0])
    }

    private func adminDeleteRecords(_ before: PartitionList) throws(LogError) -> [(partition: Int, low: Int64)] {
        guard let request = rd_kafka_DeleteRecords_new(before.pointer) else {
            throw LogError(.storage, "librdkafka delete records")
        }
        defer { rd_kafka_DeleteRecords_destroy(request) }
        var requests: [OpaquePointer?] = [request]
        let event = try adminRequest(RD_KAFKA_ADMIN_OP_DELETERECORDS) { adminOptions, queue in
            rd_kafka_DeleteRecords(producer.pointer, &requests, 1, adminOptions, queue)
        }
        defer { rd_kafka_event_destroy(event) }
        guard let result = rd_kafka_event_DeleteRecords_result(event),
            let offsets = rd_kafka_DeleteRecords_result_offsets(result)
        else { throw LogError(.storage, "Kafka DeleteRecords gave no result") }
        var out: [(Int, Int64)] = []
        for entry in UnsafeBufferPointer(start: offsets.pointee.elems, count: Int(offsets.pointee.cnt)) {
            guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw LogError(
                    .storage,
                    "Kafka DeleteRecords on partition \(entry.partition): \(KafkaHandle.describe(entry.err))"
                )
            }
            out.append((Int(entry.partition), entry.offset))
        }
        return out
    }
}

/// The outcome of one append's records, filled in by delivery reports.
final class DeliveryBatch: @unchecked Sendable {
    private let lock = NSLock()
    private var positions: [RecordPosition?]
    private var failure: (index: Int, code: rd_kafka_resp_err_t)?
    private var reported = 0
    private var expected = Int.max

    init(count: Int) { positions = Array(repeating: nil, count: count) }

    func expect(_ count: Int) { lock.withLock { expected = count } }

    var isComplete: Bool { lock.withLock { reported >= expected } }

    var result: (positions: [RecordPosition?], failure: (index: Int, code: rd_kafka_resp_err_t)?) {
        lock.withLock { (positions, failure) }
    }

    func report(_ index: Int, partition: Int32, offset: Int64, error: rd_kafka_resp_err_t) {
        lock.withLock {
            if error == RD_KAFKA_RESP_ERR_NO_ERROR {
                positions[index] = RecordPosition(partition: Int(partition), offset: offset)
            } else if failure == nil || index < failure?.index ?? 0 {
                failure = (index, error)
            }
            reported += 1
        }
    }
}

/// One record's place in its batch, carried through librdkafka as the message's opaque: the
/// batch (kept alive by the producing call until every report is in) and the index there.
struct DeliverySlot {
    let batch: Unmanaged<DeliveryBatch>
    let index: Int
}

private let deliveryReport:
    @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
        _,
        message,
        _ in
        guard let message, let opaque = message.pointee._private else { return }
        let slot = opaque.assumingMemoryBound(to: DeliverySlot.self).pointee
        slot.batch.takeUnretainedValue().report(
            slot.index,
            partition: message.pointee.partition,
            offset: message.pointee.offset,
            error: message.pointee.err
        )
    }
#endif
