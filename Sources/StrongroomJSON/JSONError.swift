/// A JSON document that could not be read.
///
/// The error names the byte offset and the rule that failed, never the text around it:
/// the document may hold personal data.
public struct JSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case unexpectedEnd = "unexpected end of input"
            case unexpectedByte = "unexpected byte"
            case invalidNumber = "invalid number"
            case invalidString = "invalid string"
            case invalidEscape = "invalid escape sequence"
            case invalidUTF8 = "invalid UTF-8"
            case loneSurrogate = "lone UTF-16 surrogate"
            case duplicateKey = "duplicate object key"
            case tooDeep = "nesting too deep"
            case trailingData = "data after the JSON value"
            case numberNotRepresentable = "number not representable as an IEEE-754 double"
            case numberPrecisionLoss = "number would lose precision in canonical form"
        }

        let base: Base

        /// The input ended inside a value.
        public static let unexpectedEnd = Code(base: .unexpectedEnd)
        /// A byte that no JSON rule allows here.
        public static let unexpectedByte = Code(base: .unexpectedByte)
        /// A number that breaks the RFC 8259 grammar.
        public static let invalidNumber = Code(base: .invalidNumber)
        /// A string with a raw control character.
        public static let invalidString = Code(base: .invalidString)
        /// A backslash escape that RFC 8259 does not define.
        public static let invalidEscape = Code(base: .invalidEscape)
        /// Bytes that are not well-formed UTF-8.
        public static let invalidUTF8 = Code(base: .invalidUTF8)
        /// A `\uD800`-`\uDFFF` escape without its partner (I-JSON forbids these).
        public static let loneSurrogate = Code(base: .loneSurrogate)
        /// An object that names the same member twice (ambiguous, so refused).
        public static let duplicateKey = Code(base: .duplicateKey)
        /// Arrays and objects nested deeper than the reader's limit.
        public static let tooDeep = Code(base: .tooDeep)
        /// Something other than whitespace after the document.
        public static let trailingData = Code(base: .trailingData)
        /// A number too large for a double (RFC 8785 needs one).
        public static let numberNotRepresentable = Code(base: .numberNotRepresentable)
        /// A number whose canonical form would denote a different value.
        public static let numberPrecisionLoss = Code(base: .numberPrecisionLoss)

        /// The code as words.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// Byte offset into the input where it went wrong.
    public let offset: Int

    init(_ code: Code, at offset: Int) {
        self.code = code
        self.offset = offset
    }

    /// Equal by code and offset.
    public static func == (lhs: JSONError, rhs: JSONError) -> Bool {
        lhs.code == rhs.code && lhs.offset == rhs.offset
    }

    /// Hashes code and offset.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(offset)
    }

    /// The rule and the offset; never the input.
    public var description: String { "invalid JSON: \(code) at byte \(offset)" }
}
