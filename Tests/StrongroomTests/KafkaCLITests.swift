#if Kafka
import Foundation
import StrongroomTestSupport
import Testing

/// A `strongroom dev kafka` process: a 3-broker cluster on loopback, stopped with the value.
final class DevKafka {
    let process = Process()
    let bootstrap: String

    init(brokers: Int = 3) throws {
        guard let executable = TestSupport.executable else { throw CocoaError(.fileNoSuchFile) }
        process.executableURL = executable
        process.arguments = ["dev", "kafka", "--brokers", "\(brokers)"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line: [UInt8] = []
        while let byte = try out.fileHandleForReading.read(upToCount: 1)?.first, byte != 0x0A { line.append(byte) }
        bootstrap = String(decoding: line, as: UTF8.self)
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
    }
}

/// Runs the CLI and expects success; its standard output.
func runOK(_ arguments: [String], input: String = "") throws -> String {
    let result = try CLI.run(arguments, input: input)
    #expect(result.status == 0, "\(arguments.prefix(3)): \(result.err.suffix(600))")
    return result.out
}

/// A copy of a pinned example policy whose DPO may erase at any time (the example allows
/// weekdays in office hours only).
func anytimeErasure(_ policy: String, in root: URL) throws -> URL {
    var rules = try #require(
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: policy))) as? [String: Any]
    )
    rules["rules"] = (rules["rules"] as? [[String: Any]])?.map { rule in
        var rule = rule
        if rule["id"] as? String == "dpo-erase-subject-keys" { rule["conditions"] = nil }
        return rule
    }
    let anytime = root.appendingPathComponent("policy-anytime.json")
    try JSONSerialization.data(withJSONObject: rules).write(to: anytime)
    return anytime
}

/// A site's data directory for tenant bfb with the example schema registered; it holds
/// another site's keyring when `keyring` is given (the DR runbook's standby setup).
func setUpSite(_ directory: String, keyring: String? = nil) throws {
    _ = try runOK(["init", "--tenant", "bfb", "--data-dir", directory])
    if let keyring {
        try FileManager.default.removeItem(atPath: directory + "/keyring.json")
        try FileManager.default.copyItem(atPath: keyring, toPath: directory + "/keyring.json")
    }
    let schema = TestSupport.packageRoot.appendingPathComponent("examples/loan_application.schema.json").path
    _ = try runOK([
        "schema", "register", "--subject", "loan_applications-value", "--schema", schema, "--data-dir", directory,
    ])
}

/// The primary of the DR tests, as the README's Kafka walk-through: a site, the example topic on
/// the cluster `onSite` names, and the example policy with pos-terminal pinned, written to `policy`.
func setUpPrimary(_ directory: String, onSite: [String], policy: String) throws {
    try setUpSite(directory)
    _ = try runOK(
        ["topic", "create", "loan_applications", "--partitions", "3", "--classification", "RESTRICTED"] + onSite
    )
    _ = try runOK([
        "policy", "pin-producer", TestSupport.packageRoot.appendingPathComponent("examples/policy.json").path,
        "--principal", "pos-terminal", "--out", policy, "--data-dir", directory,
    ])
}

/// Two development clusters for the DR tests, a data directory for each site, the pinned
/// policy's path, and each site's `--kafka … --data-dir …` arguments.
struct DRSites {
    let primary: DevKafka
    let standby: DevKafka
    let root: URL
    let a: String
    let b: String
    let policy: String
    let onA: [String]
    let onB: [String]
    /// The example events, one per line.
    let lines: [String]

    init(_ name: String) throws {
        primary = try DevKafka()
        standby = try DevKafka()
        root = TestSupport.scratchDirectory(name)
        a = root.appendingPathComponent("primary").path
        b = root.appendingPathComponent("standby").path
        policy = root.appendingPathComponent("policy.json").path
        onA = ["--kafka", primary.bootstrap, "--allow-plaintext", "--data-dir", a]
        onB = ["--kafka", standby.bootstrap, "--allow-plaintext", "--data-dir", b]
        lines = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/loan_applications.jsonl"),
            encoding: .utf8
        ).split(separator: "\n").map(String.init)
    }
}

