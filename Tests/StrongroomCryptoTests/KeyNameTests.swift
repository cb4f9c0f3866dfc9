import StrongroomCrypto
import Testing

@Suite("Key names")
struct KeyNameTests {
    @Test("a key reference prints as scope:hex:vN")
    func descriptions() {
        let id = KeyID(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)
        #expect(
            KeyReference(scope: .subject, id: id, version: 1).description
                == "subject:0123456789abcdeffedcba9876543210:v1"
        )
        #expect(
            KeyReference(scope: .topic, id: KeyID(high: 0, low: 0xff), version: UInt32.max).description
                == "topic:000000000000000000000000000000ff:v4294967295"
        )
        for version: UInt32 in [0, 9, 10, 99, 100, 1_000_000] {
            #expect(KeyReference(scope: .topic, id: id, version: version).description.hasSuffix(":v\(version)"))
        }
        #expect(id.description == "0123456789abcdeffedcba9876543210")
    }

    @Test("references sort as their texts do, byte by byte, without writing them")
    func textOrder() {
        let versions: [UInt32] = [0, 1, 2, 9, 10, 11, 19, 2_000, 99, 100, 1_000, UInt32.max, 429_496_729]
        var ids: [KeyID] = (0..<8).map { _ in KeyID.random() }
        let shared = KeyID.random()
        ids += [KeyID(high: shared.high, low: 0), KeyID(high: shared.high, low: UInt64.max), KeyID(high: 0, low: 1)]
        var references: [KeyReference] = []
        for id in ids {
            for scope in KeyScope.allCases {
                for version in versions.shuffled().prefix(6) {
                    references.append(KeyReference(scope: scope, id: id, version: version))
                }
            }
        }
        references.append(KeyReference(scope: .subject, id: ids[0], version: UInt32.random(in: 0...UInt32.max)))
        references.shuffle()
        let byText = references.sorted {
            Array($0.description.utf8).lexicographicallyPrecedes(Array($1.description.utf8))
        }
        #expect(references.sorted(by: KeyReference.precedesInText).map(\.description) == byText.map(\.description))
        for a in references.prefix(40) {
            for b in references.prefix(40) {
                let text = Array(a.description.utf8).lexicographicallyPrecedes(Array(b.description.utf8))
                #expect(KeyReference.precedesInText(a, b) == text, "\(a) vs \(b)")
            }
        }
    }
}
