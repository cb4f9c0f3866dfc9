public import Crypto
public import Foundation
public import Logging
public import Metrics
public import StrongroomAudit
import StrongroomCrypto
import StrongroomJSON
public import StrongroomKeys
public import StrongroomLog
public import StrongroomPolicy
public import StrongroomSchema
import Synchronization

/// Why the pipeline refused a record or a call.
///
/// Never carries a payload value.
public struct PipelineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind.
    public enum Kind: String, Sendable {
        /// The policy denied the action.
        case denied = "denied"
        /// The topic has no registered schema.
        case noSchema = "no schema"
        /// The event breaks its schema.
        case invalid = "schema violation"
        /// DLP found personal data or a secret in an untagged field.
        case dlp = "personal data in an untagged field"
        /// Encryption failed (an erased subject, a key store problem).
        case encryption = "encryption failed"
        /// The log refused or failed.
        case log = "log error"
        /// The producer's key is not trusted, or its records carry no valid signature.
        case signature = "signature"
    }

    /// The kind.
    public var kind: Kind
    /// Safe detail: pointers, rules, rule ids, codes.
    public var detail: String

    /// An error.
    public init(_ kind: Kind, _ detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    /// The kind and detail.
    public var description: String { detail.isEmpty ? kind.rawValue : "\(kind.rawValue): \(detail)" }
}

/// Everything the pipelines share: keys, log, schemas, policy, audit, trusted producer keys.
public final class StrongroomServices: Sendable {
    /// The key store.
    public let keys: KeyStore
    /// The event log.
    public let log: any EventLog
    /// The schema registry.
    public let registry: SchemaRegistry
    /// The policy engine.
    public let policy: PolicyEngine
    /// The audit log.
    public let audit: AuditLog
    /// Producer principal → Ed25519 public key.
    public let producers: Mutex<[String: Curve25519.Signing.PublicKey]>
    /// Tenant of every operation ("" for one tenant).
    public let tenant: String
    /// Structured logs (ids, topics, counts, reasons; never payload values).
    public let logger: Logger
    /// Where counters and timers go (Prometheus later).
    public let metrics: any MetricsFactory
    /// Backoff for transient storage failures (a refusal is never retried).
    public let retry = RetryPolicy(isTransient: { ($0 as? LogError)?.code == .storage })
    let dlp = DLPScanner()
    let compiled = Mutex<[Int: CompiledSchema]>([:])

    /// Services over existing components.
    public init(
        keys: KeyStore,
        log: any EventLog,
        registry: SchemaRegistry,
        policy: PolicyEngine,
        audit: AuditLog,
        tenant: String = "",
        logger: Logger = Logger(label: "strongroom.pipeline"),
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.keys = keys
        self.log = log
        self.registry = registry
        self.policy = policy
        self.audit = audit
        self.tenant = tenant
        self.logger = logger
        self.metrics = metrics
        self.producers = Mutex([:])
    }

    func count(_ label: String, _ dimensions: [(String, String)], by amount: Int = 1) {
        guard amount > 0 else { return }
        Counter(label: label, dimensions: dimensions, factory: metrics).increment(by: amount)
    }

    func time(_ label: String, _ dimensions: [(String, String)], since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        Timer(label: label, dimensions: dimensions, factory: metrics).recordNanoseconds(
            elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        )
    }

    /// Trusts `key` for records produced by `principal`.
    public func trust(producer principal: String, key: Curve25519.Signing.PublicKey) {
        producers.withLock { $0[principal] = key }
    }

    /// The trusted producer keys file of a data directory: `{"principal": "base64 public key"}`.
    public static let trustedProducersFileName = "producers.json"

    /// Writes the trusted producer keys to `dataDirectory` (public keys only).
    public func saveTrustedProducers(to dataDirectory: URL) throws {
        let keys = producers.withLock { $0 }.mapValues { $0.rawRepresentation.base64EncodedString() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(keys).write(
            to: dataDirectory.appendingPathComponent(Self.trustedProducersFileName),
            options: .atomic
        )
    }

    /// Trusts the producer keys saved in `dataDirectory`, if any.
    public func loadTrustedProducers(from dataDirectory: URL) throws {
        let url = dataDirectory.appendingPathComponent(Self.trustedProducersFileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        let saved = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: url))
        for (principal, text) in saved {
            guard let raw = Data(base64Encoded: text) else { continue }
            trust(producer: principal, key: try Curve25519.Signing.PublicKey(rawRepresentation: raw))
        }
    }

