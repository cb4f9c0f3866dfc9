public import Foundation
import StrongroomAudit
import StrongroomJSON
public import StrongroomKeys
public import StrongroomLog
public import StrongroomPolicy
import StrongroomSchema

/// GDPR data-subject requests: erase, access, export, rectify.
///
/// Each is authorized by the policy and audited.
///
/// A subject is found in the log by the keyed subject hash every record carries
/// (`sr-subject`), never by its id in clear; dead-letter topics are searched too.
public struct DataSubjectRequests: Sendable {
    /// The services.
    public let services: StrongroomServices
    /// Who carries the request out (a data protection officer).
    public let principal: String
    /// The requester's network address, for policy conditions.
    public let sourceAddress: IPAddress?
    /// The purpose declared for decrypts during export.
    public static let purpose = "data-subject-request"

    /// The time authorization sees (time-window conditions); the system clock unless a test sets one.
    public let clock: @Sendable () -> Date

    /// Requests carried out by `principal`, from `sourceAddress`.
    public init(
        services: StrongroomServices,
        principal: String,
        sourceAddress: IPAddress? = nil,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.services = services
        self.principal = principal
        self.sourceAddress = sourceAddress
        self.clock = clock
    }

    /// Where a subject's records are: topic → partition → offsets.
    public struct Holdings: Sendable, Codable, Hashable {
        /// The keyed subject hash searched for.
        public var subjectHash: String
        /// True when the subject's keys were erased (its fields read as erased).
        public var erased: Bool
        /// Offsets per topic and partition.
        public var records: [String: [String: [Int64]]]
        /// Total records found.
        public var count: Int
    }

    func context() -> AuthorizationContext {
        AuthorizationContext(
            purpose: Self.purpose,
            time: clock(),
            sourceAddress: sourceAddress,
            tenant: services.tenant.isEmpty ? nil : services.tenant
        )
    }

    func require(_ action: Action, _ resource: Resource, _ correlationID: String) throws(PipelineError) {
        let decision = services.policy.authorize(principalID: principal, action, resource, context())
        guard decision.isAllowed else {
            services.record([
                AuditEntry(
                    principal: principal,
                    action: action.rawValue,
                    resource: resource.description,
                    decision: .deny,
                    purpose: Self.purpose,
                    rules: decision.matchedRules,
                    reason: decision.reason,
                    correlationID: correlationID
                )
            ])
            throw PipelineError(.denied, decision.reason)
        }
    }

    /// Crypto-shreds the subject (every key version, at once, in every process) and writes the receipt.
    public func erase(subject: String, correlationID: String) throws -> ErasureReceipt {
        try require(.erase, .key("subject"), correlationID)
        let receipt = try services.keys.erase(subject: subject, tenant: services.tenant)
        services.count("strongroom_erasures_total", [])
        services.record([
            AuditEntry(
                principal: principal,
                action: "Erase",
                resource: "subject",
                decision: .allow,
                purpose: Self.purpose,
                reason: receipt.alreadyErased
                    ? "already erased" : "crypto-shredded \(receipt.versionsDeleted) key version(s)",
                correlationID: correlationID,
                keyIDs: [receipt.keyID],
                count: receipt.versionsDeleted,
                subjectHash: receipt.keyID
            )
        ])
        return receipt
    }

    /// What is held about the subject, and where (no values).
    public func access(subject: String, correlationID: String) throws -> Holdings {
        let hash = try services.keys.subjectHash(subject, tenant: services.tenant)
        var records: [String: [String: [Int64]]] = [:]
        var count = 0
        for topic in try services.log.topics() {
            try require(.describe, .topic(topic.name), correlationID)
            for partition in topic.partitions {
                for record in try scan(topic.name, partition.partition, hash) {
                    records[topic.name, default: [:]]["\(partition.partition)", default: []].append(record.offset)
                    count += 1
                }
            }
        }
        let erased = try services.keys.isErased(subject: subject, tenant: services.tenant)
        services.record([
            AuditEntry(
                principal: principal,
                action: "Access",
                resource: "subject",
                decision: .allow,
                purpose: Self.purpose,
                correlationID: correlationID,
                count: count,
                subjectHash: hash
            )
        ])
        return Holdings(subjectHash: hash, erased: erased, records: records, count: count)
    }

