import Crypto
import Foundation
import GRDB
import StrongroomCrypto
import StrongroomKeys
import StrongroomTestSupport
import Testing

/// A data directory whose key store reserves `reservation` seals at a time and allows `maxSeals`.
private func store(
    _ label: String,
    maxSeals: UInt64,
    maxAge: Int64? = nil,
    reservation: UInt64
) throws -> (URL, KeyStore) {
    let dir = TestSupport.scratchDirectory(label)
    try? FileManager.default.removeItem(at: dir)
    try KeyStore.initialize(dataDirectory: dir)
        .setUsageLimits(try DEKUsageLimits(maxSeals: maxSeals, maxAgeSeconds: maxAge))
    return (dir, try reopen(dir, reservation: reservation))
}

private func reopen(_ dir: URL, reservation: UInt64) throws -> KeyStore {
    try KeyStore.open(dataDirectory: dir, configuration: KeyStoreConfiguration(sealReservation: reservation))
}

/// Seals reserved per version, as the key store recorded them.
private func recorded(_ store: KeyStore) throws -> [UInt32: UInt64] {
    var out: [UInt32: UInt64] = [:]
    for family in try store.list() { for v in family.versions { out[v.version] = v.sealed } }
    return out
}

@Suite("Data-key usage limits: seals counted per version, rotation by count and by age")
struct DEKUsageLimitTests {
    @Test("a key version never makes more seals than the limit; every seal is reserved on disk first")
    func sealLimit() throws {
        let (_, keys) = try store("dek-count", maxSeals: 100, reservation: 10)
        let family = KeyFamily.topic("payments")
        var used: [UInt32: UInt64] = [:]
        var sealed: [(DataEncryptionKey, String)] = []
        let context = FieldContext(topic: "payments")
        for i in 0..<350 {
            let seals = i % 3 + 1
            let key = try keys.encryptionKey(for: family, seals: seals)
            used[key.reference.version, default: 0] += UInt64(seals)
            // The counted seals are real ones: every one opens later under its version.
            for _ in 0..<seals {
                sealed.append(
                    (key, try FieldCipher.seal(Array("\(i)".utf8), pointer: "/a", context: context, key: key))
                )
            }
        }
        let onDisk = try recorded(keys)
        #expect(used.keys.count >= 7)  // 700 seals, at most 100 per version
        for (version, count) in used {
            #expect(count <= 100, "v\(version) made \(count) seals")
            #expect(count <= onDisk[version] ?? 0, "v\(version): \(count) used, \(onDisk[version] ?? 0) reserved")
            #expect((onDisk[version] ?? 0) <= 100)
        }
        for (key, text) in sealed {
            guard case .key(let opener) = try keys.decryptionKey(key.reference) else {
                Issue.record("no key for \(key.reference)")
                continue
            }
            #expect(throws: Never.self) {
                try SealedField(parsing: text).open(pointer: "/a", context: context, key: opener)
            }
        }
    }

    @Test("the count survives a restart: a new process continues it and rotates when it would pass the limit")
    func restart() throws {
        let (dir, first) = try store("dek-restart", maxSeals: 100, reservation: 40)
        let family = KeyFamily.subject("CUST-1")
        let v1 = try first.encryptionKey(for: family, seals: 30)
        #expect(try recorded(first)[1] == 40)
        let second = try reopen(dir, reservation: 40)
        // 40 reserved + 40 more = 80: still v1.
        #expect(try second.encryptionKey(for: family, seals: 30).reference == v1.reference)
        let third = try reopen(dir, reservation: 40)
        // 80 + 40 would pass 100: the third process rotates before sealing.
        let v2 = try third.encryptionKey(for: family, seals: 1)
        #expect(v2.reference.version == 2 && v2.reference.id == v1.reference.id)
        #expect(try recorded(third) == [1: 80, 2: 40])
        // The subject's erasure still reaches every version.
        try third.erase(subject: "CUST-1")
        #expect(try recorded(third).isEmpty)
    }

    @Test("two processes sealing at once under one key: the reserved total bounds the seals of both")
    func concurrentProcesses() async throws {
        let (dir, _) = try store("dek-concurrent", maxSeals: 1000, reservation: 16)
        let family = KeyFamily.topic("shared")
        let counts = try await withThrowingTaskGroup(of: [UInt32: UInt64].self) { group in
            for _ in 0..<2 {
                let keys = try reopen(dir, reservation: 16)
                group.addTask {
                    var used: [UInt32: UInt64] = [:]
                    for _ in 0..<1500 { used[try keys.encryptionKey(for: family).reference.version, default: 0] += 1 }
                    return used
                }
            }
            var total: [UInt32: UInt64] = [:]
            for try await used in group { total.merge(used, uniquingKeysWith: +) }
            return total
        }
        let onDisk = try recorded(try reopen(dir, reservation: 16))
        #expect(counts.values.reduce(0, +) == 3000)
        #expect(counts.keys.count >= 3)
        for (version, count) in counts {
            #expect(count <= onDisk[version] ?? 0)
            #expect((onDisk[version] ?? 0) <= 1000)
        }
    }

    @Test("a batch's demand is reserved at once; a demand larger than the limit is refused")
    func batchDemand() throws {
        let (_, keys) = try store("dek-batch", maxSeals: 50, reservation: 4)
        let a = KeyFamily.subject("A")
        let b = KeyFamily.subject("B")
        let granted = try keys.encryptionKeys(for: [a: 30, b: 2])
        #expect(granted.count == 2)
        let onDisk = try keys.list().map { $0.versions.map(\.sealed) }.flatMap { $0 }.sorted()
        #expect(onDisk == [4, 30])
        // 30 reserved + 30 more would pass 50: A rotates; B keeps its key.
        let again = try keys.encryptionKeys(for: [a: 30, b: 2])
        #expect(again[a]?.reference.version == 2 && again[b]?.reference.version == 1)
        #expect(throws: KeyStoreError(.invalidArgument)) { try keys.encryptionKey(for: a, seals: 51) }
    }

    @Test("a version older than the age limit is replaced on its next use; it still decrypts")
    func ageLimit() throws {
        let (dir, keys) = try store("dek-age", maxSeals: 1 << 30, maxAge: 90 * 86_400, reservation: 1000)
        let family = KeyFamily.topic("loans")
        let v1 = try keys.encryptionKey(for: family)
        #expect(try keys.encryptionKey(for: family).reference == v1.reference)
        // Make v1 91 days old, as another process's clock would see it.
        let idData = Data(v1.reference.id.bytes)
        try DatabaseQueue(path: dir.appendingPathComponent("keys.sqlite").path).write { db in
            try db.execute(
                sql: "UPDATE dek SET created_at = created_at - ? WHERE key_id = ?",
                arguments: [91 * 86_400, idData]
            )
        }
        let restarted = try reopen(dir, reservation: 1000)
        let v2 = try restarted.encryptionKey(for: family)
        #expect(v2.reference.version == 2)
        // v1 still decrypts.
        guard case .key = try restarted.decryptionKey(v1.reference) else {
            Issue.record("v1 no longer decrypts")
            return
        }
    }

    @Test("limits are checked, kept in the key store, and reach every process")
    func settings() throws {
        #expect(throws: KeyStoreError(.invalidArgument)) { try DEKUsageLimits(maxSeals: (1 << 32) + 1) }
        #expect(throws: KeyStoreError(.invalidArgument)) { try DEKUsageLimits(maxSeals: 0) }
        #expect(throws: KeyStoreError(.invalidArgument)) { try DEKUsageLimits(maxAgeSeconds: 59) }
        let (dir, keys) = try store("dek-settings", maxSeals: 1 << 30, reservation: 8)
        #expect(try keys.usageLimits() == DEKUsageLimits())
        let other = try reopen(dir, reservation: 8)
        let before = try other.encryptionKey(for: .topic("t"))
        try keys.setUsageLimits(try DEKUsageLimits(maxSeals: 8))
        #expect(try other.usageLimits().maxSeals == 8)
        // The other process dropped its cached budget: its next seal counts against the new limit.
        _ = try other.encryptionKey(for: .topic("t"), seals: 1)
        #expect(try other.encryptionKey(for: .topic("t"), seals: 1).reference.version > before.reference.version)
        // A tampered setting that lifts the limit past the NIST bound stops encryption.
        try DatabaseQueue(path: dir.appendingPathComponent("keys.sqlite").path).write { db in
            try db.execute(
                sql: "UPDATE setting SET value = ? WHERE name = 'dek_max_seals'",
                arguments: [Int64(1) << 40]
            )
        }
        let fresh = try reopen(dir, reservation: 8)
        #expect(throws: KeyStoreError.self) { try fresh.encryptionKey(for: .topic("new")) }
    }
}

