import Crypto
import Foundation
import Logging
import Metrics
import MetricsTestKit
import Strongroom
import StrongroomAudit
import StrongroomJSON
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema
import StrongroomTestSupport
import Synchronization
import Testing

/// A data directory with the BFB schema, policy, topics and a trusted pos-terminal key.
struct PipelineFixture {
    let directory: URL
    let services: StrongroomServices
    let producerKey = Curve25519.Signing.PrivateKey()
    static let pos = IPAddress("10.20.0.5")

    init(
        logger: Logger = Logger(label: "test"),
        metrics: any MetricsFactory = MetricsSystem.factory,
        policy: PolicyEngine? = nil,
        partitions: Int = 1
    ) throws {
        directory = TestSupport.scratchDirectory("pipeline")
        let root = TestSupport.packageRoot
        let keys = try KeyStore.initialize(dataDirectory: directory)
        let registry = try SchemaRegistry(dataDirectory: directory)
        try registry.register(
            subject: "loan_applications-value",
            schema: try String(
                contentsOf: root.appendingPathComponent("examples/loan_application.schema.json"),
                encoding: .utf8
            ),
            principal: "test"
        )
        services = StrongroomServices(
            keys: keys,
            log: try SQLiteEventLog(dataDirectory: directory),
            registry: registry,
            policy: try policy ?? PolicyEngine(contentsOf: root.appendingPathComponent("examples/policy.json")),
            audit: try AuditLog(dataDirectory: directory),
            tenant: "bfb",
            logger: logger,
            metrics: metrics
        )
        try services.createTopic("loan_applications", config: TopicConfig(partitions: partitions))
        services.trust(producer: "pos-terminal", key: producerKey.publicKey)
    }

    var producer: SecureProducer {
        SecureProducer(services: services, principal: "pos-terminal", key: producerKey, sourceAddress: Self.pos)
    }

    static var events: [[UInt8]] {
        get throws {
            try String(
                contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/loan_applications.jsonl"),
                encoding: .utf8
            ).split(separator: "\n").map { Array($0.utf8) }
        }
    }

    /// The first `count` records of `loan_applications` partition 0, as stored.
    func stored(_ count: Int) throws -> [StoredRecord] {
        try services.log.fetch(topic: "loan_applications", partition: 0, from: 0, maxBytes: 8 << 20, maxRecords: count)
    }

    /// `record` with one digit of its value changed: its signature no longer holds.
    static func tampered(_ record: StoredRecord) -> StoredRecord {
        var tampered = record
        if var value = tampered.value, let i = value.firstIndex(of: UInt8(ascii: "9")) {
            value[i] = UInt8(ascii: "8")
            tampered.value = value
        }
        return tampered
    }

    /// The dead letters of `loan_applications` (up to 10) and each one's stated reason.
    func deadLetters() throws -> (records: [StoredRecord], reasons: [String]) {
        let dead = try services.log.fetch(
            topic: "loan_applications.dlq",
            partition: 0,
            from: 0,
            maxBytes: 1 << 20,
            maxRecords: 10
        )
        let reasons = dead.compactMap { r in
            r.headers.first { $0.name == "sr-dlq-reason" }.map { String(decoding: $0.value, as: UTF8.self) }
        }
        return (dead, reasons)
    }

    /// The fraud team's credit-check reader in `group`.
    func fraudConsumer(group: String) -> SecureConsumer {
        SecureConsumer(services: services, principal: "fraud-service", purpose: "credit-check", group: group)
    }

    func consume(_ principal: String, purpose: String?, group: String? = nil) throws -> [JSONValue] {
        var out: [JSONValue] = []
        let consumer = SecureConsumer(
            services: services,
            principal: principal,
            purpose: purpose,
            group: group ?? "\(principal)-\(purpose ?? "none")"
        )
        while try consumer.consume(
            topic: "loan_applications",
            partition: 0,
            handler: { events in
                out += try events.map { try JSONValue(parsing: $0.value) }
            }
        ) > 0 {}
        return out
    }
}

