public import Crypto
public import Foundation
import Synchronization

/// The policy in force, reloadable atomically, plus governance-token verification.
///
/// `reload` parses, validates and indexes the new file completely before swapping it in, in
/// one step: every decision is made by exactly one policy version, and a bad file leaves the
/// old policy in force. Tokens are honoured only when their issuer's key is trusted here; the
/// replay cache of single-use token ids lives in this object (one per process).
public final class PolicyEngine: Sendable {
    final class Snapshot: Sendable {
        let policy: Policy
        init(_ policy: Policy) { self.policy = policy }
    }

    private let current: Mutex<Snapshot>
    private let issuers: [String: Curve25519.Signing.PublicKey]
    private let replay = Mutex(ReplayCache())

    /// An engine enforcing `policy`, honouring tokens signed by `trustedIssuers`.
    public init(_ policy: Policy, trustedIssuers: [Curve25519.Signing.PublicKey] = []) {
        self.current = Mutex(Snapshot(policy))
        var issuers: [String: Curve25519.Signing.PublicKey] = [:]
        for key in trustedIssuers { issuers[GovernanceIssuer.keyID(of: key)] = key }
        self.issuers = issuers
    }

    /// An engine enforcing the policy file at `url`.
    public convenience init(
        contentsOf url: URL,
        trustedIssuers: [Curve25519.Signing.PublicKey] = []
    ) throws(PolicyError) {
        self.init(try Policy(contentsOf: url), trustedIssuers: trustedIssuers)
    }

    /// The policy in force.
    public var policy: Policy { current.withLock { $0 }.policy }

    /// Replaces the policy with the file at `url`, atomically; returns the new policy's warnings.
    ///
    /// - Throws: ``PolicyError`` when the file cannot be read or is invalid; the old policy stays.
    @discardableResult
    public func reload(contentsOf url: URL) throws(PolicyError) -> [PolicyIssue] {
        let next = try Policy(contentsOf: url)
        install(next)
        return next.warnings
    }

    /// Replaces the policy with `policy`, atomically.
    public func install(_ policy: Policy) {
        let snapshot = Snapshot(policy)
        current.withLock { $0 = snapshot }
    }

    /// Decides whether `principal` may do `action` on `resource` in `context`.
    ///
    /// Rules first: an applying deny is final, an applying allow allows. Only when no rule
    /// allows and none denies is `context.token` consulted; a valid, in-scope token allows.
    public func authorize(
        _ principal: Principal,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext
    ) -> Decision {
        let policy = current.withLock { $0 }.policy
        let decision = policy.authorize(principal, action, resource, context)
        guard let token = context.token, !decision.isAllowed else { return decision }
        if !decision.matchedRules.isEmpty {
            return Decision(
                effect: .deny,
                matchedRules: decision.matchedRules,
                reason: "denied by rule (deny overrides allow, governance tokens included)",
                policyVersion: policy.version
            )
        }
        return check(token: token, principal, action, resource, context, policy: policy)
    }

    /// Decides for the declared principal `principalID` (or a bare principal with that id).
    public func authorize(
        principalID: String,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext
    ) -> Decision {
        let policy = current.withLock { $0 }.policy
        return authorize(policy.principal(principalID), action, resource, context)
    }

    /// The explanation of the rules, with the decision as ``authorize(_:_:_:_:)`` makes it
    /// (a single-use token presented here is spent).
    public func explain(
        _ principal: Principal,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext
    ) -> Explanation {
        let policy = current.withLock { $0 }.policy
        let explanation = policy.explain(principal, action, resource, context)
        guard context.token != nil else { return explanation }
        return Explanation(
            decision: authorize(principal, action, resource, context),
            evaluations: explanation.evaluations
        )
    }

    func check(
        token text: String,
        _ principal: Principal,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext,
        policy: Policy
    ) -> Decision {
        func deny(_ reason: String) -> Decision {
            Decision(effect: .deny, matchedRules: [], reason: reason, policyVersion: policy.version)
        }
        let token: GovernanceToken
        do {
            token = try GovernanceToken(parsing: text)
        } catch {
            return deny("token malformed")
        }
        guard let key = issuers[token.issuer] else { return deny("token issuer not trusted") }
        guard key.isValidSignature(token.signature, for: token.payload) else { return deny("token signature invalid") }
        let now = Int64(context.time.timeIntervalSince1970.rounded(.down))
        guard now >= token.notBefore else { return deny("token not yet valid") }
        guard now < token.expires else { return deny("token expired") }
        guard token.policyVersion == policy.version else {
            return deny("token for policy version \(token.policyVersion)")
        }
        guard token.principal == principal.id, token.action == action, token.resource == resource,
            token.purpose == context.purpose
        else { return deny("token out of scope") }
        if token.singleUse {
            let fresh = replay.withLock { $0.insert(token.id, expires: token.expires, now: now) }
            guard fresh else { return deny("token replayed") }
        }
        return Decision(
            effect: .allow,
            matchedRules: ["token:\(token.id)"],
            reason: token.singleUse ? "allowed by single-use governance token" : "allowed by governance token",
            policyVersion: policy.version
        )
    }
}

/// Spent single-use token ids until they expire.
struct ReplayCache {
    var spent: [String: Int64] = [:]
    var nextPrune = 1024

    /// False when `id` was already spent.
    mutating func insert(_ id: String, expires: Int64, now: Int64) -> Bool {
        if spent.count >= nextPrune {
            // An expired token fails its expiry check anyway, so its id can go.
            spent = spent.filter { $0.value > now }
            nextPrune = max(1024, spent.count * 2)
        }
        guard spent[id] == nil else { return false }
        spent[id] = expires
        return true
    }
}
