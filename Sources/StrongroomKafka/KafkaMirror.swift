#if Kafka
import Foundation
public import ServiceLifecycle
public import StrongroomKeys
public import StrongroomLog

/// Copies topics from one Kafka cluster to another (disaster recovery) with an exact offset
/// map, and carries consumer groups' positions across, translated, so a group resumes on the
/// standby where it stopped on the primary.
///
/// - Topics are registered on the standby with the primary's settings before their records.
/// - Records keep their partition, key, value, headers and timestamp, plus `sr-mirror-source`
///   (`<cluster id>:<topic>:<partition>:<offset>`). The standby assigns its own offsets; the
///   map from each primary offset to its standby offset is exact, kept in runs of consecutive
///   offsets, checkpointed in the standby's compacted `__strongroom_mirror`, and rebuilt at start
///   from the checkpoint plus the `sr-mirror-source` headers of whatever the standby holds past it.
/// - A group's committed offset is translated only once the record before it is mirrored (else
///   the previous translation stands), written only when it moves the standby group forward
///   (never a rewind), and only to a group with no active members on the standby (Kafka
///   refuses a commit from outside a group that has members).
public final class KafkaMirror: Service, @unchecked Sendable {
    /// The standby's checkpoint topic.
    public static let checkpointTopic = "__strongroom_mirror"
    /// The header naming a mirrored record's source.
    public static let sourceHeader = "sr-mirror-source"

    /// What to mirror and how often groups are carried across.
    public struct Options: Sendable {
        /// Topics to mirror (each with its `.dlq` if registered); nil for every registered topic.
        public var topics: [String]?
        /// Consumer groups whose offsets are translated to the standby.
        public var groups: [String]
        /// How often group offsets are carried across, in milliseconds.
        public var checkpointIntervalMs: Int
        /// Records copied per partition per pass.
        public var batch: Int
        /// The standby site's key store: key metadata the primary published
        /// (``KafkaEventLog/keysTopic``) is applied to it before the records that need it are copied.
        public var keys: KeyStore?

        /// Options.
        public init(
            topics: [String]? = nil,
            groups: [String] = [],
            checkpointIntervalMs: Int = 1000,
            batch: Int = 2000,
            keys: KeyStore? = nil
        ) {
            self.topics = topics
            self.groups = groups
            self.checkpointIntervalMs = checkpointIntervalMs
            self.batch = batch
            self.keys = keys
        }
    }

    /// One run of consecutive offsets: `count` records from `source` on the primary are at
    /// `target` on the standby.
    struct Run: Codable, Equatable {
        var source: Int64
        var target: Int64
        var count: Int64
    }

    struct PartitionState: Codable {
        var runs: [Run] = []
        /// The next primary offset to copy.
        var next: Int64 { runs.last.map { $0.source + $0.count } ?? 0 }
        /// The standby offset after the last mirrored record.
        var targetNext: Int64? { runs.last.map { $0.target + $0.count } }

        mutating func add(source: Int64, target: Int64) {
            if var last = runs.last, last.source + last.count == source, last.target + last.count == target {
                last.count += 1
                runs[runs.count - 1] = last
            } else {
                runs.append(Run(source: source, target: target, count: 1))
            }
        }

        /// The standby offset where a reader that would read `offset` next on the primary reads
        /// next; nil when the record before it is not mirrored yet.
        func translate(_ offset: Int64) -> Int64? {
            if offset == next { return targetNext ?? 0 }
            guard offset < next else { return nil }
            for run in runs.reversed() where offset >= run.source {
                if offset < run.source + run.count { return run.target + (offset - run.source) }
                return nil
            }
            // Before the first mirrored record: the standby's first mirrored record.
            return runs.first?.target
        }
    }

    /// A group's offset as carried across in one pass.
    public struct GroupCheckpoint: Sendable, Hashable {
        /// The group.
        public var group: String
        /// The partition.
        public var partition: TopicPartition
        /// Committed on the primary.
        public var source: Int64
        /// Written on the standby.
        public var target: Int64
    }

