import Crypto
import Foundation
import StrongroomPolicy
import StrongroomTestSupport
import Testing

let tokenPolicy = """
    {"version": "2026-11-24.1",
     "principals": {"fraud-service": {}, "analytics": {}, "ops": {"kind": "user"}},
     "rules": [
       {"id": "analytics-consume", "effect": "allow", "principals": ["analytics"], "actions": ["Consume"],
        "resource": {"type": "topic", "name": "loan_applications"}},
       {"id": "never-customer-360-ssn", "effect": "deny", "principals": ["*"], "actions": ["Decrypt"],
        "resource": {"type": "field", "topic": "customer_360", "pointers": ["/ssn"]}}
     ]}
    """

@Suite("Atomic reload")
struct ReloadTests {
    func write(_ text: String, to url: URL) throws { try Data(text.utf8).write(to: url, options: .atomic) }

    static func flipping(_ version: String, allow: String) -> String {
        """
        {"version": "\(version)", "principals": {"p": {}},
         "rules": [{"id": "allow-\(allow)", "effect": "allow", "principals": ["p"], "actions": ["Consume"],
                    "resource": {"type": "topic", "name": "\(allow)"}}]}
        """
    }

    @Test("a bad file throws a typed error and leaves the old policy in force")
    func badFileKeepsOld() throws {
        let dir = TestSupport.scratchDirectory("policy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("policy.json")
        try write(Self.flipping("A", allow: "a"), to: file)
        let engine = try PolicyEngine(contentsOf: file)
        try write(#"{"version": "B", "rules": [{"id": "x", "effect": "allow"}]}"#, to: file)
        #expect(throws: PolicyError.self) { try engine.reload(contentsOf: file) }
        try write("{not json", to: file)
        do {
            try engine.reload(contentsOf: file)
            Issue.record("reload of a bad file succeeded")
        } catch {
            #expect(error.code == .invalidJSON)
        }
        #expect(throws: PolicyError(.unreadable)) {
            try engine.reload(contentsOf: dir.appendingPathComponent("missing.json"))
        }
        #expect(engine.policy.version == "A")
        #expect(engine.authorize(principalID: "p", .consume, .topic("a"), AuthorizationContext()).isAllowed)
        try write(Self.flipping("B", allow: "b"), to: file)
        try engine.reload(contentsOf: file)
        let d = engine.authorize(principalID: "p", .consume, .topic("a"), AuthorizationContext())
        #expect(!d.isAllowed && d.policyVersion == "B")
        #expect(engine.authorize(principalID: "p", .consume, .topic("b"), AuthorizationContext()).isAllowed)
    }

    @Test("concurrent decisions during reloads always see one whole policy")
    func concurrent() async throws {
        let a = try Policy(parsing: Array(Self.flipping("A", allow: "a").utf8))
        let b = try Policy(parsing: Array(Self.flipping("B", allow: "b").utf8))
        let engine = PolicyEngine(a)
        let mixed = await withTaskGroup(of: Int.self) { group in
            group.addTask {
                for i in 0..<2000 { engine.install(i % 2 == 0 ? b : a) }
                return 0
            }
            for _ in 0..<4 {
                group.addTask {
                    var bad = 0
                    for _ in 0..<5000 {
                        let da = engine.authorize(principalID: "p", .consume, .topic("a"), AuthorizationContext())
                        let db = engine.authorize(principalID: "p", .consume, .topic("b"), AuthorizationContext())
                        // Version A allows a only, B allows b only: any other pairing is a mixed state.
                        if da.isAllowed != (da.policyVersion == "A") { bad += 1 }
                        if db.isAllowed != (db.policyVersion == "B") { bad += 1 }
                    }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mixed == 0)
    }
}

@Suite("Governance tokens")
struct TokenTests {
    let issuer = GovernanceIssuer(privateKey: Curve25519.Signing.PrivateKey())
    let policy: Policy
    let engine: PolicyEngine
    let now = Date(timeIntervalSince1970: 1_795_000_000)
    let ssn = Resource.field(topic: "loan_applications", pointer: "/ssn")

    init() throws {
        policy = try Policy(parsing: Array(tokenPolicy.utf8))
        engine = PolicyEngine(policy, trustedIssuers: [issuer.publicKey])
    }

    func grant(
        principal: String = "ops",
        action: Action = .decrypt,
        resource: Resource? = nil,
        purpose: String? = "incident-4711",
        version: String = "2026-11-24.1",
        from: TimeInterval = -60,
        ttl: TimeInterval = 900,
        singleUse: Bool = false,
        by signer: GovernanceIssuer? = nil
    ) throws -> String {
        try (signer ?? issuer).issue(
            principal: principal,
            action: action,
            resource: resource ?? ssn,
            purpose: purpose,
            policyVersion: version,
            notBefore: now.addingTimeInterval(from),
            expires: now.addingTimeInterval(ttl),
            singleUse: singleUse
        )
    }

    func decide(
        _ token: String?,
        principal: String = "ops",
        action: Action = .decrypt,
        resource: Resource? = nil,
        purpose: String? = "incident-4711",
        at time: Date? = nil
    ) -> Decision {
        engine.authorize(
            principalID: principal,
            action,
            resource ?? ssn,
            AuthorizationContext(purpose: purpose, time: time ?? now, token: token)
        )
    }

    @Test("without a token: denied; a valid in-scope token: allowed, named in the decision")
    func valid() throws {
        #expect(!decide(nil).isAllowed)
        let token = try grant()
        let d = decide(token)
        #expect(d.isAllowed)
        #expect(d.reason == "allowed by governance token")
        let parsed = try GovernanceToken(parsing: token)
        #expect(d.matchedRules == ["token:\(parsed.id)"])
        #expect(parsed.principal == "ops" && parsed.resource == ssn && parsed.issuer == issuer.keyID)
        // Reusable until expiry unless single-use.
        #expect(decide(token).isAllowed)
        // The policy value alone never honours tokens: it has no trusted issuers.
        #expect(!policy.authorize(policy.principal("ops"), .decrypt, ssn, AuthorizationContext(token: token)).isAllowed)
    }

    @Test("expired and not-yet-valid tokens are denied")
    func time() throws {
        let token = try grant(ttl: 900)
        #expect(decide(token, at: now.addingTimeInterval(900)).reason == "token expired")
        #expect(decide(token, at: now.addingTimeInterval(899)).isAllowed)
        let later = try grant(from: 60, ttl: 900)
        #expect(decide(later).reason == "token not yet valid")
        #expect(decide(later, at: now.addingTimeInterval(60)).isAllowed)
    }

    @Test("an altered payload byte or signature byte is denied")
    func altered() throws {
        let token = try grant()
        let parts = token.split(separator: ".").map(String.init)
        var payload = Array(Data(base64URL: parts[1]))
        let at = try #require(String(decoding: payload, as: UTF8.self).range(of: "\"ops\""))
        let offset = String(decoding: payload, as: UTF8.self).utf8.distance(
            from: String(decoding: payload, as: UTF8.self).startIndex,
            to: at.lowerBound
        )
        payload[offset + 1] = UInt8(ascii: "p")  // "ops" → "pps"
        let forged = "srg1." + payload.base64URL + "." + parts[2]
        #expect(decide(forged, principal: "pps").reason == "token signature invalid")
        var signature = Array(Data(base64URL: parts[2]))
        signature[10] ^= 0x01
        let bent = "srg1." + parts[1] + "." + signature.base64URL
        #expect(decide(bent).reason == "token signature invalid")
        #expect(decide("srg1.garbage").reason == "token malformed")
        #expect(!decide(String(token.dropLast())).isAllowed)
    }

    @Test("a token from an untrusted issuer is denied")
    func wrongIssuer() throws {
        let stranger = GovernanceIssuer(privateKey: Curve25519.Signing.PrivateKey())
        #expect(decide(try grant(by: stranger)).reason == "token issuer not trusted")
    }

    @Test("a token for another policy version is denied")
    func otherVersion() throws {
        let d = decide(try grant(version: "2026-11-01.1"))
        #expect(!d.isAllowed && d.reason == "token for policy version 2026-11-01.1")
    }

    @Test("out of scope: other principal, action, resource or purpose")
    func scope() throws {
        let token = try grant()
        #expect(decide(token, principal: "analytics").reason == "token out of scope")
        #expect(decide(token, action: .consume, resource: .topic("loan_applications")).reason == "token out of scope")
        #expect(decide(token, action: .alter).reason == "token out of scope")
        #expect(
            decide(token, resource: .field(topic: "loan_applications", pointer: "/dateOfBirth")).reason
                == "token out of scope"
        )
        #expect(decide(token, purpose: "marketing").reason == "token out of scope")
        #expect(decide(token, purpose: nil).reason == "token out of scope")
    }

    @Test("a single-use token is spent on first use; a second use is a replay")
    func singleUse() throws {
        let token = try grant(singleUse: true)
        // An out-of-scope attempt does not spend it.
        #expect(decide(token, principal: "analytics").reason == "token out of scope")
        let first = decide(token)
        #expect(first.isAllowed && first.reason == "allowed by single-use governance token")
        let second = decide(token)
        #expect(!second.isAllowed && second.reason == "token replayed")
    }

    @Test("an explicit deny still wins over a valid token")
    func denyWins() throws {
        let resource = Resource.field(topic: "customer_360", pointer: "/ssn")
        let token = try grant(resource: resource)
        let d = decide(token, resource: resource)
        #expect(!d.isAllowed)
        #expect(d.matchedRules == ["never-customer-360-ssn"])
    }

    @Test("the issuer key file is created 0600 and refused when others can read it; no key in descriptions")
    func keyFile() throws {
        let dir = TestSupport.scratchDirectory("governance")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("governance.key")
        let created = try GovernanceIssuer.loadOrCreate(at: url)
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try Data(contentsOf: url).count == 32)
        let loaded = try GovernanceIssuer.loadOrCreate(at: url)
        #expect(loaded.keyID == created.keyID)
        let seed = try Data(contentsOf: url)
        #expect(!created.description.contains(Array(seed).base64URL))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: url.path)
        #expect(throws: PolicyError(.keyPermissions)) { try GovernanceIssuer.loadOrCreate(at: url) }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
        try Data([1, 2, 3]).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
        #expect(throws: PolicyError(.invalidKey)) { try GovernanceIssuer.loadOrCreate(at: url) }
    }
}

extension Data {
    init(base64URL text: String) {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        self = Data(base64Encoded: s) ?? Data()
    }
}

extension Array where Element == UInt8 {
    var base64URL: String {
        Data(self).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
