import Foundation
import StrongroomJSON

/// The detectors' byte scanners.
///
/// Every rule reads the string's UTF-8 bytes in place and allocates only for the rare JWT
/// candidate it must decode.
enum DLPRules {
    typealias Bytes = UnsafeBufferPointer<UInt8>

    /// The enabled detectors as flags, so the hot path tests a bit rather than hashes.
    struct Enabled: Sendable {
        let bits: UInt16

        init(_ detectors: Set<DLPDetector>) {
            var bits: UInt16 = 0
            for (index, detector) in DLPDetector.allCases.enumerated() where detectors.contains(detector) {
                bits |= 1 << index
            }
            self.bits = bits
        }

        func has(_ index: Int) -> Bool { bits & (1 << index) != 0 }
    }

    /// Counts from one cheap pass, used to skip detectors that cannot fire.
    struct Profile {
        var digits = 0
        /// The most digits in one cluster (digits at most two bytes apart, with no letter between).
        ///
        /// An SSN, a card number and a NANP number each lie in one cluster (their
        /// separators are one or two of `-`, space, `.`, `(`, `)`), so a string whose clusters
        /// are all shorter than the number cannot hold it.
        var cluster = 0
        var uppers = 0
        var dots = 0
        var hasAt = false
        var hasPlus = false
        var hasDash = false

        init(_ s: Bytes) {
            var run = 0
            var gap = 0
            for b in s {
                if isDigit(b) {
                    digits += 1
                    run += 1
                    gap = 0
                    if run > cluster { cluster = run }
                    continue
                }
                if isLetter(b) {
                    run = 0
                } else {
                    gap += 1
                    if gap > 2 { run = 0 }
                }
                if isUpper(b) {
                    uppers += 1
                } else {
                    switch b {
                    case dot: dots += 1
                    case at: hasAt = true
                    case plus: hasPlus = true
                    case dash: hasDash = true
                    default: break
                    }
                }
            }
        }
    }

    static func detect(_ s: Bytes, _ enabled: Enabled) -> [DLPDetector] {
        let n = s.count
        // No detector fires on fewer than 6 bytes (a@b.co).
        guard n >= 6 else { return [] }
        let p = Profile(s)
        var found: [DLPDetector] = []
        if enabled.has(0), p.cluster >= 9, n >= 11, containsSSN(s) { found.append(.ssn) }
        if enabled.has(1), p.cluster >= 13, containsPaymentCard(s) { found.append(.paymentCard) }
        if enabled.has(2), p.uppers >= 2, p.digits >= 2, n >= 15, containsIBAN(s) { found.append(.iban) }
        if enabled.has(3), p.hasAt, p.dots >= 1, containsEmail(s) { found.append(.email) }
        if enabled.has(4), p.digits >= 8, (p.hasPlus && containsE164(s)) || (p.cluster >= 10 && containsNANP(s)) {
            found.append(.phone)
        }
        if enabled.has(5), p.uppers >= 4, n >= 20, containsAWSAccessKey(s) { found.append(.awsAccessKey) }
        if enabled.has(6), p.hasDash, n >= 27, containsPrivateKey(s) { found.append(.privateKey) }
        if enabled.has(7), p.dots >= 2, n >= 30, containsJWT(s) { found.append(.jwt) }
        if enabled.has(8), n >= 24, containsHighEntropyToken(s) { found.append(.highEntropyToken) }
        return found
    }

    // MARK: Bytes

    static let dot = UInt8(ascii: ".")
    static let at = UInt8(ascii: "@")
    static let plus = UInt8(ascii: "+")
    static let dash = UInt8(ascii: "-")
    static let space = UInt8(ascii: " ")
    static let openParen = UInt8(ascii: "(")
    static let closeParen = UInt8(ascii: ")")

    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
    @inline(__always) static func isUpper(_ b: UInt8) -> Bool { b &- 0x41 < 26 }
    @inline(__always) static func isLower(_ b: UInt8) -> Bool { b &- 0x61 < 26 }
    @inline(__always) static func isLetter(_ b: UInt8) -> Bool { isUpper(b) || isLower(b) }
    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool { isDigit(b) || isUpper(b) || isLower(b) }
    @inline(__always) static func isHex(_ b: UInt8) -> Bool { isDigit(b) || b &- 0x61 < 6 || b &- 0x41 < 6 }
    @inline(__always) static func value(_ b: UInt8) -> Int { Int(b &- 0x30) }

