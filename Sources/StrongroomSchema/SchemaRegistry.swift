import Crypto
public import Foundation
import GRDB
import StrongroomFiles
import StrongroomJSON

/// A registered schema version.
public struct RegisteredSchema: Sendable, Hashable, Codable {
    /// Global id, unique across subjects (the same schema text in two subjects has one id).
    public var id: Int
    /// The subject, `<topic>-value`.
    public var subject: String
    /// Version within the subject, from 1.
    public var version: Int
    /// SHA-256 of the RFC 8785 canonical schema, hex.
    public var fingerprint: String
    /// The schema as registered (canonical JSON text).
    public var schema: String
}

/// One recorded schema change, for the audit log.
public struct SchemaChange: Sendable, Hashable, Codable {
    /// Unix milliseconds.
    public var time: Int64
    /// Who registered or changed it.
    public var principal: String
    /// `register`, `register-forced`, `compatibility`.
    public var action: String
    /// The subject.
    public var subject: String
    /// The version registered, if any.
    public var version: Int?
    /// Fingerprint of the schema, or the new mode for a compatibility change.
    public var detail: String
}

/// A registry error: compatibility refusals carry every issue found.
public struct RegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind.
    public enum Kind: String, Sendable {
        /// The schema does not compile or is not JSON.
        case invalidSchema = "invalid schema"
        /// The change breaks the subject's compatibility mode or the security rules.
        case incompatible = "incompatible schema"
        /// No such subject, version or id.
        case notFound = "not found"
        /// The subject name is not `<topic>-value` or `<topic>-key` with a valid topic.
        case invalidSubject = "invalid subject"
        /// The database failed.
        case storage = "registry storage error"
    }

    /// The kind.
    public var kind: Kind
    /// Safe detail.
    public var detail: String
    /// For ``Kind/incompatible``: every issue.
    public var issues: [CompatibilityIssue]

    init(_ kind: Kind, _ detail: String = "", issues: [CompatibilityIssue] = []) {
        self.kind = kind
        self.detail = detail
        self.issues = issues
    }

    /// The kind, detail and issues.
    public var description: String {
        var text = "\(kind.rawValue)" + (detail.isEmpty ? "" : ": \(detail)")
        for issue in issues { text += "\n  \(issue)" }
        return text
    }
}

/// Schemas by subject and version, with global ids, compatibility checks on registration
/// and a change history, in `<data-dir>/schemas.sqlite`.
public final class SchemaRegistry: Sendable {
    /// The database file in the data directory.
    public static let databaseFileName = "schemas.sqlite"
    /// Mode for subjects without their own.
    public static let defaultMode = CompatibilityMode.backward

    let db: DatabaseQueue

