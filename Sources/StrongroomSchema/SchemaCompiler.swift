import Foundation
import StrongroomJSON

/// Turns a schema document into linked ``Node``s.
struct Compiler {
    let document: JSONValue
    let draft: JSONSchemaValidator.Draft
    /// Compiled nodes by schema pointer, compared as bytes: two property names that differ only
    /// by Unicode normalization are two schemas, never one.
    var table: [ExactText: Node] = [:]
    var pending: [Node] = []

    init(document: JSONValue, draft: JSONSchemaValidator.Draft) {
        self.document = document
        self.draft = draft
    }

    mutating func compile(_ schema: JSONValue, at pointer: String) throws(SchemaError) -> Node {
        if let existing = table[ExactText(pointer)] { return existing }
        let node = Node(pointer: pointer)
        table[ExactText(pointer)] = node
        switch schema {
        case .bool(let b):
            node.constant = b ? .alwaysValid : .neverValid
            return node
        case .object(let members):
            for member in members {
                try apply(member.key, member.value, to: node, at: pointer)
            }
            if node.ref != nil, draft == .draft7 { node.refReplacesSiblings = true }
            // 2020-12 `items` after `prefixItems`; draft-07 `additionalItems` after an `items` array.
            return node
        default:
            throw SchemaError("a schema must be an object or a boolean", at: pointer)
        }
    }

    mutating func apply(_ keyword: String, _ value: JSONValue, to node: Node, at pointer: String) throws(SchemaError) {
        let here = pointer + "/" + JSONPathSet.escapePointerToken(keyword)
        switch keyword {
        case "$ref":
            guard let ref = value.stringValue else { throw SchemaError("$ref must be a string", at: here) }
            node.ref = ref
            pending.append(node)
        case "type":
            node.types = try types(value, at: here)
        case "properties":
            guard case .object(let members) = value else { throw SchemaError("properties must be an object", at: here) }
            for member in members {
                node.propertyOrder.append(ExactText(member.key))
                node.properties[ExactText(member.key)] = try compile(
                    member.value,
                    at: here + "/" + JSONPathSet.escapePointerToken(member.key)
                )
            }
        case "patternProperties":
            guard case .object(let members) = value else {
                throw SchemaError("patternProperties must be an object", at: here)
            }
            for member in members {
                let at = here + "/" + JSONPathSet.escapePointerToken(member.key)
                node.patternProperties.append(
                    (try Compiler.pattern(member.key, at: at), try compile(member.value, at: at))
                )
            }
        case "required":
            guard case .array(let names) = value, names.allSatisfy({ $0.stringValue != nil }) else {
                throw SchemaError("required must be an array of strings", at: here)
            }
            node.required = names.compactMap(\.stringValue)
        case "additionalProperties":
            node.additionalProperties = try compile(value, at: here)
        case "enum":
            guard case .array(let values) = value else { throw SchemaError("enum must be an array", at: here) }
            node.enumValues = values
        case "const":
            node.constValue = value
        case "pattern":
            guard let text = value.stringValue else { throw SchemaError("pattern must be a string", at: here) }
            node.pattern = try Compiler.pattern(text, at: here)
        case "minLength": node.minLength = try count(value, at: here)
        case "maxLength": node.maxLength = try count(value, at: here)
        case "minItems": node.minItems = try count(value, at: here)
        case "maxItems": node.maxItems = try count(value, at: here)
        case "minimum": node.minimum = try number(value, at: here)
        case "maximum": node.maximum = try number(value, at: here)
        case "exclusiveMinimum": node.exclusiveMinimum = try number(value, at: here)
        case "exclusiveMaximum": node.exclusiveMaximum = try number(value, at: here)
        case "items":
            if case .array(let schemas) = value {
                guard draft == .draft7 else { throw SchemaError("items must be a schema in 2020-12", at: here) }
                node.prefixItems = try schemas.enumerated().map { i, s throws(SchemaError) in
                    try compile(s, at: here + "/\(i)")
                }
                node.tupleItems = true
            } else {
                node.items = try compile(value, at: here)
            }
        case "prefixItems":
            guard case .array(let schemas) = value else { throw SchemaError("prefixItems must be an array", at: here) }
            node.prefixItems = try schemas.enumerated().map { i, s throws(SchemaError) in
                try compile(s, at: here + "/\(i)")
            }
        case "additionalItems":
            // Meaningful only beside an array-form `items` (draft-07); resolved once both are read.
            node.additionalItems = try compile(value, at: here)
        case "format":
            guard let name = value.stringValue else { throw SchemaError("format must be a string", at: here) }
            if Formats.known.contains(name) { node.format = name }
        case "allOf", "anyOf", "oneOf":
            guard case .array(let schemas) = value, !schemas.isEmpty else {
                throw SchemaError("\(keyword) must be a non-empty array", at: here)
            }
            let compiled = try schemas.enumerated().map { i, s throws(SchemaError) in try compile(s, at: here + "/\(i)")
            }
            switch keyword {
            case "allOf": node.allOf = compiled
            case "anyOf": node.anyOf = compiled
            default: node.oneOf = compiled
            }
        case "not":
            node.not = try compile(value, at: here)
        case "$defs", "definitions":
            guard case .object(let members) = value else { throw SchemaError("\(keyword) must be an object", at: here) }
            for member in members {
                _ = try compile(member.value, at: here + "/" + JSONPathSet.escapePointerToken(member.key))
            }
        default:
            // Annotations change nothing; any other keyword would be an assertion we do not
            // enforce, so the schema is refused rather than partly enforced.
            guard Compiler.isAnnotation(keyword) else {
                throw SchemaError(
                    "keyword '\(keyword)' is not supported: the schema is refused rather than enforced in part",
                    at: here
                )
            }
        }
    }

