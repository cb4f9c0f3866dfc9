import Foundation
import StrongroomJSON

/// Reads a policy document, collecting every error with its JSON pointer and rule id.
struct PolicyLoader {
    var issues: [PolicyIssue] = []
    var ruleID: String?

    // Built once and scanned linearly: short names compare inline, cheaper than hashing them.
    static let documentKeys: [String] = ["version", "description", "roles", "principals", "rules", "tests"]
    static let roleKeys: [String] = ["description"]
    static let principalKeys: [String] = ["kind", "roles", "tenant", "department", "description", "producerKeys"]
    static let clusterKeys: [String] = ["type"]
    static let fieldKeys: [String] = ["type", "topic", "pattern", "pointers"]
    static let namedKeys: [String] = ["type", "name", "pattern"]
    static let conditionKeys: [String] = ["time", "cidrs", "tenant", "classification", "departments"]
    static let timeKeys: [String] = ["days", "from", "to", "zone"]
    static let ruleKeys: [String] = [
        "id", "description", "effect", "principals", "actions", "resource", "purposes", "conditions",
    ]

    mutating func fail(_ code: PolicyError.Code, _ pointer: String, _ message: String) {
        issues.append(.error(code, at: pointer, rule: ruleID, message))
    }

    /// Records an error when `name` is not ASCII: names are compared byte for byte, and a
    /// Unicode-equivalent spelling (NFC vs NFD) must not name the same thing twice.
    mutating func requireASCII(_ name: String, at pointer: @autoclosure () -> String) {
        if !Names.isASCII(name) {
            fail(
                .nonASCIIName,
                pointer(),
                "\"\(name)\" is not ASCII: names are compared byte for byte and must be ASCII"
            )
        }
    }

    struct Document {
        var version: String
        var roles: [String: String]
        var principals: [String: Principal]
        var rules: [Rule]
        var rulePointers: [String]
        var tests: [PolicyTestCase]
    }

    /// The document, or nil when any error was recorded.
    mutating func load(_ root: JSONValue) -> Document? {
        guard let members = root.objectMembers else {
            fail(.invalidField, "", "a policy is a JSON object")
            return nil
        }
        checkKeys(members, allowed: PolicyLoader.documentKeys, at: "")
        var version = ""
        switch root["version"] {
        case .string(let v) where !v.isEmpty: version = v
        case nil: fail(.missingVersion, "/version", "a policy needs a \"version\" string, e.g. \"2026-11-24.1\"")
        default: fail(.missingVersion, "/version", "\"version\" must be a non-empty string")
        }
        if let description = root["description"], description.stringValue == nil {
            fail(.invalidField, "/description", "must be a string")
        }

        var roles: [String: String] = [:]
        if let value = root["roles"] {
            if let entries = value.objectMembers {
                for entry in entries {
                    let pointer = "/roles/" + PolicyLoader.escape(entry.key)
                    guard let fields = entry.value.objectMembers else {
                        fail(.invalidField, pointer, "a role is an object, e.g. {\"description\": \"...\"}")
                        continue
                    }
                    checkKeys(fields, allowed: PolicyLoader.roleKeys, at: pointer)
                    requireASCII(entry.key, at: pointer)
                    roles[entry.key] = entry.value["description"]?.stringValue ?? ""
                }
            } else {
                fail(.invalidField, "/roles", "must be an object of role name → {\"description\": ...}")
            }
        }

        var principals: [String: Principal] = [:]
        if let value = root["principals"] {
            if let entries = value.objectMembers {
                for entry in entries {
                    if let p = principal(entry.key, entry.value, roles: roles) { principals[entry.key] = p }
                }
            } else {
                fail(.invalidField, "/principals", "must be an object of principal id → attributes")
            }
        }

        var rules: [Rule] = []
        var pointers: [String] = []
        var seen: [String: Int] = [:]
        switch root["rules"] {
        case .array(let elements)?:
            for (i, element) in elements.enumerated() {
                let pointer = "/rules/\(i)"
                ruleID = element["id"]?.stringValue
                if let id = ruleID, let first = seen[id] {
                    fail(.duplicateRuleID, pointer + "/id", "\"\(id)\" is already the id of /rules/\(first)")
                }
                if let id = ruleID, seen[id] == nil { seen[id] = i }
                if let rule = rule(element, at: pointer) {
                    rules.append(rule)
                    pointers.append(pointer)
                }
                ruleID = nil
            }
        case nil: break
        default: fail(.invalidField, "/rules", "must be an array of rules")
        }

        var tests: [PolicyTestCase] = []
        if let value = root["tests"] {
            do throws(PolicyError) {
                tests = try PolicyTestCase.parse(list: value, at: "/tests")
            } catch {
                issues.append(contentsOf: error.issues)
            }
        }
        guard !issues.contains(where: { $0.severity == .error }) else { return nil }
        return Document(
            version: version,
            roles: roles,
            principals: principals,
            rules: rules,
            rulePointers: pointers,
            tests: tests
        )
    }

