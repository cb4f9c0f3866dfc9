import Foundation
public import StrongroomJSON

/// Bounds every event is held to before and during validation: denial-of-service limits.
public struct ValidationLimits: Sendable, Hashable, Codable {
    /// Largest event accepted, in bytes.
    public var maxEventBytes: Int
    /// Deepest nesting of objects and arrays.
    public var maxDepth: Int
    /// Longest string, in Unicode code points.
    public var maxStringLength: Int
    /// Most elements in one array.
    public var maxArrayLength: Int
    /// Most schema nodes visited while validating one event (combinators over `$ref` can
    /// otherwise multiply without bound); past it the event is refused.
    public var maxWork: Int

    /// Limits; the defaults suit business events (1 MiB, depth 32, 64 Ki characters, 10,000 elements).
    public init(
        maxEventBytes: Int = 1 << 20,
        maxDepth: Int = 32,
        maxStringLength: Int = 65_536,
        maxArrayLength: Int = 10_000,
        maxWork: Int = 1_000_000
    ) {
        self.maxWork = maxWork
        self.maxEventBytes = maxEventBytes
        self.maxDepth = maxDepth
        self.maxStringLength = maxStringLength
        self.maxArrayLength = maxArrayLength
    }
}

/// One way an event breaks its schema.
///
/// Carries where (the event's JSON pointer), which rule (keyword and the schema pointer of
/// the rule) and words about the rule. Never the offending value: a tagged field's value
/// must not reach a log or a dead letter through an error.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// JSON pointer of the offending value in the event ("" for the root).
    public var pointer: String
    /// The keyword that failed (`type`, `maxLength`, `required`, …; `limit` for a limit).
    public var keyword: String
    /// JSON pointer of the rule in the schema.
    public var schemaPointer: String
    /// What the rule asks, without the value.
    public var message: String

    /// An error at `pointer` for `keyword`, with the rule's `schemaPointer` and words without the value.
    public init(pointer: String, keyword: String, schemaPointer: String, message: String) {
        self.pointer = pointer
        self.keyword = keyword
        self.schemaPointer = schemaPointer
        self.message = message
    }

    /// The pointer, the rule and the message.
    public var description: String {
        "\(pointer.isEmpty ? "/" : pointer): \(message) [\(keyword) at \(schemaPointer.isEmpty ? "#" : "#" + schemaPointer)]"
    }
}

/// A compiled JSON Schema (draft-07, and 2020-12 where `$schema` says so) for the core
/// keywords: type, properties, required, additionalProperties, enum, const, pattern,
/// minLength, maxLength, minimum, maximum, exclusiveMinimum, exclusiveMaximum, items
/// (and prefixItems / additionalItems), minItems, maxItems, format (date, date-time, email,
/// uuid, as assertions), local `$ref` into `$defs` / `definitions` / any JSON pointer of
/// the document, allOf, anyOf, oneOf, and boolean schemas.
///
/// Numbers are compared exactly (``ExactDecimal``). An unsupported keyword refuses the schema
/// (never ignored: a security boundary enforces all of its schema or none); a malformed known
/// keyword is a compile error.
public final class JSONSchemaValidator: Sendable {
    /// The draft whose `$ref` rules apply.
    public enum Draft: Sendable {
        /// `$ref` replaces its sibling keywords.
        case draft7
        /// `$ref` applies beside its siblings; `items` / `prefixItems` as in 2020-12.
        case draft2020
    }

    /// The draft in force.
    public let draft: Draft
    /// Limits applied by ``validate(bytes:)`` and while walking.
    public let limits: ValidationLimits
    let root: Node
    /// Compiled schemas by JSON pointer in the document, for `$ref`.
    let table: [ExactText: Node]
    /// Every member name some `properties` of the schema declares.
    ///
    /// Only these may appear in an error or a DLP finding; any other member name is data and is
    /// named by position.
    public let declaredNames: Set<ExactText>

