public import Foundation
public import StrongroomJSON

/// A schema that could not be read as an encryption plan.
public struct SchemaError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public let message: String
    /// The JSON pointer into the schema where it went wrong.
    public let schemaPointer: String

    /// An error at `schemaPointer`.
    public init(_ message: String, at schemaPointer: String = "") {
        self.message = message
        self.schemaPointer = schemaPointer
    }

    /// The message and where.
    public var description: String { schemaPointer.isEmpty ? message : "\(message) at \(schemaPointer)" }
}

/// Which values of an event are encrypted, read from a JSON Schema's tags.
///
/// A property whose `confluent:tags` holds `PII` is encrypted whole, whatever its type:
/// a tag on an object or array covers everything inside it (Confluent's tags do not
/// inherit; ours do, so an untagged sub-field added later is still covered). Walks
/// `properties`, `items`, and local `$ref`s into `$defs` / `definitions`.
///
/// `"strongroom:encryption": "deterministic"` beside the tag asks for AES-256-GCM-SIV,
/// which lets equal values be found by equality and leaks exactly that.
public struct EncryptionPlan: Sendable {
    /// One encrypted value.
    public struct Field: Sendable, Hashable {
        /// Path from the event root.
        public var steps: [JSONPathSet.Step]
        /// The path as a JSON pointer pattern (`*` for any array element).
        public var pattern: String
        /// Deterministic (equality-searchable) rather than randomized.
        public var deterministic: Bool

        /// A field at `steps`, whose pointer pattern is `pattern`.
        public init(steps: [JSONPathSet.Step], pattern: String, deterministic: Bool) {
            self.steps = steps
            self.pattern = pattern
            self.deterministic = deterministic
        }
    }

    /// The tag that marks personal data.
    public static let piiTag = "PII"

    /// The encrypted values, in schema order.
    public var fields: [Field]

    /// Reads the plan of `schema`.
    ///
    /// - Throws: ``SchemaError`` naming the pointer of any `PII` tag the plan cannot honour
    ///   (under `not`, `patternProperties`, `additionalProperties`, array-form `items`,
    ///   `prefixItems`, `additionalItems`, or in a definition no `$ref` on a walked path
    ///   reaches): such a schema would store that value in clear, so it is refused.
    public init(schema: JSONValue) throws(SchemaError) {
        var fields: [Field] = []
        var honoured = Set<ExactText>()
        try EncryptionPlan.walk(
            schema,
            root: schema,
            steps: [],
            pointer: "",
            refDepth: 0,
            into: &fields,
            honoured: &honoured
        )
        var visited = Set<ExactText>()
        EncryptionPlan.collectVisited(schema, root: schema, pointer: "", depth: 0, into: &visited)
        try EncryptionPlan.checkEveryTag(schema, root: schema, pointer: "", honoured: honoured, visited: visited)
        self.fields = try EncryptionPlan.normalized(fields)
    }

    /// One field per path, and none inside another (the outer one covers it).
    ///
    /// Combinators can tag the same value twice; two different modes for one value are an error.
    static func normalized(_ fields: [Field]) throws(SchemaError) -> [Field] {
        var out: [Field] = []
        for field in fields {
            if let same = out.first(where: { $0.steps == field.steps }) {
                guard same.deterministic == field.deterministic else {
                    throw SchemaError("one value is tagged both deterministic and randomized", at: field.pattern)
                }
                continue
            }
            out.append(field)
        }
        return out.filter { field in
            !out.contains { other in
                other.steps.count < field.steps.count && Array(field.steps.prefix(other.steps.count)) == other.steps
            }
        }
    }

    static func isTaggedPII(_ node: JSONValue) -> Bool {
        if case .array(let tags) = node["confluent:tags"] ?? .null, tags.contains(.string(piiTag)) { return true }
        return false
    }

