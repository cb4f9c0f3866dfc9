import Foundation
import Strongroom
import StrongroomAudit
import StrongroomCrypto
import StrongroomJSON
import StrongroomKeys
import StrongroomLog
import StrongroomTestSupport
import Synchronization
import Testing

/// Runs the built `strongroom` executable.
struct CLI {
    static func run(
        _ arguments: [String],
        input: String = "",
        bytes: [UInt8]? = nil,
        environment: [String: String] = [:]
    ) throws -> (status: Int32, out: String, err: String) {
        guard let executable = TestSupport.executable else { throw CocoaError(.fileNoSuchFile) }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // A command may exit before reading all its input (a refused option): a closed pipe is
        // then an error to ignore, not a signal that kills the test process.
        signal(SIGPIPE, SIG_IGN)
        try? stdin.fileHandleForWriting.write(contentsOf: Data(bytes ?? Array(input.utf8)))
        try? stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}

@Suite("strongroom CLI", .serialized)
struct CLITests {
    let schemaPath = TestSupport.packageRoot.appendingPathComponent("examples/loan_application.schema.json").path
    let eventsPath = TestSupport.packageRoot.appendingPathComponent("examples/loan_applications.jsonl").path

    var cipherArguments: [String] {
        [
            "--topic", "loan_applications", "--schema", schemaPath, "--subject-field", "customerId", "--event-id-field",
            "applicationId",
        ]
    }

    @Test("bench pipeline with concurrent callers and group members appends and reads every event once")
    func benchPipelineConcurrent() throws {
        let lines = try String(contentsOfFile: eventsPath, encoding: .utf8).split(separator: "\n")
        let file = TestSupport.scratchDirectory("bench").appendingPathComponent("events.jsonl")
        try (Array(repeatElement(lines, count: 300).joined()).joined(separator: "\n") + "\n")
            .write(to: file, atomically: true, encoding: .utf8)
        func run(_ extra: [String]) throws -> (produce: JSONValue, consume: JSONValue) {
            let result = try CLI.run(
                [
                    "bench", "pipeline", "--events", file.path, "--schema", schemaPath, "--batch", "100", "--warmup",
                    "10",
                ]
                    + extra
            )
            #expect(result.status == 0, "\(result.err.suffix(400))")
            let out = try result.out.split(separator: "\n").map { try JSONValue(parsing: Array($0.utf8)) }
            let produce = try #require(out.first { $0["op"] == .string("produce_secure") })
            let consume = try #require(out.first { $0["op"] == .string("consume_secure") })
            return (produce, consume)
        }
        let one = try run([])
        let many = try run(["--callers", "2", "--partitions", "3", "--readers", "2"])
        #expect(one.produce["note"]?.stringValue?.hasPrefix("1200 appended") == true)
        #expect(many.produce["note"]?.stringValue?.hasPrefix("1200 appended") == true)
        #expect(many.produce["note"]?.stringValue?.contains("2 callers at once") == true)
        #expect(one.consume["n"] == .number("1200") && many.consume["n"] == .number("1200"))
        let fields = one.consume["note"]?.stringValue?.split(separator: "(").last?.split(separator: " ").first
        #expect(fields == "8400", "seven fields an event")
        #expect(many.consume["note"]?.stringValue?.contains("(8400 fields)") == true)
        #expect(
            try CLI.run(["bench", "pipeline", "--events", file.path, "--schema", schemaPath, "--readers", "2"]).status
                != 0
        )
    }

