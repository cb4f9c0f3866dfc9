public import Foundation
import GRDB
import GRDBSQLite
import StrongroomFiles
import Synchronization

/// The embedded event log: SQLite (GRDB, WAL) in `<data-dir>/log.sqlite`.
///
/// An append's records of one partition are stored together, as one row of the `batch` table
/// (``RecordBatch``) keyed by `topic id << 52 | partition << 40 | first offset`, so a
/// partition is one contiguous range of the B-tree: appends go to its end, fetches are range
/// scans from the batch holding the first offset asked for. Concurrent appends are group-committed: the first caller to find no commit in
/// progress writes every waiting caller's records in one transaction (one fsync) and wakes
/// them; a returned append is on disk to the degree ``Durability`` promises.
public final class SQLiteEventLog: EventLog {
    /// What a returned append survives (SQLite's `synchronous` in WAL mode).
    public enum Durability: String, Sendable, CaseIterable {
        /// `FULL`: fsync of the WAL at every commit. Survives process crash and power loss.
        case full
        /// `NORMAL`: fsync only at checkpoints. Survives a process crash (the WAL is in the
        /// OS cache); a power loss can drop the last commits, never corrupt the file.
        case normal
        /// `OFF`: no fsync. Survives a process crash; a power loss can corrupt the database.
        case off
    }

    /// The database file in the data directory.
    public static let databaseFileName = "log.sqlite"
    static let offsetBits: Int64 = 40
    static let partitionBits: Int64 = 12
    static let maxTopicID: Int64 = 2047

    let db: DatabasePool
    let queue = Mutex(CommitQueue())
    let roundRobin = Atomic<Int>(0)
    let wal: WALState

    /// The WAL's length after the writer's last commit (SQLite's WAL hook sets it) and the
    /// checkpoint that copies it into the database.
    final class WALState: Sendable {
        let pages = Atomic<Int32>(0)
        let checkpointing = Atomic<Bool>(false)
        /// Checkpoints run so far.
        let checkpoints = Atomic<Int>(0)
    }

    /// WAL bytes that start a checkpoint: SQLite's own automatic threshold (1,000 pages of
    /// its default 4 KiB).
    static let checkpointBytes = 1000 * 4096
    /// A setting of the writer connection (`synchronous`: 0 off, 1 normal, 2 full).
    func writerPragma(_ name: String) throws -> Int {
        try db.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA \(name)") } ?? -1
    }

    /// This database's page size (set when the file was made).
    let pageSize: Int
    /// ``checkpointBytes`` in this database's pages.
    let checkpointPages: Int32

    /// Opens (creating if needed) the log in `dataDirectory`.
    ///
    /// A format-1 log is rewritten as batches first, when its file system has room for that.
    public convenience init(dataDirectory: URL, durability: Durability = .full) throws(LogError) {
        try self.init(dataDirectory: dataDirectory, durability: durability, freeSpace: Self.freeSpace)
    }

