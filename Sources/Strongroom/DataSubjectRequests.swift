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
/// A subject is found in the log by its pseudonym, the random key id the key store holds for
/// it and every one of its records carries as its (signed) record key; never by its id, which
/// is an encrypted field. Dead-letter topics are searched too. After erasure the key store no
/// longer knows the pseudonym: nothing can be found, and nothing links the records to the person.
public struct DataSubjectRequests: Sendable {
    /// The services.
    public let services: StrongroomServices
    /// Who carries the request out (a data protection officer).
    public let principal: String
    /// The requester's network address, for policy conditions.
    public let sourceAddress: IPAddress?
    /// The principal as a front attested it (a token's roles included), decided on instead of
    /// the policy's entry; `Produce` (rectify) is always the policy's own right, as consumers
    /// check the signer's own right.
    public let identity: Principal?
    /// The purpose declared for decrypts during export.
    public static let purpose = "data-subject-request"

    /// The time authorization sees (time-window conditions); the system clock unless a test sets one.
    public let clock: @Sendable () -> Date

    /// Requests carried out by `principal`, from `sourceAddress`.
    public init(
        services: StrongroomServices,
        principal: String,
        sourceAddress: IPAddress? = nil,
        identity: Principal? = nil,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.services = services
        self.principal = principal
        self.sourceAddress = sourceAddress
        self.identity = identity
        self.clock = clock
    }