    /// Walks every subschema position of the document and refuses a `PII` tag the walk did not honour.
    ///
    /// Below an honoured tag everything is covered, so the scan stops there.
    /// The schema positions the plan's walk reaches (properties, schema-form items, combinator
    /// branches, local `$ref` targets), as pointers.
    static func collectVisited(
        _ node: JSONValue,
        root: JSONValue,
        pointer: String,
        depth: Int,
        into visited: inout Set<ExactText>
    ) {
        guard depth < 64, case .object = node, visited.insert(ExactText(pointer)).inserted else { return }
        if let ref = node["$ref"]?.stringValue, let target = resolve(ref, in: root) {
            collectVisited(target, root: root, pointer: String(ref.dropFirst()), depth: depth + 1, into: &visited)
        }
        for member in node["properties"]?.objectMembers ?? [] {
            let child = pointer + "/properties/" + JSONPathSet.escapePointerToken(member.key)
            collectVisited(member.value, root: root, pointer: child, depth: depth + 1, into: &visited)
        }
        if let items = node["items"], case .object = items {
            collectVisited(items, root: root, pointer: pointer + "/items", depth: depth + 1, into: &visited)
        }
        for keyword in ["allOf", "anyOf", "oneOf"] {
            guard case .array(let branches) = node[keyword] ?? .null else { continue }
            for (i, branch) in branches.enumerated() {
                collectVisited(
                    branch,
                    root: root,
                    pointer: pointer + "/\(keyword)/\(i)",
                    depth: depth + 1,
                    into: &visited
                )
            }
        }
    }

    /// True when a `PII` tag appears anywhere in `node`, following local `$ref`s.
    static func containsTag(_ node: JSONValue, root: JSONValue, depth: Int) -> Bool {
        guard depth < 64 else { return true }  // too deep to tell: treat as tagged (fail closed)
        switch node {
        case .object(let members):
            if isTaggedPII(node) { return true }
            for member in members {
                if member.key == "$ref", let ref = member.value.stringValue {
                    guard let target = resolvePointer(ref, in: root) else { continue }
                    if containsTag(target, root: root, depth: depth + 1) { return true }
                } else if containsTag(member.value, root: root, depth: depth + 1) {
                    return true
                }
            }
            return false
        case .array(let elements): return elements.contains { containsTag($0, root: root, depth: depth + 1) }
        default: return false
        }
    }

    /// Any local `#/…` pointer into the document.
    static func resolvePointer(_ ref: String, in root: JSONValue) -> JSONValue? {
        guard ref.hasPrefix("#") else { return nil }
        var node: JSONValue? = root
        for name in JSONPathSet.pointerTokens(ref.dropFirst()) {
            switch node {
            case .object?: node = node?[name]
            case .array(let a)?: node = Int(name).flatMap { $0 >= 0 && $0 < a.count ? a[$0] : nil }
            default: return nil
            }
        }
        return node
    }

    static func checkEveryTag(
        _ node: JSONValue,
        root: JSONValue,
        pointer: String,
        honoured: Set<ExactText>,
        visited: Set<ExactText>
    ) throws(SchemaError) {
        guard case .object(let members) = node else { return }
        // A `$ref` where the walk does not go must not lead to a tag: the value it describes
        // would be checked against a PII schema and stored in clear.
        if let ref = node["$ref"]?.stringValue, !visited.contains(ExactText(pointer)),
            let target = resolvePointer(ref, in: root), containsTag(target, root: root, depth: 0)
        {
            throw SchemaError(
                "a $ref here leads to a PII tag that field encryption cannot follow from this position",
                at: pointer
            )
        }
        if isTaggedPII(node) {
            guard honoured.contains(ExactText(pointer)) else {
                throw SchemaError(
                    "a PII tag here cannot be honoured by field encryption (only properties, items, allOf, anyOf, "
                        + "oneOf and local $ref are followed): the value would be stored in clear",
                    at: pointer
                )
            }
            return
        }
        for member in members {
            let here = pointer + "/" + JSONPathSet.escapePointerToken(member.key)
            switch member.key {
            case "properties", "patternProperties", "$defs", "definitions", "dependentSchemas":
                for child in member.value.objectMembers ?? [] {
                    try checkEveryTag(
                        child.value,
                        root: root,
                        pointer: here + "/" + JSONPathSet.escapePointerToken(child.key),
                        honoured: honoured,
                        visited: visited
                    )
                }
            case "allOf", "anyOf", "oneOf", "prefixItems", "items":
                // Arrays of schemas; `items` may also be one schema.
                if case .array(let schemas) = member.value {
                    for (i, child) in schemas.enumerated() {
                        try checkEveryTag(
                            child,
                            root: root,
                            pointer: here + "/\(i)",
                            honoured: honoured,
                            visited: visited
                        )
                    }
                } else {
                    try checkEveryTag(member.value, root: root, pointer: here, honoured: honoured, visited: visited)
                }
            case "enum", "const", "default", "examples":
                continue  // values, not schemas
            default:
                // `not`, `additionalProperties`, `additionalItems`, `if`/`then`/`else`, `contains`, …
                try checkEveryTag(member.value, root: root, pointer: here, honoured: honoured, visited: visited)
            }
        }
    }

