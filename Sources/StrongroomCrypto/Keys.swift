public import Crypto

#if OpenSSL
import CLibCrypto
#endif

/// Which data-encryption key family a field is sealed under.
public enum KeyScope: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The data subject's own key: erasing the subject makes the field unreadable.
    case subject = 1
    /// The topic's key, for fields that belong to no data subject.
    case topic = 2

    /// `subject` or `topic`.
    public var description: String { self == .subject ? "subject" : "topic" }
}

/// A 128-bit key-family identifier.
///
/// A subject family's id is random (a pseudonym the key store maps to the subject and forgets
/// on erasure); a topic family's is a keyed hash of the topic's name.
public struct KeyID: Sendable, Hashable, CustomStringConvertible {
    /// The sixteen bytes, high half.
    public let high: UInt64
    /// The sixteen bytes, low half.
    public let low: UInt64

    /// An identifier from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// An identifier from the first sixteen of `bytes`; nil when fewer.
    @inlinable
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count >= 16 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        var i = 0
        for b in bytes {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
            i += 1
            if i == 16 { break }
        }
        self.init(high: h, low: l)
    }

    /// Sixteen bytes from the system's secure random source.
    public static func random() -> KeyID {
        var halves: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &halves) { NonceSource.fill($0) }
        return KeyID(high: halves.0, low: halves.1)
    }

    /// The sixteen bytes, big-endian.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 16) { buffer, count in
            for i in 0..<8 {
                buffer[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * i))
                buffer[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * i))
            }
            count = 16
        }
    }

    /// Lowercase hex.
    public var description: String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            writeHex(buffer, at: 0)
            return 32
        }
    }

    /// The 32 lowercase hex digits of ``description``, as bytes (no string made).
    public var hexBytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { buffer, count in
            writeHex(buffer, at: 0)
            count = 32
        }
    }

    /// True when `text` is exactly ``hexBytes``.
    ///
    /// Takes an array, not any collection: a generic comparison called from another module ran
    /// unspecialized, a value-witness call per byte (9% of a consume's CPU, perf).
    public func isSpelled(by text: [UInt8]) -> Bool {
        guard text.count == 32 else { return false }
        return text.withUnsafeBufferPointer { given in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
                writeHex(buffer, at: 0)
                var differ: UInt8 = 0
                for i in 0..<32 { differ |= buffer[i] ^ given[i] }
                return differ == 0
            }
        }
    }

    /// Writes the 32 lowercase hex digits at `start`.
    func writeHex(_ buffer: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        let digits: StaticString = "0123456789abcdef"
        let d = digits.utf8Start
        for i in 0..<16 {
            let byte = UInt8(truncatingIfNeeded: (i < 8 ? high : low) >> (56 - 8 * (i % 8)))
            buffer[start + 2 * i] = d[Int(byte >> 4)]
            buffer[start + 2 * i + 1] = d[Int(byte & 0xF)]
        }
    }
}

/// The full name of one data-encryption key: scope, family and version.
public struct KeyReference: Sendable, Hashable, CustomStringConvertible {
    /// Subject or topic key.
    public var scope: KeyScope
    /// The key family.
    public var id: KeyID
    /// The version within the family; rotation adds one.
    public var version: UInt32

    /// A reference to version `version` of family `id`.
    public init(scope: KeyScope, id: KeyID, version: UInt32) {
        self.scope = scope
        self.id = id
        self.version = version
    }

    /// `scope:keyid:vN`.
    public var description: String {
        // Written in place: a consumed batch's audit entry lists about a thousand.
        String(unsafeUninitializedCapacity: Self.maxTextCount) { write(into: $0) }
    }

    /// The UTF-8 bytes of ``description`` (no string made).
    public var textBytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.maxTextCount) { buffer, count in count = write(into: buffer) }
    }

    static let maxTextCount = 7 + 1 + 32 + 2 + 10

    /// Writes ``description`` at the start of `buffer` (``maxTextCount`` bytes); its length.
    private func write(into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var n = 0
        for byte in Self.prefix(scope).utf8 {
            buffer[n] = byte
            n += 1
        }
        id.writeHex(buffer, at: n)
        n += 32
        buffer[n] = UInt8(ascii: ":")
        buffer[n + 1] = UInt8(ascii: "v")
        n += 2
        let digits = Self.decimalDigits(version)
        var rest = version
        for i in stride(from: digits - 1, through: 0, by: -1) {
            buffer[n + i] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        return n + digits
    }

    /// True when `a`'s ``description`` sorts before `b`'s, byte by byte, without writing either.
    ///
    /// `subject` sorts before `topic`, fixed-length hex as the id's bytes, and the version as
    /// decimal text (`v10` before `v9`).
    public static func precedesInText(_ a: KeyReference, _ b: KeyReference) -> Bool {
        if a.scope != b.scope {
            return Array(prefix(a.scope).utf8).lexicographicallyPrecedes(Array(prefix(b.scope).utf8))
        }
        if a.id.high != b.id.high { return a.id.high < b.id.high }
        if a.id.low != b.id.low { return a.id.low < b.id.low }
        // The shorter number scaled to the other's length: equal means it is a prefix, which sorts first.
        let (da, db) = (decimalDigits(a.version), decimalDigits(b.version))
        var (x, y) = (UInt64(a.version), UInt64(b.version))
        for _ in 0..<max(0, db - da) { x *= 10 }
        for _ in 0..<max(0, da - db) { y *= 10 }
        return x != y ? x < y : da < db
    }

    /// The text before the id: the scope and a colon.
    static func prefix(_ scope: KeyScope) -> String {
        switch scope {
        case .subject: "subject:"
        case .topic: "topic:"
        }
    }

    static func decimalDigits(_ value: UInt32) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }
}