    /// Where a subject's records are: topic → partition → offsets.
    public struct Holdings: Sendable, Codable, Hashable {
        /// The subject's pseudonym searched for; empty when the subject holds no keys.
        public var subjectKey: String
        /// True when the subject's keys were erased (its fields read as erased).
        public var erased: Bool
        /// Offsets per topic and partition.
        public var records: [String: [String: [Int64]]]
        /// Total records found.
        public var count: Int
        /// Records that carry the subject's hash but failed verification (no content).
        public var unreadable: [Unreadable] = []
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
        let decision = services.policy.authorize(
            principal,
            as: action == .produce ? nil : identity,
            action,
            resource,
            context()
        )
        guard decision.isAllowed else {
            try services.record([
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
    ///
    /// An entry naming the request is written first (no audit, no erasure); the receipt
    /// entry follows. A subject with no keys is recorded as "no keys held", never as shredded.
    public func erase(subject: String, correlationID: String) throws -> ErasureReceipt {
        try require(.erase, .key("subject"), correlationID)
        let receipt: ErasureReceipt
        do {
            receipt = try SubjectErasure.erase(
                subject: subject,
                tenant: services.tenant,
                keys: services.keys,
                principal: principal,
                resource: "subject",
                purpose: Self.purpose,
                correlationID: correlationID
            ) { try services.record([$0]) }
        } catch let failure as SubjectErasure.Failure {
            // Callers see the pipeline's own error: `audit log unavailable`.
            throw failure.cause
        }
        services.count("strongroom_erasures_total", [])
        return receipt
    }

    /// What is held about the subject, and where (no values).
    ///
    /// Records are verified as a consumer verifies them and must name the subject in their
    /// own subject field: a record that only carries the subject's hash header is listed under
    /// `unreadable`, never as the subject's.
    public func access(subject: String, correlationID: String) throws -> Holdings {
        let hash = try services.keys.pseudonym(ofSubject: subject, tenant: services.tenant)
        var records: [String: [String: [Int64]]] = [:]  // text-keyed: topic names are ASCII (log rule)
        var unreadable: [Unreadable] = []
        var count = 0
        for topic in try services.log.topics() {
            try require(.describe, .topic(topic.name), correlationID)
            let source = topic.name.hasSuffix(".dlq") ? String(topic.name.dropLast(4)) : topic.name
            var reader = RecordReader(
                services: services,
                topic: source,
                principal: principal,
                identity: identity,
                context: context()
            )
            for partition in topic.partitions {
                for record in try scan(topic.name, partition.partition, hash) {
                    switch try verify(&reader, record, subject: subject, pseudonym: hash, reveal: false) {
                    case .success:
                        records[topic.name, default: [:]]["\(partition.partition)", default: []].append(record.offset)
                        count += 1
                    case .failure(let reason):
                        unreadable.append(Unreadable(topic.name, record, reason.reason))
                    }
                }
            }
        }
        let erased = try services.keys.isErased(subject: subject, tenant: services.tenant)
        try services.record([
            AuditEntry(
                principal: principal,
                action: "Access",
                resource: "subject",
                decision: .allow,
                purpose: Self.purpose,
                reason: unreadable.isEmpty ? nil : "\(unreadable.count) record(s) failed verification",
                correlationID: correlationID,
                count: count,
                subjectKey: hash
            )
        ])
        return Holdings(
            subjectKey: hash ?? "",
            erased: erased,
            records: records,
            count: count,
            unreadable: unreadable
        )
    }

    /// A record that carries the subject's hash but could not be verified as the subject's:
    /// where it is and why, never its content.
    public struct Unreadable: Sendable, Codable, Hashable {
        /// Topic.
        public var topic: String
        /// Partition.
        public var partition: Int
        /// Offset.
        public var offset: Int64
        /// Why (a signature failure, a schema problem, another subject named).
        public var reason: String

        init(_ topic: String, _ record: StoredRecord, _ reason: String) {
            self.topic = topic
            self.partition = record.partition
            self.offset = record.offset
            self.reason = reason
        }
    }

    /// Verifies `record` as a consumer does and checks that its encrypted subject field names
    /// `subject`: sealed under the subject's key (its pseudonym) and, when decrypted, the same
    /// bytes.
    func verify(
        _ reader: inout RecordReader,
        _ record: StoredRecord,
        subject: String,
        pseudonym: String?,
        reveal: Bool
    ) throws -> Result<ConsumedEvent, RecordReader.ReadError> {
        switch reader.read(record, reveal: reveal) {
        case .success(let read):
            guard let pseudonym, let named = read.event.outcome.subjectKey, named.hasSameBytes(as: pseudonym),
                read.event.outcome.subjectAuthenticated,
                read.subject.map({ $0.hasSameBytes(as: subject) }) ?? true
            else {
                return .failure(RecordReader.ReadError("the record names another data subject"))
            }
            return .success(read.event)
        case .failure(.record(let reason)):
            return .failure(RecordReader.ReadError(reason))
        case .failure(.context(let code)):
            throw PipelineError(
                .context,
                "records of \(reader.topic) do not open (\(code)): check the tenant and the data directory"
            )
        }
    }

    /// Every event of the subject, decrypted where the policy allows for this purpose (masked
    /// otherwise), as one JSON document: `{"subjectKey", "exportedAt", "events": [...],
    /// "unreadable": [...]}`.
    ///
    /// Records are verified exactly as a consumer verifies them (signature, schema, subject
    /// field): one that fails is listed under `unreadable` with where it is and why, never its
    /// content, and the rest of the export goes on. The audit entry is written before the
    /// document is returned; if it cannot be, nothing is returned.
    public func export(subject: String, correlationID: String) throws -> [UInt8] {
        let hash = try services.keys.pseudonym(ofSubject: subject, tenant: services.tenant)
        var events: [JSONValue] = []
        var unreadable: [Unreadable] = []
        var decrypted = 0
        for topic in try services.log.topics() where !topic.name.hasSuffix(".dlq") {
            do { _ = try services.schema(for: topic.name) } catch { continue }
            // Export is a data-subject request, not a read: metadata rights are needed as well.
            try require(.describe, .topic(topic.name), correlationID)
            try require(.consume, .topic(topic.name), correlationID)
            var reader = RecordReader(
                services: services,
                topic: topic.name,
                principal: principal,
                identity: identity,
                context: context()
            )
            for partition in topic.partitions {
                for record in try scan(topic.name, partition.partition, hash) {
                    switch try verify(&reader, record, subject: subject, pseudonym: hash, reveal: true) {
                    case .success(let event):
                        decrypted += event.outcome.decrypted
                        events.append(
                            .object([
                                .init("topic", .string(topic.name)),
                                .init("partition", .number("\(partition.partition)")),
                                .init("offset", .number("\(record.offset)")),
                                .init("event", try JSONValue(parsing: event.value)),
                            ])
                        )
                    case .failure(let error):
                        unreadable.append(Unreadable(topic.name, record, error.reason))
                    }
                }
            }
        }
        try services.record([
            AuditEntry(
                principal: principal,
                action: "Export",
                resource: "subject",
                decision: .allow,
                purpose: Self.purpose,
                reason: "\(events.count) event(s), \(decrypted) field(s) decrypted, \(unreadable.count) unreadable",
                correlationID: correlationID,
                count: events.count,
                subjectKey: hash
            )
        ])
        var document: [UInt8] = []
        JSONValue.object([
            .init("subjectKey", .string(hash ?? "")),
            .init("exportedAt", .string(AuditEntry.timestamp(Date()))),
            .init("events", .array(events)),
            .init(
                "unreadable",
                .array(
                    unreadable.map {
                        .object([
                            .init("topic", .string($0.topic)),
                            .init("partition", .number("\($0.partition)")),
                            .init("offset", .number("\($0.offset)")),
                            .init("reason", .string($0.reason)),
                        ])
                    }
                )
            ),
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
        let hash = try services.keys.pseudonym(ofSubject: subject, tenant: services.tenant)
        guard let field = try services.schema(for: topic).annotations.subjectField,
            (try? JSONValue(parsing: correction))?[field]?.stringValue?.hasSameBytes(as: subject) == true
        else { throw PipelineError(.invalid, "the correction must name the same data subject") }
        try services.record([
            AuditEntry(
                principal: principal,
                action: "Rectify",
                resource: "topic:\(topic)",
                decision: .allow,
                purpose: Self.purpose,
                reason: "correction to be appended through the secure produce path",
                correlationID: correlationID,
                subjectKey: hash
            )
        ])
        return try producer.produce([correction], to: topic, correlationID: correlationID)[0].get()
    }

    /// Records of one partition whose record key is the subject's pseudonym (signed, unlike the
    /// `sr-subject` header); none when the subject holds no keys.
    func scan(_ topic: String, _ partition: Int, _ pseudonym: String?) throws -> [StoredRecord] {
        guard let pseudonym else { return [] }
        var found: [StoredRecord] = []
        var next: Int64 = 0
        let needle = Array(pseudonym.utf8)
        while true {
            let page = try services.log.fetch(
                topic: topic,
                partition: partition,
                from: next,
                maxBytes: 8 << 20,
                maxRecords: 5000
            )
            guard let last = page.last else { return found }
            found += page.filter { $0.key == needle }
            next = last.offset + 1
        }
    }
}

/// One crypto-shredding, recorded.
///
/// The request entry first (no audit, no erasure), then the erasure, then the receipt. A
/// subject with no keys is recorded as "no keys held", never as shredded. The CLI's
/// `keys erase` and `dsr erase` both go through it.
public enum SubjectErasure {
    /// Which step failed: before anything was destroyed, or after.
    public struct Failure: Error, CustomStringConvertible {
        /// True when the keys were destroyed but the receipt could not be written.
        public let erased: Bool
        /// The underlying error.
        public let cause: any Error

        /// The step and the cause.
        public var description: String {
            erased
                ? "erased, but the audit receipt could not be written: \(cause)"
                : "nothing erased: the audit entry could not be written: \(cause)"
        }
    }

    /// Erases `subject` in `tenant`, writing each audit entry with `record`.
    public static func erase(
        subject: String,
        tenant: String,
        keys: KeyStore,
        principal: String,
        resource: String,
        purpose: String? = nil,
        correlationID: String?,
        record: (AuditEntry) throws -> Void
    ) throws -> ErasureReceipt {
        let pseudonym = try keys.pseudonym(ofSubject: subject, tenant: tenant)
        do {
            try record(
                AuditEntry(
                    principal: principal,
                    action: "EraseRequested",
                    resource: resource,
                    decision: .allow,
                    purpose: purpose,
                    correlationID: correlationID,
                    subjectKey: pseudonym
                )
            )
        } catch { throw Failure(erased: false, cause: error) }
        let receipt = try keys.erase(subject: subject, tenant: tenant)
        let nothingHeld = !receipt.alreadyErased && receipt.versionsDeleted == 0
        // The receipt names the subject by its pseudonym only, which nothing maps back now.
        do {
            try record(
                AuditEntry(
                    principal: principal,
                    action: "Erase",
                    resource: resource,
                    decision: .allow,
                    purpose: purpose,
                    reason: receipt.alreadyErased
                        ? "already erased"
                        : nothingHeld
                            ? "no keys held for this subject in this tenant; new data for it will be refused"
                            : "crypto-shredded \(receipt.versionsDeleted) key version(s)",
                    correlationID: correlationID,
                    keyIDs: receipt.keyID.isEmpty ? [] : [receipt.keyID],
                    count: receipt.versionsDeleted,
                    subjectKey: receipt.keyID.isEmpty ? nil : receipt.keyID
                )
            )
        } catch { throw Failure(erased: true, cause: error) }
        return receipt
    }
}
