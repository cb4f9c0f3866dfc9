import Foundation
import GRDB
import StrongroomCrypto

/// One row of key metadata as it travels to a standby site: a family, a wrapped key version, an
/// erasure tombstone, a subject's link to its pseudonym, or an erased subject's lookup hash.
///
/// Keyed by the row's identity, so a compacted log keeps each row's latest state; a nil value
/// says the row is gone. Nothing here is secret without the KEK: data keys travel wrapped, and
/// subjects appear only as keyed hashes and pseudonyms.
public struct KeyMetadataRecord: Sendable, Hashable {
    /// `f/<key id>`, `d/<key id>/<version>`, `t/<key id>`, `s/<lookup>` or `e/<lookup>`, in hex.
    public var key: [UInt8]
    /// The row as JSON; nil when it was deleted.
    public var value: [UInt8]?

    /// A record.
    public init(key: [UInt8], value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// The columns a replicated row carries; which are set depends on its kind.
struct ReplicatedRow: Codable {
    var scope: Int?
    var label: String?
    var active: Int?
    var kek: Int?
    var wrapped: Data?
    var state: String?
    var created: Int64?
    var erased: Int64?
    var keyID: String?
}

extension KeyStore {
    /// The changes not yet published, recorded by triggers in the transaction that made them.
    static let journalSQL = """
        CREATE TABLE replication_journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, a BLOB NOT NULL,
            b INTEGER);
        CREATE TRIGGER journal_family_insert AFTER INSERT ON family
            BEGIN INSERT INTO replication_journal (kind, a) VALUES ('f', NEW.key_id); END;
        CREATE TRIGGER journal_family_update AFTER UPDATE OF active_version ON family
            BEGIN INSERT INTO replication_journal (kind, a) VALUES ('f', NEW.key_id); END;
        CREATE TRIGGER journal_family_delete AFTER DELETE ON family
            BEGIN INSERT INTO replication_journal (kind, a) VALUES ('f', OLD.key_id); END;
        CREATE TRIGGER journal_dek_insert AFTER INSERT ON dek
            BEGIN INSERT INTO replication_journal (kind, a, b) VALUES ('d', NEW.key_id, NEW.version); END;
        CREATE TRIGGER journal_dek_update AFTER UPDATE OF state, wrapped, kek_version ON dek
            BEGIN INSERT INTO replication_journal (kind, a, b) VALUES ('d', NEW.key_id, NEW.version); END;
        CREATE TRIGGER journal_dek_delete AFTER DELETE ON dek
            BEGIN INSERT INTO replication_journal (kind, a, b) VALUES ('d', OLD.key_id, OLD.version); END;
        CREATE TRIGGER journal_tombstone_insert AFTER INSERT ON tombstone
            BEGIN INSERT INTO replication_journal (kind, a) VALUES ('t', NEW.key_id); END;
        \(subjectTriggersSQL)
        CREATE TRIGGER journal_erased_insert AFTER INSERT ON erased_subject
            BEGIN INSERT INTO replication_journal (kind, a) VALUES ('e', NEW.lookup); END;
        INSERT INTO replication_journal (kind, a) SELECT 'f', key_id FROM family;
        INSERT INTO replication_journal (kind, a, b) SELECT 'd', key_id, version FROM dek;
        INSERT INTO replication_journal (kind, a) SELECT 't', key_id FROM tombstone;
        INSERT INTO replication_journal (kind, a) SELECT 's', lookup FROM subject;
        INSERT INTO replication_journal (kind, a) SELECT 'e', lookup FROM erased_subject;
        """

    /// The journal's triggers on `subject`, made again when format 4 rebuilds the table.
    static let subjectTriggersSQL = """
        CREATE TRIGGER journal_subject_insert AFTER INSERT ON subject
            BEGIN INSERT INTO replication_journal (kind, a) VALUES ('s', NEW.lookup); END;
        CREATE TRIGGER journal_subject_delete AFTER DELETE ON subject
            BEGIN INSERT INTO replication_journal (kind, a) VALUES ('s', OLD.lookup); END;
        """

    /// Format 4: `subject` without the index on `key_id`.
    ///
    /// Every new subject paid a random insert into it (one page of WAL a key, four pages in all
    /// with the other random B-trees); only a standby reads a link by its pseudonym, and it makes
    /// the index for itself (``applyReplicated(_:)``). Rebuilt in the caller's transaction.
    static func dropSubjectKeyIndex(_ db: Database) throws {
        let unique = try Row.fetchAll(db, sql: "PRAGMA index_list(subject)").contains { $0["origin"] as String == "u" }
        guard unique else { return }
        let journaled = try db.tableExists("replication_journal")
        try db.execute(
            sql: """
                CREATE TABLE subject_v4 (lookup BLOB PRIMARY KEY, key_id BLOB NOT NULL) WITHOUT ROWID;
                INSERT INTO subject_v4 (lookup, key_id) SELECT lookup, key_id FROM subject;
                DROP TABLE subject;
                ALTER TABLE subject_v4 RENAME TO subject;
                """
        )
        // Dropping the table dropped its journal triggers.
        if journaled { try db.execute(sql: subjectTriggersSQL) }
    }

    /// A standby's index for a tombstone's link by pseudonym (see ``dropSubjectKeyIndex(_:)``).
    static let standbyIndexSQL = "CREATE UNIQUE INDEX IF NOT EXISTS subject_key ON subject(key_id)"

    /// Starts recording every change to key metadata for ``publishChanges(limit:_:)``.
    ///
    /// The first call records the whole store as changed, so a standby receives all of it. Idempotent.
    public func startReplicationJournal() throws(KeyStoreError) {
        try write { db in
            guard try !db.tableExists("replication_journal") else { return }
            try db.execute(sql: Self.journalSQL)
        }
    }

    /// True when changes wait to be published (a cheap read, made before every Kafka append).
    public func hasUnpublishedChanges() throws(KeyStoreError) -> Bool {
        try read { db in
            guard try db.tableExists("replication_journal") else { return false }
            return try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM replication_journal)") ?? false
        }
    }

    /// Hands every recorded change to `send` as the rows' current state; the number of records sent.
    ///
    /// Oldest first, in batches of at most `limit`; a batch is forgotten only once `send` returned,
    /// so one `send` failed on is offered again next time.
    ///
    /// Holds the store's write lock while `send` runs, so changes made meanwhile wait and are
    /// published after (a standby never receives a row's older state after its newer one).
    @discardableResult
    public func publishChanges(limit: Int = 5000, _ send: ([KeyMetadataRecord]) throws -> Void) throws -> Int {
        var total = 0
        var failure: (any Error)?
        while failure == nil {
            let sent: Int = try write { db in
                guard try db.tableExists("replication_journal") else { return 0 }
                let rows = try Row.fetchAll(
                    db,
                    sql: "SELECT seq, kind, a, b FROM replication_journal ORDER BY seq LIMIT ?",
                    arguments: [limit]
                )
                guard let last = rows.last else { return 0 }
                var seen = Set<[UInt8]>()
                var records: [KeyMetadataRecord] = []
                // The latest state of each row once, in the order of its last change.
                for row in rows.reversed() {
                    let record = try Self.current(kind: row["kind"], a: row["a"], b: row["b"], db)
                    if seen.insert(record.key).inserted { records.append(record) }
                }
                records.reverse()
                do { try send(records) } catch {
                    failure = error
                    return 0
                }
                try db.execute(sql: "DELETE FROM replication_journal WHERE seq <= ?", arguments: [last["seq"] as Int64])
                return records.count
            }
            if sent == 0 { break }
            total += sent
        }
        if let failure { throw failure }
        return total
    }

    /// A row's current state as a record.
    static func current(kind: String, a: Data, b: Int?, _ db: Database) throws -> KeyMetadataRecord {
        let hex = Array(a).hexString
        func record(_ key: String, _ row: ReplicatedRow?) throws -> KeyMetadataRecord {
            let value = try row.map { Array(try JSONEncoder().encode($0)) }
            return KeyMetadataRecord(key: Array(key.utf8), value: value)
        }
        switch kind {
        case "f":
            let row = try Row.fetchOne(
                db,
                sql: "SELECT scope, label, active_version, created_at FROM family WHERE key_id = ?",
                arguments: [a]
            )
            return try record(
                "f/\(hex)",
                row.map { ReplicatedRow(scope: $0[0], label: $0[1], active: $0[2], created: $0[3]) }
            )
        case "d":
            let version = b ?? 0
            let row = try Row.fetchOne(
                db,
                sql: "SELECT kek_version, wrapped, state, created_at FROM dek WHERE key_id = ? AND version = ?",
                arguments: [a, version]
            )
            return try record(
                "d/\(hex)/\(version)",
                row.map { ReplicatedRow(kek: $0[0], wrapped: $0[1], state: $0[2], created: $0[3]) }
            )
        case "t":
            let erased = try Int64.fetchOne(db, sql: "SELECT erased_at FROM tombstone WHERE key_id = ?", arguments: [a])
            return try record("t/\(hex)", erased.map { ReplicatedRow(erased: $0) })
        case "s":
            let id = try Data.fetchOne(db, sql: "SELECT key_id FROM subject WHERE lookup = ?", arguments: [a])
            return try record("s/\(hex)", id.map { ReplicatedRow(keyID: Array($0).hexString) })
        case "e":
            let erased = try Bool.fetchOne(db, sql: Self.erasedSubjectSQL, arguments: [a]) ?? false
            return try record("e/\(hex)", erased ? ReplicatedRow() : nil)
        default:
            throw KeyStoreError(.storage, "unknown journal entry \(kind)")
        }
    }

    /// Applies key metadata published by another site (its ``publishChanges(limit:_:)``), in
    /// order, in one transaction; every process on this store drops its cached keys after.
    ///
    /// Erasures win: a tombstone deletes the family's keys and subject link and nothing later
    /// brings them back. Key versions arrive with their seal counts spent, so this site never
    /// seals under a key another site may still be sealing under: its first seal rotates.
    ///
    /// - Throws: ``KeyStoreError/Code/replicationConflict`` for a record this build cannot read
    ///   or one that contradicts this store (a subject linked to another pseudonym, a version
    ///   with other key bytes under the same KEK version); nothing of the batch is applied.
    public func applyReplicated(_ records: [KeyMetadataRecord]) throws(KeyStoreError) {
        guard !records.isEmpty else { return }
        try write { db in
            try db.execute(sql: Self.standbyIndexSQL)
            for record in records { try Self.apply(record, db) }
        }
        clearCache()
        generation.bump()
        // As `erase` does: an erased family's wrapped bytes and links may still sit in WAL frames.
        if records.contains(where: { $0.value == nil || $0.key.first == UInt8(ascii: "t") }) {
            _ = try? db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        }
    }

    static func apply(_ record: KeyMetadataRecord, _ db: Database) throws {
        let parts = String(decoding: record.key, as: UTF8.self).split(separator: "/", omittingEmptySubsequences: false)
        func bad(_ why: String) -> KeyStoreError {
            KeyStoreError(.replicationConflict, "\(parts.first.map(String.init) ?? "?") record: \(why)")
        }
        guard parts.count >= 2, let bytes = [UInt8](hex: String(parts[1])), !bytes.isEmpty else {
            throw bad("not a key metadata record")
        }
        let a = Data(bytes)
        var row: ReplicatedRow?
        if let value = record.value {
            guard let decoded = try? JSONDecoder().decode(ReplicatedRow.self, from: Data(value)) else {
                throw bad("unreadable value")
            }
            row = decoded
        }
        let tombstoned = try Bool.fetchOne(db, sql: tombstoneSQL, arguments: [a]) ?? false
        switch (parts[0], parts.count) {
        case ("f", 2):
            guard let row else {
                try db.execute(sql: "DELETE FROM family WHERE key_id = ?", arguments: [a])
                return
            }
            guard !tombstoned else { return }
            guard let scope = row.scope, let active = row.active, active > 0, let created = row.created else {
                throw bad("incomplete family")
            }
            try db.execute(
                sql: """
                    INSERT INTO family (key_id, scope, label, active_version, created_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (key_id) DO UPDATE SET active_version = max(active_version, excluded.active_version)
                    """,
                arguments: [a, scope, row.label, active, created]
            )
        case ("d", 3):
            guard let version = Int(parts[2]), version > 0 else { throw bad("bad version") }
            guard let row else {
                try db.execute(sql: "DELETE FROM dek WHERE key_id = ? AND version = ?", arguments: [a, version])
                return
            }
            guard !tombstoned else { return }
            guard let kek = row.kek, let wrapped = row.wrapped, let state = row.state, let created = row.created,
                ["active", "decrypt-only", "retired"].contains(state), state == "retired" || !wrapped.isEmpty
            else { throw bad("incomplete key version") }
            if let existing = try Row.fetchOne(
                db,
                sql: "SELECT kek_version, wrapped FROM dek WHERE key_id = ? AND version = ?",
                arguments: [a, version]
            ), existing[0] as Int == kek, existing[1] as Data != wrapped, state != "retired",
                !(existing[1] as Data).isEmpty
            {
                throw bad("a version with other key bytes under the same KEK version")
            }
            // Seals spent: this site rotates before it seals (the other site's count is unknown).
            try db.execute(
                sql: """
                    INSERT INTO dek (key_id, version, kek_version, wrapped, state, created_at, sealed)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (key_id, version) DO UPDATE SET kek_version = excluded.kek_version,
                        wrapped = excluded.wrapped, state = excluded.state, sealed = excluded.sealed
                    """,
                arguments: [a, version, kek, wrapped, state, created, Int64.max]
            )
        case ("t", 2):
            guard let erased = row?.erased else { throw bad("a tombstone is never removed") }
            try db.execute(
                sql: "INSERT OR IGNORE INTO tombstone (key_id, erased_at) VALUES (?, ?)",
                arguments: [a, erased]
            )
            try db.execute(sql: "DELETE FROM subject WHERE key_id = ?", arguments: [a])
            try db.execute(sql: "DELETE FROM dek WHERE key_id = ?", arguments: [a])
            try db.execute(sql: "DELETE FROM family WHERE key_id = ?", arguments: [a])
        case ("s", 2):
            guard let row else {
                try db.execute(sql: "DELETE FROM subject WHERE lookup = ?", arguments: [a])
                return
            }
            guard let text = row.keyID, let id = [UInt8](hex: text), id.count == 16 else {
                throw bad("incomplete subject link")
            }
            let erased = try Bool.fetchOne(db, sql: erasedSubjectSQL, arguments: [a]) ?? false
            let idErased = try Bool.fetchOne(db, sql: tombstoneSQL, arguments: [Data(id)]) ?? false
            guard !erased, !idErased else { return }
            if let existing = try Data.fetchOne(db, sql: subjectSQL, arguments: [a]) {
                guard existing == Data(id) else { throw bad("the subject is linked to another pseudonym here") }
                return
            }
            try db.execute(sql: "INSERT INTO subject (lookup, key_id) VALUES (?, ?)", arguments: [a, Data(id)])
        case ("e", 2):
            guard row != nil else { throw bad("an erased subject is never restored") }
            try db.execute(sql: "INSERT OR IGNORE INTO erased_subject (lookup) VALUES (?)", arguments: [a])
            try db.execute(sql: "DELETE FROM subject WHERE lookup = ?", arguments: [a])
        default:
            throw bad("unknown kind")
        }
    }
}