    mutating func checkKeys(_ members: [JSONValue.Member], allowed: [String], at pointer: @autoclosure () -> String) {
        for m in members where !allowed.contains(m.key) {
            fail(
                .unknownField,
                pointer() + "/" + PolicyLoader.escape(m.key),
                "\"\(m.key)\" is not a field here (expected one of: \(allowed.sorted().joined(separator: ", ")))"
            )
        }
    }

    mutating func principal(_ id: String, _ value: JSONValue, roles: [String: String]) -> Principal? {
        let pointer = "/principals/" + PolicyLoader.escape(id)
        guard let fields = value.objectMembers else {
            fail(.invalidField, pointer, "a principal is an object, e.g. {\"kind\": \"service\", \"roles\": [...]}")
            return nil
        }
        checkKeys(fields, allowed: PolicyLoader.principalKeys, at: pointer)
        guard !id.isEmpty, id != "*", !id.hasPrefix("role:") else {
            fail(.invalidField, pointer, "a principal id must be non-empty and not \"*\" or \"role:…\"")
            return nil
        }
        requireASCII(id, at: pointer)
        var kind = Principal.Kind.service
        if let k = value["kind"] {
            if let text = k.stringValue, let parsed = Principal.Kind(rawValue: text) {
                kind = parsed
            } else {
                fail(.invalidField, pointer + "/kind", "must be \"service\" or \"user\"")
            }
        }
        var held: [String] = []
        if let list = value["roles"] {
            held = strings(list, at: pointer + "/roles", allowEmpty: true) ?? []
            for (i, role) in held.enumerated() { requireASCII(role, at: pointer + "/roles/\(i)") }
            for (i, role) in held.enumerated() where roles[role] == nil {
                fail(
                    .unknownRole,
                    pointer + "/roles/\(i)",
                    "role \"\(role)\" is not declared under /roles"
                )
            }
        }
        let tenant = optionalString(value["tenant"], at: pointer + "/tenant")
        let department = optionalString(value["department"], at: pointer + "/department")
        if let tenant { requireASCII(tenant, at: pointer + "/tenant") }
        if let department { requireASCII(department, at: pointer + "/department") }
        var producerKeys: [[UInt8]] = []
        if let list = value["producerKeys"] {
            for (i, text) in (strings(list, at: pointer + "/producerKeys") ?? []).enumerated() {
                guard let raw = Data(base64Encoded: text), raw.count == 32 else {
                    fail(
                        .invalidField,
                        pointer + "/producerKeys/\(i)",
                        "must be a base64 Ed25519 public key (32 bytes)"
                    )
                    continue
                }
                producerKeys.append(Array(raw))
            }
        }
        return Principal(
            id: id,
            kind: kind,
            roles: held,
            tenant: tenant,
            department: department,
            producerKeys: producerKeys
        )
    }

