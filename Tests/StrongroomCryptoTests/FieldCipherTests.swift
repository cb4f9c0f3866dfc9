import Crypto
import Foundation
@_spi(FixedNonce) import StrongroomCrypto
import StrongroomJSON
import StrongroomTestSupport
import Testing

/// The fixed vectors of docs/formats.md, also produced by scripts/crosscheck_formats.py
/// with pyca/cryptography: an independent implementation of the same format.
struct FormatVector: Sendable, CustomStringConvertible {
    var name: String
    var algorithm: FieldAlgorithm
    var scope: KeyScope
    var version: UInt32
    var context: FieldContext
    var pointer: String
    var plaintext: String
    var expected: String
    var description: String { name }

    static let key = SymmetricKey(data: Array(0..<32) as [UInt8])
    static let keyID = KeyID(high: 0x1011_1213_1415_1617, low: 0x1819_1a1b_1c1d_1e1f)
    static let nonce: [UInt8] = Array(0xA0..<0xAC)

    static let all: [FormatVector] = [
        FormatVector(
            name: "V1",
            algorithm: .aes256GCM,
            scope: .subject,
            version: 1,
            context: FieldContext(
                tenant: "bfb",
                topic: "loan_applications",
                subjectKey: keyID,
                eventID: "6f1c2a9e-1d4b-4c1e-9a55-0b7e3c1d2f01"
            ),
            pointer: "/ssn",
            plaintext: #""123-45-6789""#,
            expected: "sr1:AgEBEBESExQVFhcYGRobHB0eHwAAAAGgoaKjpKWmp6ipqqu_9mSQM7AtnZCvwNbMoQitK4nSaHzFpHSb-PYphQ"
        ),
        FormatVector(
            name: "V2",
            algorithm: .aes256GCM,
            scope: .topic,
            version: 3,
            context: FieldContext(topic: "loan_applications"),
            pointer: "/address",
            plaintext: #"{"street":"12 Main St","city":"New York","postalCode":"10001","country":"US"}"#,
            expected:
                "sr1:AgECEBESExQVFhcYGRobHB0eHwAAAAOgoaKjpKWmp6ipqqvm5SXXbOF9xISi2t7crdDJjTrtVLKe3369n7BbisZA9frdW_otD_ov5u3CwyrW_6ejZmjtOKLzI2fgmIHKWq2gsGB5RJIGkZAtbldDc1c_HYU41I95ANBkKo5ectU"
        ),
        FormatVector(
            name: "V3",
            algorithm: .aes256GCM,
            scope: .subject,
            version: 2,
            context: FieldContext(
                tenant: "bfb",
                topic: "loan_applications",
                subjectKey: keyID,
                eventID: "evt-1"
            ),
            pointer: "/amount",
            plaintext: "12500.00",
            expected: "sr1:AgEBEBESExQVFhcYGRobHB0eHwAAAAKgoaKjpKWmp6ipqqus9WOTLqoogBI8NcEm2i0G2Dleq8ZrJvE"
        ),
        FormatVector(
            name: "V4",
            algorithm: .aes256GCMSIVDeterministic,
            scope: .subject,
            version: 1,
            context: FieldContext(tenant: "bfb", topic: "loan_applications", subjectKey: keyID),
            pointer: "/email",
            plaintext: #""mary.johnson@example.com""#,
            expected: "sr1:AgIBEBESExQVFhcYGRobHB0eHwAAAAFZ6FdlQQdYA22n8b5H1ABZg6rmtl-NjAXQHszXN22nvBGO4CBflHWUFN4"
        ),
        FormatVector(
            name: "V5",
            algorithm: .aes256GCM,
            scope: .subject,
            version: 1,
            context: FieldContext(
                tenant: "bfb",
                topic: "loan_applications",
                subjectKey: keyID,
                eventID: "6f1c2a9e-1d4b-4c1e-9a55-0b7e3c1d2f01"
            ),
            pointer: "/customerId",
            plaintext: #""CUST-00000001""#,
            expected: "sr1:AgEBEBESExQVFhcYGRobHB0eHwAAAAGgoaKjpKWmp6ipqqu_hAPwSqkogJaoyN_evL87X2xe_hPHJdspfFekNVQC"
        ),
    ]

    var dek: DataEncryptionKey {
        get throws {
            try DataEncryptionKey(
                reference: KeyReference(scope: scope, id: Self.keyID, version: version),
                key: Self.key
            )
        }
    }
}

