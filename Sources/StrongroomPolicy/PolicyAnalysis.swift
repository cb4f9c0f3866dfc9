/// Load-time warnings: rules naming nobody, allows shadowed by a deny, allow/deny overlaps,
/// decrypts without a purpose binding.
struct PolicyAnalysis {
    let document: PolicyLoader.Document
    // Compiled rules are class instances: reading one does not copy (and retain) a whole `Rule`.
    let rules: [CompiledRule]

    func warnings() -> [PolicyIssue] {
        var out: [PolicyIssue] = []
        for (i, compiled) in rules.enumerated() {
            let pointer = document.rulePointers[i]
            for (j, selector) in compiled.rule.principals.enumerated() {
                if selector == "*" { continue }
                if selector.hasPrefix("role:") {
                    let role = String(selector.dropFirst(5))
                    if document.roles[role] == nil {
                        out.append(
                            .warning(
                                .unreachable,
                                at: pointer + "/principals/\(j)",
                                rule: compiled.rule.id,
                                "role \"\(role)\" is not declared: this selector matches nobody"
                            )
                        )
                    }
                } else if document.principals[selector] == nil {
                    out.append(
                        .warning(
                            .unreachable,
                            at: pointer + "/principals/\(j)",
                            rule: compiled.rule.id,
                            "principal \"\(selector)\" is not declared: this selector matches nobody"
                        )
                    )
                }
            }
            if !compiled.isDeny, compiled.rule.actions.contains(.decrypt), compiled.rule.purposes == nil {
                out.append(
                    .warning(
                        .decryptWithoutPurpose,
                        at: pointer + "/purposes",
                        rule: compiled.rule.id,
                        "allows Decrypt without \"purposes\": field decrypts should be purpose-bound"
                    )
                )
            }
        }

        // Allows against denies only: denies are few, allows many. A topic deny also covers the
        // fields of its topics, so it is compared with field allows too.
        var deniesByType: [ResourceType: [Int]] = [:]
        for (i, c) in rules.enumerated() where c.isDeny {
            deniesByType[c.rule.resource.type, default: []].append(i)
            if c.rule.resource.type == .topic { deniesByType[.field, default: []].append(i) }
        }
        if deniesByType.isEmpty { return out }
        let masks = rules.map { c in c.rule.actions.reduce(0 as UInt8) { $0 | 1 << UInt8($1.index) } }
        for (a, allowRule) in rules.enumerated() where !allowRule.isDeny {
            guard let denies = deniesByType[allowRule.rule.resource.type] else { continue }
            for d in denies where masks[a] & masks[d] != 0 {
                // A topic deny seen from a field allow: every field of those topics.
                let denied: Rule.ResourcePattern
                if rules[d].rule.resource.type == allowRule.rule.resource.type {
                    guard resourcesOverlap(allowRule.rule.resource, rules[d].rule.resource) else { continue }
                    denied = rules[d].rule.resource
                } else {
                    denied = Rule.ResourcePattern(
                        type: .field,
                        name: rules[d].rule.resource.name,
                        pattern: rules[d].rule.resource.pattern,
                        pointers: []
                    )
                    guard resourcesOverlap(allowRule.rule.resource, denied) else { continue }
                }
                let allow = allowRule.rule
                let deny = rules[d].rule
                guard principalsOverlap(allow, deny) else { continue }
                if shadows(deny, denied, allow, actionMasks: (masks[d], masks[a])) {
                    out.append(
                        .warning(
                            .unreachable,
                            at: document.rulePointers[a],
                            rule: allow.id,
                            "shadowed by deny rule \"\(deny.id)\" (same or wider scope): it can never allow"
                        )
                    )
                } else {
                    out.append(
                        .warning(
                            .conflict,
                            at: document.rulePointers[a],
                            rule: allow.id,
                            "overlaps deny rule \"\(deny.id)\": the deny wins where both apply"
                        )
                    )
                }
            }
        }
        return out
    }

    /// True when `deny` applies wherever `allow` does.
    func shadows(
        _ deny: Rule,
        _ denied: Rule.ResourcePattern,
        _ allow: Rule,
        actionMasks: (deny: UInt8, allow: UInt8)
    ) -> Bool {
        guard actionMasks.allow & ~actionMasks.deny == 0, deny.conditions.isEmpty else { return false }
        if let denyPurposes = deny.purposes {
            guard let allowPurposes = allow.purposes, Set(allowPurposes).isSubset(of: denyPurposes) else {
                return false
            }
        }
        return resourceCovers(denied, allow.resource) && principalsCover(deny, allow)
    }

    /// Byte prefix, as the engine matches prefixes (names are ASCII).
    @inline(__always)
    static func starts(_ name: String, with prefix: String) -> Bool { name.utf8.starts(with: prefix.utf8) }

    func resourcesOverlap(_ a: Rule.ResourcePattern, _ b: Rule.ResourcePattern) -> Bool {
        guard a.type == b.type else { return false }
        let names: Bool
        switch (a.pattern, b.pattern) {
        case (.literal, .literal): names = a.name == b.name
        case (.literal, .prefixed): names = PolicyAnalysis.starts(a.name, with: b.name)
        case (.prefixed, .literal): names = PolicyAnalysis.starts(b.name, with: a.name)
        case (.prefixed, .prefixed):
            names = PolicyAnalysis.starts(a.name, with: b.name) || PolicyAnalysis.starts(b.name, with: a.name)
        }
        guard names, a.type == .field, !a.pointers.isEmpty, !b.pointers.isEmpty else { return names }
        return a.pointers.contains { p in
            b.pointers.contains { q in
                Rule.ResourcePattern.pointer(p, isWithin: q) || Rule.ResourcePattern.pointer(q, isWithin: p)
            }
        }
    }

    func resourceCovers(_ wide: Rule.ResourcePattern, _ narrow: Rule.ResourcePattern) -> Bool {
        guard wide.type == narrow.type else { return false }
        switch (wide.pattern, narrow.pattern) {
        case (.literal, .literal): guard wide.name == narrow.name else { return false }
        case (.prefixed, _): guard PolicyAnalysis.starts(narrow.name, with: wide.name) else { return false }
        case (.literal, .prefixed): return false
        }
        if wide.pointers.isEmpty { return true }
        if narrow.pointers.isEmpty { return false }
        return narrow.pointers.allSatisfy { p in
            wide.pointers.contains { Rule.ResourcePattern.pointer(p, isWithin: $0) }
        }
    }

    /// Declared principals a selector list reaches; nil when it contains the wildcard.
    func reach(_ selectors: [String]) -> Set<String>? {
        if selectors.contains("*") { return nil }
        var out = Set<String>()
        for s in selectors {
            if s.hasPrefix("role:") {
                let role = String(s.dropFirst(5))
                for (id, p) in document.principals where p.roles.contains(role) { out.insert(id) }
            } else {
                out.insert(s)
            }
        }
        return out
    }

    func principalsOverlap(_ a: Rule, _ b: Rule) -> Bool {
        if a.principals.contains(where: b.principals.contains) { return true }
        guard let ra = reach(a.principals), let rb = reach(b.principals) else { return true }
        return !ra.isDisjoint(with: rb)
    }

    func principalsCover(_ wide: Rule, _ narrow: Rule) -> Bool {
        if wide.principals.contains("*") { return true }
        return narrow.principals.allSatisfy { s in
            if wide.principals.contains(s) { return true }
            if s == "*" || s.hasPrefix("role:") { return false }
            let held = document.principals[s]?.roles ?? []
            return held.contains { wide.principals.contains("role:" + $0) }
        }
    }
}