    /// True when the bytes at `i` are `literal`.
    static func has(_ s: Bytes, _ i: Int, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard i >= 0, i + count <= s.count else { return false }
        let lit = literal.utf8Start
        for k in 0..<count where s[i + k] != lit[k] { return false }
        return true
    }

    // MARK: SSN

    /// `ddd-dd-dddd` or `ddd dd dddd` between non-digits, with SSA's never-issued
    /// areas (000, 666, 900–999), group 00 and serial 0000 excluded.
    static func containsSSN(_ s: Bytes) -> Bool {
        var i = 0
        while i + 11 <= s.count {
            if isDigit(s[i]), i == 0 || !isDigit(s[i - 1]), isSSN(s, at: i) { return true }
            i += 1
        }
        return false
    }

    static func isSSN(_ s: Bytes, at i: Int) -> Bool {
        let sep = s[i + 3]
        guard sep == dash || sep == space, s[i + 6] == sep else { return false }
        guard isDigit(s[i + 1]), isDigit(s[i + 2]), isDigit(s[i + 4]), isDigit(s[i + 5]) else { return false }
        guard isDigit(s[i + 7]), isDigit(s[i + 8]), isDigit(s[i + 9]), isDigit(s[i + 10]) else { return false }
        let end = i + 11
        guard end == s.count || !isDigit(s[end]) else { return false }
        // Part of a longer chain of digit groups (`12-123-45-6789`, `123-45-6789-01`): an id.
        if i >= 2, s[i - 1] == sep, isDigit(s[i - 2]) { return false }
        if end + 1 < s.count, s[end] == sep, isDigit(s[end + 1]) { return false }
        let area = value(s[i]) * 100 + value(s[i + 1]) * 10 + value(s[i + 2])
        let group = value(s[i + 4]) * 10 + value(s[i + 5])
        let serial = value(s[i + 7]) * 1000 + value(s[i + 8]) * 100 + value(s[i + 9]) * 10 + value(s[i + 10])
        return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
    }

    // MARK: Payment card

    /// 13–19 digits, plain or in groups joined by one space or one dash, between non-alphanumerics,
    /// Luhn-valid and of a known brand at a length that brand issues.
    static func containsPaymentCard(_ s: Bytes) -> Bool {
        let n = s.count
        var i = 0
        while i < n {
            guard isDigit(s[i]) else {
                i += 1
                continue
            }
            // s[i] starts a digit run (the previous byte is not a digit).
            let start = i
            var sep: UInt8 = 0
            var groups = 0
            var total = 0
            var groupingOK = true
            while true {
                let groupStart = i
                while i < n, isDigit(s[i]) { i += 1 }
                let length = i - groupStart
                total += length
                groups += 1
                // A plain run between two dash groups is an id segment (a traceparent's span id).
                let group = groupStart..<i
                if length >= 13, length <= 19, !isGlued(s, group),
                    !(isDashChained(s, before: group) && isDashChained(s, after: group)), isCard(s, group)
                {
                    return true
                }
                // Printed cards group as 4-4-4-4, 4-6-5, 4-6-4 or 4-4-4-4-3.
                if groups == 1 ? length != 4 : length < 3 || length > 6 { groupingOK = false }
                guard i + 1 < n, s[i] == space || s[i] == dash, sep == 0 || sep == s[i], isDigit(s[i + 1]) else {
                    break
                }
                sep = s[i]
                i += 1
            }
            if groups > 1, groupingOK, total >= 13, total <= 19, !isGlued(s, start..<i),
                sep != dash || !(isDashChained(s, before: start..<i) || isDashChained(s, after: start..<i)),
                isCard(s, start..<i)
            {
                return true
            }
        }
        return false
    }

    /// Digits touching a letter are part of an identifier or a hex string (`…-4094-9312-83948b5b…`
    /// in a UUID), not a card number written out.
    static func isGlued(_ s: Bytes, _ range: Range<Int>) -> Bool {
        (range.lowerBound > 0 && isLetter(s[range.lowerBound - 1]))
            || (range.upperBound < s.count && isLetter(s[range.upperBound]))
    }

