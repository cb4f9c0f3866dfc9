import Crypto
import Foundation
@_spi(EngineClock) import StrongroomPolicy
import StrongroomTestSupport
import Synchronization
import Testing

/// A settable clock for engines under test.
final class TestClock: Sendable {
    let value: Mutex<Date>
    init(_ date: Date) { value = Mutex(date) }
    var now: Date { value.withLock { $0 } }
    func set(_ date: Date) { value.withLock { $0 = date } }
}

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
        let unchanged = engine.generation
        #expect(throws: PolicyError.self) { try engine.reload(contentsOf: file) }
        #expect(engine.generation == unchanged)
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
        // A refused reload leaves the generation where it was; an installed one moves it, so a
        // caller remembering decisions asks again.
        let generation = engine.generation
        try write(Self.flipping("B", allow: "b"), to: file)
        try engine.reload(contentsOf: file)
        #expect(engine.generation > generation)
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
    let key = Curve25519.Signing.PrivateKey()
    let issuer: GovernanceIssuer
    let policy: Policy
    let engine: PolicyEngine
    let now = Date(timeIntervalSince1970: 1_795_000_000)
    let clock: TestClock
    let ssn = Resource.field(topic: "loan_applications", pointer: "/ssn")

    init() throws {
        issuer = GovernanceIssuer(privateKey: key)
        policy = try Policy(parsing: Array(tokenPolicy.utf8))
        clock = TestClock(now)
        let clock = clock
        engine = PolicyEngine(policy, trustedIssuers: [issuer.publicKey], clock: { clock.now })
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
            policyDigest: policy.digest,
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
        // Token times follow the engine's clock; the request's own time is irrelevant to them.
        if let time { clock.set(time) }
        return engine.authorize(
            principalID: principal,
            action,
            resource ?? ssn,
            AuthorizationContext(purpose: purpose, time: now, token: token)
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

    @Test("expired and not-yet-valid tokens are denied, with 30 s of clock skew at both ends")
    func time() throws {
        let token = try grant(ttl: 900)
        let later = try grant(from: 60, ttl: 900)
        #expect(decide(later, at: now.addingTimeInterval(29)).reason == "token not yet valid")
        #expect(decide(later, at: now.addingTimeInterval(30)).isAllowed)
        #expect(decide(token, at: now.addingTimeInterval(929)).isAllowed)
        #expect(decide(token, at: now.addingTimeInterval(930)).reason == "token expired")
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

    @Test("L7: with a shared journal a single-use token is spent once across engines (processes) and restarts")
    func singleUseAcrossProcesses() throws {
        let journal = TestSupport.scratchDirectory("spent").appendingPathComponent("spent-tokens")
        try FileManager.default.createDirectory(
            at: journal.deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        let token = try grant(singleUse: true)
        let clock = clock
        let other = PolicyEngine(policy, trustedIssuers: [issuer.publicKey], clock: { clock.now })
        engine.recordSpentTokens(in: journal)
        other.recordSpentTokens(in: journal)
        #expect(decide(token).isAllowed)
        let elsewhere = other.authorize(
            principalID: "ops",
            .decrypt,
            ssn,
            AuthorizationContext(purpose: "incident-4711", token: token)
        )
        #expect(!elsewhere.isAllowed && elsewhere.reason == "token replayed")
        let mode = try FileManager.default.attributesOfItem(atPath: journal.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // A journal that cannot be written refuses single-use tokens instead of honouring them twice.
        let broken = PolicyEngine(policy, trustedIssuers: [issuer.publicKey], clock: { clock.now })
        broken.recordSpentTokens(in: journal.deletingLastPathComponent().appendingPathComponent("missing/dir/file"))
        let fresh = try grant(singleUse: true)
        let refused = broken.authorize(
            principalID: "ops",
            .decrypt,
            ssn,
            AuthorizationContext(purpose: "incident-4711", token: fresh)
        )
        #expect(!refused.isAllowed && refused.reason == "spent-token journal unavailable")
    }

    @Test("an explicit deny still wins over a valid token")
    func denyWins() throws {
        let resource = Resource.field(topic: "customer_360", pointer: "/ssn")
        let token = try grant(resource: resource)
        let d = decide(token, resource: resource)
        #expect(!d.isAllowed)
        #expect(d.matchedRules == ["never-customer-360-ssn"])
    }

    /// A token signed by `key` over a payload written here, for shapes `issue` refuses to make.
    func signed(
        by key: Curve25519.Signing.PrivateKey,
        id: String,
        notBefore: Int64,
        expires: Int64,
        singleUse: Bool = false
    ) throws -> String {
        let issuer = GovernanceIssuer.keyID(of: key.publicKey)
        // RFC 8785: members sorted, no whitespace.
        let payload =
            #"{"action":"Decrypt","expires":\#(expires),"id":"\#(id)","issuer":"\#(issuer)","notBefore":\#(notBefore),"#
            + #""policyDigest":"\#(policy.digest)","policyVersion":"\#(policy.version)","principal":"ops","#
            + #""purpose":"incident-4711","resource":"field:loan_applications/ssn","singleUse":\#(singleUse)}"#
        let bytes = Array(payload.utf8)
        return "srg1." + bytes.base64URL + "." + Array(try key.signature(for: bytes)).base64URL
    }

    @Test("token validity follows the engine's clock, not the request's time")
    func callerClockIgnored() throws {
        let token = try grant(ttl: 900)
        let seconds = now.timeIntervalSince1970
        // The caller claims a time inside the window, but the engine's clock is past it.
        clock.set(now.addingTimeInterval(3600))
        let late = engine.authorize(
            principalID: "ops",
            .decrypt,
            ssn,
            AuthorizationContext(purpose: "incident-4711", time: now, token: token)
        )
        #expect(late.reason == "token expired")
        // And a request time far in the future changes nothing for a fresh engine.
        let fresh = PolicyEngine(
            policy,
            trustedIssuers: [issuer.publicKey],
            clock: { Date(timeIntervalSince1970: seconds) }
        )
        let d = fresh.authorize(
            principalID: "ops",
            .decrypt,
            ssn,
            AuthorizationContext(purpose: "incident-4711", time: now.addingTimeInterval(86_400 * 365), token: token)
        )
        #expect(d.isAllowed)
    }

    @Test("the engine's clock never goes back")
    func monotonicClock() throws {
        let token = try grant(ttl: 900)
        #expect(decide(token, at: now.addingTimeInterval(1000)).reason == "token expired")
        #expect(decide(token, at: now).reason == "token expired")
    }

    @Test("a token living longer than 7 days is refused, whatever its signature")
    func maximumLifetime() throws {
        let start = Int64(now.timeIntervalSince1970) - 60
        let long = try signed(by: key, id: "long", notBefore: start, expires: start + 7 * 86_400 + 1)
        #expect(decide(long).reason == "token lifetime exceeds 7 days")
        let week = try signed(by: key, id: "week", notBefore: start, expires: start + 7 * 86_400)
        #expect(decide(week).isAllowed)
        let inverted = try signed(by: key, id: "inverted", notBefore: start, expires: start)
        #expect(!decide(inverted).isAllowed)
    }

    @Test("issue refuses a lifetime under 1 s once rounded, or over 7 days")
    func issueLifetime() throws {
        let t = Date(timeIntervalSince1970: 1_795_000_000.2)
        #expect(throws: PolicyError(.invalidToken)) {
            try issuer.issue(
                principal: "ops",
                action: .decrypt,
                resource: ssn,
                policy: policy,
                notBefore: t,
                expires: t.addingTimeInterval(0.7)
            )
        }
        #expect(throws: PolicyError(.invalidToken)) {
            try issuer.issue(
                principal: "ops",
                action: .decrypt,
                resource: ssn,
                policy: policy,
                notBefore: t,
                expires: t.addingTimeInterval(7 * 86_400 + 1)
            )
        }
        let ok = try issuer.issue(
            principal: "ops",
            action: .decrypt,
            resource: ssn,
            policy: policy,
            notBefore: t,
            expires: t.addingTimeInterval(1)
        )
        let parsed = try GovernanceToken(parsing: ok)
        #expect(parsed.expires - parsed.notBefore == 1 && parsed.policyDigest == policy.digest)
    }

    @Test("the replay cache is keyed by issuer and token id")
    func replayPerIssuer() throws {
        let otherKey = Curve25519.Signing.PrivateKey()
        let clock = clock
        let engine = PolicyEngine(policy, trustedIssuers: [key.publicKey, otherKey.publicKey], clock: { clock.now })
        let start = Int64(now.timeIntervalSince1970) - 60
        let mine = try signed(by: key, id: "same-id", notBefore: start, expires: start + 900, singleUse: true)
        let theirs = try signed(by: otherKey, id: "same-id", notBefore: start, expires: start + 900, singleUse: true)
        let context = { (token: String) in AuthorizationContext(purpose: "incident-4711", token: token) }
        #expect(engine.authorize(principalID: "ops", .decrypt, ssn, context(mine)).isAllowed)
        #expect(engine.authorize(principalID: "ops", .decrypt, ssn, context(theirs)).isAllowed)
        #expect(engine.authorize(principalID: "ops", .decrypt, ssn, context(theirs)).reason == "token replayed")
    }

    @Test("a full replay cache refuses new single-use tokens and never evicts an unexpired id")
    func replayCacheFull() throws {
        let clock = clock
        let engine = PolicyEngine(policy, trustedIssuers: [issuer.publicKey], clock: { clock.now }, replayCapacity: 2)
        func use(_ token: String, time: Date? = nil) -> Decision {
            // The request's time is the caller's to set; it must not prune the cache.
            engine.authorize(
                principalID: "ops",
                .decrypt,
                ssn,
                AuthorizationContext(purpose: "incident-4711", time: time ?? now, token: token)
            )
        }
        let first = try grant(singleUse: true)
        let second = try grant(singleUse: true)
        let third = try grant(singleUse: true)
        #expect(use(first).isAllowed && use(second).isAllowed)
        let refused = use(third)
        #expect(!refused.isAllowed && refused.reason == "token replay cache full of unexpired single-use tokens")
        #expect(use(first, time: now.addingTimeInterval(86_400 * 30)).reason == "token replayed")
        #expect(use(second).reason == "token replayed")
        // Once the spent tokens expire (plus skew), their room is reused.
        clock.set(now.addingTimeInterval(930))
        let later = try grant(from: 800, ttl: 2000, singleUse: true)
        #expect(use(later).isAllowed)
        #expect(use(first).reason == "token expired")
    }

    @Test("a token is bound to the policy text: same version, edited file, refused")
    func digestBinding() throws {
        let token = try grant()
        #expect(decide(token).isAllowed)
        let edited = try Policy(parsing: Array(tokenPolicy.replacingOccurrences(of: "\"ops\"", with: "\"ops\" ").utf8))
        #expect(edited.version == policy.version && edited.digest != policy.digest)
        engine.install(edited)
        #expect(decide(token).reason == "token for another text of policy version 2026-11-24.1")
        #expect(policy.digest.count == 32 && policy.digest.allSatisfy(\.isHexDigit))
    }

    @Test("one single-use token used from many tasks at once allows exactly once")
    func concurrentSingleUse() async throws {
        let token = try grant(singleUse: true)
        let engine = engine
        let ssn = ssn
        let allows = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var n = 0
                    for _ in 0..<50 {
                        let context = AuthorizationContext(purpose: "incident-4711", token: token)
                        if engine.authorize(principalID: "ops", .decrypt, ssn, context).isAllowed { n += 1 }
                    }
                    return n
                }
            }
            return await group.reduce(0, +)
        }
        #expect(allows == 1)
    }

    @Test("an engine clock at an extreme instant neither traps nor allows")
    func extremeClock() throws {
        let token = try grant()
        #expect(decide(token, at: Date(timeIntervalSince1970: Double(Int64.max))).reason == "token expired")
        #expect(decide(token, at: Date(timeIntervalSince1970: 1e300)).reason == "token expired")
    }

    @Test("the issuer key file is not followed through a symbolic link, and must be a regular file")
    func keyFileLinks() throws {
        let dir = TestSupport.scratchDirectory("governance-link")
        defer { try? FileManager.default.removeItem(at: dir) }
        let real = dir.appendingPathComponent("real.key")
        _ = try GovernanceIssuer.loadOrCreate(at: real)
        let link = dir.appendingPathComponent("governance.key")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: real)
        #expect(throws: PolicyError(.keyPermissions)) { try GovernanceIssuer.loadOrCreate(at: link) }
        let directory = dir.appendingPathComponent("dir.key")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
        #expect(throws: PolicyError(.keyPermissions)) { try GovernanceIssuer.loadOrCreate(at: directory) }
        // A dangling link is not a missing file to create through.
        let dangling = dir.appendingPathComponent("dangling.key")
        try FileManager.default.createSymbolicLink(
            at: dangling,
            withDestinationURL: dir.appendingPathComponent("target.key")
        )
        #expect(throws: PolicyError.self) { try GovernanceIssuer.loadOrCreate(at: dangling) }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("target.key").path))
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
