/// A policy file, resource string, token or key that could not be used.
///
/// Descriptions name the JSON pointer, the rule id and the rule that failed: never key
/// bytes or request data beyond the policy's own names.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case invalidJSON = "invalid JSON"
            case missingVersion = "missing version"
            case missingField = "missing field"
            case invalidField = "invalid field"
            case unknownField = "unknown field"
            case unknownAction = "unknown action"
            case unknownResourceType = "unknown resource type"
            case invalidResource = "invalid resource"
            case invalidCIDR = "invalid CIDR"
            case invalidTime = "invalid time condition"
            case duplicateRuleID = "duplicate rule id"
            case unknownRole = "unknown role"
            case nonASCIIName = "non-ASCII name"
            case decryptOutsideField = "Decrypt allowed outside a field resource"
            case unreadable = "unreadable file"
            case invalidToken = "invalid governance token"
            case invalidKey = "invalid governance key"
            case keyPermissions = "governance key readable by others"
        }

        let base: Base

        /// The file is not strict JSON (bad syntax, duplicate key, bad UTF-8).
        public static let invalidJSON = Code(base: .invalidJSON)
        /// The policy has no `"version"` string.
        public static let missingVersion = Code(base: .missingVersion)
        /// A required member is absent.
        public static let missingField = Code(base: .missingField)
        /// A member has the wrong type or an empty or malformed value.
        public static let invalidField = Code(base: .invalidField)
        /// A member this format does not define (a typo would silently widen or narrow a rule).
        public static let unknownField = Code(base: .unknownField)
        /// An action other than Produce, Consume, Describe, Decrypt, Alter, Erase, Admin.
        public static let unknownAction = Code(base: .unknownAction)
        /// A resource type other than cluster, topic, group, subject, key, field.
        public static let unknownResourceType = Code(base: .unknownResourceType)
        /// A resource string or pattern that does not parse.
        public static let invalidResource = Code(base: .invalidResource)
        /// A network condition that is not an IPv4 or IPv6 CIDR.
        public static let invalidCIDR = Code(base: .invalidCIDR)
        /// A time window with a bad day, clock time or zone.
        public static let invalidTime = Code(base: .invalidTime)
        /// Two rules share an id.
        public static let duplicateRuleID = Code(base: .duplicateRuleID)
        /// A principal names a role the policy does not declare.
        public static let unknownRole = Code(base: .unknownRole)
        /// A name (principal, role, purpose, tenant, department, classification, resource, pointer)
        /// that is not ASCII: names are compared byte for byte, and Unicode-equivalent spellings
        /// must not name one thing twice.
        public static let nonASCIIName = Code(base: .nonASCIIName)
        /// A rule allowing `Decrypt` on a non-field resource (a topic, the cluster, …): Decrypt is
        /// granted per field, with pointers and purposes.
        public static let decryptOutsideField = Code(base: .decryptOutsideField)
        /// A file could not be read.
        public static let unreadable = Code(base: .unreadable)
        /// A governance token that does not parse.
        public static let invalidToken = Code(base: .invalidToken)
        /// A governance signing key of the wrong size or format.
        public static let invalidKey = Code(base: .invalidKey)
        /// A governance key file that group or others can read, or another user owns.
        public static let keyPermissions = Code(base: .keyPermissions)

        /// The code as words.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// Safe context: a JSON pointer, a rule id, the offending policy name.
    public let context: String
    /// Every error found when a whole file was validated (the first one is this error).
    public let issues: [PolicyIssue]
    /// Where the error was raised, for bug reports.
    public let location: String

    /// An error with `code` and safe `context`.
    public init(
        _ code: Code,
        _ context: String = "",
        issues: [PolicyIssue] = [],
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.context = context
        self.issues = issues
        self.location = "\(file):\(line)"
    }

    /// Equal by code: codes can grow, contexts are informational.
    public static func == (lhs: PolicyError, rhs: PolicyError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// The code and safe context.
    public var description: String { context.isEmpty ? "\(code)" : "\(code): \(context)" }
}

/// One finding of policy validation: an error (the file is refused) or a warning.
public struct PolicyIssue: Hashable, Sendable, CustomStringConvertible {
    /// How serious a finding is.
    public enum Severity: String, Hashable, Sendable {
        /// The file is refused.
        case error
        /// The file loads; the finding deserves a look.
        case warning
    }

    /// What kind of warning (errors carry a ``PolicyError/Code`` instead).
    public enum Kind: String, Hashable, Sendable {
        /// An error; see ``code``.
        case error
        /// A rule that can never decide anything (shadowed by a deny, or naming nobody).
        case unreachable
        /// An allow and a deny whose scopes overlap: deny wins on the overlap.
        case conflict
        /// A Decrypt allowed without a purpose binding.
        case decryptWithoutPurpose = "decrypt-without-purpose"
    }

    /// Error or warning.
    public let severity: Severity
    /// The warning's kind, or ``Kind/error``.
    public let kind: Kind
    /// The error code, for errors.
    public let code: PolicyError.Code?
    /// The JSON pointer of the offending value (`/rules/3/actions/0`).
    public let pointer: String
    /// The rule concerned, if any.
    public let ruleID: String?
    /// What is wrong, in words.
    public let message: String

    /// An error finding.
    public static func error(
        _ code: PolicyError.Code,
        at pointer: String,
        rule: String?,
        _ message: String
    )
        -> PolicyIssue
    {
        PolicyIssue(severity: .error, kind: .error, code: code, pointer: pointer, ruleID: rule, message: message)
    }

    /// A warning finding.
    public static func warning(_ kind: Kind, at pointer: String, rule: String?, _ message: String) -> PolicyIssue {
        PolicyIssue(severity: .warning, kind: kind, code: nil, pointer: pointer, ruleID: rule, message: message)
    }

    /// `error at /rules/3/actions/0 (rule "x"): unknown action "Read"`.
    public var description: String {
        let rule = ruleID.map { " (rule \"\($0)\")" } ?? ""
        let label = code.map { "error [\($0)]" } ?? "warning [\(kind.rawValue)]"
        return "\(label) at \(pointer.isEmpty ? "/" : pointer)\(rule): \(message)"
    }
}
