public import Crypto
public import Foundation
import Synchronization

/// The policy in force, reloadable atomically, plus governance-token verification.
///
/// `reload` parses, validates and indexes the new file completely before swapping it in, in
/// one step: every decision is made by exactly one policy version, and a bad file leaves the
/// old policy in force. Tokens are honoured only when their issuer's key is trusted here; the
/// replay cache of single-use token ids lives in this object (one per process).
///
/// Token times are checked against the engine's own clock, never the request's
/// ``AuthorizationContext/time`` (which the caller sets): the clock never goes back (the engine
/// keeps the latest reading), and ``tokenClockSkew`` is tolerated at both ends.
public final class PolicyEngine: Sendable {
    final class Snapshot: Sendable {
        let policy: Policy
        init(_ policy: Policy) { self.policy = policy }
    }

    /// Seconds of clock skew tolerated between the issuer and this engine: a token is accepted
    /// from `notBefore - 30` until `expires + 30`.
    public static let tokenClockSkew: Int64 = 30
    /// The longest lifetime (`expires - notBefore`) a token may have: 7 days, as `policy grant` caps it.
    public static let maximumTokenLifetime: Int64 = 7 * 86_400
    /// How many spent single-use token ids the replay cache holds; when all are unexpired, further
    /// single-use tokens are refused rather than an unexpired id evicted.
    public static let defaultReplayCapacity = 100_000

    private let current: Mutex<Snapshot>
    private let issuers: [String: Curve25519.Signing.PublicKey]
    private let clock: @Sendable () -> Date
    private let tokens: Mutex<TokenState>
    private let journal = Mutex<SpentTokenJournal?>(nil)

    /// Records spent single-use token ids in the file at `url` (created 0600).
    ///
    /// The file is shared by every process that uses it: a single-use token is then spent once across processes
    /// and restarts, not once per process. If the file cannot be read or written, single-use
    /// tokens are refused (fail closed).
    public func recordSpentTokens(in url: URL) {
        journal.withLock { $0 = SpentTokenJournal(path: url.path) }
    }

    /// An engine enforcing `policy`, honouring tokens signed by `trustedIssuers`.
    public convenience init(_ policy: Policy, trustedIssuers: [Curve25519.Signing.PublicKey] = []) {
        self.init(policy, trustedIssuers: trustedIssuers, clock: { Date() })
    }

    /// An engine whose token checks read `clock` instead of the system clock (tests).
    ///
    /// - Parameters:
    ///   - clock: read for every token check; readings earlier than one already seen are ignored.
    ///   - replayCapacity: the replay cache's size.
    @_spi(EngineClock)
    public init(
        _ policy: Policy,
        trustedIssuers: [Curve25519.Signing.PublicKey] = [],
        clock: @escaping @Sendable () -> Date,
        replayCapacity: Int = PolicyEngine.defaultReplayCapacity
    ) {
        self.current = Mutex(Snapshot(policy))
        var issuers: [String: Curve25519.Signing.PublicKey] = [:]
        for key in trustedIssuers { issuers[GovernanceIssuer.keyID(of: key)] = key }
        self.issuers = issuers
        self.clock = clock
        self.tokens = Mutex(TokenState(replay: ReplayCache(capacity: replayCapacity)))
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

    /// Moves every time a policy is installed: a caller that remembers a decision read this
    /// before asking, and forgets the decision once it has moved.
    public var generation: UInt64 { installs.load(ordering: .acquiring) }
    private let installs = Atomic<UInt64>(0)

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
        let previous = current.withLock { current in
            let previous = current
            current = snapshot
            return previous
        }
        installs.add(1, ordering: .releasing)
        // Freeing a large policy takes milliseconds: done off the caller's path, after the swap.
        Self.reaper.async { withExtendedLifetime(previous) {} }
    }