    let source: KafkaEventLog
    let target: KafkaEventLog
    /// The options.
    public let options: Options
    private let lock = NSLock()
    private var states: [TopicPartition: PartitionState] = [:]
    private var stopping = false
    private var copiedTotal = 0
    private var checkpointTopicReady = false

    /// A mirror from `source` (the primary) to `target` (the standby); state is recovered from
    /// the standby at the first pass.
    public init(from source: KafkaEventLog, to target: KafkaEventLog, options: Options = Options()) throws(LogError) {
        guard source.clusterID != target.clusterID else {
            throw LogError(.invalidArgument, "the primary and the standby are the same cluster (\(source.clusterID))")
        }
        guard options.batch > 0, options.checkpointIntervalMs > 0 else {
            throw LogError(.invalidArgument, "batch and checkpoint interval must be positive")
        }
        self.source = source
        self.target = target
        self.options = options
    }

    /// The standby offset for a primary offset of a partition, once mirrored.
    public func translate(_ partition: TopicPartition, _ offset: Int64) -> Int64? {
        lock.withLock { states[partition]?.translate(offset) }
    }

    /// Records copied since this mirror started, key metadata included.
    public var copied: Int { lock.withLock { copiedTotal } }

    /// The next primary offset to copy, per partition.
    public var positions: [TopicPartition: Int64] { lock.withLock { states.mapValues(\.next) } }

    // MARK: Topics and recovery

    private func mirroredTopics() throws(LogError) -> [String] {
        let registered = try source.refreshRegistry()
        guard let wanted = options.topics else { return registered.keys.filter { !$0.hasPrefix("__") }.sorted() }
        var out: [String] = []
        for name in wanted {
            guard registered[name] != nil else { throw LogError(.unknownTopic, "\(name) is not on the primary") }
            out.append(name)
            if registered[name + ".dlq"] != nil { out.append(name + ".dlq") }
        }
        return out
    }

    /// Registers `topic` on the standby with the primary's settings, and recovers its partitions' maps.
    private func prepare(_ topic: String) throws(LogError) {
        let config = try source.config(of: topic)
        do {
            try target.createTopic(topic, config: config)
        } catch  where error.code == .topicExists {
            let existing = try target.config(of: topic)
            guard existing.partitions == config.partitions else {
                throw LogError(
                    .invalidArgument,
                    "\(topic) has \(existing.partitions) partitions on the standby, \(config.partitions) on the primary"
                )
            }
        }
        let saved = try checkpoints()
        for p in 0..<config.partitions { try recover(TopicPartition(topic: topic, partition: p), from: saved) }
    }

    /// A partition's map: the checkpoint, extended by the records the standby holds past it (a
    /// crash between an append and its checkpoint).
    private func recover(_ partition: TopicPartition, from saved: [TopicPartition: PartitionState]) throws(LogError) {
        var state = saved[partition] ?? PartitionState()
        let (topic, p) = (partition.topic, partition.partition)
        let (_, high) = try target.producer.watermarks(topic, p, timeoutMs: target.timeout)
        var next = state.targetNext ?? 0
        while next < high {
            let page =
                topic.hasPrefix("__")
                ? try target.fetchUnregistered(topic, partition: p, from: next, end: high)
                : try target.fetch(topic: topic, partition: p, from: next, maxBytes: 8 << 20, maxRecords: 5000)
            guard let last = page.last else { break }
            for record in page {
                guard let origin = Self.origin(record), origin.cluster == source.clusterID else { continue }
                if origin.offset >= state.next { state.add(source: origin.offset, target: record.offset) }
            }
            next = last.offset + 1
        }
        lock.withLock { states[partition] = state }
    }