    @Test("init, encrypt, decrypt, erase, finalize through the shell; bad lines named, good ones kept")
    func workflow() throws {
        let dir = TestSupport.scratchDirectory("cli").appendingPathComponent("data").path
        let env = ["STRONGROOM_DATA": dir]
        #expect(try CLI.run(["init"], environment: env).status == 0)
        #expect(try CLI.run(["init"], environment: env).status != 0)

        let events = try String(contentsOfFile: eventsPath, encoding: .utf8)
        let lines = events.split(separator: "\n").map(String.init)
        let input = lines[0] + "\n{not json\n" + lines[1] + "\n" + lines[2] + "\n" + lines[3] + "\n"
        let encrypted = try CLI.run(["encrypt"] + cipherArguments, input: input, environment: env)
        #expect(encrypted.status == 1)
        #expect(encrypted.err.contains("line 2: invalid JSON"))
        #expect(encrypted.err.contains("1 of 5 lines failed"))
        let out = encrypted.out.split(separator: "\n").map(String.init)
        #expect(out.count == 4)
        // "Mary" alone can occur in base64url ciphertext by chance; a space never does.
        #expect(!encrypted.out.contains("123-45-6789") && !encrypted.out.contains("Mary Johnson"))

        let decrypted = try CLI.run(["decrypt"] + cipherArguments, input: encrypted.out, environment: env)
        #expect(decrypted.status == 0)
        #expect(decrypted.out.split(separator: "\n").map(String.init) == lines)

        let erase = try CLI.run(["keys", "erase", "--subject", "CUST-00000001", "--json"], environment: env)
        #expect(erase.status == 0 && !erase.out.contains("CUST-00000001"))
        let after = try CLI.run(["decrypt"] + cipherArguments, input: encrypted.out, environment: env)
        #expect(after.status == 0)
        let afterLines = after.out.split(separator: "\n").map(String.init)
        #expect(
            afterLines[0].contains(#""ssn":{"$erased":true}"#) && afterLines[3].contains(#""ssn":{"$erased":true}"#)
        )
        #expect(afterLines[1] == lines[1] && afterLines[2] == lines[2])

        let finalize = try CLI.run(["keys", "finalize"], environment: env)
        #expect(finalize.status == 0 && finalize.out.contains("Finalized 1"))
        let list = try CLI.run(["keys", "list", "--json"], environment: env)
        #expect(list.status == 0 && list.out.contains(#""final":1"#))
        #expect(try CLI.run(["keys", "rotate", "--subject", "CUST-00000002"], environment: env).out.contains(":v2"))
        #expect(try CLI.run(["keys", "rotate-kek"], environment: env).out.contains("version 2 active"))
        #expect(
            try CLI.run(["decrypt"] + cipherArguments, input: encrypted.out, environment: env).out.split(
                separator: "\n"
            )[1] == lines[1]
        )
    }

    @Test("two processes sealing the same events under the same keys at once never share a nonce")
    func twoProcessNonces() throws {
        let dir = TestSupport.scratchDirectory("cli-nonces").appendingPathComponent("data").path
        let env = ["STRONGROOM_DATA": dir]
        #expect(try CLI.run(["init"], environment: env).status == 0)
        let events = try String(contentsOfFile: eventsPath, encoding: .utf8)
        let input = String(repeating: events, count: 50)
        // The subjects' keys exist first, so both processes seal under the same keys.
        #expect(try CLI.run(["encrypt"] + cipherArguments, input: events, environment: env).status == 0)
        let outputs = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            let run = try? CLI.run(["encrypt"] + cipherArguments, input: input, environment: env)
            outputs.withLock { $0.append(run?.out ?? "") }
        }
        var nonces = Set<[UInt8]>()
        var count = 0
        for out in outputs.withLock({ $0 }) {
            for match in out.matches(of: /"sr1:([A-Za-z0-9_-]+)"/) {
                guard let bytes = Base64URL.decode(String(match.1)), bytes.count > 35, bytes[1] == 1 else { continue }
                nonces.insert(Array(bytes[23..<35]))
                count += 1
            }
        }
        #expect(count >= 2 * 50 * events.split(separator: "\n").count)
        #expect(nonces.count == count)
    }

    @Test("data-key limits: set at init, shown and changed by keys limits (audited), applied by encrypt")
    func keyLimits() throws {
        let dir = TestSupport.scratchDirectory("cli-limits").appendingPathComponent("data").path
        let env = ["STRONGROOM_DATA": dir]
        #expect(try CLI.run(["init", "--dek-max-age", "0s"], environment: env).status != 0)
        #expect(try CLI.run(["init", "--dek-max-seals", "4294967297"], environment: env).status != 0)
        let created = try CLI.run(["init", "--dek-max-age", "90d", "--dek-max-seals", "100"], environment: env)
        #expect(created.status == 0 && created.out.contains("at most 100 field seals"))
        #expect(
            try CLI.run(["keys", "limits", "--json"], environment: env).out.contains(
                #""maxAgeSeconds":7776000,"maxSeals":100"#
            )
        )
        let set = try CLI.run(["keys", "limits", "--dek-max-seals", "7", "--dek-max-age", "none"], environment: env)
        #expect(set.status == 0 && set.out.contains("at most 7 field seals") && set.out.contains("maximum age none"))
        #expect(try CLI.run(["keys", "limits", "--dek-max-age", "5x"], environment: env).status != 0)
        // Seven fields per event (six PII fields and the customer id) and a limit of 7: every event
        // of one subject gets a new key version.
        let events = try String(contentsOfFile: eventsPath, encoding: .utf8).split(separator: "\n").prefix(1)
        let input = String(repeating: events[0] + "\n", count: 3)
        let encrypted = try CLI.run(["encrypt"] + cipherArguments, input: input, environment: env)
        #expect(encrypted.status == 0)
        let listing = try CLI.run(["keys", "list", "--json"], environment: env).out
        #expect(listing.contains(#""state":"active","version":3"#))
        #expect(!listing.contains(#""sealed":8"#))
        let audit = try CLI.run(["audit", "export"], environment: env).out
        #expect(audit.contains("SetKeyLimits"))
        let decrypted = try CLI.run(["decrypt"] + cipherArguments, input: encrypted.out, environment: env)
        #expect(decrypted.out == input)
    }

    @Test("a second process with a warm cache stops decrypting right after an erasure")
    func secondProcess() throws {
        let dir = TestSupport.scratchDirectory("cli2").appendingPathComponent("data").path
        let env = ["STRONGROOM_DATA": dir]
        #expect(try CLI.run(["init"], environment: env).status == 0)
        let line = try String(contentsOfFile: eventsPath, encoding: .utf8).split(separator: "\n")[0] + "\n"
        let encrypted = try CLI.run(["encrypt"] + cipherArguments, input: String(line), environment: env).out

        guard let executable = TestSupport.executable else { throw CocoaError(.fileNoSuchFile) }
        let process = Process()
        process.executableURL = executable
        process.arguments = ["decrypt"] + cipherArguments
        process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        defer { process.terminate() }
        func roundTrip() throws -> String {
            stdin.fileHandleForWriting.write(Data(encrypted.utf8))
            var collected = Data()
            while !collected.contains(0x0A) { collected.append(stdout.fileHandleForReading.availableData) }
            return String(decoding: collected, as: UTF8.self)
        }
        #expect(try roundTrip().contains(#""ssn":"123-45-6789""#))
        #expect(try roundTrip().contains(#""ssn":"123-45-6789""#))  // warm cache
        #expect(try CLI.run(["keys", "erase", "--subject", "CUST-00000001"], environment: env).status == 0)
        #expect(try roundTrip().contains(#""ssn":{"$erased":true}"#))
    }

    @Test("the BFB demo runs end to end, and no plaintext PII reaches its data directory or its output")
    func demo() throws {
        let directory = TestSupport.scratchDirectory("demo").appendingPathComponent("data")
        let count = 600
        let result = try CLI.run(["demo", "--count", "\(count)", "--data-dir", directory.path])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("denied and audited"))
        #expect(result.out.contains("denied by rule developers-never-consume"), "the denial names its rule")
        #expect(result.out.contains("(examples/)"), "the header names the folder it read")
        // The executable is built in the tests' configuration.
        #if DEBUG
        #expect(result.out.contains("debug build: `swift build -c release` for real figures"))
        #else
        #expect(!result.out.contains("debug build"))
        #endif
        #expect(result.out.contains(#"read {"$erased":true}"#))
        #expect(result.out.contains("entries verified"))
        // Every PII value the demo produced, searched for in every file and every output line.
        let pii = Set(DemoWorkload.events(count: count).flatMap(\.pii))
        #expect(pii.count > 300)
        var files: [URL] = []
        let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { files.append(url) }
        }
        #expect(files.contains { $0.lastPathComponent == "log.sqlite" })
        let haystacks =
            try files.map { ($0.lastPathComponent, try Data(contentsOf: $0)) } + [
                ("stdout", Data(result.out.utf8)), ("stderr", Data(result.err.utf8)),
            ]
        for value in pii {
            let needle = Data(value.utf8)
            for (name, bytes) in haystacks where bytes.range(of: needle) != nil {
                Issue.record("plaintext PII found in \(name)")
            }
        }
    }

    @Test("a keyring others can read stops every command with a clear message")
    func permissions() throws {
        let dir = TestSupport.scratchDirectory("cli3").appendingPathComponent("data")
        #expect(try CLI.run(["init", "--data-dir", dir.path]).status == 0)
        chmod(dir.appendingPathComponent("keyring.json").path, 0o644)
        let result = try CLI.run(["keys", "list", "--data-dir", dir.path])
        #expect(result.status != 0 && result.err.contains("chmod 600"))
    }
}

