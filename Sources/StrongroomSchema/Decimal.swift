/// An exact decimal read from JSON number text: sign, significant digits, exponent.
///
/// Comparisons and equality are exact at any size, so `minimum: 0.1` and a value of
/// `0.1000000000000000000001` compare as a bank expects, and big integers keep every digit.
struct ExactDecimal: Comparable, Hashable, Sendable {
    /// True for values below zero (zero is never negative).
    let negative: Bool
    /// Significant digits without leading or trailing zeros ("" for zero).
    let digits: [UInt8]
    /// The value is 0.digits × 10^exponent.
    let exponent: Int

    /// Parses RFC 8259 number text; nil for anything else.
    init?(_ text: String) {
        var bytes = Array(text.utf8)[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }
        var integer: [UInt8] = []
        var fraction: [UInt8] = []
        var exponent = 0
        while let c = bytes.first, c >= 0x30 && c <= 0x39 {
            integer.append(c - 0x30)
            bytes = bytes.dropFirst()
        }
        guard !integer.isEmpty else { return nil }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            while let c = bytes.first, c >= 0x30 && c <= 0x39 {
                fraction.append(c - 0x30)
                bytes = bytes.dropFirst()
            }
            guard !fraction.isEmpty else { return nil }
        }
        if let c = bytes.first, c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            var sign = 1
            if let s = bytes.first, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") {
                sign = s == UInt8(ascii: "-") ? -1 : 1
                bytes = bytes.dropFirst()
            }
            var e = 0
            var any = false
            while let d = bytes.first, d >= 0x30 && d <= 0x39 {
                // Exponents beyond a million digits are refused, not wrapped.
                guard e < 1_000_000 else { return nil }
                e = e * 10 + Int(d - 0x30)
                any = true
                bytes = bytes.dropFirst()
            }
            guard any else { return nil }
            exponent = sign * e
        }
        guard bytes.isEmpty else { return nil }
        var all = integer + fraction
        var pointPosition = integer.count + exponent
        while let first = all.first, first == 0 {
            all.removeFirst()
            pointPosition -= 1
        }
        while let last = all.last, last == 0 { all.removeLast() }
        if all.isEmpty {
            self.negative = false
            self.digits = []
            self.exponent = 0
        } else {
            self.negative = negative
            self.digits = all
            self.exponent = pointPosition
        }
    }

    /// True when the value has no fractional part (`1.0` and `1e2` are integers).
    var isInteger: Bool { digits.isEmpty || exponent >= digits.count }

    static func < (a: ExactDecimal, b: ExactDecimal) -> Bool {
        if a.negative != b.negative { return a.negative }
        let magnitude = compareMagnitude(a, b)
        return a.negative ? magnitude > 0 : magnitude < 0
    }

    /// -1, 0 or 1 comparing |a| with |b|.
    static func compareMagnitude(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
        if a.digits.isEmpty || b.digits.isEmpty {
            return a.digits.isEmpty ? (b.digits.isEmpty ? 0 : -1) : 1
        }
        if a.exponent != b.exponent { return a.exponent < b.exponent ? -1 : 1 }
        for i in 0..<max(a.digits.count, b.digits.count) {
            let x = i < a.digits.count ? a.digits[i] : 0
            let y = i < b.digits.count ? b.digits[i] : 0
            if x != y { return x < y ? -1 : 1 }
        }
        return 0
    }
}
