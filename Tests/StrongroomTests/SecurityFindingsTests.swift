import Crypto
import Foundation
import GRDB
import Strongroom
import StrongroomAudit
import StrongroomCrypto
import StrongroomFiles
import StrongroomJSON
import StrongroomKeys
import StrongroomPolicy
import StrongroomSchema
import StrongroomTestSupport
import Testing

@testable import StrongroomLog

/// Pairs of ids that Swift's `String ==` calls equal but whose bytes differ.
let canonicallyEquivalentIDs: [(String, String)] = [
    ("KAT-0001", "\u{212A}AT-0001"),  // KELVIN SIGN
    ("Zo\u{EB}", "Zoe\u{308}"),  // NFC and NFD
    ("\u{C5}sa", "\u{212B}sa"),  // ANGSTROM SIGN
    ("\u{3A9}-1", "\u{2126}-1"),  // OHM SIGN
    ("A;1", "A\u{37E}1"),  // GREEK QUESTION MARK is canonically ';'
    ("\u{D55C}", "\u{1112}\u{1161}\u{11AB}"),  // Hangul syllable and its jamo
    ("q\u{323}\u{307}", "q\u{307}\u{323}"),  // combining marks in either order
]

/// A data directory with one topic `t`, a schema and a policy of the test's own.
struct SmallFixture {
    let directory: URL
    let services: StrongroomServices
    let producerKey = Curve25519.Signing.PrivateKey()

    init(schema: String, policy: String, tenant: String = "bank", directory: URL? = nil, partitions: Int = 1) throws {
        let directory = directory ?? TestSupport.scratchDirectory("security")
        self.directory = directory
        let registry = try SchemaRegistry(dataDirectory: directory)
        try registry.register(subject: "t-value", schema: schema, principal: "test")
        services = StrongroomServices(
            keys: try KeyStore.initialize(dataDirectory: directory),
            log: try SQLiteEventLog(dataDirectory: directory),
            registry: registry,
            policy: PolicyEngine(try Policy(parsing: Array(policy.utf8))),
            audit: try AuditLog(dataDirectory: directory),
            tenant: tenant
        )
        try services.createTopic("t", config: TopicConfig(partitions: partitions))
        services.trust(producer: "producer", key: producerKey.publicKey)
    }

    func produce(_ events: [String]) throws {
        let producer = SecureProducer(services: services, principal: "producer", key: producerKey)
        for result in producer.produce(events.map { Array($0.utf8) }, to: "t") { _ = try result.get() }
    }

    func consume(_ principal: String, purpose: String? = nil) throws -> [JSONValue] {
        var out: [JSONValue] = []
        let consumer = SecureConsumer(
            services: services,
            principal: principal,
            purpose: purpose,
            group: "g-\(principal)"
        )
        while try consumer.consume(
            topic: "t",
            partition: 0,
            handler: { events in
                out += try events.map { try JSONValue(parsing: $0.value) }
            }
        ) > 0 {}
        return out
    }

    func auditEntries() throws -> [JSONValue] {
        try services.audit.entries(from: 0, limit: 100_000).map { try JSONValue(parsing: $0.bytes) }
    }
}

