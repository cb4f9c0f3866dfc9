/// A record header: a name and opaque bytes.
public struct RecordHeader: Sendable, Hashable {
    /// The header name.
    public var name: String
    /// The header value.
    public var value: [UInt8]

    /// A header.
    public init(_ name: String, _ value: [UInt8]) {
        self.name = name
        self.value = value
    }

    /// A header with a UTF-8 text value.
    public init(_ name: String, text: String) { self.init(name, Array(text.utf8)) }
}

/// A record to append.
public struct LogRecord: Sendable, Hashable {
    /// The key: chooses the partition (murmur2) unless `partition` is set.
    public var key: [UInt8]?
    /// The value.
    public var value: [UInt8]?
    /// Headers, in order.
    public var headers: [RecordHeader]
    /// Milliseconds since 1970, nil for the append time.
    public var timestamp: Int64?
    /// An explicit partition.
    public var partition: Int?

    /// A record.
    public init(
        key: [UInt8]? = nil,
        value: [UInt8]?,
        headers: [RecordHeader] = [],
        timestamp: Int64? = nil,
        partition: Int? = nil
    ) {
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
        self.partition = partition
    }
}

/// A record as stored: where it is and what it holds.
public struct StoredRecord: Sendable, Hashable {
    /// Its partition.
    public var partition: Int
    /// Its offset in the partition.
    public var offset: Int64
    /// The key.
    public var key: [UInt8]?
    /// The value.
    public var value: [UInt8]?
    /// Headers.
    public var headers: [RecordHeader]
    /// Milliseconds since 1970.
    public var timestamp: Int64

    /// A stored record, as an engine reads it back.
    public init(
        partition: Int,
        offset: Int64,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [RecordHeader],
        timestamp: Int64
    ) {
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }
}

/// Where an appended record landed.
public struct RecordPosition: Sendable, Hashable, Codable {
    /// The partition.
    public var partition: Int
    /// The offset.
    public var offset: Int64

    /// A position.
    public init(partition: Int, offset: Int64) {
        self.partition = partition
        self.offset = offset
    }
}

/// An idempotent producer's identity and the sequence number of one append batch.
///
/// A batch retried with the same producer id and sequence is stored once: the retry gets
/// the original positions back. The next batch must carry the next sequence.
public struct ProducerStamp: Sendable, Hashable {
    /// The producer's id.
    public var id: UInt64
    /// The batch's sequence number, from 0 per producer and topic.
    public var sequence: UInt64

    /// A stamp.
    public init(id: UInt64, sequence: UInt64) {
        self.id = id
        self.sequence = sequence
    }
}

/// Per-topic settings.
public struct TopicConfig: Sendable, Hashable, Codable {
    /// Number of partitions (1…4096).
    public var partitions: Int
    /// Records older than this many milliseconds are deleted by the retention sweep.
    public var retentionMs: Int64?
    /// Each partition keeps at most this many bytes (oldest records go first).
    public var retentionBytes: Int64?
    /// Data classification: PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED.
    public var classification: String?
    /// The secure pipeline refuses to append unencrypted tagged fields to this topic.
    public var encryptionRequired: Bool
    /// Largest record (key + value + headers) accepted, in bytes.
    public var maxRecordBytes: Int
    /// What the secure pipeline does when DLP finds personal data in an untagged field:
    /// `reject` (nil means reject) or `flag` (append, and report the finding).
    public var dlpAction: String?

    /// A configuration.
    public init(
        partitions: Int = 1,
        retentionMs: Int64? = nil,
        retentionBytes: Int64? = nil,
        classification: String? = nil,
        encryptionRequired: Bool = false,
        maxRecordBytes: Int = 1 << 20,
        dlpAction: String? = nil
    ) {
        self.partitions = partitions
        self.retentionMs = retentionMs
        self.retentionBytes = retentionBytes
        self.classification = classification
        self.encryptionRequired = encryptionRequired
        self.maxRecordBytes = maxRecordBytes
        self.dlpAction = dlpAction
    }
}

extension TopicConfig {
    /// Checks the partition count, limits, DLP action and classification every engine accepts.
    public func validate() throws(LogError) {
        guard (1...4096).contains(partitions) else {
            throw LogError(.invalidArgument, "partitions must be 1…4096")
        }
        guard retentionMs.map({ $0 > 0 }) ?? true, retentionBytes.map({ $0 > 0 }) ?? true, maxRecordBytes > 0 else {
            throw LogError(.invalidArgument, "retention and size limits must be positive")
        }
        guard dlpAction.map({ ["reject", "flag"].contains($0) }) ?? true else {
            throw LogError(.invalidArgument, "dlpAction is reject or flag")
        }
        guard classification.map({ ["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"].contains($0) }) ?? true else {
            throw LogError(.invalidArgument, "classification is PUBLIC, INTERNAL, CONFIDENTIAL or RESTRICTED")
        }
    }
}

/// A topic and its partitions' offsets.
public struct TopicDescription: Sendable, Hashable, Codable {
    /// One partition's state.
    public struct Partition: Sendable, Hashable, Codable {
        /// The partition number.
        public var partition: Int
        /// The first offset still stored.
        public var startOffset: Int64
        /// The offset the next record will get.
        public var endOffset: Int64
        /// Bytes stored; -1 where the engine cannot know (Kafka keeps sizes on the brokers' disks).
        public var bytes: Int64

        /// A partition's state.
        public init(partition: Int, startOffset: Int64, endOffset: Int64, bytes: Int64) {
            self.partition = partition
            self.startOffset = startOffset
            self.endOffset = endOffset
            self.bytes = bytes
        }
    }

