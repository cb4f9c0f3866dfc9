import Crypto
import Foundation
import Strongroom
import StrongroomAudit
import StrongroomCrypto
import StrongroomJSON
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema
import StrongroomTestSupport
import Testing

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

    init(schema: String, policy: String, tenant: String = "bank") throws {
        directory = TestSupport.scratchDirectory("security")
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
        try services.createTopic("t", config: TopicConfig(partitions: 1))
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
}
