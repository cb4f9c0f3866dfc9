import StrongroomJSON
import Testing

/// A fixed sequence of draws (a 64-bit LCG's high bits): the random tests repeat exactly.
private struct Draws {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    /// A number in `0..<bound`.
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }
}

@Suite("Strict JSON reader")
struct JSONReaderTests {
    @Test(
        "refuses what RFC 8259 and I-JSON refuse",
        arguments: [
            "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "+1", "\"\\x\"", "\"a\u{01}\"", "[1 2]",
            "{\"a\" 1}", "{\"a\":1,\"a\":2}", "\"\\ud800\"", "\"\\udc00x\"", "tru", "nul", "[1]]", "{} x", "NaN",
        ]
    )
    func refuses(text: String) {
        #expect(throws: JSONError.self) { try JSONValue(parsing: text) }
    }

    @Test("refuses invalid UTF-8 inside strings")
    func invalidUTF8() {
        for bytes: [UInt8] in [
            [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22],
            [0x22, 0xE2, 0x82, 0x22],
        ] {
            #expect(throws: JSONError.self) { try JSONValue(parsing: bytes) }
        }
    }

    @Test("nesting deeper than the limit is refused, not a crash")
    func depth() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONError.self) { try JSONValue(parsing: deep) }
        #expect(throws: Never.self) { try JSONValue(parsing: "[[[[1]]]]", maxDepth: 4) }
    }

    @Test("numbers keep their text, strings decode escapes")
    func exactValues() throws {
        let value = try JSONValue(
            parsing: #" {"big": 123456789012345678901234567890, "m": 12500.00, "s": "a\"\u00e9\ud83d\ude00\n"} "#
        )
        #expect(value["big"] == .number("123456789012345678901234567890"))
        #expect(value["m"] == .number("12500.00"))
        #expect(value["s"] == .string("a\"é😀\n"))
        #expect(value.jsonText == #"{"big":123456789012345678901234567890,"m":12500.00,"s":"a\"é😀\n"}"#)
    }

    @Test("errors carry the offset and never the text")
    func errorsCarryNoData() {
        do {
            _ = try JSONValue(parsing: #"{"ssn":"123-45-6789",}"#)
            Issue.record("accepted")
        } catch {
            #expect(error.offset == 21)
            #expect(!error.description.contains("123-45"))
        }
    }
}

