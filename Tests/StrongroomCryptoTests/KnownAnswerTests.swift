import Crypto
import Foundation
import StrongroomCrypto
import StrongroomTestSupport
import Testing

private func hex(_ s: String) -> [UInt8] { TestSupport.hex(s) }

@Suite("Known answers: RFC vectors")
struct RFCKnownAnswerTests {
    @Test("RFC 3394 §4 key wrap", arguments: RFCVectors.keyWrap)
    func keyWrap(vector: RFCVectors.KeyWrapCase) throws {
        let kek = SymmetricKey(data: hex(vector.kek))
        let wrapped = try KeyWrap.wrap(SymmetricKey(data: hex(vector.keyData)), using: kek)
        #expect(wrapped == hex(vector.wrapped), "\(vector.name)")
        let unwrapped = try KeyWrap.unwrap(hex(vector.wrapped), using: kek)
        #expect(unwrapped.withUnsafeBytes { Array($0) } == hex(vector.keyData))
    }

    @Test("RFC 8452 appendix C AES-256-GCM-SIV", arguments: RFCVectors.gcmSIV256)
    func gcmSIV(vector: RFCVectors.GCMSIVCase) throws {
        let key = SymmetricKey(data: hex(vector.key))
        let sealed = try DeterministicAEAD.seal(
            hex(vector.plaintext),
            using: key,
            nonce: hex(vector.nonce),
            authenticating: hex(vector.aad)
        )
        #expect(sealed == hex(vector.result), "\(vector.name)")
        let opened = try DeterministicAEAD.open(
            hex(vector.result),
            using: key,
            nonce: hex(vector.nonce),
            authenticating: hex(vector.aad)
        )
        #expect(opened == hex(vector.plaintext))
    }

    @Test("RFC 8032 §7.1 Ed25519 tests 1-3", arguments: RFCVectors.ed25519)
    func ed25519(vector: RFCVectors.Ed25519Case) throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: hex(vector.secretKey))
        #expect(Array(key.publicKey.rawRepresentation) == hex(vector.publicKey))
        // Ed25519 is deterministic (RFC 8032 §5.1.6) but BoringSSL may add hedging; verify both ways.
        let signature = try key.signature(for: hex(vector.message))
        #expect(key.publicKey.isValidSignature(signature, for: hex(vector.message)))
        #expect(key.publicKey.isValidSignature(hex(vector.signature), for: hex(vector.message)))
        var tampered = hex(vector.signature)
        tampered[0] ^= 1
        #expect(!key.publicKey.isValidSignature(tampered, for: hex(vector.message)))
    }

    @Test("RFC 4231 §4 HMAC-SHA-256", arguments: RFCVectors.hmacSHA256)
    func hmac(vector: RFCVectors.HMACCase) {
        let mac = Array(
            HMAC<SHA256>.authenticationCode(for: hex(vector.data), using: SymmetricKey(data: hex(vector.key)))
        )
        #expect(Array(mac.prefix(vector.truncatedBytes ?? 32)) == hex(vector.mac), "\(vector.name)")
    }

    @Test("GCM specification test cases 13-16 (AES-256)", arguments: RFCVectors.aesGCM256)
    func aesGCM(vector: RFCVectors.GCMCase) throws {
        let key = SymmetricKey(data: hex(vector.key))
        let box = try AES.GCM.seal(
            hex(vector.plaintext),
            using: key,
            nonce: AES.GCM.Nonce(data: hex(vector.iv)),
            authenticating: hex(vector.aad)
        )
        #expect(Array(box.ciphertext) == hex(vector.ciphertext), "\(vector.name)")
        #expect(Array(box.tag) == hex(vector.tag))
    }
}

@Suite("Known answers: Wycheproof")
struct WycheproofTests {
    struct Case {
        var group: [String: Any]
        var test: [String: Any]
        func bytes(_ key: String) -> [UInt8] { hex(test[key] as? String ?? group[key] as? String ?? "") }
        var result: String { test["result"] as? String ?? "" }
        var id: Int { test["tcId"] as? Int ?? -1 }
    }

    func cases(_ file: String) throws -> [Case] {
        let json = try TestSupport.vectorJSON("wycheproof/\(file)")
        let groups = json["testGroups"] as? [[String: Any]] ?? []
        return groups.flatMap { g in (g["tests"] as? [[String: Any]] ?? []).map { Case(group: g, test: $0) } }
    }