    /// Creates `topic` and its dead-letter topic `<topic>.dlq` (same partitions).
    public func createTopic(_ topic: String, config: TopicConfig) throws(LogError) {
        try log.createTopic(topic, config: config)
        var dlq = config
        dlq.retentionBytes = nil
        try log.createTopic(topic + ".dlq", config: dlq)
    }

    struct CompiledSchema: @unchecked Sendable {
        // Immutable after creation; the validator and plan are thread-safe.
        let id: Int
        let validator: JSONSchemaValidator
        let plan: EncryptionPlan
        let annotations: SchemaAnnotations
        let cipher: EventCipher
        let patterns: [String]
    }

    func schema(for topic: String) throws(PipelineError) -> CompiledSchema {
        let registered: RegisteredSchema
        do { registered = try registry.schema(subject: topic + "-value") } catch {
            throw PipelineError(.noSchema, "\(topic)-value")
        }
        if let hit = compiled.withLock({ $0[registered.id] }) { return hit }
        do {
            let value = try JSONValue(parsing: registered.schema)
            let plan = try EncryptionPlan(schema: value)
            let annotations = try SchemaAnnotations(schema: value)
            let cipher = try EventCipher(
                plan: plan,
                keys: keys,
                options: .init(topic: topic, tenant: tenant, subjectField: annotations.subjectField)
            )
            let entry = CompiledSchema(
                id: registered.id,
                validator: try JSONSchemaValidator(schema: value),
                plan: plan,
                annotations: annotations,
                cipher: cipher,
                patterns: plan.fields.map(\.pattern)
            )
            compiled.withLock { $0[registered.id] = entry }
            return entry
        } catch {
            throw PipelineError(.noSchema, "\(topic)-value does not compile: \(error)")
        }
    }

    /// The `sr1:` strings of a record value, as byte ranges without the quotes.
    static func sealedRanges(in value: [UInt8]) -> [Range<Int>] {
        let marker = Array(#""sr1:"#.utf8)
        var found: [Range<Int>] = []
        var i = 0
        while i + marker.count <= value.count {
            guard value[i] == marker[0], value[(i + 1)..<(i + marker.count)].elementsEqual(marker[1...]) else {
                i += 1
                continue
            }
            var end = i + 1
            while end < value.count, value[end] != UInt8(ascii: "\"") { end += 1 }
            found.append((i + 1)..<end)
            i = end
        }
        return found
    }

    /// The key references (`subject:<id>:v<n>`, never key bytes) the record's fields name.
    static func keyReferences(in value: [UInt8]) -> [String] {
        var found: [String] = []
        for range in sealedRanges(in: value) {
            let reference = value.withUnsafeBufferPointer { buffer in
                (try? SealedField(parsing: UnsafeBufferPointer(rebasing: buffer[range])))?.key.description
            }
            if let reference, !found.contains(reference) { found.append(reference) }
        }
        return found
    }

    /// The event cipher of `topic`'s current schema.
    public func cipher(forTopic topic: String) throws -> EventCipher { try schema(for: topic).cipher }

    func record(_ entries: [AuditEntry]) {
        // An audit failure must be visible: it stops nothing already done, but is reported.
        do { try audit.append(entries) } catch {
            FileHandle.standardError.write(Data("audit append failed: \(error)\n".utf8))
        }
    }
}

/// Produces events: authorize → validate → DLP → encrypt → sign → append → audit.
public final class SecureProducer: Sendable {
    /// The services.
    public let services: StrongroomServices
    /// The producing principal.
    public let principal: String
    /// The producer's network address, for policy conditions.
    public let sourceAddress: IPAddress?
    let key: Curve25519.Signing.PrivateKey