@Suite("strongroom audit CLI", .serialized)
struct AuditCLITests {
    @Test("erasure receipts land in the audit log without the subject id; verify, prove, export with a cursor")
    func receiptsAndExport() throws {
        let directory = TestSupport.scratchDirectory("audit-cli").appendingPathComponent("data")
        let env = ["STRONGROOM_DATA": directory.path]
        #expect(try CLI.run(["init"], environment: env).status == 0)
        // Two subjects hold keys (their data was encrypted); the third never had any.
        let store = try KeyStore.open(dataDirectory: directory)
        for subject in ["CUST-00000017", "CUST-00000018"] { _ = try store.encryptionKey(for: .subject(subject)) }
        for subject in ["CUST-00000017", "CUST-00000018", "CUST-00000019"] {
            let erased = try CLI.run(
                ["keys", "erase", "--subject", subject, "--principal", "user:dpo", "--correlation-id", "DSR-7"],
                environment: env
            )
            #expect(erased.status == 0, "\(erased.err)")
        }
        let verify = try CLI.run(["audit", "verify", "--json"], environment: env)
        #expect(verify.status == 0)
        #expect(verify.out.contains(#""ok":true"#) && verify.out.contains(#""size":6"#))
        let proof = try CLI.run(["audit", "prove", "--index", "1"], environment: env)
        #expect(proof.status == 0 && proof.out.contains("verified"))
        #expect(try CLI.run(["audit", "prove", "--index", "6"], environment: env).status != 0)

        let cursor = directory.deletingLastPathComponent().appendingPathComponent("siem.cursor").path
        let first = try CLI.run(["audit", "export", "--format", "syslog", "--cursor", cursor], environment: env)
        #expect(first.status == 0)
        let lines = first.out.split(separator: "\n")
        #expect(lines.count == 6)  // each erasure: the request, then the receipt
        #expect(lines.allSatisfy { $0.hasPrefix("<110>1 ") && $0.contains("[audit@32473 index=") })
        #expect(first.out.contains(#"principal="user:dpo""#))
        #expect(try CLI.run(["audit", "export", "--cursor", cursor], environment: env).out.isEmpty)
        #expect(try CLI.run(["keys", "finalize"], environment: env).status == 0)
        let next = try CLI.run(["audit", "export", "--format", "cef", "--cursor", cursor], environment: env)
        #expect(next.out.split(separator: "\n").count == 1)
        #expect(next.out.hasPrefix("CEF:0|Strongroom|strongroom|1|FinalizeErasure|"))

        let checkpointFile = directory.deletingLastPathComponent().appendingPathComponent("checkpoint.txt").path
        #expect(try CLI.run(["audit", "checkpoint", "--out", checkpointFile], environment: env).status == 0)
        let note = try String(contentsOfFile: checkpointFile, encoding: .utf8)
        #expect(note.split(separator: "\n").dropFirst().first == "7")

        // No file in the data directory holds a subject id in clear.
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            let bytes = try Data(contentsOf: directory.appendingPathComponent(file))
            #expect(bytes.range(of: Data("CUST-000000".utf8)) == nil, "\(file) holds a subject id")
        }
    }
}