    mutating func optionalString(_ value: JSONValue?, at pointer: @autoclosure () -> String) -> String? {
        guard let value else { return nil }
        guard let s = value.stringValue, !s.isEmpty else {
            fail(.invalidField, pointer(), "must be a non-empty string")
            return nil
        }
        return s
    }

    mutating func strings(
        _ value: JSONValue,
        at pointer: @autoclosure () -> String,
        allowEmpty: Bool = false
    ) -> [String]? {
        guard case .array(let elements) = value, allowEmpty || !elements.isEmpty else {
            fail(.invalidField, pointer(), allowEmpty ? "must be an array of strings" : "must be a non-empty array")
            return nil
        }
        var out: [String] = []
        out.reserveCapacity(elements.count)
        for (i, e) in elements.enumerated() {
            guard let s = e.stringValue else {
                fail(.invalidField, pointer() + "/\(i)", "must be a string")
                return nil
            }
            out.append(s)
        }
        return out
    }

    mutating func rule(_ value: JSONValue, at pointer: String) -> Rule? {
        guard let fields = value.objectMembers else {
            fail(.invalidField, pointer, "a rule is an object")
            return nil
        }
        checkKeys(
            fields,
            allowed: PolicyLoader.ruleKeys,
            at: pointer
        )
        let errorsBefore = issues.count
        guard let id = ruleID, !id.isEmpty else {
            fail(.missingField, pointer + "/id", "every rule needs a non-empty string \"id\"")
            return nil
        }
        var effect = Effect.deny
        switch value["effect"]?.stringValue {
        case "allow": effect = .allow
        case "deny": effect = .deny
        case nil: fail(.missingField, pointer + "/effect", "\"effect\" must be \"allow\" or \"deny\"")
        case let other?: fail(.invalidField, pointer + "/effect", "\"\(other)\": must be \"allow\" or \"deny\"")
        }
        var principals: [String] = []
        if let list = value["principals"] {
            principals = strings(list, at: pointer + "/principals") ?? []
            for (i, p) in principals.enumerated() {
                if p.isEmpty || p == "role:" {
                    fail(.invalidField, pointer + "/principals/\(i)", "an empty principal selector")
                }
                requireASCII(p, at: pointer + "/principals/\(i)")
            }
        } else {
            fail(.missingField, pointer + "/principals", "a rule needs \"principals\": ids, \"role:NAME\" or \"*\"")
        }
        var actions: [Action] = []
        if let list = value["actions"] {
            for (i, name) in (strings(list, at: pointer + "/actions") ?? []).enumerated() {
                if let action = Action(name: name) {
                    if !actions.contains(action) { actions.append(action) }
                } else {
                    fail(
                        .unknownAction,
                        pointer + "/actions/\(i)",
                        "unknown action \"\(name)\" (expected one of: "
                            + Action.allCases.map(\.rawValue).joined(separator: ", ") + ")"
                    )
                }
            }
        } else {
            fail(.missingField, pointer + "/actions", "a rule needs \"actions\"")
        }
        var resource: Rule.ResourcePattern?
        if let r = value["resource"] {
            resource = resourcePattern(r, at: pointer + "/resource")
        } else {
            fail(.missingField, pointer + "/resource", "a rule needs a \"resource\", e.g. {\"type\": \"topic\", ...}")
        }
        var purposes: [String]?
        if let list = value["purposes"] {
            purposes = strings(list, at: pointer + "/purposes")
            if let p = purposes, p.contains(where: \.isEmpty) {
                fail(.invalidField, pointer + "/purposes", "a purpose must be a non-empty string")
            }
            for (i, p) in (purposes ?? []).enumerated() { requireASCII(p, at: pointer + "/purposes/\(i)") }
        }
        var conditions = Conditions.none
        if let c = value["conditions"] { conditions = self.conditions(c, at: pointer + "/conditions") }
        if effect == .allow, actions.contains(.decrypt), let type = resource?.type, type != .field {
            // A topic- or cluster-level Decrypt allow would decrypt every field, unbound by pointers.
            fail(
                .decryptOutsideField,
                pointer + "/resource",
                "Decrypt is allowed per field: use {\"type\": \"field\", \"topic\": …, \"pointers\": […]} with "
                    + "\"purposes\", not a \(type.rawValue) resource (a deny of Decrypt on a topic is fine)"
            )
        }
        guard issues.count == errorsBefore, let resource else { return nil }
        return Rule(
            id: id,
            effect: effect,
            principals: principals,
            actions: actions,
            resource: resource,
            purposes: purposes,
            conditions: conditions
        )
    }