    @Test("AES-GCM: every valid case seals exactly, every invalid one fails to open (96-bit IV, 128-bit tag)")
    func aesGCM() throws {
        guard TestSupport.vectorsAvailable else { return }
        var checked = 0
        for c in try cases("aes_gcm_test.json") {
            guard c.group["ivSize"] as? Int == 96, c.group["tagSize"] as? Int == 128 else { continue }
            let key = SymmetricKey(data: c.bytes("key"))
            let nonce = try AES.GCM.Nonce(data: c.bytes("iv"))
            let box = try AES.GCM.SealedBox(nonce: nonce, ciphertext: c.bytes("ct"), tag: c.bytes("tag"))
            let opened = try? AES.GCM.open(box, using: key, authenticating: c.bytes("aad"))
            if c.result == "valid" {
                #expect(opened.map(Array.init) == c.bytes("msg"), "tcId \(c.id)")
            } else if c.result == "invalid" {
                #expect(opened == nil, "tcId \(c.id)")
            }
            checked += 1
        }
        #expect(checked > 100)
    }

    @Test("AES-GCM-SIV through DeterministicAEAD")
    func gcmSIV() throws {
        guard TestSupport.vectorsAvailable else { return }
        var checked = 0
        for c in try cases("aes_gcm_siv_test.json") {
            guard c.group["keySize"] as? Int == 256, c.group["ivSize"] as? Int == 96, c.group["tagSize"] as? Int == 128
            else { continue }
            let key = SymmetricKey(data: c.bytes("key"))
            let opened = try? DeterministicAEAD.open(
                c.bytes("ct") + c.bytes("tag"),
                using: key,
                nonce: c.bytes("iv"),
                authenticating: c.bytes("aad")
            )
            if c.result == "valid" {
                #expect(opened == c.bytes("msg"), "tcId \(c.id)")
                #expect(
                    try DeterministicAEAD.seal(
                        c.bytes("msg"),
                        using: key,
                        nonce: c.bytes("iv"),
                        authenticating: c.bytes("aad")
                    ) == c.bytes("ct") + c.bytes("tag")
                )
            } else if c.result == "invalid" {
                #expect(opened == nil, "tcId \(c.id)")
            }
            checked += 1
        }
        #expect(checked > 50)
    }

    @Test("AES key wrap (RFC 3394)")
    func keyWrap() throws {
        guard TestSupport.vectorsAvailable else { return }
        var checked = 0
        for c in try cases("aes_wrap_test.json") {
            let kek = SymmetricKey(data: c.bytes("key"))
            let unwrapped = try? KeyWrap.unwrap(c.bytes("ct"), using: kek)
            if c.result == "valid" {
                #expect(unwrapped?.withUnsafeBytes { Array($0) } == c.bytes("msg"), "tcId \(c.id)")
                #expect(try KeyWrap.wrap(SymmetricKey(data: c.bytes("msg")), using: kek) == c.bytes("ct"))
            } else if c.result == "invalid" {
                #expect(unwrapped == nil, "tcId \(c.id)")
            }
            checked += 1
        }
        #expect(checked > 100)
    }

    @Test("Ed25519 verification")
    func ed25519() throws {
        guard TestSupport.vectorsAvailable else { return }
        var checked = 0
        for c in try cases("ed25519_test.json") {
            let pk = (c.group["publicKey"] as? [String: Any])?["pk"] as? String ?? ""
            let key = try Curve25519.Signing.PublicKey(rawRepresentation: hex(pk))
            let valid = key.isValidSignature(c.bytes("sig"), for: c.bytes("msg"))
            if c.result == "valid" { #expect(valid, "tcId \(c.id)") }
            if c.result == "invalid" { #expect(!valid, "tcId \(c.id)") }
            checked += 1
        }
        #expect(checked > 100)
    }

    @Test("HMAC-SHA256, constant-time check")
    func hmac() throws {
        guard TestSupport.vectorsAvailable else { return }
        var checked = 0
        for c in try cases("hmac_sha256_test.json") {
            let tagBytes = (c.group["tagSize"] as? Int ?? 256) / 8
            let key = SymmetricKey(data: c.bytes("key"))
            let mac = Array(HMAC<SHA256>.authenticationCode(for: c.bytes("msg"), using: key))
            let matches = Array(mac.prefix(tagBytes)) == c.bytes("tag")
            if c.result == "valid" { #expect(matches, "tcId \(c.id)") }
            if c.result == "invalid" { #expect(!matches, "tcId \(c.id)") }
            if tagBytes == 32, c.result == "valid" {
                #expect(
                    HMAC<SHA256>.isValidAuthenticationCode(c.bytes("tag"), authenticating: c.bytes("msg"), using: key)
                )
            }
            checked += 1
        }
        #expect(checked > 100)
    }
}
