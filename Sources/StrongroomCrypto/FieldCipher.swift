import Crypto
import CryptoExtras
import Foundation

/// The AEAD a field ciphertext was sealed with.
public enum FieldAlgorithm: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// AES-256-GCM with a random 96-bit nonce: the default.
    case aes256GCM = 1
    /// AES-256-GCM-SIV (RFC 8452) with a fixed nonce: equal plaintexts in the same
    /// context give equal ciphertexts, so equality can be searched. Leaks equality.
    case aes256GCMSIVDeterministic = 2

    var nonceCount: Int { self == .aes256GCM ? 12 : 0 }

    /// The algorithm's name.
    public var description: String { self == .aes256GCM ? "AES-256-GCM" : "AES-256-GCM-SIV (deterministic)" }
}

/// Where a field ciphertext belongs: the associated data that binds it.
///
/// A ciphertext opens only with the same tenant, topic, subject key, event id and field
/// pointer it was sealed with, so one cut from another field, event, subject, topic or
/// tenant fails authentication.
///
/// The subject is bound by its key id (a random pseudonym), never by its id: the subject
/// id itself is an encrypted field, so nothing in clear names the person.
public struct FieldContext: Sendable, Hashable {
    /// The tenant, or "" for a single-tenant deployment.
    public var tenant: String
    /// The topic the event belongs to.
    public var topic: String
    /// The key id of the event's data subject, or nil for an event without one.
    public var subjectKey: KeyID?
    /// The event's id, or nil when the caller binds no event (see docs/formats.md).
    public var eventID: String?

    /// A context for one event.
    public init(tenant: String = "", topic: String, subjectKey: KeyID? = nil, eventID: String? = nil) {
        self.tenant = tenant
        self.topic = topic
        self.subjectKey = subjectKey
        self.eventID = eventID
    }

    /// The associated-data prefix shared by every field of the event.
    public func associatedDataPrefix() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(
            FieldCipher.domain.utf8.count + 16 + tenant.utf8.count + topic.utf8.count + 16 + (eventID?.utf8.count ?? 0)
        )
        out.append(contentsOf: FieldCipher.domain.utf8)
        appendLengthPrefixed(tenant.utf8, to: &out)
        appendLengthPrefixed(topic.utf8, to: &out)
        if let subjectKey {
            appendLength(16, to: &out)
            withUnsafeBytes(of: subjectKey.high.bigEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: subjectKey.low.bigEndian) { out.append(contentsOf: $0) }
        } else {
            appendLength(0, to: &out)
        }
        appendLengthPrefixed((eventID ?? "").utf8, to: &out)
        return out
    }
}

@inline(__always)
func appendLengthPrefixed(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
    appendLength(bytes.count, to: &out)
    out.append(contentsOf: bytes)
}

/// A 4-byte big-endian length.
@inline(__always)
func appendLength(_ count: Int, to out: inout [UInt8]) {
    let n = UInt32(truncatingIfNeeded: count)
    out.append(UInt8(n >> 24))
    out.append(UInt8(n >> 16 & 0xFF))
    out.append(UInt8(n >> 8 & 0xFF))
    out.append(UInt8(n & 0xFF))
}

/// The `sr1:` field-ciphertext format: seal and open one field value.
///
/// `"sr1:" + base64url(header ‖ nonce ‖ ciphertext ‖ tag)`, header = version (2),
/// algorithm (1), key scope (1), key id (16), key version (4, big-endian). The
/// associated data is ``FieldContext/associatedDataPrefix()`` ‖ length-prefixed JSON
/// pointer ‖ header. Byte-exact description and vectors: `docs/formats.md`.
public enum FieldCipher {
    /// The text every field ciphertext starts with.
    public static let prefix = "sr1:"
    static let prefixBytes: [UInt8] = Array(prefix.utf8)
    static let domain = "strongroom/field/v2"
    static let version: UInt8 = 2
    /// Header bytes before the nonce.
    public static let headerCount = 23
    static let tagCount = 16
    static let sivNonce = try? AES.GCM._SIV.Nonce(data: [UInt8](repeating: 0, count: 12))

