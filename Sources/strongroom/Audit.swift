import ArgumentParser
import Foundation
import StrongroomAudit
import StrongroomJSON

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The tamper-evident audit log: verify, prove, checkpoint, export.",
        discussion: """
            Every decrypt, denial and erasure is recorded as metadata (never payload values) in an \
            append-only RFC 6962 Merkle tree in <data-dir>/audit.sqlite, with a signed checkpoint \
            (c2sp.org/tlog-checkpoint, Ed25519) after every append. Entry schema: docs/audit.md.

              strongroom audit verify
              strongroom audit prove --index 0
              strongroom audit prove --consistency 10 20
              strongroom audit checkpoint --out checkpoint.txt
              strongroom audit export --format syslog --cursor siem.cursor
            """,
        subcommands: [Verify.self, Prove.self, CheckpointCommand.self, Export.self, Key.self]
    )

    static func open(_ data: DataDirectoryOptions) throws -> AuditLog {
        _ = try data.existing()
        guard FileManager.default.fileExists(atPath: data.url.appendingPathComponent(AuditLog.databaseFileName).path)
        else {
            throw CLIError("no audit log in \(data.url.path): check --data-dir (`strongroom init` makes one)")
        }
        do { return try data.auditLog() } catch { throw CLIError("\(error)") }
    }

    static func hex(_ bytes: [UInt8]) -> String { Merkle.hex(bytes) }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay every entry and check every signed checkpoint; name the first bad entry.",
            discussion: """
                Recomputes each leaf hash from the stored entry, the tree, and each checkpoint's root and \
                signature. Exit status 0 when the log is intact, 1 with the first bad index otherwise. \
                Whoever can write the data directory can also replace the signing key, delete checkpoints \
                and cut the tail: pass the verifier key you recorded (--trusted-key name+id+base64, then only \
                it is trusted) and checkpoints you kept elsewhere (--checkpoint FILE) to catch that.
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "Trust only this verifier key (repeatable; default: this log's own key file).")
        var trustedKey: [String] = []
        @Option(help: "A signed checkpoint kept outside the data directory (repeatable).")
        var checkpoint: [String] = []
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let log = try AuditCommand.open(data)
            var keys: [NoteVerifierKey] = []
            for text in trustedKey {
                do { keys.append(try NoteVerifierKey(parsing: text)) } catch {
                    throw CLIError("--trusted-key: \(error)")
                }
            }
            var notes: [String] = []
            for file in checkpoint {
                guard let note = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw CLIError("cannot read checkpoint \(file)")
                }
                notes.append(note)
            }
            if keys.isEmpty || notes.isEmpty {
                printError(
                    """
                    warning: checked against what the data directory itself holds\(keys.isEmpty ? " (its own signing key)" : "")\
                    \(notes.isEmpty ? " with no checkpoint kept elsewhere" : ""). Whoever can write the data directory can \
                    rewrite the log and re-sign it: keep checkpoints outside it (`audit checkpoint --out`, a witness) and \
                    pass --checkpoint and --trusted-key.
                    """
                )
            }
            let result: AuditVerification
            do {
                result = try log.verify(
                    trustedKeys: keys.isEmpty ? nil : keys,
                    external: notes,
                    progress: AuditCommand.report
                )
            } catch {
                if json {
                    var message: [UInt8] = []
                    JSONValue.writeString("\(error)", to: &message)
                    let index = error.index.map(String.init) ?? "null"
                    print(#"{"error":\#(String(decoding: message, as: UTF8.self)),"index":\#(index),"ok":false}"#)
                }
                throw CLIError("verification failed: \(error)")
            }
            let root = AuditCommand.hex(result.root)
            if json {
                print(#"{"checkpoints":\#(result.checkpoints),"ok":true,"root":"\#(root)","size":\#(result.size)}"#)
            } else {
                print("OK: \(result.size) entries, \(result.checkpoints) signed checkpoints, root \(root)")
            }
        }
    }

    /// Checks a proof's root against the signed checkpoint of that size, when one exists.
    static func signedRoot(_ log: AuditLog, size: UInt64, root: [UInt8]) throws -> String {
        let signed: Bool
        do { signed = try log.isSigned(size: size, root: root) } catch {
            guard error.code == .tampered else { throw error }
            throw CLIError("the root at size \(size) differs from its signed checkpoint: run `strongroom audit verify`")
        }
        return signed ? ", root matches the signed checkpoint" : " (no signed checkpoint at size \(size))"
    }

    /// Progress on standard error for logs worth waiting for.
    static func report(_ done: UInt64, _ total: UInt64) {
        if total >= 1 << 17 { printError("verified \(done)/\(total) entries") }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print (and check) an inclusion or a consistency proof.",
            discussion: """
                strongroom audit prove --index N [--size S]      entry N is in the tree of size S (default: now)
                strongroom audit prove --consistency OLD NEW     the tree of NEW extends the tree of OLD
                Hashes are hex; the proof is verified with RFC 9162's algorithm before it is printed.
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "Entry index for an inclusion proof.")
        var index: UInt64?
        @Option(help: "Tree size for the inclusion proof (default: the whole log).")
        var size: UInt64?
        @Option(parsing: .upToNextOption, help: "Two tree sizes OLD NEW for a consistency proof.")
        var consistency: [UInt64] = []
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func validate() throws {
            guard (index != nil) != (consistency.count == 2) else {
                throw ValidationError("give either --index N or --consistency OLD NEW")
            }
        }

        func run() throws {
            let log = try AuditCommand.open(data)
            do {
                if let index {
                    let proof = try log.inclusionProof(index: index, size: size)
                    try proof.verify()
                    let signed = try AuditCommand.signedRoot(log, size: proof.size, root: proof.root)
                    if json {
                        print(proof.json)
                    } else {
                        print("entry \(proof.index) in tree of size \(proof.size): verified\(signed)")
                        print("leaf hash \(AuditCommand.hex(proof.leafHash))")
                        print("root      \(AuditCommand.hex(proof.root))")
                        for (i, hash) in proof.path.enumerated() { print("path[\(i)]   \(AuditCommand.hex(hash))") }
                    }
                } else {
                    let proof = try log.consistencyProof(oldSize: consistency[0], newSize: consistency[1])
                    try proof.verify()
                    _ = try AuditCommand.signedRoot(log, size: proof.oldSize, root: proof.oldRoot)
                    let signed = try AuditCommand.signedRoot(log, size: proof.newSize, root: proof.newRoot)
                    if json {
                        print(proof.json)
                    } else {
                        print("tree \(proof.newSize) extends tree \(proof.oldSize): verified\(signed)")
                        print("old root  \(AuditCommand.hex(proof.oldRoot))")
                        print("new root  \(AuditCommand.hex(proof.newRoot))")
                        for (i, hash) in proof.path.enumerated() { print("path[\(i)]   \(AuditCommand.hex(hash))") }
                    }
                }
            } catch {
                throw CLIError("\(error)")
            }
        }
    }

    struct CheckpointCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint",
            abstract: "Write the newest signed checkpoint (a c2sp.org signed note) for external attestation.",
            discussion: """
                The note's three lines are origin, tree size and base64 root; the signature line is Ed25519. \
                Verify it elsewhere with the key `strongroom audit key` prints (any signed-note verifier).
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "Write to this file instead of standard output.")
        var out: String?

        func run() throws {
            let log = try AuditCommand.open(data)
            guard let note = try log.latestCheckpoint() else { throw CLIError("the audit log is empty") }
            if let out {
                do { try Data(note.utf8).write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
                    throw CLIError("cannot write \(out)")
                }
                printError("checkpoint written to \(out)")
            } else {
                print(note, terminator: "")
            }
        }
    }

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the log's verifier key (name+id+base64), for checkpoint verifiers."
        )
        @OptionGroup var data: DataDirectoryOptions

        func run() throws { print(try AuditCommand.open(data).verifierKey.text) }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export entries for a SIEM as JSON Lines, CEF or RFC 5424 syslog, resuming from a cursor.",
            discussion: """
                --cursor FILE holds the next index to export; it is read first and advanced after the \
                lines are written, so a scheduled export sends each entry once. Without it, every entry.
                """
        )
        enum Format: String, ExpressibleByArgument, CaseIterable {
            case jsonl, cef, syslog
        }
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "jsonl, cef or syslog.")
        var format: Format = .jsonl
        @Option(help: "Cursor file: next index to export.")
        var cursor: String?
        @Option(help: "Most entries to export in this run.")
        var limit: Int = 1_000_000
        @Option(help: "HOSTNAME field of syslog lines.")
        var hostname: String = ProcessInfo.processInfo.hostName

        func run() throws {
            let log = try AuditCommand.open(data)
            var next: UInt64 = 0
            if let cursor, let text = try? String(contentsOfFile: cursor, encoding: .utf8) {
                guard let value = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    throw CLIError("cursor file \(cursor) does not hold an index")
                }
                next = value
            }
            var remaining = limit
            while remaining > 0 {
                let page: [(index: UInt64, bytes: [UInt8])]
                do { page = try log.entries(from: next, limit: min(remaining, 4096)) } catch {
                    throw CLIError("\(error)")
                }
                if page.isEmpty { break }
                var out: [UInt8] = []
                for (index, bytes) in page {
                    guard let entry = AuditEntry(canonical: bytes) else {
                        throw CLIError("entry \(index) does not parse: run `strongroom audit verify`")
                    }
                    switch format {
                    case .jsonl: out += bytes
                    case .cef: out += Array(SIEMFormat.cef(entry).utf8)
                    case .syslog: out += Array(SIEMFormat.syslog(entry, hostname: hostname).utf8)
                    }
                    out.append(0x0A)
                }
                // The cursor moves only after every byte reached standard output.
                guard writeOut(out) else { throw CLIError("cannot write to standard output; cursor not moved") }
                next = page[page.count - 1].index + 1
                remaining -= page.count
                if let cursor {
                    do {
                        try Data("\(next)\n".utf8).write(to: URL(fileURLWithPath: cursor), options: .atomic)
                    } catch { throw CLIError("cannot write cursor \(cursor)") }
                }
            }
        }
    }
}

struct AuditBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Durable audit appends/s, and proof generation and verification at 1,000,000 entries.",
        discussion: """
            Appends --entries decrypt/deny entries in batches of --batch (one transaction, one fsync, one \
            signed checkpoint per batch) to a fresh log in a temporary folder, then times inclusion proofs \
            for --proofs random entries and consistency proofs between random sizes, each generated from \
            the SQLite store and verified (RFC 9162), and checked against each other. Lines in the \
            ../shared/bench format; for proofs `events_per_s` is proofs/s and the note gives µs per proof.

              strongroom bench audit --entries 1000000
            """
    )
    @Option(help: "Entries to append.")
    var entries = 1_000_000
    @Option(help: "Entries per durable append (group commit).")
    var batch = 1000
    @Option(help: "Proofs to time.")
    var proofs = 2000
    @Flag(help: "Also replay the whole log with `verify` and time it.")
    var verify = false

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strongroom-bench-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = try AuditLog(dataDirectory: directory)
        let principals = ["fraud-service", "analytics", "pos-terminal", "developer"]
        func entry(_ i: Int) -> AuditEntry {
            AuditEntry(
                principal: principals[i % 4],
                action: i % 4 == 3 ? "Consume" : "Decrypt",
                resource: "field:loan_applications/ssn",
                decision: i % 4 == 3 ? .deny : .allow,
                fields: ["/ssn"],
                purpose: "credit-check",
                rules: ["fraud-decrypt-ssn"],
                correlationID: "batch-\(i / batch)",
                keyIDs: ["subject/\(i % 10_000)/v1"],
                count: 1
            )
        }
        var bytes = 0
        var written = 0
        let appendSeconds = try measure {
            while written < entries {
                let chunk = (written..<min(written + batch, entries)).map(entry)
                try log.append(chunk)
                written += chunk.count
                if written % 100_000 == 0 { printError("appended \(written)/\(entries)") }
            }
        }
        bytes = Int(try log.storedBytes())
        BenchLine(
            op: "audit_append",
            n: entries,
            bytes: bytes,
            seconds: appendSeconds,
            note: "durable (WAL, synchronous=FULL), \(batch) entries per transaction and signed checkpoint"
        )
        .print()

        var generator = SystemRandomNumberGenerator()
        let size = log.size
        let indices = (0..<proofs).map { _ in UInt64.random(in: 0..<size, using: &generator) }
        var inclusion: [InclusionProof] = []
        let proveSeconds = try measure { inclusion = try indices.map { try log.inclusionProof(index: $0) } }
        let verifySeconds = try measure { for proof in inclusion { try proof.verify() } }
        let root = log.root
        guard inclusion.allSatisfy({ $0.root == root && $0.size == size }) else {
            throw CLIError("inclusion proofs disagree with the log's root")
        }
        BenchLine(
            op: "audit_inclusion_prove",
            n: proofs,
            bytes: 0,
            seconds: proveSeconds,
            note: String(
                format: "%.1f µs per proof at %llu entries (SQLite reads)",
                proveSeconds / Double(proofs) * 1e6,
                size
            )
        )
        .print()
        BenchLine(
            op: "audit_inclusion_verify",
            n: proofs,
            bytes: 0,
            seconds: verifySeconds,
            note: String(
                format: "%.1f µs per proof, %d hashes each",
                verifySeconds / Double(proofs) * 1e6,
                inclusion[0].path.count
            )
        )
        .print()

        let pairs = (0..<proofs / 4).map { _ -> (UInt64, UInt64) in
            let a = UInt64.random(in: 1...size, using: &generator)
            let b = UInt64.random(in: 1...size, using: &generator)
            return (min(a, b), max(a, b))
        }
        var consistency: [ConsistencyProof] = []
        let consistencySeconds = try measure {
            consistency = try pairs.map { try log.consistencyProof(oldSize: $0.0, newSize: $0.1) }
        }
        let consistencyVerify = try measure { for proof in consistency { try proof.verify() } }
        BenchLine(
            op: "audit_consistency_prove_and_verify",
            n: pairs.count,
            bytes: 0,
            seconds: consistencySeconds + consistencyVerify,
            note: String(
                format: "%.1f µs to generate, %.1f µs to verify, per proof",
                consistencySeconds / Double(pairs.count) * 1e6,
                consistencyVerify / Double(pairs.count) * 1e6
            )
        )
        .print()

        if verify {
            let replaySeconds = try measure { _ = try log.verify() }
            BenchLine(op: "audit_verify_replay", n: Int(size), bytes: bytes, seconds: replaySeconds).print()
        }
    }
}