    static let reaper = DispatchQueue(label: "strongroom.policy.reaper", qos: .utility)

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
        let snapshot = current.withLock { $0 }
        return decide(principal, action, resource, context, snapshot)
    }

    /// Decides for the declared principal `principalID` (or a bare principal with that id).
    ///
    /// The principal's attributes and the rules come from one and the same policy version.
    public func authorize(
        principalID: String,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext
    ) -> Decision {
        let snapshot = current.withLock { $0 }
        return decide(snapshot.policy.principal(principalID), action, resource, context, snapshot)
    }

    /// The explanation of the rules, with the decision as ``authorize(_:_:_:_:)`` makes it
    /// (a single-use token presented here is spent), both from one policy version.
    public func explain(
        _ principal: Principal,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext
    ) -> Explanation {
        let snapshot = current.withLock { $0 }
        let explanation = snapshot.policy.explain(principal, action, resource, context)
        guard context.token != nil else { return explanation }
        return Explanation(
            decision: decide(principal, action, resource, context, snapshot),
            evaluations: explanation.evaluations
        )
    }

    @inline(__always)
    func decide(
        _ principal: Principal,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext,
        _ snapshot: Snapshot
    ) -> Decision {
        let decision = snapshot.policy.authorize(principal, action, resource, context)
        guard let token = context.token, !decision.isAllowed else { return decision }
        if !decision.matchedRules.isEmpty {
            return Decision(
                effect: .deny,
                matchedRules: decision.matchedRules,
                reason:
                    "denied by rule \(decision.matchedRules.joined(separator: ", ")) "
                    + "(deny overrides allow, governance tokens included)",
                policyVersion: snapshot.policy.version
            )
        }
        // A request the policy refuses to evaluate (non-ASCII name, bad pointer) is not one a
        // token can grant either.
        if let refusal = Policy.refusal(principal, resource, context) {
            return Decision(effect: .deny, matchedRules: [], reason: refusal, policyVersion: snapshot.policy.version)
        }
        return check(token: token, principal, action, resource, context, policy: snapshot.policy)
    }

    /// The engine's time in Unix seconds: its clock, never earlier than a reading already seen.
    func now() -> Int64 {
        let reading = Names.unixSeconds(clock())
        return tokens.withLock { state in
            state.latest = max(state.latest, reading)
            return state.latest
        }
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
        let lifetime = token.expires.subtractingReportingOverflow(token.notBefore)
        guard !lifetime.overflow, lifetime.partialValue > 0 else { return deny("token lifetime invalid") }
        guard lifetime.partialValue <= PolicyEngine.maximumTokenLifetime else {
            return deny("token lifetime exceeds 7 days")
        }
        // `now` is clamped to ±2^62, so neither sum overflows.
        let now = now()
        guard now + PolicyEngine.tokenClockSkew >= token.notBefore else { return deny("token not yet valid") }
        guard now - PolicyEngine.tokenClockSkew < token.expires else { return deny("token expired") }
        guard token.policyVersion == policy.version else {
            return deny("token for policy version \(token.policyVersion)")
        }
        guard token.policyDigest == policy.digest else {
            return deny("token for another text of policy version \(policy.version)")
        }
        guard token.principal == principal.id, token.action == action, token.resource == resource,
            token.purpose == context.purpose
        else { return deny("token out of scope") }
        if token.singleUse {
            // notBefore <= now + skew and the lifetime is at most 7 days: no overflow here either.
            let until = token.expires + PolicyEngine.tokenClockSkew
            var outcome = tokens.withLock { $0.replay.spend(token.issuer + "." + token.id, until: until, now: now) }
            if outcome == .fresh, let journal = journal.withLock({ $0 }) {
                outcome = journal.spend(token.issuer + "." + token.id, until: until, now: now)
            }
            switch outcome {
            case .fresh: break
            case .replayed: return deny("token replayed")
            case .full: return deny("token replay cache full of unexpired single-use tokens")
            case .unavailable: return deny("spent-token journal unavailable")
            }
        }
        return Decision(
            effect: .allow,
            matchedRules: ["token:\(token.id)"],
            reason: token.singleUse ? "allowed by single-use governance token" : "allowed by governance token",
            policyVersion: policy.version
        )
    }
}

/// The engine's token state: the latest clock reading and the replay cache.
struct TokenState {
    var latest: Int64 = .min
    var replay: ReplayCache
}

/// Spent single-use tokens (keyed by issuer key id and token id) until they can no longer verify.
struct ReplayCache {
    enum Outcome {
        case fresh
        case replayed
        case full
        case unavailable
    }

    let capacity: Int
    /// Key → the first instant (Unix seconds) at which the token fails its expiry check.
    var spent: [String: Int64] = [:]
    var earliest: Int64 = .max
    var nextPrune = 1024

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Spends `key`, valid until `until` (expiry plus skew); `.replayed` when already spent,
    /// `.full` when every cached token is still unexpired.
    mutating func spend(_ key: String, until: Int64, now: Int64) -> Outcome {
        if spent[key] != nil { return .replayed }
        if spent.count >= min(nextPrune, capacity), earliest <= now {
            // Only ids whose tokens fail the expiry check now (and ever after: the clock does
            // not go back) leave; an unexpired id is never evicted.
            spent = spent.filter { $0.value > now }
            earliest = spent.values.min() ?? .max
            nextPrune = max(1024, spent.count * 2)
        }
        guard spent.count < capacity else { return .full }
        spent[key] = until
        earliest = min(earliest, until)
        return .fresh
    }
}

/// Spent single-use token ids in a file shared by processes: `<id> <until>` lines, appended
/// under an exclusive `flock` and fsynced before the token is honoured; never rewritten.
struct SpentTokenJournal: Sendable {
    let path: String

    func spend(_ key: String, until: Int64, now: Int64) -> ReplayCache.Outcome {
        // Ids are issuer key ids and token ids: ASCII without spaces or newlines.
        guard key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return .unavailable }
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .unavailable }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { return .unavailable }
        defer { flock(fd, LOCK_UN) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return .unavailable }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        for line in bytes.split(separator: 0x0A) {
            let parts = line.split(separator: 0x20)
            guard parts.count == 2 else { continue }
            if parts[0].elementsEqual(key.utf8) { return .replayed }
        }
        // Append-only: never truncated or rewritten, so a crash or a full disk cannot forget a
        // spent id; a torn last line is closed first so the new entry stands on its own line.
        var entry = Array("\(key) \(until)\n".utf8)
        if let last = bytes.last, last != 0x0A { entry.insert(0x0A, at: 0) }
        guard lseek(fd, 0, SEEK_END) >= 0, write(fd, entry) else { return .unavailable }
        return fsync(fd) == 0 ? .fresh : .unavailable
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }
}