    /// Opens (creating) the registry of `dataDirectory`.
    public init(dataDirectory: URL) throws(RegistryError) {
        do {
            try PrivateFiles.directory(dataDirectory.path)
            var config = Configuration()
            config.busyMode = .timeout(10)
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL") }
            try PrivateFiles.prepareDatabase(dataDirectory.appendingPathComponent(Self.databaseFileName).path)
            db = try DatabaseQueue(
                path: dataDirectory.appendingPathComponent(Self.databaseFileName).path,
                configuration: config
            )
            try db.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS schema (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, text TEXT NOT NULL);
                        CREATE TABLE IF NOT EXISTS version (
                            subject TEXT NOT NULL, version INTEGER NOT NULL, schema_id INTEGER NOT NULL,
                            PRIMARY KEY (subject, version));
                        CREATE TABLE IF NOT EXISTS mode (subject TEXT PRIMARY KEY, mode TEXT NOT NULL);
                        CREATE TABLE IF NOT EXISTS change (
                            seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL,
                            subject TEXT NOT NULL, version INTEGER, detail TEXT NOT NULL);
                        """
                )
            }
        } catch {
            throw RegistryError(.storage, "cannot open \(dataDirectory.path)/\(Self.databaseFileName)")
        }
    }

    /// Subject names: `<topic>-value` or `<topic>-key`, topic per Kafka's naming rule.
    public static func validateSubject(_ subject: String) throws(RegistryError) {
        let topic: Substring
        if subject.hasSuffix("-value") {
            topic = subject.dropLast(6)
        } else if subject.hasSuffix("-key") {
            topic = subject.dropLast(4)
        } else {
            throw RegistryError(.invalidSubject, "subjects are <topic>-value or <topic>-key")
        }
        let valid =
            (1...249).contains(topic.utf8.count)
            && topic.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E
                    || c == 0x5F || c == 0x2D
            }
        guard valid else { throw RegistryError(.invalidSubject, "topic names are 1–249 of A-Z a-z 0-9 . _ -") }
    }

    /// The fingerprint a registered copy of `text` has: SHA-256 of its RFC 8785 form, hex.
    public static func fingerprint(of text: String) throws(RegistryError) -> String {
        try canonical(text).2
    }

    /// Canonical text and fingerprint of a schema that compiles.
    static func canonical(_ text: String) throws(RegistryError) -> (JSONValue, String, String) {
        let value: JSONValue
        do { value = try JSONValue(parsing: text) } catch { throw RegistryError(.invalidSchema, "not JSON: \(error)") }
        do {
            _ = try JSONSchemaValidator(schema: value)
            _ = try EncryptionPlan(schema: value)
        } catch {
            throw RegistryError(.invalidSchema, "\(error)")
        }
        let bytes: [UInt8]
        do { bytes = try CanonicalJSON.encode(value, numbers: .exact) } catch {
            throw RegistryError(.invalidSchema, "a number cannot be canonicalized exactly: \(error)")
        }
        let fingerprint = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        return (value, String(decoding: bytes, as: UTF8.self), fingerprint)
    }

    /// What registering `text` under `subject` would refuse: compatibility and security issues.
    public func check(subject: String, schema text: String) throws(RegistryError) -> [CompatibilityIssue] {
        try Self.validateSubject(subject)
        let (value, _, fingerprint) = try Self.canonical(text)
        return try read { db in try self.issues(db, subject: subject, value: value, fingerprint: fingerprint) }
    }

    func issues(_ db: Database, subject: String, value: JSONValue, fingerprint: String) throws -> [CompatibilityIssue] {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT v.version, s.text, s.fingerprint FROM version v JOIN schema s ON s.id = v.schema_id
                WHERE v.subject = ? ORDER BY v.version
                """,
            arguments: [subject]
        )
        guard let latest = rows.last else { return [] }
        if (latest["fingerprint"] as String) == fingerprint { return [] }
        let mode = try self.mode(db, subject)
        var out: [CompatibilityIssue] = []
        let latestValue = try JSONValue(parsing: latest["text"] as String)
        // Schema poisoning: checked against the latest version in every mode, NONE included.
        for (pointer, message) in SchemaCompatibility.weakenings(old: latestValue, new: value) {
            out.append(
                CompatibilityIssue(
                    rule: "SECURITY",
                    againstVersion: latest["version"],
                    schemaPointer: pointer,
                    message: message
                )
            )
        }
        guard mode != .none else { return out }
        for row in mode.transitive ? rows : [latest] {
            let old = try JSONValue(parsing: row["text"] as String)
            let version: Int = row["version"]
            if mode.backward {
                for (pointer, message) in SchemaCompatibility.canRead(reader: value, writer: old) {
                    out.append(
                        CompatibilityIssue(
                            rule: "BACKWARD",
                            againstVersion: version,
                            schemaPointer: pointer,
                            message: message + ": the new schema cannot read all data of version \(version)"
                        )
                    )
                }
            }
            if mode.forward {
                for (pointer, message) in SchemaCompatibility.canRead(reader: old, writer: value) {
                    out.append(
                        CompatibilityIssue(
                            rule: "FORWARD",
                            againstVersion: version,
                            schemaPointer: pointer,
                            message: message + ": version \(version) cannot read all data of the new schema"
                        )
                    )
                }
            }
        }
        return out
    }

    /// Registers `text` under `subject` after the compatibility and security checks.
    ///
    /// Registering the latest schema again returns it unchanged. `force` (an admin's
    /// decision, recorded as `register-forced`) skips the checks.
    ///
    /// - Throws: ``RegistryError`` with every issue when the change is refused.
    @discardableResult
    public func register(
        subject: String,
        schema text: String,
        principal: String,
        force: Bool = false
    ) throws(RegistryError) -> RegisteredSchema {
        try Self.validateSubject(subject)
        let (value, canonicalText, fingerprint) = try Self.canonical(text)
        return try write { db in
            if let latest = try self.latest(db, subject), latest.fingerprint == fingerprint { return latest }
            if !force {
                let found = try self.issues(db, subject: subject, value: value, fingerprint: fingerprint)
                if !found.isEmpty { throw RegistryError(.incompatible, "\(found.count) issue(s)", issues: found) }
            }
            let id: Int
            if let existing = try Int.fetchOne(
                db,
                sql: "SELECT id FROM schema WHERE fingerprint = ?",
                arguments: [fingerprint]
            ) {
                id = existing
            } else {
                try db.execute(
                    sql: "INSERT INTO schema (fingerprint, text) VALUES (?, ?)",
                    arguments: [fingerprint, canonicalText]
                )
                id = Int(db.lastInsertedRowID)
            }
            let version =
                (try Int.fetchOne(db, sql: "SELECT MAX(version) FROM version WHERE subject = ?", arguments: [subject])
                    ?? 0)
                + 1
            try db.execute(
                sql: "INSERT INTO version (subject, version, schema_id) VALUES (?, ?, ?)",
                arguments: [subject, version, id]
            )
            try self.record(db, principal, force ? "register-forced" : "register", subject, version, fingerprint)
            return RegisteredSchema(
                id: id,
                subject: subject,
                version: version,
                fingerprint: fingerprint,
                schema: canonicalText
            )
        }
    }

