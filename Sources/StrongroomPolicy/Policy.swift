import Crypto
public import Foundation
import StrongroomJSON

/// Deny-by-default authorization: principals, actions, resources, purposes.
///
/// A `Policy` is an immutable, validated and indexed policy file. Evaluation order:
/// the rules whose principal, action and resource match are found through the index;
/// a rule applies when its field pointers, purposes and conditions hold; any applying
/// deny decides deny (deny overrides allow); else any applying allow decides allow;
/// else the request is denied (default deny).
public struct Policy: Sendable {
    /// The policy's version string (`"2026-11-24.1"`); every ``Decision`` carries it.
    public let version: String
    /// The first 16 bytes of the SHA-256 of the policy file's bytes, in lowercase hex.
    ///
    /// Governance tokens are bound to it as well as to ``version``: editing a file without
    /// changing its version still invalidates the tokens issued for the old text.
    public let digest: String
    /// Declared roles and their descriptions.
    public let roles: [String: String]
    /// Declared principals and their attributes.
    public let principals: [String: Principal]
    /// The rules, in file order.
    public let rules: [Rule]
    /// Findings that did not stop the load: unreachable rules, conflicts, unbound decrypts.
    ///
    /// Computed on demand: the analysis is advisory, so a reload puts the new rules in force
    /// without waiting for it (``PolicyEngine/reload(contentsOf:)`` reports it after the swap).
    public var warnings: [PolicyIssue] { PolicyAnalysis(document: document, rules: index.rules).warnings() }
    /// Expectations declared in the file's own `"tests"` member, if any.
    public let tests: [PolicyTestCase]
    let index: PolicyIndex
    let document: PolicyLoader.Document