    /// Seals `plaintext` (a field's JSON text) and appends the `sr1:` text to `out`.
    ///
    /// - Parameters:
    ///   - plaintext: the field's JSON text.
    ///   - pointer: the field's JSON pointer, bound into the associated data.
    ///   - associatedDataPrefix: ``FieldContext/associatedDataPrefix()`` of the event.
    ///   - key: the data-encryption key.
    ///   - algorithm: randomized or deterministic.
    ///   - out: receives the ASCII text, without quotes.
    public static func seal(
        _ plaintext: UnsafeRawBufferPointer,
        pointer: String,
        associatedDataPrefix: [UInt8],
        key: DataEncryptionKey,
        algorithm: FieldAlgorithm = .aes256GCM,
        into out: inout [UInt8]
    ) throws(CipherError) {
        try seal(
            plaintext,
            pointer: pointer,
            associatedDataPrefix: associatedDataPrefix,
            key: key,
            algorithm: algorithm,
            nonce: nil,
            into: &out
        )
    }

    /// Seals with a ``FieldSession``: the fields of one event share one.
    public static func seal(
        _ plaintext: UnsafeRawBufferPointer,
        pointer: String,
        associatedDataPrefix: [UInt8],
        session: borrowing FieldSession,
        algorithm: FieldAlgorithm = .aes256GCM,
        into out: inout [UInt8]
    ) throws(CipherError) {
        try seal(
            plaintext,
            pointer: pointer,
            associatedDataPrefix: associatedDataPrefix,
            session: session,
            algorithm: algorithm,
            nonce: nil,
            into: &out
        )
    }

    /// Seals with a caller-chosen GCM nonce, for the fixed vectors of docs/formats.md only.
    ///
    /// A repeated nonce under one key breaks AES-GCM, so production code never passes one.
    @_spi(FixedNonce)
    public static func seal(
        _ plaintext: UnsafeRawBufferPointer,
        pointer: String,
        associatedDataPrefix: [UInt8],
        key: DataEncryptionKey,
        algorithm: FieldAlgorithm,
        nonce fixedNonce: [UInt8]?,
        into out: inout [UInt8]
    ) throws(CipherError) {
        let session = try FieldSession(key)
        try seal(
            plaintext,
            pointer: pointer,
            associatedDataPrefix: associatedDataPrefix,
            session: session,
            algorithm: algorithm,
            nonce: fixedNonce,
            into: &out
        )
    }

    static func seal(
        _ plaintext: UnsafeRawBufferPointer,
        pointer: String,
        associatedDataPrefix: [UInt8],
        session: borrowing FieldSession,
        algorithm: FieldAlgorithm,
        nonce fixedNonce: [UInt8]?,
        into out: inout [UInt8]
    ) throws(CipherError) {
        let count = sealedCount(plaintext.count, algorithm)
        try withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { (sealed) throws(CipherError) in
            try sealBinary(
                plaintext,
                pointer: pointer,
                associatedDataPrefix: associatedDataPrefix,
                session: session,
                algorithm: algorithm,
                nonce: fixedNonce,
                into: sealed
            )
            out.append(contentsOf: prefixBytes)
            Base64URL.encode(UnsafeRawBufferPointer(sealed), into: &out)
        }
    }

    /// Bytes of header ‖ nonce ‖ ciphertext ‖ tag for a plaintext of `count` bytes.
    static func sealedCount(_ count: Int, _ algorithm: FieldAlgorithm) -> Int {
        headerCount + algorithm.nonceCount + count + tagCount
    }

    /// Bytes of the `sr1:` text ``seal(_:pointer:associatedDataPrefix:session:algorithm:into:)``
    /// appends for a plaintext of `count` bytes.
    package static func textCount(_ count: Int, _ algorithm: FieldAlgorithm) -> Int {
        prefixBytes.count + (sealedCount(count, algorithm) * 4 + 2) / 3
    }

