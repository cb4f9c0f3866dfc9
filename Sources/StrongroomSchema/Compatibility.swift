public import StrongroomJSON

/// Confluent-style compatibility modes, checked when a schema version is registered.
public enum CompatibilityMode: String, Sendable, CaseIterable, Codable {
    /// The new schema reads data written with the previous version.
    case backward = "BACKWARD"
    /// … with every previous version.
    case backwardTransitive = "BACKWARD_TRANSITIVE"
    /// The previous version reads data written with the new schema.
    case forward = "FORWARD"
    /// … every previous version does.
    case forwardTransitive = "FORWARD_TRANSITIVE"
    /// Backward and forward with the previous version.
    case full = "FULL"
    /// Backward and forward with every previous version.
    case fullTransitive = "FULL_TRANSITIVE"
    /// No check.
    case none = "NONE"

    var transitive: Bool { [.backwardTransitive, .forwardTransitive, .fullTransitive].contains(self) }
    var backward: Bool { [.backward, .backwardTransitive, .full, .fullTransitive].contains(self) }
    var forward: Bool { [.forward, .forwardTransitive, .full, .fullTransitive].contains(self) }
}

/// One reason a schema change is refused.
public struct CompatibilityIssue: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The rule broken: `BACKWARD`, `FORWARD` or `SECURITY`.
    public var rule: String
    /// The version compared with.
    public var againstVersion: Int
    /// JSON pointer into the schema where the change is.
    public var schemaPointer: String
    /// What changed and why it breaks the rule.
    public var message: String

    /// The rule, where, and what.
    public var description: String {
        "\(rule) against version \(againstVersion) at \(schemaPointer.isEmpty ? "#" : "#" + schemaPointer): \(message)"
    }
}

/// Structural compatibility of two JSON Schemas, and the security rules beside it.
///
/// `canRead(reader:writer:)` asks whether every event valid under `writer` is valid under
/// `reader`, keyword by keyword (types, required members, closed objects, enums, bounds,
/// patterns, formats, items). It is conservative: what it cannot prove compatible (a
/// changed pattern, a changed `$ref` target, an added `oneOf`) it reports.
///
/// `weakenings(old:new:)` is the schema-poisoning rule: removing a `PII` tag or loosening a
/// constraint (a removed pattern, a wider bound, a removed enum, an object opened to extra
/// members, a required member dropped) is refused in every mode unless an admin forces it.
public enum SchemaCompatibility {
    /// Issues when `reader` cannot read everything `writer` allows.
    public static func canRead(reader: JSONValue, writer: JSONValue) -> [(String, String)] {
        var issues: [(String, String)] = []
        compare(reader: reader, writer: writer, readerRoot: reader, writerRoot: writer, at: "", depth: 0, &issues)
        return issues
    }

    static func resolved(_ node: JSONValue, root: JSONValue) -> JSONValue {
        var node = node
        var hops = 0
        while let ref = node["$ref"]?.stringValue, ref.hasPrefix("#"), hops < 16,
            let target = Compiler.resolve(String(ref.dropFirst()), in: root)
        {
            node = target
            hops += 1
        }
        return node
    }

    static func typeNames(_ node: JSONValue) -> Set<String>? {
        switch node["type"] {
        case .string(let s)?: return [s]
        case .array(let items)?: return Set(items.compactMap(\.stringValue))
        default: return nil
        }
    }

    static func strings(_ node: JSONValue, _ key: String) -> Set<String> {
        guard case .array(let items)? = node[key] else { return [] }
        return Set(items.compactMap(\.stringValue))
    }

    static func number(_ node: JSONValue, _ key: String) -> ExactDecimal? {
        if case .number(let text)? = node[key] { return ExactDecimal(text) }
        return nil
    }

