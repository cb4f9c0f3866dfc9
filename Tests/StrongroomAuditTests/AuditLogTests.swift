import Crypto
import Foundation
import GRDB
import StrongroomJSON
import StrongroomTestSupport
import Testing

@testable import StrongroomAudit

func sampleEntry(_ i: Int) -> AuditEntry {
    AuditEntry(
        time: Date(timeIntervalSince1970: 1_795_000_000 + Double(i) / 7),
        principal: i % 3 == 0 ? "fraud-service" : "analytics",
        action: i % 5 == 0 ? "Erase" : "Decrypt",
        resource: "field:loan_applications/ssn",
        decision: i % 2 == 0 ? .allow : .deny,
        fields: ["/ssn", "/dateOfBirth"],
        purpose: i % 4 == 0 ? nil : "credit-check",
        rules: ["fraud-decrypt-ssn"],
        reason: i % 7 == 0 ? "quote \" backslash \\ tab \t é" : nil,
        correlationID: "corr-\(i / 10)",
        keyIDs: ["subject:0011…:v1"],
        count: i % 9 + 1,
        subjectKey: i % 5 == 0 ? String(repeating: "ab", count: 32) : nil
    )
}

/// Appends `n` entries in batches of `batch`.
func filledLog(_ n: Int, batch: Int = 100, directory: URL = TestSupport.scratchDirectory("audit")) throws -> AuditLog {
    let log = try AuditLog(dataDirectory: directory)
    var i = 0
    while i < n {
        let end = min(i + batch, n)
        try log.append((i..<end).map(sampleEntry))
        i = end
    }
    return log
}

@Suite("Audit log")
struct AuditLogTests {
    @Test("entries are stored as RFC 8785 canonical JSON and read back equal")
    func canonicalEntries() throws {
        for i in 0..<50 {
            var entry = sampleEntry(i)
            entry.index = UInt64(i)
            let bytes = entry.canonicalBytes()
            #expect(try CanonicalJSON.encode(JSONValue(parsing: bytes)) == bytes)
            #expect(AuditEntry(canonical: bytes) == entry)
        }
        #expect(AuditEntry.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(AuditEntry.timestamp(Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500Z")
        #expect(AuditEntry.parseTimestamp("2000-02-29T00:00:00.500Z") == Date(timeIntervalSince1970: 951_782_400.5))
    }

    @Test(
        "a new audit log has 16 KiB pages in WAL mode and keeps temporary data in memory; an entry naming a thousand keys reads back whole"
    )
    func pageSize() throws {
        let log = try AuditLog(dataDirectory: TestSupport.scratchDirectory("audit"))
        let (pageSize, mode, temp) = try log.db.read { db in
            (
                try Int.fetchOne(db, sql: "PRAGMA page_size"), try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Int.fetchOne(db, sql: "PRAGMA temp_store")
            )
        }
        #expect(pageSize == 16_384 && mode == "wal" && temp == 2)
        var entry = sampleEntry(1)
        entry.keyIDs = (0..<1000).map { "subject:\(String(repeating: "ab", count: 16)):v\($0)" }
        try log.append([entry])
        #expect(try log.entryBytes(at: 0) == entry.canonicalBytes())
        #expect(try log.verify().size == 1)
    }

    @Test("roots and proofs from the store equal the in-memory tree at every size; restart continues the tree")
    func proofsMatchMemory() throws {
        let directory = TestSupport.scratchDirectory("audit")
        var log = try filledLog(37, batch: 5, directory: directory)
        var leaves = try (0..<37).map { Merkle.leafHash(try log.entryBytes(at: UInt64($0))) }
        // Reopen: a second process would see the same edge.
        log = try AuditLog(dataDirectory: directory)
        #expect(log.size == 37)
        try log.append((37..<70).map(sampleEntry))
        leaves += try (37..<70).map { Merkle.leafHash(try log.entryBytes(at: UInt64($0))) }
        #expect(log.root == Merkle.root(of: leaves))
        for size in stride(from: 1, through: 70, by: 3) {
            let tree = Array(leaves.prefix(size))
            #expect(try log.root(size: UInt64(size)) == Merkle.root(of: tree))
            for index in stride(from: 0, to: size, by: 4) {
                let proof = try log.inclusionProof(index: UInt64(index), size: UInt64(size))
                #expect(proof.path == Merkle.inclusionPath(index: UInt64(index), leaves: tree))
                try proof.verify()
            }
            let consistency = try log.consistencyProof(oldSize: UInt64(size))
            #expect(consistency.path == Merkle.consistencyProof(old: UInt64(size), leaves: leaves))
            try consistency.verify()
        }
        #expect(throws: AuditError.self) { try log.inclusionProof(index: 70) }
        #expect(throws: AuditError.self) { try log.consistencyProof(oldSize: 0) }
        #expect(throws: AuditError.self) { try log.root(size: 71) }
        let verification = try log.verify()
        #expect(verification.size == 70)
        #expect(verification.checkpoints == 9)
    }