/// Runs a program found on PATH.
func runTool(_ arguments: [String], input: String = "") throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let stdin = Pipe()
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    try stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

@Suite("Strongroom on Kafka through the shell, read by Kafka's own tools", .serialized)
struct KafkaCLITests {
    let schemaPath = TestSupport.packageRoot.appendingPathComponent("examples/loan_application.schema.json").path

    @Test(
        "demo --kafka; kcat and confluent-kafka read the records; a raw kcat write is dead-lettered, never handed over"
    )
    func interop() throws {
        let kafka = try DevKafka()
        #expect(kafka.bootstrap.split(separator: ",").count == 3, "three brokers: \(kafka.bootstrap)")
        let dir = TestSupport.scratchDirectory("kafka-cli").appendingPathComponent("data").path
        let on = ["--kafka", kafka.bootstrap, "--allow-plaintext"]
        let demo = try CLI.run(["demo", "--count", "60", "--data-dir", dir] + on)
        #expect(demo.status == 0, "\(demo.err)")
        #expect(demo.err.contains("WARNING: PLAINTEXT"), "plaintext is announced loudly")
        #expect(demo.out.contains("applications produced                 60 (0 refused)"), "\(demo.out)")

        // Without --allow-plaintext the same cluster is refused before any connection.
        let refused = try CLI.run(["topic", "list", "--data-dir", dir, "--kafka", kafka.bootstrap])
        #expect(refused.status != 0 && refused.err.contains("--allow-plaintext"), "\(refused.err)")
        let listed = try CLI.run(["topic", "list", "--data-dir", dir] + on)
        #expect(listed.status == 0 && listed.out.contains("loan_applications"), "\(listed.out) \(listed.err)")

        let described = try CLI.run(["topic", "describe", "loan_applications", "--data-dir", dir] + on)
        #expect(described.status == 0 && described.out.contains("RESTRICTED"), "\(described.out) \(described.err)")
        // Six customers spread over three partitions by their keyed pseudonyms: which partition holds the
        // most records differs from run to run, so read everything first and then page through that one.
        let all = try CLI.run(["log", "read", "--topic", "loan_applications", "--json", "--data-dir", dir] + on)
        let partitions = all.out.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["partition"] as? Int
        }
        #expect(all.status == 0 && partitions.count == 60, "\(all.err)")
        let busiest = Dictionary(grouping: partitions, by: { $0 }).max { $0.value.count < $1.value.count }?.key ?? 0
        let read = try CLI.run(
            [
                "log", "read", "--topic", "loan_applications", "--partition", "\(busiest)", "--limit", "2", "--json",
                "--data-dir", dir,
            ]
                + on
        )
        #expect(read.status == 0 && read.out.split(separator: "\n").count == 2, "\(read.err)")

        // kcat (librdkafka's own tool): every record, its headers, the pseudonym key, sealed PII.
        let kcat = try runTool([
            "kcat", "-b", kafka.bootstrap, "-C", "-t", "loan_applications", "-o", "beginning", "-e", "-J", "-q",
        ])
        #expect(kcat.status == 0, "\(kcat.err)")
        let records = kcat.out.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(records.count == 60)
        for record in records {
            let headers = record["headers"] as? [String] ?? []
            let names = stride(from: 0, to: headers.count, by: 2).map { headers[$0] }
            #expect(Set(["sr-sig", "sr-producer", "sr-subject", "sr-keys", "sr-schema", "sr-seq"]).isSubset(of: names))
            let subject = names.firstIndex(of: "sr-subject").map { headers[2 * $0 + 1] }
            #expect(record["key"] as? String == subject, "the key is the subject pseudonym")
            let payload = (record["payload"] as? String).flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect((payload?["ssn"] as? String)?.hasPrefix("sr1:") == true)
            #expect((payload?["customerId"] as? String)?.hasPrefix("sr1:") == true)
            #expect(payload?["amount"] is NSNumber, "untagged fields stay plain JSON")
        }