    /// Dash-joined groups continuing beyond the candidate (`a1b2-4111-1111-1111-1111-ff`): an id.
    static func isDashChained(_ s: Bytes, before range: Range<Int>) -> Bool {
        range.lowerBound >= 2 && s[range.lowerBound - 1] == dash && isAlnum(s[range.lowerBound - 2])
    }

    static func isDashChained(_ s: Bytes, after range: Range<Int>) -> Bool {
        range.upperBound + 1 < s.count && s[range.upperBound] == dash && isAlnum(s[range.upperBound + 1])
    }

    static func isCard(_ s: Bytes, _ range: Range<Int>) -> Bool {
        var sum = 0
        var count = 0
        var index = range.upperBound - 1
        while index >= range.lowerBound {
            let b = s[index]
            if isDigit(b) {
                var d = value(b)
                if count & 1 == 1 {
                    d *= 2
                    if d > 9 { d -= 9 }
                }
                sum += d
                count += 1
            }
            index -= 1
        }
        guard sum % 10 == 0 else { return false }
        var prefix = 0
        var taken = 0
        for index in range where taken < 4 && isDigit(s[index]) {
            prefix = prefix * 10 + value(s[index])
            taken += 1
        }
        return cardBrandAccepts(prefix4: prefix, length: count)
    }

    /// IIN ranges and lengths: Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay.
    static func cardBrandAccepts(prefix4 p4: Int, length: Int) -> Bool {
        let p1 = p4 / 1000
        let p2 = p4 / 100
        let p3 = p4 / 10
        if p1 == 4 { return length == 13 || length == 16 || length == 19 }
        if (51...55).contains(p2) || (2221...2720).contains(p4) { return length == 16 }
        if p2 == 34 || p2 == 37 { return length == 15 }
        if p4 == 6011 || p2 == 65 || (644...649).contains(p3) { return (16...19).contains(length) }
        if (3528...3589).contains(p4) { return (16...19).contains(length) }
        if p2 == 36 || p2 == 38 || (300...305).contains(p3) { return (14...19).contains(length) }
        if p2 == 62 { return (16...19).contains(length) }
        return false
    }

    // MARK: IBAN

    /// Country code, two check digits, the BBAN; compact or spaced every four characters;
    /// exactly the registry length for the country; ISO 7064 mod 97-10 remainder 1.
    static func containsIBAN(_ s: Bytes) -> Bool {
        let n = s.count
        var i = 0
        while i + 15 <= n {
            if isUpper(s[i]), isUpper(s[i + 1]), i == 0 || !isAlnum(s[i - 1]),
                let length = IBANRegistry.length(s[i], s[i + 1]), isIBAN(s, at: i, length: length)
            {
                return true
            }
            i += 1
        }
        return false
    }

    static func isIBAN(_ s: Bytes, at i: Int, length: Int) -> Bool {
        let n = s.count
        guard isDigit(s[i + 2]), isDigit(s[i + 3]) else { return false }
        let spaced = i + 4 < n && s[i + 4] == space
        var j = i
        var k = 0
        while k < length {
            if spaced, k > 0, k % 4 == 0 {
                guard j < n, s[j] == space else { return false }
                j += 1
            }
            guard j < n, isUpper(s[j]) || isDigit(s[j]) else { return false }
            j += 1
            k += 1
        }
        guard j == n || !isAlnum(s[j]) else { return false }
        // Move the first four characters to the end; letters count as 10...35.
        var remainder = 0
        for index in (i + 4)..<j where s[index] != space { remainder = mod97(remainder, s[index]) }
        for index in i..<(i + 4) { remainder = mod97(remainder, s[index]) }
        return remainder == 1
    }

    @inline(__always) static func mod97(_ remainder: Int, _ b: UInt8) -> Int {
        isDigit(b) ? (remainder * 10 + value(b)) % 97 : (remainder * 100 + Int(b - 55)) % 97
    }

    // MARK: E-mail