    /// Compiles `schema`.
    ///
    /// - Throws: ``SchemaError`` naming the schema pointer of a malformed keyword, a
    ///   non-local or unresolvable `$ref`, or a pattern that does not compile.
    public init(schema: JSONValue, limits: ValidationLimits = ValidationLimits()) throws(SchemaError) {
        let dialect = schema["$schema"]?.stringValue ?? ""
        let draft: Draft = dialect.contains("2020-12") || dialect.contains("2019-09") ? .draft2020 : .draft7
        var compiler = Compiler(document: schema, draft: draft)
        let root = try compiler.compile(schema, at: "")
        try compiler.resolveReferences()
        for node in compiler.table.values {
            node.propertyTable = PropertyTable(node.properties, order: node.propertyOrder)
            node.requiredPlaces = node.required.map { node.propertyTable.find($0) ?? -1 }
            node.streamable =
                node.allOf.isEmpty && node.anyOf.isEmpty && node.oneOf.isEmpty && node.not == nil
                && node.patternProperties.isEmpty && (node.refTarget == nil || node.refReplacesSiblings)
        }
        self.draft = draft
        self.limits = limits
        self.declaredNames = Set(compiler.table.values.flatMap { $0.properties.keys })
        self.root = root
        self.table = compiler.table
    }

    /// Parses `bytes` within the limits and validates the event.
    public func validate(bytes: some Collection<UInt8>) -> [ValidationError] {
        validated(bytes: bytes).errors
    }

    /// Parses `bytes` within the limits and validates the event: the parsed event (nil when
    /// it is not JSON within the limits) and the errors, empty when valid.
    public func validated(bytes: some Collection<UInt8>) -> (value: JSONValue?, errors: [ValidationError]) {
        guard bytes.count <= limits.maxEventBytes else {
            return (
                nil,
                [
                    ValidationError(
                        pointer: "",
                        keyword: "limit",
                        schemaPointer: "",
                        message: "event larger than \(limits.maxEventBytes) bytes"
                    )
                ]
            )
        }
        let value: JSONValue
        do { value = try JSONValue(parsing: bytes, maxDepth: limits.maxDepth) } catch {
            return (
                nil,
                [
                    ValidationError(
                        pointer: "",
                        keyword: error.code == .tooDeep ? "limit" : "json",
                        schemaPointer: "",
                        message: "not valid JSON: \(error.code) at byte \(error.offset)"
                    )
                ]
            )
        }
        return (value, validate(value))
    }

    /// Validates a parsed event; an empty result means valid.
    public func validate(_ instance: JSONValue, maxErrors: Int = 32) -> [ValidationError] {
        var context = Context(limits: limits, maxErrors: maxErrors)
        let valid = root.validate(instance, pointer: "", depth: 0, context: &context)
        if context.work > limits.maxWork {
            return [
                ValidationError(
                    pointer: "",
                    keyword: "limit",
                    schemaPointer: "",
                    message: "validation needs more than \(limits.maxWork) steps under this schema"
                )
            ]
        }
        // Fail closed: a rule that refused without saying why still refuses.
        if !valid, context.errors.isEmpty {
            return [
                ValidationError(pointer: "", keyword: "schema", schemaPointer: "", message: "does not match the schema")
            ]
        }
        return context.errors
    }

    /// True when `instance` is valid.
    public func isValid(_ instance: JSONValue) -> Bool { validate(instance, maxErrors: 1).isEmpty }

    struct Context {
        var limits: ValidationLimits
        var maxErrors: Int
        var errors: [ValidationError] = []
        /// Inside anyOf/oneOf/not branches errors are counted, not kept.
        var quiet = 0
        /// Schema nodes visited and pattern scalars scanned so far.
        var work = 0

        mutating func fail(_ pointer: String, _ keyword: String, _ schemaPointer: String, _ message: String) {
            guard quiet == 0, errors.count < maxErrors else { return }
            errors.append(
                ValidationError(pointer: pointer, keyword: keyword, schemaPointer: schemaPointer, message: message)
            )
        }
    }
}

// MARK: - Compiled nodes

final class Node: @unchecked Sendable {
    // Written while compiling and linking, read-only afterwards.
    enum Constant {
        case alwaysValid
        case neverValid
    }

