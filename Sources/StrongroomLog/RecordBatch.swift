/// Records of one partition stored together, as one row of the `batch` table (log format 2).
///
/// An append writes its records for a partition as one row, as Kafka writes a record batch:
/// SQLite then formats and inserts one row per call instead of one per record (a 1,000-record
/// append of 1.8 KB records took about half the time). The body is, per record and in offset
/// order, all integers big-endian:
///
///     u32 offset delta (from the row's first offset) · i64 timestamp ·
///     u32 key length + 1 · u32 value length + 1 · u32 headers length + 1 (0: absent) ·
///     key · value · headers (the `headers` column's former encoding)
struct RecordBatch {
    /// Bytes of a record's encoding besides its key, value and headers.
    static let overhead = 24
    /// A row's body stays below this; a larger append is stored as several rows.
    static let maxBody = 8 << 20

    /// One decoded record: where its parts lie in the body.
    struct Entry {
        var offset: Int64
        var timestamp: Int64
        var key: Range<Int>?
        var value: Range<Int>?
        var headers: Range<Int>?
        /// Key, value and headers bytes: what retention and `bytes` count.
        var size: Int {
            (key?.count ?? 0) + (value?.count ?? 0) + (headers?.count ?? 0)
        }
    }

    /// Bytes `record` takes in a body.
    static func encodedCount(key: Int?, value: Int?, headers: Int?) -> Int {
        overhead + (key ?? 0) + (value ?? 0) + (headers ?? 0)
    }

    /// Appends one record's encoding to `body`.
    static func append(
        delta: Int64,
        timestamp: Int64,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headers: UnsafeRawBufferPointer?,
        to body: inout [UInt8]
    ) {
        func u32(_ v: Int) {
            body.append(UInt8(truncatingIfNeeded: v >> 24))
            body.append(UInt8(truncatingIfNeeded: v >> 16))
            body.append(UInt8(truncatingIfNeeded: v >> 8))
            body.append(UInt8(truncatingIfNeeded: v))
        }
        u32(Int(delta))
        for shift in stride(from: 56, through: 0, by: -8) { body.append(UInt8(truncatingIfNeeded: timestamp >> shift)) }
        u32(key.map { $0.count + 1 } ?? 0)
        u32(value.map { $0.count + 1 } ?? 0)
        u32(headers.map { $0.count + 1 } ?? 0)
        for part in [key, value, headers] { if let part { body.append(contentsOf: part) } }
    }

    /// What a batch's row says of it, besides the body: decoding checks the body against all of it.
    struct Header {
        /// The first record's offset (the low 40 bits of the row id).
        var first: Int64
        var records: Int
        var last: Int64
        var minTimestamp: Int64
        var maxTimestamp: Int64
        /// Key, value and headers bytes of all the records.
        var size: Int
    }

    /// The records of a row's body, or nil when the body is not the batch its row describes:
    /// lengths past its end, offsets out of order, or other records than the row says (their
    /// count, first and last offsets, timestamps or bytes), as in a body cut at a record's
    /// boundary.
    ///
    /// The check is of structure only: records' contents are authenticated by their signatures.
    static func decode(_ body: UnsafeRawBufferPointer, _ header: Header) -> [Entry]? {
        let (first, records, last) = (header.first, header.records, header.last)
        guard !body.isEmpty, records > 0, first >= 0, first <= last, last <= maxOffset else { return nil }
        var entries: [Entry] = []
        entries.reserveCapacity(min(records, body.count / overhead))
        var at = 0
        func u32() -> Int? {
            guard body.count - at >= 4 else { return nil }
            defer { at += 4 }
            return Int(body[at]) << 24 | Int(body[at + 1]) << 16 | Int(body[at + 2]) << 8 | Int(body[at + 3])
        }
        func part(_ length: Int) -> Range<Int>?? {
            guard length > 0 else { return .some(nil) }
            guard body.count - at >= length - 1 else { return nil }
            defer { at += length - 1 }
            return .some(at..<(at + length - 1))
        }
        var previous: Int64 = -1
        var (low, high, size) = (Int64.max, Int64.min, 0)
        while at < body.count {
            guard entries.count < records, let delta = u32(), body.count - at >= 8 else { return nil }
            var timestamp: Int64 = 0
            for i in 0..<8 { timestamp = timestamp << 8 | Int64(body[at + i]) }
            at += 8
            guard let k = u32(), let v = u32(), let h = u32() else { return nil }
            guard let key = part(k), let value = part(v), let headers = part(h) else { return nil }
            guard Int64(delta) > previous, previous >= 0 || delta == 0, Int64(delta) <= last - first else {
                return nil
            }
            previous = Int64(delta)
            let entry = Entry(
                offset: first + Int64(delta),
                timestamp: timestamp,
                key: key,
                value: value,
                headers: headers
            )
            (low, high, size) = (min(low, timestamp), max(high, timestamp), size + entry.size)
            entries.append(entry)
        }
        guard entries.count == records, previous == last - first, low == header.minTimestamp,
            high == header.maxTimestamp, size == header.size
        else { return nil }
        return entries
    }

    /// The greatest offset a partition holds (the low 40 bits of a row id).
    static let maxOffset: Int64 = (1 << 40) - 1

    /// A body holding `entries` of `body` (whose first offset is `first`), rebased to start at
    /// the first of them.
    static func rebuild(_ entries: ArraySlice<Entry>, of body: UnsafeRawBufferPointer) -> [UInt8] {
        guard let base = entries.first?.offset else { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(entries.reduce(0) { $0 + overhead + $1.size })
        func slice(_ range: Range<Int>?) -> UnsafeRawBufferPointer? {
            range.map { UnsafeRawBufferPointer(rebasing: body[$0]) }
        }
        for entry in entries {
            append(
                delta: entry.offset - base,
                timestamp: entry.timestamp,
                key: slice(entry.key),
                value: slice(entry.value),
                headers: slice(entry.headers),
                to: &out
            )
        }
        return out
    }
}
