import Crypto
import Foundation
import StrongroomTestSupport
import Synchronization
import Testing

@_spi(FixedNonce) @testable import StrongroomCrypto

#if canImport(Glibc)
import Glibc
#endif

private func hex(_ s: String) -> [UInt8] { TestSupport.hex(s) }

private func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

/// Seals through the build's backend; returns ciphertext ‖ tag.
private func seal(_ keys: FieldKeys, nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: plaintext.count + 16)
    try nonce.withUnsafeBytes { n in
        try aad.withUnsafeBytes { a in
            try plaintext.withUnsafeBytes { p in
                try out.withUnsafeMutableBytes { try keys.sealGCM(nonce: n, aad: a, plaintext: p, into: $0) }
            }
        }
    }
    return out
}

/// Opens through the build's backend; nil when authentication fails.
private func open(_ keys: FieldKeys, nonce: [UInt8], aad: [UInt8], sealed: [UInt8]) -> [UInt8]? {
    guard sealed.count >= 16 else { return nil }
    let body = Array(sealed.dropLast(16))
    let tag = Array(sealed.suffix(16))
    var out = [UInt8](repeating: 0xEE, count: body.count)
    do {
        try nonce.withUnsafeBytes { n in
            try aad.withUnsafeBytes { a in
                try body.withUnsafeBytes { c in
                    try tag.withUnsafeBytes { t in
                        try out.withUnsafeMutableBytes {
                            try keys.openGCM(nonce: n, aad: a, ciphertext: c, tag: t, into: $0)
                        }
                    }
                }
            }
        }
    } catch {
        // No plaintext may be left behind by a failed open.
        #expect(out.allSatisfy { $0 == 0 || $0 == 0xEE })
        return nil
    }
    return out
}

/// The OpenSSL routes to test.
///
/// The provider's functions (the default) and EVP (the fallback). Without the trait there is
/// one backend; the route is ignored.
private let routes: [FieldKeys.OpenSSLRoute] = {
    #if OpenSSL
    FieldKeys.OpenSSLRoute.allCases
    #else
    [.provider]
    #endif
}()

/// swift-crypto's output for the same inputs: the reference the OpenSSL backend must match.
private func referenceSeal(key: SymmetricKey, nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) throws -> [UInt8] {
    let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
    return Array(box.ciphertext) + Array(box.tag)
}

@Suite("AES-256-GCM backend (OpenSSL with the OpenSSL trait, else swift-crypto)")
struct AEADBackendTests {
    @Test("the backend in use is the one the build's traits name")
    func backendName() {
        #if OpenSSL
        // The provider route resolves on this machine's OpenSSL: a fallback to EVP would be a regression.
        #expect(DataEncryptionKey.gcmBackend.hasPrefix("OpenSSL (OpenSSL 3."))
        #expect(DataEncryptionKey.gcmBackend.hasSuffix("; the provider's AES-256-GCM called directly)"))
        #else
        #expect(DataEncryptionKey.gcmBackend == "swift-crypto")
        #endif
    }

