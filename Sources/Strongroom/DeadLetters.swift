import Foundation
import StrongroomAudit
import StrongroomLog
import StrongroomPolicy
import Synchronization

/// Replays a topic's dead letters after their cause is fixed (say, a producer key now trusted).
///
/// Authorization is checked again for the replaying principal (`Consume` on `<topic>.dlq`,
/// `Produce` on `<topic>`), each record's signature is verified again with the keys trusted
/// now, and only records that pass go back to the source topic, with their fields still
/// encrypted as produced and their original headers. The rest stay where they are.
public struct DeadLetterReplay: Sendable {
    /// The services.
    public let services: StrongroomServices
    /// Who replays.
    public let principal: String

    /// A replay carried out by `principal`.
    public init(services: StrongroomServices, principal: String) {
        self.services = services
        self.principal = principal
    }

    /// What a replay did.
    public struct Report: Sendable, Hashable {
        /// Records appended back to the source topic.
        public var replayed: Int
        /// Records whose signature still fails, left in the dead-letter topic.
        public var stillFailing: Int

        /// A report.
        public init(replayed: Int, stillFailing: Int) {
            self.replayed = replayed
            self.stillFailing = stillFailing
        }
    }

    /// One dead letter, described without its content.
    public struct Letter: Sendable, Hashable, Codable {
        /// Partition of `<topic>.dlq`.
        public var partition: Int
        /// Offset in it.
        public var offset: Int64
        /// Why it was dead-lettered (`sr-dlq-reason`).
        public var reason: String
        /// Where it came from, `<topic>:<partition>:<offset>` (`sr-dlq-source`).
        public var source: String
        /// The producer the record names, when it names one (not verified: it failed).
        public var producer: String?
        /// When it was dead-lettered, Unix milliseconds.
        public var time: Int64
    }

    /// The dead letters of `topic` (the records of `<topic>.dlq`), without their content, at
    /// most `limit`; none when there is no dead-letter topic.
    ///
    /// Needs `Describe` on `<topic>.dlq`; the listing is audited first.
    public func list(topic: String, limit: Int = 1000, correlationID: String = UUID().uuidString) throws -> [Letter] {
        let dlq = topic + ".dlq"
        let context = AuthorizationContext(tenant: services.tenant.isEmpty ? nil : services.tenant)
        let decision = services.policy.authorize(principalID: principal, .describe, .topic(dlq), context)
        try services.record([
            AuditEntry(
                principal: principal,
                action: "ListDeadLetters",
                resource: "topic:\(dlq)",
                decision: decision.isAllowed ? .allow : .deny,
                rules: decision.matchedRules,
                reason: decision.isAllowed ? nil : decision.reason,
                correlationID: correlationID
            )
        ])
        guard decision.isAllowed else { throw PipelineError(.denied, decision.reason) }
        guard let description = try? services.log.describeTopic(dlq) else { return [] }
        var letters: [Letter] = []
        for partition in description.partitions {
            var next = partition.startOffset
            while letters.count < limit {
                let page = try services.log.fetch(
                    topic: dlq,
                    partition: partition.partition,
                    from: next,
                    maxBytes: 8 << 20,
                    maxRecords: min(1000, limit - letters.count)
                )
                guard let last = page.last else { break }
                for record in page {
                    func header(_ name: String) -> String? {
                        record.headers.first { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
                    }
                    letters.append(
                        Letter(
                            partition: record.partition,
                            offset: record.offset,
                            reason: header("sr-dlq-reason") ?? "",
                            source: header("sr-dlq-source") ?? "",
                            producer: header(RecordSignature.Header.producer),
                            time: record.timestamp
                        )
                    )
                }
                next = last.offset + 1
            }
        }
        return letters
    }

    /// Replays partition `partition` of `<topic>.dlq` from the replay group's committed offset.
    public func replay(topic: String, partition: Int, correlationID: String = UUID().uuidString) throws -> Report {
        let dlq = topic + ".dlq"
        let context = AuthorizationContext(tenant: services.tenant.isEmpty ? nil : services.tenant)
        for (action, resource) in [(Action.consume, Resource.topic(dlq)), (.produce, .topic(topic))] {
            let decision = services.policy.authorize(principalID: principal, action, resource, context)
            guard decision.isAllowed else {
                try services.record([
                    AuditEntry(
                        principal: principal,
                        action: "ReplayDeadLetters",
                        resource: "topic:\(dlq)",
                        decision: .deny,
                        rules: decision.matchedRules,
                        reason: "\(action.rawValue) \(resource): \(decision.reason)",
                        correlationID: correlationID
                    )
                ])
                throw PipelineError(.denied, decision.reason)
            }
        }
        let group = "dead-letter-replay"
        // Audit first: the request is on record before anything is appended.
        try services.record([
            AuditEntry(
                principal: principal,
                action: "ReplayDeadLettersRequested",
                resource: "topic:\(dlq)",
                decision: .allow,
                reason: "partition \(partition)",
                correlationID: correlationID
            )
        ])
        var next = try services.log.committedOffset(group: group, topic: dlq, partition: partition) ?? 0
        let trusted = services.trustedProducerKeys()
        var verified: [[UInt8]: Merkle.Hash] = [:]
        var report = Report(replayed: 0, stillFailing: 0)
        while true {
            let page = try services.log.fetch(
                topic: dlq,
                partition: partition,
                from: next,
                maxBytes: 8 << 20,
                maxRecords: 1000
            )
            guard let last = page.last else { break }
            var back: [LogRecord] = []
            var stop: Int64?
            for record in page {
                let original = record.headers.filter { !$0.name.hasPrefix("sr-dlq-") }
                let check = RecordSignature.verify(
                    topic: topic,
                    partition: record.partition,
                    key: record.key ?? [],
                    value: record.value ?? [],
                    headers: original,
                    trusted: trusted,
                    verifiedRoots: &verified
                )
                if stop == nil, case .success = check {
                    back.append(
                        LogRecord(
                            key: record.key,
                            value: record.value,
                            headers: original,
                            timestamp: record.timestamp,
                            partition: record.partition
                        )
                    )
                } else {
                    // Progress stops at the first record that still fails: a later replay, once its
                    // cause is fixed, starts there, and nothing after it is replayed out of order.
                    if stop == nil { stop = record.offset }
                    report.stillFailing += 1
                }
            }
            if !back.isEmpty {
                _ = try services.retry.run { try services.log.append(back, to: topic) }
                report.replayed += back.count
            }
            next = stop ?? last.offset + 1
            try services.log.commit(group: group, topic: dlq, partition: partition, offset: next)
            if stop != nil { break }
        }
        try services.record([
            AuditEntry(
                principal: principal,
                action: "ReplayDeadLetters",
                resource: "topic:\(dlq)",
                decision: .allow,
                reason: "\(report.replayed) replayed, \(report.stillFailing) still failing verification",
                correlationID: correlationID,
                count: report.replayed
            )
        ])
        return report
    }
}