@Suite("sr1 field ciphertext")
struct FieldCipherTests {
    @Test("fixed vectors of docs/formats.md seal exactly and open", arguments: FormatVector.all)
    func fixedVectors(vector: FormatVector) throws {
        var out: [UInt8] = []
        try Array(vector.plaintext.utf8).withUnsafeBytes { raw in
            try FieldCipher.seal(
                raw,
                pointer: vector.pointer,
                associatedDataPrefix: vector.context.associatedDataPrefix(),
                key: try vector.dek,
                algorithm: vector.algorithm,
                nonce: vector.algorithm == .aes256GCM ? FormatVector.nonce : nil,
                into: &out
            )
        }
        #expect(String(decoding: out, as: UTF8.self) == vector.expected)
        let sealed = try SealedField(parsing: vector.expected)
        #expect(sealed.key == (try vector.dek).reference)
        #expect(sealed.algorithm == vector.algorithm)
        let opened = try sealed.open(pointer: vector.pointer, context: vector.context, key: try vector.dek)
        #expect(String(decoding: opened, as: UTF8.self) == vector.plaintext)
    }

    @Test("randomized seals differ each time; deterministic ones repeat")
    func randomization() throws {
        let v = FormatVector.all[0]
        let a = try FieldCipher.seal(Array(v.plaintext.utf8), pointer: v.pointer, context: v.context, key: try v.dek)
        let b = try FieldCipher.seal(Array(v.plaintext.utf8), pointer: v.pointer, context: v.context, key: try v.dek)
        #expect(a != b)
        let d1 = try FieldCipher.seal(
            Array(v.plaintext.utf8),
            pointer: v.pointer,
            context: v.context,
            key: try v.dek,
            algorithm: .aes256GCMSIVDeterministic
        )
        let d2 = try FieldCipher.seal(
            Array(v.plaintext.utf8),
            pointer: v.pointer,
            context: v.context,
            key: try v.dek,
            algorithm: .aes256GCMSIVDeterministic
        )
        #expect(d1 == d2)
    }