    /// Reads the plan of the JSON Schema file at `url`.
    public init(contentsOf url: URL) throws(SchemaError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw SchemaError("cannot read schema file \(url.path)") }
        let schema: JSONValue
        do { schema = try JSONValue(parsing: data) } catch { throw SchemaError("schema is not JSON: \(error)") }
        try self.init(schema: schema)
    }

    static func walk(
        _ node: JSONValue,
        root: JSONValue,
        steps: [JSONPathSet.Step],
        pointer: String,
        refDepth: Int,
        into fields: inout [Field],
        honoured: inout Set<ExactText>
    ) throws(SchemaError) {
        guard case .object = node else { return }
        if let ref = node["$ref"]?.stringValue {
            guard refDepth < 32 else { throw SchemaError("$ref chain too deep or cyclic", at: pointer) }
            guard let target = resolve(ref, in: root) else {
                throw SchemaError("only local $ref to $defs or definitions is supported", at: pointer)
            }
            try walk(
                target,
                root: root,
                steps: steps,
                pointer: String(ref.dropFirst()),
                refDepth: refDepth + 1,
                into: &fields,
                honoured: &honoured
            )
        }
        if isTaggedPII(node) {
            honoured.insert(ExactText(pointer))
            guard !steps.isEmpty else { throw SchemaError("the event root cannot be tagged PII", at: pointer) }
            let mode = node["strongroom:encryption"]?.stringValue
            guard mode == nil || mode == "deterministic" || mode == "randomized" else {
                throw SchemaError("strongroom:encryption must be \"randomized\" or \"deterministic\"", at: pointer)
            }
            fields.append(Field(steps: steps, pattern: pattern(steps), deterministic: mode == "deterministic"))
            return
        }
        if let properties = node["properties"]?.objectMembers {
            for member in properties {
                try walk(
                    member.value,
                    root: root,
                    steps: steps + [.member(member.key)],
                    pointer: pointer + "/properties/" + JSONPathSet.escapePointerToken(member.key),
                    refDepth: refDepth,
                    into: &fields,
                    honoured: &honoured
                )
            }
        }
        if let items = node["items"], case .object = items {
            try walk(
                items,
                root: root,
                steps: steps + [.anyElement],
                pointer: pointer + "/items",
                refDepth: refDepth,
                into: &fields,
                honoured: &honoured
            )
        }
        // Every branch of a combinator may apply to the same value: a tag in any branch
        // encrypts it (over-encrypting a value another branch leaves untagged is safe).
        for keyword in ["allOf", "anyOf", "oneOf"] {
            guard case .array(let branches) = node[keyword] ?? .null else { continue }
            for (i, branch) in branches.enumerated() {
                try walk(
                    branch,
                    root: root,
                    steps: steps,
                    pointer: pointer + "/\(keyword)/\(i)",
                    refDepth: refDepth,
                    into: &fields,
                    honoured: &honoured
                )
            }
        }
    }

    static func resolve(_ ref: String, in root: JSONValue) -> JSONValue? {
        for prefix in ["#/$defs/", "#/definitions/"] where ref.hasPrefix(prefix) {
            let name = String(ref.dropFirst(prefix.count))
            let container = prefix.contains("$defs") ? "$defs" : "definitions"
            return root[container]?[
                name.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            ]
        }
        return nil
    }

    static func pattern(_ steps: [JSONPathSet.Step]) -> String {
        steps.map { step in
            switch step {
            case .member(let name): "/" + JSONPathSet.escapePointerToken(name)
            case .anyElement: "/*"
            }
        }.joined()
    }
}