    /// Writes header ‖ nonce ‖ ciphertext ‖ tag (``sealedCount(_:_:)`` bytes) to `sealed`.
    static func sealBinary(
        _ plaintext: UnsafeRawBufferPointer,
        pointer: String,
        associatedDataPrefix: [UInt8],
        session: borrowing FieldSession,
        algorithm: FieldAlgorithm,
        nonce fixedNonce: [UInt8]?,
        into sealed: UnsafeMutableRawBufferPointer
    ) throws(CipherError) {
        guard sealed.count == sealedCount(plaintext.count, algorithm) else { throw CipherError(.invalidArgument) }
        writeHeader(sealed, algorithm: algorithm, key: session.key.reference)
        let header = UnsafeRawBufferPointer(rebasing: sealed[..<headerCount])
        let nonceEnd = headerCount + algorithm.nonceCount
        try withAssociatedData(associatedDataPrefix, pointer: pointer, header: header) { (aad) throws(CipherError) in
            switch algorithm {
            case .aes256GCM:
                let nonce = UnsafeMutableRawBufferPointer(rebasing: sealed[headerCount..<nonceEnd])
                if let fixedNonce {
                    guard fixedNonce.count == 12 else { throw CipherError(.invalidArgument, "nonce must be 12 bytes") }
                    nonce.copyBytes(from: fixedNonce)
                } else {
                    NonceSource.fill(nonce)
                }
                try session.lease.sealGCM(
                    nonce: UnsafeRawBufferPointer(nonce),
                    aad: aad,
                    plaintext: plaintext,
                    into: UnsafeMutableRawBufferPointer(rebasing: sealed[nonceEnd...])
                )
            case .aes256GCMSIVDeterministic:
                guard let nonce = sivNonce else { throw CipherError(.unsupportedAlgorithm) }
                let sivKey = try session.key.fieldKeys.sivKey()
                do {
                    let box = try AES.GCM._SIV.seal(plaintext, using: sivKey, nonce: nonce, authenticating: aad)
                    let body = UnsafeMutableRawBufferPointer(rebasing: sealed[nonceEnd...])
                    box.ciphertext.withUnsafeBytes { body.copyMemory(from: $0) }
                    box.tag.withUnsafeBytes {
                        UnsafeMutableRawBufferPointer(rebasing: body[plaintext.count...]).copyMemory(from: $0)
                    }
                } catch {
                    throw CipherError(.invalidKey)
                }
            }
        }
    }