        // confluent-kafka (an independent client), as a consumer group.
        let python = try runTool([
            "python3", TestSupport.packageRoot.appendingPathComponent("scripts/kafka_interop.py").path,
            kafka.bootstrap, "loan_applications", schemaPath, "60",
        ])
        #expect(python.status == 0, "\(python.err)")
        #expect(python.out.contains(#""records": 60"#), "\(python.out)")

        // consume --follow: a group member until SIGTERM, which commits and leaves the group.
        let follow = Process()
        follow.executableURL = TestSupport.executable
        follow.arguments =
            [
                "consume", "--data-dir", dir, "--topic", "loan_applications", "--principal", "fraud-service",
                "--purpose", "credit-check", "--group", "fraud-follow", "--policy", dir + "/policy.json", "--follow",
            ] + on
        let followOut = Pipe()
        follow.standardOutput = followOut
        follow.standardError = FileHandle.nullDevice
        try follow.run()
        // A member that never hands anything over is stopped, so the test fails instead of hanging.
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { [follow] in follow.terminate() }
        var followed = 0
        var buffer: [UInt8] = []
        while followed < 60 {
            let chunk = followOut.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer += chunk
            followed = buffer.filter { $0 == 0x0A }.count
        }
        follow.terminate()
        follow.waitUntilExit()
        #expect(followed == 60, "every event handed over to the group member")
        #expect(String(decoding: buffer, as: UTF8.self).contains(#""ssn":"#))
        #expect(follow.terminationStatus == 0, "SIGTERM is a graceful shutdown")
        let after = try CLI.run(
            [
                "consume", "--data-dir", dir, "--topic", "loan_applications", "--principal", "fraud-service",
                "--purpose", "credit-check", "--group", "fraud-follow", "--policy", dir + "/policy.json",
            ] + on
        )
        #expect(after.err.contains("nothing new to consume"), "the member committed what it handed over: \(after.err)")

