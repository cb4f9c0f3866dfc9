import Crypto
import Foundation
import StrongroomCrypto
import StrongroomKeys
import StrongroomTestSupport
import Synchronization
import Testing

private func key(_ lookup: KeyLookup) -> DataEncryptionKey? {
    if case .key(let k) = lookup { k } else { nil }
}

private func isErased(_ lookup: KeyLookup) -> Bool {
    if case .erased = lookup { true } else { false }
}

/// One KEK provider the conformance suite runs on.
struct ProviderKind: CustomTestStringConvertible, Sendable {
    let name: String
    /// Makes a data directory's key store with this provider; nil reference: the local keyring.
    let reference: @Sendable () throws -> String?

    var testDescription: String { name }

    static let local = ProviderKind(name: "local keyring") { nil }
    static let pkcs11 = ProviderKind(name: "PKCS#11 (SoftHSM2)") {
        try SoftHSM.uri(object: "payments-\(UUID().uuidString.prefix(8))")
    }

    static let kms = ProviderKind(name: "AWS KMS (moto)") {
        let endpoint = try #require(Moto.endpoint)
        #if KMS
        let bootstrap = try AWSKMSKeyService(reference: "aws-kms:bootstrap?region=eu-central-1&endpoint=\(endpoint)")
        let key = try bootstrap.createKey(purpose: "test-root")
        return "aws-kms:\(key)?region=eu-central-1&endpoint=\(endpoint)&deletion-window-days=7"
        #else
        return nil
        #endif
    }

    static let vault = ProviderKind(name: "Vault Transit (test server)") {
        let address = try #require(VaultTransitServer.address)
        #if KMS
        let bootstrap = try VaultTransitKeyService(reference: "vault-transit:transit/bootstrap?addr=\(address)")
        let key = try bootstrap.createKey(purpose: "test")
        return "vault-transit:transit/\(key)?addr=\(address)"
        #else
        return nil
        #endif
    }

    static var all: [ProviderKind] {
        var kinds = [ProviderKind.local]
        #if PKCS11
        // Outside CI a machine without SoftHSM2 or moto runs what it has; CI has both.
        if SoftHSM.isInstalled || TestSupport.isCI { kinds.append(.pkcs11) }
        #endif
        #if KMS
        if Moto.endpoint != nil || TestSupport.isCI { kinds.append(.kms) }
        if VaultTransitServer.address != nil || TestSupport.isCI { kinds.append(.vault) }
        #endif
        return kinds
    }

    func fresh() throws -> (URL, KeyStore) {
        let dir = TestSupport.scratchDirectory("kek")
        try? FileManager.default.removeItem(at: dir)
        return (dir, try KeyStore.initialize(dataDirectory: dir, kek: try reference()))
    }
}

@Suite("KEK provider conformance: every provider wraps, rotates, finalizes and fails alike")
struct KEKProviderConformanceTests {
    @Test(
        "round trip, bound to the family; a changed byte or another family does not unwrap",
        arguments: ProviderKind.all
    )
    func roundTrip(kind: ProviderKind) throws {
        let (_, store) = try kind.fresh()
        let provider = store.provider
        let a = try provider.familyID(for: Array("family-a".utf8))
        let b = try provider.familyID(for: Array("family-b".utf8))
        #expect(a != b)
        #expect(try provider.familyID(for: Array("family-a".utf8)) == a)
        let dek = SymmetricKey(size: .bits256)
        let wrapped = try provider.wrap(dek, family: a)
        #expect(wrapped.kekVersion == 1)
        #expect(try provider.unwrap(wrapped, family: a) == dek)
        #expect(throws: KeyStoreError.self) { try provider.unwrap(wrapped, family: b) }
        // Another data directory's KEKs (another root key in the same provider) do not open it.
        let (_, other) = try kind.fresh()
        #expect(throws: KeyStoreError(.unwrapFailed)) { try other.provider.unwrap(wrapped, family: a) }
        for i in [0, wrapped.bytes.count / 2, wrapped.bytes.count - 1] {
            var tampered = wrapped
            tampered.bytes[i] ^= 0x01
            #expect(throws: KeyStoreError(.unwrapFailed)) { try provider.unwrap(tampered, family: a) }
        }
        let dir = TestSupport.scratchDirectory("kek-files")
        // Nothing in the data directory holds the DEK in the clear.
        let bytes = dek.withUnsafeBytes { Array($0) }
        for file in try FileManager.default.contentsOfDirectory(
            atPath: store.databaseURL.deletingLastPathComponent().path
        ) {
            let data = try Data(contentsOf: store.databaseURL.deletingLastPathComponent().appendingPathComponent(file))
            #expect(data.range(of: Data(bytes)) == nil, "\(file)")
        }
        try? FileManager.default.removeItem(at: dir)
    }