@Suite("embedded event log: crash")
struct EventLogCrashTests {
    @Test("an appender killed with SIGKILL mid-stream: every acknowledged record survives, none is torn, offsets go on")
    func killedAppender() throws {
        guard let executable = TestSupport.executable else {
            Issue.record("the strongroom executable was not built")
            return
        }
        let directory = TestSupport.scratchDirectory("log-crash").appendingPathComponent("data")
        let env = ["STRONGROOM_DATA": directory.path]
        #expect(try CLI.run(["topic", "create", "crash", "--partitions", "3"], environment: env).status == 0)

        let process = Process()
        process.executableURL = executable
        process.arguments = ["log", "append", "--topic", "crash", "--key-field", "k", "--batch", "64", "--raw"]
        process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        let padding = String(repeating: "x", count: 300)
        let writer = Thread {
            // Writes until the child dies (the write then fails with EPIPE, ignored).
            signal(SIGPIPE, SIG_IGN)
            for i in 0..<200_000 {
                let line = #"{"k":"key-\#(i % 17)","i":\#(i),"pad":"\#(padding)"}"# + "\n"
                let ok = Data(line.utf8).withUnsafeBytes {
                    write(stdin.fileHandleForWriting.fileDescriptor, $0.baseAddress, $0.count)
                }
                if ok <= 0 { return }
            }
        }
        writer.start()
        var acknowledged: [(partition: Int, offset: Int64)] = []
        var buffer = Data()
        let reader = stdout.fileHandleForReading
        var malformed = false
        while acknowledged.count < 3_000 && !malformed {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                // `partition P offset O`
                let parts = line.split(separator: " ")
                if parts.count == 4, parts[0] == "partition", parts[2] == "offset", let p = Int(parts[1]),
                    let o = Int64(parts[3])
                {
                    acknowledged.append((p, o))
                } else {
                    Issue.record("unexpected acknowledgement line: \(line)")
                    malformed = true
                    break
                }
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(acknowledged.count >= 3_000)

        let log = try SQLiteEventLog(dataDirectory: directory)
        var stored: [Int: [StoredRecord]] = [:]
        for p in 0..<3 {
            var next: Int64 = 0
            while true {
                let page = try log.fetch(topic: "crash", partition: p, from: next, maxBytes: 1 << 20, maxRecords: 1000)
                guard let last = page.last else { break }
                stored[p, default: []] += page
                next = last.offset + 1
            }
        }
        for ack in acknowledged {
            #expect((stored[ack.partition]?.count ?? 0) > Int(ack.offset), "acknowledged \(ack) lost")
        }
        var lastSeen: [String: Int] = [:]
        for (p, records) in stored {
            #expect(records.map(\.offset) == (0..<Int64(records.count)).map { $0 }, "partition \(p) offsets contiguous")
            for record in records {
                let value = try JSONValue(parsing: record.value ?? [])
                let key = value["k"]?.stringValue ?? ""
                guard case .number(let text)? = value["i"], let i = Int(text) else {
                    Issue.record("torn record at \(p):\(record.offset)")
                    continue
                }
                #expect(record.key == Array(key.utf8))
                #expect(i > lastSeen[key, default: -1], "key \(key) out of order")
                lastSeen[key] = i
            }
        }
        let next = try log.append([LogRecord(value: Array("after".utf8), partition: 0)], to: "crash")
        #expect(next.first?.offset == Int64(stored[0]?.count ?? 0), "offsets continue after the crash")
    }
}

@Suite("strongroom schema CLI", .serialized)
struct SchemaCLITests {
    @Test("register, check, refuse a poisoned schema, force it, validate lines, list, history")
    func registry() throws {
        let directory = TestSupport.scratchDirectory("schema-cli")
        let env = ["STRONGROOM_DATA": directory.appendingPathComponent("data").path]
        let schemaPath = TestSupport.packageRoot.appendingPathComponent("examples/loan_application.schema.json").path
        let register = try CLI.run(
            [
                "schema", "register", "--subject", "loan_applications-value", "--schema", schemaPath, "--principal",
                "user:alice",
            ],
            environment: env
        )
        #expect(register.status == 0, "\(register.err)")
        #expect(register.out.contains("version 1"))
        let original = try String(contentsOfFile: schemaPath, encoding: .utf8)
        let poisoned = directory.appendingPathComponent("poisoned.json")
        try original.replacingOccurrences(of: #""confluent:tags": ["PII"]"#, with: #""description": "x""#)
            .write(to: poisoned, atomically: true, encoding: .utf8)
        let check = try CLI.run(
            ["schema", "check", "--subject", "loan_applications-value", "--schema", poisoned.path],
            environment: env
        )
        #expect(check.status == 1)
        #expect(check.out.contains("SECURITY") && check.out.contains("PII tag removed"))
        let refused = try CLI.run(
            ["schema", "register", "--subject", "loan_applications-value", "--schema", poisoned.path],
            environment: env
        )
        #expect(refused.status != 0 && refused.err.contains("incompatible"))
        let forced = try CLI.run(
            [
                "schema", "register", "--subject", "loan_applications-value", "--schema", poisoned.path, "--force",
                "--principal", "user:admin",
            ],
            environment: env
        )
        #expect(forced.status == 0 && forced.out.contains("version 2"))
        let events = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/loan_applications.jsonl"),
            encoding: .utf8
        )
        let secret = "999-99-9999X"
        let bad = events.split(separator: "\n")[0].replacingOccurrences(
            of: "\"currency\":\"USD\"",
            with: "\"currency\":\"\(secret)\""
        )
        let validate = try CLI.run(
            ["schema", "validate", "--subject", "loan_applications-value"],
            input: events + bad + "\n",
            environment: env
        )
        #expect(validate.status == 1)
        #expect(validate.out.contains("/currency") && validate.out.contains("enum"))
        #expect(!validate.out.contains(secret) && !validate.err.contains(secret))
        let history = try CLI.run(["schema", "history"], environment: env)
        #expect(history.out.contains("register-forced") && history.out.contains("user:admin"))
        let list = try CLI.run(["schema", "list"], environment: env)
        #expect(list.out.contains("loan_applications-value: versions 1, 2, BACKWARD"))
    }
}

@Suite("strongroom dsr CLI", .serialized)
struct DSRCLITests {
    @Test("dsr access and export find a subject's records by its keyed hash; a principal without rights is refused")
    func accessAndExport() throws {
        let directory = TestSupport.scratchDirectory("dsr").appendingPathComponent("data")
        #expect(try CLI.run(["demo", "--count", "200", "--data-dir", directory.path]).status == 0)
        let workload = DemoWorkload.events(count: 200)
        let subject = try #require(workload.first { $0.customerID != workload[0].customerID })
        // The demo's policy copy pins its producers' keys; consumers trust nothing else.
        var policy = directory.appendingPathComponent("policy.json").path
        let common = [
            "--subject", subject.customerID, "--policy", policy, "--tenant", "bfb", "--data-dir", directory.path,
        ]
        let access = try CLI.run(["dsr", "access", "--principal", "dana"] + common)
        #expect(access.status == 0, "\(access.err)")
        let held = workload.filter { $0.customerID == subject.customerID }.count
        // Each application and the decision the fraud service wrote about it.
        #expect(access.out.contains(#""count" : \#(2 * held)"#))
        #expect(!access.out.contains(subject.customerID))
        let exportFile = directory.deletingLastPathComponent().appendingPathComponent("export.json")
        let export = try CLI.run(["dsr", "export", "--principal", "dana", "--out", exportFile.path] + common)
        #expect(export.status == 0, "\(export.err)")
        let document = try String(contentsOf: exportFile, encoding: .utf8)
        #expect(document.contains(subject.pii[0]))  // the subject's own SSN, decrypted for them
        let attributes = try FileManager.default.attributesOfItem(atPath: exportFile.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let refused = try CLI.run(["dsr", "export", "--principal", "alice"] + common)
        #expect(refused.status != 0 && refused.err.contains("denied"))

        // Rectify: a corrected event of the same subject is appended, signed by the DPO's key.
        let corrected = directory.deletingLastPathComponent().appendingPathComponent("corrected.json")
        try subject.json.replacingOccurrences(of: "\"termMonths\":", with: "\"termMonths\":1").write(
            to: corrected,
            atomically: true,
            encoding: .utf8
        )
        // Until the policy pins the DPO's producer key, nothing is appended and the key to pin is printed.
        let unpinned = try CLI.run(
            ["dsr", "rectify", "--principal", "dana", "--topic", "loan_applications", "--event", corrected.path]
                + common
        )
        #expect(unpinned.status != 0 && unpinned.err.contains("not pinned in the policy"))
        let key = try #require(unpinned.err.split(separator: "\"").first { $0.count == 44 && $0.hasSuffix("=") })
        let pinned = directory.deletingLastPathComponent().appendingPathComponent("policy-with-dana.json")
        try pinProducerKey(String(key), for: "dana", from: URL(fileURLWithPath: policy), to: pinned)
        policy = pinned.path
        let common2 = [
            "--subject", subject.customerID, "--policy", policy, "--tenant", "bfb", "--data-dir", directory.path,
        ]
        let rectify = try CLI.run(
            ["dsr", "rectify", "--principal", "dana", "--topic", "loan_applications", "--event", corrected.path]
                + common2
        )
        #expect(rectify.status == 0, "\(rectify.err)")
        #expect(rectify.out.contains("Correction appended"))
        let after = try CLI.run(["dsr", "access", "--principal", "dana"] + common2)
        #expect(after.out.contains(#""count" : \#(2 * held + 1)"#))
        let keyFile = directory.appendingPathComponent("producer-dana.key")
        #expect((try FileManager.default.attributesOfItem(atPath: keyFile.path)[.posixPermissions] as? Int) == 0o600)
        // Another subject's event is refused.
        let other = try #require(workload.first { $0.customerID != subject.customerID })
        try other.json.write(to: corrected, atomically: true, encoding: .utf8)
        let wrong = try CLI.run(
            ["dsr", "rectify", "--principal", "dana", "--topic", "loan_applications", "--event", corrected.path]
                + common2
        )
        #expect(wrong.status != 0 && wrong.err.contains("same data subject"))
    }
}

@Suite("secure consumer: crash")
struct ConsumerCrashTests {
    @Test("a consumer killed with SIGKILL mid-stream resumes from its committed offset: nothing lost, nothing skipped")
    func killedConsumer() throws {
        guard let executable = TestSupport.executable else {
            Issue.record("the strongroom executable was not built")
            return
        }
        let directory = TestSupport.scratchDirectory("consumer-crash").appendingPathComponent("data")
        #expect(try CLI.run(["demo", "--count", "2000", "--data-dir", directory.path]).status == 0)
        let policy = directory.appendingPathComponent("policy.json").path
        let arguments = [
            "consume", "--topic", "loan_applications", "--partition", "0", "--principal", "fraud-service",
            "--purpose", "credit-check", "--group", "fraud-crash-test", "--policy", policy, "--tenant", "bfb",
            "--batch", "20", "--data-dir", directory.path,
        ]
        let end = try SQLiteEventLog(dataDirectory: directory).describeTopic("loan_applications").partitions[0]
            .endOffset
        #expect(end > 100)

        // First run: read some lines, then SIGKILL while it keeps fetching and committing.
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        var seen: [Int64] = []
        var buffer = Data()
        while seen.count < 60 {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                if case .number(let text)? = try JSONValue(parsing: line)["offset"], let offset = Int64(text) {
                    seen.append(offset)
                }
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal || process.terminationStatus == 0)

        // Second run to the end: together the runs cover every offset, in order, each at least once.
        let rest = try CLI.run(arguments)
        #expect(rest.status == 0, "\(rest.err)")
        let resumed = try rest.out.split(separator: "\n").map { line -> Int64 in
            guard case .number(let text)? = try JSONValue(parsing: String(line))["offset"], let o = Int64(text) else {
                return -1
            }
            return o
        }
        let all = Set(seen).union(resumed)
        #expect(all == Set(0..<end), "lost: \(Set(0..<end).subtracting(all).sorted().prefix(5))")
        #expect(resumed == resumed.sorted())
        // The restart starts at or before the first offset the killed run never printed: no skip.
        if let first = resumed.first { #expect(first <= (seen.max() ?? -1) + 1) }
    }
}

/// Copies the policy at `source` to `target` with `key` added to `principal`'s `producerKeys`.
func pinProducerKey(_ key: String, for principal: String, from source: URL, to target: URL) throws {
    guard case .object(var document) = try JSONValue(parsing: Data(contentsOf: source)),
        let p = document.firstIndex(where: { $0.key == "principals" }),
        case .object(var principals) = document[p].value,
        let i = principals.firstIndex(where: { $0.key == principal }),
        case .object(var fields) = principals[i].value
    else { throw CocoaError(.fileReadCorruptFile) }
    fields.removeAll { $0.key == "producerKeys" }
    fields.append(.init("producerKeys", .array([.string(key)])))
    principals[i].value = .object(fields)
    document[p].value = .object(principals)
    var out: [UInt8] = []
    JSONValue.object(document).write(to: &out)
    try Data(out).write(to: target)
}

@Suite("strongroom produce, consume, dlq and raw appends", .serialized)
struct SecureShellTests {
    @Test("CLI: produce runs the pipeline per line, refuses unpinned keys and raw appends to protected topics")
    func produceFromTheShell() throws {
        let root = TestSupport.packageRoot
        let directory = TestSupport.scratchDirectory("produce-cli")
        try? FileManager.default.removeItem(at: directory)
        let data = directory.appendingPathComponent("data").path
        let env = ["STRONGROOM_DATA": data, "STRONGROOM_PRINCIPAL": "user:tester"]
        let examples = root.appendingPathComponent("examples")
        let events = try String(contentsOf: examples.appendingPathComponent("loan_applications.jsonl"), encoding: .utf8)
        #expect(try CLI.run(["init", "--tenant", "bfb"], environment: env).status == 0)
        #expect(
            try CLI.run(["topic", "create", "loan_applications", "--classification", "RESTRICTED"], environment: env)
                .status == 0
        )
        let schema = examples.appendingPathComponent("loan_application.schema.json").path
        #expect(
            try CLI.run(
                ["schema", "register", "--subject", "loan_applications-value", "--schema", schema],
                environment: env
            )
            .status == 0
        )
        let produce = [
            "produce", "--topic", "loan_applications", "--principal", "pos-terminal", "--source-address", "10.20.0.5",
        ]
        // An unpinned producer key: nothing is appended, and the key to pin is printed.
        let unpinned = try CLI.run(
            produce + ["--policy", examples.appendingPathComponent("policy.json").path],
            input: events,
            environment: env
        )
        #expect(unpinned.status != 0 && unpinned.err.contains("producerKeys") && unpinned.out.isEmpty)
        let policy = directory.appendingPathComponent("policy.json").path
        let pinned = try CLI.run(
            [
                "policy", "pin-producer", examples.appendingPathComponent("policy.json").path, "--principal",
                "pos-terminal", "--out", policy,
            ],
            environment: env
        )
        #expect(pinned.status == 0, "\(pinned.err)")
        #expect(try CLI.run(["policy", "check", policy], environment: env).status == 0)
        #expect(
            try CLI.run(
                ["policy", "pin-producer", policy, "--principal", "pos-terminal", "--out", policy],
                environment: env
            )
            .status != 0,
            "never over an existing file"
        )
        // One good line, one that breaks the schema, one with an SSN in an undeclared field, one good.
        let lines = events.split(separator: "\n").map(String.init)
        let broken = lines[1].replacingOccurrences(of: #""amount":"#, with: #""amount":"many","x":"#)
        let leaking = lines[2].replacingOccurrences(of: #""storeId":""#, with: #""storeId":"ssn 536-22-8726 "#)
        let mixed = try CLI.run(
            produce + ["--policy", policy],
            input: [lines[0], broken, leaking, lines[3]].joined(separator: "\n") + "\n",
            environment: env
        )
        #expect(mixed.status == 1)
        #expect(mixed.out.split(separator: "\n").count == 2 && mixed.out.contains(#""offset":"#))
        #expect(mixed.err.contains("line 2: schema violation") && mixed.err.contains("line 3: personal data"))
        #expect(!mixed.err.contains("536-22-8726") && !mixed.err.contains("CUST-"))
        // From the wrong network the Produce right does not hold.
        let outside = try CLI.run(
            ["produce", "--topic", "loan_applications", "--principal", "pos-terminal", "--policy", policy],
            input: lines[0] + "\n",
            environment: env
        )
        #expect(outside.status == 1 && outside.err.contains("denied"))

        // Raw appends to a protected topic need --raw, which is audited as such.
        let raw = try CLI.run(
            ["log", "append", "--topic", "loan_applications"],
            input: lines[0] + "\n",
            environment: env
        )
        #expect(raw.status != 0 && raw.err.contains("protected") && raw.err.contains("strongroom produce"))
        let forced = try CLI.run(
            ["log", "append", "--topic", "loan_applications", "--raw"],
            input: #"{"not":"an application"}"# + "\n",
            environment: env
        )
        #expect(forced.status == 0 && forced.out.hasPrefix("partition "))
        let described = try CLI.run(
            ["topic", "create", "short-lived", "--retention-ms", "604800000", "--classification", "PUBLIC"],
            environment: env
        )
        #expect(described.status == 0 && described.out.contains("dead-letter topic short-lived.dlq"))
        #expect(try CLI.run(["topic", "describe", "short-lived"], environment: env).out.contains("retention 7 days"))

        // Consume: the raw record is dead-lettered; then nothing new; --from-beginning reads again.
        let consume = [
            "consume", "--topic", "loan_applications", "--principal", "fraud-service", "--purpose", "credit-check",
            "--group", "fraud-cli", "--policy", policy,
        ]
        let first = try CLI.run(consume, environment: env)
        #expect(first.status == 0 && first.out.split(separator: "\n").count == 2, "\(first.err)")
        let again = try CLI.run(consume, environment: env)
        #expect(again.status == 0 && again.out.isEmpty && again.err.contains("nothing new to consume: group fraud-cli"))
        let rewound = try CLI.run(consume + ["--from-beginning"], environment: env)
        #expect(rewound.out.split(separator: "\n").count == 2)
        let denied = try CLI.run(
            [
                "consume", "--topic", "loan_applications", "--principal", "analytics", "--purpose", "reporting",
                "--group", "fraud-cli", "--policy", policy, "--from-beginning",
            ],
            environment: env
        )
        #expect(denied.status != 0, "another team's group cannot be rewound")

        // Dead letters: listed without content; replay leaves the unsigned record where it is.
        let dlq = ["--topic", "loan_applications", "--principal", "olga", "--policy", policy]
        let listed = try CLI.run(["dlq", "list"] + dlq, environment: env)
        #expect(listed.status == 0 && listed.out.contains("signature headers missing"), "\(listed.err)")
        #expect(!listed.out.contains("an application"))
        let replayed = try CLI.run(["dlq", "replay"] + dlq, environment: env)
        #expect(replayed.status == 1 && replayed.out.contains("Replayed 0") && replayed.out.contains("1 still fail"))
        #expect(
            try CLI.run(
                ["dlq", "list", "--topic", "loan_applications", "--principal", "analytics", "--policy", policy],
                environment: env
            ).status != 0
        )

        // Decrypting with another topic than the events were encrypted for names the options to check.
        let encrypted = try CLI.run(
            ["encrypt", "--topic", "loan_applications", "--schema", schema],
            input: lines[0] + "\n",
            environment: env
        )
        let misread = try CLI.run(
            ["decrypt", "--topic", "loan_decisions", "--schema", schema],
            input: encrypted.out,
            environment: env
        )
        #expect(misread.status == 1 && misread.err.contains("check --topic, --event-id-field"))

        // 1,500 lines ready at once: batches of up to 1,000, each prepared while the one before is
        // appended; answers in input order, offsets in that order, the bad line named by its number.
        let auditedBefore = try AuditLog(dataDirectory: URL(fileURLWithPath: data)).entries(from: 0, limit: 10_000)
            .count
        var many = (0..<1500).map { lines[$0 % lines.count] }
        many[1199] = broken
        let streamed = try CLI.run(
            produce + ["--policy", policy],
            input: many.joined(separator: "\n") + "\n",
            environment: env
        )
        #expect(streamed.status == 1)
        #expect(streamed.err.contains("line 1200: schema violation") && streamed.err.contains("1 of 1500 lines failed"))
        let offsets = streamed.out.split(separator: "\n").compactMap { line -> Int? in
            guard case .number(let text)? = (try? JSONValue(parsing: Array(line.utf8)))?["offset"] else { return nil }
            return Int(text)
        }
        #expect(offsets.count == 1499 && offsets == Array(3..<1502), "after the records above")
        // More than one batch: an allow entry each.
        let allowed = try AuditLog(dataDirectory: URL(fileURLWithPath: data))
            .entries(from: UInt64(auditedBefore), limit: 10_000)
            .compactMap { AuditEntry(canonical: $0.bytes) }
            .filter { $0.action == "Produce" && $0.decision == .allow }
        #expect(allowed.count >= 2 && allowed.reduce(0) { $0 + $1.count } == 1499)
        let actions = try AuditLog(dataDirectory: URL(fileURLWithPath: data)).entries(from: 0, limit: 10_000)
            .compactMap { AuditEntry(canonical: $0.bytes)?.action }
        for action in ["PinProducerKey", "AppendRaw", "ResetGroup", "ListDeadLetters", "ReplayDeadLettersRequested"] {
            #expect(actions.contains(action), "\(action) audited")
        }
    }
}

@Suite("strongroom --help")
struct HelpTests {
    static func subcommands(of help: String) -> [String] {
        guard let start = help.range(of: "SUBCOMMANDS:\n") else { return [] }
        // The section ends at the first blank line; names are lowercase words at two spaces' indent.
        let section = help[start.upperBound...].prefix { _ in true }.components(separatedBy: "\n\n")[0]
        return section.split(separator: "\n").compactMap { line in
            // A description's continuation lines are indented further: a name starts at column 3.
            guard line.hasPrefix("  "), line.dropFirst(2).first?.isLetter == true,
                let name = line.dropFirst(2).split(separator: " ").first,
                name.allSatisfy({ $0.isLowercase || $0 == "-" })
            else { return nil }
            return String(name)
        }
    }

