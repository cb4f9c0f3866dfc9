import Foundation
import GRDB
import StrongroomCrypto

#if canImport(Glibc)
import Glibc
#endif

/// What ``KeyStore/migrateKEK(dataDirectory:to:progress:)`` did.
public struct KEKMigrationReport: Sendable, Encodable {
    /// The provider the KEKs now live in.
    public var provider: String
    /// Data keys rewrapped.
    public var rewrapped: Int
}

extension KeyStore {
    /// `kek.json` while a migration writes it, before the key database says it committed.
    static let migratingSuffix = ".migrating"

    /// Moves a data directory's KEKs from its local keyring to an HSM or KMS.
    ///
    /// Every data key is unwrapped with the keyring and wrapped by the new provider, all rows
    /// in one transaction that also records the migration; only then does the new `kek.json`
    /// take its name and the keyring file get deleted. Family ids (and so every key id, lookup
    /// hash and record key) stay the same: the new key tree keeps the keyring's family-hash key.
    /// Interrupted at any point, the directory refuses to open until the command is run again,
    /// which finishes a committed migration or starts an uncommitted one over. Writers must be
    /// stopped meanwhile.
    public static func migrateKEK(
        dataDirectory: URL,
        to reference: String,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws(KeyStoreError) -> KEKMigrationReport {
        let keyringURL = dataDirectory.appendingPathComponent(keyringFileName)
        let envelopeURL = dataDirectory.appendingPathComponent(EnvelopeKeyring.fileName)
        let migratingURL = URL(fileURLWithPath: envelopeURL.path + migratingSuffix)
        // A provider file without a keyring beside it: nothing left to move.
        guard
            !FileManager.default.fileExists(atPath: envelopeURL.path)
                || FileManager.default.fileExists(atPath: keyringURL.path)
        else {
            throw KeyStoreError(.keyringExists, "\(envelopeURL.path): the KEKs are already in a provider")
        }
        let keyring = try LocalKeyring(url: keyringURL)
        let store = try KeyStore(directory: dataDirectory, provider: keyring)
        try store.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS kek_migration (provider TEXT NOT NULL)")
        }
        let committed = try store.read { db in try String.fetchOne(db, sql: "SELECT provider FROM kek_migration") }
        if let committed {
            // The rows were rewrapped; only the file names remain to be switched.
            try finishMigration(store, migratingURL, envelopeURL, keyringURL)
            return KEKMigrationReport(provider: committed, rewrapped: 0)
        }
        guard !FileManager.default.fileExists(atPath: envelopeURL.path) else {
            throw KeyStoreError(
                .invalidArgument,
                "\(dataDirectory.path) has both \(keyringFileName) and \(EnvelopeKeyring.fileName) and no migration on record"
            )
        }
        // An earlier attempt that never committed: its provider file is dropped and made again.
        try? FileManager.default.removeItem(at: migratingURL)
        let service = try RootKeyServices.service(for: reference)
        let target = try EnvelopeKeyring.create(at: migratingURL, service: service, familyKey: keyring.familyKey)
        let rows: [(Data, Int, Int, Data)] = try store.read { db in
            try Row.fetchAll(db, sql: "SELECT key_id, version, kek_version, wrapped FROM dek WHERE length(wrapped) > 0")
                .map { ($0["key_id"], $0["version"], $0["kek_version"], $0["wrapped"]) }
        }
        var rewrapped: [(Data, Int, WrappedKey)] = []
        rewrapped.reserveCapacity(rows.count)
        for (i, row) in rows.enumerated() {
            guard let id = KeyID(bytes: Array(row.0)) else { throw KeyStoreError(.storage, "bad key id") }
            let key = try store.unwrapRaw(Array(row.3), kekVersion: UInt32(row.2), family: id)
            do { rewrapped.append((row.0, row.1, try target.wrap(key, family: id))) } catch let error as KeyStoreError {
                throw error
            } catch {
                throw KeyStoreError(.providerUnavailable, "wrap: \(error)")
            }
            if (i + 1) % 1000 == 0 { progress(i + 1, rows.count) }
        }
        try store.write { db in
            for (id, version, wrapped) in rewrapped {
                try db.execute(
                    sql: "UPDATE dek SET kek_version = ?, wrapped = ? WHERE key_id = ? AND version = ?",
                    arguments: [Int(wrapped.kekVersion), Data(wrapped.bytes), id, version]
                )
            }
            try db.execute(sql: "INSERT INTO kek_migration (provider) VALUES (?)", arguments: [service.reference])
        }
        progress(rows.count, rows.count)
        try finishMigration(store, migratingURL, envelopeURL, keyringURL)
        return KEKMigrationReport(provider: service.reference, rewrapped: rewrapped.count)
    }

    /// `kek.json.migrating` becomes `kek.json`, the keyring file goes, the record of the migration too.
    private static func finishMigration(
        _ store: KeyStore,
        _ migrating: URL,
        _ envelope: URL,
        _ keyring: URL
    ) throws(KeyStoreError) {
        if FileManager.default.fileExists(atPath: migrating.path) {
            guard rename(migrating.path, envelope.path) == 0 else {
                throw KeyStoreError(.storage, "cannot rename \(migrating.path) to \(envelope.path)")
            }
        }
        try syncFolder(envelope)
        if unlink(keyring.path) != 0 && errno != ENOENT {
            throw KeyStoreError(.storage, "cannot delete \(keyring.path)")
        }
        try syncFolder(envelope)
        try store.write { db in try db.execute(sql: "DELETE FROM kek_migration") }
        store.generation.bump()
    }

    private static func syncFolder(_ file: URL) throws(KeyStoreError) {
        let dir = Glibc.open(file.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if dir >= 0 { close(dir) } }
        guard dir >= 0, fsync(dir) == 0 else {
            throw KeyStoreError(.storage, "cannot sync \(file.deletingLastPathComponent().path)")
        }
    }
}
