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
    }

    /// The tag that marks personal data.
    public static let piiTag = "PII"

    /// The encrypted values, in schema order.
    public var fields: [Field]

    /// Reads the plan of `schema`.
    public init(schema: JSONValue) throws(SchemaError) {
        var fields: [Field] = []
        try EncryptionPlan.walk(schema, root: schema, steps: [], pointer: "", refDepth: 0, into: &fields)
        self.fields = fields
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
        into fields: inout [Field]
    ) throws(SchemaError) {
        guard case .object = node else { return }
        if let ref = node["$ref"]?.stringValue {
            guard refDepth < 32 else { throw SchemaError("$ref chain too deep or cyclic", at: pointer) }
            guard let target = resolve(ref, in: root) else {
                throw SchemaError("only local $ref to $defs or definitions is supported", at: pointer)
            }
            try walk(target, root: root, steps: steps, pointer: ref, refDepth: refDepth + 1, into: &fields)
        }
        if case .array(let tags) = node["confluent:tags"] ?? .null,
            tags.contains(.string(piiTag))
        {
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
                    into: &fields
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
                into: &fields
            )
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