    mutating func resourcePattern(_ value: JSONValue, at pointer: @autoclosure () -> String) -> Rule.ResourcePattern? {
        guard let fields = value.objectMembers else {
            fail(.invalidField, pointer(), "a resource is an object with a \"type\"")
            return nil
        }
        guard let typeName = value["type"]?.stringValue else {
            fail(.missingField, pointer() + "/type", "a resource needs a \"type\"")
            return nil
        }
        guard let type = ResourceType(rawValue: typeName) else {
            fail(
                .unknownResourceType,
                pointer() + "/type",
                "unknown resource type \"\(typeName)\" (expected one of: "
                    + ResourceType.allCases.map(\.rawValue).joined(separator: ", ") + ")"
            )
            return nil
        }
        var pattern = Rule.Pattern.literal
        if let p = value["pattern"] {
            if let text = p.stringValue, let parsed = Rule.Pattern(rawValue: text) {
                pattern = parsed
            } else {
                fail(.invalidField, pointer() + "/pattern", "must be \"literal\" or \"prefixed\"")
                return nil
            }
        }
        switch type {
        case .cluster:
            checkKeys(fields, allowed: PolicyLoader.clusterKeys, at: pointer())
            return Rule.ResourcePattern(type: .cluster, name: "", pattern: .prefixed, pointers: [])
        case .field:
            checkKeys(fields, allowed: PolicyLoader.fieldKeys, at: pointer())
            guard let topic = value["topic"]?.stringValue else {
                fail(.missingField, pointer() + "/topic", "a field resource needs its \"topic\"")
                return nil
            }
            guard pattern == .prefixed || !topic.isEmpty, !topic.contains("/") else {
                fail(.invalidResource, pointer() + "/topic", "a topic name must be non-empty and contain no \"/\"")
                return nil
            }
            requireASCII(topic, at: pointer() + "/topic")
            var pointers: [String] = []
            if let list = value["pointers"] {
                pointers = strings(list, at: pointer() + "/pointers") ?? []
                for (i, p) in pointers.enumerated() where !p.hasPrefix("/") || !Names.isValidPointer(p) {
                    if !Names.isASCII(p) {
                        requireASCII(p, at: pointer() + "/pointers/\(i)")
                        continue
                    }
                    fail(
                        .invalidResource,
                        pointer() + "/pointers/\(i)",
                        "\"\(p)\" is not a JSON pointer() (RFC 6901: starts with \"/\", e.g. \"/ssn\"; "
                            + "\"~\" only as \"~0\" or \"~1\")"
                    )
                }
            }
            return Rule.ResourcePattern(type: .field, name: topic, pattern: pattern, pointers: pointers)
        default:
            checkKeys(fields, allowed: PolicyLoader.namedKeys, at: pointer())
            guard let name = value["name"]?.stringValue else {
                fail(.missingField, pointer() + "/name", "a \(type.rawValue) resource needs a \"name\"")
                return nil
            }
            guard pattern == .prefixed || !name.isEmpty else {
                fail(.invalidResource, pointer() + "/name", "an empty literal name matches nothing; use \"prefixed\"")
                return nil
            }
            requireASCII(name, at: pointer() + "/name")
            return Rule.ResourcePattern(type: type, name: name, pattern: pattern, pointers: [])
        }
    }

