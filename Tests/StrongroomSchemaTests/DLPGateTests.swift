import StrongroomTestSupport
import Testing

@testable import StrongroomSchema

/// The cheap first pass skips a detector only where it cannot fire.
@Suite("DLP first-pass gates")
struct DLPGateTests {
    @Test("the digit-cluster gate never hides an SSN, a card number or a NANP number")
    func clusterGate() {
        var random = SplitMix64(seed: 6_011_111_111_111_117)
        let alphabet = Array("0123456789012345678901234567890123456789 -.()+/:_aZx\u{00e9}".utf8)
        let seeds = ["123-45-6789", "4111 1111 1111 1111", "(415) 555-0100", "415.555.0100", "378282246310005"]
        var fired = 0
        for round in 0..<30_000 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                // A known positive with a few bytes changed, so near-misses are common.
                bytes = Array(seeds[round % seeds.count].utf8)
                for _ in 0..<Int(random.next() % 3) {
                    let at = Int(random.next() % UInt64(bytes.count))
                    bytes[at] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                }
            } else {
                let length = 6 + Int(random.next() % 30)
                bytes = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            }
            bytes.withUnsafeBufferPointer { s in
                let gated = DLPRules.detect(s, DLPRules.Enabled(Set(DLPDetector.allCases)))
                let ssn = s.count >= 11 && DLPRules.containsSSN(s)
                let card = DLPRules.containsPaymentCard(s)
                let nanp = DLPRules.containsNANP(s)
                #expect(gated.contains(.ssn) == ssn, "\(Array(s))")
                #expect(gated.contains(.paymentCard) == card, "\(Array(s))")
                if nanp { #expect(gated.contains(.phone), "\(Array(s))") }
                if ssn || card || nanp { fired += 1 }
            }
        }
        #expect(fired > 1000)
    }
}
