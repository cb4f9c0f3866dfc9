import Foundation
import StrongroomJSON
import StrongroomSchema
import StrongroomTestSupport
import Testing

func plan(_ text: String) throws -> EncryptionPlan { try EncryptionPlan(schema: try JSONValue(parsing: text)) }

/// Schema attacks of the security review (issue 10): H3, H6, L1.
@Suite("Schema security findings")
struct SchemaSecurityTests {
    static let tag = #""confluent:tags":["PII"]"#

    /// A PII tag where field encryption cannot follow it, and the pointer the refusal must name.
    static let unhonourable: [(String, String)] = [
        (#"{"patternProperties":{"^s":{"type":"string",\#(tag)}}}"#, "/patternProperties/^s"),
        (#"{"additionalProperties":{"type":"string",\#(tag)}}"#, "/additionalProperties"),
        (#"{"properties":{"a":{"items":[{"type":"string",\#(tag)}]}}}"#, "/properties/a/items/0"),
        (
            #"{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"a":{"prefixItems":[{\#(tag)}]}}}"#,
            "/properties/a/prefixItems/0"
        ),
        (#"{"properties":{"a":{"items":[{}],"additionalItems":{\#(tag)}}}}"#, "/properties/a/additionalItems"),
        (#"{"not":{"properties":{"ssn":{\#(tag)}}}}"#, "/not/properties/ssn"),
        (#"{"properties":{"a":{}},"$defs":{"unused":{\#(tag)}}}"#, "/$defs/unused"),
        (#"{"allOf":[{"not":{\#(tag)}}]}"#, "/allOf/0/not"),
    ]

    @Test("H3: a PII tag the plan cannot honour refuses the schema, naming the tag's pointer", arguments: unhonourable)
    func unhonourableTagsAreRefused(schema: String, pointer: String) throws {
        #expect(throws: SchemaError.self) { try plan(schema) }
        do { _ = try plan(schema) } catch let error as SchemaError {
            #expect(error.schemaPointer == pointer, "\(error)")
        }
        let registry = try SchemaRegistry(dataDirectory: TestSupport.scratchDirectory("h3"))
        #expect(throws: RegistryError.self) {
            try registry.register(subject: "t-value", schema: schema, principal: "t")
        }
    }

    @Test("H3: tags under allOf, anyOf and oneOf are honoured: the value is encrypted")
    func combinatorTagsAreEncrypted() throws {
        let tag = Self.tag
        let p = try plan(
            #"""
            {"allOf":[{"properties":{"ssn":{\#(tag)}}}],
             "anyOf":[{"properties":{"email":{\#(tag)}}},{"properties":{"phone":{\#(tag)}}}],
             "oneOf":[{"properties":{"card":{"$ref":"#/$defs/card"}}}],
             "$defs":{"card":{\#(tag)}},
             "properties":{"ssn":{"type":"string"}}}
            """#
        )
        #expect(Set(p.fields.map(\.pattern)) == ["/ssn", "/email", "/phone", "/card"])
        #expect(p.fields.count == 4)
    }

    /// Keywords the validator does not enforce: a schema using one is refused with its name.
    static let unsupported = [
        "if", "then", "else", "dependentSchemas", "dependentRequired", "dependencies", "contains", "uniqueItems",
        "multipleOf", "minProperties", "maxProperties", "propertyNames", "unevaluatedProperties",
        "unevaluatedItems", "$id", "$anchor", "$dynamicRef", "strongroom:suject", "confluentx:tags",
    ]

    @Test("H3: an unsupported keyword refuses the schema, naming the keyword", arguments: unsupported)
    func unsupportedKeywordsAreRefused(keyword: String) throws {
        let text = #"{"type":"object","properties":{"a":{"\#(keyword)":{}}}}"#
        do {
            _ = try JSONSchemaValidator(schema: JSONValue(parsing: text))
            Issue.record("'\(keyword)' accepted")
        } catch let error as SchemaError {
            #expect(error.message.contains("'\(keyword)'"))
            #expect(error.schemaPointer == "/properties/a/" + JSONPathSet.escapePointerToken(keyword))
        }
        // Annotations stay accepted.
        _ = try JSONSchemaValidator(
            schema: JSONValue(
                parsing:
                    #"{"title":"t","description":"d","$comment":"c","default":1,"examples":[1],"confluent:index":1}"#
            )
        )
    }

    @Test("H6: catastrophic patterns run in linear time; backtracking features are refused")
    func patternsAreLinear() throws {
        let v = try schema(#"{"properties":{"name":{"type":"string","pattern":"^([A-Za-z]+ ?)*$"}}}"#)
        // 37 s at 21 characters with a backtracking engine, ×2.8 per character: this would never end.
        let hostile = String(repeating: "a", count: 5000) + "!"
        #expect(!v.isValid(try JSONValue(parsing: #"{"name":"\#(hostile)"}"#)))
        #expect(v.isValid(try JSONValue(parsing: #"{"name":"Mary Ann Johnson"}"#)))
        let nested = try schema(#"{"properties":{"s":{"type":"string","pattern":"^(a|a)*(a*)*(a?){30}a{30}$"}}}"#)
        #expect(!nested.isValid(try JSONValue(parsing: #"{"s":"\#(String(repeating: "a", count: 29))"}"#)))
        #expect(nested.isValid(try JSONValue(parsing: #"{"s":"\#(String(repeating: "a", count: 60))"}"#)))
        for refused in [
            #"(a)\\1"#, #"(?=a)a"#, #"(?!a)b"#, #"(?<=a)b"#, #"(?<!a)b"#, #"\\k<n>"#, #"\\p{L}"#, "a{2000}",
        ] {
            #expect(throws: SchemaError.self, "\(refused)") {
                try schema(#"{"properties":{"s":{"pattern":"\#(refused)"}}}"#)
            }
        }
    }

    @Test("H6: combinators nested through $ref stop at the work budget instead of running for ever")
    func combinatorBudget() throws {
        // Each level tries both branches of the next: 2^40 paths without a budget.
        var defs: [String] = []
        for level in 0..<40 {
            defs.append(
                ##""l\##(level)":{"anyOf":[{"$ref":"#/$defs/l\##(level + 1)"},{"$ref":"#/$defs/l\##(level + 1)"}]}"##
            )
        }
        defs.append(#""l40":{"type":"string"}"#)
        let v = try schema(##"{"$ref":"#/$defs/l0","$defs":{\##(defs.joined(separator: ","))}}"##)
        let errors = v.validate(JSONValue.number("1"))
        #expect(errors.count == 1)
        #expect(errors.first?.keyword == "limit")
    }

    @Test("L1: ECMA-262 semantics: \\d and \\w are ASCII, '.' is one code point, not one grapheme")
    func ecmaSemantics() throws {
        func matches(_ pattern: String, _ value: String) throws -> Bool {
            let v = try schema(#"{"pattern":"\#(pattern)"}"#)
            var text: [UInt8] = []
            JSONValue.writeString(value, to: &text)
            return v.isValid(try JSONValue(parsing: text))
        }
        #expect(try !matches(#"^\\d+$"#, "\u{663}\u{664}"))  // Arabic-Indic digits
        #expect(try !matches(#"^\\d$"#, "\u{967}"))  // Devanagari one
        #expect(try matches(#"^\\d{3}$"#, "123"))
        #expect(try !matches(#"^\\w$"#, "\u{212A}"))  // KELVIN SIGN
        #expect(try matches(#"^\\w+$"#, "K_9"))
        #expect(try !matches("^.$", "e\u{301}"))  // two code points
        #expect(try matches("^..$", "e\u{301}"))
        #expect(try matches("^.$", "\u{1F600}"))  // one astral code point
        #expect(try matches(#"^\\uD83D\\uDE00$"#, "\u{1F600}"))  // a surrogate pair is that code point
        #expect(try !matches("^.$", "\n"))
        #expect(try matches(#"^\\s$"#, "\u{3000}"))
        #expect(try matches(#"\\bcat\\b"#, "a cat!"))
        #expect(try !matches(#"\\bcat\\b"#, "concat"))
        #expect(try matches("[^]", "x"))
        #expect(try !matches("[]", "x"))
        #expect(try matches("a{,3}", "a{,3}"))  // Annex B: not a quantifier, a literal
        #expect(try matches("^[\\\\D]$", "x"))
        #expect(try !matches("^[\\\\D]$", "5"))
    }

    @Test("L12: DLP folds look-alike digits and separators before detecting")
    func dlpFoldsLookAlikes() {
        let scanner = DLPScanner()
        // Arabic-Indic digits, an SSN.
        #expect(scanner.detect("\u{661}\u{662}\u{663}-\u{664}\u{665}-\u{666}\u{667}\u{668}\u{669}").contains(.ssn))
        // Fullwidth digits and an EN DASH, a Visa test number (Luhn-valid).
        let card = "\u{FF14}\u{FF11}\u{FF11}\u{FF11}\u{2013}1111\u{2013}1111\u{2013}1111"
        #expect(scanner.detect(card).contains(.paymentCard))
        // FULLWIDTH COMMERCIAL AT in an email.
        #expect(scanner.detect("alice\u{FF20}example.com").contains(.email))
        // A zero-width space hidden inside an SSN.
        #expect(scanner.detect("123-45-\u{200B}6789").contains(.ssn))
        #expect(DLPScanner.fold("plain ascii") == nil)
    }

    static let annotated = #"""
        {"type":"object","strongroom:classification":"RESTRICTED","strongroom:retentionDays":365,
         "properties":{
           "customerId":{"type":"string","strongroom:subject":true},
           "ssn":{"type":"string","confluent:tags":["PII"],"strongroom:mask":"full"},
           "email":{"type":"string","confluent:tags":["PII"]}}}
        """#

    @Test(
        "M1: weakening annotations needs --force",
        arguments: [
            (#""strongroom:subject":true"#, #""description":"x""#, "data-subject field dropped"),
            (
                #""email":{"type":"string","confluent:tags":["PII"]}"#,
                #""email":{"type":"string","confluent:tags":["PII"],"strongroom:encryption":"deterministic"}"#,
                "made deterministic"
            ),
            (#""strongroom:mask":"full""#, #""strongroom:mask":"last4""#, "mask weakened"),
            (#""RESTRICTED""#, #""PUBLIC""#, "classification lowered"),
            (#""strongroom:retentionDays":365"#, #""strongroom:retentionDays":3650"#, "retention lengthened"),
        ]
    )
    func annotationWeakeningsNeedForce(from: String, to: String, expected: String) throws {
        let r = try SchemaRegistry(dataDirectory: TestSupport.scratchDirectory("m1"))
        try r.setCompatibility(.none, subject: "t-value", principal: "admin")
        try r.register(subject: "t-value", schema: Self.annotated, principal: "p")
        let candidate = Self.annotated.replacingOccurrences(of: from, with: to)
        #expect(candidate != Self.annotated)
        let error = #expect(throws: RegistryError.self) {
            try r.register(subject: "t-value", schema: candidate, principal: "mallory")
        }
        #expect(
            error?.issues.contains { $0.rule == "SECURITY" && $0.message.contains(expected) } == true,
            "\(error.map { "\($0)" } ?? "")"
        )
        #expect(try r.register(subject: "t-value", schema: candidate, principal: "admin", force: true).version == 2)
        #expect(try r.changes().last?.action == "register-forced")
    }

    @Test("Review: a $ref from a position the plan does not follow may not lead to a PII tag")
    func refsIntoTagsFromUnfollowedPositions() throws {
        let attacks = [
            ##"{"properties":{"email":{"$ref":"#/$defs/pii"}},"additionalProperties":{"$ref":"#/$defs/pii"},"$defs":{"pii":{"type":"string","confluent:tags":["PII"]}}}"##,
            ##"{"properties":{"x":{"type":"string","confluent:tags":["PII"]}},"patternProperties":{"^y":{"$ref":"#/properties/x"}}}"##,
        ]
        for attack in attacks {
            #expect(throws: SchemaError.self, "\(attack)") { try plan(attack) }
        }
        // The same $ref from a followed position is fine.
        _ = try plan(##"{"properties":{"email":{"$ref":"#/$defs/pii"}},"$defs":{"pii":{"confluent:tags":["PII"]}}}"##)
    }

    @Test("Review: pattern compilation is bounded: empty repeats, deep nesting, long patterns, group names")
    func patternCompilationBounded() throws {
        let refused = [
            "(?:(?:(?:(?:){1000}){1000}){1000}){1000}",
            String(repeating: "(", count: 100_000) + String(repeating: ")", count: 100_000),
            String(repeating: "a", count: 5000),
            "(?<a)b>x)",
        ]
        for pattern in refused {
            var text: [UInt8] = []
            JSONValue.writeString(pattern, to: &text)
            #expect(throws: SchemaError.self) {
                try schema(#"{"pattern":"# + String(decoding: text, as: UTF8.self) + "}")
            }
        }
        _ = try schema(#"{"pattern":"(?<name_1>a)"}"#)
    }
}
