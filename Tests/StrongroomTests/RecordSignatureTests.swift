import Crypto
import StrongroomAudit
import StrongroomJSON
import StrongroomLog
import Testing

@testable import Strongroom

@Suite("Record signatures")
struct RecordSignatureTests {
    @Test("each record of a signed batch names its place as id:index:size and verifies, at sizes 1 to 1,100")
    func batchPlaces() throws {
        let key = Curve25519.Signing.PrivateKey()
        for size in [1, 2, 3, 7, 10, 64, 65, 1_000, 1_100] {
            let contents = (0..<size).map { i in
                RecordSignature.Content(
                    topic: "t",
                    partition: 0,
                    sequence: String(repeating: "a", count: 32) + ":\(i)",
                    key: [UInt8(truncatingIfNeeded: i)],
                    value: Array("v\(i)".utf8),
                    schemaID: 1,
                    producer: "p"
                )
            }
            let signed = try RecordSignature.sign(contents, producer: "p", key: key, batchID: "b-1")
            #expect(signed.count == size)
            var roots: [[UInt8]: Merkle.Hash] = [:]
            for (i, headers) in signed.enumerated() {
                #expect(headers.first { $0.0 == RecordSignature.Header.batch }?.1 == Array("b-1:\(i):\(size)".utf8))
                let proof = try #require(headers.first { $0.0 == RecordSignature.Header.proof }?.1)
                // At most ⌈log2 size⌉ hashes, each whole.
                #expect(proof.count % 32 == 0 && proof.count <= 32 * (Int.bitWidth - (size - 1).leadingZeroBitCount))
                let checked = RecordSignature.verify(
                    topic: "t",
                    partition: 0,
                    key: contents[i].key,
                    value: contents[i].value,
                    headers: headers.map { RecordHeader($0.0, $0.1) } + [
                        RecordHeader(RecordSignature.Header.schema, Array("1".utf8))
                    ],
                    trusted: [ExactText("p"): [key.publicKey]],
                    verifiedRoots: &roots
                )
                guard case .success = checked else {
                    Issue.record("size \(size), record \(i): \(checked)")
                    continue
                }
            }
        }
    }

    @Test("decimal digits as String spells them")
    func decimal() {
        for value in [0, 1, 9, 10, 11, 99, 100, 101, 999, 1_000, 65_535, 999_999, 1_000_000, Int.max] {
            var out = Array("x".utf8)
            RecordSignature.appendDecimal(value, to: &out)
            #expect(out == Array("x\(value)".utf8), "\(value)")
        }
    }
}