        // A record written straight to the topic (no signature, plaintext PII) is dead-lettered.
        let raw = #"{"applicationId":"raw-1","customerId":"CUST-RAW","ssn":"123-45-6789","amount":5}"#
        let produced = try runTool(
            ["kcat", "-b", kafka.bootstrap, "-P", "-t", "loan_applications", "-p", "0", "-k", "CUST-RAW"],
            input: raw + "\n"
        )
        #expect(produced.status == 0, "\(produced.err)")
        let policy = dir + "/policy.json"
        let consumed = try CLI.run(
            [
                "consume", "--data-dir", dir, "--topic", "loan_applications", "--partition", "0", "--principal",
                "fraud-service", "--purpose", "credit-check", "--group", "fraud-scoring", "--policy", policy,
            ] + on
        )
        #expect(consumed.status == 0, "\(consumed.err)")
        #expect(!consumed.out.contains("123-45-6789") && !consumed.out.contains("raw-1"), "never handed over")
        #expect(!consumed.err.contains("123-45-6789"), "nor printed")
        let letters = try CLI.run(
            [
                "dlq", "list", "--data-dir", dir, "--topic", "loan_applications", "--principal", "olga", "--policy",
                policy, "--json",
            ] + on
        )
        #expect(letters.status == 0, "\(letters.err)")
        #expect(letters.out.split(separator: "\n").count == 1, "one dead letter: \(letters.out)")
        #expect(letters.out.contains("signature") || letters.out.contains("sr-sig"), "\(letters.out)")
        #expect(!letters.out.contains("123-45-6789"), "dead-letter listings carry no content")
    }

    @Test(
        "the DR runbook from the shell: strongroom mirror --once copies records and keys, the standby decrypts, an erasure follows"
    )
    func mirrorFromTheShell() throws {
        let sites = try DRSites("kafka-dr")
        let (primary, standby, root, a, b) = (sites.primary, sites.standby, sites.root, sites.a, sites.b)
        let (policy, onA, onB) = (sites.policy, sites.onA, sites.onB)
        let events = sites.lines.joined(separator: "\n") + "\n"
        try setUpPrimary(a, onSite: onA, policy: policy)
        _ = try runOK(
            [
                "produce", "--topic", "loan_applications", "--principal", "pos-terminal", "--source-address",
                "10.20.0.5",
                "--policy", policy,
            ] + onA,
            input: events
        )
        // Standby, as the runbook's setup: its own directory with the primary's keyring.
        try setUpSite(b, keyring: a + "/keyring.json")
        let mirror = [
            "mirror", "--from", primary.bootstrap, "--to", standby.bootstrap, "--allow-plaintext",
            "--data-dir", b, "--once",
        ]
        let pass = try CLI.run(mirror)
        #expect(pass.status == 0, "\(pass.err.suffix(600))")
        #expect(pass.err.contains("WARNING: PLAINTEXT"), "plaintext is announced")

        let consume = [
            "consume", "--topic", "loan_applications", "--principal", "fraud-service", "--purpose",
            "credit-check", "--policy", policy,
        ]
        let first = try runOK(consume + ["--group", "fraud-dr-1"] + onB)
        let read = first.split(separator: "\n").filter { $0.contains("applicationId") }
        #expect(read.count == events.split(separator: "\n").count, "every record copied and decrypted on the standby")
        #expect(first.contains(#""ssn":"123-45-6789""#), "the standby opens fields with the replicated keys")

        // An erasure on the primary reaches the standby with the next pass, after the records were copied.
        // (The example policy lets the DPO erase on weekdays in office hours only: this copy drops that.)
        let anytime = try anytimeErasure(policy, in: root)
        _ = try runOK(
            ["dsr", "erase", "--principal", "dana", "--policy", anytime.path, "--subject", "CUST-00000001"] + onA
        )
        #expect(try CLI.run(mirror).status == 0)
        let second = try runOK(consume + ["--group", "fraud-dr-2"] + onB)
        #expect(!second.contains("123-45-6789"), "the erased customer's SSN is gone on the standby too")
        #expect(second.contains(#"{"$erased":true}"#))
    }

    @Test(
        "failback from the shell: the standby takes writes and an erasure, a rebuilt primary mirrors back from it, a group resumes there"
    )
    func failbackFromTheShell() throws {
        let sites = try DRSites("kafka-failback")
        let (primary, standby, root, a, b) = (sites.primary, sites.standby, sites.root, sites.a, sites.b)
        let (policy, onA, onB, lines) = (sites.policy, sites.onA, sites.onB, sites.lines)
        let c = root.appendingPathComponent("primary-new").path
        /// The example events with the first 8 hex digits of every application id set to `tag`.
        func events(_ tag: String, without customer: String? = nil) -> String {
            lines.filter { customer == nil || !$0.contains(customer ?? "") }.map { line in
                guard let r = line.range(of: #""applicationId":""#) else { return line }
                return line.replacingCharacters(in: r.upperBound..<line.index(r.upperBound, offsetBy: 8), with: tag)
            }.joined(separator: "\n") + "\n"
        }
        func ids(_ output: String, _ tag: String) -> Int {
            output.split(separator: "\n").filter { $0.contains(#""applicationId":"\#(tag)"#) }.count
        }
        let produce = [
            "produce", "--topic", "loan_applications", "--principal", "pos-terminal", "--source-address", "10.20.0.5",
            "--policy", policy,
        ]
        let consume = [
            "consume", "--topic", "loan_applications", "--principal", "fraud-service", "--purpose", "credit-check",
            "--policy", policy,
        ]
        // The primary, its first events, and the standby with one mirror pass.
        try setUpPrimary(a, onSite: onA, policy: policy)
        _ = try runOK(produce + onA, input: events("aaaaaaaa"))
        try setUpSite(b, keyring: a + "/keyring.json")
        let toStandby = [
            "mirror", "--from", primary.bootstrap, "--to", standby.bootstrap, "--allow-plaintext", "--data-dir", b,
            "--once",
        ]
        _ = try runOK(toStandby)
        // Acknowledged by the primary after the last pass: never reaches the standby.
        _ = try runOK(produce + onA, input: events("dddddddd"))

        // Failover: the primary is fenced; the producer (with its signing key) and the consumers move.
        try FileManager.default.copyItem(
            atPath: a + "/producer-pos-terminal.key",
            toPath: b + "/producer-pos-terminal.key"
        )
        _ = try runOK(produce + onB, input: events("bbbbbbbb"))
        let onStandby = try runOK(consume + ["--group", "fraud-scoring"] + onB)
        #expect(ids(onStandby, "aaaaaaaa") == lines.count && ids(onStandby, "bbbbbbbb") == lines.count)
        #expect(ids(onStandby, "dddddddd") == 0, "what the primary took after the last pass is not on the standby")
        // An erasure during the outage, on the standby (the example policy's DPO, at any time).
        let anytime = try anytimeErasure(policy, in: root)
        _ = try runOK(
            ["dsr", "erase", "--principal", "dana", "--policy", anytime.path, "--subject", "CUST-00000002"] + onB
        )

        // Failback, runbook step 1: the old primary's records past the last pass, for reconciliation.
        let stale = try runOK(consume + ["--group", "fraud-reconcile"] + onA)
        #expect(ids(stale, "dddddddd") == lines.count, "the stale records can still be read on the old primary")
        // Step 2: the primary rebuilt empty (a new cluster) with a fresh data directory holding the keyring,
        // caught up from the standby, the group's position carried along.
        let rebuilt = try DevKafka()
        try setUpSite(c, keyring: b + "/keyring.json")
        let onC = ["--kafka", rebuilt.bootstrap, "--allow-plaintext", "--data-dir", c]
        _ = try runOK([
            "mirror", "--from", standby.bootstrap, "--to", rebuilt.bootstrap, "--allow-plaintext", "--data-dir", c,
            "--groups", "fraud-scoring", "--once",
        ])
        let back = try runOK(consume + ["--group", "fraud-check"] + onC)
        #expect(ids(back, "aaaaaaaa") == lines.count, "the primary's own records came back through the standby")
        #expect(ids(back, "bbbbbbbb") == lines.count, "the records written during the outage reached the primary")
        #expect(ids(back, "dddddddd") == 0)
        #expect(back.contains(#""ssn":"123-45-6789""#), "fields open with keys made on either site")
        #expect(!back.contains("987-65-4321"), "the erasure made on the standby holds on the primary")
        #expect(back.contains(#"{"$erased":true}"#))
        // Step 4: the erasure made final on both sites.
        _ = try runOK(["keys", "finalize", "--data-dir", b])
        _ = try runOK(["keys", "finalize", "--data-dir", c])
        // Step 3: clients back on the primary; the group resumes after what it read on the standby.
        try FileManager.default.copyItem(
            atPath: b + "/producer-pos-terminal.key",
            toPath: c + "/producer-pos-terminal.key"
        )
        _ = try runOK(produce + onC, input: events("cccccccc", without: "CUST-00000002"))
        let resumed = try runOK(consume + ["--group", "fraud-scoring"] + onC)
        #expect(ids(resumed, "cccccccc") == lines.count - 1, "every record written after failback")
        #expect(
            ids(resumed, "aaaaaaaa") + ids(resumed, "bbbbbbbb") == 0,
            "the group does not read again what it read on the standby"
        )
        #expect(!resumed.contains("987-65-4321"))
    }
}
#endif