/// A policy letting `producer` produce and `reader` consume `t` and decrypt `pointers` for `purpose`.
func readerPolicy(allow pointers: [String], deny denied: [String] = []) -> String {
    func list(_ p: [String]) -> String { "[" + p.map { "\"\($0)\"" }.joined(separator: ",") + "]" }
    let deny =
        denied.isEmpty
        ? ""
        : #",{"id":"deny","effect":"deny","principals":["reader"],"actions":["Decrypt"],"resource":{"type":"field","topic":"t","pointers":\#(list(denied))}}"#
    return #"""
        {"version":"1","principals":{"producer":{"kind":"service"},"reader":{"kind":"service"}},"rules":[
        {"id":"p","effect":"allow","principals":["producer"],"actions":["Produce"],"resource":{"type":"topic","name":"t"}},
        {"id":"c","effect":"allow","principals":["reader"],"actions":["Consume"],"resource":{"type":"topic","name":"t"}},
        {"id":"g","effect":"allow","principals":["reader"],"actions":["Consume"],"resource":{"type":"group","name":"g-","pattern":"prefixed"}},
        {"id":"d","effect":"allow","principals":["reader"],"actions":["Decrypt"],"resource":{"type":"field","topic":"t","pointers":\#(list(pointers))},"purposes":["p"]}\#(deny)]}
        """#
}

/// The attacks of the security review (issue 10), each reproduced; ids name the finding.
@Suite("Security review findings")
struct SecurityFindingsTests {
    @Test("H1: canonically equivalent subject ids are different customers", arguments: canonicallyEquivalentIDs)
    func equivalentSubjectsHaveTheirOwnKeys(victim: String, lookalike: String) throws {
        #expect(victim == lookalike, "Swift merges these; Strongroom must not")
        #expect(ExactText(victim) != ExactText(lookalike))
        #expect(KeyFamily.subject(victim) != KeyFamily.subject(lookalike))
        #expect(Set([KeyFamily.subject(victim), KeyFamily.subject(lookalike)]).count == 2)

        let cipher = try makeCipher()
        // Both in one batch: the batch's key cache must not hand one family's key to the other.
        let sealed = cipher.encrypt(batch: [event(victim, id: "e1"), event(lookalike, id: "e2")]).map {
            try? $0.get()
        }
        let victimSealed = try #require(sealed[0])
        let lookalikeSealed = try #require(sealed[1])

        let receipt = try cipher.keys.erase(subject: victim)
        #expect(receipt.versionsDeleted >= 1)
        #expect(!receipt.alreadyErased)
        _ = try cipher.keys.finalize()
        cipher.keys.clearCache()

        let erased = try JSONValue(parsing: cipher.decrypt(victimSealed))
        #expect(erased["ssn"] == .object([.init("$erased", .bool(true))]))
        let survivor = try JSONValue(parsing: cipher.decrypt(lookalikeSealed))
        #expect(survivor["ssn"] == .string("123-45-6789"))
        #expect(try cipher.keys.isErased(subject: victim))
        #expect(try !cipher.keys.isErased(subject: lookalike))
    }

    @Test("H2: a deny on a numeric member or an array element holds, and the audit names the field")
    func numericPointerDenies() throws {
        let schema = #"""
            {"type":"object","properties":{
              "id":{"type":"string"},
              "2024":{"type":"string","confluent:tags":["PII"]},
              "\u00b2":{"type":"string","confluent:tags":["PII"]},
              "cards":{"type":"array","items":{"type":"string","confluent:tags":["PII"]}}}}
            """#
        let fixture = try SmallFixture(
            schema: schema,
            policy: readerPolicy(allow: ["/2024", "/cards"], deny: ["/2024", "/cards/0"])
        )
        try fixture.produce([#"{"id":"e1","2024":"tax-2024","\u00b2":"squared","cards":["4111-1","5500-2"]}"#])
        let event = try #require(try fixture.consume("reader", purpose: "p").first)
        #expect(event["2024"] == .string("***"))
        #expect(event["cards"] == .array([.string("***"), .string("5500-2")]))
        // `²` is not an index (nor any other token): no rule names it, so it stays masked.
        #expect(event["\u{B2}"] == .string("***"))

        // What `policy explain` evaluates is what the consumer asked.
        let decision = fixture.services.policy.authorize(
            principalID: "reader",
            .decrypt,
            .field(topic: "t", pointer: "/cards/0"),
            AuthorizationContext(purpose: "p")
        )
        #expect(!decision.isAllowed)
        let resources = try fixture.auditEntries().compactMap { $0["resource"]?.stringValue }
        #expect(resources.contains("field:t/cards/0"))
        #expect(resources.contains("field:t/cards/1"))
        #expect(resources.contains("field:t/2024"))
        #expect(!resources.contains { $0.contains("*") })
    }

    /// Makes every later audit append fail, as a full or broken disk would.
    static func breakAudit(_ directory: URL) throws {
        let db = try DatabaseQueue(path: directory.appendingPathComponent("audit.sqlite").path)
        try db.write {
            try $0.execute(
                sql: "CREATE TRIGGER refuse BEFORE INSERT ON entry BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        }
    }

    static let tuesdayAfternoon = Date(timeIntervalSince1970: 1_795_528_800)  // 2026-11-24T14:00:00Z

    /// Every file under `directory`, recursively, with its bytes.
    static func files(under directory: URL) throws -> [(String, Data)] {
        let paths = FileManager.default.enumerator(atPath: directory.path)?.allObjects as? [String] ?? []
        return try paths.compactMap { path in
            var isDirectory: ObjCBool = false
            let url = directory.appendingPathComponent(path)
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue
            else { return nil }
            return (path, try Data(contentsOf: url))
        }
    }

    @Test("M8: no subject id in clear on disk; after erase and finalize nothing links the records to the person")
    func erasureLeavesNoLink() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        #expect(f.producer.produce(events, to: "loan_applications").allSatisfy { (try? $0.get()) != nil })
        let victim = "CUST-00000001"
        let ids = try events.compactMap { try JSONValue(parsing: $0)["customerId"]?.stringValue }
        let pseudonym = try #require(try f.services.keys.pseudonym(ofSubject: victim, tenant: "bfb"))
        // The subject id is an encrypted field: no file (log, WAL, key store, audit) holds any id.
        func subjectIDsOnDisk() throws -> [String] {
            try Self.files(under: f.directory).flatMap { name, bytes in
                ids.filter { bytes.range(of: Data($0.utf8)) != nil }.map { "\(name): \($0)" }
            }
        }
        #expect(try subjectIDsOnDisk().isEmpty)
        // The fraud service may decrypt the id; the analyst sees it masked.
        let fraud = try f.consume("fraud-service", purpose: "credit-check")
        #expect(fraud.contains { $0["customerId"] == .string(victim) })
        #expect(try f.consume("analytics", purpose: "reporting").allSatisfy { $0["customerId"] == .string("***") })

        let erased = try f.services.keys.erase(subject: victim, tenant: "bfb")
        #expect(erased.keyID == pseudonym && erased.versionsDeleted == 1)
        _ = try f.services.keys.finalize()
        #expect(try subjectIDsOnDisk().isEmpty)
        // The key store no longer knows which records were the victim's: the pseudonym is known
        // only as erased, and the subject only as refused.
        #expect(try f.services.keys.pseudonym(ofSubject: victim, tenant: "bfb") == nil)
        let links = try DatabaseQueue(path: f.directory.appendingPathComponent("keys.sqlite").path).read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM subject WHERE key_id = ?",
                arguments: [Data(try #require([UInt8](hex: pseudonym)))]
            )
        }
        #expect(links == 0)
        let dsr = DataSubjectRequests(
            services: f.services,
            principal: "dana",
            sourceAddress: IPAddress("10.30.1.2"),
            clock: { Self.tuesdayAfternoon }
        )
        #expect(try dsr.access(subject: victim, correlationID: "M8").count == 0)
        // The aggregate survives: every record still reads, the victim's with the id, SSN and
        // the other personal fields erased and the amounts in clear.
        let after = try f.consume("fraud-service", purpose: "credit-check", group: "fraud-after-erasure")
        #expect(after.count == events.count)
        let gone = after.filter { $0["customerId"] == .object([.init("$erased", .bool(true))]) }
        #expect(gone.count == ids.filter { $0 == victim }.count && !gone.isEmpty)
        #expect(gone.allSatisfy { $0["ssn"] == .object([.init("$erased", .bool(true))]) && $0["amount"] != nil })
        #expect(!after.contains { $0["customerId"] == .string(victim) })
        // New data for the erased subject is refused.
        let again = f.producer.produce([events[0]], to: "loan_applications")
        #expect((try? again[0].get()) == nil)
    }

    @Test("H4/L6: export verifies records like consume and checks the subject; bad records are listed, not shown")
    func exportVerifiesRecords() throws {
        let f = try PipelineFixture()
        let events = try PipelineFixture.events
        _ = f.producer.produce(events, to: "loan_applications")
        let victim = "CUST-00000001"
        let other = try #require(try JSONValue(parsing: events[1])["customerId"]?.stringValue)
        let otherSSN = try #require(try JSONValue(parsing: events[1])["ssn"]?.stringValue)
        let victimHash = try #require(try f.services.keys.pseudonym(ofSubject: victim, tenant: "bfb"))
        let otherHash = try #require(try f.services.keys.pseudonym(ofSubject: other, tenant: "bfb"))
        let stored = try f.services.log.describeTopic("loan_applications").partitions.flatMap {
            try f.services.log.fetch(
                topic: "loan_applications",
                partition: $0.partition,
                from: 0,
                maxBytes: 1 << 20,
                maxRecords: 10
            )
        }
        let otherRecord = try #require(stored.first { $0.key == Array(otherHash.utf8) })
        func relabelled(_ headers: [RecordHeader]) -> [RecordHeader] {
            headers.map { $0.name == "sr-subject" ? RecordHeader("sr-subject", text: victimHash) : $0 }
        }
        // (a) someone with write access plants the other customer's record under the victim's hash, unsigned;
        // (b) a trusted producer's key signs a record whose header names the victim but whose event does not.
        let signed = try RecordSignature.sign(
            [
                RecordSignature.Content(
                    topic: "loan_applications",
                    partition: 0,
                    sequence: String(repeating: "a", count: 32) + ":0",
                    key: Array(victimHash.utf8),
                    value: otherRecord.value ?? [],
                    schemaID: 1,
                    producer: "pos-terminal"
                )
            ],
            producer: "pos-terminal",
            key: f.producerKey,
            batchID: "planted"
        )
        _ = try f.services.log.append(
            [
                LogRecord(
                    key: Array(victimHash.utf8),
                    value: otherRecord.value,
                    headers: relabelled(
                        otherRecord.headers.filter { !$0.name.hasPrefix("sr-sig") && $0.name != "sr-batch" }
                    )
                ),
                LogRecord(
                    key: Array(victimHash.utf8),
                    value: otherRecord.value,
                    headers: signed[0].map { RecordHeader($0.0, $0.1) } + [
                        RecordHeader("sr-schema", text: "1"), RecordHeader("sr-subject", text: victimHash),
                    ]
                ),
            ],
            to: "loan_applications"
        )
        let dsr = DataSubjectRequests(
            services: f.services,
            principal: "dana",
            sourceAddress: IPAddress("10.30.1.2"),
            clock: { Self.tuesdayAfternoon }
        )
        let bytes = try dsr.export(subject: victim, correlationID: "H4")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains(otherSSN))
        #expect(!text.contains(other))
        let exported = try JSONValue(parsing: bytes)
        guard case .array(let items)? = exported["events"], case .array(let unreadable)? = exported["unreadable"] else {
            Issue.record("export document lacks its arrays")
            return
        }
        #expect(items.count == 2)  // the victim's own two applications
        #expect(items.allSatisfy { $0["event"]?["customerId"] == .string(victim) })
        #expect(unreadable.count == 2)
        #expect(
            unreadable.map { $0["reason"]?.stringValue ?? "" }.sorted()
                == [
                    RecordSignature.Failure.missing.rawValue, "the record key does not name the event's data subject",
                ].sorted()
        )
        let holdings = try dsr.access(subject: victim, correlationID: "H4-access")
        #expect(holdings.count == 2)
        #expect(holdings.unreadable.count == 2)
    }

    @Test("H5: a consume or export whose audit entry cannot be written reveals nothing and commits nothing")
    func auditFailureStopsAccess() throws {
        let f = try PipelineFixture()
        _ = f.producer.produce(try PipelineFixture.events, to: "loan_applications")
        try Self.breakAudit(f.directory)
        let consumer = f.fraudConsumer(group: "fraud-scoring")
        var handed = 0
        #expect(
            performing: {
                try consumer.consume(topic: "loan_applications", partition: 0) { handed += $0.count }
            },
            throws: isAuditFailure
        )
        #expect(handed == 0)
        #expect(
            try f.services.log.committedOffset(group: "fraud-scoring", topic: "loan_applications", partition: 0) == nil
        )
        let dsr = DataSubjectRequests(
            services: f.services,
            principal: "dana",
            sourceAddress: IPAddress("10.30.1.2"),
            clock: { Self.tuesdayAfternoon }
        )
        #expect(performing: { try dsr.export(subject: "CUST-00000001", correlationID: "x") }, throws: isAuditFailure)
        #expect(performing: { try dsr.erase(subject: "CUST-00000001", correlationID: "x") }, throws: isAuditFailure)
        #expect(try !f.services.keys.isErased(subject: "CUST-00000001", tenant: "bfb"))
        // Producing is audited first too: nothing is appended.
        let before = try f.services.log.describeTopic("loan_applications").partitions[0].endOffset
        let results = f.producer.produce(try PipelineFixture.events, to: "loan_applications")
        #expect(results.allSatisfy { if case .failure(let e) = $0 { e.kind == .audit } else { false } })
        #expect(try f.services.log.describeTopic("loan_applications").partitions[0].endOffset == before)
    }

    @Test("M7/CLI: a reader with the wrong tenant stops with a context error; nothing dead-lettered or committed")
    func wrongTenantStopsBeforeDeadLetters() throws {
        let f = try SmallFixture(
            schema: #"{"type":"object","properties":{"ssn":{"type":"string","confluent:tags":["PII"]}}}"#,
            policy: readerPolicy(allow: ["/ssn"])
        )
        try f.produce([#"{"ssn":"123-45-6789"}"#, #"{"ssn":"987-65-4321"}"#])
        let s = f.services
        let wrong = StrongroomServices(
            keys: s.keys,
            log: s.log,
            registry: s.registry,
            policy: s.policy,
            audit: s.audit,
            tenant: "bank2"
        )
        wrong.trust(producer: "producer", key: f.producerKey.publicKey)
        let consumer = SecureConsumer(services: wrong, principal: "reader", purpose: "p", group: "g-reader")
        do {
            try consumer.consume(topic: "t", partition: 0) { _ in Issue.record("handed out") }
            Issue.record("no error")
        } catch let error as PipelineError {
            #expect(error.kind == .context)
            #expect(error.detail.contains("--tenant"))
        }
        #expect(try s.log.describeTopic("t.dlq").partitions[0].endOffset == 0)
        #expect(try s.log.committedOffset(group: "g-reader", topic: "t", partition: 0) == nil)
        // The right tenant still reads everything.
        #expect(
            try f.consume("reader", purpose: "p").map { $0["ssn"] } == [.string("123-45-6789"), .string("987-65-4321")]
        )
    }

    @Test("M7: dead letters need the right to write them and are never duplicated")
    func deadLettersNeedARightAndAreDeduplicated() throws {
        let f = try PipelineFixture()
        _ = try f.services.log.append(
            [LogRecord(key: nil, value: Array(#"{"customerId":"CUST-1"}"#.utf8))],
            to: "loan_applications"
        )
        func dlqCount() throws -> Int64 {
            try f.services.log.describeTopic("loan_applications.dlq").partitions[0].endOffset
        }
        // Developers may not even consume; operators may consume the DLQ but not write to it: use a policy where
        // a reader lacks the Produce right on the dead-letter topic.
        _ = try f.consume("fraud-service", purpose: "credit-check", group: "fraud-a")
        #expect(try dlqCount() == 1)
        _ = try f.consume("fraud-service", purpose: "credit-check", group: "fraud-b")
        #expect(try dlqCount() == 1, "a second group reading the same bad record adds no copy")
        let entries = try f.services.audit.entries(from: 0, limit: 1000).compactMap { AuditEntry(canonical: $0.bytes) }
        #expect(entries.filter { $0.action == "DeadLetter" }.count == 2)

        let policy = try String(
            contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/policy.json"),
            encoding: .utf8
        ).replacingOccurrences(
            of: #""principals": ["role:fraud", "role:analytics"],"#,
            with: #""principals": ["role:analytics"],"#
        )
        let strict = StrongroomServices(
            keys: f.services.keys,
            log: f.services.log,
            registry: f.services.registry,
            policy: PolicyEngine(try Policy(parsing: Array(policy.utf8))),
            audit: f.services.audit,
            tenant: "bfb"
        )
        _ = try f.services.log.append(
            [LogRecord(key: nil, value: Array(#"{"customerId":"CUST-2"}"#.utf8))],
            to: "loan_applications"
        )
        let consumer = SecureConsumer(
            services: strict,
            principal: "fraud-service",
            purpose: "credit-check",
            group: "fraud-c"
        )
        while try consumer.consume(topic: "loan_applications", partition: 0, handler: { _ in }) > 0 {}
        #expect(try dlqCount() == 1, "no right to dead-letter: nothing written")
        let denied = try f.services.audit.entries(from: 0, limit: 1000).compactMap { AuditEntry(canonical: $0.bytes) }
            .filter { $0.action == "DeadLetter" && $0.decision == .deny }
        #expect(denied.count == 1)
    }

    @Test(
        "M4: record headers never trap, whatever their bytes (10^6 fuzzed header sets), and a memo never changes a result"
    )
    func headerFuzz() throws {
        var generator = SplitMix64(seed: 0x5EED_0004)
        let valid =
            try RecordSignature.sign(
                [
                    RecordSignature.Content(
                        topic: "t",
                        partition: 0,
                        sequence: String(repeating: "a", count: 32) + ":0",
                        key: [],
                        value: [1],
                        schemaID: 1,
                        producer: "p"
                    )
                ],
                producer: "p",
                key: Curve25519.Signing.PrivateKey(),
                batchID: "b"
            )[0].map { RecordHeader($0.0, $0.1) } + [RecordHeader("sr-schema", text: "1")]
        let interesting: [[UInt8]] = [
            [], Array("0".utf8), Array("18446744073709551615".utf8), Array("9223372036854775808".utf8),
            Array("b:0:9223372036854775808".utf8), Array("b:9223372036854775807:9223372036854775808".utf8),
            Array("b:-1:2".utf8), Array("::".utf8), Array("b:0:1:2".utf8), [0xFF, 0xFE], Array("+1".utf8),
            Array("1e3".utf8), Array(repeating: UInt8(ascii: "9"), count: 40), Array("\u{212A}".utf8),
        ]
        var parsed = 0
        // One memo for the whole run: what it remembers never changes a result.
        var memo = SignedHeaders.Memo()
        for round in 0..<1_000_000 {
            var headers = valid
            let mutations = 1 + Int(generator.next() % 3)
            for _ in 0..<mutations {
                let i = Int(generator.next() % UInt64(headers.count))
                switch generator.next() % 5 {
                case 0: headers[i].value = interesting[Int(generator.next() % UInt64(interesting.count))]
                case 1:
                    if !headers[i].value.isEmpty {
                        let j = Int(generator.next() % UInt64(headers[i].value.count))
                        headers[i].value[j] = UInt8(truncatingIfNeeded: generator.next())
                    }
                case 2:
                    headers[i].value = (0..<Int(generator.next() % 100)).map { _ in
                        UInt8(truncatingIfNeeded: generator.next())
                    }
                case 3: headers.append(headers[i])
                default: headers.remove(at: i)
                }
                if headers.isEmpty { break }
            }
            let result = SignedHeaders.parse(headers)
            if case .success = result { parsed += 1 }
            #expect(SignedHeaders.parse(headers, memo: &memo) == result)
            // Now and then the unchanged headers: the memo holds parts of the mutated set.
            if round % 8 == 0 { #expect(SignedHeaders.parse(valid, memo: &memo) == SignedHeaders.parse(valid)) }
        }
        #expect(parsed > 0 && parsed < 1_000_000)
        // The oversize batch of the review: refused, not trapped.
        var huge = valid
        huge[1].value = Array("b:0:9223372036854775808".utf8)
        #expect(SignedHeaders.parse(huge) == .failure(.malformed))
    }

    @Test("M5/L3/L4: every file in the data directory is private from its first byte, even in a loose directory")
    func dataDirectoryIsPrivate() throws {
        let directory = TestSupport.scratchDirectory("private")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        // A database left world-readable by an older version is tightened, with its WAL.
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("log.sqlite").path, contents: nil)
        try FileManager.default.setAttributes(
            [.posixPermissions: 0o644],
            ofItemAtPath: directory.appendingPathComponent("log.sqlite").path
        )
        let previous = umask(0o022)
        defer { umask(previous) }
        let f = try SmallFixture(
            schema: #"{"type":"object","properties":{"ssn":{"type":"string","confluent:tags":["PII"]}}}"#,
            policy: readerPolicy(allow: ["/ssn"]),
            directory: directory
        )
        try f.produce([#"{"ssn":"123-45-6789"}"#])
        _ = try f.consume("reader", purpose: "p")
        try f.services.keys.backup(to: directory.appendingPathComponent("keys.backup"))
        try PrivateFiles.write(Array("plaintext".utf8), to: directory.appendingPathComponent("export.json").path)

        let dirMode = try FileManager.default.attributesOfItem(atPath: directory.path)[.posixPermissions] as? Int
        #expect(dirMode == 0o700)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(names.contains("log.sqlite-wal") || names.contains("log.sqlite-shm") || names.contains("log.sqlite"))
        for name in names {
            let mode =
                try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)[
                    .posixPermissions
                ] as? Int
            #expect(mode.map { $0 & 0o077 } == 0, "\(name) is \(String(mode ?? 0, radix: 8))")
        }

        // A symbolic link planted where a private file goes is refused, not followed.
        let planted = TestSupport.scratchDirectory("planted")
        try FileManager.default.createDirectory(at: planted, withIntermediateDirectories: true)
        let target = planted.appendingPathComponent("elsewhere")
        _ = FileManager.default.createFile(atPath: target.path, contents: nil)
        try FileManager.default.createSymbolicLink(
            atPath: planted.appendingPathComponent("keys.generation").path,
            withDestinationPath: target.path
        )
        #expect(throws: (any Error).self) { try KeyStore.initialize(dataDirectory: planted) }
        try FileManager.default.createSymbolicLink(
            atPath: planted.appendingPathComponent("out.json").path,
            withDestinationPath: target.path
        )
        try PrivateFiles.write(Array("x".utf8), to: planted.appendingPathComponent("out.json").path)
        #expect(try String(contentsOf: target, encoding: .utf8).isEmpty, "the link's target was not written")
    }

    @Test("M1: readers use the subject field of the schema the record names, not the latest one")
    func readersUseTheRecordsSchema() throws {
        let v1 = #"""
            {"type":"object","properties":{"customerId":{"type":"string","strongroom:subject":true},
             "accountId":{"type":"string"},"ssn":{"type":"string","confluent:tags":["PII"]}}}
            """#
        let f = try SmallFixture(schema: v1, policy: readerPolicy(allow: ["/ssn"]))
        try f.produce([#"{"customerId":"C-1","accountId":"A-9","ssn":"123-45-6789"}"#])
        let v2 = v1.replacingOccurrences(of: #","strongroom:subject":true"#, with: "")
            .replacingOccurrences(
                of: #""accountId":{"type":"string"}"#,
                with: #""accountId":{"type":"string","strongroom:subject":true}"#
            )
        #expect(throws: RegistryError.self) {
            try f.services.registry.register(subject: "t-value", schema: v2, principal: "x")
        }
        _ = try f.services.registry.register(subject: "t-value", schema: v2, principal: "admin", force: true)
        #expect(try f.consume("reader", purpose: "p").first?["ssn"] == .string("123-45-6789"))
    }

    @Test("M3: only keys pinned in the policy (or in code) are trusted, and the signer must hold Produce")
    func producerTrustIsPinnedAndAuthorized() throws {
        let schema = #"{"type":"object","properties":{"ssn":{"type":"string","confluent:tags":["PII"]}}}"#
        let producerKey = Curve25519.Signing.PrivateKey()
        let pinned = readerPolicy(allow: ["/ssn"]).replacingOccurrences(
            of: #""producer":{"kind":"service"}"#,
            with:
                #""producer":{"kind":"service","producerKeys":["\#(producerKey.publicKey.rawRepresentation.base64EncodedString())"]}"#
        )
        let f = try SmallFixture(
            schema: schema,
            policy: pinned.replacingOccurrences(
                of: #""rules":["#,
                with:
                    #""rules":[{"id":"dl","effect":"allow","principals":["reader"],"actions":["Produce"],"resource":{"type":"topic","name":"t.dlq"}},"#
            )
        )
        // A key written into the data directory is not read by anything.
        let intruderKey = Curve25519.Signing.PrivateKey()
        try Data(#"{"producer":"\#(intruderKey.publicKey.rawRepresentation.base64EncodedString())"}"#.utf8)
            .write(to: f.directory.appendingPathComponent("producers.json"))
        let fresh = StrongroomServices(
            keys: f.services.keys,
            log: f.services.log,
            registry: f.services.registry,
            policy: f.services.policy,
            audit: f.services.audit,
            tenant: "bank"
        )
        #expect(
            fresh.trustedProducerKeys()[ExactText("producer")]?.map(\.rawRepresentation) == [
                producerKey.publicKey.rawRepresentation
            ]
        )
        for (principal, key) in [("producer", producerKey), ("producer", intruderKey)] {
            let producer = SecureProducer(services: fresh, principal: principal, key: key)
            _ = try producer.produce([Array(#"{"ssn":"123-45-6789"}"#.utf8)], to: "t")[0].get()
        }
        // The reader holds a pinned key too (trusted in code here) but no Produce right on t.
        fresh.trust(producer: "reader", key: intruderKey.publicKey)
        let records = try fresh.log.fetch(topic: "t", partition: 0, from: 0, maxBytes: 1 << 20, maxRecords: 10)
        let forged = try RecordSignature.sign(
            [
                RecordSignature.Content(
                    topic: "t",
                    partition: 0,
                    sequence: String(repeating: "a", count: 32) + ":0",
                    key: records[0].key ?? [],
                    value: records[0].value ?? [],
                    schemaID: 1,
                    producer: "reader"
                )
            ],
            producer: "reader",
            key: intruderKey,
            batchID: "b"
        )
        _ = try fresh.log.append(
            [
                LogRecord(
                    key: records[0].key,
                    value: records[0].value,
                    headers: forged[0].map { RecordHeader($0.0, $0.1) } + [RecordHeader("sr-schema", text: "1")]
                )
            ],
            to: "t"
        )
        var seen: [JSONValue] = []
        let consumer = SecureConsumer(services: fresh, principal: "reader", purpose: "p", group: "g-m3")
        while try consumer.consume(
            topic: "t",
            partition: 0,
            handler: { seen += try $0.map { try JSONValue(parsing: $0.value) } }
        ) > 0 {}
        #expect(seen.count == 1)
        let dead = try fresh.log.fetch(topic: "t.dlq", partition: 0, from: 0, maxBytes: 1 << 20, maxRecords: 10)
        let reasons = dead.compactMap { $0.headers.first { $0.name == "sr-dlq-reason" } }.map {
            String(decoding: $0.value, as: UTF8.self)
        }
        #expect(reasons.sorted() == ["producer key not trusted", "signer may not produce to this topic"])
    }

    @Test("M6: the audit signing key can live outside the data directory; verify warns without a witness")
    func auditKeyOutsideTheDataDirectory() throws {
        let root = TestSupport.scratchDirectory("m6")
        let data = root.appendingPathComponent("data")
        let keys = root.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        let keyFile = keys.appendingPathComponent("audit.key").path
        let common = ["--data-dir", data.path, "--audit-key", keyFile]
        let initialized = try CLI.run(["init"] + common)
        #expect(initialized.status == 0, "\(initialized.err)")
        #expect(FileManager.default.fileExists(atPath: keyFile))
        #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("audit.key").path))
        #expect(try CLI.run(["keys", "erase", "--subject", "CUST-1"] + common).status == 0)
        let verifier = try CLI.run(["audit", "key"] + common).out.trimmingCharacters(in: .whitespacesAndNewlines)
        let checkpoint = root.appendingPathComponent("witness.txt").path
        #expect(try CLI.run(["audit", "checkpoint", "--out", checkpoint] + common).status == 0)
        let bare = try CLI.run(["audit", "verify"] + common)
        #expect(bare.status == 0)
        #expect(bare.err.contains("warning") && bare.err.contains("--checkpoint"))
        let witnessed = try CLI.run(
            ["audit", "verify", "--trusted-key", verifier, "--checkpoint", checkpoint] + common
        )
        #expect(witnessed.status == 0, "\(witnessed.err)")
        #expect(!witnessed.err.contains("warning"))

        // CLI: a read-only command on a mistyped data directory is an error and creates nothing.
        let typo = root.appendingPathComponent("dta")
        let missing = try CLI.run(["audit", "verify", "--data-dir", typo.path])
        #expect(missing.status != 0 && missing.err.contains("no data directory"))
        #expect(!FileManager.default.fileExists(atPath: typo.path))
    }

    @Test("L2/L5/L9: lines are bytes: invalid UTF-8 refused, an endless line bounded, one bad line costs only itself")
    func inputLines() throws {
        let data = TestSupport.scratchDirectory("lines")
        let env = ["STRONGROOM_DATA": data.path]
        #expect(try CLI.run(["init"], environment: env).status == 0)
        #expect(try CLI.run(["topic", "create", "raw", "--partitions", "1"], environment: env).status == 0)
        let good = Array(#"{"a":"x"}"#.utf8)
        let invalidUTF8: [UInt8] = Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        let oversized =
            Array(#"{"a":""#.utf8) + Array(repeating: UInt8(ascii: "b"), count: 2 << 20) + Array(#""}"#.utf8)
        let input = good + [0x0A] + invalidUTF8 + [0x0A] + oversized + [0x0A] + good + [0x0A]
        let appended = try CLI.run(
            ["log", "append", "--topic", "raw", "--batch", "10", "--raw"],
            bytes: input,
            environment: env
        )
        #expect(appended.status == 1)
        #expect(appended.out.split(separator: "\n").count == 2, "both good lines appended: \(appended.out)")
        #expect(appended.err.contains("line 2: not JSON"))
        #expect(appended.err.contains("line 3: longer than"))
        let stored = try SQLiteEventLog(dataDirectory: data).fetch(
            topic: "raw",
            partition: 0,
            from: 0,
            maxBytes: 1 << 20,
            maxRecords: 10
        )
        #expect(stored.map(\.value) == [good, good])

        let schema = data.deletingLastPathComponent().appendingPathComponent("s.json")
        try Data(#"{"type":"object"}"#.utf8).write(to: schema)
        let validated = try CLI.run(
            ["schema", "validate", "--schema", schema.path],
            bytes: invalidUTF8 + [0x0A],
            environment: env
        )
        #expect(validated.status == 1)
        // A stream with no newline at all: reported, never held whole.
        let endless = Array(repeating: UInt8(ascii: "x"), count: 3 << 20)
        let encrypted = try CLI.run(
            ["encrypt", "--topic", "t", "--schema", schema.path, "--allow-no-tags"],
            bytes: endless + [0x0A] + good + [0x0A],
            environment: env
        )
        #expect(encrypted.err.contains("line 1: longer than"))
    }

    @Test("L10: member names are data: errors, findings and the audit name undeclared members by position")
    func memberNamesAreNotEchoed() throws {
        let closed = #"{"type":"object","additionalProperties":false,"properties":{"id":{"type":"string"}}}"#
        let open = #"{"type":"object","properties":{"id":{"type":"string"}}}"#
        for schema in [closed, open] {
            let f = try SmallFixture(schema: schema, policy: readerPolicy(allow: ["/id"]))
            let producer = SecureProducer(services: f.services, principal: "producer", key: f.producerKey)
            let result = producer.produce([Array(#"{"id":"e1","123-45-6789":"note"}"#.utf8)], to: "t")[0]
            guard case .failure(let error) = result else {
                Issue.record("an SSN in a member name was accepted")
                continue
            }
            #expect(!error.description.contains("6789"), "\(error)")
            #expect(error.description.contains("<member 1>"), "\(error)")
            let audit = try f.auditEntries().map { String(describing: $0) }.joined()
            #expect(!audit.contains("6789"))
        }
    }

    @Test("L8: audit entries name the policy version and digest, and each batch names the key references it used")
    func auditNamesPolicyAndKeys() throws {
        let f = try PipelineFixture()
        _ = f.producer.produce(try PipelineFixture.events, to: "loan_applications")
        _ = try f.consume("fraud-service", purpose: "credit-check")
        // A reader that only sees masked values opens no key for it: no DecryptKeys entry.
        _ = try f.consume("analytics", purpose: "reporting")
        let entries = try f.services.audit.entries(from: 0, limit: 1000).compactMap { AuditEntry(canonical: $0.bytes) }
        #expect(entries.contains { $0.principal == "analytics" && $0.action == "Decrypt" && $0.decision == .deny })
        #expect(!entries.contains { $0.principal == "analytics" && $0.action == "DecryptKeys" })
        let policy = f.services.policy.policy
        #expect(!entries.isEmpty)
        #expect(entries.allSatisfy { $0.policy == "\(policy.version) \(policy.digest)" })
        let decrypts = entries.filter {
            $0.action == "Decrypt" && $0.decision == .allow && $0.principal == "fraud-service"
        }
        #expect(Set(decrypts.flatMap(\.fields)) == ["/customerId", "/ssn", "/dateOfBirth"])
        // The batch's keys are named once, in its DecryptKeys entry, beside the entries per pointer.
        let keys = entries.filter { $0.action == "DecryptKeys" }
        #expect(keys.count == 1)
        guard let batch = keys.first else { return }
        #expect(batch.decision == .allow && batch.resource == "topic:loan_applications")
        #expect(batch.reason == "partition 0 offsets 0...3", "the batch it covers")
        // Appended right after the batch's Decrypt entries.
        let decryptIndices = entries.indices.filter {
            entries[$0].action == "Decrypt" && entries[$0].principal == "fraud-service"
        }
        if let position = entries.firstIndex(where: { $0.action == "DecryptKeys" }) {
            #expect(decryptIndices.last.map { $0 + 1 } == position)
        }
        #expect(batch.fields == ["/customerId", "/dateOfBirth", "/ssn"], "the pointers the keys opened, sorted")
        #expect(batch.purpose == "credit-check" && batch.rules == ["fraud-decrypt-ssn-dob"])
        #expect(batch.correlationID != nil && decrypts.allSatisfy { $0.correlationID == batch.correlationID })
        // Three customers in the example events, each with its own key, listed in text order.
        #expect(batch.keyIDs.count == 3 && batch.count == 3)
        #expect(batch.keyIDs.allSatisfy { $0.hasPrefix("subject:") && $0.hasSuffix(":v1") })
        #expect(batch.keyIDs == batch.keyIDs.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        #expect(entries.filter { $0.action == "Decrypt" }.allSatisfy { $0.keyIDs.isEmpty })
    }

    @Test("L11: erasing a subject with no keys says so, is recorded as such, and never claims to have destroyed data")
    func eraseOfAnUnknownSubject() throws {
        let data = TestSupport.scratchDirectory("l11")
        let env = ["STRONGROOM_DATA": data.path]
        #expect(try CLI.run(["init", "--tenant", "bfx"], environment: env).status == 0)
        // CLI issue: the data directory knows its tenant; another one is refused, naming both.
        let mistyped = try CLI.run(["keys", "erase", "--subject", "CUST-1", "--tenant", "bfb"], environment: env)
        #expect(mistyped.status != 0 && mistyped.err.contains("does not match this data directory's tenant \"bfx\""))
        let erased = try CLI.run(["keys", "erase", "--subject", "CUST-NEVER-SEEN"], environment: env)
        #expect(erased.status == 0)
        #expect(erased.out.contains("No keys held") && erased.out.contains("nothing was destroyed"))
        #expect(!erased.out.contains("Erased:"))
        let entries = try AuditLog(dataDirectory: data).entries(from: 0, limit: 10).compactMap {
            AuditEntry(canonical: $0.bytes)
        }
        #expect(entries.map(\.action) == ["EraseRequested", "Erase"])
        #expect(entries.last?.resource == "subject:tenant=bfx")
        #expect(entries.last?.reason?.contains("no keys held") == true)
        #expect(entries.last?.count == 0)
    }

    @Test("M2: deleted, replayed and cross-partition records are detected: gap audited, the others dead-lettered")
    func sequencesAndPartitionsAreBound() throws {
        let f = try SmallFixture(
            schema: #"{"type":"object","properties":{"ssn":{"type":"string","confluent:tags":["PII"]}}}"#,
            policy: readerPolicy(allow: ["/ssn"]),
            partitions: 2
        )
        let producer = SecureProducer(services: f.services, principal: "producer", key: f.producerKey)
        let results = producer.produce((0..<6).map { Array(#"{"ssn":"000-00-000\#($0)"}"#.utf8) }, to: "t")
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        let p0 = try f.services.log.fetch(topic: "t", partition: 0, from: 0, maxBytes: 1 << 20, maxRecords: 10)
        #expect(p0.count == 3)
        // Someone with write access deletes the record at offset 1 of partition 0 …
        let db = try DatabaseQueue(path: f.directory.appendingPathComponent("log.sqlite").path)
        try db.write { db in
            let first = try #require(try Int64.fetchOne(db, sql: "SELECT min(id) FROM batch"))
            let (removed, _) = try SQLiteEventLog.rewrite(db, first, "t", 0) { $0.map { $0.offset == 1 } }
            #expect(removed == 1)
        }
        // … appends a copy of offset 0 again, and a copy into the other partition.
        _ = try f.services.log.append(
            [
                LogRecord(key: p0[0].key, value: p0[0].value, headers: p0[0].headers, partition: 0),
                LogRecord(key: p0[0].key, value: p0[0].value, headers: p0[0].headers, partition: 1),
            ],
            to: "t"
        )
        let consumer = SecureConsumer(services: f.services, principal: "reader", purpose: "p", group: "g-m2")
        var seen = 0
        for partition in 0..<2 {
            while try consumer.consume(topic: "t", partition: partition, handler: { seen += $0.count }) > 0 {}
        }
        #expect(seen == 5)  // 6 produced, one deleted; neither copy delivered
        let entries = try f.services.audit.entries(from: 0, limit: 1000).compactMap { AuditEntry(canonical: $0.bytes) }
        let gaps = entries.filter { $0.action == "SequenceGap" }
        #expect(gaps.count == 1)
        #expect(gaps.first?.reason?.contains("records 1..<2") == true && gaps.first?.count == 1)
        let deadReasons = entries.filter { $0.action == "DeadLetter" }.compactMap(\.reason).joined(separator: " | ")
        #expect(deadReasons.contains("replayed, duplicated or reordered record"))
        #expect(deadReasons.contains(RecordSignature.Failure.invalid.rawValue))
    }

    @Test(
        "CLI: encrypt fails closed: no tags, non-objects, missing bound fields, sr1 values, DLP; the schema names the subject"
    )
    func encryptFailsClosed() throws {
        let data = TestSupport.scratchDirectory("encrypt-closed")
        let env = ["STRONGROOM_DATA": data.path]
        #expect(try CLI.run(["init", "--tenant", "bank"], environment: env).status == 0)
        let folder = data.deletingLastPathComponent()
        let tagged = folder.appendingPathComponent("tagged.json")
        try Data(
            #"""
            {"type":"object","properties":{"id":{"type":"string"},"customerId":{"type":"string","strongroom:subject":true},
             "ssn":{"type":"string","confluent:tags":["PII"]},"memo":{"type":"string"}}}
            """#.utf8
        ).write(to: tagged)
        let untagged = folder.appendingPathComponent("untagged.json")
        try Data(#"{"type":"object"}"#.utf8).write(to: untagged)
        let base = ["encrypt", "--topic", "t", "--event-id-field", "id", "--schema"]

        let noTags = try CLI.run(
            base + [untagged.path],
            input: #"{"id":"1","ssn":"123-45-6789"}"# + "\n",
            environment: env
        )
        #expect(noTags.status != 0 && noTags.err.contains("tags no field PII") && noTags.out.isEmpty)

        let lines = [
            #"{"id":"1","customerId":"C-1","ssn":"123-45-6789","memo":"ok"}"#,  // good
            "[1,2]",  // not an object
            #"{"customerId":"C-1","ssn":"123-45-6789"}"#,  // no event id
            #"{"id":"4","customerId":"C-1","ssn":"sr1:AQEBEBESExQVFhcYGRobHB0eHwAAAAGgoaKj"}"#,  // already encrypted
            // A card number in an untagged field.
            #"{"id":"5","customerId":"C-1","ssn":"123-45-6789","memo":"card 4111 1111 1111 1111"}"#,
        ]
        let result = try CLI.run(base + [tagged.path], input: lines.joined(separator: "\n") + "\n", environment: env)
        #expect(result.status == 1)
        #expect(result.out.split(separator: "\n").count == 1)
        for expected in [
            "line 2: ", "line 3: event-id field", "line 4: value is already an sr1: ciphertext",
            "line 5: personal data in an untagged field",
        ] {
            #expect(result.err.contains(expected), "\(expected): \(result.err)")
        }
        #expect(!result.err.contains("4111") && !result.out.contains("123-45-6789"))
        // Without --subject-field the schema's subject field is used: erasing C-1 reaches the good line.
        #expect(try CLI.run(["keys", "erase", "--subject", "C-1"], environment: env).out.contains("Erased:"))
        let decrypted = try CLI.run(
            ["decrypt", "--topic", "t", "--event-id-field", "id", "--schema", tagged.path],
            input: result.out,
            environment: env
        )
        #expect(decrypted.out.contains(#""ssn":{"$erased":true}"#))
        let disagree = try CLI.run(base + [tagged.path, "--subject-field", "id"], input: "", environment: env)
        #expect(disagree.status != 0 && disagree.err.contains("disagrees with the schema's strongroom:subject"))
    }

    @Test("CLI: every command that reveals plaintext or changes configuration writes an audit entry first")
    func everyAccessAudited() throws {
        let data = TestSupport.scratchDirectory("audited")
        let env = ["STRONGROOM_DATA": data.path, "STRONGROOM_PRINCIPAL": "user:tester"]
        let root = TestSupport.packageRoot
        let schema = root.appendingPathComponent("examples/loan_application.schema.json").path
        let events = try String(
            contentsOf: root.appendingPathComponent("examples/loan_applications.jsonl"),
            encoding: .utf8
        )
        #expect(try CLI.run(["init"], environment: env).status == 0)
        func count() throws -> Int { try AuditLog(dataDirectory: data).entries(from: 0, limit: 10_000).count }
        let cipher = ["--topic", "loan_applications", "--schema", schema, "--event-id-field", "applicationId"]
        let encrypted = try CLI.run(["encrypt"] + cipher, input: events, environment: env)
        #expect(encrypted.status == 0, "\(encrypted.err)")
        let steps: [([String], String, String)] = [
            (["decrypt"] + cipher, encrypted.out, "Decrypt"),
            (["keys", "rotate", "--subject", "CUST-00000001"], "", "RotateKey"),
            (["keys", "rotate-kek"], "", "RotateKEK"),
            (["topic", "create", "raw", "--partitions", "1"], "", "CreateTopic"),
            (["schema", "register", "--subject", "raw-value", "--schema", schema], "", "RegisterSchema"),
            (["log", "append", "--topic", "raw", "--raw"], #"{"a":1}"# + "\n", "AppendRaw"),
            (["log", "read", "--topic", "raw"], "", "Read"),
            (["topic", "delete", "raw"], "", "DeleteTopic"),
        ]
        for (arguments, input, action) in steps {
            let before = try count()
            let run = try CLI.run(arguments, input: input, environment: env)
            #expect(run.status == 0, "\(arguments): \(run.err)")
            let entries = try AuditLog(dataDirectory: data).entries(from: UInt64(before), limit: 100).compactMap {
                AuditEntry(canonical: $0.bytes)
            }
            #expect(entries.first?.action == action, "\(arguments)")
            #expect(entries.first?.principal == "user:tester")
        }
    }

    @Test("Review: one schema text registered for two topics gets one id; each topic keeps its own cipher")
    func sharedSchemaIDAcrossTopics() throws {
        let schema = #"{"type":"object","properties":{"ssn":{"type":"string","confluent:tags":["PII"]}}}"#
        let f = try SmallFixture(
            schema: schema,
            policy: readerPolicy(allow: ["/ssn"]).replacingOccurrences(
                of: #""resource":{"type":"topic","name":"t"}"#,
                with: #""resource":{"type":"topic","name":"t","pattern":"prefixed"}"#
            ).replacingOccurrences(of: #""topic":"t","pointers""#, with: #""topic":"t2","pointers""#)
        )
        let second = try f.services.registry.register(subject: "t2-value", schema: schema, principal: "test")
        #expect(second.id == (try f.services.registry.schema(subject: "t-value")).id)
        try f.services.createTopic("t2", config: TopicConfig(partitions: 1))
        let producer = SecureProducer(services: f.services, principal: "producer", key: f.producerKey)
        _ = try producer.produce([Array(#"{"ssn":"123-45-6789"}"#.utf8)], to: "t")[0].get()
        _ = try producer.produce([Array(#"{"ssn":"987-65-4321"}"#.utf8)], to: "t2")[0].get()
        var seen: [JSONValue] = []
        let consumer = SecureConsumer(services: f.services, principal: "reader", purpose: "p", group: "g-shared")
        while try consumer.consume(
            topic: "t2",
            partition: 0,
            handler: { seen += try $0.map { try JSONValue(parsing: $0.value) } }
        ) > 0 {}
        #expect(seen.map { $0["ssn"] } == [.string("987-65-4321")])
    }

    @Test("CLI: demo --count 0 is a clear error, not a crash")
    func demoCountZero() throws {
        let run = try CLI.run(["demo", "--count", "0"])
        #expect(run.status == 64 && run.err.contains("--count must be at least 2"))
    }
}

func isAuditFailure(_ error: any Error) -> Bool { (error as? PipelineError)?.kind == .audit }