    @Test("every append signs a c2sp.org/tlog-checkpoint that verifies and parses")
    func checkpoints() throws {
        let log = try filledLog(10, batch: 4)
        let text = try #require(try log.latestCheckpoint())
        let note = try SignedNote(parsing: Array(text.utf8))
        #expect(try note.verify(with: [log.verifierKey]) == [log.origin])
        let checkpoint = try Checkpoint(text: note.text)
        #expect(checkpoint.size == 10)
        #expect(checkpoint.root == log.root)
        #expect(checkpoint.origin == log.origin)
        // The verifier key survives its text form.
        #expect(try NoteVerifierKey(parsing: log.verifierKey.text) == log.verifierKey)
    }

    func tampered(_ edit: String, arguments: StatementArguments = []) throws -> AuditError {
        let directory = TestSupport.scratchDirectory("audit")
        let log = try filledLog(40, batch: 8, directory: directory)
        _ = try log.verify()
        try log.db.write { try $0.execute(sql: edit, arguments: arguments) }
        let reopened = try AuditLog(dataDirectory: directory)
        do {
            _ = try reopened.verify()
        } catch {
            return error
        }
        Issue.record("verify accepted a tampered log: \(edit)")
        return AuditError(.storage)
    }

    @Test("one flipped byte in a stored entry fails verify at that entry")
    func flippedByte() throws {
        let error = try tampered(
            "UPDATE entry SET data = CAST(replace(CAST(data AS TEXT), 'analytics', 'analytict') AS BLOB) WHERE idx = 17"
        )
        #expect(error.code == .tampered)
        #expect(error.index == 17)
    }

    @Test("a deleted entry fails verify naming it")
    func deleted() throws {
        let error = try tampered("DELETE FROM entry WHERE idx = 23")
        #expect(error.code == .tampered)
        #expect(error.index == 23)
    }

    @Test("two swapped entries fail verify at the first of them")
    func reordered() throws {
        let error = try tampered(
            """
            UPDATE entry SET idx = -1 WHERE idx = 11; UPDATE entry SET idx = 11 WHERE idx = 12;
            UPDATE entry SET idx = 12 WHERE idx = -1;
            """
        )
        #expect(error.code == .tampered)
        #expect(error.index == 11)
    }

    @Test("a truncated tail fails verify at the first missing entry")
    func truncated() throws {
        let error = try tampered("DELETE FROM entry WHERE idx >= 35")
        #expect(error.code == .tampered)
        #expect(error.index == 35)
    }

    @Test("a rewritten entry with recomputed leaf hash is caught by the signed root")
    func rewrittenWithHashes() throws {
        var entry = sampleEntry(21)
        entry.index = 21
        entry.decision = .allow
        entry.principal = "intruder"
        let bytes = entry.canonicalBytes()
        let error = try tampered(
            "UPDATE entry SET data = ?, leaf = ? WHERE idx = 21",
            arguments: [Data(bytes), Data(Merkle.leafHash(bytes))]
        )
        #expect(error.code == .tampered)
        #expect(error.index == 16)  // checkpoints every 8 entries: the bad one is in [16, 24)
    }

    @Test("a forged checkpoint fails verify")
    func forgedCheckpoint() throws {
        let other = try filledLog(1)
        let forged = try NoteSigner(name: "strongroom.local/audit/forged", privateKey: .init())
        let note = try forged.sign(Checkpoint(origin: other.origin, size: 40, root: Merkle.emptyRoot).text)
        let error = try tampered("UPDATE checkpoint SET note = ? WHERE size = 40", arguments: [note])
        #expect(error.code == .invalidCheckpoint)
        // A checkpoint re-signed with the right name but another key fails too.
        let sameName = try NoteSigner(name: other.origin, privateKey: .init())
        let note2 = try sameName.sign(Checkpoint(origin: other.origin, size: 40, root: Merkle.emptyRoot).text)
        let error2 = try tampered("UPDATE checkpoint SET note = ? WHERE size = 40", arguments: [note2])
        #expect(error2.code == .invalidCheckpoint)
    }

    @Test("a signing key others can read stops the log with a clear error")
    func keyPermissions() throws {
        let directory = TestSupport.scratchDirectory("audit")
        _ = try filledLog(1, directory: directory)
        let key = directory.appendingPathComponent(AuditLog.keyFileName)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key.path)
        let error = #expect(throws: AuditError.self) { try AuditLog(dataDirectory: directory) }
        #expect(error?.code == .signingKey)
        #expect(error?.description.contains("chmod 600") == true)
    }

    @Test("concurrent appenders from many tasks leave one consistent, verifiable tree")
    func concurrentAppends() async throws {
        let log = try filledLog(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<6 {
                group.addTask {
                    for b in 0..<10 { try log.append((0..<7).map { sampleEntry(t * 1000 + b * 7 + $0) }) }
                }
            }
            try await group.waitForAll()
        }
        let verification = try log.verify()
        #expect(verification.size == 420)
        #expect(verification.checkpoints == 60)
    }
}

