import StrongroomAudit
import Testing

@Test("module links") func links() { #expect(Bool(true)) }
