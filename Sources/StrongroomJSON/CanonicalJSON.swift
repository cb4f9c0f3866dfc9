/// RFC 8785 JSON Canonicalization Scheme (JCS): the bytes signatures are computed over.
///
/// Objects are sorted by the UTF-16 code units of their keys, strings use the minimal
/// escapes, numbers are written as ECMAScript's `Number.prototype.toString` writes the
/// nearest IEEE-754 double.
public enum CanonicalJSON {
    /// How numbers that a double cannot hold exactly are treated.
    public enum NumberPolicy: Sendable {
        /// RFC 8785 as written: every number becomes its nearest double.
        case ieee754
        /// Refuse a number whose canonical form denotes a different decimal value
        /// (`12345678901234567891`, `0.10000000000000000001`): a signature must not
        /// cover a value other than the one the document states.
        case exact
    }

    /// The canonical bytes of `value`.
    public static func encode(_ value: JSONValue, numbers: NumberPolicy = .exact) throws(JSONError) -> [UInt8] {
        var out: [UInt8] = []
        try write(value, numbers: numbers, to: &out)
        return out
    }

    /// Parses `bytes` and returns their canonical form.
    public static func canonicalize(
        _ bytes: some Collection<UInt8>,
        numbers: NumberPolicy = .exact
    ) throws(JSONError)
        -> [UInt8]
    {
        try encode(JSONValue(parsing: bytes), numbers: numbers)
    }

    static func write(_ value: JSONValue, numbers: NumberPolicy, to out: inout [UInt8]) throws(JSONError) {
        switch value {
        case .null, .bool, .string: value.write(to: &out)
        case .number(let text): out.append(contentsOf: try canonicalNumber(text, policy: numbers).utf8)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try write(e, numbers: numbers, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let sorted = members.sorted { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) }
            for (i, m) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(m.key, to: &out)
                out.append(UInt8(ascii: ":"))
                try write(m.value, numbers: numbers, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The ECMAScript form of the double nearest to the number `text`.
    public static func canonicalNumber(_ text: String, policy: NumberPolicy = .ieee754) throws(JSONError) -> String {
        guard let double = Double(text), double.isFinite else { throw JSONError(.numberNotRepresentable, at: 0) }
        let result = es6String(double)
        if policy == .exact, DecimalDigits(text) != DecimalDigits(result) {
            throw JSONError(.numberPrecisionLoss, at: 0)
        }
        return result
    }

    /// ECMAScript `Number::toString` (ECMA-262 §6.1.6.1.20) for a finite double.
    public static func es6String(_ value: Double) -> String {
        if value == 0 { return "0" }
        // Swift prints the shortest digits that round-trip, nearest to the value when
        // several do: exactly the digits ECMAScript asks for. Only the layout differs.
        let shortest = DecimalDigits(value.magnitude.description)
        let digits = shortest.digits
        let k = digits.count
        let n = shortest.exponent + k
        var s = value < 0 ? "-" : ""
        if k <= n && n <= 21 {
            s += digits + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            s += digits.prefix(n) + "." + digits.dropFirst(n)
        } else if -6 < n && n <= 0 {
            s += "0." + String(repeating: "0", count: -n) + digits
        } else {
            let e = n - 1
            s += digits.prefix(1)
            if k > 1 { s += "." + digits.dropFirst() }
            s += "e" + (e < 0 ? "-" : "+") + String(e.magnitude)
        }
        return s
    }
}

/// A decimal number as significant digits × 10^exponent, for exact comparison.
struct DecimalDigits: Equatable {
    var negative = false
    /// Significant digits, no leading or trailing zeros ("" for zero).
    var digits = ""
    var exponent = 0

    /// Reads JSON or Swift number text (`-12.50e+3`, `1.0`, `5e-324`).
    init(_ text: String) {
        var mantissa: [UInt8] = []
        var exponent = 0
        var fractionDigits = 0
        var inFraction = false
        var utf8 = Substring(text).utf8[...]
        if utf8.first == UInt8(ascii: "-") {
            negative = true
            utf8 = utf8.dropFirst()
        }
        while let b = utf8.first {
            if isDigit(b) {
                mantissa.append(b)
                if inFraction { fractionDigits += 1 }
            } else if b == UInt8(ascii: ".") {
                inFraction = true
            } else if b | 0x20 == UInt8(ascii: "e") {
                exponent = Int(String(decoding: utf8.dropFirst(), as: UTF8.self)) ?? 0
                break
            }
            utf8 = utf8.dropFirst()
        }
        exponent -= fractionDigits
        while mantissa.last == UInt8(ascii: "0") {
            mantissa.removeLast()
            exponent += 1
        }
        let leading = mantissa.prefix { $0 == UInt8(ascii: "0") }.count
        mantissa.removeFirst(leading)
        if mantissa.isEmpty {
            negative = false
            exponent = 0
        }
        self.digits = String(decoding: mantissa, as: UTF8.self)
        self.exponent = exponent
    }
}
