import Crypto
import Foundation
import StrongroomCrypto
import StrongroomKeys
import StrongroomTestSupport
import Testing

/// A primary key store and a standby that shares its keyring (a copy of the file, as a DR site
/// holds one), with what the primary published applied to the standby.
private struct Sites {
    let primary: KeyStore
    let standby: KeyStore
    let primaryDirectory: URL
    var published: [KeyMetadataRecord] = []

    init(_ label: String) throws {
        primaryDirectory = TestSupport.scratchDirectory("\(label)-primary")
        let standbyDirectory = TestSupport.scratchDirectory("\(label)-standby")
        try? FileManager.default.removeItem(at: primaryDirectory)
        try? FileManager.default.removeItem(at: standbyDirectory)
        primary = try KeyStore.initialize(dataDirectory: primaryDirectory)
        try FileManager.default.createDirectory(at: standbyDirectory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: primaryDirectory.appendingPathComponent(KeyStore.keyringFileName),
            to: standbyDirectory.appendingPathComponent(KeyStore.keyringFileName)
        )
        standby = try KeyStore.open(dataDirectory: standbyDirectory)
        try primary.startReplicationJournal()
    }

    /// Publishes the primary's changes and applies them to the standby; the records sent.
    @discardableResult
    mutating func ship() throws -> [KeyMetadataRecord] {
        var batch: [KeyMetadataRecord] = []
        try primary.publishChanges { batch += $0 }
        try standby.applyReplicated(batch)
        published += batch
        return batch
    }
}

private func opens(_ store: KeyStore, _ key: DataEncryptionKey) throws -> Bool {
    if case .key(let found) = try store.decryptionKey(key.reference) { return found == key }
    return false
}

private func erased(_ store: KeyStore, _ key: DataEncryptionKey) throws -> Bool {
    if case .erased = try store.decryptionKey(key.reference) { return true }
    return false
}

@Suite("Key metadata replication to a standby site")
struct KeyReplicationTests {
    @Test("keys made before and after the journal started reach the standby and open there; nothing twice")
    func keysReachTheStandby() throws {
        var sites = try Sites("replication-keys")
        let alice = try sites.primary.encryptionKey(for: .subject("CUST-ALICE"))
        let topic = try sites.primary.encryptionKey(for: .topic("loan_applications"))
        let first = try sites.ship()
        #expect(first.count >= 4, "subject link, two families, two versions: \(first.count)")
        #expect(try sites.ship().isEmpty, "published once, forgotten after")
        let bob = try sites.primary.encryptionKey(for: .subject("CUST-BOB"))
        let rotated = try sites.primary.rotate(.topic("loan_applications"))
        try sites.ship()
        for key in [alice, topic, bob] { #expect(try opens(sites.standby, key)) }
        if case .key(let found) = try sites.standby.decryptionKey(rotated) {
            #expect(found.reference == rotated)
        } else {
            Issue.record("the rotated version reached the standby")
        }
        // The standby links the same subject to the same pseudonym (so the same key family).
        #expect(
            try sites.standby.pseudonym(ofSubject: "CUST-ALICE") == sites.primary.pseudonym(ofSubject: "CUST-ALICE")
        )
        // No subject id travels: only keyed hashes, pseudonyms and wrapped keys.
        let wire = sites.published.flatMap { $0.key + ($0.value ?? []) }
        #expect(!String(decoding: wire, as: UTF8.self).contains("CUST-"))
        #expect(!String(decoding: wire, as: UTF8.self).contains(alice.key.withUnsafeBytes { Array($0) }.hexString))
    }