    /// A producer acting as `principal`, signing with `key` (its public key must be trusted
    /// by consumers: ``StrongroomServices/trust(producer:key:)``).
    public init(
        services: StrongroomServices,
        principal: String,
        key: Curve25519.Signing.PrivateKey,
        sourceAddress: IPAddress? = nil
    ) {
        self.services = services
        self.principal = principal
        self.key = key
        self.sourceAddress = sourceAddress
    }

    /// Produces `events` (JSON objects) to `topic`: one result per event, good ones appended.
    public func produce(
        _ events: [[UInt8]],
        to topic: String,
        correlationID: String = UUID().uuidString
    ) -> [Result<RecordPosition, PipelineError>] {
        let started = ContinuousClock.now
        defer { services.time("strongroom_produce_duration", [("topic", topic)], since: started) }
        let context = AuthorizationContext(
            sourceAddress: sourceAddress,
            tenant: services.tenant.isEmpty ? nil : services.tenant
        )
        let decision = services.policy.authorize(principalID: principal, .produce, .topic(topic), context)
        guard decision.isAllowed else {
            services.record([
                AuditEntry(
                    principal: principal,
                    action: "Produce",
                    resource: "topic:\(topic)",
                    decision: .deny,
                    rules: decision.matchedRules,
                    reason: decision.reason,
                    correlationID: correlationID,
                    count: events.count
                )
            ])
            services.count("strongroom_denials_total", [("action", "Produce"), ("topic", topic)])
            services.logger.warning(
                "produce denied",
                metadata: [
                    "correlation_id": "\(correlationID)", "principal": "\(principal)", "topic": "\(topic)",
                    "reason": "\(decision.reason)",
                ]
            )
            return events.map { _ in .failure(PipelineError(.denied, decision.reason)) }
        }
        let schema: StrongroomServices.CompiledSchema
        do { schema = try services.schema(for: topic) } catch { return events.map { _ in .failure(error) } }
        let dlpAction = (try? services.log.describeTopic(topic).config.dlpAction) ?? "reject"
        var results = [Result<RecordPosition, PipelineError>?](repeating: nil, count: events.count)
        var accepted: [Int] = []
        var subjects: [Int: String] = [:]
        var flagged: [String: Int] = [:]
        for (i, event) in events.enumerated() {
            let errors = schema.validator.validate(bytes: event)
            if !errors.isEmpty {
                results[i] = .failure(
                    PipelineError(.invalid, errors.prefix(3).map(\.description).joined(separator: "; "))
                )
                continue
            }
            guard let value = try? JSONValue(parsing: event) else {
                results[i] = .failure(PipelineError(.invalid, "not JSON"))
                continue
            }
            let findings = services.dlp.scan(value, taggedPointers: schema.patterns)
            if !findings.isEmpty {
                if dlpAction == "flag" {
                    for f in findings { flagged[f.description, default: 0] += 1 }
                } else {
                    results[i] = .failure(PipelineError(.dlp, findings.map(\.description).joined(separator: ", ")))
                    continue
                }
            }
            accepted.append(i)
            if let field = schema.annotations.subjectField { subjects[i] = value[field]?.stringValue }
        }
        let encrypted = schema.cipher.encrypt(batch: accepted.map { events[$0] })
        var records: [LogRecord] = []
        var contents: [RecordSignature.Content] = []
        var extra: [[(String, [UInt8])]] = []
        var recordIndex: [Int] = []
        for (i, result) in zip(accepted, encrypted) {
            switch result {
            case .failure(let error):
                results[i] = .failure(PipelineError(.encryption, "\(error)"))
            case .success(let value):
                let subjectHash = subjects[i].flatMap { try? services.keys.subjectHash($0, tenant: services.tenant) }
                let key = Array((subjectHash ?? "").utf8)
                contents.append(
                    RecordSignature.Content(
                        topic: topic,
                        key: key,
                        value: value,
                        schemaID: schema.id,
                        producer: principal
                    )
                )
                records.append(LogRecord(key: key.isEmpty ? nil : key, value: value))
                extra.append([
                    (RecordSignature.Header.schema, Array(String(schema.id).utf8)),
                    (RecordSignature.Header.subject, key),
                    (
                        RecordSignature.Header.keys,
                        Array(StrongroomServices.keyReferences(in: value).joined(separator: ",").utf8)
                    ),
                    (RecordSignature.Header.correlation, Array(correlationID.utf8)),
                    (RecordSignature.Header.contentType, Array("application/json; strongroom=1".utf8)),
                ])
                recordIndex.append(i)
            }
        }
        guard !records.isEmpty else {
            audit(topic, results, correlationID, flagged)
            return results.map { $0 ?? .failure(PipelineError(.log, "not produced")) }
        }
        let batchID = "\(principal)-\(UUID().uuidString)"
        do {
            let signatures = try RecordSignature.sign(contents, producer: principal, key: key, batchID: batchID)
            for j in records.indices {
                records[j].headers = (signatures[j] + extra[j]).map { RecordHeader($0.0, $0.1) }
            }
            // A busy or briefly failing store is retried with backoff; a refusal is not.
            let positions = try services.retry.run {
                try services.log.append(records, to: topic)
            }
            for (j, position) in positions.enumerated() { results[recordIndex[j]] = .success(position) }
            let sealed = records.reduce(0) { $0 + StrongroomServices.sealedRanges(in: $1.value ?? []).count }
            services.count("strongroom_fields_encrypted_total", [("topic", topic)], by: sealed)
        } catch {
            for j in recordIndex { results[j] = .failure(PipelineError(.log, "\(error)")) }
        }
        audit(topic, results, correlationID, flagged)
        return results.map { $0 ?? .failure(PipelineError(.log, "not produced")) }
    }

