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