    /// Bytes an unprivileged writer may still use on the file system holding `path`.
    static func freeSpace(_ path: String) -> Int64? {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return nil }
        // Some file systems report "unlimited" as all ones: clamped, never a trap.
        let (bytes, overflow) = Int64(clamping: fs.f_bavail).multipliedReportingOverflow(
            by: Int64(clamping: fs.f_frsize)
        )
        return overflow ? Int64.max : bytes
    }

    /// Opens the log, asking `freeSpace` what the file system holds before an upgrade.
    init(dataDirectory: URL, durability: Durability, freeSpace: (String) -> Int64?) throws(LogError) {
        do {
            try PrivateFiles.directory(dataDirectory.path)
        } catch {
            throw LogError(.storage, "cannot create \(dataDirectory.path)")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        let pragma = durability.rawValue.uppercased()
        let wal = WALState()
        self.wal = wal
        config.prepareDatabase { db in
            // Statement journals stay in memory: a record's bytes never reach a temporary file.
            try db.execute(sql: "PRAGMA synchronous = \(pragma); PRAGMA temp_store = MEMORY")
            // A batch of 1,000 sealed records is about 2 MB: SQLite writes each WAL frame (a
            // page) with its own system calls, so 64 KiB pages make 16 times fewer than the
            // default 4 KiB. Takes effect only in a new file; the cache holds a whole batch.
            try db.execute(sql: "PRAGMA page_size = 65536; PRAGMA cache_size = -16384")
            // Replaces SQLite's automatic checkpoint, which ran inside the appending caller's
            // commit: `checkpointSoon()` runs it after the callers are answered.
            sqlite3_wal_hook(
                db.sqliteConnection,
                { context, _, _, pages in
                    if let context {
                        Unmanaged<WALState>.fromOpaque(context).takeUnretainedValue().pages
                            .store(pages, ordering: .relaxed)
                    }
                    return SQLITE_OK
                },
                Unmanaged.passUnretained(wal).toOpaque()
            )
        }
        let path = dataDirectory.appendingPathComponent(Self.databaseFileName).path
        do {
            try PrivateFiles.prepareDatabase(path)
            db = try DatabasePool(path: path, configuration: config)
            // GRDB's pool sets `synchronous = NORMAL` on its writer when it turns WAL on, after
            // `prepareDatabase`: the durability asked for is set again on the one connection
            // that writes.
            try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = \(pragma)") }
            try db.write { db in
                // A later build's log is never touched, not even by this build's tables.
                let stored = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                guard stored <= Self.format else { throw Newer(format: stored) }
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS topic (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, config TEXT NOT NULL);
                        CREATE TABLE IF NOT EXISTS partition (
                            topic_id INTEGER NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
                            start_offset INTEGER NOT NULL, bytes INTEGER NOT NULL,
                            PRIMARY KEY (topic_id, partition)) WITHOUT ROWID;
                        CREATE TABLE IF NOT EXISTS batch (
                            id INTEGER PRIMARY KEY, last_offset INTEGER NOT NULL, records INTEGER NOT NULL,
                            min_timestamp INTEGER NOT NULL, max_timestamp INTEGER NOT NULL,
                            size INTEGER NOT NULL, body BLOB NOT NULL);
                        CREATE TABLE IF NOT EXISTS producer (
                            producer_id INTEGER NOT NULL, topic_id INTEGER NOT NULL, sequence INTEGER NOT NULL,
                            positions BLOB NOT NULL, PRIMARY KEY (producer_id, topic_id)) WITHOUT ROWID;
                        CREATE TABLE IF NOT EXISTS group_offset (
                            grp TEXT NOT NULL, topic_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                            next_offset INTEGER NOT NULL, PRIMARY KEY (grp, topic_id, partition)) WITHOUT ROWID;
                        """
                )
            }
            let upgraded = try db.write { db in
                // Format 1 kept a row per record. Its builds never read `user_version`, and one
                // that opened a format-2 log made an empty `record` table and appended to it: any
                // such table's rows become batches, whatever the version says.
                let recordTable = try Bool.fetchOne(
                    db,
                    sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'record'"
                )
                if recordTable == true {
                    try Self.upgradeRecordRows(db, directory: dataDirectory.path, freeSpace: freeSpace)
                }
                // What stops those builds: `record` as a view whose every read and write fails,
                // on a function no SQLite has.
                try db.execute(
                    sql: """
                        CREATE VIEW IF NOT EXISTS record (id, key, value, headers, timestamp, size) AS
                        SELECT strongroom_log_format_2_needs_a_later_build(), NULL, NULL, NULL, 0, 0 WHERE 0
                        """
                )
                try db.execute(sql: "PRAGMA user_version = \(Self.format)")
                return recordTable == true
            }
            // The upgrade's WAL is as large as the log: copied in and emptied now, not at the
            // first long append.
            // A checkpoint that cannot run now (a reader elsewhere) loses nothing: the upgrade is
            // committed, and later checkpoints copy it in.
            if upgraded { _ = try? db.writeWithoutTransaction { try $0.checkpoint(.truncate) } }
            pageSize = try db.read { try Int.fetchOne($0, sql: "PRAGMA page_size") } ?? 4096
            checkpointPages = Int32(max(16, Self.checkpointBytes / max(pageSize, 512)))
        } catch let short as ShortOfSpace {
            throw LogError(
                .storage,
                "\(path) is an event log of format 1; upgrading it to format 2 needs about \(short.needed >> 20) MiB "
                    + "free on its file system and \(short.available >> 20) MiB are: free space and open it again "
                    + "(its records were left as they were)"
            )
        } catch let full as DatabaseError where full.resultCode == .SQLITE_FULL {
            throw LogError(.storage, "\(path): the file system is full (nothing of the failed write was kept)")
        } catch let error as LogError {
            // An insert of the upgrade that failed (SQLITE_FULL among them): its code, rolled back.
            throw LogError(error.code, "\(path): \(error.detail) (the upgrade was rolled back)")
        } catch let newer as Newer {
            throw LogError(
                .storage,
                "\(path) is an event log of format \(newer.format), written by a later Strongroom; this build "
                    + "reads formats 1 and 2: open it with that build"
            )
        } catch {
            throw LogError(.storage, "cannot open \(path)")
        }
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// The storage format (`PRAGMA user_version`): 2 stores an append's records of a partition
    /// as one row (``RecordBatch``); 1 stored a row per record.
    static let format = 2

    private struct Newer: Error { var format: Int }

    /// Rewrites format 1's `record` rows as batches, in one transaction, then drops them.
    ///
    /// Consecutive records of a partition share a batch (up to 1,000, as an append of that many
    /// would). Refused before any row is written when the file system cannot hold the
    /// transaction: the WAL takes the new rows and the database file grows by as much again.
    static func upgradeRecordRows(_ db: Database, directory: String, freeSpace: (String) -> Int64?) throws {
        let payload =
            try Int64.fetchOne(
                db,
                sql: "SELECT COALESCE(SUM(size), 0) + \(RecordBatch.overhead) * COUNT(*) FROM record"
            ) ?? 0
        let needed = 2 * payload + (16 << 20)
        if let available = freeSpace(directory), available < needed {
            throw ShortOfSpace(needed: needed, available: available)
        }
        let rows = try Row.fetchCursor(
            db,
            sql: "SELECT id, key, value, headers, timestamp FROM record ORDER BY id"
        )
        let insert = try db.makeStatement(sql: insertBatchSQL)
        struct Pending {
            var id: Int64
            var last: Int64
            var records = 1
            var size: Int
            var timestamps: ClosedRange<Int64>
        }
        var pending: Pending?
        var body: [UInt8] = []
        func flush() throws {
            guard let batch = pending else { return }
            try insertBatch(
                insert,
                id: batch.id,
                last: batch.last & offsetMask,
                records: batch.records,
                timestamps: batch.timestamps,
                size: batch.size,
                body: body
            )
            pending = nil
            body.removeAll(keepingCapacity: true)
        }
        while let row = try rows.next() {
            let id: Int64 = row[0]
            let timestamp: Int64 = row[4]
            try row.withUnsafeData(atIndex: 1) { key in
                try row.withUnsafeData(atIndex: 2) { value in
                    try row.withUnsafeData(atIndex: 3) { headers in
                        let size = (key?.count ?? 0) + (value?.count ?? 0) + (headers?.count ?? 0)
                        let encoded = RecordBatch.encodedCount(
                            key: key?.count,
                            value: value?.count,
                            headers: headers?.count
                        )
                        if let batch = pending,
                            batch.id & ~offsetMask != id & ~offsetMask || batch.records == 1000
                                || body.count + encoded > RecordBatch.maxBody || id - batch.id > Int64(UInt32.max)
                        {
                            try flush()
                        }
                        if var batch = pending {
                            batch.last = id
                            batch.records += 1
                            batch.size += size
                            batch.timestamps =
                                min(
                                    batch.timestamps.lowerBound,
                                    timestamp
                                )...max(batch.timestamps.upperBound, timestamp)
                            pending = batch
                        } else {
                            pending = Pending(id: id, last: id, size: size, timestamps: timestamp...timestamp)
                        }
                        let delta = id - (pending?.id ?? id)
                        withRaw(key) { k in
                            withRaw(value) { v in
                                withRaw(headers) { h in
                                    RecordBatch.append(
                                        delta: delta,
                                        timestamp: timestamp,
                                        key: k,
                                        value: v,
                                        headers: h,
                                        to: &body
                                    )
                                }
                            }
                        }
                    }
                }
            }
        }
        try flush()
        try db.execute(sql: "DROP TABLE record")
        // A format-1 build's retention counted `record` alone: every partition's start and bytes
        // again, from all its batches.
        for row in try Row.fetchAll(db, sql: "SELECT topic_id, partition FROM partition") {
            let (topic, partition): (Int64, Int) = (row[0], row[1])
            try recount(db, partitionRange(topic, partition), topic, partition)
        }
    }

    /// The file system cannot hold an upgrade.
    struct ShortOfSpace: Error {
        var needed: Int64
        var available: Int64
    }

    static let offsetMask = (Int64(1) << offsetBits) - 1

    static let insertBatchSQL = """
        INSERT INTO batch (id, last_offset, records, min_timestamp, max_timestamp, size, body)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """

    /// Inserts one batch row, binding the body in place (SQLite reads it during the step).
    static func insertBatch(
        _ statement: Statement,
        id: Int64,
        last: Int64,
        records: Int,
        timestamps: ClosedRange<Int64>,
        size: Int,
        body: [UInt8]
    ) throws(LogError) {
        let s = statement.sqliteStatement
        sqlite3_reset(s)
        var code = sqlite3_bind_int64(s, 1, id)
        if code == SQLITE_OK { code = sqlite3_bind_int64(s, 2, last) }
        if code == SQLITE_OK { code = sqlite3_bind_int64(s, 3, Int64(records)) }
        if code == SQLITE_OK { code = sqlite3_bind_int64(s, 4, timestamps.lowerBound) }
        if code == SQLITE_OK { code = sqlite3_bind_int64(s, 5, timestamps.upperBound) }
        if code == SQLITE_OK { code = sqlite3_bind_int64(s, 6, Int64(size)) }
        if code == SQLITE_OK { code = withBlob(s, 7, body) { sqlite3_step(s) } }
        // The binding points into a buffer this call does not own past its return.
        sqlite3_reset(s)
        sqlite3_clear_bindings(s)
        guard code == SQLITE_DONE else {
            // SQLite's message names the constraint or condition, never a bound value.
            let message = sqlite3_db_handle(s).flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? ""
            throw LogError(.storage, "record insert failed (SQLite code \(code): \(message))")
        }
    }

    static func recordID(topic: Int64, partition: Int, offset: Int64) -> Int64 {
        topic << (offsetBits + partitionBits) | Int64(partition) << offsetBits | offset
    }

    // MARK: Topics

    /// Kafka's topic-name rule: 1–249 of `[A-Za-z0-9._-]`, not `.` or `..`.
    public static func validateTopicName(_ name: String) throws(LogError) {
        let valid =
            (1...249).contains(name.utf8.count) && name != "." && name != ".."
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E
                    || c == 0x5F || c == 0x2D
            }
        guard valid else { throw LogError(.invalidArgument, "topic names are 1–249 of A-Z a-z 0-9 . _ -") }
    }

    /// Creates a topic.
    public func createTopic(_ name: String, config: TopicConfig) throws(LogError) {
        try Self.validateTopicName(name)
        try config.validate()
        let text = try Self.encode(config)
        try write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM topic WHERE name = ?", arguments: [name]) == true {
                throw LogError(.topicExists, name)
            }
            // Lowest free id: a deleted topic's records are gone, so its id can serve again.
            let id =
                try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT MIN(t.id + 1) FROM (SELECT 0 AS id UNION ALL SELECT id FROM topic) t
                        WHERE t.id + 1 NOT IN (SELECT id FROM topic)
                        """
                ) ?? 1
            guard id <= Self.maxTopicID else { throw LogError(.invalidArgument, "at most 2047 topics") }
            // Builds before 2026-11-29 left topic 2047's records behind when deleting it: none
            // may reappear in a new topic of that id.
            let rows = Self.topicRange(id)
            try db.execute(
                sql: "DELETE FROM batch WHERE id >= ? AND id <= ?",
                arguments: [rows.lowerBound, rows.upperBound]
            )
            try db.execute(
                sql: "INSERT INTO topic (id, name, config) VALUES (?, ?, ?)",
                arguments: [id, name, text]
            )
            for p in 0..<config.partitions {
                try db.execute(
                    sql:
                        "INSERT INTO partition (topic_id, partition, next_offset, start_offset, bytes) VALUES (?, ?, 0, 0, 0)",
                    arguments: [id, p]
                )
            }
        }
    }

    /// Deletes a topic and everything stored for it.
    public func deleteTopic(_ name: String) throws(LogError) {
        try write { db in
            let topic = try Self.topic(db, name)
            let rows = Self.topicRange(topic.id)
            try db.execute(
                sql: "DELETE FROM batch WHERE id >= ? AND id <= ?",
                arguments: [rows.lowerBound, rows.upperBound]
            )
            for table in ["partition", "producer", "group_offset"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE topic_id = ?", arguments: [topic.id])
            }
            try db.execute(sql: "DELETE FROM topic WHERE id = ?", arguments: [topic.id])
        }
    }

    /// Every topic, by name.
    public func topics() throws(LogError) -> [TopicDescription] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT name FROM topic ORDER BY name").map { try Self.describe(db, $0) }
        }
    }

    /// One topic.
    public func describeTopic(_ name: String) throws(LogError) -> TopicDescription {
        try read { db in try Self.describe(db, name) }
    }

    /// One topic's configuration: its row alone (every produce call asks).
    public func topicConfig(_ name: String) throws(LogError) -> TopicConfig {
        try read { db in try Self.topic(db, name).config }
    }

    struct TopicRow {
        var id: Int64
        var config: TopicConfig
    }

    static func topic(_ db: Database, _ name: String) throws -> TopicRow {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT id, config FROM topic WHERE name = ?"),
                arguments: [name]
            )
        else { throw LogError(.unknownTopic, name) }
        let text: String = row["config"]
        guard let config = try? JSONDecoder().decode(TopicConfig.self, from: Data(text.utf8)) else {
            throw LogError(.storage, "topic \(name): unreadable configuration")
        }
        return TopicRow(id: row["id"], config: config)
    }

    static func describe(_ db: Database, _ name: String) throws -> TopicDescription {
        let topic = try topic(db, name)
        let partitions = try Row.fetchAll(
            db,
            sql:
                "SELECT partition, start_offset, next_offset, bytes FROM partition WHERE topic_id = ? ORDER BY partition",
            arguments: [topic.id]
        ).map { row in
            TopicDescription.Partition(
                partition: row["partition"],
                startOffset: row["start_offset"],
                endOffset: row["next_offset"],
                bytes: row["bytes"]
            )
        }
        return TopicDescription(name: name, config: topic.config, partitions: partitions)
    }

    static func encode(_ config: TopicConfig) throws(LogError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(config) else { throw LogError(.invalidArgument, "configuration") }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Appending (group commit)

    final class Ticket: @unchecked Sendable {
        // Written by the committing thread before `done` is signalled, read after: the
        // semaphore orders the accesses.
        let records: [LogRecord]
        let topic: String
        let producer: ProducerStamp?
        var result: Result<[RecordPosition], LogError> = .failure(LogError(.storage, "not committed"))
        var lead = false
        let done = DispatchSemaphore(value: 0)

        init(records: [LogRecord], topic: String, producer: ProducerStamp?) {
            self.records = records
            self.topic = topic
            self.producer = producer
        }
    }

    struct CommitQueue {
        var pending: [Ticket] = []
        var committing = false
    }

    /// Appends durably; concurrent callers share one transaction.
    public func append(
        _ records: [LogRecord],
        to topic: String,
        producer: ProducerStamp?
    ) throws(LogError) -> [RecordPosition] {
        guard !records.isEmpty else { return [] }
        let ticket = Ticket(records: records, topic: topic, producer: producer)
        let leads = queue.withLock { queue in
            queue.pending.append(ticket)
            if queue.committing { return false }
            queue.committing = true
            return true
        }
        if !leads {
            ticket.done.wait()
            // A finished committer hands the queue to a waiter instead of serving forever.
            if !ticket.lead { return try ticket.result.get() }
        }
        commitLoop(until: ticket)
        return try ticket.result.get()
    }

    /// Commits batches until `own` is done, then hands any remaining work to a waiter.
    func commitLoop(until own: Ticket) {
        var ownDone = false
        while true {
            let batch: [Ticket] = queue.withLock { queue in
                if ownDone, let next = queue.pending.first {
                    next.lead = true
                    next.done.signal()
                    return []
                }
                let batch = queue.pending
                queue.pending = []
                if batch.isEmpty { queue.committing = false }
                return batch
            }
            if batch.isEmpty { return }
            commit(batch)
            for ticket in batch where ticket !== own { ticket.done.signal() }
            checkpointSoon()
            if batch.contains(where: { $0 === own }) { ownDone = true }
        }
    }

    /// Copies a long WAL into the database in the background, on the writer connection: the
    /// appending callers do not wait for it, and no append runs meanwhile, so the checkpoint
    /// completes and the next append starts the WAL again from its beginning (it stays bounded,
    /// as with SQLite's automatic checkpoint).
    func checkpointSoon() {
        guard wal.pages.load(ordering: .relaxed) >= checkpointPages,
            wal.checkpointing.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else { return }
        let (db, wal) = (self.db, self.wal)
        DispatchQueue.global(qos: .utility).async {
            // A checkpoint that fails (a reader holds an old snapshot) loses nothing: the WAL keeps
            // every commit, and the next long WAL tries again.
            _ = try? db.writeWithoutTransaction { try $0.checkpoint(.passive) }
            wal.checkpoints.add(1, ordering: .relaxed)
            wal.checkpointing.store(false, ordering: .releasing)
        }
    }

    func commit(_ batch: [Ticket]) {
        do {
            try db.write { db in
                var partitions: [PartitionKey: PartitionState] = [:]
                for ticket in batch {
                    // A savepoint per caller: one caller's failure leaves the others' records in.
                    let saved = partitions
                    var positions: [RecordPosition] = []
                    do {
                        try db.inSavepoint {
                            positions = try self.stage(ticket, db, &partitions)
                            return .commit
                        }
                        ticket.result = .success(positions)
                    } catch {
                        partitions = saved
                        ticket.result = .failure((error as? LogError) ?? LogError(.storage, "append failed"))
                    }
                }
                for (key, state) in partitions where state.dirty {
                    try db.cachedStatement(
                        sql: "UPDATE partition SET next_offset = ?, bytes = ? WHERE topic_id = ? AND partition = ?"
                    ).execute(arguments: [state.next, state.bytes, key.topic, key.partition])
                }
            }
        } catch {
            // The transaction rolled back: nothing of this batch is stored.
            let failure = (error as? LogError) ?? LogError(.storage, "append failed")
            for ticket in batch { ticket.result = .failure(failure) }
        }
    }

    struct PartitionKey: Hashable {
        var topic: Int64
        var partition: Int
    }

    struct PartitionState {
        var next: Int64
        var bytes: Int64
        var dirty = false
    }

    /// Validates one caller's records and inserts them; throws before inserting anything
    /// when a record is bad, so a refused batch leaves no trace.
    func stage(
        _ ticket: Ticket,
        _ db: Database,
        _ partitions: inout [PartitionKey: PartitionState]
    ) throws(LogError) -> [RecordPosition] {
        do {
            let topic = try Self.topic(db, ticket.topic)
            var stored: (sequence: Int64, positions: [RecordPosition])?
            if let producer = ticket.producer {
                if let row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: "SELECT sequence, positions FROM producer WHERE producer_id = ? AND topic_id = ?"
                    ),
                    arguments: [Int64(bitPattern: producer.id), topic.id]
                ) {
                    let positions = try JSONDecoder().decode([RecordPosition].self, from: row["positions"] as Data)
                    stored = (row["sequence"], positions)
                }
                let sequence = Int64(bitPattern: producer.sequence)
                if let stored, stored.sequence == sequence { return stored.positions }
                let expected = (stored?.sequence ?? -1) + 1
                guard sequence == expected else {
                    throw LogError(
                        .outOfOrderSequence,
                        "producer \(producer.id): got \(sequence), expected \(expected)"
                    )
                }
            }
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
            var chosen: [(partition: Int, size: Int, headers: Data?)] = []
            chosen.reserveCapacity(ticket.records.count)
            for (i, record) in ticket.records.enumerated() {
                let partition: Int
                if let explicit = record.partition {
                    guard (0..<topic.config.partitions).contains(explicit) else {
                        throw LogError(.unknownPartition, "\(ticket.topic) has no partition \(explicit) (record \(i))")
                    }
                    partition = explicit
                } else if let key = record.key {
                    partition = Partitioner.partition(forKey: key, partitions: topic.config.partitions)
                } else {
                    partition = roundRobin.add(1, ordering: .relaxed).newValue % topic.config.partitions
                }
                let headers = record.headers.isEmpty ? nil : Self.encodeHeaders(record.headers)
                let size = (record.key?.count ?? 0) + (record.value?.count ?? 0) + (headers?.count ?? 0)
                guard size <= topic.config.maxRecordBytes else {
                    throw LogError(.recordTooLarge, "record \(i): \(size) bytes, limit \(topic.config.maxRecordBytes)")
                }
                chosen.append((partition, size, headers))
            }
            let insert = try db.cachedStatement(sql: Self.insertBatchSQL)
            var positions: [RecordPosition] = []
            positions.reserveCapacity(chosen.count)
            // Each partition's records, in order: one row (or a few, when large) per partition.
            var order: [Int: [Int]] = [:]
            for (i, choice) in chosen.enumerated() { order[choice.partition, default: []].append(i) }
            var offsets = [Int64](repeating: 0, count: chosen.count)
            for (partition, indices) in order.sorted(by: { $0.key < $1.key }) {
                let key = PartitionKey(topic: topic.id, partition: partition)
                var state: PartitionState
                if let known = partitions[key] {
                    state = known
                } else {
                    guard
                        let row = try Row.fetchOne(
                            db.cachedStatement(
                                sql: "SELECT next_offset, bytes FROM partition WHERE topic_id = ? AND partition = ?"
                            ),
                            arguments: [topic.id, partition]
                        )
                    else { throw LogError(.storage, "partition \(partition) of \(ticket.topic) missing") }
                    state = PartitionState(next: row[0], bytes: row[1])
                }
                var from = 0
                while from < indices.count {
                    // Records up to the body limit (at least one: a record is at most maxRecordBytes).
                    var to = from
                    var bodyCount = 0
                    while to < indices.count {
                        let record = ticket.records[indices[to]]
                        let count = RecordBatch.encodedCount(
                            key: record.key?.count,
                            value: record.value?.count,
                            headers: chosen[indices[to]].headers?.count
                        )
                        if to > from && bodyCount + count > RecordBatch.maxBody { break }
                        bodyCount += count
                        to += 1
                    }
                    var body: [UInt8] = []
                    body.reserveCapacity(bodyCount)
                    var size = 0
                    var low = Int64.max
                    var high = Int64.min
                    for (n, i) in indices[from..<to].enumerated() {
                        let record = ticket.records[i]
                        let timestamp = record.timestamp ?? now
                        low = min(low, timestamp)
                        high = max(high, timestamp)
                        size += chosen[i].size
                        offsets[i] = state.next + Int64(n)
                        Self.withRaw(record.key) { k in
                            Self.withRaw(record.value) { v in
                                Self.withRaw(chosen[i].headers) { h in
                                    RecordBatch.append(
                                        delta: Int64(n),
                                        timestamp: timestamp,
                                        key: k,
                                        value: v,
                                        headers: h,
                                        to: &body
                                    )
                                }
                            }
                        }
                    }
                    let count = to - from
                    try Self.insertBatch(
                        insert,
                        id: Self.recordID(topic: topic.id, partition: partition, offset: state.next),
                        last: state.next + Int64(count) - 1,
                        records: count,
                        timestamps: low...high,
                        size: size,
                        body: body
                    )
                    state.next += Int64(count)
                    state.bytes += Int64(size)
                    from = to
                }
                state.dirty = true
                partitions[key] = state
            }
            for (i, choice) in chosen.enumerated() {
                positions.append(RecordPosition(partition: choice.partition, offset: offsets[i]))
            }
            if let producer = ticket.producer {
                try db.cachedStatement(
                    sql:
                        "INSERT OR REPLACE INTO producer (producer_id, topic_id, sequence, positions) VALUES (?, ?, ?, ?)"
                ).execute(arguments: [
                    Int64(bitPattern: producer.id), topic.id, Int64(bitPattern: producer.sequence),
                    try JSONEncoder().encode(positions),
                ])
            }
            return positions
        } catch let error as LogError {
            throw error
        } catch {
            throw LogError(.storage, "append to \(ticket.topic) failed")
        }
    }

    /// `bytes` as a raw buffer (nil for nil) while `body` runs.
    static func withRaw(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> Void) {
        guard let bytes else { return body(nil) }
        bytes.withUnsafeBytes { body($0) }
    }

    static func withRaw(_ data: Data?, _ body: (UnsafeRawBufferPointer?) -> Void) {
        guard let data else { return body(nil) }
        data.withUnsafeBytes { body($0) }
    }

    /// Binds `bytes` (NULL for nil, an empty blob for no bytes) while `body` runs; `body`'s code,
    /// or the binding's when it failed.
    private static func withBlob(_ s: OpaquePointer, _ index: Int32, _ bytes: [UInt8]?, _ body: () -> Int32) -> Int32 {
        guard let bytes else {
            let code = sqlite3_bind_null(s, index)
            return code == SQLITE_OK ? body() : code
        }
        return bytes.withUnsafeBytes { withBlob(s, index, $0, body) }
    }

    private static func withBlob(
        _ s: OpaquePointer,
        _ index: Int32,
        _ raw: UnsafeRawBufferPointer,
        _ body: () -> Int32
    ) -> Int32 {
        let code =
            if raw.isEmpty || raw.count > Int(Int32.max) {
                raw.isEmpty ? sqlite3_bind_zeroblob(s, index, 0) : SQLITE_TOOBIG
            } else {
                // SQLITE_STATIC (nil): SQLite reads the caller's bytes during the step, no copy.
                sqlite3_bind_blob(s, index, raw.baseAddress, Int32(raw.count), nil)
            }
        return code == SQLITE_OK ? body() : code
    }

    static func encodeHeaders(_ headers: [RecordHeader]) -> Data {
        // Sized once and written in place: this runs for every record of every append.
        let count = headers.reduce(4) { $0 + 8 + $1.name.utf8.count + $1.value.count }
        var out = Data(count: count)
        out.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
            var at = 0
            func u32(_ v: Int) {
                raw[at] = UInt8(truncatingIfNeeded: v >> 24)
                raw[at + 1] = UInt8(truncatingIfNeeded: v >> 16)
                raw[at + 2] = UInt8(truncatingIfNeeded: v >> 8)
                raw[at + 3] = UInt8(truncatingIfNeeded: v)
                at += 4
            }
            func bytes(_ source: UnsafeRawBufferPointer) {
                UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + source.count)]).copyMemory(from: source)
                at += source.count
            }
            u32(headers.count)
            for header in headers {
                var name = header.name
                u32(name.utf8.count)
                name.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
                u32(header.value.count)
                header.value.withUnsafeBytes { bytes($0) }
            }
        }
        return out
    }

    /// The bytes of `data` in one copy (`Array(data)` walks it byte by byte).
    static func bytes(_ data: Data) -> [UInt8] {
        data.withUnsafeBytes { Array($0) }
    }

    static func decodeHeaders(_ bytes: UnsafeRawBufferPointer) -> [RecordHeader] {
        guard bytes.count >= 4 else { return [] }
        do {
            var i = 0
            func u32() -> Int? {
                guard i + 4 <= bytes.count else { return nil }
                defer { i += 4 }
                return Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            }
            guard let count = u32() else { return [] }
            var headers: [RecordHeader] = []
            // Each header takes at least 8 bytes: a corrupt count cannot reserve more than the row holds.
            headers.reserveCapacity(min(count, bytes.count / 8))
            for _ in 0..<count {
                guard let n = u32(), n <= bytes.count - i else { break }
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + n)]), as: UTF8.self)
                i += n
                guard let v = u32(), v <= bytes.count - i else { break }
                headers.append(RecordHeader(name, Array(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + v)]))))
                i += v
            }
            return headers
        }
    }

    // MARK: Reading

    /// Records of one partition from `offset`.
    public func fetch(
        topic: String,
        partition: Int,
        from offset: Int64,
        maxBytes: Int = 1 << 20,
        maxRecords: Int = 10_000
    ) throws(LogError) -> [StoredRecord] {
        guard offset >= 0, maxRecords > 0 else {
            throw LogError(.invalidArgument, "offset and limits must be positive")
        }
        return try read { db in
            let row = try Self.topic(db, topic)
            guard (0..<row.config.partitions).contains(partition) else {
                throw LogError(.unknownPartition, "\(topic) has no partition \(partition)")
            }
            let range = Self.partitionRange(row.id, partition)
            // No partition reaches offset 2^40: nothing there.
            guard offset <= Self.offsetMask else { return [] }
            let low = range.lowerBound + offset
            // A consumer that has read everything polls here: no batch is read at all.
            let next = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT next_offset FROM partition WHERE topic_id = ? AND partition = ?"),
                arguments: [row.id, partition]
            )
            guard let next, offset < next else { return [] }
            // The batch holding `offset` starts at or before it (when retention left a gap there,
            // that batch ends before it, and its records are skipped below).
            let start =
                try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT id FROM batch WHERE id <= ? AND id >= ? ORDER BY id DESC LIMIT 1"),
                    arguments: [low, range.lowerBound]
                ) ?? low
            var out: [StoredRecord] = []
            var bytes = 0
            let cursor = try Row.fetchCursor(
                db.cachedStatement(sql: "SELECT \(Self.batchColumns) FROM batch WHERE id >= ? AND id <= ? ORDER BY id"),
                arguments: [start, range.upperBound]
            )
            batches: while let r = try cursor.next() {
                let header = try Self.header(r, topic, partition)
                let id = range.lowerBound | header.first
                let full = try r.withUnsafeData(atIndex: Self.bodyColumn) { data -> Bool in
                    guard let data else { throw Self.corrupt(topic, partition, id) }
                    return try data.withUnsafeBytes { body throws -> Bool in
                        guard let entries = RecordBatch.decode(body, header) else {
                            throw Self.corrupt(topic, partition, id)
                        }
                        func copy(_ range: Range<Int>?) -> [UInt8]? {
                            range.map { Array(UnsafeRawBufferPointer(rebasing: body[$0])) }
                        }
                        for entry in entries where entry.offset >= offset {
                            if out.count == maxRecords || (!out.isEmpty && bytes + entry.size > maxBytes) {
                                return true
                            }
                            bytes += entry.size
                            out.append(
                                StoredRecord(
                                    partition: partition,
                                    offset: entry.offset,
                                    key: copy(entry.key),
                                    value: copy(entry.value),
                                    headers: entry.headers.map {
                                        Self.decodeHeaders(UnsafeRawBufferPointer(rebasing: body[$0]))
                                    } ?? [],
                                    timestamp: entry.timestamp
                                )
                            )
                        }
                        // Full: the next batch's body is not read.
                        return out.count == maxRecords
                    }
                }
                if full { break batches }
            }
            return out
        }
    }

    /// A batch row's columns, its body last (read only when needed).
    static let batchColumns = headerColumns + ", body"
    /// The columns ``header(_:_:_:)`` reads, in its order.
    static let headerColumns = "id, records, last_offset, min_timestamp, max_timestamp, size"
    static let bodyColumn = 6

    /// The row's description of its batch, each column checked for what it must hold.
    static func header(_ row: Row, _ topic: String, _ partition: Int) throws(LogError) -> RecordBatch.Header {
        func int(_ index: Int) -> Int64? { Int64.fromDatabaseValue(row[index] as DatabaseValue) }
        guard let id = int(0) else { throw LogError(.corrupt, "\(topic) partition \(partition): a batch id") }
        guard let records = int(1).flatMap({ Int(exactly: $0) }), let last = int(2), let low = int(3),
            let high = int(4), let size = int(5).flatMap({ Int(exactly: $0) })
        else { throw corrupt(topic, partition, id) }
        return RecordBatch.Header(
            first: id & offsetMask,
            records: records,
            last: last,
            minTimestamp: low,
            maxTimestamp: high,
            size: size
        )
    }

    static func corrupt(_ topic: String, _ partition: Int, _ id: Int64) -> LogError {
        LogError(.corrupt, "\(topic) partition \(partition): the batch at offset \(id & offsetMask) does not decode")
    }

    // MARK: Consumer groups

    /// Commits a group's next offset.
    public func commit(group: String, topic: String, partition: Int, offset: Int64) throws(LogError) {
        guard !group.isEmpty, offset >= 0 else { throw LogError(.invalidArgument, "group name and offset") }
        try write { db in
            let row = try Self.topic(db, topic)
            guard (0..<row.config.partitions).contains(partition) else {
                throw LogError(.unknownPartition, "\(topic) has no partition \(partition)")
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO group_offset (grp, topic_id, partition, next_offset) VALUES (?, ?, ?, ?)",
                arguments: [group, row.id, partition, offset]
            )
        }
    }

    /// A group's committed offset.
    public func committedOffset(group: String, topic: String, partition: Int) throws(LogError) -> Int64? {
        try read { db in
            let row = try Self.topic(db, topic)
            return try Int64.fetchOne(
                db,
                sql: "SELECT next_offset FROM group_offset WHERE grp = ? AND topic_id = ? AND partition = ?",
                arguments: [group, row.id, partition]
            )
        }
    }

    // MARK: Retention

    /// Deletes expired records: older than `retentionMs`, then the oldest beyond `retentionBytes`.
    public func enforceRetention(now: Int64) throws(LogError) -> RetentionReport {
        try write { db in
            var report = RetentionReport()
            for name in try String.fetchAll(db, sql: "SELECT name FROM topic ORDER BY name") {
                let topic = try Self.topic(db, name)
                guard topic.config.retentionMs != nil || topic.config.retentionBytes != nil else { continue }
                for partition in 0..<topic.config.partitions {
                    try Self.sweep(db, name, topic.id, partition, into: &report) { range in
                        var removed: [(Int, Int64, String)] = []
                        if let ms = topic.config.retentionMs {
                            let (count, bytes) = try Self.expire(db, range, before: now - ms, name, partition)
                            if count > 0 { removed.append((count, bytes, "time")) }
                        }
                        if let limit = topic.config.retentionBytes {
                            let (count, bytes) = try Self.trim(db, range, to: limit, name, partition)
                            if count > 0 { removed.append((count, bytes, "size")) }
                        }
                        if !removed.isEmpty { try Self.recount(db, range, topic.id, partition) }
                        return removed
                    }
                }
            }
            return report
        }
    }

    /// Deletes `topic`'s records older than `cutoff`, every partition; offsets are never reused.
    public func deleteRecords(of topic: String, olderThan cutoff: Int64) throws(LogError) -> RetentionReport {
        try write { db in
            let row = try Self.topic(db, topic)
            var report = RetentionReport()
            for partition in 0..<row.config.partitions {
                try Self.sweep(db, topic, row.id, partition, into: &report) { range in
                    let (count, bytes) = try Self.expire(db, range, before: cutoff, topic, partition)
                    guard count > 0 else { return [] }
                    try Self.recount(db, range, row.id, partition)
                    return [(count, bytes, "time")]
                }
            }
            return report
        }
    }

    /// Runs one partition's removals in a savepoint and reports them; a partition holding a batch
    /// that does not decode is rolled back and reported as a failure, and the sweep goes on.
    static func sweep(
        _ db: Database,
        _ topic: String,
        _ topicID: Int64,
        _ partition: Int,
        into report: inout RetentionReport,
        _ body: (ClosedRange<Int64>) throws -> [(Int, Int64, String)]
    ) throws {
        let range = partitionRange(topicID, partition)
        var removed: [(Int, Int64, String)] = []
        do {
            try db.inSavepoint {
                removed = try body(range)
                return .commit
            }
        } catch let error as LogError where error.code == .corrupt {
            report.failures.append(.init(topic: topic, partition: partition, reason: error.detail))
            return
        }
        for (count, bytes, reason) in removed {
            report.removals.append(
                .init(topic: topic, partition: partition, records: count, bytes: bytes, reason: reason)
            )
        }
    }

    /// The row ids of one topic, closed: topic 2047's next id would be 2^63.
    static func topicRange(_ topic: Int64) -> ClosedRange<Int64> {
        let low = recordID(topic: topic, partition: 0, offset: 0)
        return low...(low | ((1 << (offsetBits + partitionBits)) - 1))
    }

    /// The row ids of one partition.
    static func partitionRange(_ topic: Int64, _ partition: Int) -> ClosedRange<Int64> {
        // Closed, ending in all ones: the next partition's first id would OR into the topic's
        // bits (partition 4095), or be 2^63 (topic 2047).
        let low = recordID(topic: topic, partition: partition, offset: 0)
        return low...(low | offsetMask)
    }

    /// Deletes the records of `range` with a timestamp before `cutoff`; records and bytes removed.
    ///
    /// Whole batches go, and a batch that keeps newer records is rewritten without the others.
    static func expire(
        _ db: Database,
        _ range: ClosedRange<Int64>,
        before cutoff: Int64,
        _ topic: String,
        _ partition: Int
    ) throws -> (Int, Int64) {
        var count = 0
        var bytes: Int64 = 0
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT \(headerColumns) FROM batch
                WHERE id >= ? AND id <= ? AND min_timestamp < ? ORDER BY id
                """,
            arguments: [range.lowerBound, range.upperBound, cutoff]
        )
        for row in rows {
            let header = try Self.header(row, topic, partition)
            let id = range.lowerBound | header.first
            if header.maxTimestamp < cutoff {
                try db.execute(sql: "DELETE FROM batch WHERE id = ?", arguments: [id])
                count += header.records
                bytes += Int64(header.size)
            } else {
                let (n, b) = try rewrite(db, id, topic, partition) { entries in
                    entries.map { $0.timestamp < cutoff }
                }
                count += n
                bytes += b
            }
        }
        return (count, bytes)
    }

    /// Deletes the oldest records of `range` while it holds more than `limit` bytes.
    ///
    /// Returns the records and bytes removed.
    static func trim(
        _ db: Database,
        _ range: ClosedRange<Int64>,
        to limit: Int64,
        _ topic: String,
        _ partition: Int
    ) throws -> (Int, Int64) {
        var total =
            try Int64.fetchOne(
                db,
                sql: "SELECT COALESCE(SUM(size), 0) FROM batch WHERE id >= ? AND id <= ?",
                arguments: [range.lowerBound, range.upperBound]
            ) ?? 0
        guard total > limit else { return (0, 0) }
        var count = 0
        var bytes: Int64 = 0
        let rows = try Row.fetchAll(
            db,
            sql: "SELECT \(headerColumns) FROM batch WHERE id >= ? AND id <= ? ORDER BY id",
            arguments: [range.lowerBound, range.upperBound]
        )
        for row in rows where total > limit {
            let header = try Self.header(row, topic, partition)
            let id = range.lowerBound | header.first
            let size = Int64(header.size)
            if total - size > limit {
                // Every record of the batch goes: without them the partition is still over the limit.
                try db.execute(sql: "DELETE FROM batch WHERE id = ?", arguments: [id])
                total -= size
                count += header.records
                bytes += size
            } else {
                // The oldest records one at a time, as long as the partition is over the limit.
                let (n, b) = try rewrite(db, id, topic, partition) { entries in
                    var left = total
                    return entries.map { entry in
                        guard left > limit else { return false }
                        left -= Int64(entry.size)
                        return true
                    }
                }
                total -= b
                count += n
                bytes += b
            }
        }
        return (count, bytes)
    }

    /// Rewrites batch `id` without the records `drop` marks; records and bytes removed.
    ///
    /// The row is deleted when none is left, and stored again from its first remaining record
    /// otherwise.
    static func rewrite(
        _ db: Database,
        _ id: Int64,
        _ topic: String,
        _ partition: Int,
        drop: ([RecordBatch.Entry]) -> [Bool]
    ) throws -> (Int, Int64) {
        guard
            let row = try Row.fetchOne(db, sql: "SELECT \(batchColumns) FROM batch WHERE id = ?", arguments: [id])
        else { return (0, 0) }
        let header = try Self.header(row, topic, partition)
        guard let body = Data.fromDatabaseValue(row[bodyColumn] as DatabaseValue) else {
            throw corrupt(topic, partition, id)
        }
        return try body.withUnsafeBytes { raw throws -> (Int, Int64) in
            guard let entries = RecordBatch.decode(raw, header) else {
                throw corrupt(topic, partition, id)
            }
            let marks = drop(entries)
            let kept = zip(entries, marks).filter { !$0.1 }.map(\.0)
            let removed = entries.count - kept.count
            guard removed > 0 else { return (0, 0) }
            let bytes = Int64(zip(entries, marks).filter(\.1).reduce(0) { $0 + $1.0.size })
            try db.execute(sql: "DELETE FROM batch WHERE id = ?", arguments: [id])
            if let first = kept.first, let last = kept.last {
                let stamps = kept.map(\.timestamp)
                try insertBatch(
                    try db.cachedStatement(sql: insertBatchSQL),
                    id: (id & ~offsetMask) | first.offset,
                    last: last.offset,
                    records: kept.count,
                    timestamps: (stamps.min() ?? 0)...(stamps.max() ?? 0),
                    size: kept.reduce(0) { $0 + $1.size },
                    body: RecordBatch.rebuild(kept[...], of: raw)
                )
            }
            return (removed, bytes)
        }
    }

    /// Sets the partition's start offset and bytes from what it still holds.
    static func recount(_ db: Database, _ range: ClosedRange<Int64>, _ topic: Int64, _ partition: Int) throws {
        let remaining = try Row.fetchOne(
            db,
            sql: "SELECT MIN(id), COALESCE(SUM(size), 0) FROM batch WHERE id >= ? AND id <= ?",
            arguments: [range.lowerBound, range.upperBound]
        )
        let first: Int64? = remaining?[0]
        try db.execute(
            sql: """
                UPDATE partition SET start_offset = COALESCE(?, next_offset), bytes = ?
                WHERE topic_id = ? AND partition = ?
                """,
            arguments: [first.map { $0 & offsetMask }, remaining?[1] ?? 0, topic, partition]
        )
    }

    // MARK: Storage helpers

    private func read<T>(_ body: (Database) throws -> T) throws(LogError) -> T {
        do { return try db.read(body) } catch let error as LogError { throw error } catch {
            throw LogError(.storage, "read failed")
        }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(LogError) -> T {
        // Offset commits, retention and deletions grow the WAL too.
        defer { checkpointSoon() }
        do { return try db.write(body) } catch let error as LogError { throw error } catch {
            throw LogError(.storage, "write failed")
        }
    }
}
