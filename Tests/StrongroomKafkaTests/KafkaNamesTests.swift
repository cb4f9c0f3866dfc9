#if Kafka
import Testing

@testable import StrongroomKafka

@Suite("Topic names from librdkafka")
struct KafkaNamesTests {
    @Test("a topic name matches only the same bytes: not a prefix, not a longer name, not a text with a NUL")
    func sameBytes() {
        func matches(_ c: String, _ text: String) -> Bool { c.withCString { KafkaHandle.names($0, text) } }
        #expect(matches("loan_applications.c", "loan_applications.c"))
        #expect(!matches("loan_applications.c", "loan_applications"))
        #expect(!matches("loan_applications", "loan_applications.c"))
        #expect(!matches("loan_applications", "loan_applications\u{0}.c"))
        #expect(!matches("Loan_applications", "loan_applications"))
        #expect(!matches("", "x") && matches("", ""))
        #expect(!KafkaHandle.names(nil, ""))
    }
}
#endif