/// An unwrapped data-encryption key with its name.
///
/// Prints as its reference only, and compares key bytes in constant time.
public struct DataEncryptionKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Which key this is.
    public let reference: KeyReference
    /// The subkeys each AEAD uses, derived once (one key never serves two algorithms), with
    /// their reusable cipher contexts, and the key itself.
    let fieldKeys: FieldKeys

    /// The AES-256 key.
    ///
    /// Held by ``fieldKeys``: a copy of this value (one per cache lookup) retains one object,
    /// not two, which with many keys is one cache miss fewer per event.
    public var key: SymmetricKey { fieldKeys.root }

    /// Pairs `key` (256 bits) with its reference.
    public init(reference: KeyReference, key: SymmetricKey) throws(CipherError) {
        guard key.bitCount == 256 else { throw CipherError(.invalidKey, "data-encryption keys are 256-bit") }
        self.init(checked: reference, key: key)
    }

    private init(checked reference: KeyReference, key: SymmetricKey) {
        self.reference = reference
        self.fieldKeys = FieldKeys(deriving: key)
    }

    /// Frees this key's cipher contexts and subkeys now.
    ///
    /// Every later seal or open with it (or any copy of it) fails. The key store calls it
    /// when the key's family is erased. The root key bytes (``key``) live until the last copy
    /// of this value is released; swift-crypto zeroizes them then.
    public func discard() { fieldKeys.discard() }

    /// True after ``discard()``.
    public var isDiscarded: Bool { fieldKeys.isDiscarded }

    /// Which library seals and opens AES-256-GCM fields in this build.
    public static var gcmBackend: String { FieldKeys.gcmBackend }

    /// HKDF-SHA256 (RFC 5869), no salt, info `strongroom/field/v2/` ‖ algorithm byte: 32 bytes.
    ///
    /// Two HMACs on OpenSSL's SHA-256 with the `OpenSSL` trait (a new key is derived for every
    /// key made or unwrapped; EVP_KDF's HKDF cost ten times as much), swift-crypto's HKDF
    /// otherwise: the same bytes, checked by the format vectors and RFC 5869's test cases.
    static func subkey(_ key: SymmetricKey, _ algorithm: FieldAlgorithm) -> SymmetricKey {
        let info = Array("strongroom/field/v2/".utf8) + [algorithm.rawValue]
        #if OpenSSL
        if let chain = try? HMACChain() {
            return withUnsafeTemporaryAllocation(byteCount: 32, alignment: 8) { out in
                key.withUnsafeBytes { ikm in chain.hkdf(key: ikm, info: info, into: out) }
                defer { out.initializeMemory(as: UInt8.self, repeating: 0) }
                return SymmetricKey(data: UnsafeRawBufferPointer(out))
            }
        }
        #endif
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: info, outputByteCount: 32)
    }

    /// A fresh random key: 32 bytes of kernel randomness from the calling thread's pool
    /// (erased from the pool as they are taken).
    public static func generate(reference: KeyReference) -> DataEncryptionKey {
        let key = withUnsafeTemporaryAllocation(byteCount: 32, alignment: 8) { buffer in
            NonceSource.fill(buffer)
            defer { buffer.initializeMemory(as: UInt8.self, repeating: 0) }
            return SymmetricKey(data: UnsafeRawBufferPointer(buffer))
        }
        return DataEncryptionKey(checked: reference, key: key)
    }

    /// The reference; never the key.
    public var description: String { "DataEncryptionKey(\(reference))" }
    /// The reference; never the key.
    public var debugDescription: String { description }

    /// Constant-time comparison of the key bytes, plus the reference.
    public static func == (lhs: DataEncryptionKey, rhs: DataEncryptionKey) -> Bool {
        lhs.reference == rhs.reference && lhs.key == rhs.key
    }
}

extension Sequence<UInt8> {
    /// Lowercase hex.
    public var hexString: String {
        let bytes = Array(self)
        return String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            let digits: StaticString = "0123456789abcdef"
            let d = digits.utf8Start
            for (i, b) in bytes.enumerated() {
                buffer[2 * i] = d[Int(b >> 4)]
                buffer[2 * i + 1] = d[Int(b & 0xF)]
            }
            return bytes.count * 2
        }
    }
}

extension Array where Element == UInt8 {
    /// Bytes from hex text; nil on an odd length or a non-hex character.
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let h = hexNibble(utf8[i]), let l = hexNibble(utf8[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        self = out
    }
}

private func hexNibble(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