    static func origin(_ record: StoredRecord) -> (cluster: String, offset: Int64)? {
        guard let header = record.headers.last(where: { $0.name == sourceHeader }) else { return nil }
        let parts = String(decoding: header.value, as: UTF8.self).split(separator: ":")
        guard parts.count >= 4, let offset = Int64(parts[parts.count - 1]) else { return nil }
        return (String(parts[0]), offset)
    }

    private func checkpoints() throws(LogError) -> [TopicPartition: PartitionState] {
        guard try target.producer.partitionCount(Self.checkpointTopic, timeoutMs: target.timeout) != nil else {
            return [:]
        }
        let (low, high) = try target.producer.watermarks(Self.checkpointTopic, 0, timeoutMs: target.timeout)
        var out: [TopicPartition: PartitionState] = [:]
        var next = low
        while next < high {
            let page = try target.fetchUnregistered(Self.checkpointTopic, partition: 0, from: next, end: high)
            guard let last = page.last else { break }
            for record in page {
                let key = String(decoding: record.key ?? [], as: UTF8.self).split(separator: "\u{0}")
                guard key.count == 3, key[0] == Substring(source.clusterID), let p = Int(key[2]),
                    let value = record.value,
                    let state = try? JSONDecoder().decode(PartitionState.self, from: Data(value))
                else { continue }
                out[TopicPartition(topic: String(key[1]), partition: p)] = state
            }
            next = last.offset + 1
        }
        return out
    }

    private func saveCheckpoint(_ partition: TopicPartition, _ state: PartitionState) throws(LogError) {
        if !lock.withLock({ checkpointTopicReady }) {
            if try target.producer.partitionCount(Self.checkpointTopic, timeoutMs: target.timeout) == nil {
                try target.createInternalTopic(Self.checkpointTopic)
            }
            lock.withLock { checkpointTopicReady = true }
        }
        guard let value = try? JSONEncoder().encode(state) else {
            throw LogError(.storage, "mirror checkpoint of \(partition) cannot be encoded")
        }
        let key = "\(source.clusterID)\u{0}\(partition.topic)\u{0}\(partition.partition)"
        _ = try target.produce(
            [LogRecord(key: Array(key.utf8), value: Array(value), partition: 0)],
            to: Self.checkpointTopic
        )
    }

    // MARK: Passes

    /// Copies what is new in every mirrored partition, the primary's key metadata first; the
    /// number of records copied.
    @discardableResult
    public func mirrorOnce() throws(LogError) -> Int {
        var pages: [(partition: TopicPartition, state: PartitionState, records: [StoredRecord])] = []
        for topic in try mirroredTopics() {
            if lock.withLock({ !states.keys.contains { $0.topic == topic } }) { try prepare(topic) }
            let partitions = try source.config(of: topic).partitions
            for p in 0..<partitions {
                let partition = TopicPartition(topic: topic, partition: p)
                guard let state = lock.withLock({ states[partition] }) else { continue }
                let page = try source.fetch(
                    topic: topic,
                    partition: p,
                    from: state.next,
                    maxBytes: 8 << 20,
                    maxRecords: options.batch
                )
                if !page.isEmpty { pages.append((partition, state, page)) }
            }
        }
        // Read after the records: every key they were sealed under was published before them.
        var copied = try mirrorKeys()
        for (partition, state, page) in pages {
            copied += try copy(page, of: partition, state)
        }
        lock.withLock { copiedTotal += copied }
        return copied
    }

    /// Appends `page` to the standby with its source coordinates, extends the map and checkpoints it.
    private func copy(
        _ page: [StoredRecord],
        of partition: TopicPartition,
        _ state: PartitionState
    ) throws(LogError)
        -> Int
    {
        var state = state
        let records = page.map { record in
            LogRecord(
                key: record.key,
                value: record.value,
                headers: record.headers.filter { $0.name != Self.sourceHeader } + [
                    RecordHeader(
                        Self.sourceHeader,
                        text: "\(source.clusterID):\(partition.topic):\(partition.partition):\(record.offset)"
                    )
                ],
                timestamp: record.timestamp,
                partition: partition.partition
            )
        }
        let positions = try target.produce(records, to: partition.topic)
        for (record, position) in zip(page, positions) {
            state.add(source: record.offset, target: position.offset)
        }
        lock.withLock { states[partition] = state }
        try saveCheckpoint(partition, state)
        return page.count
    }

