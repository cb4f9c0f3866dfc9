/// An event-log operation that could not be done.
///
/// Messages name topics, partitions and offsets, never record contents.
public struct LogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case unknownTopic = "unknown topic"
            case topicExists = "topic already exists"
            case invalidArgument = "invalid argument"
            case unknownPartition = "unknown partition"
            case outOfOrderSequence = "out-of-order producer sequence"
            case recordTooLarge = "record too large"
            case storage = "log storage error"
            case rebalanced = "consumer group rebalanced"
            case corrupt = "stored records corrupt"
        }

        let base: Base

        /// The topic was never created (topics are created explicitly) or was deleted.
        public static let unknownTopic = Code(base: .unknownTopic)
        /// A topic of that name exists.
        public static let topicExists = Code(base: .topicExists)
        /// A name, count, limit or configuration value outside what is accepted.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// A partition number the topic does not have.
        public static let unknownPartition = Code(base: .unknownPartition)
        /// An idempotent producer skipped or reordered a batch sequence.
        public static let outOfOrderSequence = Code(base: .outOfOrderSequence)
        /// A record above the topic's size limit.
        public static let recordTooLarge = Code(base: .recordTooLarge)
        /// The database could not be opened, read or written.
        public static let storage = Code(base: .storage)
        /// A group commit refused because the partition moved to another member (a Kafka
        /// rebalance): the new owner reads the batch again from the last commit.
        public static let rebalanced = Code(base: .rebalanced)

        /// Stored records that do not decode as what their row says.
        ///
        /// The database was damaged or changed outside Strongroom. Not transient: a retry reads
        /// the same bytes.
        public static let corrupt = Code(base: .corrupt)

        /// The code as words.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// Safe detail.
    public let detail: String

    /// An error with `code` and safe `detail`.
    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    /// Equal by code.
    public static func == (lhs: LogError, rhs: LogError) -> Bool { lhs.code == rhs.code }
    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    /// The code and detail.
    public var description: String { detail.isEmpty ? "\(code)" : "\(code): \(detail)" }
}