@Suite("JSON path matching")
struct JSONPathSetTests {
    @Test("finds tagged spans in document order with RFC 6901 pointers")
    func matches() throws {
        var set = JSONPathSet()
        set.insert([.member("ssn")], tag: 0)
        set.insert([.member("address")], tag: 1)
        set.insert([.member("phones"), .anyElement], tag: 2)
        set.insert([.member("a/b~c")], tag: 3)
        let text = Array(
            #"{"address":{"city":"X"}, "ssn" : "1", "n":[1,{"ssn":2}],"phones":["p0","p1"],"a/b~c":null}"#.utf8
        )
        let found = try text.withUnsafeBufferPointer { try set.matches(in: $0) }
        #expect(found.map(\.pointer) == ["/address", "/ssn", "/phones/0", "/phones/1", "/a~1b~0c"])
        #expect(
            found.map { String(decoding: text[$0.span], as: UTF8.self) } == [
                #"{"city":"X"}"#, #""1""#, #""p0""#, #""p1""#, "null",
            ]
        )
    }

    @Test("pointer tokens are escaped and split by bytes: a slash or tilde before a combining mark still counts")
    func pointerBytes() throws {
        // "/\u{301}" is one Swift Character: comparing Characters would leave this slash raw, and
        // the member "x/\u{301}" would share its pointer with the member "\u{301}" inside "x".
        #expect(JSONPathSet.escapePointerToken("x/\u{301}") == "x~1\u{301}")
        #expect(JSONPathSet.escapePointerToken("~\u{301}") == "~0\u{301}")
        #expect(JSONPathSet.pointerTokens("/x~1\u{301}/\u{301}") == ["x/\u{301}", "\u{301}"])
        #expect(JSONPathSet.pointerTokens("/a/\u{301}b", unescape: false) == ["a", "\u{301}b"])
        #expect(JSONPathSet.unescapePointerToken("~01~1") == "~1/")
        var set = JSONPathSet()
        set.insert([.member("x/\u{301}")], tag: 0)
        set.insert([.member("x"), .member("\u{301}")], tag: 1)
        let text = Array(#"{"x/\#u{301}":1,"x":{"\#u{301}":2}}"#.utf8)
        let found = try text.withUnsafeBufferPointer { try set.matches(in: $0) }
        #expect(found.map(\.pointer) == ["/x~1\u{301}", "/x/\u{301}"])
        #expect(Set(found.map(\.pointer)).count == 2)
    }

    @Test("duplicate member names are refused by their bytes: escaped or not, in small and large objects")
    func duplicateNames() throws {
        for text in [
            #"{"a":1,"a":2}"#, #"{"a":1,"\u0061":2}"#, #"{"\u0061":1,"a":2}"#, #"{"\u0061":1,"\u0061":2}"#,
            #"{"x":{"b":1,"c":2,"b":3}}"#,
        ] {
            #expect(throws: JSONError.self, "\(text)") { try JSONValue(parsing: text) }
        }
        // Forty members, then one of them again: past the point where names go into a set.
        let many = (0..<40).map { #""k\#($0)":\#($0)"# }
        #expect(throws: JSONError.self) {
            try JSONValue(parsing: "{" + (many + [#""k7":0"#]).joined(separator: ",") + "}")
        }
        #expect(throws: JSONError.self) {
            try JSONValue(parsing: "{" + (many + [#""k\u0037":0"#]).joined(separator: ",") + "}")
        }
        let object = try JSONValue(parsing: "{" + many.joined(separator: ",") + "}")
        #expect(object.objectMembers?.count == 40)
        // Names differing only by Unicode normalization are two names (no canonical equivalence).
        let nfc = try JSONValue(parsing: "{\"\u{E9}\":1,\"e\u{301}\":2}")
        #expect(nfc.objectMembers?.count == 2)
        // The same name in two objects is not a duplicate.
        #expect(try JSONValue(parsing: #"{"a":{"a":1},"b":{"a":2}}"#)["b"]?["a"] == .number("2"))
    }

    @Test("duplicates are found exactly as a set of the names finds them, with names that often share a filter bit")
    func duplicateNamesRandom() throws {
        // Short names over a tiny alphabet: equal lengths and end bytes everywhere, so the
        // one-bit-per-name filter is often set by another name and the bytes decide.
        var draws = Draws(seed: 0x5EED_0F_D0_0B1E)
        func next(_ bound: Int) -> Int { draws.next(bound) }
        var set = JSONPathSet()
        set.insert([.member("ab")], tag: 0)
        var refused = 0
        for _ in 0..<20_000 {
            // Mostly small objects; one in eight past 32 members, where names go into a set.
            let large = next(8) == 0
            let names = (0..<(large ? 30 + next(10) : 1 + next(12))).map { _ in
                String((0..<(large ? 3 + next(4) : next(5))).map { _ in ["a", "b", "\u{E9}"][next(3)] as Character })
            }
            // Some names escaped: the duplicate check compares decoded bytes.
            let members = names.enumerated().map { i, name in
                let written = next(4) == 0 && name.hasPrefix("a") ? "\\u0061" + name.dropFirst() : name
                return "\"\(written)\":\(i)"
            }
            let text = "{" + members.joined(separator: ",") + "}"
            let duplicated = Set(names.map { Array($0.utf8) }).count != names.count
            let parsed = try? JSONValue(parsing: text)
            #expect((parsed == nil) == duplicated, "\(text)")
            let scanned = try? Array(text.utf8).withUnsafeBufferPointer { try set.matches(in: $0) }
            #expect((scanned == nil) == duplicated, "\(text)")
            if duplicated { refused += 1 }
        }
        // Both outcomes were exercised many times.
        #expect(refused > 2_000 && refused < 18_000)
    }

    @Test("a parser kept across documents gives what a one-off parse gives, names changed in place or not")
    func reusedParser() throws {
        var draws = Draws(seed: 0xFACE_0FF_5EED)
        func next(_ bound: Int) -> Int { draws.next(bound) }
        // Names of one length that differ in one byte: a reuse that compared less than every
        // byte would give the previous document's name.
        // As written, and as decoded: an escaped name and its plain twin are the same name.
        let alphabet: [(written: String, name: String)] = [
            ("id", "id"), ("ix", "ix"), ("xd", "xd"), ("name", "name"), ("namf", "namf"), ("n\\u0061me", "name"),
            ("\\u00e9t\\u00e9", "été"), ("été", "été"), ("a", "a"), ("b", "b"),
        ]
        func document(_ depth: Int) -> String {
            let count = next(depth == 0 ? 40 : 6)
            var used = Set<String>()
            var members: [String] = []
            for i in 0..<count {
                let pick = alphabet[next(alphabet.count)]
                let suffix = next(3) == 0 ? "\(i % 3)" : ""
                var name = pick.written + suffix
                if used.contains(pick.name + suffix) { name += "_\(i)" }
                used.insert(pick.name + suffix)
                let value: String
                switch next(depth < 3 ? 5 : 3) {
                case 0: value = "\(next(1000))"
                case 1: value = "\"v\(next(10))\""
                case 2: value = "null"
                case 3: value = document(depth + 1)
                default: value = "[" + (0..<next(3)).map { _ in document(depth + 1) }.joined(separator: ",") + "]"
                }
                members.append("\"\(name)\":\(value)")
            }
            return "{" + members.joined(separator: ",") + "}"
        }
        var parser = JSONValue.Parser()
        var parsed = 0
        var refused = 0
        for round in 0..<4_000 {
            var text = document(0)
            // Now and then a broken document: the parser must still be right on the next one.
            if round % 17 == 0 { text = String(text.dropLast(1 + next(4))) }
            let bytes = Array(text.utf8)
            let expected = try? JSONValue(parsing: bytes)
            let reused = try? parser.parse(bytes)
            #expect(reused == expected, "\(text)")
            if expected == nil { refused += 1 } else { parsed += 1 }
        }
        #expect(parsed > 3_000 && refused > 100)
        // More names than the parser keeps: past its capacity names are made afresh.
        let wide = "{" + (0..<700).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        for _ in 0..<2 { #expect(try parser.parse(Array(wide.utf8)) == JSONValue(parsing: wide)) }
    }

    @Test("a copy of a path set is its own: inserting into one leaves the other as it was")
    func copies() throws {
        var a = JSONPathSet()
        a.insert([.member("x"), .member("y")], tag: 1)
        var b = a
        b.insert([.member("x"), .member("z")], tag: 2)
        b.insert([.member("w"), .anyElement], tag: 3)
        a.insert([.member("v")], tag: 4)
        let text = Array(#"{"x":{"y":1,"z":2},"w":[5,6],"v":7}"#.utf8)
        let inA = try text.withUnsafeBufferPointer { try a.matches(in: $0) }
        let inB = try text.withUnsafeBufferPointer { try b.matches(in: $0) }
        #expect(inA.map(\.tag) == [1, 4])
        #expect(inB.map(\.tag) == [1, 2, 3, 3])
        #expect(inB.map(\.pointer) == ["/x/y", "/x/z", "/w/0", "/w/1"])
        // A path already in the copy is still refused there, and still accepted in a fresh set.
        let again = b.insert([.member("x"), .member("y")], tag: 9)
        #expect(!again)
    }

    @Test("a duplicate member name cannot hide a tagged field")
    func duplicates() {
        var set = JSONPathSet()
        set.insert([.member("ssn")], tag: 0)
        let text = Array(#"{"ssn":"sr1:x","ssn":"123-45-6789"}"#.utf8)
        #expect(throws: JSONError.self) { try text.withUnsafeBufferPointer { try set.matches(in: $0) } }
    }
}

@Suite("String scanning eight bytes at a time")
struct StringScanWordTests {
    /// Scans one JSON string; its decoded text, or nil when refused.
    func scan(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            guard let (contents, escaped) = try? scanner.scanString(), scanner.position == bytes.count else {
                return nil
            }
            return scanner.decodeString(contents, hasEscapes: escaped)
        }
    }

    @Test("every special byte is seen at every offset of a word, and plain runs pass whole")
    func everyOffset() {
        let specials: [(bytes: [UInt8], decoded: String?)] = [
            (Array(#"\""#.utf8), "\""), (Array(#"\\"#.utf8), "\\"), (Array(#"\n"#.utf8), "\n"),
            (Array(#"\u00e9"#.utf8), "é"), (Array("é".utf8), "é"), (Array("€".utf8), "€"), ([0x7F], "\u{7F}"),
            ([0x01], nil), ([0x1F], nil), ([0x0A], nil), ([0xFF], nil), ([0xC3], nil), ([0x80], nil),
            (Array(#"\x"#.utf8), nil),
        ]
        for before in 0..<20 {
            for after in [0, 1, 7, 8, 9] {
                for special in specials {
                    let text =
                        [UInt8](repeating: UInt8(ascii: "a"), count: before) + special.bytes
                        + [UInt8](repeating: UInt8(ascii: "b"), count: after)
                    let expected = special.decoded.map {
                        String(repeating: "a", count: before) + $0 + String(repeating: "b", count: after)
                    }
                    #expect(scan([0x22] + text + [0x22]) == expected, "\(before) \(special.bytes) \(after)")
                }
                // An unterminated string is refused wherever it ends.
                #expect(scan([0x22] + [UInt8](repeating: UInt8(ascii: "a"), count: before + after)) == nil)
            }
        }
    }
}
