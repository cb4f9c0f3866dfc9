/// An audit log operation that failed, or a log that failed verification.
///
/// Verification failures name the first bad entry index (``index``) where one can be
/// named. Messages carry indices, sizes and hashes, never entry contents.
public struct AuditError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case storage = "audit storage error"
            case invalidEntry = "invalid audit entry"
            case invalidProof = "proof does not verify"
            case outOfRange = "index or size out of range"
            case tampered = "audit log tampered"
            case invalidCheckpoint = "invalid checkpoint"
            case malformedNote = "malformed signed note"
            case signingKey = "audit signing key unusable"
        }

        let base: Base

        /// The SQLite file could not be opened, read or written.
        public static let storage = Code(base: .storage)
        /// An entry that cannot be stored (bad field, oversized).
        public static let invalidEntry = Code(base: .invalidEntry)
        /// An inclusion or consistency proof that does not verify.
        public static let invalidProof = Code(base: .invalidProof)
        /// An index or tree size beyond the log.
        public static let outOfRange = Code(base: .outOfRange)
        /// Stored entries differ from what the hashes and checkpoints commit to.
        public static let tampered = Code(base: .tampered)
        /// A checkpoint whose signature or root does not verify.
        public static let invalidCheckpoint = Code(base: .invalidCheckpoint)
        /// A signed note or verifier key that does not parse.
        public static let malformedNote = Code(base: .malformedNote)
        /// The signing key file is missing, unreadable or readable by others.
        public static let signingKey = Code(base: .signingKey)

        /// The code as words.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// Safe detail.
    public let detail: String
    /// The first bad entry index, for verification failures that can name one.
    public let index: UInt64?

    /// An error with `code`, safe `detail` and, for verification, the first bad `index`.
    public init(_ code: Code, _ detail: String = "", index: UInt64? = nil) {
        self.code = code
        self.detail = detail
        self.index = index
    }

    /// The code, detail and index.
    public var description: String {
        var text = "\(code)"
        if let index { text += " at entry \(index)" }
        if !detail.isEmpty { text += ": \(detail)" }
        return text
    }
}