    struct TypeSet: OptionSet {
        let rawValue: UInt8
        static let null = TypeSet(rawValue: 1)
        static let boolean = TypeSet(rawValue: 2)
        static let object = TypeSet(rawValue: 4)
        static let array = TypeSet(rawValue: 8)
        static let number = TypeSet(rawValue: 16)
        static let string = TypeSet(rawValue: 32)
        static let integer = TypeSet(rawValue: 64)
    }

    let pointer: String
    var constant: Constant?
    var ref: String?
    var refTarget: Node?
    var refReplacesSiblings = false
    var types: TypeSet?
    var properties: [ExactText: Node] = [:]
    /// The names of ``properties`` in the order the schema declares them.
    var propertyOrder: [ExactText] = []
    /// `properties` for lookups by a member name's bytes while validating (built once compiled).
    var propertyTable = PropertyTable([:])
    /// Each `required` name's place in ``propertyTable`` (-1: not a declared property).
    var requiredPlaces: [Int] = []
    var patternProperties: [(PatternBox, Node)] = []
    var required: [String] = []
    var additionalProperties: Node?
    var enumValues: [JSONValue]?
    var constValue: JSONValue?
    var pattern: PatternBox?
    var minLength: Int?
    var maxLength: Int?
    var minimum: ExactDecimal?
    var maximum: ExactDecimal?
    var exclusiveMinimum: ExactDecimal?
    var exclusiveMaximum: ExactDecimal?
    var prefixItems: [Node] = []
    var tupleItems = false
    var additionalItems: Node?
    var items: Node?
    var minItems: Int?
    var maxItems: Int?
    var format: String?
    var allOf: [Node] = []
    var anyOf: [Node] = []
    var oneOf: [Node] = []
    var not: Node?
    /// Checkable in one pass over an event's bytes (``JSONSchemaValidator/passes(_:dlp:coverage:)``):
    /// no keyword that validates one value against several schemas.
    var streamable = false

    init(pointer: String) { self.pointer = pointer }

    /// Validates; returns false on any failure (errors recorded in `context` when not quiet).
    func validate(
        _ value: JSONValue,
        pointer: String,
        depth: Int,
        context: inout JSONSchemaValidator.Context
    ) -> Bool {
        context.work += 1
        guard context.work <= context.limits.maxWork else { return false }
        if let constant { return constantResult(constant, pointer: pointer, context: &context) }
        var ok = true
        if let refTarget {
            guard depth < 64 else {
                context.fail(pointer, "$ref", self.pointer, "schema reference nesting too deep")
                return false
            }
            ok = refTarget.validate(value, pointer: pointer, depth: depth + 1, context: &context) && ok
            if refReplacesSiblings { return ok }
        }
        if let types, !Node.matches(value, types) {
            context.fail(pointer, "type", self.pointer + "/type", "must be of type \(Node.describe(types))")
            return false
        }
        if let enumValues, !enumValues.contains(where: { JSONEquality.equal($0, value) }) {
            context.fail(
                pointer,
                "enum",
                self.pointer + "/enum",
                "must be one of the \(enumValues.count) allowed values"
            )
            ok = false
        }
        if let constValue, !JSONEquality.equal(constValue, value) {
            context.fail(pointer, "const", self.pointer + "/const", "must equal the constant the schema sets")
            ok = false
        }
        switch value {
        case .string(let s):
            ok = validateString(s, pointer: pointer, context: &context) && ok
        case .number(let text):
            ok = validateNumber(text, pointer: pointer, context: &context) && ok
        case .object(let members):
            ok = validateObject(members, pointer: pointer, depth: depth, context: &context) && ok
        case .array(let elements):
            ok = validateArray(elements, pointer: pointer, depth: depth, context: &context) && ok
        case .null, .bool:
            break
        }
        for (i, schema) in allOf.enumerated()
        where !schema.validate(value, pointer: pointer, depth: depth + 1, context: &context) {
            _ = i
            ok = false
        }
        if !anyOf.isEmpty {
            context.quiet += 1
            let any = anyOf.contains { $0.validate(value, pointer: pointer, depth: depth + 1, context: &context) }
            context.quiet -= 1
            if !any {
                context.fail(
                    pointer,
                    "anyOf",
                    self.pointer + "/anyOf",
                    "matches none of the \(anyOf.count) anyOf schemas"
                )
                ok = false
            }
        }
        if !oneOf.isEmpty {
            context.quiet += 1
            var matched = 0
            for schema in oneOf where schema.validate(value, pointer: pointer, depth: depth + 1, context: &context) {
                matched += 1
                if matched > 1 { break }
            }
            context.quiet -= 1
            if matched != 1 {
                context.fail(
                    pointer,
                    "oneOf",
                    self.pointer + "/oneOf",
                    matched == 0
                        ? "matches none of the \(oneOf.count) oneOf schemas" : "matches more than one oneOf schema"
                )
                ok = false
            }
        }
        if let not {
            context.quiet += 1
            let matched = not.validate(value, pointer: pointer, depth: depth + 1, context: &context)
            context.quiet -= 1
            if matched {
                context.fail(pointer, "not", self.pointer + "/not", "must not match the schema under not")
                ok = false
            }
        }
        return ok
    }

