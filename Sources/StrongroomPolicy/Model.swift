public import Foundation

/// What a principal wants to do.
public enum Action: String, CaseIterable, Hashable, Sendable {
    /// Append events to a topic.
    case produce = "Produce"
    /// Read events from a topic, or join a consumer group.
    case consume = "Consume"
    /// Read metadata: topic configuration, schema subjects, group state.
    case describe = "Describe"
    /// Decrypt a protected field (purpose-bound).
    case decrypt = "Decrypt"
    /// Change configuration of a resource.
    case alter = "Alter"
    /// Crypto-shred a data subject's keys.
    case erase = "Erase"
    /// Administer the cluster: ACLs, keys, policies.
    case admin = "Admin"

    /// The action for its policy-file name (`"Decrypt"`), if there is one.
    public init?(name: String) { self.init(rawValue: name) }

    var index: Int {
        switch self {
        case .produce: 0
        case .consume: 1
        case .describe: 2
        case .decrypt: 3
        case .alter: 4
        case .erase: 5
        case .admin: 6
        }
    }
}

/// The kinds of resource a rule can name.
public enum ResourceType: String, CaseIterable, Hashable, Sendable {
    /// The whole cluster (no name).
    case cluster
    /// A topic.
    case topic
    /// A consumer group.
    case group
    /// A schema subject.
    case subject
    /// A key family (a topic's or a data subject's keys).
    case key
    /// One field (a JSON pointer) within a topic's events.
    case field

    var index: Int {
        switch self {
        case .cluster: 0
        case .topic: 1
        case .group: 2
        case .subject: 3
        case .key: 4
        case .field: 5
        }
    }
}

/// One concrete resource a request is about.
///
/// Text form: `cluster`, `topic:NAME`, `group:NAME`, `subject:NAME`, `key:NAME`,
/// `field:TOPIC/POINTER` (`field:loan_applications/ssn` is pointer `/ssn` of topic
/// `loan_applications`; topic names cannot contain `/`).
public struct Resource: Hashable, Sendable, CustomStringConvertible {
    /// The kind of resource.
    public let type: ResourceType
    /// The resource's name; the topic for a field; empty for the cluster.
    public let name: String
    /// The field's JSON pointer (`/ssn`), for field resources; empty otherwise.
    public let pointer: String

    init(type: ResourceType, name: String, pointer: String = "") {
        self.type = type
        self.name = name
        self.pointer = pointer
    }

    /// The cluster.
    public static let cluster = Resource(type: .cluster, name: "")
    /// A topic.
    public static func topic(_ name: String) -> Resource { Resource(type: .topic, name: name) }
    /// A consumer group.
    public static func group(_ name: String) -> Resource { Resource(type: .group, name: name) }
    /// A schema subject.
    public static func subject(_ name: String) -> Resource { Resource(type: .subject, name: name) }
    /// A key family.
    public static func key(_ name: String) -> Resource { Resource(type: .key, name: name) }
    /// Field `pointer` (an RFC 6901 JSON pointer, `/ssn`) of `topic`'s events.
    public static func field(topic: String, pointer: String) -> Resource {
        Resource(type: .field, name: topic, pointer: pointer)
    }

    /// Parses the text form (`topic:loan_applications`, `field:loan_applications/ssn`).
    ///
    /// Names are ASCII (they are compared byte for byte); a field's pointer is an RFC 6901 pointer
    /// starting with `/` in which `~` appears only as `~0` or `~1`.
    public init(parsing text: String) throws(PolicyError) {
        guard Names.isASCII(text) else {
            throw PolicyError(.nonASCIIName, "resource names are ASCII (compared byte for byte)")
        }
        if text == "cluster" {
            self = .cluster
            return
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw PolicyError(
                .invalidResource,
                "\"\(text)\": expected cluster, topic:NAME, group:NAME, subject:NAME, key:NAME or field:TOPIC/POINTER"
            )
        }
        let kind = String(text[..<colon])
        let rest = String(text[text.index(after: colon)...])
        guard let type = ResourceType(rawValue: kind), type != .cluster else {
            throw PolicyError(.unknownResourceType, "\"\(kind)\" in \"\(text)\"")
        }
        guard !rest.isEmpty else { throw PolicyError(.invalidResource, "\"\(text)\": empty name") }
        if type == .field {
            guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex else {
                throw PolicyError(.invalidResource, "\"\(text)\": expected field:TOPIC/POINTER, e.g. field:orders/ssn")
            }
            let pointer = String(rest[slash...])
            guard Names.isValidPointer(pointer) else {
                throw PolicyError(
                    .invalidResource,
                    "\"\(text)\": not an RFC 6901 pointer (\"~\" must be written \"~0\" or \"~1\")"
                )
            }
            self = .field(topic: String(rest[..<slash]), pointer: pointer)
        } else {
            self.init(type: type, name: rest)
        }
    }

    /// The text form.
    public var description: String {
        switch type {
        case .cluster: "cluster"
        case .field: "field:\(name)\(pointer)"
        default: "\(type.rawValue):\(name)"
        }
    }
}

/// Who asks: a service account or a user, with the attributes conditions test.
public struct Principal: Hashable, Sendable {
    /// Service account or human user.
    public enum Kind: String, Hashable, Sendable {
        /// A service account.
        case service
        /// A human user.
        case user
    }