    /// Parses, validates and indexes a policy document.
    ///
    /// - Throws: ``PolicyError`` with the first error's code; ``PolicyError/issues`` lists every
    ///   error found, each with its JSON pointer and rule id.
    public init(parsing bytes: some Collection<UInt8>) throws(PolicyError) {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: bytes)
        } catch {
            let issue = PolicyIssue.error(.invalidJSON, at: "", rule: nil, "\(error)")
            throw PolicyError(.invalidJSON, "\(error)", issues: [issue])
        }
        var loader = PolicyLoader()
        guard let document = loader.load(root) else {
            let errors = loader.issues.filter { $0.severity == .error }
            let first = errors.first ?? .error(.invalidField, at: "", rule: nil, "invalid policy")
            throw PolicyError(first.code ?? .invalidField, first.description, issues: errors)
        }
        self.version = document.version
        self.digest = Policy.digest(of: bytes)
        self.roles = document.roles
        self.principals = document.principals
        self.rules = document.rules
        self.tests = document.tests
        let index = PolicyIndex(rules: document.rules)
        self.index = index
        self.document = document
        // The parsed tree is done with; freeing tens of thousands of nodes waits off this path.
        PolicyEngine.reaper.async { withExtendedLifetime(root) {} }
    }

    /// Reads, validates and indexes the policy file at `url`.
    public init(contentsOf url: URL) throws(PolicyError) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PolicyError(.unreadable, url.path)
        }
        try self.init(parsing: data)
    }

    static func digest(of bytes: some Collection<UInt8>) -> String {
        var hasher = SHA256()
        let hashed: Void? = bytes.withContiguousStorageIfAvailable {
            hasher.update(bufferPointer: UnsafeRawBufferPointer($0))
        }
        if hashed == nil { hasher.update(data: Array(bytes)) }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for byte in hasher.finalize().prefix(16) {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Why the request cannot be evaluated at all, or nil: a non-ASCII name (which could be a
    /// Unicode-equivalent spelling of a policy name) or a field pointer that is not RFC 6901.
    @inline(__always)
    static func refusal(_ principal: Principal, _ resource: Resource, _ context: AuthorizationContext) -> String? {
        // Spelled out, not looped over an array literal: the decision path allocates nothing.
        var ascii = Names.isASCII(principal.id) && Names.isASCII(resource.name)
        for role in principal.roles where !Names.isASCII(role) { ascii = false }
        ascii = ascii && Names.isASCII(principal.tenant) && Names.isASCII(principal.department)
        ascii = ascii && Names.isASCII(context.purpose) && Names.isASCII(context.tenant)
        ascii = ascii && Names.isASCII(context.classification)
        if !ascii { return Policy.nonASCIIReason }
        if resource.type == .field, !Names.isValidPointer(resource.pointer) { return "invalid field pointer" }
        return nil
    }

    static let nonASCIIReason = "non-ASCII name"

    /// The declared principal `id`, or a principal with that id and no attributes.
    public func principal(_ id: String) -> Principal { principals[id] ?? Principal(id: id) }

    /// Decides whether `principal` may do `action` on `resource` in `context`.
    ///
    /// Governance tokens in `context` are ignored here (a token only ever adds an allow):
    /// ``PolicyEngine`` verifies and honours them.
    public func authorize(
        _ principal: Principal,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext
    ) -> Decision {
        var firstAllow: CompiledRule?
        var firstDeny: CompiledRule?
        var moreAllows = false
        var moreDenies = false
        var nearMiss: (rule: CompiledRule, miss: RuleMiss)?
        // Candidates are gathered first: a closure that captured principal and context would
        // copy both (a dozen reference counts) on every decision.
        var candidates = CandidateList()
        index.forEachCandidate(principal, action, resource) { candidates.append($0) }
        for i in 0..<candidates.count {
            let c = candidates[i]
            if let miss = c.rule.miss(principal, resource, context) {
                if !c.isDeny, nearMiss == nil { nearMiss = (c, miss) }
                continue
            }
            if c.isDeny {
                if let first = firstDeny { moreDenies = moreDenies || first !== c } else { firstDeny = c }
            } else {
                if let first = firstAllow { moreAllows = moreAllows || first !== c } else { firstAllow = c }
            }
        }
        if let deny = firstDeny {
            let rules = moreDenies ? applying(.deny, principal, action, resource, context) : deny.idList
            return Decision(
                effect: .deny,
                matchedRules: rules,
                reason: "denied by rule \(rules.joined(separator: ", ")) (deny overrides allow)",
                policyVersion: version
            )
        }
        if let allow = firstAllow {
            // Checked before any allow (a deny stands anyway): a name matched through String ==
            // may be a Unicode-equivalent spelling that byte prefixes and pointers did not see.
            if let refusal = Policy.refusal(principal, resource, context) {
                return Decision(effect: .deny, matchedRules: [], reason: refusal, policyVersion: version)
            }
            return Decision(
                effect: .allow,
                matchedRules: moreAllows ? applying(.allow, principal, action, resource, context) : allow.idList,
                reason: "allowed by rule",
                policyVersion: version
            )
        }
        if let (rule, miss) = nearMiss {
            return Decision(
                effect: .deny,
                matchedRules: [],
                reason: "default deny: rule \(rule.rule.id) did not apply: \(miss.words)",
                policyVersion: version
            )
        }
        return Decision(
            effect: .deny,
            matchedRules: [],
            reason: "default deny: no rule allows this",
            policyVersion: version
        )
    }

    /// The ids of every applying rule of `effect`, in file order, once each.
    func applying(
        _ effect: Effect,
        _ principal: Principal,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext
    ) -> [String] {
        var found: [CompiledRule] = []
        index.forEachCandidate(principal, action, resource) { c in
            if c.rule.effect == effect, c.rule.miss(principal, resource, context) == nil,
                !found.contains(where: { $0 === c })
            {
                found.append(c)
            }
        }
        return found.sorted { $0.position < $1.position }.map(\.rule.id)
    }

    /// The decision plus, for every rule whose principal, action and resource matched,
    /// whether it applied and, if not, which condition failed.
    public func explain(
        _ principal: Principal,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext
    ) -> Explanation {
        var seen: [CompiledRule] = []
        index.forEachCandidate(principal, action, resource) { c in
            if !seen.contains(where: { $0 === c }) { seen.append(c) }
        }
        let evaluations = seen.sorted { $0.position < $1.position }.map { c in
            let miss = c.rule.miss(principal, resource, context)
            return Explanation.RuleEvaluation(
                ruleID: c.rule.id,
                effect: c.rule.effect,
                applied: miss == nil,
                detail: miss.map { "not applied: \($0.words)" }
                    ?? (c.isDeny ? "applied: denies" : "applied: allows")
            )
        }
        return Explanation(decision: authorize(principal, action, resource, context), evaluations: evaluations)
    }
}

/// Why a decision came out as it did: every rule whose scope matched, and what it did.
public struct Explanation: Hashable, Sendable {
    /// One rule considered for the request.
    public struct RuleEvaluation: Hashable, Sendable {
        /// The rule's id.
        public let ruleID: String
        /// Its effect.
        public let effect: Effect
        /// True when its pointers, purposes and conditions held.
        public let applied: Bool
        /// What happened, in words.
        public let detail: String
    }

    /// The decision.
    public let decision: Decision
    /// The rules whose principal, action and resource name matched, in file order.
    public let evaluations: [RuleEvaluation]
}

/// Up to four candidate rules inline, more in an array: no allocation on the common path.
struct CandidateList {
    var a: CompiledRule?
    var b: CompiledRule?
    var c: CompiledRule?
    var d: CompiledRule?
    var more: [CompiledRule] = []
    var count = 0

    mutating func append(_ rule: CompiledRule) {
        switch count {
        case 0: a = rule
        case 1: b = rule
        case 2: c = rule
        case 3: d = rule
        default: more.append(rule)
        }
        count += 1
    }

    subscript(_ i: Int) -> CompiledRule {
        switch i {
        case 0: a.unsafelyUnwrapped
        case 1: b.unsafelyUnwrapped
        case 2: c.unsafelyUnwrapped
        case 3: d.unsafelyUnwrapped
        default: more[i - 4]
        }
    }
}