    func constantResult(_ constant: Constant, pointer: String, context: inout JSONSchemaValidator.Context) -> Bool {
        switch constant {
        case .alwaysValid: return true
        case .neverValid:
            context.fail(pointer, "false", self.pointer, "no value is allowed here")
            return false
        }
    }

    func validateString(_ s: String, pointer: String, context: inout JSONSchemaValidator.Context) -> Bool {
        var ok = true
        let length = Self.scalarCount(s)
        if length > context.limits.maxStringLength {
            context.fail(
                pointer,
                "limit",
                self.pointer,
                "string longer than \(context.limits.maxStringLength) characters"
            )
            return false
        }
        if let minLength, length < minLength {
            context.fail(pointer, "minLength", self.pointer + "/minLength", "must be at least \(minLength) characters")
            ok = false
        }
        if let maxLength, length > maxLength {
            context.fail(pointer, "maxLength", self.pointer + "/maxLength", "must be at most \(maxLength) characters")
            ok = false
        }
        context.work += length
        if let pattern, !pattern.matches(s) {
            context.fail(pointer, "pattern", self.pointer + "/pattern", "does not match the schema's pattern")
            ok = false
        }
        if let format, !Formats.check(format, s) {
            context.fail(pointer, "format", self.pointer + "/format", "is not a valid \(format)")
            ok = false
        }
        return ok
    }

    /// The number of Unicode scalars (JSON Schema's "characters"): the UTF-8 bytes that begin
    /// one, counted straight from the string's storage (a String is always valid UTF-8).
    static func scalarCount(_ s: String) -> Int {
        let counted = s.utf8.withContiguousStorageIfAvailable { bytes in
            var count = 0
            for byte in bytes where byte & 0xC0 != 0x80 { count += 1 }
            return count
        }
        return counted ?? s.unicodeScalars.count
    }

    func validateNumber(_ text: String, pointer: String, context: inout JSONSchemaValidator.Context) -> Bool {
        guard minimum != nil || maximum != nil || exclusiveMinimum != nil || exclusiveMaximum != nil else {
            return true
        }
        // A number past what is compared exactly (an exponent of ten million or more) is
        // refused, never let past its bounds.
        guard let value = ExactDecimal(text) else {
            context.fail(pointer, "limit", self.pointer, "number too large to compare with the schema's bounds")
            return false
        }
        var ok = true
        if let minimum, value < minimum {
            context.fail(pointer, "minimum", self.pointer + "/minimum", "must be at least the schema's minimum")
            ok = false
        }
        if let maximum, maximum < value {
            context.fail(pointer, "maximum", self.pointer + "/maximum", "must be at most the schema's maximum")
            ok = false
        }
        if let exclusiveMinimum, !(exclusiveMinimum < value) {
            context.fail(
                pointer,
                "exclusiveMinimum",
                self.pointer + "/exclusiveMinimum",
                "must be above the schema's exclusive minimum"
            )
            ok = false
        }
        if let exclusiveMaximum, !(value < exclusiveMaximum) {
            context.fail(
                pointer,
                "exclusiveMaximum",
                self.pointer + "/exclusiveMaximum",
                "must be below the schema's exclusive maximum"
            )
            ok = false
        }
        return ok
    }

