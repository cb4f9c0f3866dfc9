#if Kafka
import CRdKafka
import Foundation
import StrongroomLog

/// Reads one partition at a time through an assigned (not subscribed) consumer.
///
/// Reading on from where the last read stopped keeps librdkafka's prefetched records; any
/// other offset reassigns. A record read past the caller's byte limit is held for the next read.
final class PartitionReader: @unchecked Sendable {
    let handle: KafkaHandle
    private let lock = NSLock()
    private var topic: String?
    private var partition = -1
    private var next: Int64 = -1
    private var held: StoredRecord?

    init(properties: [(String, String)]) throws(LogError) {
        handle = try KafkaHandle(
            RD_KAFKA_CONSUMER,
            properties: properties + [
                // librdkafka 2.0 needs a group id to assign; this one never joins or commits.
                ("group.id", "__strongroom-reader"),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "true"),
                ("auto.offset.reset", "earliest"),
            ]
        )
    }

    /// Records of `topic`/`partition` from `offset` until `end` (exclusive), `maxBytes` (at
    /// least one record) or `maxRecords`.
    func read(
        topic: String,
        partition: Int,
        from offset: Int64,
        end: Int64,
        maxBytes: Int,
        maxRecords: Int,
        timeoutMs: Int,
        reassign: Bool = false
    ) throws(LogError) -> [StoredRecord] {
        lock.lock()
        defer { lock.unlock() }
        if reassign || self.topic != topic || self.partition != partition || next != offset {
            let list = PartitionList([(topic, partition, offset)])
            let code = rd_kafka_assign(handle.pointer, list.pointer)
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                self.topic = nil
                throw LogError(.storage, "Kafka assign \(topic)[\(partition)]: \(KafkaHandle.describe(code))")
            }
            self.topic = topic
            self.partition = partition
            next = offset
            held = nil
        }
        var out: [StoredRecord] = []
        var bytes = 0
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        func take(_ record: StoredRecord) -> Bool {
            let size = Self.size(of: record)
            if !out.isEmpty && bytes + size > maxBytes { return false }
            out.append(record)
            bytes += size
            next = record.offset + 1
            return true
        }
        if let record = held {
            held = nil
            guard take(record) else {
                held = record
                return out
            }
        }
        while out.count < maxRecords && next < end {
            if Date() > deadline {
                self.topic = nil
                throw LogError(.storage, "Kafka read of \(topic)[\(partition)] at \(next) timed out")
            }
            guard let message = rd_kafka_consumer_poll(handle.pointer, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            let m = message.pointee
            if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                // An end seen before `end` was read is stale (records arrived since): keep polling.
                if Int(m.partition) == partition && m.offset >= max(next, end) { break }
                continue
            }
            guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                self.topic = nil
                throw LogError(.storage, "Kafka read of \(topic)[\(partition)]: \(KafkaHandle.describe(m.err))")
            }
            guard Int(m.partition) == partition, m.offset >= next,
                let rkt = m.rkt, KafkaHandle.names(rd_kafka_topic_name(rkt), topic)
            else { continue }
            let record = Self.stored(message)
            if !take(record) {
                held = record
                break
            }
        }
        return out
    }

    /// The bytes a record counts against a fetch's limit: key, value and header names and values.
    static func size(of record: StoredRecord) -> Int {
        (record.key?.count ?? 0) + (record.value?.count ?? 0)
            + record.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.count }
    }

    /// A consumed message as a stored record.
    static func stored(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> StoredRecord {
        let m = message.pointee
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        var headers: [RecordHeader] = []
        var list: OpaquePointer?
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var bytes: UnsafeRawPointer?
            var count = 0
            while rd_kafka_header_get_all(list, index, &name, &bytes, &count) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let value = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
                headers.append(RecordHeader(name.map { String(cString: $0) } ?? "", value))
                index += 1
            }
        }
        return StoredRecord(
            partition: Int(m.partition),
            offset: m.offset,
            key: key,
            value: value,
            headers: headers,
            timestamp: sr_kafka_message_timestamp(message)
        )
    }
}
#endif
