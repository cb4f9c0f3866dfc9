public import Crypto
public import StrongroomCrypto

/// A data-encryption key wrapped under one KEK version.
public struct WrappedKey: Sendable, Hashable {
    /// The KEK version that wrapped it.
    public var kekVersion: UInt32
    /// The wrapped bytes (RFC 3394 for the local keyring).
    public var bytes: [UInt8]

    /// A wrapped key.
    public init(kekVersion: UInt32, bytes: [UInt8]) {
        self.kekVersion = kekVersion
        self.bytes = bytes
    }
}

/// The state of one KEK version.
public enum KEKVersionState: String, Sendable, Codable {
    /// Wraps new keys.
    case active
    /// Unwraps only; a rotation replaced it.
    case retired
    /// Gone: nothing it wrapped can be unwrapped.
    case destroyed
}

/// What a provider reports about one KEK version.
public struct KEKVersionInfo: Sendable, Hashable {
    /// The version number.
    public var version: UInt32
    /// Active, retired or destroyed.
    public var state: KEKVersionState
    /// How many key families it can no longer unwrap (finalized erasures).
    public var puncturedFamilies: Int
}

/// Where key-encryption keys live: a keyring file, an HSM, a cloud KMS.
///
/// KEKs never leave the provider. The key store hands it data-encryption keys to wrap
/// and wrapped keys to unwrap, each bound to the key family it belongs to, so a
/// provider that can forget one family (``puncture(_:)``) makes erasure final even for
/// backups of the key store.
public protocol KeyEncryptionKeyProvider: Sendable {
    /// The KEK version new keys are wrapped under.
    func activeVersion() throws -> UInt32
    /// Wraps `key` for `family` under the active version.
    func wrap(_ key: SymmetricKey, family: KeyID) throws -> WrappedKey
    /// Unwraps `wrapped` for `family`.
    func unwrap(_ wrapped: WrappedKey, family: KeyID) throws -> SymmetricKey
    /// The keyed hash that names a key family (subject ids never appear in the store).
    func familyID(for descriptor: [UInt8]) throws -> KeyID
    /// Adds a KEK version and makes it active; returns it.
    func rotate() throws -> UInt32
    /// Makes every KEK version unable to unwrap keys of `families`, for good.
    func puncture(_ families: [KeyID]) throws
    /// Destroys a non-active version.
    func destroy(version: UInt32) throws
    /// Every version and its state.
    func versions() throws -> [KEKVersionInfo]
    /// Re-reads state another process may have changed.
    func reload() throws
    /// The provider and key reference, for listings and audit entries: never a secret.
    var reference: String { get }
}

extension KeyEncryptionKeyProvider {
    /// A provider that does not say.
    public var reference: String { "\(type(of: self))" }
}