@Suite("Secure pipeline", .serialized)
struct PipelineTests {
    @Test("fraud-service decrypts ssn and dateOfBirth for credit-check; the rest masked; analytics sees masks only")
    func produceAndConsume() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        let results = f.producer.produce(events, to: "loan_applications")
        #expect(results.allSatisfy { (try? $0.get()) != nil }, "\(results)")
        let fraud = try f.consume("fraud-service", purpose: "credit-check")
        try #require(fraud.count == events.count)
        let original = try JSONValue(parsing: events[0])
        #expect(fraud[0]["ssn"] == original["ssn"])
        #expect(fraud[0]["dateOfBirth"] == original["dateOfBirth"])
        #expect(fraud[0]["fullName"] == .string("***"))
        let analytics = try f.consume("analytics", purpose: "reporting")
        let ssn = original["ssn"]?.stringValue ?? ""
        #expect(analytics[0]["ssn"] == .string("***-**-" + ssn.suffix(4)))
        #expect(analytics[0]["dateOfBirth"] == .string("***"))
        #expect(analytics[0]["amount"] == original["amount"])
        // A wrong purpose gets masks too.
        let wrongPurpose = try f.consume("fraud-service", purpose: "marketing")
        #expect(wrongPurpose[0]["ssn"] != original["ssn"])
        // Every decrypt and every masked field is audited, with counts; the log verifies.
        let audit = try f.services.audit.entries(from: 0, limit: 1000).compactMap { AuditEntry(canonical: $0.bytes) }
        #expect(
            audit.contains {
                $0.action == "Decrypt" && $0.decision == .allow && $0.fields == ["/ssn"] && $0.count == events.count
            }
        )
        #expect(audit.contains { $0.action == "Decrypt" && $0.decision == .deny && $0.principal == "analytics" })
        _ = try f.services.audit.verify()
    }

    @Test("a developer's consume is denied and audited; an unknown producer is denied")
    func denials() throws {
        let f = try PipelineFixture()
        _ = f.producer.produce(try PipelineFixture.events, to: "loan_applications")
        #expect(throws: PipelineError.self) { try f.consume("alice", purpose: nil) }
        let intruder = SecureProducer(
            services: f.services,
            principal: "mallory",
            key: .init(),
            sourceAddress: PipelineFixture.pos
        )
        let refused = intruder.produce(try PipelineFixture.events, to: "loan_applications")
        #expect(refused.allSatisfy { if case .failure(let e) = $0 { e.kind == .denied } else { false } })
        let audit = try f.services.audit.entries(from: 0, limit: 100).compactMap { AuditEntry(canonical: $0.bytes) }
        #expect(audit.contains { $0.principal == "alice" && $0.action == "Consume" && $0.decision == .deny })
        #expect(audit.contains { $0.principal == "mallory" && $0.action == "Produce" && $0.decision == .deny })
    }

    @Test("bad records are refused with their reason, good ones land: schema and DLP")
    func perRecordResults() throws {
        let f = try PipelineFixture()
        var events = try PipelineFixture.events
        let good = events[0]
        events.append(
            Array(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"USD\"", with: "\"JPY\"").utf8)
        )
        events.append(
            Array(
                String(decoding: good, as: UTF8.self).replacingOccurrences(
                    of: "\"storeId\":\"",
                    with: "\"storeId\":\"SSN 123-45-6789 "
                ).utf8
            )
        )
        let results = f.producer.produce(events, to: "loan_applications")
        let kinds = results.map { result -> String in
            switch result {
            case .success: "ok"
            case .failure(let e): e.kind.rawValue
            }
        }
        #expect(kinds.dropLast(2).allSatisfy { $0 == "ok" })
        #expect(kinds.suffix(2) == [PipelineError.Kind.invalid.rawValue, PipelineError.Kind.dlp.rawValue])
        if case .failure(let e) = results.last { #expect(!e.description.contains("123-45-6789")) }
    }

    @Test("a record's leaf hash is the one docs/formats.md defines (vector from Python's hashlib)")
    func recordLeafVector() {
        let content = RecordSignature.Content(
            topic: "loan_applications",
            partition: 3,
            sequence: "0123456789abcdef0123456789abcdef:42",
            key: Array("CUST-1".utf8),
            value: Array(#"{"a":1}"#.utf8),
            schemaID: 7,
            producer: "pos-terminal"
        )
        #expect(Merkle.hex(content.leafHash) == "0384dad09cf50be067648a52bf025b49b3a3f1d714f833e6007de3a7033a6dbb")
    }

    @Test("tampered, moved and unsigned records go to the dead-letter topic, still encrypted, never to the app")
    func attacks() throws {
        let f = try PipelineFixture()
        _ = f.producer.produce(try PipelineFixture.events, to: "loan_applications")
        let stored = try f.stored(10)
        let tampered = PipelineFixture.tampered(stored[0])
        let forgedKey = Curve25519.Signing.PrivateKey()
        let forged = try RecordSignature.sign(
            [
                RecordSignature.Content(
                    topic: "loan_applications",
                    partition: 0,
                    sequence: String(repeating: "a", count: 32) + ":0",
                    key: stored[1].key ?? [],
                    value: stored[1].value ?? [],
                    schemaID: 1,
                    producer: "pos-terminal"
                )
            ],
            producer: "pos-terminal",
            key: forgedKey,
            batchID: "forged"
        )
        _ = try f.services.log.append(
            [
                LogRecord(key: tampered.key, value: tampered.value, headers: tampered.headers),
                LogRecord(
                    key: stored[1].key,
                    value: stored[1].value,
                    headers: forged[0].map { RecordHeader($0.0, $0.1) } + [RecordHeader("sr-schema", text: "1")]
                ),
                LogRecord(key: stored[2].key, value: stored[2].value, headers: []),
            ],
            to: "loan_applications"
        )
        let seen = try f.consume("fraud-service", purpose: "credit-check")
        #expect(seen.count == stored.count)
        let (dead, reasons) = try f.deadLetters()
        #expect(dead.count == 3)
        #expect(
            reasons == [
                RecordSignature.Failure.invalid.rawValue, RecordSignature.Failure.unknownProducer.rawValue,
                RecordSignature.Failure.missing.rawValue,
            ]
        )
        // Dead letters keep their fields encrypted as produced.
        #expect(dead.allSatisfy { String(decoding: $0.value ?? [], as: UTF8.self).contains("\"sr1:") })
    }

    @Test("a batch large enough to be read on both cores keeps every check: attacks in the middle, counts and order")
    func largeBatchOnEveryCore() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        let first = Array(repeatElement(events, count: 100).joined())
        #expect(f.producer.produce(first, to: "loan_applications").allSatisfy { (try? $0.get()) != nil })
        let stored = try f.stored(1000)
        try #require(stored.count == first.count)
        let tampered = PipelineFixture.tampered(stored[100])
        // A record whose inclusion path has one hash changed (checked with a chunk's cache of
        // the upper nodes of its batch's paths).
        var moved = stored[151].headers
        let proof = try #require(moved.firstIndex { $0.name == RecordSignature.Header.proof })
        moved[proof].value[40] ^= 1
        // Offsets 400…403, between two signed batches: a tampered copy, a replay, an unsigned
        // copy, a changed path.
        _ = try f.services.log.append(
            [
                LogRecord(key: tampered.key, value: tampered.value, headers: tampered.headers),
                LogRecord(key: stored[200].key, value: stored[200].value, headers: stored[200].headers),
                LogRecord(key: stored[300].key, value: stored[300].value, headers: []),
                LogRecord(key: stored[151].key, value: stored[151].value, headers: moved),
            ],
            to: "loan_applications"
        )
        let second = Array(repeatElement(events, count: 75).joined())
        #expect(f.producer.produce(second, to: "loan_applications").allSatisfy { (try? $0.get()) != nil })

        let consumer = f.fraudConsumer(group: "fraud-large")
        var seen: [ConsumedEvent] = []
        // One batch of 704 records: read in chunks on every core.
        #expect(try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 1000) { seen += $0 } == 704)
        let offsets = seen.map(\.offset)
        #expect(offsets == Array(0..<400) + Array(404..<704), "every good record, in offset order")
        #expect(Set(seen.map(\.outcome.decrypted)) == [3], "ssn, dateOfBirth and the customer id for credit-check")
        let values = try seen.map { try JSONValue(parsing: $0.value) }
        #expect(values.allSatisfy { $0["ssn"]?.stringValue?.hasPrefix("sr1:") == false })
        let reasons = try f.deadLetters().reasons
        #expect(
            reasons == [
                RecordSignature.Failure.invalid.rawValue, "replayed, duplicated or reordered record",
                RecordSignature.Failure.missing.rawValue, RecordSignature.Failure.invalid.rawValue,
            ]
        )
        // One Decrypt entry per pointer, counting every record of both chunks; one naming every key used.
        let audit = try f.services.audit.entries(from: 0, limit: 1000).compactMap { AuditEntry(canonical: $0.bytes) }
        let ssn = audit.filter { $0.action == "Decrypt" && $0.decision == .allow && $0.fields == ["/ssn"] }
        #expect(ssn.count == 1 && ssn.first?.count == 700)
        let customers = Set(events.compactMap { try? JSONValue(parsing: $0)["customerId"]?.stringValue })
        let keys = audit.filter { $0.action == "DecryptKeys" }
        #expect(keys.count == 1 && keys.first?.keyIDs.count == customers.count, "one key per customer")
        let masked = audit.filter { $0.action == "Decrypt" && $0.decision == .deny && $0.fields == ["/fullName"] }
        #expect(masked.first?.count == 700)
    }

    @Test("every concrete pointer of a batch gets its own decision and count: arrays of fields, in changing order")
    func arrayPointersInOneBatch() throws {
        let example = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/policy.json"),
            encoding: .utf8
        )
        let rules = #"""
            "rules": [
              {"id": "cards-io", "effect": "allow", "principals": ["pos-terminal", "role:fraud"],
               "actions": ["Produce", "Consume"], "resource": {"type": "topic", "name": "card_events"}},
              {"id": "fraud-decrypt-two-cards", "effect": "allow", "principals": ["fraud-service"], "actions": ["Decrypt"],
               "resource": {"type": "field", "topic": "card_events", "pointers": ["/cards/0", "/cards/20"]},
               "purposes": ["credit-check"]},
            """#
        let policy = try Policy(parsing: Array(example.replacingOccurrences(of: #""rules": ["#, with: rules).utf8))
        let f = try PipelineFixture(policy: PolicyEngine(policy))
        try f.services.registry.register(
            subject: "card_events-value",
            schema: #"""
                {"type": "object", "properties": {
                  "customerId": {"type": "string", "strongroom:subject": true},
                  "cards": {"type": "array", "items": {"type": "string", "confluent:tags": ["PII"]}}}}
                """#,
            principal: "test"
        )
        try f.services.createTopic("card_events", config: TopicConfig(partitions: 1))
        // 0 to 24 cards (24 card pointers and the subject's: more than are searched one by one),
        // the subject before or after them: each event's pointers differ from the one before.
        let events = (0..<600).map { i in
            let cards = (0..<(i * 7 % 25)).map { #""card-\#(i)-\#($0)""# }.joined(separator: ",")
            let customer = #""customerId": "C\#(i % 40)""#
            let body = i % 3 == 0 ? "\(customer), \"cards\": [\(cards)]" : "\"cards\": [\(cards)], \(customer)"
            return Array("{\(body)}".utf8)
        }
        #expect(f.producer.produce(events, to: "card_events").allSatisfy { (try? $0.get()) != nil })
        var seen: [ConsumedEvent] = []
        // One batch: read in chunks on every core, which share one decision per pointer.
        let consumer = f.fraudConsumer(group: "fraud-cards")
        #expect(try consumer.consume(topic: "card_events", partition: 0, maxRecords: 1000) { seen += $0 } == 600)
        for (i, event) in seen.enumerated() {
            guard case .array(let cards) = try JSONValue(parsing: event.value)["cards"] else {
                Issue.record("event \(i) has no cards")
                continue
            }
            #expect(cards.count == i * 7 % 25)
            for (n, card) in cards.enumerated() {
                let open = card.stringValue == "card-\(i)-\(n)"
                #expect(open == (n == 0 || n == 20), "event \(i) card \(n)")
            }
        }
        let audit = try f.services.audit.entries(from: 0, limit: 1000).compactMap { AuditEntry(canonical: $0.bytes) }
        let decrypts = audit.filter { $0.action == "Decrypt" }
        #expect(!decrypts.contains { $0.fields == ["/cards/24"] })
        for n in 0..<24 {
            let holding = (0..<600).filter { $0 * 7 % 25 > n }.count
            let entries = decrypts.filter { $0.fields == ["/cards/\(n)"] }
            #expect(entries.count == 1, "one entry for /cards/\(n)")
            #expect(entries.first?.count == holding, "/cards/\(n) counted once per event holding it")
            #expect(entries.first?.decision == (n == 0 || n == 20 ? .allow : .deny), "/cards/\(n)")
        }
    }

    @Test("a stream of batches lands in order, each answered once durable, even while the next is still awaited")
    func producedAsAStream() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        var batches = (0..<6).map { _ in Array(repeatElement(events, count: 30).joined()) }
        batches[2][7] = Array(
            String(decoding: events[0], as: UTF8.self).replacingOccurrences(of: "\"USD\"", with: "\"JPY\"").utf8
        )
        let answered = Mutex<[[Result<RecordPosition, PipelineError>]]>([])
        let delivered = DispatchSemaphore(value: 0)
        var handed = 0
        f.producer.produce(
            to: "loan_applications",
            next: {
                guard handed < batches.count else { return nil }
                // Batch n + 1 is handed over only once batch n was answered: the answer must not
                // wait for the next batch (as a shell user typing lines would).
                if handed > 0 { #expect(delivered.wait(timeout: .now() + 60) == .success) }
                defer { handed += 1 }
                return (batches[handed], "stream-\(handed)")
            },
            done: { results in
                answered.withLock { $0.append(results) }
                delivered.signal()
                return true
            }
        )
        let all = answered.withLock { $0 }
        try #require(all.count == batches.count)
        #expect(zip(all, batches).allSatisfy { $0.count == $1.count })
        let kinds = all[2].map { result -> PipelineError.Kind? in
            if case .failure(let e) = result { return e.kind }
            return nil
        }
        #expect(kinds[7] == .invalid && kinds.enumerated().allSatisfy { $0.offset == 7 || $0.element == nil })
        let offsets = all.joined().compactMap { try? $0.get().offset }
        #expect(offsets == Array(0..<Int64(offsets.count)) && offsets.count == 6 * 120 - 1, "in batch order")
        // Read back: every record in order and signed, no sequence gap or replay dead-lettered.
        let seen = try f.consume("fraud-service", purpose: "credit-check")
        #expect(seen.count == offsets.count)
        #expect(try f.deadLetters().records.isEmpty)
        let audit = try f.services.audit.entries(from: 0, limit: 1000).compactMap { AuditEntry(canonical: $0.bytes) }
        let produced = audit.filter { $0.action == "Produce" && $0.decision == .allow }
        #expect(produced.map(\.correlationID) == (0..<6).map { Optional("stream-\($0)") })
        #expect(produced.map(\.count) == [120, 120, 119, 120, 120, 120])
    }

    @Test(
        "a stream with batches refused whole keeps the audit log in batch order, makes no key for a refused event, and stops when asked"
    )
    func streamRefusalsAndStop() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        let good = Array(repeatElement(events, count: 30).joined())
        func text(_ event: [UInt8]) -> String { String(decoding: event, as: UTF8.self) }
        let firstSubject = try JSONValue(parsing: events[0])["customerId"]?.stringValue ?? ""
        // Every event breaks the schema; one names a subject never seen before.
        var invalid = good.map {
            Array(text($0).replacingOccurrences(of: #""amount":"#, with: #""amount":"many","x":"#).utf8)
        }
        invalid[0] = Array(text(invalid[0]).replacingOccurrences(of: firstSubject, with: "CUST-99999999").utf8)
        let allowing = try Policy(contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/policy.json"))
        let closed = try Policy(parsing: Array(#"{"version":"closed","principals":{},"rules":[]}"#.utf8))
        // Batch 3 is refused by the policy and answered only once the policy allows again; the
        // sixth answer stops the stream once batch 6 is handed over, so batch 6 is never produced.
        let plan = [good, good, invalid, good, good, good, good]
        let answered = Mutex<[[Result<RecordPosition, PipelineError>]]>([])
        let policyRestored = DispatchSemaphore(value: 0)
        let lastHandedOver = DispatchSemaphore(value: 0)
        var handed = 0
        f.producer.produce(
            to: "loan_applications",
            next: {
                guard handed < plan.count else { return nil }
                f.services.policy.install(handed == 3 ? closed : allowing)
                if handed == 4 { policyRestored.signal() }
                if handed == 6 { lastHandedOver.signal() }
                defer { handed += 1 }
                return (plan[handed], "s\(handed)")
            },
            done: { results in
                let count = answered.withLock {
                    $0.append(results)
                    return $0.count
                }
                if count == 3 { #expect(policyRestored.wait(timeout: .now() + 60) == .success) }
                if count == 6 { #expect(lastHandedOver.wait(timeout: .now() + 60) == .success) }
                return count < 6
            }
        )
        let all = answered.withLock { $0 }
        #expect(all.count == 6 && handed == 7)
        func kinds(_ i: Int) -> Set<String> {
            Set(all[i].map { if case .failure(let e) = $0 { e.kind.rawValue } else { "ok" } })
        }
        #expect([0, 1, 4, 5].allSatisfy { kinds($0) == ["ok"] })
        #expect(kinds(2) == [PipelineError.Kind.invalid.rawValue] && kinds(3) == [PipelineError.Kind.denied.rawValue])
        #expect(try f.services.keys.pseudonym(ofSubject: "CUST-99999999", tenant: "bfb") == nil)
        let stored = try f.services.log.describeTopic("loan_applications").partitions[0].endOffset
        #expect(stored == 4 * 120, "batches 0, 1, 4 and 5; not 6")
        let audit = try f.services.audit.entries(from: 0, limit: 1000).compactMap { AuditEntry(canonical: $0.bytes) }
        let produce = audit.filter { $0.action == "Produce" }
        #expect(produce.compactMap(\.correlationID) == ["s0", "s1", "s2", "s3", "s4", "s5"])
        #expect(produce.map(\.decision) == [.allow, .allow, .deny, .deny, .allow, .allow])
        // Each entry names the policy that decided its batch, though written later.
        #expect(produce.map { $0.policy?.hasPrefix("closed ") == true } == [false, false, false, true, false, false])
    }

    @Test("an erased customer's fields read as erased; every other customer still decrypts")
    func erasure() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        _ = f.producer.produce(events, to: "loan_applications")
        let victim = try JSONValue(parsing: events[0])["customerId"]?.stringValue ?? ""
        _ = try f.services.keys.erase(subject: victim, tenant: "bfb")
        let seen = try f.consume("fraud-service", purpose: "credit-check")
        for (event, original) in zip(seen, try events.map { try JSONValue(parsing: $0) }) {
            if original["customerId"]?.stringValue == victim {
                #expect(event["ssn"] == .object([.init("$erased", .bool(true))]))
            } else {
                #expect(event["ssn"] == original["ssn"])
            }
        }
    }

    @Test("offsets are committed only after the handler returns: a failing handler replays the batch")
    func commitAfterHandler() throws {
        let f = try PipelineFixture()
        _ = f.producer.produce(try PipelineFixture.events, to: "loan_applications")
        let consumer = f.fraudConsumer(group: "fraud-g")
        struct Crash: Error {}
        #expect(throws: Crash.self) {
            try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 2) { _ in throw Crash() }
        }
        var first: [Int64] = []
        try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 2) { first = $0.map(\.offset) }
        #expect(first == [0, 1])
    }

    @Test("the batch fetched ahead is used only where the group stands and only after the next call is authorized")
    func fetchAhead() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        let produced = f.producer.produce(events + events + events, to: "loan_applications")
        #expect(produced.count == 12 && produced.allSatisfy { (try? $0.get()) != nil })
        let consumer = SecureConsumer(
            services: f.services,
            principal: "fraud-service",
            purpose: "credit-check",
            group: "fraud-ahead",
            fetchAhead: true
        )
        #expect(consumer.fetchAhead)
        var seen: [Int64] = []
        // Full batches, each fetching the next ahead: every offset once, in order.
        try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 2) { seen += $0.map(\.offset) }
        try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 2) { seen += $0.map(\.offset) }
        #expect(seen == [0, 1, 2, 3])
        // Moved back elsewhere while [4, 5] was fetched ahead: the next call reads 1 and 2,
        // which this reader has handed out already (dead letters as replays), not 4 and 5.
        try f.services.log.commit(group: "fraud-ahead", topic: "loan_applications", partition: 0, offset: 1)
        seen = [-1]
        try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 2) { seen = $0.map(\.offset) }
        #expect(seen == [])
        let sources = try f.deadLetters().records.compactMap { r in
            r.headers.first { $0.name == "sr-dlq-source" }.map { String(decoding: $0.value, as: UTF8.self) }
        }
        #expect(sources == ["loan_applications:0:1", "loan_applications:0:2"])
        // Moved forward elsewhere while [3, 4] was fetched ahead: the next call starts at 5.
        try f.services.log.commit(group: "fraud-ahead", topic: "loan_applications", partition: 0, offset: 5)
        try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 2) { seen = $0.map(\.offset) }
        #expect(seen == [5, 6])
        // Another batch size than the one fetched ahead: fetched again at that size.
        try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 1) { seen = $0.map(\.offset) }
        #expect(seen == [7])
        // A batch fetched ahead is not handed to a reader whose right was withdrawn meanwhile.
        try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 1) { seen = $0.map(\.offset) }
        #expect(seen == [8])
        let text = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/policy.json"),
            encoding: .utf8
        )
        try f.services.policy.install(
            Policy(parsing: Array(text.replacingOccurrences(of: "fraud-service", with: "fraud-retired").utf8))
        )
        #expect(throws: PipelineError.self) {
            try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 1) { _ in
                Issue.record("handed out after the right was withdrawn")
            }
        }
    }

    @Test("signature checks done ahead count only while the same producer keys are trusted, and keep every refusal")
    func fetchAheadTrust() throws {
        let metrics = TestMetrics()
        let f = try PipelineFixture(metrics: metrics)
        func checkedAhead() -> Int64 {
            (try? metrics.expectCounter("strongroom_consume_checked_ahead_total", [("topic", "loan_applications")]))?
                .values.reduce(0, +) ?? 0
        }
        let events = try PipelineFixture.events
        _ = f.producer.produce(events + events + events, to: "loan_applications")  // offsets 0…11
        let stored = try f.stored(12)
        let tampered = PipelineFixture.tampered(stored[9])
        _ = f.producer.produce(Array(events.prefix(1)), to: "loan_applications")  // 12
        _ = try f.services.log.append(
            [
                LogRecord(key: tampered.key, value: tampered.value, headers: tampered.headers),  // 13
                LogRecord(key: stored[10].key, value: stored[10].value, headers: stored[10].headers),  // 14
                LogRecord(key: stored[11].key, value: stored[11].value, headers: []),  // 15
            ],
            to: "loan_applications"
        )
        _ = f.producer.produce(events, to: "loan_applications")  // 16…19
        let consumer = SecureConsumer(
            services: f.services,
            principal: "fraud-service",
            purpose: "credit-check",
            group: "fraud-trust",
            fetchAhead: true
        )
        var seen: [Int64] = []
        func next() throws {
            seen = [-1]
            try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 4) { seen = $0.map(\.offset) }
        }
        try next()
        #expect(seen == [0, 1, 2, 3])
        // Offsets 4…7 are being fetched and checked ahead with the keys trusted when the last call
        // started it; then the producer's key is replaced: the records signed with the old key
        // must not pass on the checks made before. (No waiting: a batch fetched ahead is used for
        // 2 s, and a call waits for the fetch ahead it uses.)
        f.services.trust(producer: "pos-terminal", key: Curve25519.Signing.PrivateKey().publicKey)
        try next()
        #expect(seen == [], "nothing signed with a key no longer trusted is handed out")
        #expect(
            try f.deadLetters().reasons == Array(repeating: RecordSignature.Failure.unknownProducer.rawValue, count: 4)
        )
        #expect(checkedAhead() == 0, "checked again, not taken from the fetch ahead")
        // Trusted again: 8…11, fetched and checked ahead under the other key, are checked again.
        f.services.trust(producer: "pos-terminal", key: f.producerKey.publicKey)
        try next()
        #expect(seen == [8, 9, 10, 11])
        #expect(checkedAhead() == 0)
        // The same keys trusted throughout: the batches checked ahead are used, and their
        // tampered, replayed and unsigned records are still refused, each for its own reason.
        try next()
        #expect(seen == [12])
        try next()
        #expect(seen == [16, 17, 18, 19])
        #expect(checkedAhead() == 2, "the batches at offsets 12 and 16 were checked ahead")
        #expect(
            try f.deadLetters().reasons.suffix(3) == [
                RecordSignature.Failure.invalid.rawValue, "replayed, duplicated or reordered record",
                RecordSignature.Failure.missing.rawValue,
            ]
        )
    }

    @Test("a drain loop fetches the next partition's first batch ahead; it is used only where the group stands")
    func startFetchingNextPartition() throws {
        let metrics = TestMetrics()
        let f = try PipelineFixture(metrics: metrics, partitions: 2)
        func checkedAhead() -> Int64 {
            (try? metrics.expectCounter("strongroom_consume_checked_ahead_total", [("topic", "loan_applications")]))?
                .values.reduce(0, +) ?? 0
        }
        // 24 subjects, so both partitions hold records (a subject's partition follows its random pseudonym).
        let events = try PipelineFixture.events
        let many = (0..<24).map { i in
            Array(
                String(decoding: events[i % 4], as: UTF8.self).replacing(
                    #/"customerId":"CUST-[0-9]+"/#,
                    with: "\"customerId\":\"CUST-\(100_000 + i)\""
                ).utf8
            )
        }
        #expect(f.producer.produce(many, to: "loan_applications").allSatisfy { (try? $0.get()) != nil })
        let held = try (0..<2).map { p in
            try f.services.log.fetch(
                topic: "loan_applications",
                partition: p,
                from: 0,
                maxBytes: 1 << 20,
                maxRecords: 100
            )
            .count
        }
        #expect(held.allSatisfy { $0 > 1 } && held.reduce(0, +) == 24, "both partitions hold records")
        let consumer = SecureConsumer(
            services: f.services,
            principal: "fraud-service",
            purpose: "credit-check",
            group: "fraud-drain",
            fetchAhead: true
        )
        var seen: [[Int64]] = [[], []]
        for partition in 0..<2 {
            if partition == 0 { try consumer.startFetching(topic: "loan_applications", partition: 1, maxRecords: 100) }
            while try consumer.consume(
                topic: "loan_applications",
                partition: partition,
                maxRecords: 100,
                handler: {
                    seen[partition] += $0.map(\.offset)
                }
            ) > 0 {}
        }
        #expect(seen == held.map { Array(0..<Int64($0)) }, "every record once, in order")
        #expect(checkedAhead() == 1, "partition 1's first batch came from the fetch started ahead")
        #expect(try f.deadLetters().records.isEmpty)

        // The group moved elsewhere after the fetch ahead started: the call reads from where it stands.
        let other = SecureConsumer(
            services: f.services,
            principal: "fraud-service",
            purpose: "credit-check",
            group: "fraud-moved",
            fetchAhead: true
        )
        try other.startFetching(topic: "loan_applications", partition: 1, maxRecords: 100)
        try f.services.log.commit(group: "fraud-moved", topic: "loan_applications", partition: 1, offset: 1)
        var moved: [Int64] = []
        try other.consume(topic: "loan_applications", partition: 1, maxRecords: 100) { moved = $0.map(\.offset) }
        #expect(moved == Array(1..<Int64(held[1])))
        #expect(checkedAhead() == 1, "the batch fetched from offset 0 was not used")

        // A reader without the right is refused, and the refusal is audited.
        let intruder = SecureConsumer(
            services: f.services,
            principal: "pos-terminal",
            purpose: nil,
            group: "fraud-drain",
            fetchAhead: true
        )
        #expect(throws: PipelineError.self) {
            try intruder.startFetching(topic: "loan_applications", partition: 1)
        }
        let last = try f.services.audit.entries(from: 0, limit: 10_000).last.map {
            String(decoding: $0.bytes, as: UTF8.self)
        }
        #expect(last?.contains(#""principal":"pos-terminal""#) == true && last?.contains(#""deny""#) == true)

        // Without fetchAhead it does nothing: the next call fetches and checks itself.
        let plain = f.fraudConsumer(group: "fraud-plain")
        try plain.startFetching(topic: "loan_applications", partition: 1, maxRecords: 100)
        var read: [Int64] = []
        try plain.consume(topic: "loan_applications", partition: 1, maxRecords: 100) { read = $0.map(\.offset) }
        #expect(read == Array(0..<Int64(held[1])) && checkedAhead() == 1)
    }

    @Test("a batch fetched ahead of records that retention deleted meanwhile is not handed out")
    func fetchAheadAfterRetention() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        _ = f.producer.produce(events + events, to: "loan_applications")
        let consumer = SecureConsumer(
            services: f.services,
            principal: "fraud-service",
            purpose: "credit-check",
            group: "fraud-retention",
            fetchAhead: true
        )
        var seen: [Int64] = []
        try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 2) { seen = $0.map(\.offset) }
        #expect(seen == [0, 1])
        // [2, 3] is being fetched ahead; then every record goes.
        usleep(200_000)
        let report = try f.services.log.deleteRecords(of: "loan_applications", olderThan: Int64.max)
        #expect(report.removals.map(\.records).reduce(0, +) == 8)
        seen = [-1]
        let handed = try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 2) {
            seen = $0.map(\.offset)
        }
        #expect(handed == 0 && seen == [-1], "nothing deleted is handed out")
    }

    @Test("read hands out without committing; commit takes only a delivered batch end and keeps the sequence checks")
    func readThenCommit() throws {
        let f = try PipelineFixture()
        _ = f.producer.produce(try PipelineFixture.events, to: "loan_applications")
        let consumer = f.fraudConsumer(group: "fraud-http")
        var first: [Int64] = []
        try consumer.consume(topic: "loan_applications", partition: 0, maxRecords: 1) { first = $0.map(\.offset) }
        #expect(first == [0])
        let batch = try consumer.read(topic: "loan_applications", partition: 0, maxRecords: 2)
        let replay = try consumer.read(topic: "loan_applications", partition: 0, maxRecords: 2)
        #expect(batch.events.map(\.offset) == [1, 2] && batch.next == 3)
        #expect(replay.events.map(\.offset) == [1, 2], "uncommitted: the same records, not dead-lettered as replays")
        for offset: Int64 in [2, 999] {
            #expect(throws: PipelineError(.position, "")) {
                do { try consumer.commit(topic: "loan_applications", partition: 0, offset: offset) } catch let e
                    as PipelineError
                { throw PipelineError(e.kind, "") }
            }
        }
        try consumer.commit(topic: "loan_applications", partition: 0, offset: 1)  // already committed: no-op
        // Moved back elsewhere (another tool, another instance): a batch read from offset 1 no
        // longer follows the group's position, and committing its end would skip offset 0.
        _ = try consumer.read(topic: "loan_applications", partition: 0, maxRecords: 1)
        try f.services.log.commit(group: "fraud-http", topic: "loan_applications", partition: 0, offset: 0)
        #expect(throws: PipelineError.self) { try consumer.commit(topic: "loan_applications", partition: 0, offset: 2) }
        try f.services.log.commit(group: "fraud-http", topic: "loan_applications", partition: 0, offset: 1)
        try consumer.commit(topic: "loan_applications", partition: 0, offset: 3)
        var rest: [Int64] = []
        try consumer.consume(topic: "loan_applications", partition: 0) { rest = $0.map(\.offset) }
        #expect(rest == [3])
        // The commit carried the batch's record numbers on: the fourth record is no gap.
        let entries = try f.services.audit.entries(from: 0, limit: 10_000).map {
            String(decoding: $0.bytes, as: UTF8.self)
        }
        #expect(!entries.contains { $0.contains("SequenceGap") }, "no sequence gap after a read and a commit")
        #expect(!entries.contains { $0.contains(#""dead""#) && $0.contains("replayed") })
        let other = SecureConsumer(services: f.services, principal: "analytics", purpose: nil, group: "fraud-http")
        #expect(throws: PipelineError.self, "another team may not move the group") {
            try other.commit(topic: "loan_applications", partition: 0, offset: 4)
        }
    }
}

@Suite("Data-subject requests", .serialized)
struct DataSubjectRequestTests {
    @Test("access lists where a subject's records are; export decrypts them; rectify appends; erase shreds")
    func lifecycle() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        _ = f.producer.produce(events, to: "loan_applications")
        // Erasure is allowed on working days in office hours from the office network (examples/policy.json).
        let tuesdayAfternoon = Date(timeIntervalSince1970: 1_795_528_800)  // 2026-11-24T14:00:00Z
        let dsr = DataSubjectRequests(
            services: f.services,
            principal: "dana",
            sourceAddress: IPAddress("10.30.1.2"),
            clock: { tuesdayAfternoon }
        )
        let subject = try JSONValue(parsing: events[0])["customerId"]?.stringValue ?? ""
        let mine = try events.filter { try JSONValue(parsing: $0)["customerId"]?.stringValue == subject }
        let holdings = try dsr.access(subject: subject, correlationID: "DSR-1")
        #expect(holdings.count == mine.count && !holdings.erased)
        #expect(holdings.records["loan_applications"]?["0"]?.count == mine.count)

        let exported = try JSONValue(parsing: dsr.export(subject: subject, correlationID: "DSR-2"))
        guard case .array(let items)? = exported["events"] else {
            Issue.record("no events array")
            return
        }
        #expect(items.count == mine.count)
        #expect(items.first?["event"]?["ssn"] == (try JSONValue(parsing: mine[0]))["ssn"])
        #expect(
            String(decoding: try dsr.export(subject: "CUST-99999999", correlationID: "DSR-3"), as: UTF8.self)
                .contains(#""events":[]"#)
        )

        let dpoKey = Curve25519.Signing.PrivateKey()
        f.services.trust(producer: "dana", key: dpoKey.publicKey)
        let dpo = SecureProducer(services: f.services, principal: "dana", key: dpoKey)
        let corrected = Array(
            String(decoding: mine[0], as: UTF8.self).replacingOccurrences(
                of: "\"termMonths\":36",
                with: "\"termMonths\":48"
            ).utf8
        )
        _ = try dsr.rectify(
            subject: subject,
            topic: "loan_applications",
            correction: corrected,
            producer: dpo,
            correlationID: "DSR-4"
        )
        #expect(try dsr.access(subject: subject, correlationID: "DSR-5").count == mine.count + 1)
        #expect(throws: PipelineError.self) {
            try dsr.rectify(
                subject: "CUST-00000002",
                topic: "loan_applications",
                correction: corrected,
                producer: dpo,
                correlationID: "x"
            )
        }

        _ = try dsr.erase(subject: subject, correlationID: "DSR-6")
        #expect(try dsr.access(subject: subject, correlationID: "DSR-7").erased)
        let after = try JSONValue(parsing: dsr.export(subject: subject, correlationID: "DSR-8"))
        if case .array(let items)? = after["events"] {
            #expect(items.allSatisfy { $0["event"]?["ssn"] == .object([.init("$erased", .bool(true))]) })
        }
        // Every request is audited by its keyed hash, never the id.
        let audit = try f.services.audit.entries(from: 0, limit: 500)
        let actions = audit.compactMap { AuditEntry(canonical: $0.bytes) }.filter { $0.principal == "dana" }.map(
            \.action
        )
        #expect(["Access", "Export", "Rectify", "Erase"].allSatisfy(actions.contains))
        #expect(!audit.contains { String(decoding: $0.bytes, as: UTF8.self).contains(subject) })
    }

    @Test("someone without the DPO role is refused, and the refusal is audited")
    func refused() throws {
        let f = try PipelineFixture()
        let dsr = DataSubjectRequests(
            services: f.services,
            principal: "analytics",
            sourceAddress: IPAddress("10.30.1.2")
        )
        #expect(throws: PipelineError.self) { try dsr.erase(subject: "CUST-00000001", correlationID: "x") }
        #expect(throws: PipelineError.self) { try dsr.export(subject: "CUST-00000001", correlationID: "x") }
        #expect(try !f.services.keys.isErased(subject: "CUST-00000001", tenant: "bfb"))
        let denials = try f.services.audit.entries(from: 0, limit: 100).compactMap { AuditEntry(canonical: $0.bytes) }
        #expect(denials.filter { $0.principal == "analytics" && $0.decision == .deny }.count >= 2)
    }
}

@Suite("Observability")
struct ObservabilityTests {
    @Test("counters and timers per topic, purpose and reason; JSON log lines with correlation ids and no PII")
    func metricsAndLogs() throws {
        let metrics = TestMetrics()
        let lines = Mutex<[UInt8]>([])
        let logger = Logger(label: "strongroom.pipeline") { label in
            JSONLogHandler(label: label) { bytes in lines.withLock { $0 += bytes } }
        }
        let f = try PipelineFixture(logger: logger, metrics: metrics)
        let events = try PipelineFixture.events
        _ = f.producer.produce(events, to: "loan_applications", correlationID: "corr-42")
        _ = try f.consume("fraud-service", purpose: "credit-check")
        _ = try? f.consume("alice", purpose: nil)

        func total(_ label: String, _ dimensions: [(String, String)]) throws -> Int64 {
            try metrics.expectCounter(label, dimensions).values.reduce(0, +)
        }
        #expect(try total("strongroom_records_produced_total", [("topic", "loan_applications")]) == Int64(events.count))
        #expect(
            try total("strongroom_fields_encrypted_total", [("topic", "loan_applications")]) == Int64(events.count * 7)
        )
        #expect(try total("strongroom_records_consumed_total", [("topic", "loan_applications")]) == Int64(events.count))
        #expect(
            try total("strongroom_decrypts_total", [("topic", "loan_applications"), ("purpose", "credit-check")])
                == Int64(events.count * 3)
        )
        #expect(try total("strongroom_denials_total", [("action", "Consume"), ("topic", "loan_applications")]) == 1)
        #expect(
            try metrics.expectTimer("strongroom_produce_duration", [("topic", "loan_applications")]).values.count == 1
        )

        let text = String(decoding: lines.withLock { $0 }, as: UTF8.self)
        let parsed = try text.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(parsed.contains { $0["message"] == .string("produce") && $0["correlation_id"] == .string("corr-42") })
        #expect(parsed.contains { $0["message"] == .string("consume denied") && $0["principal"] == .string("alice") })
        for event in events {
            let value = try JSONValue(parsing: event)
            for field in ["ssn", "dateOfBirth", "fullName", "email", "phone"] {
                if let secret = value[field]?.stringValue { #expect(!text.contains(secret)) }
            }
        }
    }
}

@Suite("Break-glass tokens in the pipeline")
struct PipelineTokenTests {
    @Test("a single-use grant decrypts one more field for one batch; replayed, it is denied and the field masked")
    func singleUse() throws {
        let root = TestSupport.packageRoot
        let issuer = GovernanceIssuer(privateKey: .init())
        let policy = try Policy(contentsOf: root.appendingPathComponent("examples/policy.json"))
        let f = try PipelineFixture(policy: PolicyEngine(policy, trustedIssuers: [issuer.publicKey]))
        let events = try PipelineFixture.events
        // 400 records: one batch, read on every core; the grant is spent once for all of it.
        _ = f.producer.produce(Array(repeatElement(events, count: 100).joined()), to: "loan_applications")
        let token = try issuer.issue(
            principal: "fraud-service",
            action: .decrypt,
            resource: .field(topic: "loan_applications", pointer: "/fullName"),
            purpose: "credit-check",
            policy: policy,
            expires: Date().addingTimeInterval(600),
            singleUse: true
        )
        func read(_ group: String) throws -> [JSONValue] {
            var out: [JSONValue] = []
            let consumer = SecureConsumer(
                services: f.services,
                principal: "fraud-service",
                purpose: "credit-check",
                group: group,
                token: token
            )
            try consumer.consume(topic: "loan_applications", partition: 0) { batch in
                out += try batch.map { try JSONValue(parsing: $0.value) }
            }
            return out
        }
        let first = try read("fraud-incident-1")
        #expect(first.count == 400)
        #expect(first[0]["fullName"] == (try JSONValue(parsing: events[0]))["fullName"])
        #expect(first.allSatisfy { $0["fullName"] != .string("***") }, "every record of the batch, in every chunk")
        let replay = try read("fraud-incident-2")
        #expect(replay[0]["fullName"] == .string("***"))
        #expect(replay.allSatisfy { $0["fullName"] == .string("***") })
        let audit = try f.services.audit.entries(from: 0, limit: 200).compactMap { AuditEntry(canonical: $0.bytes) }
        #expect(
            audit.contains {
                $0.fields == ["/fullName"] && $0.decision == .allow && $0.rules.contains { $0.hasPrefix("token:") }
                    && $0.count == 400
            }
        )
        #expect(
            audit.contains {
                $0.fields == ["/fullName"] && $0.decision == .deny && ($0.reason ?? "").contains("replayed")
            }
        )
    }
}

@Suite("Dead-letter replay")
struct DeadLetterReplayTests {
    @Test(
        "records from a producer not yet trusted go to the DLQ; after trusting it, an operator's replay brings them back"
    )
    func replay() throws {
        let f = try PipelineFixture()
        let newcomer = Curve25519.Signing.PrivateKey()
        let terminal = SecureProducer(
            services: f.services,
            principal: "pos-terminal",
            key: newcomer,
            sourceAddress: PipelineFixture.pos
        )
        let events = try PipelineFixture.events
        _ = terminal.produce(events, to: "loan_applications")
        #expect(try f.consume("fraud-service", purpose: "credit-check").isEmpty)
        #expect(throws: PipelineError.self) {
            try DeadLetterReplay(services: f.services, principal: "analytics").replay(
                topic: "loan_applications",
                partition: 0
            )
        }
        // Still untrusted: nothing comes back.
        let early = try DeadLetterReplay(services: f.services, principal: "olga").replay(
            topic: "loan_applications",
            partition: 0
        )
        #expect(early == .init(replayed: 0, stillFailing: events.count))
        f.services.trust(producer: "pos-terminal", key: newcomer.publicKey)
        let dlq = try f.services.log.describeTopic("loan_applications.dlq").partitions[0]
        try f.services.log.commit(
            group: "dead-letter-replay",
            topic: "loan_applications.dlq",
            partition: 0,
            offset: dlq.startOffset
        )
        let report = try DeadLetterReplay(services: f.services, principal: "olga").replay(
            topic: "loan_applications",
            partition: 0
        )
        #expect(report == .init(replayed: events.count, stillFailing: 0))
        let seen = try f.consume("fraud-service", purpose: "credit-check")
        #expect(seen.count == events.count)
        #expect(seen[0]["ssn"] == (try JSONValue(parsing: events[0]))["ssn"])
        let audit = try f.services.audit.entries(from: 0, limit: 200).compactMap { AuditEntry(canonical: $0.bytes) }
        #expect(
            audit.contains { $0.action == "ReplayDeadLetters" && $0.principal == "analytics" && $0.decision == .deny }
        )
        #expect(
            audit.contains { $0.action == "ReplayDeadLetters" && $0.principal == "olga" && $0.count == events.count }
        )
    }
}

@Suite("Retention sweep")
struct RetentionSweepTests {
    @Test("retention comes from the topic, else the schema, else the classification; the sweep says what it removed")
    func sweep() throws {
        let f = try PipelineFixture()
        let day: Int64 = 86_400_000
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let nowMs: Int64 = 1_800_000_000_000
        try f.services.log.createTopic("internal_notes", config: TopicConfig(partitions: 1, classification: "INTERNAL"))
        try f.services.log.createTopic("short_lived", config: TopicConfig(partitions: 1, retentionMs: 7 * day))
        try f.services.log.createTopic("public_feed", config: TopicConfig(partitions: 1, classification: "PUBLIC"))
        func put(_ topic: String, ages: [Int64]) throws {
            _ = try f.services.log.append(
                ages.map { LogRecord(value: Array("x".utf8), timestamp: nowMs - $0 * day) },
                to: topic
            )
        }
        try put("loan_applications", ages: [3000, 2600, 10])  // schema: strongroom:retentionDays 2555
        try put("internal_notes", ages: [400, 366, 1])  // classification INTERNAL: 365
        try put("short_lived", ages: [8, 6])  // topic: 7 days
        try put("public_feed", ages: [5000])  // PUBLIC: no default, kept
        let outcomes = try RetentionSweep(services: f.services).run(now: now)
        func outcome(_ topic: String) -> RetentionSweep.Outcome? { outcomes.first { $0.topic == topic } }
        #expect(outcome("loan_applications")?.records == 2 && outcome("loan_applications")?.source == "schema")
        #expect(
            outcome("internal_notes")?.records == 2 && outcome("internal_notes")?.source == "classification INTERNAL"
        )
        #expect(outcome("short_lived")?.records == 1 && outcome("short_lived")?.source == "topic")
        #expect(outcome("public_feed")?.records == 0 && outcome("public_feed")?.retentionDays == nil)
        #expect(try f.services.log.describeTopic("internal_notes").partitions[0].startOffset == 2)
        let audit = try f.services.audit.entries(from: 0, limit: 100).compactMap { AuditEntry(canonical: $0.bytes) }
        #expect(audit.filter { $0.action == "RetentionSweep" }.map(\.count).reduce(0, +) == 5)
        #expect(try RetentionSweep(services: f.services).run(now: now).allSatisfy { $0.records == 0 })
    }
}

@Suite("Pipeline: moved ciphertexts and key headers")
struct MovedCiphertextTests {
    @Test("a field ciphertext pasted from one record into another never decrypts there: dead-lettered and audited")
    func moved() throws {
        let f = try PipelineFixture()
        _ = f.producer.produce(try PipelineFixture.events, to: "loan_applications")
        let stored = try f.stored(10)
        let keys = stored[0].headers.first { $0.name == RecordSignature.Header.keys }.map {
            String(decoding: $0.value, as: UTF8.self)
        }
        #expect(keys?.hasPrefix("subject:") == true && keys?.contains(":v1") == true)
        // Take record 1's encrypted SSN and put it into record 2.
        func ssn(_ record: StoredRecord) throws -> String {
            try JSONValue(parsing: record.value ?? [])["ssn"]?.stringValue ?? ""
        }
        let stolen = try ssn(stored[1])
        let target = String(decoding: stored[2].value ?? [], as: UTF8.self).replacingOccurrences(
            of: try ssn(stored[2]),
            with: stolen
        )
        _ = try f.services.log.append(
            [LogRecord(key: stored[2].key, value: Array(target.utf8), headers: stored[2].headers)],
            to: "loan_applications"
        )
        let seen = try f.consume("fraud-service", purpose: "credit-check")
        #expect(seen.count == stored.count)
        let dead = try f.services.log.fetch(
            topic: "loan_applications.dlq",
            partition: 0,
            from: 0,
            maxBytes: 1 << 20,
            maxRecords: 10
        )
        #expect(dead.count == 1)
        let audit = try f.services.audit.entries(from: 0, limit: 100).compactMap { AuditEntry(canonical: $0.bytes) }
        #expect(audit.contains { $0.action == "DeadLetter" && $0.count == 1 })
    }
}

@Suite("Pipeline: group and rectify authorization")
struct GroupAuthorizationTests {
    @Test("a consumer may not move another team's group offsets; an unauthorized rectify is refused")
    func groups() throws {
        let f = try PipelineFixture()
        _ = f.producer.produce(try PipelineFixture.events, to: "loan_applications")
        let analytics = SecureConsumer(
            services: f.services,
            principal: "analytics",
            purpose: "reporting",
            group: "fraud-scoring"
        )
        #expect(throws: PipelineError.self) { try analytics.consume(topic: "loan_applications", partition: 0) { _ in } }
        #expect(
            try f.services.log.committedOffset(group: "fraud-scoring", topic: "loan_applications", partition: 0) == nil
        )
        let dsr = DataSubjectRequests(services: f.services, principal: "analytics")
        #expect(throws: PipelineError.self) { try dsr.authorizeRectify(topic: "loan_applications", correlationID: "x") }
    }
}

@Suite("Pipeline: tagged values stored in clear")
struct ClearTaggedValueTests {
    @Test("a value the current schema tags but an older one stored in clear is masked for a reader without rights")
    func masked() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        _ = f.producer.produce(events, to: "loan_applications")
        let stored = try f.stored(1)
        let original = try JSONValue(parsing: events[0])
        let email = original["email"]?.stringValue ?? ""
        let sealedEmail = try JSONValue(parsing: stored[0].value ?? [])["email"]?.stringValue ?? ""
        let clear = String(decoding: stored[0].value ?? [], as: UTF8.self).replacingOccurrences(
            of: sealedEmail,
            with: email
        )
        var out: [UInt8] = []
        let schema = try f.services.cipher(forTopic: "loan_applications")
        _ = try Array(clear.utf8).withUnsafeBufferPointer { buffer in
            try schema.reveal(buffer, into: &out) { pointer, _ in pointer == "/email" ? .mask(.full) : .keep }
        }
        let text = String(decoding: out, as: UTF8.self)
        #expect(!text.contains(email))
        #expect(try JSONValue(parsing: out)["email"] == .string("***"))
    }
}
