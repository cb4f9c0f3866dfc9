/// A parsed JSON value that keeps every number exactly as written.
///
/// Numbers are held as their source text, never as `Double`, so money and large
/// integers survive to the last digit. Objects keep member order; duplicate keys are
/// refused when parsing because two readers could disagree on which one wins.
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, as its RFC 8259 source text.
    case number(String)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object, members in document order.
    case object([Member])

    /// One member of an object.
    public struct Member: Sendable, Hashable {
        /// The member name.
        public var key: String
        /// The member value.
        public var value: JSONValue

        /// A member named `key`.
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }

        /// Equal when the names have the same code points (UTF-8 bytes) and the values are equal.
        public static func == (lhs: Member, rhs: Member) -> Bool {
            lhs.key.hasSameBytes(as: rhs.key) && lhs.value == rhs.value
        }

        /// Hashes the name's bytes and the value.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(ExactText(key))
            hasher.combine(value)
        }
    }

    /// Equal as JSON Schema defines it for strings and names: same code points, never
    /// Unicode canonical equivalence (Swift's `String ==`); numbers by their text.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a.hasSameBytes(as: b)
        case (.string(let a), .string(let b)): a.hasSameBytes(as: b)
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }

    /// Hashes what ``==`` compares.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .number(let text):
            hasher.combine(2)
            hasher.combine(ExactText(text))
        case .string(let s):
            hasher.combine(3)
            hasher.combine(ExactText(s))
        case .array(let a): hasher.combine(a)
        case .object(let m): hasher.combine(m)
        }
    }

    /// Parses one JSON document (an RFC 8259 value with optional surrounding whitespace).
    public init(parsing bytes: some Collection<UInt8>, maxDepth: Int = 64) throws(JSONError) {
        let parsed: Result<JSONValue, JSONError> = [UInt8](bytes).withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer, maxDepth: maxDepth)
            do throws(JSONError) {
                let value = try JSONValue.parse(&scanner, depth: 0)
                try scanner.expectEnd()
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        self = try parsed.get()
    }

    /// Parses one JSON document from its text.
    public init(parsing text: String, maxDepth: Int = 64) throws(JSONError) {
        try self.init(parsing: Array(text.utf8), maxDepth: maxDepth)
    }

    /// Parses documents one after another, reusing the member names of the one before.
    ///
    /// Events of one schema name their members alike and in the same order: a member name
    /// whose bytes equal those of the name in the same place (the n-th name of the document)
    /// in the previous document is given that name's `String` again instead of a new one.
    /// Values are never reused. The result is the same as a one-off parse's.
    ///
    /// It keeps the member names of the last document it parsed (not its values) until it is
    /// dropped or parses another; one parser per thread.
    public struct Parser {
        /// The deepest nesting a document may have.
        public let maxDepth: Int
        var names = MemberNames(remembering: true)

        /// A parser with no names remembered yet.
        public init(maxDepth: Int = 64) {
            self.maxDepth = maxDepth
        }

        /// Parses one JSON document (an RFC 8259 value with optional surrounding whitespace).
        public mutating func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONValue {
            var scanner = JSONScanner(bytes, maxDepth: maxDepth)
            names.restart()
            let value = try JSONValue.parse(&scanner, depth: 0, names: &names)
            try scanner.expectEnd()
            return value
        }

        /// Parses one JSON document (an RFC 8259 value with optional surrounding whitespace).
        public mutating func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
            let parsed = bytes.withUnsafeBufferPointer { buffer in
                Result { () throws(JSONError) -> JSONValue in try parse(buffer) }
            }
            return try parsed.get()
        }
    }

    /// Reads the value at the scanner's position.
    public static func parse(_ scanner: inout JSONScanner, depth: Int) throws(JSONError) -> JSONValue {
        var names = MemberNames(remembering: false)
        return try parse(&scanner, depth: depth, names: &names)
    }

    /// Reads the value at the scanner's position, taking member names from `names` when their
    /// bytes match.
    static func parse(
        _ scanner: inout JSONScanner,
        depth: Int,
        names: inout MemberNames
    ) throws(JSONError) -> JSONValue {
        let first = try scanner.peek()
        switch first {
        case UInt8(ascii: "{"):
            guard depth < scanner.maxDepth else { throw JSONError(.tooDeep, at: scanner.position) }
            scanner.position += 1
            var members: [Member] = []
            if try scanner.peek() == UInt8(ascii: "}") {
                scanner.position += 1
                return .object(members)
            }
            // Duplicate names: compared as bytes of the document (decoded only when escaped).
            var seen = SeenKeys(document: scanner.bytes)
            members.reserveCapacity(16)
            while true {
                guard try scanner.peek() == UInt8(ascii: "\"") else {
                    throw JSONError(.unexpectedByte, at: scanner.position)
                }
                let keyStart = scanner.position
                let (contents, escaped) = try scanner.scanString()
                let key: String
                let fresh: Bool
                if escaped {
                    let decoded = scanner.decodeBytes(contents)
                    key = String(decoding: decoded, as: UTF8.self)
                    names.skip()
                    fresh = decoded.withUnsafeBufferPointer { seen.insert($0, span: nil) }
                } else {
                    let raw = UnsafeBufferPointer(rebasing: scanner.bytes[contents])
                    key = names.name(raw)
                    fresh = seen.insert(raw, span: contents)
                }
                guard fresh else { throw JSONError(.duplicateKey, at: keyStart) }
                try scanner.expect(UInt8(ascii: ":"))
                members.append(Member(key, try parse(&scanner, depth: depth + 1, names: &names)))
                if try scanner.endOfContainer(UInt8(ascii: "}")) { return .object(members) }
            }
        case UInt8(ascii: "["):
            guard depth < scanner.maxDepth else { throw JSONError(.tooDeep, at: scanner.position) }
            scanner.position += 1
            var elements: [JSONValue] = []
            if try scanner.peek() == UInt8(ascii: "]") {
                scanner.position += 1
                return .array(elements)
            }
            while true {
                elements.append(try parse(&scanner, depth: depth + 1, names: &names))
                if try scanner.endOfContainer(UInt8(ascii: "]")) { return .array(elements) }
            }
        case UInt8(ascii: "\""):
            let (contents, escaped) = try scanner.scanString()
            return .string(scanner.decodeString(contents, hasEscapes: escaped))
        case UInt8(ascii: "t"):
            try scanner.expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try scanner.expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try scanner.expectLiteral("null")
            return .null
        default:
            let start = scanner.position
            try scanner.scanNumber()
            let text = String(
                decoding: UnsafeBufferPointer(rebasing: scanner.bytes[start..<scanner.position]),
                as: UTF8.self
            )
            return .number(text)
        }
    }

    /// The member named `key`, if this is an object that has one.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key.hasSameBytes(as: key) }?.value
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let s) = self { s } else { nil }
    }

    /// The members, if this is an object.
    public var objectMembers: [Member]? {
        if case .object(let m) = self { m } else { nil }
    }

    /// Compact JSON text; numbers and member order exactly as parsed.
    public var jsonText: String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends compact JSON bytes to `out`.
    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                e.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(m.key, to: &out)
                out.append(UInt8(ascii: ":"))
                m.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// JSON text for people, ending with a newline.
    ///
    /// A container goes on one line (`{"a": 1, "b": [2, 3]}`) when that fits in `width`
    /// columns, else one member or element per line, indented by two spaces. Numbers and member
    /// order exactly as parsed.
    public func indentedText(width: Int = 100) -> String {
        var out: [UInt8] = []
        writeIndented(to: &out, indent: 0, width: width)
        out.append(0x0A)
        return String(decoding: out, as: UTF8.self)
    }

    func writeSpaced(to out: inout [UInt8]) {
        switch self {
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                if i > 0 { out.append(contentsOf: ", ".utf8) }
                e.writeSpaced(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(contentsOf: ", ".utf8) }
                JSONValue.writeString(m.key, to: &out)
                out.append(contentsOf: ": ".utf8)
                m.value.writeSpaced(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        default: write(to: &out)
        }
    }

    func writeIndented(to out: inout [UInt8], indent: Int, width: Int) {
        var inline: [UInt8] = []
        writeSpaced(to: &inline)
        let lineStart = out.lastIndex(of: 0x0A).map { out.count - $0 - 1 } ?? out.count
        guard lineStart + inline.count > width else {
            out.append(contentsOf: inline)
            return
        }
        let pad = [UInt8](repeating: 0x20, count: indent + 2)
        switch self {
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                out.append(contentsOf: (i > 0 ? ",\n" : "\n").utf8)
                out.append(contentsOf: pad)
                e.writeIndented(to: &out, indent: indent + 2, width: width)
            }
            out.append(0x0A)
            out.append(contentsOf: [UInt8](repeating: 0x20, count: indent))
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                out.append(contentsOf: (i > 0 ? ",\n" : "\n").utf8)
                out.append(contentsOf: pad)
                JSONValue.writeString(m.key, to: &out)
                out.append(contentsOf: ": ".utf8)
                m.value.writeIndented(to: &out, indent: indent + 2, width: width)
            }
            out.append(0x0A)
            out.append(contentsOf: [UInt8](repeating: 0x20, count: indent))
            out.append(UInt8(ascii: "}"))
        default: out.append(contentsOf: inline)
        }
    }

    /// Whether any byte is a control character, a quote or a backslash: eight bytes a step.
    ///
    /// A word has one of them exactly when a borrow or a zero byte sets a high bit; a borrow
    /// comes only from such a byte (the usual `haszero`/`hasless` tests, exact for presence).
    @inline(__always)
    static func needsEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var i = 0
        if let base = bytes.baseAddress {
            while i + 8 <= bytes.count {
                let w = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
                let quote = w ^ (ones &* 0x22)
                let backslash = w ^ (ones &* 0x5C)
                let control = (w &- ones &* 0x20) & ~w
                if (control | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & highs != 0 {
                    return true
                }
                i += 8
            }
        }
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { return true }
            i += 1
        }
        return false
    }

    /// Appends a JSON string literal, escaped as RFC 8785 §3.2.2.2 asks.
    public static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: copy them whole (from their storage when it is contiguous).
        let copied = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard !needsEscape(bytes) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        if copied == nil, !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") })
        {
            out.append(contentsOf: s.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// A document's member names by their place in it (the n-th name of the document), kept
/// from one document to the next by a ``JSONValue/Parser``.
struct MemberNames {
    /// False for a one-off parse: every name is made afresh and none kept.
    let remembering: Bool
    var names: [String] = []
    /// The place of the next name in the document.
    var next = 0
    /// Names kept at most (places past it are made afresh).
    static let capacity = 512

    init(remembering: Bool) {
        self.remembering = remembering
    }

    mutating func restart() { next = 0 }

    /// The name whose UTF-8 bytes are `bytes` (validated, without escapes).
    mutating func name(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        guard remembering else { return String(decoding: bytes, as: UTF8.self) }
        let place = next
        next += 1
        if place < names.count {
            let known = names[place]
            let same = known.utf8.withContiguousStorageIfAvailable { sameBytes($0, bytes) } ?? false
            if same { return known }
            let made = String(decoding: bytes, as: UTF8.self)
            names[place] = made
            return made
        }
        let made = String(decoding: bytes, as: UTF8.self)
        if place == names.count, place < Self.capacity { names.append(made) }
        return made
    }

    /// A name made elsewhere (it had escapes) takes the next place.
    mutating func skip() { next += 1 }
}
