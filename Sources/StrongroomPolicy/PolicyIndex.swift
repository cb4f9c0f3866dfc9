/// A rule prepared for evaluation: one heap object, so candidate lists hold references.
final class CompiledRule: Sendable {
    let rule: Rule
    let position: Int
    let isDeny: Bool
    let isField: Bool
    let idList: [String]

    init(_ rule: Rule, position: Int) {
        self.rule = rule
        self.position = position
        self.isDeny = rule.effect == .deny
        self.isField = rule.resource.type == .field
        self.idList = [rule.id]
    }
}

/// Prefix patterns of one bucket: looked up by an FNV-1a hash of each prefix of the name,
/// computed in one pass over its bytes, and only at lengths some pattern has.
struct PrefixTable: Sendable {
    struct Entry: Sendable {
        let bytes: [UInt8]
        var rules: [CompiledRule]
    }

    var entries: [UInt64: [Entry]] = [:]
    var lengths: [Bool] = []

    var isEmpty: Bool { entries.isEmpty }

    static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x100_0000_01b3

    mutating func insert(_ prefix: String, _ rule: CompiledRule) {
        let bytes = Array(prefix.utf8)
        var hash = PrefixTable.offset
        for b in bytes { hash = (hash ^ UInt64(b)) &* PrefixTable.prime }
        if lengths.count <= bytes.count {
            lengths.append(contentsOf: repeatElement(false, count: bytes.count + 1 - lengths.count))
        }
        lengths[bytes.count] = true
        if let i = entries[hash]?.firstIndex(where: { $0.bytes == bytes }) {
            entries[hash]?[i].rules.append(rule)
        } else {
            entries[hash, default: []].append(Entry(bytes: bytes, rules: [rule]))
        }
    }

    @inline(__always)
    func forEachMatch(_ name: String, _ body: (CompiledRule) -> Void) {
        if entries.isEmpty { return }
        var name = name
        name.withUTF8 { bytes in
            lengths.withUnsafeBufferPointer { lengths in
                var hash = PrefixTable.offset
                let limit = min(bytes.count, lengths.count - 1)
                var n = 0
                while true {
                    if lengths[n], let list = entries[hash] {
                        for entry in list where entry.bytes.count == n && entry.bytes.elementsEqual(bytes[0..<n]) {
                            for rule in entry.rules { body(rule) }
                        }
                    }
                    if n == limit { break }
                    hash = (hash ^ UInt64(bytes[n])) &* PrefixTable.prime
                    n += 1
                }
            }
        }
    }
}

/// The rules of one (action, resource type) bucket held by one principal selector.
struct SelectorIndex: Sendable {
    var literal: [String: [CompiledRule]] = [:]
    var prefixes = PrefixTable()
}

/// The compiled policy, indexed so that a decision touches only the rules that can match.
///
/// Buckets per (action, resource type), then per principal selector (principal id, role, or
/// wildcard), then literal names in a dictionary and prefixes in a hashed prefix table. Topic
/// denies are filed under the field bucket too, so a field request meets the denies of its topic.
final class PolicyIndex: Sendable {
    let rules: [CompiledRule]
    let principalSelectors: [String: Int32]
    let roleSelectors: [String: Int32]
    let buckets: [[Int32: SelectorIndex]]

    static let wildcard: Int32 = 0
    static let bucketCount = Action.allCases.count * ResourceType.allCases.count

    @inline(__always)
    static func bucket(_ action: Action, _ type: ResourceType) -> Int {
        action.index * ResourceType.allCases.count + type.index
    }

    init(rules input: [Rule]) {
        var principalSelectors: [String: Int32] = [:]
        var roleSelectors: [String: Int32] = [:]
        var next: Int32 = 1
        var buckets = [[Int32: SelectorIndex]](repeating: [:], count: PolicyIndex.bucketCount)
        principalSelectors.reserveCapacity(64)
        var compiled: [CompiledRule] = []
        compiled.reserveCapacity(input.count)
        for position in input.indices {
            // Read through the compiled copy: binding the element would copy the whole rule.
            let c = CompiledRule(input[position], position: position)
            compiled.append(c)
            var selectors: [Int32] = []
            for p in c.rule.principals {
                let selector: Int32
                if p == "*" {
                    selector = PolicyIndex.wildcard
                } else if p.hasPrefix("role:") {
                    let role = String(p.dropFirst(5))
                    if let s = roleSelectors[role] {
                        selector = s
                    } else {
                        selector = next
                        roleSelectors[role] = next
                        next += 1
                    }
                } else if let s = principalSelectors[p] {
                    selector = s
                } else {
                    selector = next
                    principalSelectors[p] = next
                    next += 1
                }
                if !selectors.contains(selector) { selectors.append(selector) }
            }
            // A deny on a topic covers every field of it: it is also filed under the field bucket,
            // keyed by the topic name, as a field rule is.
            let passes = c.isDeny && c.rule.resource.type == .topic ? 2 : 1
            for action in c.rule.actions {
                for pass in 0..<passes {
                    let b = PolicyIndex.bucket(action, pass == 0 ? c.rule.resource.type : .field)
                    for s in selectors {
                        // Mutated in place through the subscripts: no copy of a growing table per c.rule.
                        switch c.rule.resource.pattern {
                        case .literal:
                            buckets[b][s, default: SelectorIndex()].literal[c.rule.resource.name, default: []].append(c)
                        case .prefixed:
                            buckets[b][s, default: SelectorIndex()].prefixes.insert(c.rule.resource.name, c)
                        }
                    }
                }
            }
        }
        self.rules = compiled
        self.principalSelectors = principalSelectors
        self.roleSelectors = roleSelectors
        self.buckets = buckets
    }

    /// Calls `body` with every rule whose principal, action and resource name match
    /// (a rule reached through two selectors is seen twice).
    @inline(__always)
    func forEachCandidate(
        _ principal: Principal,
        _ action: Action,
        _ resource: Resource,
        _ body: (CompiledRule) -> Void
    ) {
        let bucket = buckets[PolicyIndex.bucket(action, resource.type)]
        if bucket.isEmpty { return }
        func visit(_ selector: Int32) {
            guard let index = bucket[selector] else { return }
            if !index.literal.isEmpty, let list = index.literal[resource.name] {
                for rule in list { body(rule) }
            }
            index.prefixes.forEachMatch(resource.name, body)
        }
        if let s = principalSelectors[principal.id] { visit(s) }
        for role in principal.roles {
            if let s = roleSelectors[role] { visit(s) }
        }
        visit(PolicyIndex.wildcard)
    }
}