    static func compare(
        reader r0: JSONValue,
        writer w0: JSONValue,
        readerRoot: JSONValue,
        writerRoot: JSONValue,
        at pointer: String,
        depth: Int,
        _ issues: inout [(String, String)]
    ) {
        guard depth < 32 else { return }
        let r = resolved(r0, root: readerRoot)
        let w = resolved(w0, root: writerRoot)
        if case .bool(true) = r { return }
        if case .bool(false) = w { return }
        if case .bool(false) = r {
            issues.append((pointer, "the schema accepts nothing"))
            return
        }
        // Types: the reader must accept every type the writer does.
        if let readerTypes = typeNames(r) {
            let writerTypes = typeNames(w) ?? ["null", "boolean", "object", "array", "number", "string"]
            for t in writerTypes.sorted() where !readerTypes.contains(t) {
                if t == "integer" && readerTypes.contains("number") { continue }
                issues.append((pointer + "/type", "type \(t) is no longer accepted"))
            }
        }
        // Required members: the reader may not require what the writer can leave out.
        let readerRequired = strings(r, "required")
        let writerRequired = strings(w, "required")
        for name in readerRequired.subtracting(writerRequired).sorted() {
            issues.append((pointer + "/required", "member '\(name)' became required"))
        }
        // Enums and consts: the reader's set must contain the writer's.
        if case .array(let readerEnum)? = r["enum"] {
            if case .array(let writerEnum)? = w["enum"] {
                let missing = writerEnum.filter { value in !readerEnum.contains { JSONEquality.equal($0, value) } }
                if !missing.isEmpty { issues.append((pointer + "/enum", "\(missing.count) allowed value(s) removed")) }
            } else {
                issues.append((pointer + "/enum", "an enum now restricts values the old schema allowed"))
            }
        }
        if let readerConst = r["const"], !(w["const"].map { JSONEquality.equal($0, readerConst) } ?? false) {
            issues.append((pointer + "/const", "a const now restricts values"))
        }
        // Bounds: the reader's must be at least as wide.
        for key in ["minLength", "minItems", "minimum", "exclusiveMinimum"] {
            if let rv = number(r, key), number(w, key).map({ $0 < rv }) ?? true {
                issues.append((pointer + "/" + key, "\(key) raised or added"))
            }
        }
        for key in ["maxLength", "maxItems", "maximum", "exclusiveMaximum"] {
            if let rv = number(r, key), number(w, key).map({ rv < $0 }) ?? true {
                issues.append((pointer + "/" + key, "\(key) lowered or added"))
            }
        }
        for key in ["pattern", "format"] {
            if let rv = r[key], !(w[key].map { JSONEquality.equal($0, rv) } ?? false) {
                issues.append((pointer + "/" + key, "\(key) added or changed"))
            }
        }
        for key in ["allOf", "anyOf", "oneOf", "not"] {
            if let rv = r[key], !(w[key].map { JSONEquality.equal($0, rv) } ?? false) {
                issues.append((pointer + "/" + key, "\(key) added or changed: not provably compatible"))
            }
        }
        // Objects: members both describe compare recursively; closed readers refuse new members.
        let readerProperties = r["properties"]?.objectMembers ?? []
        let writerProperties = w["properties"]?.objectMembers ?? []
        let readerClosed = r["additionalProperties"] == .bool(false)
        let writerClosed = w["additionalProperties"] == .bool(false)
        for member in writerProperties {
            let child = pointer + "/properties/" + JSONPathSet.escapePointerToken(member.key)
            if let readerMember = readerProperties.first(where: { $0.key.hasSameBytes(as: member.key) }) {
                compare(
                    reader: readerMember.value,
                    writer: member.value,
                    readerRoot: readerRoot,
                    writerRoot: writerRoot,
                    at: child,
                    depth: depth + 1,
                    &issues
                )
            } else if readerClosed {
                issues.append((child, "member '\(member.key)' is refused by the reading schema's closed object"))
            } else if let extra = r["additionalProperties"], extra != .bool(true) {
                compare(
                    reader: extra,
                    writer: member.value,
                    readerRoot: readerRoot,
                    writerRoot: writerRoot,
                    at: child,
                    depth: depth + 1,
                    &issues
                )
            }
        }
        if readerClosed && !writerClosed && typeNames(w).map({ $0.contains("object") }) ?? true {
            issues.append((pointer + "/additionalProperties", "the object was closed to extra members"))
        }
        if !writerClosed {
            for member in readerProperties
            where !writerProperties.contains(where: { $0.key.hasSameBytes(as: member.key) }) {
                let child = pointer + "/properties/" + JSONPathSet.escapePointerToken(member.key)
                issues.append(
                    (child, "member '\(member.key)' added with a schema while old events may hold any value there")
                )
            }
        }
        // Arrays.
        if let readerItems = r["items"], case .object = readerItems {
            compare(
                reader: readerItems,
                writer: w["items"] ?? .bool(true),
                readerRoot: readerRoot,
                writerRoot: writerRoot,
                at: pointer + "/items",
                depth: depth + 1,
                &issues
            )
        }
    }

    /// The schema-poisoning rule: PII tags removed and constraints loosened from `old` to `new`.
    public static func weakenings(old: JSONValue, new: JSONValue) -> [(String, String)] {
        var issues: [(String, String)] = []
        // Tags: every tagged path of the old plan must stay tagged (or be covered by a tagged parent).
        if let oldPlan = try? EncryptionPlan(schema: old), let newPlan = try? EncryptionPlan(schema: new) {
            for field in oldPlan.fields {
                let covered = newPlan.fields.contains { candidate in
                    candidate.steps.count <= field.steps.count
                        && Array(field.steps.prefix(candidate.steps.count)) == candidate.steps
                }
                if !covered { issues.append((field.pattern, "PII tag removed")) }
                let weakerMode = newPlan.fields.contains { candidate in
                    candidate.steps == field.steps && candidate.deterministic && !field.deterministic
                }
                if weakerMode { issues.append((field.pattern, "randomized encryption made deterministic")) }
            }
        }
        if let oldNotes = try? SchemaAnnotations(schema: old), let newNotes = try? SchemaAnnotations(schema: new) {
            issues += annotationWeakenings(old: oldNotes, new: newNotes)
        }
        weaken(old: old, new: new, oldRoot: old, newRoot: new, at: "", depth: 0, &issues)
        return issues
    }

