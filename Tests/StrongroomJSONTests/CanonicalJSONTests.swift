import Foundation
import StrongroomJSON
import StrongroomTestSupport
import Testing

@Suite("RFC 8785 canonicalization")
struct CanonicalJSONTests {
    static let names = ["arrays", "french", "structures", "unicode", "values", "weird"]

    @Test("shared vectors are present (required under CI)")
    func vectorsPresent() {
        if !TestSupport.vectorsAvailable {
            print("shared vectors not found at \(TestSupport.vectorsDirectory.path): vector tests skipped")
        }
        #expect(TestSupport.vectorsAvailable || !TestSupport.isCI)
    }

    @Test("cyberphone/json-canonicalization testdata: input → exact output bytes", arguments: names)
    func rfc8785Vectors(name: String) throws {
        guard TestSupport.vectorsAvailable else { return }
        let dir = TestSupport.vectorsDirectory.appendingPathComponent("rfc8785")
        let input = try Data(contentsOf: dir.appendingPathComponent("input/\(name).json"))
        let expected = try Data(contentsOf: dir.appendingPathComponent("output/\(name).json"))
        let canonical = try CanonicalJSON.canonicalize(input, numbers: .ieee754)
        #expect(canonical == Array(expected), "\(name)")
    }

    @Test("ES6 number samples from the RFC 8785 testdata README")
    func es6Samples() throws {
        guard TestSupport.vectorsAvailable else { return }
        let text = try String(
            contentsOf: TestSupport.vectorsDirectory.appendingPathComponent("rfc8785/es6_number_samples.txt"),
            encoding: .utf8
        )
        var count = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ",")
            guard parts.count == 2, let bits = UInt64(parts[0], radix: 16) else { continue }
            #expect(CanonicalJSON.es6String(Double(bitPattern: bits)) == String(parts[1]), "\(line)")
            count += 1
        }
        #expect(count == 7)
    }

    @Test(
        "RFC 8785 §3.2.2.3 number examples",
        arguments: [
            ("0", "0"), ("-0", "0"), ("1E30", "1e+30"), ("4.50", "4.5"), ("2e-3", "0.002"),
            ("0.000000000000000000000000001", "1e-27"), ("1e21", "1e+21"), ("1e20", "100000000000000000000"),
            ("123456789012345680000", "123456789012345680000"), ("-1.5e-7", "-1.5e-7"),
            ("333333333.33333329", "333333333.3333333"), ("9007199254740993", "9007199254740992"),
        ]
    )
    func numbers(input: String, expected: String) throws {
        #expect(try CanonicalJSON.canonicalNumber(input, policy: .ieee754) == expected)
    }

    @Test(
        "exact policy refuses numbers a double would change",
        arguments: [
            "9007199254740993", "12345678901234567891", "0.10000000000000000001", "1e400", "333333333.33333329",
        ]
    )
    func exactPolicyRefuses(input: String) {
        #expect(throws: JSONError.self) { try CanonicalJSON.canonicalNumber(input, policy: .exact) }
    }

    @Test(
        "exact policy keeps equal spellings",
        arguments: [("1.0", "1"), ("12500.00", "12500"), ("1E2", "100"), ("-0.0", "0")]
    )
    func exactPolicyAccepts(input: String, expected: String) throws {
        #expect(try CanonicalJSON.canonicalNumber(input, policy: .exact) == expected)
    }

    @Test("a string is escaped wherever its one special byte sits (0-40 plain bytes around it)")
    func escapesAtEveryOffset() {
        let specials: [(String, String)] = [
            ("\"", #"\""#), ("\\", #"\\"#), ("\n", #"\n"#), ("\u{01}", #"\u0001"#), ("\u{1F}", #"\u001f"#),
            ("\u{7F}", "\u{7F}"), ("é", "é"), (" ", " "), ("!", "!"), ("#", "#"), ("[", "["), ("]", "]"),
        ]
        for before in 0...20 {
            for after in [0, 1, 6, 7, 8, 9, 20] {
                for (raw, escaped) in specials {
                    let a = String(repeating: "a", count: before)
                    let b = String(repeating: "b", count: after)
                    var out: [UInt8] = []
                    JSONValue.writeString(a + raw + b, to: &out)
                    #expect(String(decoding: out, as: UTF8.self) == "\"" + a + escaped + b + "\"", "\(before) \(after)")
                }
            }
        }
    }

    @Test("keys sort by UTF-16 code units, strings keep every character")
    func ordering() throws {
        let input = #"{"b":1,"a":{"\u20ac":2,"\ud83d\ude00":3,"z":4},"é":"line\nbreak\u0001"}"#
        let canonical = String(decoding: try CanonicalJSON.canonicalize(Array(input.utf8)), as: UTF8.self)
        #expect(canonical == "{\"a\":{\"z\":4,\"€\":2,\"😀\":3},\"b\":1,\"é\":\"line\\nbreak\\u0001\"}")
    }
}
