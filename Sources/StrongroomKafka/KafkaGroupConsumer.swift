/// A topic and one of its partitions.
public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    /// The topic.
    public var topic: String
    /// The partition.
    public var partition: Int

    /// A topic partition.
    public init(topic: String, partition: Int) {
        self.topic = topic
        self.partition = partition
    }

    /// `topic[partition]`.
    public var description: String { "\(topic)[\(partition)]" }
}

#if Kafka
import CRdKafka
import Foundation
public import ServiceLifecycle
public import StrongroomLog

/// A member of a Kafka consumer group, as a `Service`: it joins the group, takes the
/// partitions the group assigns it (and gives them up on a rebalance), polls, and hands each
/// partition's records to `handler` in offset order.
///
/// The handler commits (the secure consumer commits after it has handed the events over):
/// ``KafkaEventLog/commit(group:topic:partition:offset:)`` goes through this member while it
/// owns the partition, as Kafka requires of a group with members. A commit refused because the
/// group is rebalancing throws ``StrongroomLog/LogError/Code/rebalanced``: this member then drops
/// the rest of its poll and goes on; the partition's next owner reads the batch again from the
/// last commit (at least once, never skipped). Any other error from `handler` stops the service.
public final class KafkaGroupConsumer: Service, @unchecked Sendable {
    /// What the member does with one partition's records.
    public typealias Handler = @Sendable (_ partition: TopicPartition, _ records: [StoredRecord]) throws -> Void

    /// The group.
    public let group: String
    /// The topics subscribed to.
    public let topics: [String]

    let handle: KafkaHandle
    private let log: KafkaEventLog
    private let handler: Handler
    private let maxRecords: Int
    private let lock = NSLock()
    private var owned: Set<TopicPartition> = []
    private var paused = false
    private var stopping = false
    private var rebalances = 0

    /// Joins `group` on `topics` (each created through Strongroom); polling starts in ``run()``.
    public init(
        log: KafkaEventLog,
        group: String,
        topics: [String],
        maxRecords: Int = 500,
        handler: @escaping Handler
    ) throws(LogError) {
        guard !group.isEmpty, !topics.isEmpty, maxRecords > 0 else {
            throw LogError(.invalidArgument, "a group member needs a group id, topics and a positive batch size")
        }
        for topic in topics { _ = try log.config(of: topic) }
        self.log = log
        self.group = group
        self.topics = topics
        self.maxRecords = maxRecords
        self.handler = handler
        handle = try KafkaHandle(
            RD_KAFKA_CONSUMER,
            properties: log.properties + [
                ("group.id", group), ("enable.auto.commit", "false"), ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
            ]
        ) { conf in rd_kafka_conf_set_rebalance_cb(conf, rebalance) }
        handle.context.observeRebalances { [weak self] assigned, partitions in
            self?.rebalanced(assigned: assigned, partitions)
        }
        // Rebalances and errors are served by the consumer poll.
        rd_kafka_poll_set_consumer(handle.pointer)
        let list = PartitionList(topics.map { ($0, -1, 0) })
        let code = rd_kafka_subscribe(handle.pointer, list.pointer)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw LogError(.storage, "joining group \(group): \(KafkaHandle.describe(code))")
        }
        log.addMember(self)
    }

    deinit { log.removeMember(self) }

    /// The partitions this member owns now.
    public var assignment: Set<TopicPartition> { lock.withLock { owned } }

    /// How many times the group has given this member a new assignment.
    public var assignmentCount: Int { lock.withLock { rebalances } }

    func owns(_ partition: TopicPartition) -> Bool { lock.withLock { owned.contains(partition) } }

    private func rebalanced(assigned: Bool, _ partitions: [TopicPartition]) {
        lock.withLock {
            if assigned {
                owned = Set(partitions)
                rebalances += 1
            } else {
                owned.subtract(partitions)
            }
        }
        // A paused member stays paused across rebalances.
        if assigned && lock.withLock({ paused }) { setPaused(true, partitions) }
    }

    /// Stops fetching (the member stays in the group, so its partitions are not reassigned).
    public func pause() {
        lock.withLock { paused = true }
        setPaused(true, Array(assignment))
    }

    /// Fetches again after ``pause()``.
    public func resume() {
        lock.withLock { paused = false }
        setPaused(false, Array(assignment))
    }

    private func setPaused(_ pause: Bool, _ partitions: [TopicPartition]) {
        guard !partitions.isEmpty else { return }
        let list = PartitionList(partitions.map { ($0.topic, $0.partition, Int64(RD_KAFKA_OFFSET_INVALID)) })
        if pause {
            _ = rd_kafka_pause_partitions(handle.pointer, list.pointer)
        } else {
            _ = rd_kafka_resume_partitions(handle.pointer, list.pointer)
        }
    }

    /// Polls and handles records until the service is cancelled or shut down gracefully, then
    /// leaves the group (its partitions go to the other members at once).
    ///
    /// The loop runs on a thread of its own: polling and the handler block (on Kafka, on the
    /// audit log), and must not hold up, or wait for, Swift's shared concurrency threads.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                    let thread = Thread { [self] in
                        var failure: (any Error)?
                        do {
                            while !lock.withLock({ stopping }) { _ = try pollOnce(waitMs: 100) }
                        } catch { failure = error }
                        rd_kafka_consumer_close(handle.pointer)
                        lock.withLock { owned = [] }
                        if let failure { done.resume(throwing: failure) } else { done.resume() }
                    }
                    thread.name = "strongroom-group-\(group)"
                    thread.start()
                }
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Ends ``run()`` after the batch in hand.
    public func stop() { lock.withLock { stopping = true } }

    /// Polls what is waiting (up to the batch size) and handles it; returns the records handled.
    func pollOnce(waitMs: Int32) throws -> Int {
        var batches: [TopicPartition: [StoredRecord]] = [:]
        var order: [TopicPartition] = []
        var count = 0
        // Waits for the first record only; the rest of the batch is what is already there.
        var wait = waitMs
        while count < maxRecords, let message = rd_kafka_consumer_poll(handle.pointer, wait) {
            wait = 0
            defer { rd_kafka_message_destroy(message) }
            let m = message.pointee
            guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                // librdkafka recovers from broker and transport errors by itself; a fatal one ends the member.
                var text = [CChar](repeating: 0, count: 512)
                let fatal = rd_kafka_fatal_error(handle.pointer, &text, text.count)
                if fatal != RD_KAFKA_RESP_ERR_NO_ERROR {
                    throw LogError(.storage, "group \(group): fatal Kafka error \(KafkaHandle.text(text))")
                }
                continue
            }
            guard let rkt = m.rkt else { continue }
            let partition = TopicPartition(
                topic: String(cString: rd_kafka_topic_name(rkt)),
                partition: Int(m.partition)
            )
            if batches[partition] == nil { order.append(partition) }
            batches[partition, default: []].append(PartitionReader.stored(message))
            count += 1
        }
        for partition in order {
            // A partition revoked during the poll is the next owner's to read.
            guard owns(partition), let records = batches[partition] else { continue }
            do {
                try handler(partition, records)
            } catch let error as LogError where error.code == .rebalanced {
                return count
            }
        }
        return count
    }
}
#endif
