public import Crypto
import Foundation

/// A c2sp.org/signed-note Ed25519 key: its name, key id and verifier key text.
public struct NoteVerifierKey: Sendable, Hashable {
    /// The key name (for checkpoints, the log's origin).
    public let name: String
    /// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), first 4 bytes.
    public let keyID: [UInt8]
    /// The Ed25519 public key.
    public let publicKey: [UInt8]

    /// A key from its name and raw public key.
    public init(name: String, publicKey: [UInt8]) throws(AuditError) {
        guard NoteVerifierKey.isValidName(name) else { throw AuditError(.malformedNote, "invalid key name") }
        guard publicKey.count == 32 else { throw AuditError(.malformedNote, "Ed25519 public keys are 32 bytes") }
        self.name = name
        self.publicKey = publicKey
        self.keyID = NoteVerifierKey.keyID(name: name, keyBytes: [1] + publicKey)
    }

    /// Parses `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    public init(parsing text: String) throws(AuditError) {
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let keyBytes = Data(base64Encoded: String(parts[2])).map(Array.init),
            keyBytes.count == 33, keyBytes[0] == 1, parts[1].count == 8, let id = UInt32(parts[1], radix: 16)
        else { throw AuditError(.malformedNote, "verifier key is not name+hex+base64 Ed25519") }
        try self.init(name: String(parts[0]), publicKey: Array(keyBytes[1...]))
        guard keyID == [UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)] else {
            throw AuditError(.malformedNote, "key id does not match the key")
        }
    }

    /// The verifier key text.
    public var text: String {
        "\(name)+\(keyID.map { String(format: "%02x", $0) }.joined())+\(Data([1] + publicKey).base64EncodedString())"
    }

    static func keyID(name: String, keyBytes: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: Array(name.utf8) + [0x0A] + keyBytes).prefix(4))
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.unicodeScalars.contains { $0 == "+" || $0.properties.isWhitespace || $0.value < 0x20 }
    }
}

/// Signs and opens c2sp.org/signed-note messages with Ed25519.
public struct NoteSigner: Sendable, CustomStringConvertible {
    /// The verifier key matching this signer.
    public let verifierKey: NoteVerifierKey
    let privateKey: Curve25519.Signing.PrivateKey

    /// A signer named `name` with `privateKey`.
    public init(name: String, privateKey: Curve25519.Signing.PrivateKey) throws(AuditError) {
        self.verifierKey = try NoteVerifierKey(name: name, publicKey: Array(privateKey.publicKey.rawRepresentation))
        self.privateKey = privateKey
    }

    /// The signed note: `text` (ending in a newline), a blank line, one signature line.
    public func sign(_ text: String) throws(AuditError) -> String {
        guard text.hasSuffix("\n"), !text.contains("\n\n") || text == "\n" else {
            throw AuditError(.malformedNote, "note text must end with one newline and have no blank line")
        }
        guard let signature = try? privateKey.signature(for: Array(text.utf8)) else {
            throw AuditError(.signingKey, "signing failed")
        }
        let blob = Data(verifierKey.keyID + Array(signature)).base64EncodedString()
        return text + "\n\u{2014} \(verifierKey.name) \(blob)\n"
    }

    /// The kind and key name, never the key.
    public var description: String { "NoteSigner(\(verifierKey.name), <redacted>)" }
}

/// A signed note split into text and signature lines, verified against known keys.
public struct SignedNote: Sendable, Hashable {
    /// One signature line.
    public struct Signature: Sendable, Hashable {
        /// The signer's key name.
        public var name: String
        /// The 4-byte key id.
        public var keyID: [UInt8]
        /// The signature bytes.
        public var signature: [UInt8]
    }

    /// The signed text, ending in a newline.
    public let text: String
    /// Every signature line, in order.
    public let signatures: [Signature]

    /// Splits `message`; throws ``AuditError/Code/malformedNote`` when it is not a signed note.
    public init(parsing message: some Collection<UInt8>) throws(AuditError) {
        guard let string = String(validating: Array(message), as: UTF8.self) else {
            throw AuditError(.malformedNote, "not UTF-8")
        }
        guard
            !string.unicodeScalars.contains(where: {
                ($0.value < 0x20 && $0 != "\n") || $0.value == 0x7F
            })
        else { throw AuditError(.malformedNote, "control characters") }
        guard string.hasSuffix("\n"), let split = string.range(of: "\n\n", options: .backwards) else {
            throw AuditError(.malformedNote, "no signature block")
        }
        let text = String(string[..<split.lowerBound]) + "\n"
        let block = string[split.upperBound...].dropLast()
        var signatures: [Signature] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("\u{2014} ") else { throw AuditError(.malformedNote, "bad signature line") }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, NoteVerifierKey.isValidName(String(fields[0])),
                let blob = Data(base64Encoded: String(fields[1])), blob.count >= 5
            else { throw AuditError(.malformedNote, "bad signature line") }
            signatures.append(
                Signature(name: String(fields[0]), keyID: Array(blob.prefix(4)), signature: Array(blob.dropFirst(4)))
            )
        }
        guard !signatures.isEmpty, signatures.count <= 100 else {
            throw AuditError(.malformedNote, "signature count")
        }
        self.text = text
        self.signatures = signatures
    }

    /// Parses `note`, checks it against `keys` and returns its signed text.
    public static func verified(_ note: String, keys: [NoteVerifierKey]) throws(AuditError) -> String {
        let parsed = try SignedNote(parsing: Array(note.utf8))
        _ = try parsed.verify(with: keys)
        return parsed.text
    }

    /// The names of `keys` whose signatures are present and valid.
    ///
    /// - Throws: ``AuditError/Code/invalidCheckpoint`` when a known key's signature is
    ///   wrong (a forgery, not an unknown signer), or when no known key signed.
    public func verify(with keys: [NoteVerifierKey]) throws(AuditError) -> [String] {
        var verified: [String] = []
        let bytes = Array(text.utf8)
        for signature in signatures {
            guard
                let key = keys.first(where: { $0.name == signature.name && $0.keyID == signature.keyID })
            else { continue }
            guard let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: key.publicKey),
                signature.signature.count == 64, publicKey.isValidSignature(signature.signature, for: bytes)
            else { throw AuditError(.invalidCheckpoint, "signature by \(key.name) does not verify") }
            if !verified.contains(key.name) { verified.append(key.name) }
        }
        guard !verified.isEmpty else { throw AuditError(.invalidCheckpoint, "no signature by a known key") }
        return verified
    }
}

/// A c2sp.org/tlog-checkpoint: origin, tree size and root hash.
public struct Checkpoint: Sendable, Hashable {
    /// The log's unique name.
    public var origin: String
    /// Number of entries.
    public var size: UInt64
    /// RFC 6962 root hash.
    public var root: Merkle.Hash

    /// A checkpoint.
    public init(origin: String, size: UInt64, root: Merkle.Hash) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// The note text: three lines.
    public var text: String { "\(origin)\n\(size)\n\(Data(root).base64EncodedString())\n" }

    /// Parses a checkpoint's note text (extension lines after the third are ignored).
    public init(text: String) throws(AuditError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, !lines[0].isEmpty, let size = UInt64(lines[1]), String(size) == lines[1],
            let root = Data(base64Encoded: String(lines[2])), root.count == 32
        else { throw AuditError(.malformedNote, "not a checkpoint") }
        self.init(origin: String(lines[0]), size: size, root: Array(root))
    }
}