    @Test(
        "byte-identical to swift-crypto for every length 0-300 and 4 KiB, and both open each other's output",
        arguments: routes
    )
    func byteIdentical(route: FieldKeys.OpenSSLRoute) throws {
        for length in Array(0...300) + [1024, 4096, 65_537] {
            let key = SymmetricKey(size: .bits256)
            let keys = FieldKeys(gcm: key, siv: key, route: route)
            let nonce = randomBytes(12)
            let aad = randomBytes(length % 97)
            let plaintext = randomBytes(length)
            let ours = try seal(keys, nonce: nonce, aad: aad, plaintext: plaintext)
            let reference = try referenceSeal(key: key, nonce: nonce, aad: aad, plaintext: plaintext)
            #expect(ours == reference, "length \(length)")
            #expect(open(keys, nonce: nonce, aad: aad, sealed: reference) == plaintext, "length \(length)")
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: nonce),
                ciphertext: ours.dropLast(16),
                tag: ours.suffix(16)
            )
            #expect(Array(try AES.GCM.open(box, using: key, authenticating: aad)) == plaintext)
        }
    }

    @Test("GCM specification test cases 13-16 through the backend", arguments: RFCVectors.aesGCM256, routes)
    func specVectors(vector: RFCVectors.GCMCase, route: FieldKeys.OpenSSLRoute) throws {
        let key = SymmetricKey(data: hex(vector.key))
        let keys = FieldKeys(gcm: key, siv: key, route: route)
        let sealed = try seal(keys, nonce: hex(vector.iv), aad: hex(vector.aad), plaintext: hex(vector.plaintext))
        #expect(sealed == hex(vector.ciphertext) + hex(vector.tag), "\(vector.name)")
        #expect(open(keys, nonce: hex(vector.iv), aad: hex(vector.aad), sealed: sealed) == hex(vector.plaintext))
    }

    @Test("Wycheproof AES-GCM (256-bit keys, 96-bit IV, 128-bit tag) through the backend", arguments: routes)
    func wycheproof(route: FieldKeys.OpenSSLRoute) throws {
        guard TestSupport.vectorsAvailable else { return }
        let json = try TestSupport.vectorJSON("wycheproof/aes_gcm_test.json")
        var checked = 0
        for group in json["testGroups"] as? [[String: Any]] ?? [] {
            guard group["keySize"] as? Int == 256, group["ivSize"] as? Int == 96, group["tagSize"] as? Int == 128
            else { continue }
            for test in group["tests"] as? [[String: Any]] ?? [] {
                func bytes(_ name: String) -> [UInt8] { hex(test[name] as? String ?? "") }
                let key = SymmetricKey(data: bytes("key"))
                let keys = FieldKeys(gcm: key, siv: key, route: route)
                let id = test["tcId"] as? Int ?? -1
                let opened = open(keys, nonce: bytes("iv"), aad: bytes("aad"), sealed: bytes("ct") + bytes("tag"))
                switch test["result"] as? String {
                case "valid":
                    #expect(opened == bytes("msg"), "tcId \(id)")
                    let sealed = try seal(keys, nonce: bytes("iv"), aad: bytes("aad"), plaintext: bytes("msg"))
                    #expect(sealed == bytes("ct") + bytes("tag"), "tcId \(id)")
                case "invalid":
                    #expect(opened == nil, "tcId \(id)")
                default: break
                }
                checked += 1
            }
        }
        #expect(checked > 50)
    }

    @Test("every flipped bit of ciphertext, tag or associated data fails, leaving no plaintext", arguments: routes)
    func tamper(route: FieldKeys.OpenSSLRoute) throws {
        let key = SymmetricKey(size: .bits256)
        let keys = FieldKeys(gcm: key, siv: key, route: route)
        let nonce = randomBytes(12)
        let aad = Array("strongroom/field/v2 context".utf8)
        let plaintext = Array(#""123-45-6789""#.utf8)
        let sealed = try seal(keys, nonce: nonce, aad: aad, plaintext: plaintext)
        for i in sealed.indices {
            for bit in 0..<8 {
                var bad = sealed
                bad[i] ^= 1 << bit
                #expect(open(keys, nonce: nonce, aad: aad, sealed: bad) == nil, "byte \(i) bit \(bit)")
            }
        }
        for i in aad.indices {
            var bad = aad
            bad[i] ^= 0x01
            #expect(open(keys, nonce: nonce, aad: bad, sealed: sealed) == nil)
        }
        var badNonce = nonce
        badNonce[11] ^= 0x80
        #expect(open(keys, nonce: badNonce, aad: aad, sealed: sealed) == nil)
        let other = SymmetricKey(size: .bits256)
        #expect(open(FieldKeys(gcm: other, siv: other, route: route), nonce: nonce, aad: aad, sealed: sealed) == nil)
        // Opening again after all those failures still works: a failed open leaves the context usable.
        #expect(open(keys, nonce: nonce, aad: aad, sealed: sealed) == plaintext)
    }

    @Test("a context seals correctly right after failed opens, and the provider route is in use", arguments: routes)
    func sealAfterFailedOpen(route: FieldKeys.OpenSSLRoute) throws {
        #if OpenSSL
        if route == .provider { #expect(FieldKeys.providerRouteActive) }
        #endif
        let key = SymmetricKey(size: .bits256)
        // One idle context at a time: every call below reuses the same one.
        let keys = FieldKeys(gcm: key, siv: key, route: route)
        let nonce = randomBytes(12)
        let aad = randomBytes(33)
        let plaintext = randomBytes(45)
        var sealed = try seal(keys, nonce: nonce, aad: aad, plaintext: plaintext)
        sealed[3] ^= 0x10
        #expect(open(keys, nonce: nonce, aad: aad, sealed: sealed) == nil)
        sealed[3] ^= 0x10
        sealed[sealed.count - 1] ^= 1
        #expect(open(keys, nonce: nonce, aad: aad, sealed: sealed) == nil)
        let nonce2 = randomBytes(12)
        let again = try seal(keys, nonce: nonce2, aad: aad, plaintext: plaintext)
        #expect(again == (try referenceSeal(key: key, nonce: nonce2, aad: aad, plaintext: plaintext)))
        #expect(open(keys, nonce: nonce2, aad: aad, sealed: again) == plaintext)
    }

    @Test("a key that is not 256 bits is refused, not read past its end")
    func wrongKeySize() {
        let short = SymmetricKey(size: .bits128)
        let keys = FieldKeys(gcm: short, siv: short)
        #expect(throws: CipherError.self) {
            _ = try seal(keys, nonce: randomBytes(12), aad: [], plaintext: randomBytes(5))
        }
    }

    @Test("one key shared by eight threads: every seal opens, and seals and opens interleave on reused contexts")
    func concurrent() async throws {
        let key = DataEncryptionKey.generate(
            reference: KeyReference(scope: .topic, id: KeyID(high: 1, low: 2), version: 1)
        )
        let context = FieldContext(topic: "t")
        try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var done = 0
                    for i in 0..<2000 {
                        let plaintext = Array(#""worker \#(worker) item \#(i)""#.utf8)
                        let text = try FieldCipher.seal(plaintext, pointer: "/v", context: context, key: key)
                        let opened = try SealedField(parsing: text).open(pointer: "/v", context: context, key: key)
                        guard opened == plaintext else { throw CipherError(.authenticationFailure) }
                        done += 1
                    }
                    return done
                }
            }
            var total = 0
            for try await n in group { total += n }
            #expect(total == 16_000)
        }
    }

    @Test("fields parsed into one reused buffer keep their own bytes, whichever are kept alive")
    func reusedBuffer() throws {
        let key = DataEncryptionKey.generate(
            reference: KeyReference(scope: .topic, id: KeyID(high: 3, low: 4), version: 1)
        )
        let context = FieldContext(topic: "t")
        let plaintexts = (0..<50).map { Array("\"value \($0) \(String(repeating: "x", count: $0 * 7))\"".utf8) }
        let texts = try plaintexts.map { try FieldCipher.seal($0, pointer: "/v", context: context, key: key) }
        var storage: [UInt8] = []
        var kept: [SealedField] = []
        for (i, text) in texts.enumerated() {
            var utf8 = Array(text.utf8)
            let sealed = try utf8.withUnsafeMutableBufferPointer { buffer in
                try SealedField(parsing: UnsafeBufferPointer(buffer), reusing: &storage)
            }
            // Every third field outlives the parses after it, which reuse the same array.
            if i % 3 == 0 { kept.append(sealed) }
            #expect(try sealed.open(pointer: "/v", context: context, key: key) == plaintexts[i])
            utf8[0] = 0
        }
        for (j, sealed) in kept.enumerated() {
            #expect(try sealed.open(pointer: "/v", context: context, key: key) == plaintexts[3 * j])
        }
        // Text that is not base64url leaves the buffer empty and is refused.
        var bad = Array("sr1:AAA*".utf8)
        #expect(throws: CipherError(.malformed)) {
            try bad.withUnsafeMutableBufferPointer {
                try SealedField(parsing: UnsafeBufferPointer($0), reusing: &storage)
            }
        }
        #expect(storage.isEmpty)
    }

    @Test("a discarded key refuses to seal or open, in every copy; other keys keep working")
    func discard() throws {
        let reference = KeyReference(scope: .subject, id: KeyID.random(), version: 1)
        let key = DataEncryptionKey.generate(reference: reference)
        let copy = key
        let context = FieldContext(topic: "t", subjectKey: reference.id)
        let text = try FieldCipher.seal(Array("1".utf8), pointer: "/a", context: context, key: key)
        let det = try FieldCipher.seal(
            Array("2".utf8),
            pointer: "/b",
            context: context,
            key: key,
            algorithm: .aes256GCMSIVDeterministic
        )
        key.discard()
        #expect(copy.isDiscarded)
        #expect(throws: CipherError(.invalidKey)) {
            try FieldCipher.seal(Array("1".utf8), pointer: "/a", context: context, key: copy)
        }
        #expect(throws: CipherError(.invalidKey)) {
            try SealedField(parsing: text).open(pointer: "/a", context: context, key: copy)
        }
        #expect(throws: CipherError(.invalidKey)) {
            try SealedField(parsing: det).open(pointer: "/b", context: context, key: copy)
        }
        let other = DataEncryptionKey.generate(reference: KeyReference(scope: .topic, id: KeyID.random(), version: 1))
        let again = try FieldCipher.seal(Array("1".utf8), pointer: "/a", context: context, key: other)
        #expect(try SealedField(parsing: again).open(pointer: "/a", context: context, key: other) == Array("1".utf8))
    }

    @Test("a session begun before an erasure refuses its next seal and open; none begins after it")
    func discardDuringSession() throws {
        let reference = KeyReference(scope: .subject, id: KeyID.random(), version: 1)
        let key = DataEncryptionKey.generate(reference: reference)
        let prefix = FieldContext(topic: "t", subjectKey: reference.id).associatedDataPrefix()
        let session = try FieldSession(key)
        var first: [UInt8] = []
        try Array("1".utf8).withUnsafeBytes {
            try FieldCipher.seal($0, pointer: "/a", associatedDataPrefix: prefix, session: session, into: &first)
        }
        let sealed = try SealedField(parsing: String(decoding: first, as: UTF8.self))
        var opened: [UInt8] = []
        try sealed.open(pointer: "/a", associatedDataPrefix: prefix, session: session, into: &opened)
        #expect(opened == Array("1".utf8))
        key.discard()
        var more: [UInt8] = []
        #expect(throws: CipherError(.invalidKey)) {
            try Array("2".utf8).withUnsafeBytes {
                try FieldCipher.seal($0, pointer: "/b", associatedDataPrefix: prefix, session: session, into: &more)
            }
        }
        #expect(more.isEmpty)
        var again: [UInt8] = []
        #expect(throws: CipherError(.invalidKey)) {
            try sealed.open(pointer: "/a", associatedDataPrefix: prefix, session: session, into: &again)
        }
        #expect(again.isEmpty)
        #expect(throws: CipherError(.invalidKey)) { _ = try FieldSession(key) }
    }
}