    /// Every event of the subject, decrypted where the policy allows for this purpose (masked
    /// otherwise), as one JSON document: `{"subjectHash", "exportedAt", "events": [...]}`.
    public func export(subject: String, correlationID: String) throws -> [UInt8] {
        let hash = try services.keys.subjectHash(subject, tenant: services.tenant)
        var events: [JSONValue] = []
        var decrypted = 0
        for topic in try services.log.topics() where !topic.name.hasSuffix(".dlq") {
            let schema: StrongroomServices.CompiledSchema
            do { schema = try services.schema(for: topic.name) } catch { continue }
            // Export is a data-subject request, not a read: metadata rights are needed as well.
            try require(.describe, .topic(topic.name), correlationID)
            try require(.consume, .topic(topic.name), correlationID)
            var fields = FieldDecisions(
                services: services,
                principal: principal,
                topic: topic.name,
                context: context(),
                masks: schema.annotations.masks
            )
            for partition in topic.partitions {
                for record in try scan(topic.name, partition.partition, hash) {
                    var out: [UInt8] = []
                    let value = record.value ?? []
                    let outcome = try value.withUnsafeBufferPointer { buffer in
                        try schema.cipher.reveal(buffer, into: &out) { fields.treatment($0, $1) }
                    }
                    decrypted += outcome.decrypted
                    events.append(
                        .object([
                            .init("topic", .string(topic.name)),
                            .init("partition", .number("\(partition.partition)")),
                            .init("offset", .number("\(record.offset)")),
                            .init("event", try JSONValue(parsing: out)),
                        ])
                    )
                }
            }
        }
        services.record([
            AuditEntry(
                principal: principal,
                action: "Export",
                resource: "subject",
                decision: .allow,
                purpose: Self.purpose,
                reason: "\(events.count) event(s), \(decrypted) field(s) decrypted",
                correlationID: correlationID,
                count: events.count,
                subjectHash: hash
            )
        ])
        var document: [UInt8] = []
        JSONValue.object([
            .init("subjectHash", .string(hash)),
            .init("exportedAt", .string(AuditEntry.timestamp(Date()))),
            .init("events", .array(events)),
        ]).write(to: &document)
        return document
    }

    /// Checks that the acting principal may rectify in `topic` (audited when refused).
    public func authorizeRectify(topic: String, correlationID: String) throws {
        try require(.produce, .topic(topic), correlationID)
    }

    /// Appends `correction` (a full event of the subject) to `topic` through the secure
    /// produce path, signed by `producer`; the log stays immutable, the latest event wins.
    public func rectify(
        subject: String,
        topic: String,
        correction: [UInt8],
        producer: SecureProducer,
        correlationID: String
    ) throws -> RecordPosition {
        try require(.produce, .topic(topic), correlationID)
        let hash = try services.keys.subjectHash(subject, tenant: services.tenant)
        guard let field = try services.schema(for: topic).annotations.subjectField,
            (try? JSONValue(parsing: correction))?[field]?.stringValue == subject
        else { throw PipelineError(.invalid, "the correction must name the same data subject") }
        let position = try producer.produce([correction], to: topic, correlationID: correlationID)[0].get()
        services.record([
            AuditEntry(
                principal: principal,
                action: "Rectify",
                resource: "topic:\(topic)",
                decision: .allow,
                purpose: Self.purpose,
                reason: "correction appended at \(position.partition):\(position.offset)",
                correlationID: correlationID,
                subjectHash: hash
            )
        ])
        return position
    }

    /// Records of one partition whose subject header is `hash`.
    func scan(_ topic: String, _ partition: Int, _ hash: String) throws -> [StoredRecord] {
        var found: [StoredRecord] = []
        var next: Int64 = 0
        let needle = Array(hash.utf8)
        while true {
            let page = try services.log.fetch(
                topic: topic,
                partition: partition,
                from: next,
                maxBytes: 8 << 20,
                maxRecords: 5000
            )
            guard let last = page.last else { return found }
            found += page.filter { record in
                record.headers.contains { $0.name == RecordSignature.Header.subject && $0.value == needle }
            }
            next = last.offset + 1
        }
    }
}