@Suite("Data-key usage limits and erasure")
struct DEKLimitErasureTests {
    @Test("a backup restored after erase, finalize and a KEK rotation: an erased subject past its limit stays erased")
    func rotationDoesNotResurrect() throws {
        let (dir, store) = try store("dek-resurrect", maxSeals: 10, reservation: 10)
        let erased = try store.encryptionKey(for: .subject("CUST-GONE"), seals: 10)
        let kept = try store.encryptionKey(for: .subject("CUST-KEPT"), seals: 10)
        let backup = TestSupport.scratchDirectory("dek-resurrect-backup").appendingPathComponent("keys.sqlite")
        try? FileManager.default.removeItem(at: backup)
        try store.backup(to: backup)
        try store.erase(subject: "CUST-GONE")
        _ = try store.finalize()
        // A new KEK version: its root was never punctured, so only the old row can say "erased".
        _ = try store.rotateKEK()
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: store.databaseURL.path + suffix)
        }
        try FileManager.default.copyItem(at: backup, to: store.databaseURL)
        let restored = try reopen(dir, reservation: 10)
        // Both keys are at their limit: the next seal needs a new version. The erased subject gets none.
        #expect(throws: KeyStoreError(.subjectErased)) { try restored.encryptionKey(for: .subject("CUST-GONE")) }
        #expect(try restored.encryptionKeys(for: [.subject("CUST-GONE"): 1]).isEmpty)
        let next = try restored.encryptionKey(for: .subject("CUST-KEPT"))
        #expect(next.reference.id == kept.reference.id && next.reference.version == 2)
        #expect(try recorded(restored)[2] == 10)
        _ = erased
    }
}
