/// A field ciphertext, key or signature that could not be used.
///
/// Descriptions carry the code and, where useful, a field path or key reference:
/// never plaintext, ciphertext bytes or key material. Every authentication failure is
/// the one opaque ``Code/authenticationFailure``: a wrong key, a tampered byte and a
/// ciphertext moved to another field look the same to a caller.
public struct CipherError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case malformed = "malformed field ciphertext"
            case unsupportedVersion = "unsupported field ciphertext version"
            case unsupportedAlgorithm = "unsupported algorithm"
            case authenticationFailure = "authentication failed"
            case invalidKey = "invalid key"
            case invalidSignature = "invalid signature"
            case invalidArgument = "invalid argument"
        }

        let base: Base

        /// Not an `sr1:` string: bad prefix, bad base64url, or too short.
        public static let malformed = Code(base: .malformed)
        /// A format version this build does not read.
        public static let unsupportedVersion = Code(base: .unsupportedVersion)
        /// An algorithm or key scope byte this build does not know.
        public static let unsupportedAlgorithm = Code(base: .unsupportedAlgorithm)
        /// Wrong key, tampered bytes, or a ciphertext moved to another context.
        public static let authenticationFailure = Code(base: .authenticationFailure)
        /// Key material of the wrong size or kind.
        public static let invalidKey = Code(base: .invalidKey)
        /// A signature that does not verify.
        public static let invalidSignature = Code(base: .invalidSignature)
        /// An argument outside what the operation accepts.
        public static let invalidArgument = Code(base: .invalidArgument)

        /// The code as words.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// Safe context (a field path, a key reference, a byte count); never secret.
    public let context: String
    /// Where the error was raised, for bug reports.
    public let location: String

    /// An error with `code` and safe `context`.
    public init(_ code: Code, _ context: String = "", file: String = #fileID, line: Int = #line) {
        self.code = code
        self.context = context
        self.location = "\(file):\(line)"
    }

    /// Equal by code: codes can grow, contexts are informational.
    public static func == (lhs: CipherError, rhs: CipherError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// The code and safe context.
    public var description: String { context.isEmpty ? "\(code)" : "\(code) (\(context))" }
}