    /// Keywords that assert nothing: metadata, Confluent's tags and Strongroom's annotations.
    static let annotations: Set<String> = [
        "$schema", "$comment", "title", "description", "default", "examples", "readOnly", "writeOnly", "deprecated",
        "contentMediaType", "contentEncoding", "confluent:tags", "strongroom:subject", "strongroom:mask",
        "strongroom:classification", "strongroom:retentionDays", "strongroom:encryption",
    ]

    static func isAnnotation(_ keyword: String) -> Bool {
        // text-keyed: keywords are compared as spelled; a look-alike spelling is simply unknown.
        guard keyword.utf8.allSatisfy({ $0 < 0x80 }) else { return false }
        return annotations.contains(keyword) || (keyword.hasPrefix("confluent:") && keyword != "confluent:tags")
    }

    /// Links every `$ref`; compiles targets no walk reached.
    mutating func resolveReferences() throws(SchemaError) {
        var index = 0
        while index < pending.count {
            let node = pending[index]
            index += 1
            guard let ref = node.ref else { continue }
            guard ref.hasPrefix("#"), let target = Compiler.decodeFragment(String(ref.dropFirst())) else {
                throw SchemaError("only local $ref (\"#\" or \"#/…\") is supported", at: node.pointer + "/$ref")
            }
            if let compiled = table[ExactText(target)] {
                node.refTarget = compiled
                continue
            }
            guard let value = Compiler.resolve(target, in: document) else {
                throw SchemaError("$ref target \(ref) does not exist", at: node.pointer + "/$ref")
            }
            node.refTarget = try compile(value, at: target)
        }
        for node in table.values where node.additionalItems != nil {
            // draft-07: additionalItems applies past an array-form items; else it means nothing.
            if node.tupleItems { node.items = node.additionalItems }
        }
    }

    static func decodeFragment(_ fragment: String) -> String? {
        guard fragment.isEmpty || fragment.hasPrefix("/") else { return nil }
        return fragment.removingPercentEncodingStrict
    }

    static func resolve(_ pointer: String, in document: JSONValue) -> JSONValue? {
        var node = document
        for token in JSONPathSet.pointerTokens(pointer) {
            switch node {
            case .object:
                guard let next = node[token] else { return nil }
                node = next
            case .array(let elements):
                guard let i = Int(token), elements.indices.contains(i) else { return nil }
                node = elements[i]
            default:
                return nil
            }
        }
        return node
    }

    static func pattern(_ text: String, at pointer: String) throws(SchemaError) -> PatternBox {
        do { return PatternBox(regex: try LinearRegex(text)) } catch {
            throw SchemaError("pattern refused: \(error.message)", at: pointer)
        }
    }

    func types(_ value: JSONValue, at pointer: String) throws(SchemaError) -> Node.TypeSet {
        var names: [String] = []
        switch value {
        case .string(let s): names = [s]
        case .array(let items):
            names = items.compactMap(\.stringValue)
            guard names.count == items.count, !names.isEmpty else {
                throw SchemaError("type must be a name or a non-empty array of names", at: pointer)
            }
        default: throw SchemaError("type must be a name or an array of names", at: pointer)
        }
        var set: Node.TypeSet = []
        for name in names {
            switch name {
            case "null": set.insert(.null)
            case "boolean": set.insert(.boolean)
            case "object": set.insert(.object)
            case "array": set.insert(.array)
            case "number": set.insert(.number)
            case "string": set.insert(.string)
            case "integer": set.insert(.integer)
            default: throw SchemaError("unknown type \(name)", at: pointer)
            }
        }
        return set
    }

