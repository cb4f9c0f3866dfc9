import Foundation
import StrongroomJSON
import StrongroomSchema
import StrongroomTestSupport
import Testing

func schema(_ text: String) throws -> JSONSchemaValidator {
    try JSONSchemaValidator(schema: try JSONValue(parsing: text))
}

@Suite("Validator: errors, numbers, limits")
struct ValidatorTests {
    static let loan = """
        {"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
         "required":["ssn","amount","currency"],
         "properties":{
           "ssn":{"type":"string","pattern":"^[0-9]{3}-[0-9]{2}-[0-9]{4}$","maxLength":11,"confluent:tags":["PII"]},
           "amount":{"type":"number","exclusiveMinimum":0,"maximum":1000000.00},
           "currency":{"enum":["USD","EUR","GBP"]},
           "submittedAt":{"type":"string","format":"date-time"},
           "applicationId":{"type":"string","format":"uuid"},
           "items":{"type":"array","maxItems":3,"items":{"$ref":"#/definitions/item"}}},
         "definitions":{"item":{"type":"object","required":["sku"],"properties":{"sku":{"type":"string","minLength":1}}}}}
        """

    @Test("two property names that differ only by Unicode normalization keep two schemas")
    func normalizationApart() throws {
        // "café" precomposed (NFC) is a string; "café" with a combining accent (NFD) an integer.
        let v = try schema(
            #"{"type":"object","properties":{"caf\u00e9":{"type":"string"},"cafe\u0301":{"type":"integer"}}}"#
        )
        #expect(v.isValid(try JSONValue(parsing: #"{"caf\u00e9":"x","cafe\u0301":1}"#)))
        #expect(!v.isValid(try JSONValue(parsing: #"{"cafe\u0301":"x"}"#)), "the NFD name is checked as an integer")
        #expect(!v.isValid(try JSONValue(parsing: #"{"caf\u00e9":1}"#)), "the NFC name is checked as a string")
    }