    func validateObject(
        _ members: [JSONValue.Member],
        pointer: String,
        depth: Int,
        context: inout JSONSchemaValidator.Context
    ) -> Bool {
        // Each member's place among the declared properties, looked up once: the required
        // names are then checked against the places found, not by comparing every name.
        // Members are read in place, not copied out one by one.
        members.withUnsafeBufferPointer { members in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: members.count) { places in
                withUnsafeTemporaryAllocation(of: Bool.self, capacity: propertyTable.tokens.count) { present in
                    present.initialize(repeating: false)
                    for index in members.indices {
                        let place = propertyTable.find(members[index].key) ?? -1
                        places.initializeElement(at: index, to: place)
                        if place >= 0 { present[place] = true }
                    }
                    return validateObject(members, places, present, pointer: pointer, depth: depth, context: &context)
                }
            }
        }
    }

    private func validateObject(
        _ members: UnsafeBufferPointer<JSONValue.Member>,
        _ places: UnsafeMutableBufferPointer<Int>,
        _ present: UnsafeMutableBufferPointer<Bool>,
        pointer: String,
        depth: Int,
        context: inout JSONSchemaValidator.Context
    ) -> Bool {
        var ok = true
        for (i, name) in required.enumerated() {
            // A name without a recorded place is checked member by member: never skipped.
            let place = i < requiredPlaces.count ? requiredPlaces[i] : -1
            let found =
                place >= 0 ? present[place] : members.contains(where: { $0.key.hasSameBytes(as: name) })
            guard !found else { continue }
            context.fail(
                pointer,
                "required",
                self.pointer + "/required",
                "required member '\(JSONPathSet.escapePointerToken(name))' is missing"
            )
            ok = false
        }
        let nodes = propertyTable.nodes
        for index in members.indices {
            // A member name the schema does not declare is data (it could be an SSN): errors name
            // it by position, `<member 3>`, never by its text.
            let found = places[index] >= 0 ? places[index] : nil
            let child = pointer + (found.map { propertyTable.tokens[$0] } ?? "/<member \(index)>")
            var described = false
            if let found {
                described = true
                ok =
                    nodes[found].validate(members[index].value, pointer: child, depth: depth + 1, context: &context)
                    && ok
            }
            for (pattern, schema) in patternProperties where pattern.matches(members[index].key) {
                described = true
                ok = schema.validate(members[index].value, pointer: child, depth: depth + 1, context: &context) && ok
            }
            if described {
                continue
            } else if let additionalProperties {
                if case .neverValid? = additionalProperties.constant {
                    context.fail(
                        child,
                        "additionalProperties",
                        self.pointer + "/additionalProperties",
                        "member not allowed by the schema"
                    )
                    ok = false
                } else {
                    ok =
                        additionalProperties.validate(
                            members[index].value,
                            pointer: child,
                            depth: depth + 1,
                            context: &context
                        ) && ok
                }
            } else {
                ok = Node.checkLimits(members[index].value, pointer: child, depth: depth + 1, context: &context) && ok
            }
        }
        return ok
    }

    func validateArray(
        _ elements: [JSONValue],
        pointer: String,
        depth: Int,
        context: inout JSONSchemaValidator.Context
    ) -> Bool {
        var ok = true
        if elements.count > context.limits.maxArrayLength {
            context.fail(pointer, "limit", self.pointer, "array longer than \(context.limits.maxArrayLength) elements")
            return false
        }
        if let minItems, elements.count < minItems {
            context.fail(pointer, "minItems", self.pointer + "/minItems", "must have at least \(minItems) elements")
            ok = false
        }
        if let maxItems, elements.count > maxItems {
            context.fail(pointer, "maxItems", self.pointer + "/maxItems", "must have at most \(maxItems) elements")
            ok = false
        }
        for (i, element) in elements.enumerated() {
            let child = pointer + "/\(i)"
            if i < prefixItems.count {
                ok = prefixItems[i].validate(element, pointer: child, depth: depth + 1, context: &context) && ok
            } else if let items {
                ok = items.validate(element, pointer: child, depth: depth + 1, context: &context) && ok
            } else {
                ok = Node.checkLimits(element, pointer: child, depth: depth + 1, context: &context) && ok
            }
        }
        return ok
    }

    /// Limits still hold under parts of the event the schema does not describe.
    static func checkLimits(
        _ value: JSONValue,
        pointer: String,
        depth: Int,
        context: inout JSONSchemaValidator.Context
    ) -> Bool {
        switch value {
        case .string(let s) where Node.scalarCount(s) > context.limits.maxStringLength:
            context.fail(pointer, "limit", "", "string longer than \(context.limits.maxStringLength) characters")
            return false
        case .array(let elements):
            if elements.count > context.limits.maxArrayLength {
                context.fail(pointer, "limit", "", "array longer than \(context.limits.maxArrayLength) elements")
                return false
            }
            var ok = true
            for (i, e) in elements.enumerated() {
                ok = checkLimits(e, pointer: pointer + "/\(i)", depth: depth + 1, context: &context) && ok
            }
            return ok
        case .object(let members):
            var ok = true
            for (index, m) in members.enumerated() {
                // Below an undescribed member every name is data: named by position.
                ok =
                    checkLimits(
                        m.value,
                        pointer: pointer + "/<member \(index)>",
                        depth: depth + 1,
                        context: &context
                    ) && ok
            }
            return ok
        default:
            return true
        }
    }

    static func matches(_ value: JSONValue, _ types: TypeSet) -> Bool {
        switch value {
        case .null: return types.contains(.null)
        case .bool: return types.contains(.boolean)
        case .string: return types.contains(.string)
        case .object: return types.contains(.object)
        case .array: return types.contains(.array)
        case .number(let text):
            if types.contains(.number) { return true }
            return types.contains(.integer) && (ExactDecimal(text)?.isInteger ?? false)
        }
    }

    static func describe(_ types: TypeSet) -> String {
        let names: [(TypeSet, String)] = [
            (.null, "null"), (.boolean, "boolean"), (.object, "object"), (.array, "array"), (.number, "number"),
            (.string, "string"), (.integer, "integer"),
        ]
        return names.filter { types.contains($0.0) }.map(\.1).joined(separator: " or ")
    }
}

