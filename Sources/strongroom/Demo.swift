import ArgumentParser
import Crypto
import Foundation
import Logging
import Strongroom
import StrongroomAudit
import StrongroomFiles
import StrongroomJSON
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The BFB scenario end to end on the embedded default: produce, fraud scoring, masked analytics, "
            + "a denied developer, GDPR erasure, a verified audit log.",
        discussion: """
            Runs in a fresh temporary data directory (removed afterwards unless --keep or --data-dir) and needs no \
            service. Schemas and the policy come from examples/ (embedded copies when run elsewhere). No \
            plaintext personal data is printed: decrypted values stay in memory.
            """
    )

    @Option(help: "Loan applications to produce.")
    var count = 10_000
    @Flag(help: "Keep the temporary data directory and print its path.")
    var keep = false
    @Option(name: .customLong("data-dir"), help: "Run in this (new or empty) directory instead, and keep it.")
    var dataDir: String?
    @Option(
        help: """
            Keep the KEKs in an HSM or KMS instead of a keyring file, as `init --kek` does (pkcs11:…, \
            aws-kms:…?region=…, vault-transit:MOUNT/KEY?addr=…); see docs/keys.md.
            """
    )
    var kek: String?
    @OptionGroup(title: "Event log (keys, schemas, policy and audit stay in the data directory)")
    var eventLog: LogOptions

    func validate() throws {
        // The scenario erases one customer and reads the others: it needs at least two events.
        guard count >= 2 else { throw ValidationError("--count must be at least 2") }
    }

    func run() throws {
        let started = ContinuousClock.now
        let directory =
            dataDir.map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("strongroom-demo-\(UUID().uuidString)")
        defer { if !keep && dataDir == nil { try? FileManager.default.removeItem(at: directory) } }
        var summary: [(String, String)] = []

        step("1. Topics, schemas with PII tags, and the policy (\(try DemoFiles.folder()))")
        let created = try KeyStore.initialize(dataDirectory: directory, kek: kek)
        summary.append(("KEK provider", created.provider.reference))
        try PrivateFiles.write(
            Array("bfb\n".utf8),
            to: directory.appendingPathComponent(DataDirectoryOptions.tenantFileName).path
        )
        // The pipeline's key store: the KEK provider behind retries and a circuit breaker.
        let keys = try KeyStore.openGuarded(dataDirectory: directory)
        let registry = try SchemaRegistry(dataDirectory: directory)
        for (topic, file) in [
            ("loan_applications", "loan_application"), ("loan_decisions", "loan_decision"),
            ("customer_360", "customer_360"),
        ] {
            let registered = try registry.register(
                subject: "\(topic)-value",
                schema: try DemoFiles.text("examples/\(file).schema.json"),
                principal: "user:platform-admin"
            )
            print("   \(topic): schema id \(registered.id), fingerprint \(registered.fingerprint.prefix(12))…")
        }
        // Producer keys are pinned in the policy, which the demo keeps beside its data; in
        // production the policy lives outside the data directory, under change control.
        let posKey = Curve25519.Signing.PrivateKey()
        let fraudKey = Curve25519.Signing.PrivateKey()
        let policyURL = directory.appendingPathComponent("policy.json")
        try Demo.pinning(
            ["pos-terminal": posKey.publicKey, "fraud-service": fraudKey.publicKey],
            in: DemoFiles.text("examples/policy.json")
        ).write(to: policyURL, atomically: true, encoding: .utf8)
        let policy = try PolicyEngine(contentsOf: policyURL)
        print("   policy version \(policy.policy.version): \(policy.policy.rules.count) rules, deny by default")
        let log: any EventLog =
            if let connection = try eventLog.connection() {
                try LogOptions.openKafka(connection)
            } else {
                try SQLiteEventLog(dataDirectory: directory)
            }
        let services = StrongroomServices(
            keys: keys,
            log: log,
            registry: registry,
            policy: policy,
            audit: try AuditLog(dataDirectory: directory),
            tenant: "bfb",
            logger: Demo.fileLogger(directory.appendingPathComponent("pipeline.log"))
        )
        // The path is only worth printing when the directory outlives the demo.
        if keep || dataDir != nil {
            print("   pipeline logs (JSON lines): \(directory.appendingPathComponent("pipeline.log").path)")
        }
        for topic in ["loan_applications", "loan_decisions", "customer_360"] {
            try services.createTopic(
                topic,
                config: TopicConfig(partitions: 3, retentionMs: 2555 * 86_400_000, classification: "RESTRICTED")
            )
        }

        step("2. The point of sale produces \(count) loan applications (validated, DLP-scanned, encrypted, signed)")
        let workload = DemoWorkload.events(count: count)
        let pos = SecureProducer(
            services: services,
            principal: "pos-terminal",
            key: posKey,
            sourceAddress: IPAddress("10.20.0.7")
        )
        var produced = 0
        var refused = 0
        let produceStart = ContinuousClock.now
        var bar = ProgressBar(total: workload.count, label: "   produce")
        for chunk in stride(from: 0, to: workload.count, by: 500) {
            let slice = workload[chunk..<min(chunk + 500, workload.count)]
            for result in pos.produce(slice.map { Array($0.json.utf8) }, to: "loan_applications") {
                if case .success = result { produced += 1 } else { refused += 1 }
            }
            bar.update(chunk + slice.count)
        }
        bar.finish()
        let produceSeconds = seconds(since: produceStart)
        summary.append(("applications produced", "\(produced) (\(refused) refused), \(rate(produced, produceSeconds))"))

        step("3. fraud-service decrypts customerId, ssn and dateOfBirth for purpose credit-check and writes decisions")
        let fraud = SecureConsumer(
            services: services,
            principal: "fraud-service",
            purpose: "credit-check",
            group: "fraud-scoring"
        )
        let decisions = SecureProducer(services: services, principal: "fraud-service", key: fraudKey)
        var scored = 0
        var decided: [String: Int] = [:]
        bar = ProgressBar(total: produced, label: "   score  ")
        for partition in 0..<3 {
            while try fraud.consume(
                topic: "loan_applications",
                partition: partition,
                maxRecords: 500,
                handler: { events in
                    var out: [[UInt8]] = []
                    for event in events {
                        let value = try JSONValue(parsing: event.value)
                        // The stand-in credit bureau sees the SSN in memory only.
                        let score = CreditBureau.score(
                            ssn: value["ssn"]?.stringValue ?? "",
                            dob: value["dateOfBirth"]?.stringValue ?? ""
                        )
                        let decision = score >= 700 ? "approve" : score >= 580 ? "review" : "decline"
                        decided[decision, default: 0] += 1
                        out.append(
                            Array(
                                #"{"applicationId":"\#(value["applicationId"]?.stringValue ?? "")","customerId":"\#(value["customerId"]?.stringValue ?? "")","decision":"\#(decision)","score":\#(score)}"#
                                    .utf8
                            )
                        )
                    }
                    for result in decisions.produce(out, to: "loan_decisions") {
                        if case .failure(let e) = result { throw e }
                    }
                    scored += events.count
                    bar.update(scored)
                }
            ) > 0 {}
        }
        bar.finish()
        print(
            "   decisions: "
                + decided.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        )
        summary.append(("applications scored by fraud-service", "\(scored); decisions written to loan_decisions"))

        step("4. analytics consumes with PII masked and reports an aggregate")
        let analytics = SecureConsumer(
            services: services,
            principal: "analytics",
            purpose: "reporting",
            group: "analytics-daily"
        )
        var totals: [String: (count: Int, amount: Double)] = [:]
        var sample = ""
        for partition in 0..<3 {
            while try analytics.consume(
                topic: "loan_applications",
                partition: partition,
                maxRecords: 1000,
                handler: { events in
                    for event in events {
                        let value = try JSONValue(parsing: event.value)
                        let currency = value["currency"]?.stringValue ?? "?"
                        let amount =
                            Double(
                                value["amount"].map { v -> String in if case .number(let t) = v { t } else { "0" } }
                                    ?? "0"
                            ) ?? 0
                        totals[currency, default: (0, 0)].count += 1
                        totals[currency, default: (0, 0)].amount += amount
                        if sample.isEmpty {
                            sample = "ssn \(value["ssn"]?.jsonText ?? "") fullName \(value["fullName"]?.jsonText ?? "")"
                        }
                    }
                }
            ) > 0 {}
        }
        print("   what analytics sees: \(sample)")
        for (currency, t) in totals.sorted(by: { $0.key < $1.key }) {
            print("   \(currency): \(t.count) applications, total \(String(format: "%.2f", t.amount))")
        }
        summary.append(("analytics aggregate", "\(totals.values.map(\.count).reduce(0, +)) applications, PII masked"))

        step("5. A developer (alice) tries to consume loan_applications")
        let alice = SecureConsumer(services: services, principal: "alice", purpose: "debugging", group: "alice-debug")
        do {
            try alice.consume(topic: "loan_applications", partition: 0) { _ in }
            print("   unexpected: allowed")
        } catch {
            print("   denied and audited: \(error)")
            summary.append(("developer consume", "denied, audited"))
        }

        step(
            "6. A customer invokes GDPR erasure (run here directly on the key store; `strongroom dsr erase` in production)"
        )
        let victim = workload[0].customerID
        let receipt = try keys.erase(subject: victim, tenant: "bfb")
        try services.audit.append(
            AuditEntry(
                principal: "demo",
                action: "Erase",
                resource: "subject",
                decision: .allow,
                reason: "demo erasure run directly on the key store, no policy check: crypto-shredded "
                    + "\(receipt.versionsDeleted) key version(s) (production: strongroom dsr erase)",
                correlationID: "DSR-0001",
                keyIDs: [receipt.keyID],
                count: receipt.versionsDeleted,
                subjectKey: receipt.keyID
            )
        )
        print(
            "   receipt: pseudonym \(receipt.keyID.prefix(16))…, \(receipt.versionsDeleted) key version(s) destroyed"
        )
        let replay = SecureConsumer(
            services: services,
            principal: "fraud-service",
            purpose: "credit-check",
            group: "fraud-replay-after-erasure"
        )
        var erasedEvents = 0
        var readable = 0
        for partition in 0..<3 {
            while try replay.consume(
                topic: "loan_applications",
                partition: partition,
                maxRecords: 1000,
                handler: { events in
                    for event in events {
                        if event.outcome.erased > 0 {
                            erasedEvents += 1
                        } else if event.outcome.decrypted > 0 {
                            readable += 1
                        }
                    }
                }
            ) > 0 {}
        }
        let victimEvents = workload.filter { $0.customerID == victim }.count
        print(
            "   replay: \(erasedEvents) event(s) of that customer read {\"$erased\":true}, their id included: nothing links them to the person; \(readable) others still decrypt"
        )
        summary.append(
            ("erasure", "\(erasedEvents) of \(victimEvents) events of the customer erased; \(readable) others readable")
        )
        let final = try keys.finalize()
        print(
            "   finalized: a backup of the key store taken before the erasure can no longer unwrap that "
                + "customer's key (KEK versions \(final.kekVersions.map { "v\($0)" }.joined(separator: ", ")) punctured)"
        )

        step("7. The audit log is verified and its signed checkpoint printed")
        let verification = try services.audit.verify()
        print("   OK: \(verification.size) entries, \(verification.checkpoints) signed checkpoints")
        if let checkpoint = try services.audit.latestCheckpoint() {
            for line in checkpoint.split(separator: "\n") { print("   | \(line)") }
        }
        summary.append(("audit log", "\(verification.size) entries verified"))

        print("\nSummary")
        let width = summary.map(\.0.count).max() ?? 10
        for (name, value) in summary {
            print("  \(name.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)")
        }
        print(
            "  \("total time".padding(toLength: width, withPad: " ", startingAt: 0))  \(String(format: "%.1f s", seconds(since: started)))"
        )
        if keep || dataDir != nil { print("Data directory: \(directory.path)") }
    }

    func step(_ title: String) { print("\n" + title) }

    /// `policy` with each principal's producer key added to its `producerKeys`.
    static func pinning(_ keys: [String: Curve25519.Signing.PublicKey], in policy: String) throws -> String {
        guard case .object(var document) = try JSONValue(parsing: Array(policy.utf8)),
            let p = document.firstIndex(where: { $0.key == "principals" }),
            case .object(var principals) = document[p].value
        else { throw CLIError("the example policy has no principals") }
        for i in principals.indices {
            guard let key = keys[principals[i].key], case .object(var fields) = principals[i].value else { continue }
            fields.append(.init("producerKeys", .array([.string(key.rawRepresentation.base64EncodedString())])))
            principals[i].value = .object(fields)
        }
        document[p].value = .object(principals)
        var out: [UInt8] = []
        JSONValue.object(document).write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON-lines logger appending to `url`.
    static func fileLogger(_ url: URL) -> Logger {
        let handle = (try? PrivateFiles.openForAppend(url.path)).map {
            FileHandle(fileDescriptor: $0, closeOnDealloc: true)
        }
        let lock = NSLock()
        return Logger(label: "strongroom.pipeline") { label in
            JSONLogHandler(label: label) { bytes in
                lock.withLock {
                    handle?.seekToEndOfFile()
                    handle?.write(Data(bytes))
                }
            }
        }
    }

    func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    func rate(_ n: Int, _ seconds: Double) -> String {
        let figure = String(format: "%.0f events/s", Double(n) / max(seconds, 1e-9))
        #if DEBUG
        return figure + " (debug build: `swift build -c release` for real figures)"
        #else
        return figure
        #endif
    }
}