    /// The topic name.
    public var name: String
    /// Its configuration.
    public var config: TopicConfig
    /// Its partitions.
    public var partitions: [Partition]

    /// A description.
    public init(name: String, config: TopicConfig, partitions: [Partition]) {
        self.name = name
        self.config = config
        self.partitions = partitions
    }
}

/// What a retention sweep removed.
public struct RetentionReport: Sendable, Hashable, Codable {
    /// One partition's removal.
    public struct Removal: Sendable, Hashable, Codable {
        /// The topic.
        public var topic: String
        /// The partition.
        public var partition: Int
        /// Records deleted.
        public var records: Int
        /// Bytes deleted.
        public var bytes: Int64
        /// Why: `time` or `size`.
        public var reason: String

        /// A removal.
        public init(topic: String, partition: Int, records: Int, bytes: Int64, reason: String) {
            self.topic = topic
            self.partition = partition
            self.records = records
            self.bytes = bytes
            self.reason = reason
        }
    }

    /// A partition whose expired records could not be removed; it was left as it was.
    public struct Failure: Sendable, Hashable, Codable {
        /// The topic.
        public var topic: String
        /// The partition.
        public var partition: Int
        /// Why, without record contents.
        public var reason: String

        /// A failure.
        public init(topic: String, partition: Int, reason: String) {
            self.topic = topic
            self.partition = partition
            self.reason = reason
        }
    }

    /// Every partition that lost records.
    public var removals: [Removal] = []
    /// Every partition left untouched because its records do not decode (``LogError/Code/corrupt``):
    /// the other partitions' retention still runs.
    public var failures: [Failure] = []

    /// A report.
    public init(removals: [Removal] = [], failures: [Failure] = []) {
        self.removals = removals
        self.failures = failures
    }

    enum CodingKeys: String, CodingKey { case removals, failures }

    /// Reads a report; one written before failures were reported has none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        removals = try c.decode([Removal].self, forKey: .removals)
        failures = try c.decodeIfPresent([Failure].self, forKey: .failures) ?? []
    }
}

/// An append-only, partitioned event log with consumer groups.
///
/// The contract every engine passes (the conformance suite in `StrongroomLogTestSupport`):
/// topics exist only once created; a key's partition is Kafka's murmur2 choice; offsets in
/// a partition start at 0, rise by one per record and are never reused, even after
/// retention or restart; a returned append is durable; a producer's retried batch is
/// stored once; fetches return records in offset order.
public protocol EventLog: Sendable {
    /// Creates a topic; ``LogError/Code/topicExists`` if it exists.
    func createTopic(_ name: String, config: TopicConfig) throws(LogError)
    /// Deletes a topic, its records and its groups' offsets.
    func deleteTopic(_ name: String) throws(LogError)
    /// Every topic.
    func topics() throws(LogError) -> [TopicDescription]
    /// One topic.
    func describeTopic(_ name: String) throws(LogError) -> TopicDescription
    /// One topic's settings, without its partitions' offsets (no round trip to a cluster's
    /// partition leaders).
    func topicConfig(_ name: String) throws(LogError) -> TopicConfig

    /// Appends `records` durably, in order; returns each record's position.
    ///
    /// With a `producer` stamp the batch is idempotent: a retry of the last sequence returns
    /// the first attempt's positions and stores nothing.
    func append(_ records: [LogRecord], to topic: String, producer: ProducerStamp?) throws(LogError) -> [RecordPosition]

    /// Records of one partition from `offset`, in order, until `maxBytes` (at least one
    /// record when any is there) or `maxRecords`.
    func fetch(
        topic: String,
        partition: Int,
        from offset: Int64,
        maxBytes: Int,
        maxRecords: Int
    ) throws(LogError) -> [StoredRecord]

    /// Commits `offset` (the next record to read) for a consumer group.
    func commit(group: String, topic: String, partition: Int, offset: Int64) throws(LogError)
    /// The group's committed offset, nil if none.
    func committedOffset(group: String, topic: String, partition: Int) throws(LogError) -> Int64?

    /// Deletes what the topics' retention settings expire as of `now` (ms since 1970).
    func enforceRetention(now: Int64) throws(LogError) -> RetentionReport

    /// Deletes `topic`'s records whose timestamp is before `cutoff` (ms since 1970), whatever
    /// the topic's own settings: retention decided outside the log (by classification).
    func deleteRecords(of topic: String, olderThan cutoff: Int64) throws(LogError) -> RetentionReport

    /// The offset of the oldest record `partition` of `topic` still holds (its end when empty).
    func firstOffset(topic: String, partition: Int) throws(LogError) -> Int64
}

extension EventLog {
    /// Appends without an idempotent producer.
    public func append(_ records: [LogRecord], to topic: String) throws(LogError) -> [RecordPosition] {
        try append(records, to: topic, producer: nil)
    }
}

extension EventLog {
    /// The partition's ``TopicDescription/Partition/startOffset`` from ``describeTopic(_:)``.
    public func firstOffset(topic: String, partition: Int) throws(LogError) -> Int64 {
        guard let state = try describeTopic(topic).partitions.first(where: { $0.partition == partition }) else {
            throw LogError(.unknownPartition, "\(topic) has no partition \(partition)")
        }
        return state.startOffset
    }

    /// The settings from ``describeTopic(_:)``.
    public func topicConfig(_ name: String) throws(LogError) -> TopicConfig { try describeTopic(name).config }
}
