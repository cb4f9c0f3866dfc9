import StrongroomJSON
import StrongroomSchema
import Testing

@testable import Strongroom

@Suite("Produce checks: one compiled schema per core checking at once")
struct ProduceChecksTests {
    static let schema = """
        {"type":"object","required":["ssn"],"properties":{"ssn":{"type":"string"},"memo":{"type":"string"}}}
        """

    static func pool() throws -> StrongroomServices.CheckPool {
        let schema = try JSONValue(parsing: Self.schema)
        return StrongroomServices.CheckPool(
            first: .init(validator: try JSONSchemaValidator(schema: schema), patterns: ["/ssn"]),
            make: { (try? JSONSchemaValidator(schema: schema)).map { .init(validator: $0, patterns: ["/ssn"]) } }
        )
    }

    @Test("callers at once hold distinct copies that check alike; a returned copy is lent again")
    func distinctCopies() throws {
        let pool = try Self.pool()
        let event = Array(#"{"ssn":"123-45-6789","memo":"call 415-555-0100 today"}"#.utf8)
        let invalid = Array(#"{"memo":"x"}"#.utf8)
        try pool.withChecks { outer in
            try pool.withChecks { inner in
                #expect(outer.validator !== inner.validator)
                let findings = try outer.check(event).get()
                #expect(findings == [DLPFinding(pointer: "/memo", detector: .phone)])
                #expect(try inner.check(event).get() == findings)
                for checks in [outer, inner] {
                    guard case .failure(let error) = checks.check(invalid) else {
                        Issue.record("an event without its required member passed")
                        return
                    }
                    #expect(error.kind == .invalid)
                }
            }
        }
        let lent = pool.withChecks { ObjectIdentifier($0.validator) }
        #expect(pool.withChecks { ObjectIdentifier($0.validator) } == lent)
    }
}