    mutating func conditions(_ value: JSONValue, at pointer: @autoclosure () -> String) -> Conditions {
        var out = Conditions.none
        guard let fields = value.objectMembers else {
            fail(.invalidField, pointer(), "conditions are an object")
            return out
        }
        checkKeys(fields, allowed: PolicyLoader.conditionKeys, at: pointer())
        if let t = value["time"] { out.time = timeWindow(t, at: pointer() + "/time") }
        if let list = value["cidrs"] {
            var blocks: [CIDR] = []
            for (i, text) in (strings(list, at: pointer() + "/cidrs") ?? []).enumerated() {
                if let block = CIDR(text) {
                    blocks.append(block)
                } else {
                    fail(
                        .invalidCIDR,
                        pointer() + "/cidrs/\(i)",
                        "\"\(text)\" is not an IPv4 or IPv6 CIDR with zero host bits (e.g. 10.0.0.0/8, fd00::/8)"
                    )
                }
            }
            out.cidrs = blocks
        }
        if let t = value["tenant"] {
            if t.stringValue == "match" {
                out.tenantMatch = true
            } else {
                fail(.invalidField, pointer() + "/tenant", "the only tenant condition is \"match\"")
            }
        }
        if let list = value["classification"] {
            out.classifications = strings(list, at: pointer() + "/classification")
            for (i, c) in (out.classifications ?? []).enumerated() {
                requireASCII(c, at: pointer() + "/classification/\(i)")
            }
        }
        if let list = value["departments"] {
            out.departments = strings(list, at: pointer() + "/departments")
            for (i, d) in (out.departments ?? []).enumerated() { requireASCII(d, at: pointer() + "/departments/\(i)") }
        }
        return out
    }

    mutating func timeWindow(_ value: JSONValue, at pointer: String) -> TimeWindow? {
        guard let fields = value.objectMembers else {
            fail(.invalidTime, pointer, "a time window is {\"days\": [...], \"from\": \"08:00\", \"to\": \"18:00\"}")
            return nil
        }
        checkKeys(fields, allowed: PolicyLoader.timeKeys, at: pointer)
        var days = Set<Int>()
        if let list = value["days"] {
            for (i, name) in (strings(list, at: pointer + "/days") ?? []).enumerated() {
                if let day = TimeWindow.dayNames.firstIndex(of: name) {
                    days.insert(day)
                } else {
                    fail(.invalidTime, pointer + "/days/\(i)", "\"\(name)\" is not a day (Mon, Tue, … Sun)")
                }
            }
        }
        let from = clock(value["from"], default: 0, at: pointer + "/from")
        let to = clock(value["to"], default: 24 * 60, at: pointer + "/to")
        var zone = TimeZone(identifier: "UTC")
        if let z = value["zone"] {
            guard let name = z.stringValue, let found = TimeZone(identifier: name) else {
                fail(.invalidTime, pointer + "/zone", "not a time zone identifier (UTC, Europe/Berlin, …)")
                return nil
            }
            zone = found
        }
        guard let from, let to, let zone else { return nil }
        guard from != to else {
            fail(.invalidTime, pointer, "\"from\" equals \"to\": the window is empty")
            return nil
        }
        return TimeWindow(days: days, fromMinute: from, toMinute: to, zone: zone)
    }

    mutating func clock(_ value: JSONValue?, default fallback: Int, at pointer: @autoclosure () -> String) -> Int? {
        guard let value else { return fallback }
        let parts = value.stringValue?.split(separator: ":", omittingEmptySubsequences: false) ?? []
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
            parts[0].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isASCII),
            let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), (0..<60).contains(m),
            h * 60 + m <= 24 * 60
        else {
            fail(.invalidTime, pointer(), "a clock time is \"HH:MM\", 00:00 to 24:00")
            return nil
        }
        return h * 60 + m
    }

    /// RFC 6901 escaping of one reference token.
    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
