import Crypto
import Foundation
import GRDB
import StrongroomCrypto
import StrongroomTestSupport
import Synchronization
import Testing

@testable import StrongroomKeys

#if canImport(Glibc)
import Glibc
#endif

private func fresh() throws -> (URL, KeyStore) {
    let dir = TestSupport.scratchDirectory("keys")
    try? FileManager.default.removeItem(at: dir)
    return (dir, try KeyStore.initialize(dataDirectory: dir))
}

private func key(_ lookup: KeyLookup) -> DataEncryptionKey? {
    if case .key(let k) = lookup { k } else { nil }
}

private func isErased(_ lookup: KeyLookup) -> Bool {
    if case .erased = lookup { true } else { false }
}

@Suite("Local keyring")
struct LocalKeyringTests {
    @Test("key-tree node names keep every hex digit (an erased id starting 0 or 00), and old names still read")
    func nodeNamesKeepLeadingZeros() throws {
        let (dir, store) = try fresh()
        // Subject key ids are random pseudonyms: draw a pool and pick by prefix.
        let pool = try store.encryptionKeys(for: (0..<4096).map { KeyFamily.subject("S-\($0)") })
            .map { (name: $0.key.name, key: $0.value, hex: $0.value.reference.id.description) }
            .sorted { $0.name < $1.name }
        let zero = try #require(pool.first { $0.hex.hasPrefix("0") && !$0.hex.hasPrefix("00") })
        let doubleZero = try #require(pool.first { $0.hex.hasPrefix("00") })
        // Survivors whose keys sit under the punctured nodes' zero-prefixed siblings ("2:0x", "3:00x"):
        // those are the names an old keyring wrote without their leading zeros.
        let underZero = try #require(
            pool.first { $0.hex.hasPrefix("0") && !$0.hex.hasPrefix("00") && $0.hex.prefix(2) != zero.hex.prefix(2) }
        )
        let underDoubleZero = try #require(
            pool.first { $0.hex.hasPrefix("00") && $0.hex.prefix(3) != doubleZero.hex.prefix(3) }
        )
        let other = try #require(pool.first { !$0.hex.hasPrefix("0") })
        let survivors = [other.key, underZero.key, underDoubleZero.key]
        let zeroName = zero.name
        let doubleZeroName = doubleZero.name
        _ = try store.erase(subject: zeroName)
        _ = try store.erase(subject: doubleZeroName)
        _ = try store.finalize()

        let url = dir.appendingPathComponent(KeyStore.keyringFileName)
        func nodeNames() throws -> [String] {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
            let versions = json?["versions"] as? [[String: Any]] ?? []
            return versions.flatMap { ($0["nodes"] as? [String: Any] ?? [:]).keys }
        }
        let names = try nodeNames()
        #expect(!names.isEmpty)
        for name in names {
            let parts = name.split(separator: ":")
            #expect(parts.count == 2 && Int(parts[0]) == parts[1].count, "\(name)")
        }
        #expect(names.contains { $0.hasPrefix("2:0") } && names.contains { $0.hasPrefix("3:00") })

        func survivorsOpen() throws {
            let reopened = try KeyStore.open(dataDirectory: dir)
            for survivor in survivors { #expect(key(try reopened.decryptionKey(survivor.reference)) == survivor) }
        }
        try survivorsOpen()
        // A keyring written the old way (leading zeros dropped: "2:5" for prefix 05) still reads.
        var text = try String(contentsOf: url, encoding: .utf8)
        let legacy = try NSRegularExpression(pattern: #""([0-9]+):0+([0-9a-f])"#)
        text = legacy.stringByReplacingMatches(
            in: text,
            range: NSRange(text.startIndex..., in: text),
            withTemplate: #""$1:$2"#
        )
        try Data(text.utf8).write(to: url)
        chmod(url.path, 0o600)
        #expect(try nodeNames().contains { $0.hasPrefix("2:") && $0.split(separator: ":")[1].count < 2 })
        try survivorsOpen()
    }

    @Test("the key store's writer commits with synchronous = FULL: GRDB's WAL setup does not leave it at NORMAL")
    func writerDurability() throws {
        let store = try KeyStore.initialize(dataDirectory: TestSupport.scratchDirectory("keys-sync"))
        let setting = try store.db.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
        #expect(setting == 2)
    }

    @Test("no connection to the key store spills key pages to a temporary file: temp_store = MEMORY")
    func statementJournalsInMemory() throws {
        let store = try KeyStore.initialize(dataDirectory: TestSupport.scratchDirectory("keys-temp"))
        _ = try store.encryptionKey(for: .subject("c-1"))
        let writer = try store.db.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA temp_store") }
        let reader = try store.db.read { try Int.fetchOne($0, sql: "PRAGMA temp_store") }
        #expect(writer == 2 && reader == 2)
    }

    @Test("refuses a keyring group or others can read, as ssh does")
    func permissions() throws {
        let (dir, _) = try fresh()
        let path = dir.appendingPathComponent(KeyStore.keyringFileName).path
        var info = stat()
        stat(path, &info)
        #expect(info.st_mode & 0o777 == 0o600)
        for mode: mode_t in [0o640, 0o604, 0o660] {
            chmod(path, mode)
            #expect(throws: KeyStoreError(.keyringPermissions)) { try KeyStore.open(dataDirectory: dir) }
        }
        chmod(path, 0o600)
        #expect(throws: Never.self) { try KeyStore.open(dataDirectory: dir) }
    }

    @Test("missing, corrupt, or overwritten keyrings are clear errors")
    func badKeyrings() throws {
        let dir = TestSupport.scratchDirectory("keys")
        #expect(throws: KeyStoreError(.keyringMissing)) { try KeyStore.open(dataDirectory: dir) }
        try KeyStore.initialize(dataDirectory: dir)
        #expect(throws: KeyStoreError(.keyringExists)) { try KeyStore.initialize(dataDirectory: dir) }
        let path = dir.appendingPathComponent(KeyStore.keyringFileName)
        try Data("{\"format\":\"nope\"}".utf8).write(to: path)
        chmod(path.path, 0o600)
        #expect(throws: KeyStoreError(.keyringCorrupt)) { try KeyStore.open(dataDirectory: dir) }
    }

    @Test("puncturing one family leaves every other family's wrap unwrappable, and that one not")
    func puncture() throws {
        let dir = TestSupport.scratchDirectory("keyring")
        let ring = try LocalKeyring.create(at: dir.appendingPathComponent("keyring.json"))
        let families = try (0..<64).map { try ring.familyID(for: Array("family-\($0)".utf8)) }
        let dek = SymmetricKey(size: .bits256)
        let wrapped = try families.map { try ring.wrap(dek, family: $0) }
        try ring.puncture([families[7], families[40]])
        for (i, family) in families.enumerated() {
            let unwrapped = try? ring.unwrap(wrapped[i], family: family)
            if i == 7 || i == 40 { #expect(unwrapped == nil) } else { #expect(unwrapped == dek, "family \(i)") }
        }
        // A wrap under one family's leaf does not open under another's.
        #expect(throws: KeyStoreError.self) { try ring.unwrap(wrapped[1], family: families[2]) }
        // The puncture is on disk: a fresh reader sees it.
        let reread = try LocalKeyring(url: ring.url)
        #expect((try? reread.unwrap(wrapped[7], family: families[7])) == nil)
        #expect(try reread.unwrap(wrapped[8], family: families[8]) == dek)
        #expect(try reread.versions().first?.puncturedFamilies == 2)
    }

    @Test(
        "a family's wrapping key is the tree leaf Python's hmac derives (16 steps, or none from a node a puncture left)"
    )
    func leafVector() throws {
        // Root 00 01 … 1f; leaf = HMAC(… HMAC(root, [0]) …, [f]) over the family's 16 high hex
        // digits, then HMAC(node, "strongroom/kek-leaf/v1"); AES-KW(leaf, 42×32) from `cryptography`.
        let url = TestSupport.scratchDirectory("keyring").appendingPathComponent("keyring.json")
        let file = """
            {"activeVersion":1,"familyKey":[\((0..<32).map { _ in "17" }.joined(separator: ","))],\
            "format":"strongroom-keyring/1","versions":[{"createdAt":0,"nodes":{},"punctures":0,\
            "root":[\((0..<32).map(String.init).joined(separator: ","))],"state":"active","version":1}]}
            """
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(fd >= 0)
        _ = file.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        let ring = try LocalKeyring(url: url)
        let family = KeyID(high: 0x0123_4567_89ab_cdef, low: 7)
        let dek = SymmetricKey(data: [UInt8](repeating: 0x42, count: 32))
        let expected = TestSupport.hex(
            "a2f4ae9cde0da3276280485ef7f2cb12c66b1dada60bd90929846868c3e06bf15e147765d54f2751"
        )
        #expect(try ring.wrap(dek, family: family).bytes == expected)
        // Its neighbour punctured: this leaf now comes from a depth-16 sibling node, zero steps down.
        try ring.puncture([KeyID(high: 0x0123_4567_89ab_cdee, low: 7)])
        #expect(try ring.wrap(dek, family: family).bytes == expected)
        #expect(try ring.unwrap(WrappedKey(kekVersion: 1, bytes: expected), family: family) == dek)
        try ring.puncture([family])
        #expect(throws: KeyStoreError.self) { try ring.wrap(dek, family: family) }
    }
}

@Suite("Key store")
struct KeyStoreTests {
    @Test(
        "work overlapping the new keys' commit gets the decided keys, returns only once they are stored, runs here when nothing is new"
    )
    func workWhileCommitting() throws {
        let (dir, store) = try fresh()
        _ = try store.erase(subject: "GONE")
        let families = (0..<50).map { KeyFamily.subject("W-\($0)") } + [KeyFamily.subject("GONE")]
        let seals = Array(repeating: 1, count: families.count)
        let caller = pthread_self()
        let (given, elsewhere) = try store.withEncryptionKeys(for: families, seals: seals, threads: 2) { keys in
            (keys.map { $0?.reference }, pthread_equal(pthread_self(), caller) == 0)
        }
        #expect(elsewhere, "new keys: the work ran while the transaction committed, on another thread")
        #expect(given.count == families.count && given.last! == nil, "an erased subject gets no key")
        // Stored by the time the work's result came back: another store reads every key.
        let other = try KeyStore.open(dataDirectory: dir)
        for reference in given.dropLast() {
            let reference = try #require(reference)
            #expect(try key(other.decryptionKey(reference)) != nil)
        }
        // The same keys on the next call; nothing new, so the work runs on this thread.
        let (again, movedOff) = try store.withEncryptionKeys(for: families, seals: seals, threads: 2) { keys in
            (keys.map { $0?.reference }, pthread_equal(pthread_self(), caller) == 0)
        }
        #expect(again == given && !movedOff)
        // A refused request runs no work.
        let ran = Mutex(false)
        #expect(throws: KeyStoreError.self) {
            try store.withEncryptionKeys(for: families, seals: [1], threads: 2) { _ in ran.withLock { $0 = true } }
        }
        #expect(!ran.withLock { $0 })
    }

    @Test("keys made and unwrapped on two cores at once are the keys one core gives, in order; erased stays out")
    func keysOnSeveralCores() throws {
        let (dir, store) = try fresh()
        let old = (0..<40).map { KeyFamily.subject("OLD-\($0)") }
        let first = try store.encryptionKeys(for: old, seals: Array(repeating: 1, count: old.count), threads: 1)
        _ = try store.erase(subject: "OLD-3")
        _ = try store.finalize()
        // Cached keys would hide the unwrapping: every old key is read back from the database.
        store.clearCache()
        let new = (0..<40).map { KeyFamily.subject("NEW-\($0)") }
        // Interleaved, so each core gets old and new families.
        let asked = zip(old, new).flatMap { [$0, $1] }
        let got = try store.encryptionKeys(for: asked, seals: Array(repeating: 2, count: asked.count), threads: 2)
        #expect(got.count == asked.count)
        var made: [DataEncryptionKey] = []
        for (i, family) in asked.enumerated() {
            if i % 2 == 0 {
                let n = i / 2
                if n == 3 {
                    #expect(got[i] == nil, "an erased subject gets no key")
                } else {
                    #expect(got[i] == first[n], "OLD-\(n) keeps its key")
                }
            } else {
                let key = try #require(got[i], "\(family) gets a key")
                #expect(key.reference.scope == .subject && key.reference.version == 1)
                made.append(key)
            }
        }
        #expect(Set(made.map(\.reference.id)).count == new.count, "one fresh pseudonym per new subject")
        #expect(!made.contains { m in first.contains { $0?.reference.id == m.reference.id } })
        // On disk before they were handed out: another store on the directory unwraps each one.
        let other = try KeyStore.open(dataDirectory: dir)
        for fresh in made { #expect(try key(other.decryptionKey(fresh.reference)) == fresh) }
        // Asked again on two cores: the same keys (cached or not).
        store.clearCache()
        let again = try store.encryptionKeys(for: new, seals: Array(repeating: 1, count: new.count), threads: 2)
        #expect(again.map { $0?.reference } == made.map(\.reference))
    }

    @Test("keys are created once, stored only wrapped, and survive a restart")
    func persistence() throws {
        let (dir, store) = try fresh()
        let a = try store.encryptionKey(for: .subject("CUST-1"))
        let b = try store.encryptionKey(for: .subject("CUST-1"))
        let t = try store.encryptionKey(for: .topic("loan_applications"))
        #expect(a == b)
        #expect(a.reference.scope == .subject && t.reference.scope == .topic)
        #expect(a.reference.id != t.reference.id)
        let reopened = try KeyStore.open(dataDirectory: dir)
        #expect(key(try reopened.decryptionKey(a.reference)) == a)
        #expect(try reopened.encryptionKey(for: .subject("CUST-1")) == a)
        // Neither the subject id nor the raw key is in the database file.
        let raw =
            try Data(contentsOf: store.databaseURL)
            + ((try? Data(contentsOf: URL(fileURLWithPath: store.databaseURL.path + "-wal"))) ?? Data())
        #expect(raw.range(of: Data("CUST-1".utf8)) == nil)
        #expect(raw.range(of: Data(a.key.withUnsafeBytes { Array($0) })) == nil)
        // Tenants separate families.
        #expect(try store.encryptionKey(for: .subject("CUST-1", tenant: "other")).reference.id != a.reference.id)
    }

    @Test("rotation adds an encrypting version; old versions decrypt until retired")
    func rotation() throws {
        let (_, store) = try fresh()
        let family = KeyFamily.topic("loan_applications")
        let v1 = try store.encryptionKey(for: family)
        let v2ref = try store.rotate(family)
        #expect(v2ref.version == 2)
        let v2 = try store.encryptionKey(for: family)
        #expect(v2.reference == v2ref && v2 != v1)
        #expect(key(try store.decryptionKey(v1.reference)) == v1)
        #expect(throws: KeyStoreError(.invalidArgument)) { try store.retire(family, version: 2) }
        try store.retire(family, version: 1)
        #expect(throws: KeyStoreError(.keyRetired)) { try store.decryptionKey(v1.reference) }
        #expect(key(try store.decryptionKey(v2.reference)) == v2)
        #expect(throws: KeyStoreError(.unknownKey)) { try store.rotate(.topic("never-used")) }
    }

    @Test("KEK rotation rewraps every key; the old KEK can then be destroyed")
    func kekRotation() throws {
        let (dir, store) = try fresh()
        let keys = try (0..<50).map { try store.encryptionKey(for: .subject("S\($0)")) }
        #expect(throws: KeyStoreError(.invalidArgument)) { try store.destroyKEK(version: 1) }
        let report = try store.rotateKEK()
        #expect(report.newVersion == 2 && report.rewrapped == 50)
        #expect(try store.list().allSatisfy { $0.versions.allSatisfy { $0.kekVersion == 2 } })
        try store.destroyKEK(version: 1)
        let reopened = try KeyStore.open(dataDirectory: dir)
        for k in keys { #expect(key(try reopened.decryptionKey(k.reference)) == k) }
    }

    @Test("erasure is immediate, idempotent, survives restart, and refuses new keys for the subject")
    func erasure() throws {
        let (dir, store) = try fresh()
        let gone = try store.encryptionKey(for: .subject("CUST-ERASE"))
        let kept = try store.encryptionKey(for: .subject("CUST-KEEP"))
        _ = try store.rotate(.subject("CUST-ERASE"))
        let active = try store.encryptionKey(for: .subject("CUST-ERASE"))
        let receipt = try store.erase(subject: "CUST-ERASE")
        #expect(receipt.versionsDeleted == 2 && !receipt.alreadyErased)
        // The cached keys' cipher contexts and subkeys are freed at once, in every copy held.
        #expect(active.isDiscarded && !kept.isDiscarded)
        #expect(throws: CipherError(.invalidKey)) {
            try FieldCipher.seal(Array("1".utf8), pointer: "/a", context: FieldContext(topic: "t"), key: active)
        }
        #expect(receipt.keyID == gone.reference.id.description)
        #expect(isErased(try store.decryptionKey(gone.reference)))
        #expect(throws: KeyStoreError(.subjectErased)) { try store.encryptionKey(for: .subject("CUST-ERASE")) }
        #expect(try store.erase(subject: "CUST-ERASE").alreadyErased)
        let reopened = try KeyStore.open(dataDirectory: dir)
        #expect(isErased(try reopened.decryptionKey(gone.reference)))
        #expect(key(try reopened.decryptionKey(kept.reference)) == kept)
        #expect(try reopened.isErased(subject: "CUST-ERASE"))
        // Nothing in the store joins the subject to its pseudonym any more: the key id its
        // records carry is known only as erased, and the subject only as refused.
        #expect(try reopened.pseudonym(ofSubject: "CUST-ERASE") == nil)
        #expect(try reopened.pseudonym(ofSubject: "CUST-KEEP") == kept.reference.id.description)
        let links = try DatabaseQueue(path: store.databaseURL.path).read { db in
            try Data.fetchAll(db, sql: "SELECT key_id FROM subject")
        }
        #expect(links == [Data(kept.reference.id.bytes)])
        // A subject never seen gets a fresh random pseudonym; an erased one gets none.
        #expect(try store.erase(subject: "CUST-NEVER").keyID.isEmpty)
        #expect(throws: KeyStoreError(.subjectErased)) { try store.encryptionKey(for: .subject("CUST-NEVER")) }
        // The store's bytes hold no copy of the erased wrapped key's plaintext.
        let raw = try Data(contentsOf: store.databaseURL)
        #expect(raw.range(of: Data(gone.key.withUnsafeBytes { Array($0) })) == nil)
    }

    @Test("a second store on the same directory with a warm cache sees the erasure at once")
    func crossInstanceInvalidation() throws {
        let (dir, writer) = try fresh()
        let reader = try KeyStore.open(dataDirectory: dir)
        let k = try writer.encryptionKey(for: .subject("CUST-X"))
        #expect(key(try reader.decryptionKey(k.reference)) == k)
        #expect(key(try reader.decryptionKey(k.reference)) == k)
        try writer.erase(subject: "CUST-X")
        #expect(isErased(try reader.decryptionKey(k.reference)))
    }

    @Test("a backup taken before the erasure, restored after finalize, opens every subject but the erased one")
    func backupAfterFinalize() throws {
        let (dir, store) = try fresh()
        let subjects = (0..<40).map { "CUST-\($0)" }
        let keys = try subjects.map { try store.encryptionKey(for: .subject($0)) }
        let topic = try store.encryptionKey(for: .topic("loan_applications"))
        let backup = TestSupport.scratchDirectory("backup").appendingPathComponent("keys.sqlite")
        try store.backup(to: backup)

        try store.erase(subject: "CUST-13")
        let report = try store.finalize()
        #expect(report.finalized == [keys[13].reference.id.description])
        #expect(report.kekVersions == [1])

        // Restore: replace the store's database with the backup; the keyring is the live one.
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: store.databaseURL.path + suffix)
        }
        try FileManager.default.copyItem(at: backup, to: store.databaseURL)
        let restored = try KeyStore.open(dataDirectory: dir)
        for (i, k) in keys.enumerated() {
            if i == 13 {
                // Reads as erased (not as a broken key store), and takes no new data.
                #expect(isErased(try restored.decryptionKey(k.reference)))
                #expect(throws: KeyStoreError(.subjectErased)) { try restored.encryptionKey(for: .subject("CUST-13")) }
            } else {
                #expect(key(try restored.decryptionKey(k.reference)) == k, "CUST-\(i)")
            }
        }
        #expect(key(try restored.decryptionKey(topic.reference)) == topic)
    }

    @Test("concurrent encrypt, decrypt and erase from many tasks stay consistent")
    func concurrency() async throws {
        let (_, store) = try fresh()
        let subjects = (0..<200).map { "CUST-\($0)" }
        let erased = Set(subjects.filter { $0.hasSuffix("7") })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for round in 0..<3 {
                        for (i, s) in subjects.enumerated() where (i + worker + round) % 3 == 0 {
                            guard let k = try? store.encryptionKey(for: .subject(s)) else {
                                #expect(erased.contains(s))
                                continue
                            }
                            let sealed = try FieldCipher.seal(
                                Array("\"v\"".utf8),
                                pointer: "/f",
                                context: FieldContext(topic: "t", subjectKey: k.reference.id),
                                key: k
                            )
                            switch try store.decryptionKey(k.reference) {
                            case .key(let again):
                                let opened = try SealedField(parsing: sealed).open(
                                    pointer: "/f",
                                    context: FieldContext(topic: "t", subjectKey: k.reference.id),
                                    key: again
                                )
                                #expect(opened == Array("\"v\"".utf8))
                            case .erased:
                                #expect(erased.contains(s))
                            }
                        }
                    }
                }
            }
            group.addTask {
                for s in erased.sorted() { try store.erase(subject: s) }
            }
            try await group.waitForAll()
        }
        for s in subjects {
            #expect(try store.isErased(subject: s) == erased.contains(s))
        }
    }

    @Test("the cache is bounded and honours its TTL")
    func cacheBounds() throws {
        let dir = TestSupport.scratchDirectory("keys")
        try KeyStore.initialize(dataDirectory: dir)
        let store = try KeyStore.open(
            dataDirectory: dir,
            configuration: KeyStoreConfiguration(cacheCapacity: 16, cacheTTL: .milliseconds(1))
        )
        let keys = try (0..<100).map { try store.encryptionKey(for: .subject("S\($0)")) }
        #expect(store.cachedKeyCount <= 16)
        Thread.sleep(forTimeInterval: 0.01)
        for k in keys.prefix(10) { #expect(key(try store.decryptionKey(k.reference)) == k) }
    }
}