    @Test("an erasure on the primary, before or after the keys were shipped, reads as erased on the standby")
    func erasureReachesTheStandby() throws {
        var sites = try Sites("replication-erase")
        let early = try sites.primary.encryptionKey(for: .subject("CUST-EARLY"))
        let late = try sites.primary.encryptionKey(for: .subject("CUST-LATE"))
        let kept = try sites.primary.encryptionKey(for: .subject("CUST-KEPT"))
        try sites.ship()
        #expect(try opens(sites.standby, late))
        _ = try sites.primary.erase(subject: "CUST-LATE")
        _ = try sites.primary.erase(subject: "CUST-EARLY")
        try sites.ship()
        #expect(try erased(sites.standby, late), "erased after its keys were shipped")
        #expect(try erased(sites.standby, early))
        #expect(try opens(sites.standby, kept))
        #expect(try sites.standby.isErased(subject: "CUST-LATE"))
        #expect(throws: KeyStoreError.self, "the standby refuses new data for an erased subject") {
            try sites.standby.encryptionKey(for: .subject("CUST-LATE"))
        }
        // Replaying everything ever published (a mirror restarted from an old checkpoint) brings nothing back.
        try sites.standby.applyReplicated(sites.published)
        #expect(try erased(sites.standby, late))
        #expect(try opens(sites.standby, kept))
    }

    @Test("the standby never seals under a key the primary may still use: its first seal rotates")
    func standbyRotatesBeforeSealing() throws {
        var sites = try Sites("replication-seal")
        let primaryKey = try sites.primary.encryptionKey(for: .subject("CUST-1"))
        try sites.ship()
        let standbyKey = try sites.standby.encryptionKey(for: .subject("CUST-1"))
        #expect(standbyKey.reference.id == primaryKey.reference.id, "the same family")
        #expect(standbyKey.reference.version == primaryKey.reference.version + 1, "a version of its own")
        #expect(try opens(sites.standby, primaryKey), "older versions still decrypt")
    }

    @Test("conflicting or unreadable metadata is refused and nothing of its batch applied")
    func conflictsAreRefused() throws {
        var sites = try Sites("replication-conflict")
        _ = try sites.primary.encryptionKey(for: .subject("CUST-1"))
        let batch = try sites.ship()
        let link = try #require(batch.first { $0.key.first == UInt8(ascii: "s") })
        // The same subject linked to another pseudonym (two sites made keys for it independently).
        let forged = KeyMetadataRecord(
            key: link.key,
            value: Array(#"{"keyID":"00112233445566778899aabbccddeeff"}"#.utf8)
        )
        let fresh = try sites.primary.encryptionKey(for: .subject("CUST-2"))
        var next: [KeyMetadataRecord] = []
        try sites.primary.publishChanges { next += $0 }
        #expect(throws: KeyStoreError(.replicationConflict)) { try sites.standby.applyReplicated(next + [forged]) }
        #expect(throws: KeyStoreError.self) { try sites.standby.decryptionKey(fresh.reference) }
        for bad in [
            KeyMetadataRecord(key: Array("x/00".utf8), value: Array("{}".utf8)),
            KeyMetadataRecord(key: Array("d/zz/1".utf8), value: Array("{}".utf8)),
            KeyMetadataRecord(key: link.key, value: Array("not json".utf8)),
            KeyMetadataRecord(key: Array("t/00112233445566778899aabbccddeeff".utf8), value: nil),
        ] {
            #expect(throws: KeyStoreError(.replicationConflict)) { try sites.standby.applyReplicated([bad]) }
        }
        try sites.standby.applyReplicated(next)
        #expect(try opens(sites.standby, fresh))
    }

    @Test("a batch that fails to send is offered again; nothing is lost")
    func failedSendIsRetried() throws {
        let sites = try Sites("replication-retry")
        _ = try sites.primary.encryptionKey(for: .subject("CUST-1"))
        struct Down: Error {}
        #expect(throws: Down.self) { try sites.primary.publishChanges { _ in throw Down() } }
        #expect(try sites.primary.hasUnpublishedChanges())
        var again: [KeyMetadataRecord] = []
        try sites.primary.publishChanges { again += $0 }
        #expect(again.count >= 3)
        #expect(try !sites.primary.hasUnpublishedChanges())
    }
}
