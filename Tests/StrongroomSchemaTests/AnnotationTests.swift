import Foundation
import StrongroomJSON
import StrongroomSchema
import StrongroomTestSupport
import Testing

@Suite("Schema annotations")
struct AnnotationTests {
    @Test("the example schema names its subject, masks, classification and retention")
    func example() throws {
        let url = TestSupport.packageRoot.appendingPathComponent("examples/loan_application.schema.json")
        let annotations = try SchemaAnnotations(schema: try JSONValue(parsing: Data(contentsOf: url)))
        #expect(annotations.subjectField == "customerId")
        #expect(annotations.masks == ["/ssn": .lastFour, "/dateOfBirth": .full])
        #expect(annotations.classification == .restricted)
        #expect(annotations.retentionDays == 2555)
    }

    @Test("bad annotations are errors naming where")
    func errors() throws {
        let cases: [(String, String)] = [
            (#"{"properties":{"a":{"type":"string","strongroom:mask":"last4"}}}"#, "/properties/a"),
            (#"{"properties":{"a":{"type":"string","confluent:tags":["PII"],"strongroom:mask":"half"}}}"#, "/a"),
            (
                #"{"properties":{"a":{"type":"string","strongroom:subject":true},"b":{"type":"string","strongroom:subject":true}}}"#,
                "/properties/b"
            ),
            (
                #"{"properties":{"a":{"type":"string","strongroom:subject":true,"confluent:tags":["PII"]}}}"#,
                "/properties/a"
            ),
            (#"{"strongroom:classification":"SECRET"}"#, "/strongroom:classification"),
            (#"{"strongroom:retentionDays":0}"#, "/strongroom:retentionDays"),
        ]
        for (text, pointer) in cases {
            let error = #expect(throws: SchemaError.self) {
                try SchemaAnnotations(schema: try JSONValue(parsing: text))
            }
            #expect(error?.schemaPointer == pointer, "\(text)")
        }
    }

    @Test("last4 keeps separators and the last four letters or digits; short values are fully redacted")
    func masks() {
        #expect(SchemaAnnotations.mask("123-45-6789", style: .lastFour) == "***-**-6789")
        #expect(SchemaAnnotations.mask("4111 1111 1111 1111", style: .lastFour) == "**** **** **** 1111")
        #expect(SchemaAnnotations.mask("1234", style: .lastFour) == "***")
        #expect(SchemaAnnotations.mask("1980-04-12", style: .full) == "***")
        // M9: digits of other scripts are digits: masked but the last four, never shown as separators.
        #expect(
            SchemaAnnotations.mask(
                "\u{663}\u{664}\u{665}-\u{666}\u{667}-\u{668}\u{669}\u{660}\u{661}",
                style: .lastFour
            )
                == "***-**-\u{668}\u{669}\u{660}\u{661}"
        )
        #expect(
            SchemaAnnotations.mask(
                "\u{967}\u{968}\u{969} \u{96A}\u{96B}\u{96C} \u{96D}\u{96E}\u{96F}\u{966}",
                style: .lastFour
            )
                == "*** *** \u{96D}\u{96E}\u{96F}\u{966}"
        )
        // A look-alike separator (FULLWIDTH HYPHEN-MINUS, NO-BREAK SPACE) is not kept.
        #expect(SchemaAnnotations.mask("123\u{FF0D}45\u{A0}6789", style: .lastFour) == "*******6789")
        #expect(
            SchemaAnnotations.mask("Zo\u{EB} M\u{FC}ller-L\u{FC}denscheidt", style: .lastFour)
                == "*** ******-********eidt"
        )
        #expect(Classification.restricted > Classification.confidential)
    }
}
