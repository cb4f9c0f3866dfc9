#if Kafka
import CRdKafka
import Foundation
import StrongroomLog

/// One librdkafka client (`rd_kafka_t`), destroyed with this object.
final class KafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let context = ClientContext()

    /// A client of `kind` with `properties`; `configure` may add callbacks to the configuration.
    init(
        _ kind: rd_kafka_type_t,
        properties: [(String, String)],
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(LogError) {
        guard let conf = rd_kafka_conf_new() else { throw LogError(.storage, "librdkafka: no memory") }
        var error = [CChar](repeating: 0, count: 512)
        for (name, value) in properties {
            if rd_kafka_conf_set(conf, name, value, &error, error.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw LogError(.invalidArgument, "Kafka setting \(name): \(Self.text(error))")
            }
        }
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_error_cb(conf, clientError)
        configure(conf)
        guard let handle = rd_kafka_new(kind, conf, &error, error.count) else {
            rd_kafka_conf_destroy(conf)
            throw LogError(.storage, "Kafka client: \(Self.text(error))")
        }
        pointer = handle
    }

    // A group member leaves its group in `run()`; every other consumer here only assigns, and a
    // consumer close would wait for a group coordinator that may be gone.
    deinit { rd_kafka_destroy_flags(pointer, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)) }

    /// The last error librdkafka reported for the connection (TLS, SASL, brokers down), if any.
    var lastError: String? { context.lastError }

    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether the C string `name` (a topic name from librdkafka) has exactly the bytes of `text`
    /// (compared as bytes, as identities are; a `text` holding a NUL never matches).
    static func names(_ name: UnsafePointer<CChar>?, _ text: String) -> Bool {
        guard let name else { return false }
        let count = text.utf8.count
        guard strlen(name) == count else { return false }
        return text.withCString { memcmp($0, name, count) == 0 }
    }

    static func describe(_ code: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2name(code)) + " (" + String(cString: rd_kafka_err2str(code)) + ")"
    }

    /// The value librdkafka holds for configuration property `name`, or nil if it has none.
    func property(_ name: String) -> String? {
        let conf = rd_kafka_conf(pointer)
        var size = 0
        guard rd_kafka_conf_get(conf, name, nil, &size) == RD_KAFKA_CONF_OK, size > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: size)
        guard rd_kafka_conf_get(conf, name, &buffer, &size) == RD_KAFKA_CONF_OK else { return nil }
        return Self.text(buffer)
    }

    /// The cluster's id, or nil when no broker answers within `timeoutMs`.
    func clusterID(timeoutMs: Int32) -> String? {
        guard let id = rd_kafka_clusterid(pointer, timeoutMs) else { return nil }
        defer { rd_kafka_mem_free(pointer, id) }
        return String(cString: id)
    }

    /// A topic's partition count from the brokers' metadata; nil if the cluster has no such topic.
    ///
    /// Asks for every topic's metadata: asking for one unknown topic makes brokers that allow
    /// auto-creation (and librdkafka's mock) create it.
    func partitionCount(_ topic: String, timeoutMs: Int32) throws(LogError) -> Int? {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let code = rd_kafka_metadata(pointer, 1, nil, &metadata, timeoutMs)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw LogError(.storage, "Kafka metadata: \(Self.describe(code))")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        let topics = UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt))
        guard let entry = topics.first(where: { Self.names($0.topic, topic) }) else { return nil }
        switch entry.err {
        case RD_KAFKA_RESP_ERR_NO_ERROR: return Int(entry.partition_cnt)
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC: return nil
        default: throw LogError(.storage, "Kafka metadata for \(topic): \(Self.describe(entry.err))")
        }
    }

    /// The first and next offsets of a partition, asked of its leader.
    ///
    /// Through ListOffsets for the earliest and the latest offset (`rd_kafka_offsets_for_times`),
    /// which gives up after `timeoutMs`; `rd_kafka_query_watermark_offsets` waits without end
    /// when the partition's brokers are all down.
    func watermarks(_ topic: String, _ partition: Int, timeoutMs: Int32) throws(LogError) -> (low: Int64, high: Int64) {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        let low = try offset(topic, partition, at: Int64(RD_KAFKA_OFFSET_BEGINNING), timeoutMs: timeoutMs)
        let remaining = Int32(clamping: max(1, Int(deadline.timeIntervalSinceNow * 1000)))
        return (low, try offset(topic, partition, at: Int64(RD_KAFKA_OFFSET_END), timeoutMs: remaining))
    }

    /// The partition's first (`RD_KAFKA_OFFSET_BEGINNING`) or next (`RD_KAFKA_OFFSET_END`)
    /// offset, asked of its leader.
    func offset(_ topic: String, _ partition: Int, at position: Int64, timeoutMs: Int32) throws(LogError) -> Int64 {
        let list = PartitionList([(topic, partition, position)])
        let code = rd_kafka_offsets_for_times(pointer, list.pointer, timeoutMs)
        let entry = list.elements.first
        let error = code != RD_KAFKA_RESP_ERR_NO_ERROR ? code : entry?.err ?? RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let offset = entry?.offset, offset >= 0 else {
            throw LogError(.storage, "Kafka offsets of \(topic)[\(partition)]: \(Self.describe(error))")
        }
        return offset
    }

    /// Commits `offset` for one partition and waits at most `timeoutMs` for the coordinator's
    /// answer; the call's error (or the partition's) when it failed, `_TIMED_OUT` when none came.
    ///
    /// A synchronous `rd_kafka_commit` waits without end for a coordinator whose brokers are all
    /// down; this one gives up.
    func commit(_ topic: String, _ partition: Int, offset: Int64, timeoutMs: Int) -> rd_kafka_resp_err_t {
        let list = PartitionList([(topic, partition, offset)])
        guard let queue = rd_kafka_queue_new(pointer) else { return RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE }
        defer { rd_kafka_queue_destroy(queue) }
        // Retained until the callback runs; leaked when the answer never comes, since librdkafka may
        // still hold it in a queued commit.
        let result = Unmanaged.passRetained(CommitResult())
        let code = rd_kafka_commit_queue(pointer, list.pointer, queue, commitDone, result.toOpaque())
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            result.release()
            return code
        }
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while !result.takeUnretainedValue().done && Date() < deadline {
            _ = rd_kafka_queue_poll_callback(queue, 100)
        }
        let outcome = result.takeUnretainedValue()
        guard outcome.done else { return RD_KAFKA_RESP_ERR__TIMED_OUT }
        result.release()
        return outcome.code
    }
}