@Suite("GCM nonces: pooled kernel randomness, never repeated")
struct NonceTests {
    @Test("pools are fork-safe on this kernel (MADV_WIPEONFORK), so nonces are pooled")
    func pooled() {
        #if os(Linux)
        #expect(NonceSource.isPooled)
        #endif
    }

    @Test("no nonce repeats across 10^7 field seals (each nonce read back from the sealed bytes)")
    func tenMillion() throws {
        let count = 10_000_000
        let key = DataEncryptionKey.generate(reference: KeyReference(scope: .topic, id: KeyID.random(), version: 1))
        let plaintext: [UInt8] = [0x31]
        let sealedCount = FieldCipher.sealedCount(1, .aes256GCM)
        var heads = [UInt64](repeating: 0, count: count)
        var tails = [UInt32](repeating: 0, count: count)
        let prefix = FieldContext(topic: "t").associatedDataPrefix()
        let session = try FieldSession(key)
        try withUnsafeTemporaryAllocation(byteCount: sealedCount, alignment: 8) { sealed in
            try plaintext.withUnsafeBytes { p in
                for i in 0..<count {
                    try FieldCipher.sealBinary(
                        p,
                        pointer: "/a",
                        associatedDataPrefix: prefix,
                        session: session,
                        algorithm: .aes256GCM,
                        nonce: nil,
                        into: sealed
                    )
                    let n = FieldCipher.headerCount
                    heads[i] = sealed.loadUnaligned(fromByteOffset: n, as: UInt64.self)
                    tails[i] = sealed.loadUnaligned(fromByteOffset: n + 8, as: UInt32.self)
                }
            }
        }
        // Sort indices by the first 8 bytes; equal heads then compare the last 4.
        var order = Array(0..<count)
        order.sort { heads[$0] < heads[$1] }
        var repeats = 0
        for j in 1..<count where heads[order[j]] == heads[order[j - 1]] && tails[order[j]] == tails[order[j - 1]] {
            repeats += 1
        }
        #expect(repeats == 0)
        #expect(Set(heads.prefix(1000)).count == 1000)
    }