    /// RFC 5322 atext: letters, digits and `!#$%&'*+-/=?^_`{|}~`.
    static func isAtext(_ b: UInt8) -> Bool {
        if isAlnum(b) { return true }
        switch b {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
            UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
            UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// A dot-atom local part, `@`, two or more DNS labels, the last of 2+ letters.
    static func containsEmail(_ s: Bytes) -> Bool {
        for index in 0..<s.count where s[index] == at {
            if isEmail(s, at: index) { return true }
        }
        return false
    }

    static func isEmail(_ s: Bytes, at sign: Int) -> Bool {
        let n = s.count
        // Local part: atext runs joined by single dots, ending right before "@".
        guard sign > 0, isAtext(s[sign - 1]) else { return false }
        var start = sign - 1
        while start > 0 {
            let c = s[start - 1]
            if isAtext(c) {
                start -= 1
            } else if c == dot, start >= 2, isAtext(s[start - 2]) {
                start -= 1
            } else {
                break
            }
        }
        guard sign - start <= 64 else { return false }
        // Domain: labels of letters, digits and inner hyphens, joined by single dots.
        var j = sign + 1
        var labels = 0
        var tldLetters = true
        var tldLength = 0
        while true {
            let labelStart = j
            var letters = true
            while j < n, isAlnum(s[j]) || s[j] == dash {
                if !isUpper(s[j]) && !isLower(s[j]) { letters = false }
                j += 1
            }
            let length = j - labelStart
            guard length > 0, length <= 63, s[labelStart] != dash, s[j - 1] != dash else { return false }
            labels += 1
            tldLetters = letters
            tldLength = length
            // A dot continues the domain only when a label follows ("a@b.com." ends a sentence).
            guard j + 1 < n, s[j] == dot, isAlnum(s[j + 1]) else { break }
            j += 1
        }
        return labels >= 2 && tldLetters && tldLength >= 2
    }

    // MARK: Phone

    /// `+`, a country code not starting with 0, 8–15 digits in all, groups joined by one
    /// space, dash or dot, optionally around parentheses.
    static func containsE164(_ s: Bytes) -> Bool {
        for index in 0..<s.count where s[index] == plus {
            if isE164(s, at: index) { return true }
        }
        return false
    }

    static func isE164(_ s: Bytes, at p: Int) -> Bool {
        let n = s.count
        guard p == 0 || !isAlnum(s[p - 1]), p + 1 < n, isDigit(s[p + 1]), s[p + 1] != UInt8(ascii: "0") else {
            return false
        }
        var j = p + 1
        var digits = 0
        var groups = 0
        var firstGroup = 0
        var dots = 0
        var open = false
        while true {
            let groupStart = j
            while j < n, isDigit(s[j]) { j += 1 }
            digits += j - groupStart
            groups += 1
            if groups == 1 { firstGroup = j - groupStart }
            guard digits <= 15 else { return false }
            var k = j
            if open, k < n, s[k] == closeParen {
                open = false
                k += 1
            }
            if k < n, s[k] == space || s[k] == dash || s[k] == dot {
                if s[k] == dot { dots += 1 }
                k += 1
            }
            if !open, k < n, s[k] == openParen {
                open = true
                k += 1
            }
            guard k > j, k < n, isDigit(s[k]) else { break }
            j = k
        }
        guard digits >= 8, !open else { return false }
        // Grouped numbers start with the 1–3 digit country code; this also keeps out
        // `+2025-01-15` and amounts such as `+12345678.90`.
        if groups > 1 && firstGroup > 3 { return false }
        if groups == 2 && dots == 1 { return false }
        return true
    }

    /// `(NXX) NXX-XXXX`, `NXX-NXX-XXXX` or `NXX.NXX.XXXX` with N in 2–9, between non-digits.
    static func containsNANP(_ s: Bytes) -> Bool {
        let n = s.count
        var i = 0
        while i + 12 <= n {
            if s[i] == openParen {
                if isParenthesizedNANP(s, at: i) { return true }
            } else if isDigit(s[i]), i == 0 || !isDigit(s[i - 1]), isSeparatedNANP(s, at: i) {
                return true
            }
            i += 1
        }
        return false
    }

    static func isAreaAndExchange(_ s: Bytes, area a: Int, exchange e: Int) -> Bool {
        guard isDigit(s[a]), isDigit(s[a + 1]), isDigit(s[a + 2]), s[a] >= UInt8(ascii: "2") else { return false }
        // N11 codes (411, 911) are service codes, not area codes.
        guard !(s[a + 1] == UInt8(ascii: "1") && s[a + 2] == UInt8(ascii: "1")) else { return false }
        return isDigit(s[e]) && isDigit(s[e + 1]) && isDigit(s[e + 2]) && s[e] >= UInt8(ascii: "2")
    }

    static func isLine(_ s: Bytes, at l: Int) -> Bool {
        guard l + 4 <= s.count, isDigit(s[l]), isDigit(s[l + 1]), isDigit(s[l + 2]), isDigit(s[l + 3]) else {
            return false
        }
        return l + 4 == s.count || !isDigit(s[l + 4])
    }

    static func isParenthesizedNANP(_ s: Bytes, at i: Int) -> Bool {
        // (415) 555-0100 or (415)555-0100
        guard i + 13 <= s.count, s[i + 4] == closeParen else { return false }
        let exchange = s[i + 5] == space ? i + 6 : i + 5
        guard exchange + 8 <= s.count, s[exchange + 3] == dash else { return false }
        return isAreaAndExchange(s, area: i + 1, exchange: exchange) && isLine(s, at: exchange + 4)
    }

    static func isSeparatedNANP(_ s: Bytes, at i: Int) -> Bool {
        let sep = s[i + 3]
        guard sep == dash || sep == dot, s[i + 7] == sep else { return false }
        guard isAreaAndExchange(s, area: i, exchange: i + 4), isLine(s, at: i + 8) else { return false }
        // Glued to more digit groups, it is an id; a leading "1-" is the country code.
        if i >= 2, s[i - 1] == sep, isDigit(s[i - 2]) {
            guard s[i - 2] == UInt8(ascii: "1"), i < 3 || !isDigit(s[i - 3]) else { return false }
        }
        let end = i + 12
        if end + 1 < s.count, s[end] == sep, isDigit(s[end + 1]) { return false }
        return true
    }

    // MARK: AWS access key id

    /// A known key-id prefix and 16 more of `[A-Z0-9]`, between non-alphanumerics.
    static func containsAWSAccessKey(_ s: Bytes) -> Bool {
        let n = s.count
        var i = 0
        while i + 20 <= n {
            if s[i] == UInt8(ascii: "A"), i == 0 || !isAlnum(s[i - 1]), hasAWSPrefix(s, at: i) {
                var ok = i + 20 == n || !isAlnum(s[i + 20])
                var k = i + 4
                while ok, k < i + 20 {
                    ok = isUpper(s[k]) || isDigit(s[k])
                    k += 1
                }
                if ok { return true }
            }
            i += 1
        }
        return false
    }

    static func hasAWSPrefix(_ s: Bytes, at i: Int) -> Bool {
        has(s, i, "AKIA") || has(s, i, "ASIA") || has(s, i, "AGPA") || has(s, i, "AIDA") || has(s, i, "AROA")
            || has(s, i, "ANPA") || has(s, i, "ANVA") || has(s, i, "AIPA")
    }

    // MARK: PEM private key

    /// `-----BEGIN (RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----`.
    static func containsPrivateKey(_ s: Bytes) -> Bool {
        var i = 0
        while i + 27 <= s.count {
            if s[i] == dash, has(s, i, "-----BEGIN ") {
                var k = i + 11
                for kind: StaticString in ["RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "] where has(s, k, kind) {
                    k += kind.utf8CodeUnitCount
                    break
                }
                if has(s, k, "PRIVATE KEY-----") { return true }
            }
            i += 1
        }
        return false
    }

    // MARK: JWT

    @inline(__always) static func isBase64URL(_ b: UInt8) -> Bool {
        isAlnum(b) || b == dash || b == UInt8(ascii: "_")
    }

    /// Three base64url segments, 30+ characters, decoding to a header with `alg` and a payload.
    ///
    /// Both must be JSON objects. The signature may be empty (`alg: none`).
    static func containsJWT(_ s: Bytes) -> Bool {
        let n = s.count
        var i = 0
        while i < n {
            guard isBase64URL(s[i]) else {
                i += 1
                continue
            }
            let start = i
            var dots = 0
            var firstDot = 0
            var secondDot = 0
            while i < n, isBase64URL(s[i]) || s[i] == dot {
                if s[i] == dot {
                    dots += 1
                    if dots == 1 { firstDot = i } else if dots == 2 { secondDot = i }
                }
                i += 1
            }
            if dots == 2, i - start >= 30,
                isJWT(s, header: start..<firstDot, payload: (firstDot + 1)..<secondDot)
            {
                return true
            }
        }
        return false
    }

    static func isJWT(_ s: Bytes, header: Range<Int>, payload: Range<Int>) -> Bool {
        // `{` encodes to a leading "e"; checking it first spares decoding most dotted runs.
        guard header.count >= 4, payload.count >= 4, s[header.lowerBound] == UInt8(ascii: "e"),
            s[payload.lowerBound] == UInt8(ascii: "e")
        else { return false }
        guard let headerJSON = decodeJSONObject(s, header), headerJSON["alg"] != nil else { return false }
        return decodeJSONObject(s, payload) != nil
    }

    static func decodeJSONObject(_ s: Bytes, _ range: Range<Int>) -> JSONValue? {
        guard range.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(range.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for index in range {
            guard let sextet = base64URLValue(s[index]) else { return nil }
            buffer = buffer << 6 | UInt32(sextet)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        guard let value = try? JSONValue(parsing: out, maxDepth: 16), case .object = value else { return nil }
        return value
    }

    static func base64URLValue(_ b: UInt8) -> UInt8? {
        if isUpper(b) { return b - 0x41 }
        if isLower(b) { return b - 0x61 + 26 }
        if isDigit(b) { return b - 0x30 + 52 }
        if b == dash { return 62 }
        if b == UInt8(ascii: "_") { return 63 }
        return nil
    }

    // MARK: High-entropy token

    /// Minimum length of a base64-like run.
    static let tokenMinimumLength = 24
    /// Minimum Shannon entropy, bits per character, of a base64-like run.
    static let tokenMinimumEntropy = 4.0
    /// Minimum share of adjacent characters that change class (upper, lower, digit, mark):
    /// random base64 changes about 64% of the time, CamelCase words about 25%.
    static let tokenMinimumClassChanges = 0.35
    /// Maximum mean length of lower-case runs: about 1.7 in random base64, 3.4 in
    /// `iPhone15ProMaxDeepPurple256GBUnlocked`, more in other CamelCase text.
    static let tokenMaximumLowercaseRun = 3.0
    /// Minimum length of a hex run.
    static let hexMinimumLength = 32
    /// Minimum Shannon entropy, bits per character, of a hex run.
    static let hexMinimumEntropy = 3.0

    @inline(__always) static func isTokenByte(_ b: UInt8) -> Bool {
        isAlnum(b) || b == plus || b == UInt8(ascii: "/") || b == UInt8(ascii: "=") || b == UInt8(ascii: "_")
            || b == dash
    }

    static func containsHighEntropyToken(_ s: Bytes) -> Bool {
        let n = s.count
        var i = 0
        while i < n {
            guard isTokenByte(s[i]) else {
                i += 1
                continue
            }
            let start = i
            while i < n, isTokenByte(s[i]) { i += 1 }
            if i - start >= tokenMinimumLength, isRandomToken(s, start..<i) { return true }
        }
        i = 0
        while i < n {
            guard isHex(s[i]) else {
                i += 1
                continue
            }
            let start = i
            while i < n, isHex(s[i]) { i += 1 }
            if i - start >= hexMinimumLength, start == 0 || !isAlnum(s[start - 1]), i == n || !isAlnum(s[i]),
                isRandomHex(s, start..<i)
            {
                return true
            }
        }
        return false
    }

    /// Base64-like: upper, lower and digits present, classes changing often, entropy ≥ 4.
    ///
    /// A run of marks-heavy words (`/api/v2/Loans/…`, `Words+In+A+Query`) is judged piece by piece.
    static func isRandomToken(_ s: Bytes, _ range: Range<Int>) -> Bool {
        var uppers = 0
        var lowers = 0
        var digits = 0
        var hexOrDash = 0
        var changes = 0
        var lowerRuns = 0
        var previousClass = -1
        var slashes = 0
        var pluses = 0
        var underscores = 0
        var dashes = 0
        for index in range {
            let b = s[index]
            let cls: Int
            if isUpper(b) {
                uppers += 1
                cls = 0
            } else if isLower(b) {
                lowers += 1
                cls = 1
            } else if isDigit(b) {
                digits += 1
                cls = 2
            } else {
                switch b {
                case UInt8(ascii: "/"): slashes += 1
                case plus: pluses += 1
                case UInt8(ascii: "_"): underscores += 1
                case dash: dashes += 1
                default: break
                }
                cls = 3
            }
            if isHex(b) || b == dash { hexOrDash += 1 }
            if previousClass >= 0, cls != previousClass { changes += 1 }
            if cls == 1, previousClass != 1 { lowerRuns += 1 }
            previousClass = cls
        }
        let length = range.count
        let marks = max(slashes, pluses, underscores, dashes)
        if marks >= 3, marks * 12 >= length {
            return pieces(of: s, range, separatedBy: mark(slashes, pluses, underscores, dashes))
        }
        // Hex with dashes (UUIDs, dashed digests) is judged by the hex rule alone.
        guard hexOrDash < length, uppers > 0, lowers > 0, digits > 0 else { return false }
        guard Double(changes) >= tokenMinimumClassChanges * Double(length - 1) else { return false }
        guard Double(lowers) <= tokenMaximumLowercaseRun * Double(lowerRuns) else { return false }
        return entropy(s, range) >= tokenMinimumEntropy
    }

    static func mark(_ slashes: Int, _ pluses: Int, _ underscores: Int, _ dashes: Int) -> UInt8 {
        let top = max(slashes, pluses, underscores, dashes)
        if slashes == top { return UInt8(ascii: "/") }
        if pluses == top { return plus }
        if underscores == top { return UInt8(ascii: "_") }
        return dash
    }

    static func pieces(of s: Bytes, _ range: Range<Int>, separatedBy mark: UInt8) -> Bool {
        var start = range.lowerBound
        for index in range where s[index] == mark {
            if index - start >= tokenMinimumLength, isRandomToken(s, start..<index) { return true }
            start = index + 1
        }
        return range.upperBound - start >= tokenMinimumLength && isRandomToken(s, start..<range.upperBound)
    }

    /// Hex: digits and letters present, entropy ≥ 3, and not a dashless RFC 9562 UUID nor the
    /// trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-01`).
    static func isRandomHex(_ s: Bytes, _ range: Range<Int>) -> Bool {
        var digits = 0
        for index in range where isDigit(s[index]) { digits += 1 }
        guard digits > 0, digits < range.count else { return false }
        if range.count == 32 {
            if isTraceparent(s, traceID: range) { return false }
            // Version nibble 1–8 at index 12, variant 10xx at index 16: a UUID without dashes.
            let version = s[range.lowerBound + 12]
            let variant = s[range.lowerBound + 16] | 0x20
            if version >= UInt8(ascii: "1") && version <= UInt8(ascii: "8")
                && (variant == UInt8(ascii: "8") || variant == UInt8(ascii: "9") || variant == UInt8(ascii: "a")
                    || variant == UInt8(ascii: "b"))
            {
                return false
            }
        }
        return entropy(s, range) >= hexMinimumEntropy
    }

    static func isTraceparent(_ s: Bytes, traceID range: Range<Int>) -> Bool {
        let start = range.lowerBound
        let end = range.upperBound
        guard start >= 3, s[start - 1] == dash, isHex(s[start - 2]), isHex(s[start - 3]) else { return false }
        guard end + 20 <= s.count, s[end] == dash, s[end + 17] == dash else { return false }
        for index in (end + 1)..<(end + 17) where !isHex(s[index]) { return false }
        return isHex(s[end + 18]) && isHex(s[end + 19]) && (end + 20 == s.count || !isAlnum(s[end + 20]))
    }

    /// Shannon entropy of the bytes in `range`, in bits per byte.
    static func entropy(_ s: Bytes, _ range: Range<Int>) -> Double {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 128) { counts in
            counts.initialize(repeating: 0)
            for index in range where s[index] < 128 { counts[Int(s[index])] += 1 }
            let total = Double(range.count)
            var h = 0.0
            for c in counts where c > 0 {
                let p = Double(c) / total
                h -= p * log2(p)
            }
            return h
        }
    }
}
