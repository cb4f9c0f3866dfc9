public import Crypto
public import StrongroomJSON

/// Ed25519 signatures over RFC 8785 canonical JSON.
public struct Ed25519JSONSigner: Sendable, CustomStringConvertible {
    /// The signing key.
    public let privateKey: Curve25519.Signing.PrivateKey

    /// A signer with `privateKey`.
    public init(privateKey: Curve25519.Signing.PrivateKey) { self.privateKey = privateKey }

    /// The matching verifier.
    public var verifier: Ed25519JSONVerifier { Ed25519JSONVerifier(publicKey: privateKey.publicKey) }

    /// Signs the canonical bytes of `value`.
    public func signature(for value: JSONValue) throws -> [UInt8] {
        Array(try privateKey.signature(for: CanonicalJSON.encode(value)))
    }

    /// The kind, never the key.
    public var description: String { "Ed25519JSONSigner(<redacted>)" }
}

/// Verifies Ed25519 signatures over RFC 8785 canonical JSON.
public struct Ed25519JSONVerifier: Sendable {
    /// The verification key.
    public let publicKey: Curve25519.Signing.PublicKey

    /// A verifier for `publicKey`.
    public init(publicKey: Curve25519.Signing.PublicKey) { self.publicKey = publicKey }

    /// True when `signature` signs the canonical bytes of `value`.
    public func isValid(_ signature: some Collection<UInt8>, for value: JSONValue) -> Bool {
        guard let canonical = try? CanonicalJSON.encode(value) else { return false }
        return publicKey.isValidSignature(Array(signature), for: canonical)
    }
}

/// HMAC-SHA256 tags over RFC 8785 canonical JSON, for deployments with a shared key only.
public struct HMACJSONSigner: Sendable, CustomStringConvertible {
    let key: SymmetricKey

    /// A signer with the shared `key` (at least 256 bits).
    public init(key: SymmetricKey) throws(CipherError) {
        guard key.bitCount >= 256 else { throw CipherError(.invalidKey, "HMAC keys are at least 256-bit") }
        self.key = key
    }

    /// The tag of the canonical bytes of `value`.
    public func tag(for value: JSONValue) throws -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: try CanonicalJSON.encode(value), using: key))
    }

    /// True when `tag` is the tag of `value`; compared in constant time.
    public func isValid(_ tag: some Collection<UInt8>, for value: JSONValue) -> Bool {
        guard let canonical = try? CanonicalJSON.encode(value) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(Array(tag), authenticating: canonical, using: key)
    }

    /// The kind, never the key.
    public var description: String { "HMACJSONSigner(<redacted>)" }
}