@Suite("Audit log hardening")
struct AuditHardeningTests {
    @Test("reading past the end, up to the largest index a client can name, answers nothing or out of range")
    func pastTheEnd() throws {
        let log = try filledLog(4, batch: 4, directory: TestSupport.scratchDirectory("audit"))
        for start: UInt64 in [4, 1 << 40, UInt64(Int64.max), UInt64(Int64.max) + 1, .max] {
            #expect(try log.entries(from: start, limit: 10).isEmpty)
            #expect(throws: AuditError.self) { try log.entryBytes(at: start) }
        }
        #expect(try log.entries(from: 2, limit: 10).map(\.index) == [2, 3])
        #expect(try log.entries(from: 0, limit: 0).isEmpty)
    }

    @Test("entries no checkpoint signs fail verify; appends refuse to sign over them")
    func uncoveredTail() throws {
        let directory = TestSupport.scratchDirectory("audit")
        let log = try filledLog(16, batch: 8, directory: directory)
        var forged = sampleEntry(99)
        forged.index = 16
        let bytes = forged.canonicalBytes()
        try log.db.write {
            try $0.execute(
                sql: "INSERT INTO entry (idx, data, leaf) VALUES (16, ?, ?)",
                arguments: [Data(bytes), Data(Merkle.leafHash(bytes))]
            )
        }
        let reopened = try AuditLog(dataDirectory: directory)
        let error = #expect(throws: AuditError.self) { try reopened.verify() }
        #expect(error?.index == 16)
        let refused = #expect(throws: AuditError.self) { try reopened.append(sampleEntry(100)) }
        #expect(refused?.code == .tampered)
    }

    @Test("a tail cut together with its checkpoints is caught by a checkpoint kept elsewhere")
    func truncationWithCheckpointsDeleted() throws {
        let directory = TestSupport.scratchDirectory("audit")
        let log = try filledLog(24, batch: 8, directory: directory)
        let kept = try #require(try log.latestCheckpoint())
        try log.db.write {
            try $0.execute(sql: "DELETE FROM entry WHERE idx >= 16; DELETE FROM checkpoint WHERE size > 16")
        }
        let reopened = try AuditLog(dataDirectory: directory)
        _ = try reopened.verify()  // internally consistent: only the outside copy can tell
        let error = #expect(throws: AuditError.self) { try reopened.verify(external: [kept]) }
        #expect(error?.index == 16)
    }

    @Test("a replaced signing key: trusting the recorded key fails verify; a missing key is never recreated")
    func replacedKey() throws {
        let directory = TestSupport.scratchDirectory("audit")
        let log = try filledLog(8, batch: 4, directory: directory)
        let recorded = log.verifierKey
        let keyFile = directory.appendingPathComponent(AuditLog.keyFileName)
        try FileManager.default.removeItem(at: keyFile)
        let missing = #expect(throws: AuditError.self) { try AuditLog(dataDirectory: directory) }
        #expect(missing?.code == .signingKey)
        // An intruder writes a new key under the same name and re-signs every checkpoint.
        let intruder = try NoteSigner(name: log.origin, privateKey: .init())
        let rows = try log.db.read { try Row.fetchAll($0, sql: "SELECT size, note FROM checkpoint") }
        for row in rows {
            let text = try SignedNote(parsing: Array((row["note"] as String).utf8)).text
            let note = try intruder.sign(text)
            try log.db.write {
                try $0.execute(
                    sql: "UPDATE checkpoint SET note = ? WHERE size = ?",
                    arguments: [note, row["size"] as Int64]
                )
            }
        }
        let seed = Data([1] + Array(try intruderSeed(intruder))).base64EncodedString()
        let id = intruder.verifierKey.keyID.map { String(format: "%02x", $0) }.joined()
        _ = FileManager.default.createFile(
            atPath: keyFile.path,
            contents: Data("PRIVATE+KEY+\(log.origin)+\(id)+\(seed)\n".utf8),
            attributes: [.posixPermissions: 0o600]
        )
        let reopened = try AuditLog(dataDirectory: directory)
        _ = try reopened.verify()  // its own key now says yes
        let error = #expect(throws: AuditError.self) { try reopened.verify(trustedKeys: [recorded]) }
        #expect(error?.code == .invalidCheckpoint)
    }

    @Test("SIEM lines never carry a line break or control character from an entry")
    func siemInjection() {
        var entry = sampleEntry(1)
        entry.principal = "x\n<110>1 2026-11-24T00:00:00.000Z host strongroom - Decrypt [audit@32473 index=\"0\"]"
        entry.action = "Decrypt\r\nCEF:0|forged"
        entry.reason = "line\u{2028}break\u{85}"
        for line in [SIEMFormat.syslog(entry, hostname: "h\nx"), SIEMFormat.cef(entry)] {
            #expect(!line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x85 || $0.value == 0x2028 })
        }
    }
}

/// The raw seed of a signer made in the test (the type keeps it private).
func intruderSeed(_ signer: NoteSigner) throws -> [UInt8] { Array(signer.privateKey.rawRepresentation) }
