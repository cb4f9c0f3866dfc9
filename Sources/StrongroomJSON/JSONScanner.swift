/// A strict RFC 8259 / I-JSON reader over UTF-8 bytes that reports byte spans.
///
/// Everything it accepts is well-formed JSON: numbers by the grammar, strings as valid
/// UTF-8 with paired surrogates, no duplicate keys when objects are parsed. It never
/// copies the input, so the hot path (finding the tagged fields of an event) costs one
/// pass over the bytes.
public struct JSONScanner: ~Copyable {
    @usableFromInline let bytes: UnsafeBufferPointer<UInt8>
    /// The offset of the next unread byte.
    public var position: Int
    /// The deepest nesting of arrays and objects accepted.
    public let maxDepth: Int

    /// A scanner over `bytes`, which must outlive it.
    public init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 64) {
        self.bytes = bytes
        self.position = 0
        self.maxDepth = maxDepth
    }

    /// The byte count of the input.
    public var count: Int { bytes.count }

    /// The byte at `offset`.
    @inlinable public func byte(at offset: Int) -> UInt8 { bytes[offset] }

    /// The input's bytes in `range`, in place.
    @inlinable public func bytes(in range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[range])
    }

    /// Skips spaces, tabs, carriage returns and line feeds.
    @inlinable
    public mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// The next non-whitespace byte, without consuming it.
    public mutating func peek() throws(JSONError) -> UInt8 {
        skipWhitespace()
        guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position) }
        return bytes[position]
    }

    /// Consumes `expected` after optional whitespace.
    public mutating func expect(_ expected: UInt8) throws(JSONError) {
        let next = try peek()
        guard next == expected else { throw JSONError(.unexpectedByte, at: position) }
        position += 1
    }

    /// Fails unless only whitespace remains.
    public mutating func expectEnd() throws(JSONError) {
        skipWhitespace()
        guard position == bytes.count else { throw JSONError(.trailingData, at: position) }
    }

    /// Validates and skips one value; returns its byte span (no surrounding whitespace).
    public mutating func skipValue(depth: Int = 0) throws(JSONError) -> Range<Int> {
        let first = try peek()
        let start = position
        switch first {
        case UInt8(ascii: "{"):
            try skipObject(depth: depth + 1)
        case UInt8(ascii: "["):
            try skipArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "t"):
            try expectLiteral("true")
        case UInt8(ascii: "f"):
            try expectLiteral("false")
        case UInt8(ascii: "n"):
            try expectLiteral("null")
        default:
            try scanNumber()
        }
        return start..<position
    }

    mutating func skipObject(depth: Int) throws(JSONError) {
        guard depth <= maxDepth else { throw JSONError(.tooDeep, at: position) }
        position += 1
        if try peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            guard try peek() == UInt8(ascii: "\"") else { throw JSONError(.unexpectedByte, at: position) }
            _ = try scanString()
            try expect(UInt8(ascii: ":"))
            _ = try skipValue(depth: depth)
            if try endOfContainer(UInt8(ascii: "}")) { return }
        }
    }

    mutating func skipArray(depth: Int) throws(JSONError) {
        guard depth <= maxDepth else { throw JSONError(.tooDeep, at: position) }
        position += 1
        if try peek() == UInt8(ascii: "]") {
            position += 1
            return
        }
        while true {
            _ = try skipValue(depth: depth)
            if try endOfContainer(UInt8(ascii: "]")) { return }
        }
    }

    /// After a member or element: consumes `,` (returns false) or `close` (returns true).
    public mutating func endOfContainer(_ close: UInt8) throws(JSONError) -> Bool {
        let next = try peek()
        position += 1
        if next == UInt8(ascii: ",") { return false }
        if next == close { return true }
        throw JSONError(.unexpectedByte, at: position - 1)
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let length = literal.utf8CodeUnitCount
        guard position + length <= bytes.count else { throw JSONError(.unexpectedEnd, at: bytes.count) }
        let base = literal.utf8Start
        for i in 0..<length where bytes[position + i] != base[i] {
            throw JSONError(.unexpectedByte, at: position + i)
        }
        position += length
    }

    /// Validates a number by the RFC 8259 grammar and consumes it.
    public mutating func scanNumber() throws(JSONError) {
        let start = position
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position) }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else if isDigit1to9(bytes[position]) {
            skipDigits()
        } else {
            throw JSONError(position == start ? .unexpectedByte : .invalidNumber, at: position)
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw JSONError(.invalidNumber, at: position)
            }
            skipDigits()
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw JSONError(.invalidNumber, at: position)
            }
            skipDigits()
        }
    }

    @inline(__always) mutating func skipDigits() {
        while position < bytes.count, isDigit(bytes[position]) { position += 1 }
    }

    /// Validates a string starting at `"` and consumes it.
    ///
    /// - Returns: the span of the contents (without quotes) and whether it holds escapes.
    public mutating func scanString() throws(JSONError) -> (contents: Range<Int>, hasEscapes: Bool) {
        position += 1
        let start = position
        var hasEscapes = false
        while true {
            skipPlainASCII()
            guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position) }
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                position += 1
                return (start..<(position - 1), hasEscapes)
            } else if b == UInt8(ascii: "\\") {
                hasEscapes = true
                try scanEscape()
            } else if b < 0x20 {
                throw JSONError(.invalidString, at: position)
            } else if b < 0x80 {
                position += 1
            } else {
                try scanUTF8Sequence()
            }
        }
    }

    /// Skips, eight bytes at a time, the bytes a string needs no check for.
    ///
    /// Those are ASCII from 0x20 up that is neither `"` nor `\`. It stops at the first byte
    /// that is anything else; the byte-by-byte loop then looks at it.
    @inline(__always)
    mutating func skipPlainASCII() {
        guard let base = bytes.baseAddress else { return }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while position + 8 <= bytes.count {
            let w = UInt64(littleEndian: UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
            // A byte ≥ 0x80, a byte < 0x20, a quote or a backslash sets that byte's high bit.
            // A borrow can also flag a plain byte above a special one, never below it: the
            // lowest flagged byte is the first special byte.
            let quote = w ^ (ones &* 0x22)
            let backslash = w ^ (ones &* 0x5C)
            let special =
                (w | (w &- ones &* 0x20) | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & highs
            guard special == 0 else {
                position += special.trailingZeroBitCount >> 3
                return
            }
            position += 8
        }
    }

    mutating func scanEscape() throws(JSONError) {
        position += 1
        guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position) }
        switch bytes[position] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
            UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 1
        case UInt8(ascii: "u"):
            let unit = try hex4(at: position + 1)
            position += 5
            if unit >= 0xD800 && unit <= 0xDBFF {
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw JSONError(.loneSurrogate, at: position) }
                let low = try hex4(at: position + 2)
                guard low >= 0xDC00 && low <= 0xDFFF else { throw JSONError(.loneSurrogate, at: position) }
                position += 6
            } else if unit >= 0xDC00 && unit <= 0xDFFF {
                throw JSONError(.loneSurrogate, at: position - 6)
            }
        default:
            throw JSONError(.invalidEscape, at: position)
        }
    }

    func hex4(at offset: Int) throws(JSONError) -> UInt16 {
        guard offset + 4 <= bytes.count else { throw JSONError(.unexpectedEnd, at: bytes.count) }
        var value: UInt16 = 0
        for i in 0..<4 {
            guard let digit = hexValue(bytes[offset + i]) else { throw JSONError(.invalidEscape, at: offset + i) }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates).
    mutating func scanUTF8Sequence() throws(JSONError) {
        let b0 = bytes[position]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            upper = 0x9F
        case 0xF0:
            length = 4
            lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            upper = 0x8F
        default: throw JSONError(.invalidUTF8, at: position)
        }
        guard position + length <= bytes.count else { throw JSONError(.invalidUTF8, at: position) }
        let b1 = bytes[position + 1]
        guard b1 >= lower && b1 <= upper else { throw JSONError(.invalidUTF8, at: position + 1) }
        for i in 2..<length where bytes[position + i] & 0xC0 != 0x80 {
            throw JSONError(.invalidUTF8, at: position + i)
        }
        position += length
    }

    /// Decodes the contents span of a string already validated by ``scanString()``.
    public func decodeString(_ contents: Range<Int>, hasEscapes: Bool) -> String {
        let raw = UnsafeBufferPointer(rebasing: bytes[contents])
        guard hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        return String(decoding: decodeBytes(contents), as: UTF8.self)
    }

    /// The UTF-8 bytes of a string validated by ``scanString()``, escapes decoded.
    public func decodeBytes(_ contents: Range<Int>) -> [UInt8] {
        let raw = UnsafeBufferPointer(rebasing: bytes[contents])
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let b = raw[i]
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(hex4Unchecked(raw, i))
                i += 4
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    let low = UInt32(hex4Unchecked(raw, i + 2))
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                // Validated above: never a lone surrogate, so the scalar exists.
                let s = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: String(Character(s)).utf8)
            default: out.append(e)
            }
        }
        return out
    }
}

@inline(__always) func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }
@inline(__always) func isDigit1to9(_ b: UInt8) -> Bool { b &- UInt8(ascii: "1") < 9 }

@inline(__always) func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
    default: nil
    }
}

func hex4Unchecked(_ raw: UnsafeBufferPointer<UInt8>, _ offset: Int) -> UInt16 {
    var value: UInt16 = 0
    for i in 0..<4 { value = value << 4 | UInt16(hexValue(raw[offset + i]) ?? 0) }
    return value
}