    func audit(
        _ topic: String,
        _ results: [Result<RecordPosition, PipelineError>?],
        _ correlationID: String,
        _ flagged: [String: Int]
    ) {
        var produced = 0
        var refused: [PipelineError.Kind: Int] = [:]
        for result in results {
            switch result {
            case .success?: produced += 1
            case .failure(let error)?: refused[error.kind, default: 0] += 1
            case nil: break
            }
        }
        services.count("strongroom_records_produced_total", [("topic", topic)], by: produced)
        for (kind, count) in refused {
            services.count(
                "strongroom_records_refused_total",
                [("topic", topic), ("reason", kind.rawValue)],
                by: count
            )
        }
        services.logger.info(
            "produce",
            metadata: [
                "correlation_id": "\(correlationID)", "principal": "\(principal)", "topic": "\(topic)",
                "produced": "\(produced)", "refused": "\(refused.values.reduce(0, +))",
            ]
        )
        var entries: [AuditEntry] = []
        if produced > 0 {
            entries.append(
                AuditEntry(
                    principal: principal,
                    action: "Produce",
                    resource: "topic:\(topic)",
                    decision: .allow,
                    correlationID: correlationID,
                    count: produced
                )
            )
        }
        for (kind, count) in refused.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            entries.append(
                AuditEntry(
                    principal: principal,
                    action: "Produce",
                    resource: "topic:\(topic)",
                    decision: .deny,
                    reason: kind.rawValue,
                    correlationID: correlationID,
                    count: count
                )
            )
        }
        for (finding, count) in flagged.sorted(by: { $0.key < $1.key }) {
            entries.append(
                AuditEntry(
                    principal: principal,
                    action: "DLPFlag",
                    resource: "topic:\(topic)",
                    decision: .allow,
                    reason: finding,
                    correlationID: correlationID,
                    count: count
                )
            )
        }
        services.record(entries)
    }
}

/// One consumed event as the consumer may see it.
public struct ConsumedEvent: Sendable {
    /// Partition.
    public var partition: Int
    /// Offset.
    public var offset: Int64
    /// The event: fields decrypted where a grant allows, masked otherwise, erased marker for
    /// an erased subject.
    public var value: [UInt8]
    /// Fields decrypted, masked, erased.
    public var outcome: EventCipher.DecryptOutcome
}

/// Consumes events: fetch → verify signature (dead-letter on failure) → authorize each field
/// for the declared purpose → decrypt or mask → audit every decrypt and denial.
public final class SecureConsumer: Sendable {
    /// The services.
    public let services: StrongroomServices
    /// The consuming principal.
    public let principal: String
    /// The declared purpose.
    public let purpose: String?
    /// The consumer group (offsets).
    public let group: String
    /// A governance token (`srg1.…`): a time-boxed break-glass grant, honoured only within its
    /// scope by an engine that trusts its issuer, spent once if single-use.
    public let token: String?
    let verified = Mutex<[String: Merkle.Hash]>([:])