    @Test("required members: declared and undeclared names, found by their bytes, reported in the schema's order")
    func requiredMembers() throws {
        // "a" and "b" are declared properties (checked through the property table), "x" is not
        // (checked member by member); "caf\u00e9" and its NFD twin differ.
        let v = try schema(
            #"{"properties":{"a":{},"b":{},"caf\u00e9":{}},"required":["a","x","b","caf\u00e9"]}"#
        )
        func missing(_ event: String) throws -> [String] {
            try v.validate(JSONValue(parsing: event)).filter { $0.keyword == "required" }.map(\.message)
        }
        #expect(try missing(#"{"a":1,"x":2,"b":3,"caf\u00e9":4}"#).isEmpty)
        #expect(try missing(#"{"x":2,"b":3,"caf\u00e9":4}"#) == ["required member 'a' is missing"])
        #expect(
            try missing(#"{"a":1,"cafe\u0301":4}"#) == [
                "required member 'x' is missing", "required member 'b' is missing",
                "required member 'caf\u{E9}' is missing",
            ]
        )
        #expect(try missing(#"{}"#).count == 4)
        // Under a parent that is not an object, required says nothing.
        #expect(try v.validate(JSONValue(parsing: #"[1]"#)).isEmpty)
    }

    @Test("string lengths count Unicode scalars, not bytes or grapheme clusters")
    func lengthsCountScalars() throws {
        let v = try schema(#"{"type":"string","minLength":2,"maxLength":2}"#)
        let two = ["ab", "\u{E9}\u{E9}", "\u{1F4A9}\u{1F4A9}", "e\u{301}", "\u{10FFFF}\u{800}"]
        let other = ["a", "abc", "\u{1F4A9}", "e\u{301}e\u{301}", "\u{1F1FA}\u{1F1F8}\u{1F1EC}"]
        for text in two { #expect(v.validate(.string(text)).isEmpty, "\(text.unicodeScalars.count) scalars") }
        for text in other { #expect(!v.validate(.string(text)).isEmpty, "\(text.unicodeScalars.count) scalars") }
    }

    @Test("errors name the pointer and the rule and never the value")
    func errorsCarryNoValues() throws {
        let v = try schema(Self.loan)
        let secret = "987-65-43210000"
        let event = #"{"ssn":"\#(secret)","amount":0,"currency":"JPY","extra":"x","items":[{"sku":""}]}"#
        let errors = v.validate(bytes: Array(event.utf8))
        let byPointer = Dictionary(grouping: errors, by: \.pointer)
        #expect(byPointer["/ssn"]?.map(\.keyword).sorted() == ["maxLength", "pattern"])
        #expect(byPointer["/amount"]?.first?.keyword == "exclusiveMinimum")
        #expect(byPointer["/currency"]?.first?.keyword == "enum")
        // L10: a member the schema does not declare is named by position, never by its (data) name.
        #expect(byPointer["/<member 3>"]?.first?.keyword == "additionalProperties")
        #expect(byPointer["/items/0/sku"]?.first?.keyword == "minLength")
        #expect(byPointer["/items/0/sku"]?.first?.schemaPointer == "/definitions/item/properties/sku/minLength")
        for error in errors {
            #expect(!error.description.contains(secret) && !error.description.contains("987"))
            #expect(!error.description.contains("JPY"))
        }
    }

    @Test("numbers compare exactly, beyond Double")
    func exactNumbers() throws {
        let v = try schema(#"{"maximum":0.1,"minimum":-12345678901234567890123}"#)
        #expect(v.isValid(try JSONValue(parsing: "0.1")))
        #expect(!v.isValid(try JSONValue(parsing: "0.10000000000000000000001")))
        #expect(v.isValid(try JSONValue(parsing: "1e-400")))
        #expect(!v.isValid(try JSONValue(parsing: "-12345678901234567890124")))
        let integer = try schema(#"{"type":"integer"}"#)
        #expect(integer.isValid(try JSONValue(parsing: "1.0")))
        #expect(integer.isValid(try JSONValue(parsing: "1e3")))
        #expect(!integer.isValid(try JSONValue(parsing: "1.5")))
        #expect(integer.isValid(try JSONValue(parsing: "123456789012345678901234567890")))
    }

    @Test("a number too large to compare exactly is refused, never let past a bound")
    func hugeExponents() throws {
        let bounds = [
            #"{"maximum":100}"#, #"{"minimum":-100}"#, #"{"exclusiveMaximum":100}"#, #"{"exclusiveMinimum":-100}"#,
        ]
        for bound in bounds {
            let v = try schema(#"{"type":"object","properties":{"amount":\#(bound)}}"#)
            for number in ["1e10000000", "-1e10000000", "1E+10000000", "-0.5e10000001"] {
                let event = Array(#"{"amount":\#(number)}"#.utf8)
                let errors = v.validate(bytes: event)
                #expect(errors.map(\.keyword) == ["limit"], "\(bound) \(number)")
                #expect(errors.first?.pointer == "/amount")
                #expect(
                    !event.withUnsafeBufferPointer { v.passes($0, dlp: DLPScanner(), coverage: DLPCoverage([])) }
                )
            }
            // Within what is compared exactly, bounds apply as written.
            #expect(v.validate(bytes: Array(#"{"amount":1e-999999}"#.utf8)).isEmpty)
        }
    }

    @Test("limits: event size, depth, string length, array length, even where the schema says nothing")
    func limits() throws {
        let limits = ValidationLimits(maxEventBytes: 200, maxDepth: 4, maxStringLength: 10, maxArrayLength: 3)
        let v = try JSONSchemaValidator(schema: try JSONValue(parsing: "{}"), limits: limits)
        #expect(v.validate(bytes: Array(String(repeating: " ", count: 201).utf8)).first?.keyword == "limit")
        #expect(v.validate(bytes: Array(#"{"a":[[[[1]]]]}"#.utf8)).first?.keyword == "limit")
        #expect(v.validate(bytes: Array(#"{"a":{"b":"12345678901"}}"#.utf8)).first?.pointer == "/<member 0>/<member 0>")
        #expect(v.validate(bytes: Array(#"{"a":[1,2,3,4]}"#.utf8)).first?.keyword == "limit")
        #expect(v.validate(bytes: Array(#"{"a":{"b":"1234567890"}}"#.utf8)).isEmpty)
    }

    @Test("uuid, date and date-time formats are asserted")
    func formats() throws {
        let v = try schema(Self.loan)
        let good =
            #"{"ssn":"123-45-6789","amount":1,"currency":"USD","submittedAt":"2025-01-01T00:00:01.800Z","applicationId":"36aabe7f-4b6e-49e5-82b3-1687bc1898ce"}"#
        #expect(v.validate(bytes: Array(good.utf8)).isEmpty)
        let bad =
            #"{"ssn":"123-45-6789","amount":1,"currency":"USD","submittedAt":"2025-02-30T00:00:01Z","applicationId":"36aabe7f"}"#
        #expect(v.validate(bytes: Array(bad.utf8)).map(\.keyword) == ["format", "format"])
    }

    @Test("2020-12: $ref beside other keywords applies both; $defs resolve")
    func draft2020() throws {
        let v = try schema(
            ##"{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"#/$defs/s","maxLength":3,"$defs":{"s":{"type":"string"}}}"##
        )
        #expect(v.isValid(.string("abc")))
        #expect(!v.isValid(.string("abcd")))
        #expect(!v.isValid(.number("1")))
        let prefix = try schema(
            #"{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"}],"items":{"type":"integer"}}"#
        )
        #expect(prefix.isValid(try JSONValue(parsing: #"["a",1,2]"#)))
        #expect(!prefix.isValid(try JSONValue(parsing: #"["a","b"]"#)))
    }

    @Test("malformed schemas are compile errors naming the schema pointer")
    func compileErrors() throws {
        for (text, pointer) in [
            (#"{"type":"strnig"}"#, "/type"), (#"{"properties":{"a":{"minLength":-1}}}"#, "/properties/a/minLength"),
            (#"{"$ref":"http://example.com/s"}"#, "/$ref"), (##"{"$ref":"#/definitions/missing"}"##, "/$ref"),
            (#"{"pattern":"("}"#, "/pattern"), (#"{"anyOf":[]}"#, "/anyOf"),
        ] {
            let error = #expect(throws: SchemaError.self) { try schema(text) }
            #expect(error?.schemaPointer == pointer, "\(text)")
        }
    }

    @Test("the example and bench schemas accept their events")
    func examples() throws {
        let root = TestSupport.packageRoot
        let v = try JSONSchemaValidator(
            schema: try JSONValue(
                parsing: Data(contentsOf: root.appendingPathComponent("examples/loan_application.schema.json"))
            )
        )
        let lines = try String(
            contentsOf: root.appendingPathComponent("examples/loan_applications.jsonl"),
            encoding: .utf8
        )
        .split(separator: "\n")
        for line in lines { #expect(v.validate(bytes: Array(line.utf8)).isEmpty) }
    }
}

@Suite("Schema registry", .serialized)
struct RegistryTests {
    static let v1 = """
        {"type":"object","additionalProperties":false,"required":["id","ssn"],
         "properties":{"id":{"type":"string"},"ssn":{"type":"string","pattern":"^[0-9-]{11}$","confluent:tags":["PII"]},
                       "note":{"type":"string","maxLength":100}}}
        """

    func registry() throws -> SchemaRegistry {
        try SchemaRegistry(dataDirectory: TestSupport.scratchDirectory("registry"))
    }

    func edit(_ text: String, _ from: String, _ to: String) -> String { text.replacingOccurrences(of: from, with: to) }

    @Test("versions, global ids, idempotent registration, history")
    func versions() throws {
        let r = try registry()
        let first = try r.register(subject: "loans-value", schema: Self.v1, principal: "user:alice")
        #expect(first.version == 1)
        #expect(try r.register(subject: "loans-value", schema: Self.v1, principal: "user:alice") == first)
        // A new optional member of a closed object: BACKWARD-compatible, nothing weakened.
        let v2 = edit(
            Self.v1,
            #""note":{"type":"string","maxLength":100}"#,
            #""note":{"type":"string","maxLength":100},"branch":{"type":"string"}"#
        )
        let second = try r.register(subject: "loans-value", schema: v2, principal: "user:bob")
        #expect(second.version == 2 && second.id != first.id)
        // The same schema under another subject shares its global id.
        #expect(try r.register(subject: "other-value", schema: Self.v1, principal: "user:alice").id == first.id)
        #expect(try r.subjects() == ["loans-value", "other-value"])
        #expect(try r.schema(id: second.id).fingerprint == second.fingerprint)
        #expect(try r.schema(subject: "loans-value", version: 1).version == 1)
        let history = try r.changes()
        #expect(history.map(\.principal) == ["user:alice", "user:bob", "user:alice"])
        #expect(history.allSatisfy { $0.detail.count == 64 })
        #expect(throws: RegistryError.self) { try r.register(subject: "loans", schema: Self.v1, principal: "x") }
        #expect(throws: RegistryError.self) { try r.register(subject: "a-value", schema: "{", principal: "x") }
    }

    @Test("each compatibility mode refuses what it must, and says which change breaks which rule")
    func modes() throws {
        let r = try registry()
        try r.register(subject: "t-value", schema: Self.v1, principal: "p")
        // A new required member: BACKWARD breaks (old data lacks it), FORWARD does not.
        let required = edit(Self.v1, #""required":["id","ssn"]"#, #""required":["id","ssn","note"]"#)
        let backward = try r.check(subject: "t-value", schema: required)
        #expect(backward.contains { $0.rule == "BACKWARD" && $0.message.contains("'note' became required") })
        try r.setCompatibility(.forward, subject: "t-value", principal: "admin")
        #expect(try r.check(subject: "t-value", schema: required).filter { $0.rule != "SECURITY" }.isEmpty)
        // A member added to a closed object: FORWARD breaks (the old, closed schema refuses new data holding it).
        let narrower = edit(
            Self.v1,
            #""note":{"type":"string","maxLength":100}"#,
            #""note":{"type":"string","maxLength":100},"extra":{"type":"string"}"#
        )
        let forward = try r.check(subject: "t-value", schema: narrower)
        #expect(forward.contains { $0.rule == "FORWARD" && $0.schemaPointer == "/properties/extra" })
        try r.setCompatibility(.full, subject: "t-value", principal: "admin")
        #expect(try r.check(subject: "t-value", schema: required).contains { $0.rule == "BACKWARD" })
        try r.setCompatibility(.none, subject: "t-value", principal: "admin")
        #expect(try r.check(subject: "t-value", schema: narrower).isEmpty)
        let error = #expect(throws: RegistryError.self) {
            try r.setCompatibility(.backward, subject: "t-value", principal: "admin")
            try r.register(subject: "t-value", schema: required, principal: "p")
        }
        #expect(error?.kind == .incompatible && error?.description.contains("BACKWARD against version 1") == true)
    }

    @Test("transitive modes compare with every version, not only the latest")
    func transitive() throws {
        let r = try registry()
        try r.setCompatibility(.backwardTransitive, subject: "t-value", principal: "admin")
        let open = #"{"type":"object","properties":{"a":{"type":["string","null"]}}}"#
        try r.register(subject: "t-value", schema: open, principal: "p")
        try r.setCompatibility(.none, subject: "t-value", principal: "admin")
        try r.register(
            subject: "t-value",
            schema: #"{"type":"object","properties":{"a":{"type":"string"}}}"#,
            principal: "p",
            force: true
        )
        try r.setCompatibility(.backwardTransitive, subject: "t-value", principal: "admin")
        let same = #"{"type":"object","properties":{"a":{"type":"string"}},"title":"v3"}"#
        let issues = try r.check(subject: "t-value", schema: same)
        #expect(issues.contains { $0.rule == "BACKWARD" && $0.againstVersion == 1 })
        #expect(!issues.contains { $0.rule == "BACKWARD" && $0.againstVersion == 2 })
    }

    @Test("schema poisoning: a removed PII tag or a loosened constraint is refused in every mode unless forced")
    func poisoning() throws {
        let r = try registry()
        try r.setCompatibility(.none, subject: "t-value", principal: "admin")
        try r.register(subject: "t-value", schema: Self.v1, principal: "p")
        let untagged = edit(Self.v1, #","confluent:tags":["PII"]"#, "")
        let noPattern = edit(Self.v1, #","pattern":"^[0-9-]{11}$""#, "")
        let wider = edit(Self.v1, #""maxLength":100"#, #""maxLength":1000"#)
        let opened = edit(Self.v1, #""additionalProperties":false,"#, "")
        for (candidate, expected) in [
            (untagged, "PII tag removed"), (noPattern, "pattern removed"), (wider, "maxLength widened"),
            (opened, "object opened"),
        ] {
            let error = #expect(throws: RegistryError.self) {
                try r.register(subject: "t-value", schema: candidate, principal: "mallory")
            }
            #expect(
                error?.issues.contains { $0.rule == "SECURITY" && $0.message.contains(expected) } == true,
                "\(expected)"
            )
        }
        #expect(try r.versions(subject: "t-value") == [1])
        let forced = try r.register(subject: "t-value", schema: untagged, principal: "admin", force: true)
        #expect(forced.version == 2)
        #expect(try r.changes().last?.action == "register-forced")
        #expect(try r.changes().last?.principal == "admin")
    }
}