    /// A subject's version (default: the latest).
    public func schema(subject: String, version: Int? = nil) throws(RegistryError) -> RegisteredSchema {
        try read { db in
            let found: RegisteredSchema?
            if let version {
                found = try self.fetch(db, "v.subject = ? AND v.version = ?", [subject, version])
            } else {
                found = try self.latest(db, subject)
            }
            guard let found else {
                throw RegistryError(.notFound, "\(subject) version \(version.map(String.init) ?? "latest")")
            }
            return found
        }
    }

    /// The schema with global `id` (under its first subject).
    public func schema(id: Int) throws(RegistryError) -> RegisteredSchema {
        try read { db in
            guard let found = try self.fetch(db, "s.id = ?", [id]) else { throw RegistryError(.notFound, "id \(id)") }
            return found
        }
    }

    /// Every subject.
    public func subjects() throws(RegistryError) -> [String] {
        try read { db in try String.fetchAll(db, sql: "SELECT DISTINCT subject FROM version ORDER BY subject") }
    }

    /// A subject's versions.
    public func versions(subject: String) throws(RegistryError) -> [Int] {
        try read { db in
            try Int.fetchAll(
                db,
                sql: "SELECT version FROM version WHERE subject = ? ORDER BY version",
                arguments: [subject]
            )
        }
    }

    /// The compatibility mode of `subject` (its own, else the default).
    public func compatibility(subject: String) throws(RegistryError) -> CompatibilityMode {
        try read { db in try self.mode(db, subject) }
    }

    /// Sets a subject's compatibility mode; recorded.
    public func setCompatibility(_ mode: CompatibilityMode, subject: String, principal: String) throws(RegistryError) {
        try Self.validateSubject(subject)
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO mode (subject, mode) VALUES (?, ?)",
                arguments: [subject, mode.rawValue]
            )
            try self.record(db, principal, "compatibility", subject, nil, mode.rawValue)
        }
    }

    /// Every recorded change, oldest first.
    public func changes() throws(RegistryError) -> [SchemaChange] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM change ORDER BY seq").map { row in
                SchemaChange(
                    time: row["time"],
                    principal: row["principal"],
                    action: row["action"],
                    subject: row["subject"],
                    version: row["version"],
                    detail: row["detail"]
                )
            }
        }
    }

    func mode(_ db: Database, _ subject: String) throws -> CompatibilityMode {
        guard let text = try String.fetchOne(db, sql: "SELECT mode FROM mode WHERE subject = ?", arguments: [subject])
        else {
            return Self.defaultMode
        }
        return CompatibilityMode(rawValue: text) ?? Self.defaultMode
    }

    func latest(_ db: Database, _ subject: String) throws -> RegisteredSchema? {
        try fetch(
            db,
            "v.subject = ? AND v.version = (SELECT MAX(version) FROM version WHERE subject = ?)",
            [subject, subject]
        )
    }

    func fetch(_ db: Database, _ condition: String, _ arguments: StatementArguments) throws -> RegisteredSchema? {
        guard
            // Cached (one statement per condition, all written here): every consume call asks.
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT s.id, v.subject, v.version, s.fingerprint, s.text FROM version v JOIN schema s ON s.id = v.schema_id
                        WHERE \(condition) ORDER BY v.version LIMIT 1
                        """
                ),
                arguments: arguments
            )
        else { return nil }
        return RegisteredSchema(
            id: row["id"],
            subject: row["subject"],
            version: row["version"],
            fingerprint: row["fingerprint"],
            schema: row["text"]
        )
    }

    func record(
        _ db: Database,
        _ principal: String,
        _ action: String,
        _ subject: String,
        _ version: Int?,
        _ detail: String
    ) throws {
        try db.execute(
            sql: "INSERT INTO change (time, principal, action, subject, version, detail) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [Int64(Date().timeIntervalSince1970 * 1000), principal, action, subject, version, detail]
        )
    }

    private func read<T>(_ body: (Database) throws -> T) throws(RegistryError) -> T {
        do { return try db.read(body) } catch let error as RegistryError { throw error } catch {
            throw RegistryError(.storage, "read failed")
        }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(RegistryError) -> T {
        do { return try db.write(body) } catch let error as RegistryError { throw error } catch {
            throw RegistryError(.storage, "write failed")
        }
    }
}