    /// The principal's id (`fraud-service`).
    public var id: String
    /// Service or user.
    public var kind: Kind
    /// Roles held (RBAC).
    public var roles: [String]
    /// The tenant the principal belongs to, if any.
    public var tenant: String?
    /// The principal's department, if any.
    public var department: String?
    /// Raw 32-byte Ed25519 public keys this principal signs produced records with.
    ///
    /// Pinned in
    /// the policy file (under the operator's change control, outside the data directory), so
    /// whoever can write the data directory cannot make a consumer trust a key of their own.
    public var producerKeys: [[UInt8]]

    /// A principal with its attributes.
    public init(
        id: String,
        kind: Kind = .service,
        roles: [String] = [],
        tenant: String? = nil,
        department: String? = nil,
        producerKeys: [[UInt8]] = []
    ) {
        self.id = id
        self.kind = kind
        self.roles = roles
        self.tenant = tenant
        self.department = department
        self.producerKeys = producerKeys
    }
}

/// The circumstances of a request: purpose, time, source address, tenant, classification, token.
public struct AuthorizationContext: Hashable, Sendable {
    /// Why the data is wanted (`credit-check`); purpose-bound rules need one of theirs.
    public var purpose: String?
    /// When the request is made.
    public var time: Date
    /// The client's address, for network conditions.
    public var sourceAddress: IPAddress?
    /// The tenant the request acts in, for `"tenant": "match"`.
    public var tenant: String?
    /// The classification of the data concerned (from schema tags), for classification conditions.
    public var classification: String?
    /// A governance token (`srg1.…`), honoured only by a ``PolicyEngine`` that trusts its issuer.
    public var token: String?
    /// True when the source address was checked by an earlier decision about the same act.
    ///
    /// A consumer re-checking a signed record's Produce right cannot know the producer's address,
    /// which the producer's own authorization already checked. An allow's network condition
    /// then counts as met; a deny's still applies (denies fail closed).
    public var networkAttested: Bool

    /// A context; the time defaults to now.
    public init(
        purpose: String? = nil,
        time: Date = Date(),
        sourceAddress: IPAddress? = nil,
        tenant: String? = nil,
        classification: String? = nil,
        token: String? = nil,
        networkAttested: Bool = false
    ) {
        self.networkAttested = networkAttested
        self.purpose = purpose
        self.time = time
        self.sourceAddress = sourceAddress
        self.tenant = tenant
        self.classification = classification
        self.token = token
    }
}

/// Allow or deny.
public enum Effect: String, Hashable, Sendable {
    /// Grants the request.
    case allow
    /// Refuses it; overrides any allow.
    case deny
}

/// The outcome of one authorization: a value, never a throw.
public struct Decision: Hashable, Sendable, CustomStringConvertible {
    /// Allow or deny.
    public let effect: Effect
    /// The rules that decided: the matching denies for a deny, the matching allows for an allow;
    /// `token:<id>` for an allow granted by a governance token; empty for a default deny.
    public let matchedRules: [String]
    /// Why, in words (no request data).
    public let reason: String
    /// The version of the policy that decided.
    public let policyVersion: String

    /// True for an allow.
    public var isAllowed: Bool { effect == .allow }

    /// A decision.
    public init(effect: Effect, matchedRules: [String], reason: String, policyVersion: String) {
        self.effect = effect
        self.matchedRules = matchedRules
        self.reason = reason
        self.policyVersion = policyVersion
    }

    /// `allow [rule-a] (allowed by rule) policy 2026-11-24.1`.
    public var description: String {
        "\(effect.rawValue) [\(matchedRules.joined(separator: ", "))] (\(reason)) policy \(policyVersion)"
    }
}

/// Name rules shared by the loader, resource parsing and evaluation.
///
/// Every name (principal ids, roles, purposes, tenants, departments, classifications, resource
/// names, pointers) is ASCII. Swift's `String` `==` and hashing follow Unicode canonical
/// equivalence (`"é"` NFC equals `"e\u{301}"` NFD, U+037E equals `";"`) while prefixes and pointers
/// compare bytes: with ASCII only, both comparisons agree.
enum Names {
    @inline(__always)
    static func isASCII(_ s: String) -> Bool {
        if let ascii = s.utf8.withContiguousStorageIfAvailable({ bytes in
            bytes.allSatisfy { $0 < 0x80 }
        }) {
            return ascii
        }
        return s.utf8.allSatisfy { $0 < 0x80 }
    }

    @inline(__always)
    static func isASCII(_ s: String?) -> Bool {
        guard let s else { return true }
        return isASCII(s)
    }

    /// True for `""` (the whole event) or an RFC 6901 pointer: `/`-separated reference tokens in
    /// which `~` appears only as `~0` or `~1`, so that every field has exactly one spelling.
    static func isValidPointer(_ p: String) -> Bool {
        var bytes = p.utf8.makeIterator()
        guard let first = bytes.next() else { return true }
        guard first == UInt8(ascii: "/") else { return false }
        while let b = bytes.next() {
            guard b < 0x80 else { return false }
            if b == UInt8(ascii: "~") {
                guard let n = bytes.next(), n == UInt8(ascii: "0") || n == UInt8(ascii: "1") else { return false }
            }
        }
        return true
    }

    /// Whole Unix seconds of `date`, clamped to ±2^62 so that extreme dates neither trap nor
    /// overflow later arithmetic.
    static func unixSeconds(_ date: Date) -> Int64 {
        let t = date.timeIntervalSince1970.rounded(.down)
        let limit = 4_611_686_018_427_387_904.0  // 2^62
        if t.isNaN { return 0 }
        if t >= limit { return 4_611_686_018_427_387_904 }
        if t <= -limit { return -4_611_686_018_427_387_904 }
        return Int64(t)
    }
}
