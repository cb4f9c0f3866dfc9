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
        // The longest text fills the 52 bytes written in place.
        let longest = KeyReference(scope: .subject, id: id, version: UInt32.max).description
        #expect(longest == "subject:0123456789abcdeffedcba9876543210:v4294967295" && longest.utf8.count == 52)
    }

    @Test("the byte forms are the texts' bytes; an id is spelled only by its own 32 lowercase digits")
    func byteForms() {
        let id = KeyID(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)
        #expect(id.hexBytes == Array(id.description.utf8))
        for version: UInt32 in [0, 9, 10, 4_294_967_295] {
            for scope in KeyScope.allCases {
                let reference = KeyReference(scope: scope, id: id, version: version)
                #expect(reference.textBytes == Array(reference.description.utf8))
            }
        }
        #expect(id.isSpelled(by: Array("0123456789abcdeffedcba9876543210".utf8)))
        #expect(!id.isSpelled(by: Array("0123456789ABCDEFFEDCBA9876543210".utf8)))
        #expect(!id.isSpelled(by: Array("0123456789abcdeffedcba987654321".utf8)))
        #expect(!id.isSpelled(by: Array("0123456789abcdeffedcba98765432100".utf8)))
        #expect(!id.isSpelled(by: Array("0123456789abcdeffedcba9876543211".utf8)))
        #expect(!id.isSpelled(by: []))
        #expect(!KeyID(high: 0, low: 0).isSpelled(by: []))
    }

    @Test("references sort as their texts do, byte by byte, without writing them")
    func textOrder() {
        let versions: [UInt32] = [0, 1, 2, 9, 10, 11, 19, 2_000, 99, 100, 1_000, UInt32.max, 429_496_729]
        let shared = KeyID(high: 0x8000_0000_0000_0000, low: 5)
        let ids = [
            KeyID(high: 0, low: 1), KeyID(high: 0, low: UInt64.max), KeyID(high: 1, low: 0), shared,
            KeyID(high: shared.high, low: 0), KeyID(high: shared.high, low: UInt64.max),
            KeyID(high: UInt64.max, low: UInt64.max), KeyID(high: 0x0a0b_0c0d_0e0f_1011, low: 0x9fff_ffff_ffff_ffff),
        ]
        var references: [KeyReference] = []
        for id in ids {
            for scope in KeyScope.allCases {
                for version in versions { references.append(KeyReference(scope: scope, id: id, version: version)) }
            }
        }
        func text(_ r: KeyReference) -> [UInt8] { Array(r.description.utf8) }
        // Every pair, both ways: 208 references.
        var wrong = 0
        for a in references {
            for b in references where KeyReference.precedesInText(a, b) != text(a).lexicographicallyPrecedes(text(b)) {
                wrong += 1
                if wrong < 5 { Issue.record("\(a) vs \(b)") }
            }
        }
        #expect(wrong == 0)
        #expect(
            references.reversed().sorted(by: KeyReference.precedesInText).map(\.description)
                == references.sorted { text($0).lexicographicallyPrecedes(text($1)) }.map(\.description)
        )
    }
}