/// A compiled `pattern`: ECMA-262 syntax as Swift Regex reads it, searched unanchored.
struct PatternBox: Sendable {
    let regex: LinearRegex

    func matches(_ s: String) -> Bool { regex.firstMatch(in: s) }
}

/// JSON equality as JSON Schema defines it: numbers by value, objects unordered.
enum JSONEquality {
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        // Code points, not canonical equivalence: "é" and "e\u{301}" differ, as JSON Schema says.
        case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
        case (.number(let x), .number(let y)):
            if x == y { return true }
            guard let dx = ExactDecimal(x), let dy = ExactDecimal(y) else { return false }
            return dx == dy
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            for member in x {
                guard let other = y.first(where: { $0.key.utf8.elementsEqual(member.key.utf8) }),
                    equal(member.value, other.value)
                else {
                    return false
                }
            }
            return true
        default: return false
        }
    }
}

/// A node's declared properties, looked up by the UTF-8 bytes of a member name.
///
/// Each name's pointer token (`/` and the escaped name) is kept, so valid members build no
/// strings.
struct PropertyTable {
    private let table: NameTable<Node>
    private(set) var tokens: [String] = []
    var nodes: [Node] { table.values }

    /// The table of `properties`, in the order of `order` (the schema's) where it names them all.
    init(_ properties: [ExactText: Node], order: [ExactText] = []) {
        let ordered = order.compactMap { name in properties[name].map { (name, $0) } }
        table = ordered.count == properties.count ? NameTable(ordered: ordered) : NameTable(properties)
        tokens = table.names.map { "/" + JSONPathSet.escapePointerToken(String(decoding: $0, as: UTF8.self)) }
    }

    /// The index of the property named `name`, if declared.
    func find(_ name: String) -> Int? { table.find(name) }

    /// The index of the property whose name is exactly `bytes`, if declared, trying the
    /// property at `hint` first: events usually list members in the schema's order.
    func find(bytes: UnsafeBufferPointer<UInt8>, hint: Int) -> Int? { table.find(bytes: bytes, hint: hint) }
}