    func count(_ value: JSONValue, at pointer: String) throws(SchemaError) -> Int {
        guard case .number(let text) = value, let d = ExactDecimal(text), d.isInteger, !d.negative,
            let n = Int(text.split(separator: ".").first ?? "") ?? (d.digits.isEmpty ? 0 : nil)
        else { throw SchemaError("must be a non-negative integer", at: pointer) }
        return n
    }

    func number(_ value: JSONValue, at pointer: String) throws(SchemaError) -> ExactDecimal {
        guard case .number(let text) = value, let d = ExactDecimal(text) else {
            throw SchemaError("must be a number", at: pointer)
        }
        return d
    }
}

extension String {
    /// Percent-decoding that refuses malformed escapes.
    fileprivate var removingPercentEncodingStrict: String? {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let c = iterator.next() {
            if c == UInt8(ascii: "%") {
                guard let h = iterator.next(), let l = iterator.next(), let hi = hexValue(h), let lo = hexValue(l)
                else {
                    return nil
                }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(c)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x37
        case 0x61...0x66: c - 0x57
        default: nil
        }
    }
}

/// The formats asserted: date, date-time (RFC 3339), email, uuid.
enum Formats {
    static let known: Set<String> = ["date", "date-time", "email", "uuid"]

    static func check(_ format: String, _ s: String) -> Bool {
        switch format {
        case "date": return date(Array(s.utf8)[...]) != nil
        case "date-time": return dateTime(s)
        case "email": return email(s)
        case "uuid": return uuid(s)
        default: return true
        }
    }

    static func digits(_ b: ArraySlice<UInt8>) -> Int? {
        guard !b.isEmpty, b.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return b.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    /// RFC 3339 full-date; returns (year, month, day).
    static func date(_ b: ArraySlice<UInt8>) -> (Int, Int, Int)? {
        guard b.count == 10 else { return nil }
        let s = b.startIndex
        guard b[s + 4] == 0x2D, b[s + 7] == 0x2D, let y = digits(b[s..<(s + 4)]), let m = digits(b[(s + 5)..<(s + 7)]),
            let d = digits(b[(s + 8)..<(s + 10)]), (1...12).contains(m)
        else { return nil }
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        return (1...days).contains(d) ? (y, m, d) : nil
    }

    static func dateTime(_ s: String) -> Bool {
        let b = Array(s.utf8)[...]
        guard b.count >= 20, date(b.prefix(10)) != nil, b[10] == 0x54 || b[10] == 0x74 else { return false }
        var rest = b.dropFirst(11)
        guard rest.count >= 9, rest[rest.startIndex + 2] == 0x3A, rest[rest.startIndex + 5] == 0x3A,
            let hour = digits(rest.prefix(2)), let minute = digits(rest.dropFirst(3).prefix(2)),
            let second = digits(rest.dropFirst(6).prefix(2)), hour <= 23, minute <= 59, second <= 60
        else { return false }
        rest = rest.dropFirst(8)
        if rest.first == 0x2E {
            rest = rest.dropFirst()
            let fraction = rest.prefix { $0 >= 0x30 && $0 <= 0x39 }
            guard !fraction.isEmpty else { return false }
            rest = rest.dropFirst(fraction.count)
        }
        var offsetMinutes = 0
        if rest.count == 1, rest.first == 0x5A || rest.first == 0x7A {
            offsetMinutes = 0
        } else {
            guard rest.count == 6, rest.first == 0x2B || rest.first == 0x2D, rest[rest.startIndex + 3] == 0x3A,
                let oh = digits(rest.dropFirst().prefix(2)), let om = digits(rest.dropFirst(4).prefix(2)), oh <= 23,
                om <= 59
            else { return false }
            offsetMinutes = (oh * 60 + om) * (rest.first == 0x2D ? -1 : 1)
        }
        if second == 60 {
            // A leap second exists only at 23:59:60 UTC.
            let utc = ((hour * 60 + minute - offsetMinutes) % 1440 + 1440) % 1440
            return utc == 23 * 60 + 59
        }
        return true
    }

    static func email(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, let local = parts.first, let domain = parts.last, !local.isEmpty, !domain.isEmpty,
            local.utf8.count <= 64, domain.utf8.count <= 253
        else { return false }
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-".utf8)
        let labels = local.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { atext.contains($0) } }) else { return false }
        let hosts = domain.split(separator: ".", omittingEmptySubsequences: false)
        return hosts.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { c in
                    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D
                }
        }
    }

    static func uuid(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count == 36 else { return false }
        for (i, c) in b.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == 0x2D else { return false }
            } else {
                guard (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) else {
                    return false
                }
            }
        }
        return true
    }
}
