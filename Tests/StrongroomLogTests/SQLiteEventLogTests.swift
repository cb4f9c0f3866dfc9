import Foundation
import StrongroomLog
import StrongroomLogTestSupport
import StrongroomTestSupport
import Testing

struct ConformanceCase: Sendable, CustomStringConvertible {
    var name: String
    var run: @Sendable (URL, EventLogConformance.Factory) throws -> Void
    var description: String { name }

    static let all = EventLogConformance.checks.map { ConformanceCase(name: $0.name, run: $0.run) }
}

@Suite("SQLite event log")
struct SQLiteEventLogTests {
    static let factory: EventLogConformance.Factory = { try SQLiteEventLog(dataDirectory: $0) }

    @Test("conformance", arguments: ConformanceCase.all)
    func conformance(_ check: ConformanceCase) throws {
        try check.run(TestSupport.scratchDirectory("log"), Self.factory)
    }

    @Test(
        "conformance with synchronous=NORMAL",
        arguments: ConformanceCase.all.filter { $0.name.contains("murmur2") || $0.name.contains("continue after") }
    )
    func conformanceNormal(_ check: ConformanceCase) throws {
        try check.run(TestSupport.scratchDirectory("log")) {
            try SQLiteEventLog(dataDirectory: $0, durability: .normal)
        }
    }

    @Test("Kafka's murmur2 test vectors (UtilsTest) and partition choice")
    func murmur2() {
        let vectors: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), ("abc", 479_470_107),
        ]
        for (text, hash) in vectors { #expect(Partitioner.murmur2(Array(text.utf8)) == hash, "\(text)") }
        // toPositive masks the sign bit before the modulo, as Kafka's DefaultPartitioner does.
        #expect(Partitioner.partition(forKey: Array("21".utf8), partitions: 7) == Int(-973_932_308 & 0x7fff_ffff) % 7)
    }
}