    /// Subject moved or dropped, weaker masks, lower classification, longer retention.
    static func annotationWeakenings(old: SchemaAnnotations, new: SchemaAnnotations) -> [(String, String)] {
        var issues: [(String, String)] = []
        if let subject = old.subjectField, !(new.subjectField?.hasSameBytes(as: subject) ?? false) {
            issues.append(
                (
                    "/properties/" + JSONPathSet.escapePointerToken(subject) + "/strongroom:subject",
                    new.subjectField == nil ? "data-subject field dropped" : "data-subject field moved"
                )
            )
        }
        func strength(_ style: MaskStyle?) -> Int {
            switch style ?? .full {
            case .full: 3
            case .hash: 2
            case .lastFour: 1
            }
        }
        for (pattern, style) in old.masks.sorted(by: { $0.key < $1.key })
        where strength(new.masks[pattern]) < strength(style) {
            issues.append(
                (pattern, "mask weakened from \(style.rawValue) to \(new.masks[pattern]?.rawValue ?? "full")")
            )
        }
        if let level = old.classification, Self.isLower(new.classification, than: level) {
            issues.append(
                (
                    "/strongroom:classification",
                    "classification lowered from \(level.rawValue) to \(new.classification?.rawValue ?? "none")"
                )
            )
        }
        if let days = old.retentionDays, Self.isLonger(new.retentionDays, than: days) {
            issues.append(("/strongroom:retentionDays", "retention lengthened from \(days) days"))
        }
        return issues
    }

    /// True when `level` is missing or below `old`.
    static func isLower(_ level: Classification?, than old: Classification) -> Bool {
        guard let level else { return true }
        return level < old
    }

    /// True when `days` is missing (kept for ever) or above `old`.
    static func isLonger(_ days: Int?, than old: Int) -> Bool {
        guard let days else { return true }
        return days > old
    }

    static func weaken(
        old o0: JSONValue,
        new n0: JSONValue,
        oldRoot: JSONValue,
        newRoot: JSONValue,
        at pointer: String,
        depth: Int,
        _ issues: inout [(String, String)]
    ) {
        guard depth < 32 else { return }
        let o = resolved(o0, root: oldRoot)
        let n = resolved(n0, root: newRoot)
        for key in ["pattern", "format", "enum", "const"] where o[key] != nil {
            if !(n[key].map { JSONEquality.equal($0, o[key] ?? .null) } ?? false) {
                issues.append((pointer + "/" + key, "\(key) removed or changed"))
            }
        }
        for key in ["maxLength", "maxItems", "maximum", "exclusiveMaximum"] {
            if let ov = number(o, key), number(n, key).map({ ov < $0 }) ?? true {
                issues.append((pointer + "/" + key, "\(key) widened or removed"))
            }
        }
        for key in ["minLength", "minItems", "minimum", "exclusiveMinimum"] {
            if let ov = number(o, key), number(n, key).map({ $0 < ov }) ?? true {
                issues.append((pointer + "/" + key, "\(key) lowered or removed"))
            }
        }
        if let oldTypes = typeNames(o) {
            let newTypes = typeNames(n) ?? ["any"]
            if !newTypes.isSubset(of: oldTypes.union(oldTypes.contains("number") ? ["integer"] : [])) {
                issues.append((pointer + "/type", "type widened"))
            }
        }
        if o["additionalProperties"] == .bool(false) && n["additionalProperties"] != .bool(false) {
            issues.append((pointer + "/additionalProperties", "object opened to extra members"))
        }
        let oldRequired = strings(o, "required")
        let newRequired = strings(n, "required")
        for name in oldRequired.subtracting(newRequired).sorted() {
            issues.append((pointer + "/required", "member '\(name)' no longer required"))
        }
        let newProperties = n["properties"]?.objectMembers ?? []
        for member in o["properties"]?.objectMembers ?? [] {
            guard let counterpart = newProperties.first(where: { $0.key.hasSameBytes(as: member.key) }) else {
                continue
            }
            weaken(
                old: member.value,
                new: counterpart.value,
                oldRoot: oldRoot,
                newRoot: newRoot,
                at: pointer + "/properties/" + JSONPathSet.escapePointerToken(member.key),
                depth: depth + 1,
                &issues
            )
        }
        if let oldItems = o["items"], case .object = oldItems, let newItems = n["items"] {
            weaken(
                old: oldItems,
                new: newItems,
                oldRoot: oldRoot,
                newRoot: newRoot,
                at: pointer + "/items",
                depth: depth + 1,
                &issues
            )
        }
    }
}