@Suite("Key store format")
struct KeyStoreFormatTests {
    /// Turns a closed store back into format 3: `subject` with its `UNIQUE (key_id)` index.
    private func downgradeToFormat3(_ dir: URL) throws {
        let queue = try DatabaseQueue(path: dir.appendingPathComponent(KeyStore.databaseFileName).path)
        try queue.write { db in
            let journaled = try db.tableExists("replication_journal")
            try db.execute(
                sql: """
                    CREATE TABLE subject_v3 (lookup BLOB PRIMARY KEY, key_id BLOB NOT NULL UNIQUE) WITHOUT ROWID;
                    INSERT INTO subject_v3 SELECT lookup, key_id FROM subject;
                    DROP TABLE subject;
                    ALTER TABLE subject_v3 RENAME TO subject;
                    PRAGMA user_version = 3;
                    """
            )
            if journaled { try db.execute(sql: KeyStore.subjectTriggersSQL) }
        }
    }

    private func subjectIndexes(_ store: KeyStore) throws -> [String] {
        try store.db.read { db in
            try Row.fetchAll(db, sql: "PRAGMA index_list(subject)").map {
                "\($0["name"] as String)/\($0["origin"] as String)"
            }
        }
    }

    private func journal(_ store: KeyStore, kind: String) throws -> Int {
        try store.db.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM replication_journal WHERE kind = ?", arguments: [kind]) ?? 0
        }
    }

    @Test("a format-3 store opens as format 4: every link and key kept, the key-id index gone, the journal still fed")
    func format3Upgrades() throws {
        let dir = TestSupport.scratchDirectory("keys-format3")
        try? FileManager.default.removeItem(at: dir)
        var before: [String: DataEncryptionKey] = [:]
        do {
            let store = try KeyStore.initialize(dataDirectory: dir)
            for subject in ["c-1", "c-2", "c-3"] { before[subject] = try store.encryptionKey(for: .subject(subject)) }
            try store.startReplicationJournal()
        }
        try downgradeToFormat3(dir)
        let store = try KeyStore.open(dataDirectory: dir)
        let version = try store.db.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
        #expect(version == 4)
        let indexes = try subjectIndexes(store)
        #expect(indexes.allSatisfy { !$0.hasSuffix("/u") }, "\(indexes)")
        for (subject, made) in before {
            #expect(try store.encryptionKey(for: .subject(subject)).reference == made.reference, "\(subject)")
            #expect(try key(store.decryptionKey(made.reference)) == made)
        }
        // The journal's triggers on the rebuilt table: a new link and an erasure are recorded.
        let links = try journal(store, kind: "s")
        _ = try store.encryptionKey(for: .subject("c-4"))
        _ = try store.erase(subject: "c-1")
        #expect(try journal(store, kind: "s") == links + 2)
        #expect(isErased(try store.decryptionKey(before["c-1"]!.reference)))
        // Opening again changes nothing.
        let again = try KeyStore.open(dataDirectory: dir)
        #expect(try again.encryptionKey(for: .subject("c-2")).reference == before["c-2"]!.reference)
    }

    @Test("a store of a later format is refused untouched, with no advice to re-create it")
    func laterFormatRefused() throws {
        let dir = TestSupport.scratchDirectory("keys-format5")
        try? FileManager.default.removeItem(at: dir)
        do { _ = try KeyStore.initialize(dataDirectory: dir).encryptionKey(for: .subject("c-1")) }
        let path = dir.appendingPathComponent(KeyStore.databaseFileName).path
        // A later build that dropped a table this build would create.
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "DROP TABLE setting; PRAGMA user_version = 5")
        }
        do {
            _ = try KeyStore.open(dataDirectory: dir)
            Issue.record("a format-5 store opened")
        } catch {
            #expect(error.code == .storage)
            #expect(error.description.contains("format 5"), "\(error)")
            #expect(!error.description.contains("re-create"), "\(error)")
        }
        let (version, setting, subjects) = try DatabaseQueue(path: path).read { db in
            (
                try Int.fetchOne(db, sql: "PRAGMA user_version"), try db.tableExists("setting"),
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subject")
            )
        }
        #expect(version == 5)
        #expect(!setting)
        #expect(subjects == 1)
    }

    @Test("a primary keeps no index of subjects by key id; a standby makes one, and a tombstone removes the link")
    func standbyIndex() throws {
        let (primaryDir, primary) = try fresh()
        let standbyDir = TestSupport.scratchDirectory("keys-standby-index")
        try? FileManager.default.removeItem(at: standbyDir)
        try FileManager.default.createDirectory(at: standbyDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: primaryDir.appendingPathComponent(KeyStore.keyringFileName),
            to: standbyDir.appendingPathComponent(KeyStore.keyringFileName)
        )
        let standby = try KeyStore.open(dataDirectory: standbyDir)
        try primary.startReplicationJournal()
        let made = try primary.encryptionKey(for: .subject("c-9"))
        var links: [KeyMetadataRecord] = []
        try primary.publishChanges { links += $0 }
        try standby.applyReplicated(links)
        #expect(try subjectIndexes(primary).isEmpty == false)
        #expect(try !subjectIndexes(primary).contains { $0.hasPrefix("subject_key/") })
        #expect(try subjectIndexes(standby).contains("subject_key/c"))
        #expect(try standby.pseudonym(ofSubject: "c-9") == made.reference.id.description)
        // A second subject linked to the same pseudonym is refused there, and nothing of it applied.
        let twice = KeyMetadataRecord(
            key: Array("s/\(String(repeating: "ab", count: 16))".utf8),
            value: Array(#"{"keyID":"\#(made.reference.id.description)"}"#.utf8)
        )
        #expect(throws: KeyStoreError.self) { try standby.applyReplicated([twice]) }
        let linked = try standby.db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM subject") }
        #expect(linked == 1)
        // A tombstone alone (the link's own deletion not received) still unlinks the subject there.
        let tombstone = KeyMetadataRecord(
            key: Array("t/\(made.reference.id.description)".utf8),
            value: Array(#"{"erased":1700000000}"#.utf8)
        )
        let wal = standbyDir.appendingPathComponent(KeyStore.databaseFileName + "-wal").path
        #expect(try walSize(wal) > 0)
        try standby.applyReplicated([tombstone])
        // The erased family's wrapped bytes do not stay behind in WAL frames.
        #expect(try walSize(wal) == 0)
        #expect(try standby.pseudonym(ofSubject: "c-9") == nil)
        #expect(isErased(try standby.decryptionKey(made.reference)))
    }

    private func walSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
    }
}

@Suite("Key cache deadlines")
struct DeadlineTests {
    @Test("cache deadlines: a duration moves them exactly, a negative one not at all, a huge one to never")
    func deadlines() {
        let start = Deadline(nanoseconds: 5)
        #expect((start + .milliseconds(1500)).nanoseconds == 1_500_000_005)
        #expect((start + .nanoseconds(7)).nanoseconds == 12)
        #expect(start + .seconds(-1) == start)
        #expect((start + .seconds(Int64.max)).nanoseconds == .max)
        #expect((Deadline(nanoseconds: .max - 1) + .nanoseconds(2)).nanoseconds == .max)
        let now = Deadline.now
        #expect(now < now + .nanoseconds(1) && Deadline.now >= now)
    }
}
