/// A key-store operation that could not be done.
///
/// Messages name key ids (pseudonyms or keyed hashes), versions and files; never a subject id, a
/// key byte or a plaintext.
public struct KeyStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case keyringMissing = "keyring not found"
            case keyringPermissions = "keyring file permissions too open"
            case keyringCorrupt = "keyring unreadable"
            case keyringExists = "keyring already exists"
            case unknownKey = "unknown key"
            case keyRetired = "key version retired"
            case kekUnavailable = "key-encryption key version unavailable"
            case subjectErased = "subject erased"
            case storage = "key store storage error"
            case invalidArgument = "invalid argument"
            case unwrapFailed = "key unwrap failed"
            case punctured = "key erased (its key-tree leaf was punctured by finalize)"
            case replicationConflict = "replicated key metadata conflicts with this key store"
            case providerUnavailable = "key provider unreachable"
            case providerDenied = "key provider refused the credentials"
        }

        let base: Base

        /// No keyring in the data directory: run `strongroom init`.
        public static let keyringMissing = Code(base: .keyringMissing)
        /// The keyring is readable or writable by group or others (as ssh refuses).
        public static let keyringPermissions = Code(base: .keyringPermissions)
        /// The keyring file is not a keyring this build reads.
        public static let keyringCorrupt = Code(base: .keyringCorrupt)
        /// `init` would overwrite an existing keyring.
        public static let keyringExists = Code(base: .keyringExists)
        /// No such key family or version.
        public static let unknownKey = Code(base: .unknownKey)
        /// The version was retired: it no longer decrypts.
        public static let keyRetired = Code(base: .keyRetired)
        /// The KEK version that wrapped a key is destroyed, or punctured at that key.
        public static let kekUnavailable = Code(base: .kekUnavailable)
        /// The subject was erased: no key can be issued for it again.
        public static let subjectErased = Code(base: .subjectErased)
        /// The SQLite store failed (disk, lock, corruption).
        public static let storage = Code(base: .storage)
        /// An argument outside what the operation accepts.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// A wrapped key did not authenticate under its KEK.
        public static let unwrapFailed = Code(base: .unwrapFailed)
        /// The key's leaf was punctured: an erasure was finalized (seen from a restored backup).
        public static let punctured = Code(base: .punctured)
        /// Replicated key metadata contradicts what this store holds (two sites made keys for one
        /// subject or version independently), or is not key metadata this build reads.
        public static let replicationConflict = Code(base: .replicationConflict)

        /// The HSM, KMS or Vault cannot be reached (token absent, network, server error): retry later.
        public static let providerUnavailable = Code(base: .providerUnavailable)
        /// The HSM, KMS or Vault refused the credentials (wrong PIN, token, signature or policy).
        public static let providerDenied = Code(base: .providerDenied)

        /// The code as words.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// Safe context: a key reference, a version, a file path.
    public let context: String
    /// Where the error was raised.
    public let location: String

    /// An error with `code` and safe `context`.
    public init(_ code: Code, _ context: String = "", file: String = #fileID, line: Int = #line) {
        self.code = code
        self.context = context
        self.location = "\(file):\(line)"
    }

    /// Equal by code.
    public static func == (lhs: KeyStoreError, rhs: KeyStoreError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// The code and safe context.
    public var description: String { context.isEmpty ? "\(code)" : "\(code): \(context)" }
}