/// A stand-in credit bureau: a deterministic score from the SSN and date of birth.
enum CreditBureau {
    static func score(ssn: String, dob: String) -> Int {
        let digits = (ssn + dob).unicodeScalars.compactMap { $0.properties.numericType != nil ? Int(String($0)) : nil }
        return 300 + digits.enumerated().reduce(0) { ($0 * 31 + $1.element * ($1.offset + 7)) % 551 }
    }
}

/// A one-line progress bar on standard error.
struct ProgressBar {
    let total: Int
    let label: String
    var last = -1

    init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    mutating func update(_ done: Int) {
        let percent = min(100, done * 100 / total)
        guard percent != last else { return }
        last = percent
        let filled = percent / 4
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 25 - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(percent)% (\(done)/\(total))".utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }
}

/// The example files, from the package when run in it, else the embedded copies.
enum DemoFiles {
    /// The package folders the demo's files are looked for in: the current one, then the one
    /// this binary was built from.
    static let bases = [
        FileManager.default.currentDirectoryPath,
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path,
    ]

    static func text(_ relative: String) throws -> String {
        if relative.hasPrefix("/") {
            guard let text = try? String(contentsOf: URL(fileURLWithPath: relative), encoding: .utf8) else {
                throw CLIError("cannot read \(relative)")
            }
            return text
        }
        for base in bases {
            let url = URL(fileURLWithPath: base).appendingPathComponent(relative)
            if let text = try? String(contentsOf: url, encoding: .utf8) { return text }
        }
        throw CLIError("cannot find \(relative): run the demo from the package folder")
    }

    /// The examples folder the demo reads, as the user would type it.
    static func folder() throws -> String {
        for base in bases {
            let url = URL(fileURLWithPath: base).appendingPathComponent("examples/loan_application.schema.json")
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            return base == FileManager.default.currentDirectoryPath ? "examples/" : base + "/examples/"
        }
        throw CLIError("cannot find examples/: run the demo from the package folder")
    }
}