    @Test("every help text: no line broken past 80 columns, no default said twice, the same text every time")
    func helpTexts() throws {
        var commands: [[String]] = [[]]
        var index = 0
        while index < commands.count {
            let command = commands[index]
            index += 1
            let help = try CLI.run(command + ["--help"])
            #expect(help.status == 0, "\(command)")
            #expect(try CLI.run(command + ["--help"]).out == help.out, "\(command): help differs between runs")
            for line in help.out.split(separator: "\n") where !line.hasPrefix("USAGE:") {
                #expect(line.count <= 80, "\(command): \(line)")
                #expect(!line.contains("(default: ") || line.components(separatedBy: "default").count <= 2)
            }
            #expect(!help.out.contains(") (default:"), "\(command): a default said twice")
            guard help.status == 0 else { continue }
            for sub in Self.subcommands(of: help.out) where sub != "help" { commands.append(command + [sub]) }
        }
        #expect(commands.count > 50 && commands.count < 200, "every subcommand visited once")
    }
}

#if PKCS11
@Suite("strongroom with KEKs in a PKCS#11 token (SoftHSM2)", .enabled(if: SoftHSM.isInstalled || TestSupport.isCI))
struct PKCS11CLITests {
    @Test(
        "init --kek pkcs11:… makes no keyring file; keys list names the token; rotate-kek, destroy-kek, erase and finalize work and are audited"
    )
    func lifecycle() throws {
        let dir = TestSupport.scratchDirectory("cli-hsm").path
        let uri = try SoftHSM.uri(object: "cli-\(UUID().uuidString.prefix(8))")
        let env = SoftHSM.environment
        let initialized = try CLI.run(["init", "--data-dir", dir, "--kek", uri], environment: env)
        #expect(initialized.status == 0, "\(initialized.err)")
        #expect(initialized.out.contains("KEKs:      pkcs11:token=\(SoftHSM.token)"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + KeyStore.keyringFileName))
        #expect(FileManager.default.fileExists(atPath: dir + "/" + EnvelopeKeyring.fileName))

        let schema = TestSupport.packageRoot.appendingPathComponent("examples/loan_application.schema.json").path
        let event = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/loan_applications.jsonl"),
            encoding: .utf8
        ).split(separator: "\n")[0]
        let ssn = "123-45-6789"  // the first example event's
        #expect(event.contains(ssn))
        let crypt = [
            "--data-dir", dir, "--topic", "loan_applications", "--schema", schema, "--subject-field", "customerId",
        ]
        let sealed = try CLI.run(["encrypt"] + crypt, input: event + "\n", environment: env)
        #expect(sealed.status == 0, "\(sealed.err)")
        #expect(!sealed.out.contains(ssn))