    @Test("nonces drawn from the pooled OS random source never repeat, across many refills and tasks")
    func nonceUniqueness() async throws {
        let v = FormatVector.all[0]
        let key = try v.dek
        // 4 tasks × 6,000 seals = 24,000 nonces: about 70 pool refills, contended.
        let nonces = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try (0..<6_000).map { _ in
                        let text = try FieldCipher.seal(Array("1".utf8), pointer: "/a", context: v.context, key: key)
                        let bytes = try #require(Base64URL.decode(String(text.dropFirst(4))))
                        return Array(bytes[FieldCipher.headerCount..<(FieldCipher.headerCount + 12)])
                    }
                }
            }
            return try await group.reduce(into: [[UInt8]]()) { $0 += $1 }
        }
        #expect(nonces.count == 24_000)
        #expect(Set(nonces).count == nonces.count)
        // Not a stuck or zeroed pool: every byte position takes many values.
        for position in 0..<12 { #expect(Set(nonces.map { $0[position] }).count > 200) }
    }

    @Test("a ciphertext moved to another field, event, subject, topic or tenant fails as one opaque error")
    func contextBinding() throws {
        let v = FormatVector.all[0]
        let sealed = try SealedField(parsing: v.expected)
        var moved: [(String, FieldContext)] = []
        var c = v.context
        c.eventID = "another-event"
        moved.append(("/ssn", c))
        c = v.context
        c.subjectKey = KeyID(high: 1, low: 2)
        moved.append(("/ssn", c))
        c = v.context
        c.topic = "customer_360"
        moved.append(("/ssn", c))
        c = v.context
        c.tenant = "other-bank"
        moved.append(("/ssn", c))
        moved.append(("/dateOfBirth", v.context))
        for (pointer, context) in moved {
            #expect(throws: CipherError(.authenticationFailure)) {
                try sealed.open(pointer: pointer, context: context, key: try v.dek)
            }
        }
        let wrongKey = try DataEncryptionKey(reference: (try v.dek).reference, key: SymmetricKey(size: .bits256))
        #expect(throws: CipherError(.authenticationFailure)) {
            try sealed.open(pointer: v.pointer, context: v.context, key: wrongKey)
        }
    }

    @Test(
        "bad input: typed errors, never a crash",
        arguments: [
            ("", CipherError.Code.malformed), ("sr1:", .malformed), ("sr2:AQEB", .malformed),
            ("sr1:AQEB!!", .malformed),
            ("sr1:AQE", .malformed),
            (
                "sr1:AQEBEBESExQVFhcYGRobHB0eHwAAAAGgoaKjpKWmp6ipqqvEKU4eaP83klRSv-oll4hV2XS7f1L9S8otdAU0UA",
                .unsupportedVersion
            ),
            (
                "sr1:AwEBEBESExQVFhcYGRobHB0eHwAAAAGgoaKjpKWmp6ipqqu_9mSQM7AtnZCvwNbMoQitK4nSaHzFpHSb-PYphQ",
                .unsupportedVersion
            ),
            (
                "sr1:AgkBEBESExQVFhcYGRobHB0eHwAAAAGgoaKjpKWmp6ipqqu_9mSQM7AtnZCvwNbMoQitK4nSaHzFpHSb-PYphQ",
                .unsupportedAlgorithm
            ),
            (
                "sr1:AgEJEBESExQVFhcYGRobHB0eHwAAAAGgoaKjpKWmp6ipqqu_9mSQM7AtnZCvwNbMoQitK4nSaHzFpHSb-PYphQ",
                .unsupportedAlgorithm
            ),
            ("sr1:AgEBEBESExQVFhcYGRobHB0eHwAAAAGgoaKjpKWmp6ipqqu_9mSQ", .malformed),
            (
                "sr1:AgEBEBESExQVFhcYGRobHB0eHwAAAAGgoaKjpKWmp6ipqqu_9mSQM7AtnZCvwNbMoQitK4nSaHzFpHSb-PYphQ==",
                .malformed
            ),
        ]
    )
    func badInput(text: String, code: CipherError.Code) {
        do {
            _ = try SealedField(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.code == code, "\(text)")
        }
    }

    @Test("a key other than the one the header names is refused before any decryption")
    func unknownKey() throws {
        let v = FormatVector.all[0]
        let sealed = try SealedField(parsing: v.expected)
        let other = DataEncryptionKey.generate(
            reference: KeyReference(scope: .subject, id: FormatVector.keyID, version: 9)
        )
        #expect(throws: CipherError(.invalidArgument)) {
            try sealed.open(pointer: v.pointer, context: v.context, key: other)
        }
    }

    @Test("100,000 random mutations of valid ciphertexts are all rejected")
    func mutations() throws {
        var rng = SystemRandomNumberGenerator()
        var rejected = 0
        let total = 100_000
        let keys = try FormatVector.all.map { try $0.dek }
        let texts = FormatVector.all.map { Array($0.expected.utf8) }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=!:".utf8)
        for i in 0..<total {
            let which = i % texts.count
            var text = texts[which]
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:  // replace one character
                let at = Int.random(in: 0..<text.count, using: &rng)
                var c = alphabet.randomElement(using: &rng) ?? 0
                while c == text[at] { c = alphabet.randomElement(using: &rng) ?? 0 }
                text[at] = c
            case 1:  // truncate
                text.removeLast(Int.random(in: 1..<text.count, using: &rng))
            case 2:  // flip a bit of the decoded bytes (header, nonce, body or tag)
                var bytes = Base64URL.decode(String(decoding: text.dropFirst(4), as: UTF8.self)) ?? []
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                text = Array(("sr1:" + Base64URL.encode(bytes)).utf8)
            default:  // insert a character
                text.insert(alphabet.randomElement(using: &rng) ?? 0, at: Int.random(in: 0...text.count, using: &rng))
            }
            let v = FormatVector.all[which]
            do {
                let sealed = try text.withUnsafeBufferPointer { try SealedField(parsing: $0) }
                _ = try sealed.open(pointer: v.pointer, context: v.context, key: keys[which])
            } catch {
                rejected += 1
            }
        }
        #expect(rejected == total)
    }

    @Test("descriptions carry no key bytes")
    func redaction() throws {
        let key = try FormatVector.all[0].dek
        #expect(!"\(key)".contains("0001020304"))
        #expect("\(key)".contains(key.reference.description))
        #expect("\(CipherError(.authenticationFailure))" == "authentication failed")
    }
}

