public import Foundation
import StrongroomAudit
import StrongroomJSON
import StrongroomLog
public import StrongroomSchema

/// Deletes expired records topic by topic and says what it removed.
///
/// A topic's retention is, in order: its own `retentionMs`; else its schema's
/// `strongroom:retentionDays`; else the default of its classification (the topic's, else the
/// schema's) from ``defaults``. A topic with none of these keeps everything. Each removal is
/// reported and audited; so is each partition the log could not sweep (its records do not
/// decode), while the other partitions and topics are swept.
public struct RetentionSweep: Sendable {
    /// The services.
    public let services: StrongroomServices
    /// Days kept per classification when nothing more specific says.
    public var defaults: [Classification: Int]

    /// A sweep; the defaults keep INTERNAL data a year and CONFIDENTIAL and RESTRICTED data seven.
    public init(
        services: StrongroomServices,
        defaults: [Classification: Int] = [.internalData: 365, .confidential: 2555, .restricted: 2555]
    ) {
        self.services = services
        self.defaults = defaults
    }

    /// One topic's outcome.
    public struct Outcome: Sendable, Hashable {
        /// The topic.
        public var topic: String
        /// The retention applied, in days, and where it came from; nil when none applies.
        public var retentionDays: Double?
        /// Where the retention came from: `topic`, `schema`, `classification`, or `none`.
        public var source: String
        /// Records removed.
        public var records: Int
        /// Bytes removed.
        public var bytes: Int64
        /// Partitions left untouched because their stored records do not decode; the others
        /// were swept.
        public var failures: [RetentionReport.Failure] = []
    }

    /// Sweeps every topic as of `now`.
    public func run(now: Date = Date(), principal: String = "system:retention") throws -> [Outcome] {
        var outcomes: [Outcome] = []
        let nowMs = Int64(now.timeIntervalSince1970 * 1000)
        for topic in try services.log.topics() {
            let base = topic.name.hasSuffix(".dlq") ? String(topic.name.dropLast(4)) : topic.name
            let annotations = try? services.schema(for: base).annotations
            var retentionMs: Int64?
            var source = "none"
            if let ms = topic.config.retentionMs {
                retentionMs = ms
                source = "topic"
            } else if let days = annotations?.retentionDays {
                retentionMs = Int64(days) * 86_400_000
                source = "schema"
            } else if let classification = topic.config.classification.flatMap(Classification.init(rawValue:))
                ?? annotations?.classification, let days = defaults[classification]
            {
                retentionMs = Int64(days) * 86_400_000
                source = "classification \(classification.rawValue)"
            }
            guard let retentionMs else {
                outcomes.append(Outcome(topic: topic.name, retentionDays: nil, source: source, records: 0, bytes: 0))
                continue
            }
            let report = try services.log.deleteRecords(of: topic.name, olderThan: nowMs - retentionMs)
            let records = report.removals.reduce(0) { $0 + $1.records }
            let bytes = report.removals.reduce(0) { $0 + $1.bytes }
            outcomes.append(
                Outcome(
                    topic: topic.name,
                    retentionDays: Double(retentionMs) / 86_400_000,
                    source: source,
                    records: records,
                    bytes: bytes,
                    failures: report.failures
                )
            )
            // One call, removals first: the records are already gone, so their entry comes
            // before anything else that could fail.
            var entries: [AuditEntry] = []
            if records > 0 {
                entries.append(
                    AuditEntry(
                        principal: principal,
                        action: "RetentionSweep",
                        resource: "topic:\(topic.name)",
                        decision: .allow,
                        reason: "removed \(records) record(s), \(bytes) bytes older than the retention (\(source))",
                        count: records
                    )
                )
            }
            if !report.failures.isEmpty {
                entries.append(
                    AuditEntry(
                        principal: principal,
                        action: "RetentionSweep",
                        resource: "topic:\(topic.name)",
                        decision: .deny,
                        reason: "expired records kept: partition(s) "
                            + report.failures.map { String($0.partition) }.joined(separator: ", ")
                            + " hold stored records that do not decode",
                        count: report.failures.count
                    )
                )
            }
            if !entries.isEmpty { try services.record(entries) }
        }
        return outcomes
    }
}