        let rotated = try CLI.run(["keys", "rotate-kek", "--data-dir", dir], environment: env)
        #expect(rotated.status == 0, "\(rotated.err)")
        let destroyed = try CLI.run(["keys", "destroy-kek", "--data-dir", dir, "--version", "1"], environment: env)
        #expect(destroyed.status == 0, "\(destroyed.err)")
        let opened = try CLI.run(["decrypt"] + crypt, input: sealed.out, environment: env)
        #expect(opened.status == 0, "\(opened.err)")
        #expect(opened.out.contains(ssn))

        let subject = "CUST-00000001"
        #expect(
            try CLI.run(["keys", "erase", "--data-dir", dir, "--subject", String(subject)], environment: env).status
                == 0
        )
        let finalized = try CLI.run(["keys", "finalize", "--data-dir", dir], environment: env)
        #expect(finalized.status == 0, "\(finalized.err)")
        let listed = try CLI.run(["keys", "list", "--data-dir", dir, "--json"], environment: env)
        #expect(listed.out.contains(#""provider":"pkcs11:token=\#(SoftHSM.token)"#))
        let audit = try CLI.run(["audit", "export", "--data-dir", dir], environment: env)
        for action in ["RotateKEK", "DestroyKEK", "FinalizeErasure"] {
            #expect(audit.out.contains(#""action":"\#(action)""#), "\(action)")
        }
        #expect(audit.out.contains("provider pkcs11:token=\(SoftHSM.token)"))