/// The answer to one bounded commit, written by ``commitDone`` on the committing thread.
final class CommitResult {
    var done = false
    var code = RD_KAFKA_RESP_ERR_NO_ERROR
}

private let commitDone:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        UnsafeMutableRawPointer?
    ) -> Void = { _, code, list, opaque in
        guard let opaque else { return }
        let result = Unmanaged<CommitResult>.fromOpaque(opaque).takeUnretainedValue()
        let partitionError = list.flatMap { $0.pointee.cnt > 0 ? $0.pointee.elems[0].err : nil }
        result.code = code != RD_KAFKA_RESP_ERR_NO_ERROR ? code : partitionError ?? RD_KAFKA_RESP_ERR_NO_ERROR
        result.done = true
    }

/// What librdkafka's callbacks report for one client: errors outside any request (the cause
/// when no broker answers) and, for a group member, assignment changes.
final class ClientContext: @unchecked Sendable {
    private let lock = NSLock()
    private var error: String?
    private var observer: (@Sendable (_ assigned: Bool, _ partitions: [TopicPartition]) -> Void)?

    var lastError: String? { lock.withLock { error } }

    func record(_ text: String) { lock.withLock { error = text } }

    func observeRebalances(_ body: @escaping @Sendable (_ assigned: Bool, _ partitions: [TopicPartition]) -> Void) {
        lock.withLock { observer = body }
    }

    func rebalanced(assigned: Bool, _ partitions: [TopicPartition]) {
        let observer = lock.withLock { self.observer }
        observer?(assigned, partitions)
    }
}

private let clientError:
    @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void =
        { _, code, reason, opaque in
            guard let opaque else { return }
            let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
            let name = String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(code)))
            context.record(name + ": " + (reason.map { String(cString: $0) } ?? ""))
        }

/// A group member's rebalance: take the partitions assigned (from their committed offsets), or
/// give up the revoked ones, then tell the member.
let rebalance:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        UnsafeMutableRawPointer?
    ) -> Void = { handle, code, list, opaque in
        guard let handle else { return }
        let assigned = code == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
        var partitions: [TopicPartition] = []
        if let list {
            for entry in UnsafeBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt)) {
                partitions.append(TopicPartition(topic: String(cString: entry.topic), partition: Int(entry.partition)))
            }
        }
        _ = rd_kafka_assign(handle, assigned ? list : nil)
        guard let opaque else { return }
        Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue().rebalanced(assigned: assigned, partitions)
    }

/// A `rd_kafka_topic_partition_list_t` owned by Swift.
final class PartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ entries: [(topic: String, partition: Int, offset: Int64)]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))
        for entry in entries {
            rd_kafka_topic_partition_list_add(pointer, entry.topic, Int32(entry.partition)).pointee.offset =
                entry.offset
        }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    var elements: UnsafeMutableBufferPointer<rd_kafka_topic_partition_t> {
        UnsafeMutableBufferPointer(start: pointer.pointee.elems, count: Int(pointer.pointee.cnt))
    }
}
#endif