@Suite("Signatures over canonical JSON")
struct SignatureTests {
    @Test("Ed25519: member order and number spelling do not matter, any value change does")
    func ed25519() throws {
        let signer = Ed25519JSONSigner(privateKey: Curve25519.Signing.PrivateKey())
        let a = try JSONValue(parsing: #"{"b":[1,2],"a":12500.00,"c":"x"}"#)
        let sig = try signer.signature(for: a)
        #expect(signer.verifier.isValid(sig, for: try JSONValue(parsing: #"{"a":12500,"c":"x","b":[1,2]}"#)))
        #expect(!signer.verifier.isValid(sig, for: try JSONValue(parsing: #"{"a":12500.01,"c":"x","b":[1,2]}"#)))
        #expect(!signer.verifier.isValid(sig, for: try JSONValue(parsing: #"{"a":12500,"c":"y","b":[1,2]}"#)))
    }

    @Test("a number a double cannot hold is refused, not signed as another value")
    func precision() throws {
        let signer = Ed25519JSONSigner(privateKey: Curve25519.Signing.PrivateKey())
        #expect(throws: JSONError.self) {
            try signer.signature(for: JSONValue(parsing: #"{"id":12345678901234567891}"#))
        }
    }

    @Test("HMAC-SHA256 tags verify in constant time; short keys refused")
    func hmac() throws {
        let signer = try HMACJSONSigner(key: SymmetricKey(size: .bits256))
        let value = try JSONValue(parsing: #"{"a":1}"#)
        var tag = try signer.tag(for: value)
        #expect(signer.isValid(tag, for: value))
        tag[31] ^= 1
        #expect(!signer.isValid(tag, for: value))
        #expect(throws: CipherError.self) { try HMACJSONSigner(key: SymmetricKey(size: .bits128)) }
    }
}

@Suite("Base64URL")
struct Base64URLTests {
    /// Foundation's encoder, turned into the URL alphabet without padding: an independent reference.
    static func reference(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @Test("every length 0…300 encodes as Foundation does and decodes back")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 0...300 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Base64URL.encode(bytes)
            #expect(text == Self.reference(bytes))
            #expect(Base64URL.decode(text) == bytes)
        }
    }

    @Test("decoding into a used array replaces its bytes; a refusal leaves it empty")
    func decodeInto() throws {
        var out: [UInt8] = Array(repeating: 7, count: 300)
        for length in [0, 1, 2, 3, 10, 200, 1500, 5] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) }
            let text = Array(Self.reference(bytes).utf8)
            #expect(text.withUnsafeBufferPointer { Base64URL.decode($0, into: &out) })
            #expect(out == bytes)
        }
        #expect(!Array("AB".utf8).withUnsafeBufferPointer { Base64URL.decode($0, into: &out) })
        #expect(out.isEmpty)
        // A length no text can have is refused before decoding: the array is emptied too.
        #expect(Array("AAAA".utf8).withUnsafeBufferPointer { Base64URL.decode($0, into: &out) })
        #expect(!Array("AAAAA".utf8).withUnsafeBufferPointer { Base64URL.decode($0, into: &out) })
        #expect(out.isEmpty)
    }

    @Test(
        "non-canonical text is refused",
        arguments: ["A", "AAAAA", "AB", "AAB", "AA==", "AA+A", "AA/A", "AA A", "AAA=", "QUJD\n", "Zm9vYg=", "Zh"]
    )
    func strict(_ text: String) {
        // "AB" and "AAB" carry non-zero trailing bits; "Zh" too.
        #expect(Base64URL.decode(text) == nil)
    }

    @Test("a byte outside the alphabet is refused at every position of longer text")
    func strictEverywhere() throws {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        // 27 characters: three eight-character steps and a three-character tail.
        let valid = Array(Self.reference(Array(0..<20)).utf8)
        #expect(valid.count == 27)
        #expect(valid.withUnsafeBufferPointer { Base64URL.decode($0) } == Array(0..<20))
        for position in valid.indices {
            for byte in UInt8.min...UInt8.max where !alphabet.contains(byte) {
                var text = valid
                text[position] = byte
                #expect(text.withUnsafeBufferPointer { Base64URL.decode($0) } == nil, "\(byte) at \(position)")
            }
        }
    }

    @Test("canonical short forms decode")
    func canonical() {
        #expect(Base64URL.decode("") == [])
        #expect(Base64URL.decode("AA") == [0])
        #expect(Base64URL.decode("AAA") == [0, 0])
        #expect(Base64URL.decode("Zg") == Array("f".utf8))
        #expect(Base64URL.decode("Zm8") == Array("fo".utf8))
        #expect(Base64URL.decode("_-8") == [0xFF, 0xEF])
    }
}