    #if os(Linux)
    @Test("a forked child never hands out the parent's pooled nonces")
    func fork() throws {
        var first = [UInt8](repeating: 0, count: 12)
        first.withUnsafeMutableBytes { NonceSource.fill($0) }  // the pool now holds ~1000 more
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)
        var fromChild = [UInt8](repeating: 0, count: 36)
        let pid = Glibc.fork()
        if pid == 0 {
            // Child: only syscalls and memory already mapped.
            fromChild.withUnsafeMutableBytes { buffer in
                for i in 0..<3 {
                    NonceSource.fill(UnsafeMutableRawBufferPointer(rebasing: buffer[(i * 12)..<(i * 12 + 12)]))
                }
                _ = write(pipe[1], buffer.baseAddress, 36)
            }
            _exit(0)
        }
        #expect(pid > 0)
        close(pipe[1])
        var parent = [UInt8](repeating: 0, count: 36)
        parent.withUnsafeMutableBytes { buffer in
            for i in 0..<3 {
                NonceSource.fill(UnsafeMutableRawBufferPointer(rebasing: buffer[(i * 12)..<(i * 12 + 12)]))
            }
        }
        let got = fromChild.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, 36) }
        close(pipe[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(got == 36)
        #expect(fromChild != parent)
        for i in 0..<3 {
            let child = Array(fromChild[(i * 12)..<(i * 12 + 12)])
            for j in 0..<3 { #expect(child != Array(parent[(j * 12)..<(j * 12 + 12)])) }
        }
    }
    #endif
}

@Suite("HMAC-SHA256 chains (on OpenSSL's SHA-256 with the OpenSSL trait, else swift-crypto)")
struct HMACChainTests {
    @Test("the provider's SHA-256 functions resolve and pass their check here")
    func providerRoute() {
        #if OpenSSL
        // A fallback to EVP on this machine's OpenSSL would be a regression.
        #expect(HMACChain.providerRoute)
        #endif
    }

    @Test("RFC 4231 vectors", arguments: RFCVectors.hmacSHA256, routes)
    func rfc4231(vector: RFCVectors.HMACCase, route: FieldKeys.OpenSSLRoute) throws {
        let mac = try HMACChain(route: route).mac(key: hex(vector.key), message: hex(vector.data))
        #expect(Array(mac.prefix(vector.truncatedBytes ?? 32)) == hex(vector.mac), "\(vector.name)")
    }

    @Test(
        "equal to swift-crypto's HMAC<SHA256> for keys of 0-150 and 300 bytes and messages around the block edges, one chain reused",
        arguments: routes
    )
    func matchesSwiftCrypto(route: FieldKeys.OpenSSLRoute) throws {
        let chain = try HMACChain(route: route)
        // Every key length against every message length around the block edges (55, 56, 64).
        let edges = [0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 128, 150, 300]
        for keyLength in Array(0...150) + [300] {
            for messageLength in keyLength <= 70 || keyLength % 10 == 0 ? edges : [keyLength % 64] {
                let key = randomBytes(keyLength)
                let message = randomBytes(messageLength)
                let reference = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
                #expect(
                    chain.mac(key: key, message: message) == reference,
                    "key \(keyLength) bytes, message \(messageLength)"
                )
            }
        }
    }

    @Test(
        "a walk gives the MACs one by one: 0-17 steps, keys of 0-70 bytes, an empty last message",
        arguments: routes
    )
    func walkMatchesSteps(route: FieldKeys.OpenSSLRoute) throws {
        let chain = try HMACChain(route: route)
        for count in 0...17 {
            for keyLength in [0, 1, 32, 70] {
                let key = randomBytes(keyLength)
                let steps = randomBytes(count)
                for last in [[], Array("strongroom/kek-leaf/v1".utf8)] {
                    var node = key
                    for step in steps {
                        node = Array(HMAC<SHA256>.authenticationCode(for: [step], using: SymmetricKey(data: node)))
                    }
                    let reference = Array(HMAC<SHA256>.authenticationCode(for: last, using: SymmetricKey(data: node)))
                    #expect(chain.walk(key: key, steps: steps, last: last) == reference, "\(count) steps")
                }
            }
        }
    }

    @Test(
        "HKDF-SHA256: RFC 5869's test case 3, and swift-crypto's bytes for inputs of 0-80 bytes, info of 0-256, outputs of 1-8,160",
        arguments: routes
    )
    func hkdf(route: FieldKeys.OpenSSLRoute) throws {
        let chain = try HMACChain(route: route)
        func derive(_ key: [UInt8], _ info: [UInt8], _ count: Int) -> [UInt8] {
            var out = [UInt8](repeating: 0xAA, count: count)
            key.withUnsafeBytes { k in out.withUnsafeMutableBytes { chain.hkdf(key: k, info: info, into: $0) } }
            return out
        }
        #expect(
            derive([UInt8](repeating: 0x0B, count: 22), [], 42)
                == hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
        )
        for keyLength in [0, 1, 31, 32, 33, 64, 65, 80] {
            for infoLength in [0, 1, 21, 255, 256] {
                for count in [1, 31, 32, 33, 64, 100, 8_160] {
                    let key = randomBytes(keyLength)
                    let info = randomBytes(infoLength)
                    let reference = HKDF<SHA256>.deriveKey(
                        inputKeyMaterial: SymmetricKey(data: key),
                        info: info,
                        outputByteCount: count
                    )
                    #expect(
                        derive(key, info, count) == reference.withUnsafeBytes { Array($0) },
                        "key \(keyLength), info \(infoLength), \(count) bytes"
                    )
                }
            }
        }
        // The chain still MACs after the derivations: RFC 4231 test case 1.
        #expect(
            chain.mac(key: hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), message: Array("Hi There".utf8))
                == hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        )
    }

    @Test("Wycheproof HMAC-SHA256 (full-length tags)", arguments: routes)
    func wycheproof(route: FieldKeys.OpenSSLRoute) throws {
        guard TestSupport.vectorsAvailable else { return }
        let json = try TestSupport.vectorJSON("wycheproof/hmac_sha256_test.json")
        let chain = try HMACChain(route: route)
        var checked = 0
        for group in json["testGroups"] as? [[String: Any]] ?? [] where group["tagSize"] as? Int == 256 {
            for test in group["tests"] as? [[String: Any]] ?? [] {
                func bytes(_ name: String) -> [UInt8] { hex(test[name] as? String ?? "") }
                let matches = chain.mac(key: bytes("key"), message: bytes("msg")) == bytes("tag")
                if test["result"] as? String == "valid" { #expect(matches, "tcId \(test["tcId"] ?? "")") }
                if test["result"] as? String == "invalid" { #expect(!matches, "tcId \(test["tcId"] ?? "")") }
                checked += 1
            }
        }
        #expect(checked > 50)
    }
}

@Suite("Field subkeys (HKDF-SHA256)")
struct SubkeyTests {
    @Test("the backend's HKDF equals swift-crypto's for every algorithm, and the SIV subkey is made on first use")
    func hkdf() throws {
        for _ in 0..<200 {
            let key = SymmetricKey(size: .bits256)
            for algorithm in [FieldAlgorithm.aes256GCM, .aes256GCMSIVDeterministic] {
                let reference = HKDF<SHA256>.deriveKey(
                    inputKeyMaterial: key,
                    info: Array("strongroom/field/v2/".utf8) + [algorithm.rawValue],
                    outputByteCount: 32
                )
                #expect(DataEncryptionKey.subkey(key, algorithm) == reference)
            }
            let keys = FieldKeys(deriving: key)
            #expect(
                try keys.sivKey() == DataEncryptionKey.subkey(key, .aes256GCMSIVDeterministic)
                    && keys.gcmKey() == DataEncryptionKey.subkey(key, .aes256GCM)
            )
        }
    }
}

@Suite("GCM nonces: the fork guard beside the wiped page")
struct ForkGenerationTests {
    /// The next nonce the calling thread's pool would hand out.
    func peekNext() -> [UInt8]? {
        guard let pool = NonceSource.threadPool() else { return nil }
        let available = pool.load(as: Int.self)
        guard available >= 12 else { return nil }
        return Array(UnsafeRawBufferPointer(start: pool + NonceSource.headerBytes + available - 12, count: 12))
    }

    @Test("a fork seen by pthread_atfork refills the pool even if the page was not wiped")
    func atforkGuard() throws {
        guard NonceSource.isPooled else { return }
        var nonce = [UInt8](repeating: 0, count: 12)
        nonce.withUnsafeMutableBytes { NonceSource.fill($0) }
        // Without a fork the pool hands out the bytes it holds.
        let expected = try #require(peekNext())
        nonce.withUnsafeMutableBytes { NonceSource.fill($0) }
        #expect(nonce == expected)
        // As the child handler does after fork(): the pool's bytes are not used again.
        let held = try #require(peekNext())
        NonceSource.forkGeneration.add(1, ordering: .relaxed)
        nonce.withUnsafeMutableBytes { NonceSource.fill($0) }
        #expect(nonce != held)
    }
}