    /// Copies the primary's key metadata (``KafkaEventLog/keysTopic``) to the standby's, applying
    /// it to the standby's key store (``Options/keys``) before it is checkpointed; records applied
    /// twice after a crash are the same state again.
    private func mirrorKeys() throws(LogError) -> Int {
        let topic = KafkaEventLog.keysTopic
        let partition = TopicPartition(topic: topic, partition: 0)
        if lock.withLock({ states[partition] == nil }) {
            guard try source.producer.partitionCount(topic, timeoutMs: source.timeout) != nil else { return 0 }
            if try target.producer.partitionCount(topic, timeoutMs: target.timeout) == nil {
                try target.createInternalTopic(topic)
            }
            try recover(partition, from: try checkpoints())
        }
        let (low, high) = try source.producer.watermarks(topic, 0, timeoutMs: source.timeout)
        var copied = 0
        while let state = lock.withLock({ states[partition] }), state.next < high {
            let page = try source.fetchUnregistered(topic, partition: 0, from: max(state.next, low), end: high)
            guard !page.isEmpty else { break }
            if let keys = options.keys {
                do {
                    try keys.applyReplicated(page.map { KeyMetadataRecord(key: $0.key ?? [], value: $0.value) })
                } catch {
                    throw LogError(.storage, "applying the primary's key metadata to the standby: \(error)")
                }
            }
            copied += try copy(page, of: partition, state)
        }
        return copied
    }

    /// Carries each configured group's committed offsets to the standby, translated.
    @discardableResult
    public func syncGroupOffsets() throws(LogError) -> [GroupCheckpoint] {
        var written: [GroupCheckpoint] = []
        let partitions = lock.withLock { states.keys.filter { !$0.topic.hasPrefix("__") } }
        for group in options.groups {
            for partition in partitions {
                guard
                    let committed = try source.committedOffset(
                        group: group,
                        topic: partition.topic,
                        partition: partition.partition
                    ),
                    let translated = translate(partition, committed)
                else { continue }
                let current = try target.committedOffset(
                    group: group,
                    topic: partition.topic,
                    partition: partition.partition
                )
                if let current, translated <= current { continue }
                do {
                    try target.commit(
                        group: group,
                        topic: partition.topic,
                        partition: partition.partition,
                        offset: translated
                    )
                } catch  where error.code == .rebalanced || error.code == .storage {
                    // Members are active on the standby: its offsets are theirs now.
                    continue
                }
                written.append(
                    GroupCheckpoint(group: group, partition: partition, source: committed, target: translated)
                )
            }
        }
        return written
    }

    /// Ends ``run()`` after the pass in hand.
    public func stop() { lock.withLock { stopping = true } }

    /// Mirrors continuously and carries group offsets every checkpoint interval, on a thread of
    /// its own, until cancelled or shut down gracefully.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                    let thread = Thread { [self] in
                        var lastSync = Date.distantPast
                        do {
                            while !lock.withLock({ stopping }) {
                                let copied = try mirrorOnce()
                                if Date().timeIntervalSince(lastSync) * 1000 >= Double(options.checkpointIntervalMs) {
                                    try syncGroupOffsets()
                                    lastSync = Date()
                                }
                                if copied == 0 { usleep(20_000) }
                            }
                            done.resume()
                        } catch { done.resume(throwing: error) }
                    }
                    thread.name = "strongroom-mirror"
                    thread.start()
                }
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }
}
#endif