    @Test(
        "KEK rotation rewraps every key; the old KEK is then destroyed and nothing is lost",
        arguments: ProviderKind.all
    )
    func rotation(kind: ProviderKind) throws {
        let (dir, store) = try kind.fresh()
        let keys = try (0..<20).map { try store.encryptionKey(for: .subject("CUST-\($0)")) }
        let report = try store.rotateKEK()
        #expect(report.newVersion == 2)
        #expect(report.rewrapped == 20)
        try store.destroyKEK(version: 1)
        #expect(try store.kekVersions().map(\.state) == [.destroyed, .active])
        let reopened = try KeyStore.open(dataDirectory: dir)
        for k in keys { #expect(key(try reopened.decryptionKey(k.reference)) == k) }
        let later = try reopened.encryptionKey(for: .subject("CUST-NEW"))
        #expect(key(try KeyStore.open(dataDirectory: dir).decryptionKey(later.reference)) == later)
    }

    @Test(
        "a backup taken before an erasure, restored after finalize, opens every other subject and never the erased one",
        arguments: ProviderKind.all
    )
    func finalizeReachesBackups(kind: ProviderKind) throws {
        let (dir, store) = try kind.fresh()
        let keys = try (0..<30).map { try store.encryptionKey(for: .subject("CUST-\($0)")) }
        let backup = TestSupport.scratchDirectory("kek-backup")
        try store.backup(to: backup.appendingPathComponent("keys.sqlite"))
        // An attacker's copy of every provider file too, taken with the backup.
        for name in [KeyStore.keyringFileName, EnvelopeKeyring.fileName]
        where FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path) {
            try FileManager.default.copyItem(
                at: dir.appendingPathComponent(name),
                to: backup.appendingPathComponent(name)
            )
        }

        try store.erase(subject: "CUST-7")
        let report = try store.finalize()
        #expect(report.finalized == [keys[7].reference.id.description])

        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: store.databaseURL.path + suffix)
        }
        try FileManager.default.copyItem(at: backup.appendingPathComponent("keys.sqlite"), to: store.databaseURL)
        let restored = try KeyStore.open(dataDirectory: dir)
        for (i, k) in keys.enumerated() {
            if i == 7 {
                #expect(isErased(try restored.decryptionKey(k.reference)))
            } else {
                #expect(key(try restored.decryptionKey(k.reference)) == k, "CUST-\(i)")
            }
        }
        // The provider file from before the erasure: with a HSM, its sealing key is destroyed, so
        // it opens nothing at all.
        if FileManager.default.fileExists(atPath: backup.appendingPathComponent(EnvelopeKeyring.fileName).path) {
            let old = dir.appendingPathComponent(EnvelopeKeyring.fileName)
            try FileManager.default.removeItem(at: old)
            try FileManager.default.copyItem(at: backup.appendingPathComponent(EnvelopeKeyring.fileName), to: old)
            #expect(throws: KeyStoreError(.kekUnavailable)) { try KeyStore.open(dataDirectory: dir) }
        }
    }

    @Test(
        "migrate-kek moves a keyring directory to the provider: same key ids, erasures kept, keyring gone",
        arguments: ProviderKind.all.filter { $0.name != ProviderKind.local.name }
    )
    func migrateFromKeyring(kind: ProviderKind) throws {
        let dir = TestSupport.scratchDirectory("migrate")
        let store = try KeyStore.initialize(dataDirectory: dir)
        let keys = try (0..<20).map { try store.encryptionKey(for: .subject("CUST-\($0)")) }
        let topic = try store.encryptionKey(for: .topic("loan_applications"))
        try store.erase(subject: "CUST-4")
        // An interrupted attempt: the directory refuses to open, and a new run starts it over.
        let migrating = dir.appendingPathComponent(EnvelopeKeyring.fileName + ".migrating")
        _ = FileManager.default.createFile(atPath: migrating.path, contents: Data("{}".utf8))
        #expect(throws: KeyStoreError(.invalidArgument)) { try KeyStore.open(dataDirectory: dir) }

        let reference = try #require(try kind.reference())
        let report = try KeyStore.migrateKEK(dataDirectory: dir, to: reference)
        #expect(report.rewrapped == 20)  // 19 subjects and the topic; the erased subject has no key left
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(KeyStore.keyringFileName).path))
        #expect(!FileManager.default.fileExists(atPath: migrating.path))
        let moved = try KeyStore.open(dataDirectory: dir)
        #expect(moved.provider is EnvelopeKeyring)
        for (i, k) in keys.enumerated() where i != 4 {
            #expect(key(try moved.decryptionKey(k.reference)) == k, "CUST-\(i)")
        }
        #expect(isErased(try moved.decryptionKey(keys[4].reference)))
        #expect(throws: KeyStoreError(.subjectErased)) { try moved.encryptionKey(for: .subject("CUST-4")) }
        // Family ids are unchanged: the same subject finds the same key.
        #expect(try moved.encryptionKey(for: .subject("CUST-7")).reference == keys[7].reference)
        #expect(try moved.encryptionKey(for: .topic("loan_applications")) == topic)
        #expect(throws: KeyStoreError(.keyringExists)) { try KeyStore.migrateKEK(dataDirectory: dir, to: reference) }
    }

    @Test("concurrent wraps and unwraps from many threads", arguments: ProviderKind.all)
    func concurrentUse(kind: ProviderKind) throws {
        let (_, store) = try kind.fresh()
        let provider = store.provider
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<40 {
                do {
                    let family = try provider.familyID(for: Array("w\(worker)-\(i)".utf8))
                    let dek = SymmetricKey(size: .bits256)
                    guard try provider.unwrap(try provider.wrap(dek, family: family), family: family) == dek else {
                        failures.withLock { $0 += 1 }
                        continue
                    }
                } catch {
                    failures.withLock { $0 += 1 }
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
    }

    @Test(
        "two openers of one kek.json (as two processes would) rotating and puncturing at once lose nothing",
        arguments: ProviderKind.all.filter { $0.name != ProviderKind.local.name }
    )
    func concurrentOpeners(kind: ProviderKind) throws {
        let reference = try #require(try kind.reference())
        let url = TestSupport.scratchDirectory("kek-race").appendingPathComponent(EnvelopeKeyring.fileName)
        let first = try EnvelopeKeyring.create(at: url, service: try RootKeyServices.service(for: reference))
        let family = try first.familyID(for: Array("kept".utf8))
        let dek = SymmetricKey(size: .bits256)
        let wrapped = try first.wrap(dek, family: family)
        // Each opener holds its own copy of the file's state, as a second process does: only the
        // lock on kek.json keeps one's write from replacing the other's.
        let openers = [first, try EnvelopeKeyring(url: url, service: try RootKeyServices.service(for: reference))]
        let rotated = Mutex<[UInt32]>([])
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 12) { step in
            let opener = openers[step % 2]
            do {
                if step % 4 < 2 {
                    let version = try opener.rotate()
                    rotated.withLock { $0.append(version) }
                } else {
                    try opener.puncture([try opener.familyID(for: Array("erased-\(step)".utf8))])
                }
            } catch {
                failures.withLock { $0.append("step \(step): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let reopened = try EnvelopeKeyring(url: url, service: try RootKeyServices.service(for: reference))
        let versions = try reopened.versions().map(\.version)
        let made = rotated.withLock { $0 }
        #expect(Set(made).count == made.count, "two rotations took one version number")
        #expect(versions.count == 1 + made.count, "a rotation was lost: versions \(versions), rotated to \(made)")
        #expect(try reopened.unwrap(wrapped, family: family) == dek)
    }
}

#if PKCS11
@Suite("PKCS#11 provider (SoftHSM2)", .enabled(if: SoftHSM.isInstalled || TestSupport.isCI))
struct PKCS11ProviderTests {
    @Test("the KEKs are sensitive, non-extractable token keys; kek.json holds no key; keys list names the token")
    func kekProperties() throws {
        let token = SoftHSM.token
        let uri = try SoftHSM.uri(object: "props")
        let dir = TestSupport.scratchDirectory("kek")
        let store = try KeyStore.initialize(dataDirectory: dir, kek: uri)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(KeyStore.keyringFileName).path))
        let envelope = try #require(store.provider as? EnvelopeKeyring)
        let service = try #require(envelope.service as? PKCS11KeyService)
        // The data directory names the token and object only: the module and the PIN come from the host.
        #expect(service.reference == "pkcs11:token=\(token);object=props")
        let state =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: dir.appendingPathComponent(EnvelopeKeyring.fileName))
            ) as? [String: Any]
        let roots = try #require(state?["roots"] as? [[String: Any]])
        let handle = try #require(roots.first?["handle"] as? String)
        #expect(try service.isLocked(handle))
        let attributes = try FileManager.default.attributesOfItem(
            atPath: dir.appendingPathComponent(EnvelopeKeyring.fileName).path
        )
        #expect((attributes[.posixPermissions] as? Int ?? 0) & 0o077 == 0)
    }

    @Test("a kek.json whose header was edited (a live key listed for destruction, a root remapped) is refused")
    func tamperedHeader() throws {
        let dir = TestSupport.scratchDirectory("kek")
        let store = try KeyStore.initialize(dataDirectory: dir, kek: try SoftHSM.uri(object: "tamper"))
        let live = try store.encryptionKey(for: .subject("CUST-1"))
        let url = dir.appendingPathComponent(EnvelopeKeyring.fileName)
        let original = try Data(contentsOf: url)
        let edits: [(inout [String: Any]) -> Void] = [
            { state in state["retiring"] = [((state["roots"] as? [[String: Any]])?.first?["handle"] as? String) ?? ""]
            },
            { state in state["retiring"] = [state["sealKey"] as? String ?? ""] },
            { state in state["roots"] = [["version": 1, "handle": String(repeating: "0", count: 32)]] },
            { state in state["provider"] = "pkcs11:token=\(SoftHSM.token);object=other" },
        ]
        for (i, edit) in edits.enumerated() {
            var state = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
            edit(&state)
            try FileManager.default.removeItem(at: url)
            _ = FileManager.default.createFile(
                atPath: url.path,
                contents: try JSONSerialization.data(withJSONObject: state),
                attributes: [.posixPermissions: 0o600]
            )
            #expect(throws: KeyStoreError.self, "edit \(i)") { try KeyStore.open(dataDirectory: dir) }
        }
        // Put back, everything still opens: nothing was destroyed by the attempts.
        try FileManager.default.removeItem(at: url)
        _ = FileManager.default.createFile(atPath: url.path, contents: original, attributes: [.posixPermissions: 0o600])
        #expect(key(try KeyStore.open(dataDirectory: dir).decryptionKey(live.reference)) == live)
    }

    @Test("a wrong PIN, an absent token, a pin-value and an unknown attribute are clear errors")
    func badConfigurations() throws {
        _ = try #require(SoftHSM.configuration)
        let token = SoftHSM.pinToken
        let wrongPIN = TestSupport.scratchDirectory("pin").appendingPathComponent("pin")
        _ = FileManager.default.createFile(
            atPath: wrongPIN.path,
            contents: Data("0000".utf8),
            attributes: [.posixPermissions: 0o600]
        )
        let base = "pkcs11:token=\(token)?module-path=\(SoftHSM.module)"
        #expect(throws: KeyStoreError(.providerDenied)) {
            _ = try PKCS11KeyService(uri: PKCS11URI(base + "&pin-source=file:\(wrongPIN.path)"), environment: [:])
        }
        #expect(throws: KeyStoreError(.providerUnavailable)) {
            _ = try PKCS11KeyService(
                uri: PKCS11URI("pkcs11:token=no-such-token?module-path=\(SoftHSM.module)"),
                environment: [PKCS11KeyService.pinVariable: SoftHSM.pin]
            )
        }
        #expect(throws: KeyStoreError(.invalidArgument)) { _ = try PKCS11URI(base + "&pin-value=1234") }
        #expect(throws: KeyStoreError(.invalidArgument)) { _ = try PKCS11URI("pkcs11:token=a;serial=1") }
        #expect(throws: KeyStoreError(.invalidArgument)) { _ = try PKCS11URI("pkcs11:object=a") }
        #expect(throws: KeyStoreError(.invalidArgument)) {
            _ = try PKCS11KeyService(
                uri: PKCS11URI("pkcs11:token=\(token)"),
                environment: [PKCS11KeyService.pinVariable: "1"]
            )
        }
        #expect(throws: KeyStoreError(.invalidArgument)) {
            _ = try PKCS11KeyService(uri: PKCS11URI(base), environment: [:])
        }
    }
}
#endif