    /// A consumer for `principal` declaring `purpose`, in `group`, optionally presenting `token`.
    public init(services: StrongroomServices, principal: String, purpose: String?, group: String, token: String? = nil)
    {
        self.services = services
        self.principal = principal
        self.purpose = purpose
        self.group = group
        self.token = token
    }

    /// Reads up to `maxRecords` from the group's committed offset, hands them to `handler`,
    /// then commits: a crash inside `handler` replays the batch, never skips it.
    ///
    /// - Returns: the number of records handled (0 at the end of the partition).
    @discardableResult
    public func consume(
        topic: String,
        partition: Int,
        maxRecords: Int = 500,
        correlationID: String = UUID().uuidString,
        handler: ([ConsumedEvent]) throws -> Void
    ) throws -> Int {
        let started = ContinuousClock.now
        defer { services.time("strongroom_consume_duration", [("topic", topic)], since: started) }
        let context = AuthorizationContext(
            purpose: purpose,
            tenant: services.tenant.isEmpty ? nil : services.tenant,
            token: token
        )
        var decision = services.policy.authorize(principalID: principal, .consume, .topic(topic), context)
        // The group's offsets are shared state: moving them needs its own grant.
        if decision.isAllowed {
            decision = services.policy.authorize(principalID: principal, .consume, .group(group), context)
        }
        guard decision.isAllowed else {
            services.record([
                AuditEntry(
                    principal: principal,
                    action: "Consume",
                    resource: "topic:\(topic) group:\(group)",
                    decision: .deny,
                    purpose: purpose,
                    rules: decision.matchedRules,
                    reason: decision.reason,
                    correlationID: correlationID
                )
            ])
            services.count("strongroom_denials_total", [("action", "Consume"), ("topic", topic)])
            services.logger.warning(
                "consume denied",
                metadata: [
                    "correlation_id": "\(correlationID)", "principal": "\(principal)", "topic": "\(topic)",
                    "reason": "\(decision.reason)",
                ]
            )
            throw PipelineError(.denied, decision.reason)
        }
        let schema = try services.schema(for: topic)
        let start = try services.log.committedOffset(group: group, topic: topic, partition: partition) ?? 0
        let records = try services.retry.run {
            try services.log.fetch(
                topic: topic,
                partition: partition,
                from: start,
                maxBytes: 8 << 20,
                maxRecords: maxRecords
            )
        }
        guard let last = records.last else { return 0 }
        // One decision per field per batch, each audited once with its count.
        var fields = FieldDecisions(
            services: services,
            principal: principal,
            topic: topic,
            context: context,
            masks: schema.annotations.masks
        )
        var dead: [(StoredRecord, String)] = []
        var events: [ConsumedEvent] = []
        let trusted = services.producers.withLock { $0 }
        for record in records {
            let headers = Dictionary(record.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
            let producer = String(decoding: headers[RecordSignature.Header.producer] ?? [], as: UTF8.self)
            let schemaID = Int(String(decoding: headers[RecordSignature.Header.schema] ?? [], as: UTF8.self)) ?? -1
            let content = RecordSignature.Content(
                topic: topic,
                key: record.key ?? [],
                value: record.value ?? [],
                schemaID: schemaID,
                producer: producer
            )
            let failure = verified.withLock { cache in
                RecordSignature.verify(content, headers: headers, trusted: trusted, verifiedRoots: &cache)
            }
            if let failure {
                dead.append((record, failure.rawValue))
                continue
            }
            var out: [UInt8] = []
            let value = record.value ?? []
            let revealed: Result<EventCipher.DecryptOutcome, EventCipherError> = value.withUnsafeBufferPointer {
                buffer in
                Result { () throws(EventCipherError) -> EventCipher.DecryptOutcome in
                    try schema.cipher.reveal(buffer, into: &out) { fields.treatment($0, $1) }
                }
            }
            // A signed record that still cannot be opened (a key gone, a corrupt field) must not
            // stop the partition: it goes to the dead-letter topic with its error code.
            guard case .success(let outcome) = revealed else {
                if case .failure(let error) = revealed { dead.append((record, "field: \(error.code)")) }
                continue
            }
            events.append(
                ConsumedEvent(partition: record.partition, offset: record.offset, value: out, outcome: outcome)
            )
        }
        if !dead.isEmpty {
            // Stored before anything is committed: a dead letter is never lost to a skipped offset.
            _ = try services.retry.run {
                try services.log.append(
                    dead.map { record, reason in
                        LogRecord(
                            key: record.key,
                            value: record.value,
                            headers: record.headers + [
                                RecordHeader("sr-dlq-reason", text: reason),
                                RecordHeader("sr-dlq-source", text: "\(topic):\(record.partition):\(record.offset)"),
                            ],
                            timestamp: record.timestamp
                        )
                    },
                    to: topic + ".dlq"
                )
            }
        }
        try handler(events)
        try services.log.commit(group: group, topic: topic, partition: partition, offset: last.offset + 1)
        services.count("strongroom_records_consumed_total", [("topic", topic)], by: events.count)
        for (reason, count) in Dictionary(grouping: dead, by: \.1).mapValues(\.count) {
            services.count("strongroom_dead_letters_total", [("topic", topic), ("reason", reason)], by: count)
        }
        for entry in fields.counts.values {
            if entry.decision.isAllowed {
                services.count(
                    "strongroom_decrypts_total",
                    [("topic", topic), ("purpose", purpose ?? "none")],
                    by: entry.count
                )
            } else {
                services.count("strongroom_denials_total", [("action", "Decrypt"), ("topic", topic)], by: entry.count)
            }
        }
        services.logger.info(
            "consume",
            metadata: [
                "correlation_id": "\(correlationID)", "principal": "\(principal)", "topic": "\(topic)",
                "partition": "\(partition)", "records": "\(events.count)", "dead_letters": "\(dead.count)",
            ]
        )
        var entries: [AuditEntry] = []
        for (pointer, entry) in fields.counts.sorted(by: { $0.key < $1.key }) {
            entries.append(
                AuditEntry(
                    principal: principal,
                    action: "Decrypt",
                    resource: "field:\(topic)\(pointer.string)",
                    decision: entry.decision.isAllowed ? .allow : .deny,
                    fields: [pointer.string],
                    purpose: purpose,
                    rules: entry.decision.matchedRules,
                    reason: entry.decision.isAllowed ? nil : "masked: \(entry.decision.reason)",
                    correlationID: correlationID,
                    count: entry.count
                )
            )
        }
        if !dead.isEmpty {
            entries.append(
                AuditEntry(
                    principal: principal,
                    action: "DeadLetter",
                    resource: "topic:\(topic)",
                    decision: .deny,
                    reason: Set(dead.map(\.1)).sorted().joined(separator: ", "),
                    correlationID: correlationID,
                    count: dead.count
                )
            )
        }
        services.record(entries)
        return records.count
    }

}

/// One Decrypt decision per concrete field pointer per batch, and how often each applied.
///
/// The policy is asked about the exact pointer revealed (`/cards/0`), which is what
/// `policy explain` and `policy test` evaluate and what the audit entry names; the schema's
/// mask is looked up by the plan field's pattern (`/cards/*`).
struct FieldDecisions {
    let services: StrongroomServices
    let principal: String
    let topic: String
    let context: AuthorizationContext
    let masks: [String: MaskStyle]  // text-keyed: schema patterns, written by the schema author
    var counts: [ExactText: (decision: Decision, count: Int)] = [:]

    /// Decrypt where the policy allows this field for the purpose, else the schema's mask.
    mutating func treatment(_ pointer: String, _ field: EncryptionPlan.Field) -> EventCipher.FieldTreatment {
        let key = ExactText(pointer)
        let decision =
            counts[key]?.decision
            ?? services.policy.authorize(
                principalID: principal,
                .decrypt,
                .field(topic: topic, pointer: pointer),
                context
            )
        counts[key, default: (decision, 0)].count += 1
        return decision.isAllowed ? .decrypt : .mask(masks[field.pattern] ?? .full)
    }
}