        // Without the PIN the directory opens nothing.
        let pinFile = String(uri.split(separator: "file:").last ?? "")
        try FileManager.default.removeItem(atPath: pinFile)
        let locked = try CLI.run(
            ["keys", "list", "--data-dir", dir],
            environment: env.merging(["STRONGROOM_PKCS11_PIN_FILE": pinFile]) { $1 }
        )
        #expect(locked.status != 0)
        #expect(locked.err.contains("PIN"))
    }
}
#endif

#if KMS
@Suite("strongroom with KEKs in AWS KMS (moto on loopback)", .enabled(if: Moto.endpoint != nil || TestSupport.isCI))
struct KMSCLITests {
    @Test(
        "init --kek aws-kms:… --kms-endpoint --region: no keyring file, fields seal and open, keys list names the key"
    )
    func lifecycle() throws {
        let endpoint = try #require(Moto.endpoint)
        let key = try AWSKMSKeyService(reference: "aws-kms:bootstrap?region=eu-central-1&endpoint=\(endpoint)")
            .createKey(purpose: "cli-test")
        let dir = TestSupport.scratchDirectory("cli-kms").path
        let env = ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"]
        let initialized = try CLI.run(
            [
                "init", "--data-dir", dir, "--kek", "aws-kms:\(key)", "--kms-endpoint", endpoint, "--region",
                "eu-central-1",
            ],
            environment: env
        )
        #expect(initialized.status == 0, "\(initialized.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + KeyStore.keyringFileName))
        let schema = TestSupport.packageRoot.appendingPathComponent("examples/loan_application.schema.json").path
        let event = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/loan_applications.jsonl"),
            encoding: .utf8
        ).split(separator: "\n")[0]
        let crypt = [
            "--data-dir", dir, "--topic", "loan_applications", "--schema", schema, "--subject-field", "customerId",
        ]
        let sealed = try CLI.run(["encrypt"] + crypt, input: event + "\n", environment: env)
        #expect(sealed.status == 0, "\(sealed.err)")
        #expect(!sealed.out.contains("123-45-6789"))
        let opened = try CLI.run(["decrypt"] + crypt, input: sealed.out, environment: env)
        #expect(opened.out.contains("123-45-6789"))
        let listed = try CLI.run(["keys", "list", "--data-dir", dir], environment: env)
        #expect(listed.out.contains("KEK provider: aws-kms:\(key)?region=eu-central-1&endpoint=\(endpoint)"))
        // --region without --kek aws-kms:… is refused, not ignored.
        let refused = try CLI.run(["init", "--data-dir", dir + "-2", "--region", "eu-central-1"], environment: env)
        #expect(refused.status != 0)
    }

    @Test("processes racing on kek.json (two KEK rotations, a finalize, an encrypt at once) lose no key")
    func concurrentKEKChanges() throws {
        let endpoint = try #require(Moto.endpoint)
        let key = try AWSKMSKeyService(reference: "aws-kms:bootstrap?region=eu-central-1&endpoint=\(endpoint)")
            .createKey(purpose: "cli-race")
        let dir = TestSupport.scratchDirectory("cli-kms-race").path
        let env = ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"]
        let kek = ["--kek", "aws-kms:\(key)", "--kms-endpoint", endpoint, "--region", "eu-central-1"]
        #expect(try CLI.run(["init", "--data-dir", dir] + kek, environment: env).status == 0)
        let schema = TestSupport.packageRoot.appendingPathComponent("examples/loan_application.schema.json").path
        let template = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/loan_applications.jsonl"),
            encoding: .utf8
        ).split(separator: "\n")[0]
        func events(_ round: Int) -> String {
            (0..<20).map { template.replacingOccurrences(of: "CUST-00000001", with: "CUST-R\(round)-\($0)") + "\n" }
                .joined()
        }
        let crypt = [
            "--data-dir", dir, "--topic", "loan_applications", "--schema", schema, "--subject-field", "customerId",
        ]
        let first = try CLI.run(["encrypt"] + crypt, input: events(0), environment: env)
        try #require(first.status == 0, "\(first.err)")
        var sealed = [first.out]
        // Without the lock on kek.json, one rotation's file replaces the other's, and the keys the
        // loser rewrapped point at a root key the file no longer lists.
        for round in 1...3 {
            let commands: [(arguments: [String], input: String)] = [
                (["keys", "rotate-kek", "--data-dir", dir], ""), (["keys", "rotate-kek", "--data-dir", dir], ""),
                (["keys", "finalize", "--data-dir", dir], ""), (["encrypt"] + crypt, events(round)),
            ]
            let results = Mutex([Int: (status: Int32, out: String, err: String)]())
            DispatchQueue.concurrentPerform(iterations: commands.count) { index in
                let result =
                    (try? CLI.run(commands[index].arguments, input: commands[index].input, environment: env))
                    ?? (status: -1, out: "", err: "did not start")
                results.withLock { $0[index] = result }
            }
            for (index, result) in results.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
                #expect(result.status == 0, "round \(round), \(commands[index].arguments.prefix(2)): \(result.err)")
                if index == 3 { sealed.append(result.out) }
            }
        }
        let listed = try CLI.run(["keys", "list", "--data-dir", dir], environment: env)
        #expect(listed.status == 0, "\(listed.err)")
        for (round, output) in sealed.enumerated() {
            let opened = try CLI.run(["decrypt"] + crypt, input: output, environment: env)
            #expect(opened.status == 0, "round \(round): \(opened.err)")
            #expect(opened.out.components(separatedBy: "123-45-6789").count == 21, "round \(round)")
        }
    }
}
#endif