    /// Calls `body` with prefix ‖ length-prefixed pointer ‖ header, assembled on the stack.
    static func withAssociatedData<R>(
        _ prefix: [UInt8],
        pointer: String,
        header: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) throws(CipherError) -> R
    ) throws(CipherError) -> R {
        var pointer = pointer
        let result: Result<R, CipherError> = pointer.withUTF8 { path in
            let count = prefix.count + 4 + path.count + header.count
            return withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { aad in
                prefix.withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: aad[..<prefix.count]).copyMemory(from: $0)
                }
                var at = prefix.count
                let n = UInt32(truncatingIfNeeded: path.count)
                aad[at] = UInt8(n >> 24)
                aad[at + 1] = UInt8(n >> 16 & 0xFF)
                aad[at + 2] = UInt8(n >> 8 & 0xFF)
                aad[at + 3] = UInt8(n & 0xFF)
                at += 4
                UnsafeMutableRawBufferPointer(rebasing: aad[at..<(at + path.count)]).copyMemory(
                    from: UnsafeRawBufferPointer(path)
                )
                at += path.count
                UnsafeMutableRawBufferPointer(rebasing: aad[at...]).copyMemory(from: header)
                do throws(CipherError) { return .success(try body(UnsafeRawBufferPointer(aad))) } catch {
                    return .failure(error)
                }
            }
        }
        return try result.get()
    }

    /// Seals `plaintext` and returns the `sr1:` text.
    public static func seal(
        _ plaintext: some Collection<UInt8>,
        pointer: String,
        context: FieldContext,
        key: DataEncryptionKey,
        algorithm: FieldAlgorithm = .aes256GCM
    ) throws(CipherError) -> String {
        var out: [UInt8] = []
        let bytes = Array(plaintext)
        let result: Result<Void, CipherError> = bytes.withUnsafeBytes { raw in
            do throws(CipherError) {
                try seal(
                    raw,
                    pointer: pointer,
                    associatedDataPrefix: context.associatedDataPrefix(),
                    key: key,
                    algorithm: algorithm,
                    into: &out
                )
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return String(decoding: out, as: UTF8.self)
    }

    static func writeHeader(_ header: UnsafeMutableRawBufferPointer, algorithm: FieldAlgorithm, key: KeyReference) {
        header[0] = version
        header[1] = algorithm.rawValue
        header[2] = key.scope.rawValue
        for i in 0..<8 {
            header[3 + i] = UInt8(truncatingIfNeeded: key.id.high >> (56 - 8 * i))
            header[11 + i] = UInt8(truncatingIfNeeded: key.id.low >> (56 - 8 * i))
        }
        header[19] = UInt8(key.version >> 24)
        header[20] = UInt8(key.version >> 16 & 0xFF)
        header[21] = UInt8(key.version >> 8 & 0xFF)
        header[22] = UInt8(key.version & 0xFF)
    }

    /// True when `text` starts with `sr1:`: a value this format produced.
    public static func looksSealed(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        text.count >= 4 && text[0] == 0x73 && text[1] == 0x72 && text[2] == 0x31 && text[3] == 0x3A
    }
}

/// One data-encryption key held ready for a run of seals and opens, such as the fields of
/// one event: with OpenSSL, its cipher context is checked out of the key's pool once and
/// returned when the session ends, instead of once per field.
///
/// A key discarded (erased) during a session refuses the session's next seal or open, and
/// every session begun after the discard. A session belongs to one thread.
public struct FieldSession: ~Copyable {
    /// The key.
    public let key: DataEncryptionKey
    let lease: FieldKeys.Lease

    /// Begins a session; throws ``CipherError/Code/invalidKey`` for a discarded key.
    public init(_ key: DataEncryptionKey) throws(CipherError) {
        self.key = key
        self.lease = try key.fieldKeys.lease()
    }
}

/// A parsed `sr1:` field ciphertext: which key it needs, and the sealed bytes.
public struct SealedField: Sendable {
    /// The AEAD used.
    public let algorithm: FieldAlgorithm
    /// The key it was sealed under.
    public let key: KeyReference
    let bytes: [UInt8]

    /// Parses the `sr1:` text (without JSON quotes).
    public init(parsing text: UnsafeBufferPointer<UInt8>) throws(CipherError) {
        var bytes: [UInt8] = []
        try self.init(parsing: text, reusing: &bytes)
    }

    /// Parses the `sr1:` text, decoding into `storage`'s buffer: a reader parsing many fields
    /// one after another reuses one buffer (the field shares it until it is dropped).
    public init(parsing text: UnsafeBufferPointer<UInt8>, reusing storage: inout [UInt8]) throws(CipherError) {
        guard FieldCipher.looksSealed(text) else { throw CipherError(.malformed, "missing sr1: prefix") }
        guard Base64URL.decode(UnsafeBufferPointer(rebasing: text[4...]), into: &storage) else {
            throw CipherError(.malformed, "invalid base64url")
        }
        let bytes = storage
        guard bytes.count >= FieldCipher.headerCount else { throw CipherError(.malformed, "truncated header") }
        // Version 1 (subject id in clear and in the associated data) is no longer read.
        guard bytes[0] == FieldCipher.version else { throw CipherError(.unsupportedVersion, "version \(bytes[0])") }
        guard let algorithm = FieldAlgorithm(rawValue: bytes[1]) else {
            throw CipherError(.unsupportedAlgorithm, "algorithm \(bytes[1])")
        }
        guard let scope = KeyScope(rawValue: bytes[2]) else {
            throw CipherError(.unsupportedAlgorithm, "key scope \(bytes[2])")
        }
        guard bytes.count >= FieldCipher.headerCount + algorithm.nonceCount + FieldCipher.tagCount else {
            throw CipherError(.malformed, "truncated")
        }
        // The header's length was checked above: the id and version are read in place.
        let (id, version) = bytes.withUnsafeBytes { raw in
            (
                KeyID(
                    high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 3, as: UInt64.self)),
                    low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 11, as: UInt64.self))
                ),
                UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 19, as: UInt32.self))
            )
        }
        self.algorithm = algorithm
        self.key = KeyReference(scope: scope, id: id, version: version)
        self.bytes = bytes
    }

    /// Parses the `sr1:` text.
    public init(parsing text: String) throws(CipherError) {
        var text = text
        let result: Result<SealedField, CipherError> = text.withUTF8 { buffer in
            do throws(CipherError) { return .success(try SealedField(parsing: buffer)) } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    /// Opens the field: returns its JSON text.
    ///
    /// - Throws: ``CipherError/Code/authenticationFailure`` for a wrong key, a tampered
    ///   byte or a foreign context, alike; ``CipherError/Code/invalidArgument`` when
    ///   `key` is not the key the header names.
    public func open(
        pointer: String,
        associatedDataPrefix: [UInt8],
        key: DataEncryptionKey
    ) throws(CipherError)
        -> [UInt8]
    {
        var out: [UInt8] = []
        try open(pointer: pointer, associatedDataPrefix: associatedDataPrefix, key: key, into: &out)
        return out
    }

    /// Opens the field and appends its JSON text to `out`; on failure `out` is unchanged.
    public func open(
        pointer: String,
        associatedDataPrefix: [UInt8],
        key: DataEncryptionKey,
        into out: inout [UInt8]
    ) throws(CipherError) {
        guard key.reference == self.key else { throw CipherError(.invalidArgument, "key does not match header") }
        try open(
            pointer: pointer,
            associatedDataPrefix: associatedDataPrefix,
            session: try FieldSession(key),
            into: &out
        )
    }

    /// Opens the field with a ``FieldSession`` and appends its JSON text to `out`; on failure
    /// `out` is unchanged.
    public func open(
        pointer: String,
        associatedDataPrefix: [UInt8],
        session: borrowing FieldSession,
        into out: inout [UInt8]
    ) throws(CipherError) {
        guard session.key.reference == self.key else {
            throw CipherError(.invalidArgument, "key does not match header")
        }
        let nonceEnd = FieldCipher.headerCount + algorithm.nonceCount
        let tagStart = bytes.count - FieldCipher.tagCount
        let result: Result<Void, CipherError> = bytes.withUnsafeBytes { bytes in
            do throws(CipherError) {
                try open(
                    bytes,
                    nonceEnd: nonceEnd,
                    tagStart: tagStart,
                    pointer: pointer,
                    prefix: associatedDataPrefix,
                    session: session,
                    into: &out
                )
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    private func open(
        _ bytes: UnsafeRawBufferPointer,
        nonceEnd: Int,
        tagStart: Int,
        pointer: String,
        prefix associatedDataPrefix: [UInt8],
        session: borrowing FieldSession,
        into out: inout [UInt8]
    ) throws(CipherError) {
        do {
            let header = UnsafeRawBufferPointer(rebasing: bytes[..<FieldCipher.headerCount])
            let body = UnsafeRawBufferPointer(rebasing: bytes[nonceEnd..<tagStart])
            let tag = UnsafeRawBufferPointer(rebasing: bytes[tagStart...])
            try FieldCipher.withAssociatedData(associatedDataPrefix, pointer: pointer, header: header) {
                (aad) throws(CipherError) in
                switch algorithm {
                case .aes256GCM:
                    let start = out.count
                    // Room for the plaintext, made by copying the ciphertext (one memcpy) and
                    // overwritten by the opening.
                    out.append(contentsOf: body.assumingMemoryBound(to: UInt8.self))
                    let opened: Result<Void, CipherError> = out.withUnsafeMutableBytes { all in
                        do throws(CipherError) {
                            try session.lease.openGCM(
                                nonce: UnsafeRawBufferPointer(rebasing: bytes[FieldCipher.headerCount..<nonceEnd]),
                                aad: aad,
                                ciphertext: body,
                                tag: tag,
                                into: UnsafeMutableRawBufferPointer(rebasing: all[start...])
                            )
                            return .success(())
                        } catch {
                            return .failure(error)
                        }
                    }
                    if case .failure = opened {
                        // Whatever the failed opening wrote is cleared before the room is given back.
                        for i in start..<out.count { out[i] = 0 }
                        out.removeSubrange(start...)
                    }
                    try opened.get()
                case .aes256GCMSIVDeterministic:
                    guard let nonce = FieldCipher.sivNonce else { throw CipherError(.unsupportedAlgorithm) }
                    let sivKey = try session.key.fieldKeys.sivKey()
                    do {
                        let box = try AES.GCM._SIV.SealedBox(nonce: nonce, ciphertext: body, tag: tag)
                        out.append(contentsOf: try AES.GCM._SIV.open(box, using: sivKey, authenticating: aad))
                    } catch {
                        throw CipherError(.authenticationFailure)
                    }
                }
            }
        }
    }

    /// Opens the field with a ``FieldContext``.
    public func open(pointer: String, context: FieldContext, key: DataEncryptionKey) throws(CipherError) -> [UInt8] {
        try open(pointer: pointer, associatedDataPrefix: context.associatedDataPrefix(), key: key)
    }
}

@available(*, unavailable)
extension FieldSession: Sendable {}
