public import Crypto
public import Foundation
public import Logging
public import Metrics
public import StrongroomAudit
import StrongroomCrypto
import StrongroomFiles
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
        /// The audit entry could not be written, so the access it records did not happen.
        case audit = "audit log unavailable"
        /// Every record failed in a way that points at the reader's own setup (tenant, topic,
        /// data directory), not at the records: nothing was dead-lettered or committed.
        case context = "wrong context"
        /// A commit named an offset this consumer did not hand out as the end of a batch.
        case position = "not a delivered position"
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
    /// Producer principal → Ed25519 public key, trusted in code (tests, embedded hosts); the
    /// policy's pinned keys are trusted as well (``trustedProducerKeys()``).
    public let producers: Mutex<[ExactText: Curve25519.Signing.PublicKey]>
    /// Tenant of every operation ("" for one tenant).
    public let tenant: String
    /// Structured logs (ids, topics, counts, reasons; never payload values).
    public let logger: Logger
    /// Where counters and timers go (Prometheus later).
    public let metrics: any MetricsFactory
    /// Backoff for transient storage failures (a refusal is never retried).
    public let retry: RetryPolicy
    /// The default ``retry``: five attempts on a log's storage errors.
    public static let defaultRetry = RetryPolicy(isTransient: { ($0 as? LogError)?.code == .storage })
    /// Compiled schemas by topic and id: the registry gives identical schema texts one id across
    /// subjects, and a cipher binds its topic.
    let compiled = Mutex<[ExactText: CompiledSchema]>([:])

    /// Services over existing components.
    public init(
        keys: KeyStore,
        log: any EventLog,
        registry: SchemaRegistry,
        policy: PolicyEngine,
        audit: AuditLog,
        tenant: String = "",
        logger: Logger = Logger(label: "strongroom.pipeline"),
        metrics: any MetricsFactory = MetricsSystem.factory,
        retry: RetryPolicy = StrongroomServices.defaultRetry
    ) {
        self.retry = retry
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
        producers.withLock { $0[ExactText(principal)] = key }
    }

    /// Every producer key a reader trusts.
    ///
    /// The `producerKeys` pinned per principal in the policy in force (outside the data directory, under the operator's change control), and
    /// keys trusted in code with ``trust(producer:key:)``. Nothing in the data directory adds one.
    public func trustedProducerKeys() -> [ExactText: [Curve25519.Signing.PublicKey]] {
        var trusted: [ExactText: [Curve25519.Signing.PublicKey]] = [:]
        for (id, principal) in policy.policy.principals {
            for raw in principal.producerKeys {
                if let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) {
                    trusted[ExactText(id), default: []].append(key)
                }
            }
        }
        for (principal, key) in producers.withLock({ $0 }) { trusted[principal, default: []].append(key) }
        return trusted
    }

    /// Creates `topic` and its dead-letter topic `<topic>.dlq` (same partitions).
    public func createTopic(_ topic: String, config: TopicConfig) throws(LogError) {
        try log.createTopicWithDeadLetters(topic, config: config)
    }

    /// A class: a batch's records all name the same schema, and copying a struct of its parts
    /// per record retained each of them, from both cores at once.
    final class CompiledSchema: @unchecked Sendable {
        // Immutable after creation; the validator and plan are thread-safe.
        let id: Int
        let validator: JSONSchemaValidator
        let plan: EncryptionPlan
        let annotations: SchemaAnnotations
        let cipher: EventCipher
        /// The produce checks (validation, then DLP), one set per core that runs them at once.
        let checks: CheckPool

        init(
            id: Int,
            schema: JSONValue,
            validator: JSONSchemaValidator,
            plan: EncryptionPlan,
            annotations: SchemaAnnotations,
            cipher: EventCipher
        ) {
            self.id = id
            self.validator = validator
            self.plan = plan
            self.annotations = annotations
            self.cipher = cipher
            let patterns = plan.fields.map(\.pattern)
            self.checks = CheckPool(
                first: EventChecks(validator: validator, patterns: patterns),
                make: {
                    (try? JSONSchemaValidator(schema: schema)).map { EventChecks(validator: $0, patterns: patterns) }
                }
            )
        }
    }

    /// What a produce call checks each event with before encrypting it: its compiled schema,
    /// the DLP scanner and the schema's tagged pointers and declared names.
    struct EventChecks: Sendable {
        let validator: JSONSchemaValidator
        let scanner = DLPScanner()
        let coverage: DLPCoverage
        let declared: DLPDeclaredNames

        init(validator: JSONSchemaValidator, patterns: [String]) {
            self.validator = validator
            coverage = DLPCoverage(patterns)
            declared = DLPDeclaredNames(validator.declaredNames)
        }

        /// The event's DLP findings outside its tagged fields, or why it is invalid.
        func check(_ event: [UInt8]) -> Result<[DLPFinding], PipelineError> {
            // Most events pass in one pass over their bytes; the rest are parsed, so that
            // their errors and findings are named.
            if event.withUnsafeBufferPointer({ validator.passes($0, dlp: scanner, coverage: coverage) }) {
                return .success([])
            }
            // Parsed once: the validator's value is the one DLP scans.
            let (parsed, errors) = validator.validated(bytes: event)
            if !errors.isEmpty {
                return .failure(PipelineError(.invalid, errors.prefix(3).map(\.description).joined(separator: "; ")))
            }
            guard let value = parsed else { return .failure(PipelineError(.invalid, "not JSON")) }
            return .success(scanner.scan(value, coverage: coverage, declared: declared))
        }
    }

    /// Independent copies of a schema's ``EventChecks``, one lent to each chunk of a batch.
    ///
    /// The checks only read their compiled schema, but every read of a shared object moves
    /// its reference count: two cores walking one tree of schema nodes wait on each other's
    /// cache lines (a second core added about a fifth to a batch's checking). Each core that
    /// checks at once walks its own copy, compiled from the same schema.
    final class CheckPool: Sendable {
        private let idle: Mutex<[EventChecks]>
        private let make: @Sendable () -> EventChecks?
        private let first: EventChecks

        init(first: EventChecks, make: @escaping @Sendable () -> EventChecks?) {
            self.first = first
            self.make = make
            idle = Mutex([first])
        }

        /// `body` with a copy no other caller holds meanwhile (the first copy, shared, if
        /// another cannot be compiled).
        func withChecks<T, E: Error>(_ body: (EventChecks) throws(E) -> T) throws(E) -> T {
            let lent = idle.withLock { $0.popLast() } ?? make() ?? first
            defer { idle.withLock { if $0.count < Parallel.cores { $0.append(lent) } } }
            return try body(lent)
        }
    }

    /// The latest schema of `topic` (what producers validate against).
    func schema(for topic: String) throws(PipelineError) -> CompiledSchema {
        let registered: RegisteredSchema
        do { registered = try registry.schema(subject: topic + "-value") } catch {
            throw PipelineError(.noSchema, "\(topic)-value")
        }
        if let hit = compiled.withLock({ $0[Self.cacheKey(topic, registered.id)] }) { return hit }
        return try compile(registered, topic: topic)
    }

    static func cacheKey(_ topic: String, _ id: Int) -> ExactText { ExactText("\(id)/\(topic)") }

    /// The schema a stored record names (its `sr-schema` id), which must be a version of
    /// `topic`'s subject: readers use the subject field and tags the record was produced
    /// under, never the latest version's.
    func schema(for topic: String, id: Int) throws(PipelineError) -> CompiledSchema {
        if let hit = compiled.withLock({ $0[Self.cacheKey(topic, id)] }) { return hit }
        // One id can serve several subjects: the id must be one of this topic's versions.
        let subject = topic + "-value"
        var found: RegisteredSchema?
        do {
            for version in try registry.versions(subject: subject) {
                let candidate = try registry.schema(subject: subject, version: version)
                if candidate.id == id { found = candidate }
            }
        } catch { throw PipelineError(.noSchema, "schema id \(id)") }
        guard let registered = found else {
            throw PipelineError(.noSchema, "schema id \(id) is not a version of \(subject)")
        }
        return try compile(registered, topic: topic)
    }

    private func compile(_ registered: RegisteredSchema, topic: String) throws(PipelineError) -> CompiledSchema {
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
                schema: value,
                validator: try JSONSchemaValidator(schema: value),
                plan: plan,
                annotations: annotations,
                cipher: cipher
            )
            compiled.withLock { $0[Self.cacheKey(topic, registered.id)] = entry }
            return entry
        } catch {
            throw PipelineError(.noSchema, "\(topic)-value does not compile: \(error)")
        }
    }

    /// The event cipher of `topic`'s current schema.
    public func cipher(forTopic topic: String) throws -> EventCipher { try schema(for: topic).cipher }

    /// Appends `entries` to the audit log, or throws: callers write the entry before the
    /// access it records, so an access that cannot be audited does not happen.
    public func record(_ entries: [AuditEntry]) throws(PipelineError) {
        try record(entries, policy: policyStamp)
    }

    /// Counts a refused produce or consume and logs it (principal, topic, reason; never content).
    func denied(_ action: String, _ topic: String, _ principal: String, _ decision: Decision, _ correlationID: String) {
        count("strongroom_denials_total", [("action", action), ("topic", topic)])
        logger.warning(
            "\(action.lowercased()) denied",
            metadata: [
                "correlation_id": "\(correlationID)", "principal": "\(principal)", "topic": "\(topic)",
                "reason": "\(decision.reason)",
            ]
        )
    }

    /// The version and digest of the policy in force, as audit entries name it.
    var policyStamp: String {
        let current = policy.policy
        return "\(current.version) \(current.digest)"
    }

    /// Appends `entries`, each naming `stamp` as the policy that decided it (unless it names one).
    func record(_ entries: [AuditEntry], policy stamp: String) throws(PipelineError) {
        guard !entries.isEmpty else { return }
        var entries = entries
        for i in entries.indices where entries[i].policy == nil { entries[i].policy = stamp }
        do { try audit.append(entries) } catch {
            logger.error("audit append failed", metadata: ["error": "\(error)"])
            throw PipelineError(.audit, "\(error)")
        }
    }
}

extension PolicyEngine {
    /// Decides for `identity` when a front attested one, else for the policy's entry for `id`.
    func authorize(
        _ id: String,
        as identity: Principal?,
        _ action: Action,
        _ resource: Resource,
        _ context: AuthorizationContext
    ) -> Decision {
        if let identity {
            authorize(identity, action, resource, context)
        } else {
            authorize(principalID: id, action, resource, context)
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
    /// The principal as a front attested it (roles and tenant from a verified token), decided
    /// on instead of the policy's entry for ``principal``.
    public let identity: Principal?
    let key: Curve25519.Signing.PrivateKey
    /// This producer's session (random, 128 bits, hex): with a per-partition record number it
    /// lets consumers see records deleted, replayed or reordered (`sr-seq`).
    public let session: String
    let sequencer = Mutex(SequenceState())

    struct SequenceState {
        /// topic → partition → next record number.
        var counters: [ExactText: [Int: Int]] = [:]
        var roundRobin = Int.random(in: 0..<1024)
    }

    /// A producer acting as `principal`, signing with `key` (its public key must be trusted
    /// by consumers: ``StrongroomServices/trust(producer:key:)``).
    public init(
        services: StrongroomServices,
        principal: String,
        key: Curve25519.Signing.PrivateKey,
        sourceAddress: IPAddress? = nil,
        identity: Principal? = nil
    ) {
        self.services = services
        self.principal = principal
        self.key = key
        self.sourceAddress = sourceAddress
        self.identity = identity
        var random = SystemRandomNumberGenerator()
        self.session = (0..<2).map { _ in
            let v: UInt64 = random.next()
            let hex = String(v, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// Produces `events` (JSON objects) to `topic`: one result per event, good ones appended.
    public func produce(
        _ events: [[UInt8]],
        to topic: String,
        correlationID: String = UUID().uuidString
    ) -> [Result<RecordPosition, PipelineError>] {
        switch prepare(events, to: topic, correlationID: correlationID) {
        case .answered(let answer): answer()
        case .ready(let batch): commit(batch)
        }
    }

    /// Produces batches one after another, in order, to `topic`: each batch is authorized,
    /// validated, scanned and encrypted while the batches before it are signed and appended.
    ///
    /// What two callers would reach, with the order of one: batch *n*'s records and audit
    /// entries come before batch *n + 1*'s. `next` is called on the caller's thread for each
    /// batch and its correlation id (nil ends the stream); up to ``streamDepth`` batches wait,
    /// prepared, for their turn. `done` gets each batch's results, in order, on another thread,
    /// as soon as they are durable (a caller waiting on `next` for input does not hold them
    /// back), and returns whether to go on: after `false`, `next` is called at most once more
    /// (a call already under way) and the batches prepared meanwhile are not produced (nothing
    /// of them is appended or audited; keys they made for new subjects stay, unused). Returns
    /// once every batch is answered. Audit entries name the policy in force when each batch
    /// was authorized.
    public func produce(
        to topic: String,
        next: () -> (events: [[UInt8]], correlationID: String)?,
        done: @escaping @Sendable ([Result<RecordPosition, PipelineError>]) -> Bool
    ) {
        let waiting = Handoff<Prepared>(depth: Self.streamDepth)
        let stopped = Atomic(false)
        let answered = DispatchSemaphore(value: 0)
        DispatchQueue.global(qos: .userInitiated).async {
            while let batch = waiting.take() {
                // After a stop, what was prepared is dropped: the caller hands over no more.
                guard !stopped.load(ordering: .acquiring) else { continue }
                let goOn =
                    switch batch {
                    case .answered(let answer): done(answer())
                    case .ready(let ready): done(self.commit(ready))
                    }
                if !goOn { stopped.store(true, ordering: .releasing) }
            }
            answered.signal()
        }
        while !stopped.load(ordering: .acquiring), let batch = next() {
            waiting.put(prepare(batch.events, to: topic, correlationID: batch.correlationID))
        }
        waiting.close()
        answered.wait()
    }

    /// Prepared batches a stream holds at most while earlier ones are appended.
    public static let streamDepth = 2

    /// A produce call after its checks and encryption: the records left to number, sign and append.
    struct ReadyBatch: Sendable {
        let topic: String
        let correlationID: String
        /// The policy that decided the call, named by its audit entries.
        let policy: String
        /// Time spent preparing, counted in the call's duration with the commit's.
        let prepared: Duration
        let schema: StrongroomServices.CompiledSchema
        let partitionCount: Result<Int, LogError>
        var results: [Result<RecordPosition, PipelineError>?]
        let pending: [(index: Int, key: [UInt8], value: [UInt8], keys: [UInt8], fields: Int)]
        let flagged: [String: Int]
    }

    /// A produce call's first part: refused as a whole or with nothing left to append (the
    /// answer writes its audit entries, so a stream writes them in batch order), or ready to append.
    enum Prepared: Sendable {
        case answered(@Sendable () -> [Result<RecordPosition, PipelineError>])
        case ready(ReadyBatch)
    }

    /// Authorizes, validates, scans for DLP and encrypts `events`.
    func prepare(_ events: [[UInt8]], to topic: String, correlationID: String) -> Prepared {
        let started = ContinuousClock.now
        let context = AuthorizationContext(
            sourceAddress: sourceAddress,
            tenant: services.tenant.isEmpty ? nil : services.tenant
        )
        // Taken with the decision: a stream writes the entries later, maybe after a reload.
        let stamp = services.policyStamp
        let decision = services.policy.authorize(principal, as: identity, .produce, .topic(topic), context)
        guard decision.isAllowed else {
            let spent = ContinuousClock.now - started
            return .answered { [self] in
                self.refuse(events.count, topic, decision, correlationID, stamp, ContinuousClock.now - spent)
            }
        }
        let schema: StrongroomServices.CompiledSchema
        do { schema = try services.schema(for: topic) } catch {
            services.time("strongroom_produce_duration", [("topic", topic)], since: started)
            return .answered { events.map { _ in .failure(error) } }
        }
        // Read once per call: the DLP action now, the partition count for the append.
        let topicConfig = Result { () throws(LogError) in try services.log.topicConfig(topic) }
        let dlpAction = (try? topicConfig.get().dlpAction) ?? "reject"
        var results = [Result<RecordPosition, PipelineError>?](repeating: nil, count: events.count)
        var accepted: [Int] = []
        accepted.reserveCapacity(events.count)
        var flagged: [String: Int] = [:]
        // Each chunk checks its events with its own copy of the checks.
        let checked = Parallel.chunks(events.count) { range in
            schema.checks.withChecks { checks in range.map { checks.check(events[$0]) } }
        }.flatMap { $0 }
        for (i, check) in checked.enumerated() {
            switch check {
            case .failure(let error):
                results[i] = .failure(error)
                continue
            case .success(let findings) where !findings.isEmpty:
                if dlpAction == "flag" {
                    for f in findings { flagged[f.description, default: 0] += 1 }
                } else {
                    results[i] = .failure(PipelineError(.dlp, findings.map(\.description).joined(separator: ", ")))
                    continue
                }
            case .success: break
            }
            accepted.append(i)
        }
        // Keys only for the events that passed: a refused event makes no key.
        let encrypted = schema.cipher.seal(batch: accepted.map { events[$0] })
        var pending: [(index: Int, key: [UInt8], value: [UInt8], keys: [UInt8], fields: Int)] = []
        for (i, result) in zip(accepted, encrypted) {
            switch result {
            case .failure(let error):
                results[i] = .failure(PipelineError(.encryption, "\(error)"))
            case .success(let sealed):
                // The subject's pseudonym is the record key: partition affinity, and how a
                // data-subject request finds the record.
                pending.append(
                    (
                        i, sealed.subjectKeyID?.hexBytes ?? [], sealed.value,
                        sealed.key?.textBytes ?? [], sealed.fields
                    )
                )
            }
        }
        Retire.later((consume checked, consume encrypted))
        guard !pending.isEmpty else {
            let (finished, spent, flagged) = (results, ContinuousClock.now - started, flagged)
            return .answered { [self] in
                let begun = ContinuousClock.now - spent
                defer { services.time("strongroom_produce_duration", [("topic", topic)], since: begun) }
                do throws(PipelineError) {
                    try services.record(
                        auditEntries(topic, finished, pending: 0, correlationID, flagged),
                        policy: stamp
                    )
                } catch {
                    return finished.map { _ in .failure(error) }
                }
                return finish(topic, finished, correlationID, flagged)
            }
        }
        return .ready(
            ReadyBatch(
                topic: topic,
                correlationID: correlationID,
                policy: stamp,
                prepared: ContinuousClock.now - started,
                schema: schema,
                partitionCount: topicConfig.map(\.partitions),
                results: results,
                pending: pending,
                flagged: flagged
            )
        )
    }

    /// Answers a call the policy refused: its audit entry, metrics and log line.
    func refuse(
        _ count: Int,
        _ topic: String,
        _ decision: Decision,
        _ correlationID: String,
        _ stamp: String,
        _ started: ContinuousClock.Instant
    ) -> [Result<RecordPosition, PipelineError>] {
        defer { services.time("strongroom_produce_duration", [("topic", topic)], since: started) }
        let audited = Result { () throws(PipelineError) in
            try services.record(
                [
                    AuditEntry(
                        principal: principal,
                        action: "Produce",
                        resource: "topic:\(topic)",
                        decision: .deny,
                        rules: decision.matchedRules,
                        reason: decision.reason,
                        correlationID: correlationID,
                        count: count
                    )
                ],
                policy: stamp
            )
        }
        services.denied("Produce", topic, principal, decision, correlationID)
        if case .failure(let error) = audited { return (0..<count).map { _ in .failure(error) } }
        return (0..<count).map { _ in .failure(PipelineError(.denied, decision.reason)) }
    }

    /// Numbers, signs, audits and appends a prepared batch.
    func commit(_ batch: consuming ReadyBatch) -> [Result<RecordPosition, PipelineError>] {
        let (topic, correlationID, schema, pending, flagged, stamp) = (
            batch.topic, batch.correlationID, batch.schema, batch.pending, batch.flagged, batch.policy
        )
        var results = batch.results
        // The preparing and the committing, not a wait for the batch before in a stream.
        let started = ContinuousClock.now - batch.prepared
        defer { services.time("strongroom_produce_duration", [("topic", topic)], since: started) }
        let partitionCount: Int
        do { partitionCount = try batch.partitionCount.get() } catch {
            for p in pending { results[p.index] = .failure(PipelineError(.log, "\(error)")) }
            try? services.record(auditEntries(topic, results, pending: 0, correlationID, flagged), policy: stamp)
            return finish(topic, results, correlationID, flagged)
        }
        // Sequence numbers, signing and the append happen under one lock, so this producer's
        // records reach each partition in sequence order; the counters move only on success.
        // What every record of the call carries alike, made once and shared.
        let schemaIDText = Array(String(schema.id).utf8)
        let correlation = Array(correlationID.utf8)
        let contentType = Array("application/json; strongroom=1".utf8)
        let outcome = sequencer.withLock { state in
            var counters = state.counters[ExactText(topic)] ?? [:]
            var records: [LogRecord] = []
            var contents: [RecordSignature.Content] = []
            records.reserveCapacity(pending.count)
            contents.reserveCapacity(pending.count)
            for p in pending {
                let partition: Int
                if p.key.isEmpty {
                    partition = state.roundRobin % max(partitionCount, 1)
                    state.roundRobin &+= 1
                } else {
                    partition = Partitioner.partition(forKey: p.key, partitions: partitionCount)
                }
                let number = counters[partition, default: 0]
                counters[partition] = number + 1
                contents.append(
                    RecordSignature.Content(
                        topic: topic,
                        partition: partition,
                        sequence: "\(session):\(number)",
                        key: p.key,
                        value: p.value,
                        schemaID: schema.id,
                        producer: principal
                    )
                )
                // The signature headers go first, once signed: room is made for them now.
                var headers: [RecordHeader] = []
                headers.reserveCapacity(RecordSignature.headerCount + 5)
                headers.append(RecordHeader(RecordSignature.Header.schema, schemaIDText))
                headers.append(RecordHeader(RecordSignature.Header.subject, p.key))
                headers.append(RecordHeader(RecordSignature.Header.keys, p.keys))
                headers.append(RecordHeader(RecordSignature.Header.correlation, correlation))
                headers.append(RecordHeader(RecordSignature.Header.contentType, contentType))
                records.append(
                    LogRecord(
                        key: p.key.isEmpty ? nil : p.key,
                        value: p.value,
                        headers: headers,
                        partition: partition
                    )
                )
            }
            let batchID = "\(principal)-\(UUID().uuidString)"
            let signatures: [[(String, [UInt8])]]
            do {
                signatures = try RecordSignature.sign(contents, producer: principal, key: key, batchID: batchID)
            } catch {
                for p in pending { results[p.index] = .failure(PipelineError(.signature, "signing failed")) }
                try? services.record(auditEntries(topic, results, pending: 0, correlationID, flagged), policy: stamp)
                return finish(topic, results, correlationID, flagged)
            }
            for j in records.indices {
                records[j].headers.insert(
                    contentsOf: signatures[j].lazy.map { RecordHeader($0.0, $0.1) },
                    at: 0
                )
            }
            // The entry is written before the records: what cannot be audited is not produced.
            do throws(PipelineError) {
                try services.record(
                    auditEntries(topic, results, pending: pending.count, correlationID, flagged),
                    policy: stamp
                )
            } catch {
                return results.map { _ in .failure(error) }
            }
            do {
                // A busy or briefly failing store is retried with backoff; a refusal is not.
                let positions = try services.retry.run {
                    try services.log.append(records, to: topic)
                }
                for (j, position) in positions.enumerated() { results[pending[j].index] = .success(position) }
                state.counters[ExactText(topic)] = counters
                let sealed = pending.reduce(0) { $0 + $1.fields }
                services.count("strongroom_fields_encrypted_total", [("topic", topic)], by: sealed)
            } catch {
                for p in pending { results[p.index] = .failure(PipelineError(.log, "\(error)")) }
                // The allow entry above said these were to be appended; say they were not.
                try? services.record(
                    [
                        AuditEntry(
                            principal: principal,
                            action: "Produce",
                            resource: "topic:\(topic)",
                            decision: .deny,
                            reason: PipelineError.Kind.log.rawValue,
                            correlationID: correlationID,
                            count: pending.count
                        )
                    ],
                    policy: stamp
                )
            }
            Retire.later((consume records, consume contents, consume signatures))
            return finish(topic, results, correlationID, [:])
        }
        Retire.later(consume batch)
        return outcome
    }

    /// Metrics and the log line for a produce call; every result filled in.
    func finish(
        _ topic: String,
        _ results: [Result<RecordPosition, PipelineError>?],
        _ correlationID: String,
        _ flagged: [String: Int]
    ) -> [Result<RecordPosition, PipelineError>] {
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
        return results.map { $0 ?? .failure(PipelineError(.log, "not produced")) }
    }

    /// The entries of one produce call: `pending` records about to be appended (allow), each
    /// refusal kind with its count (deny), DLP flags.
    func auditEntries(
        _ topic: String,
        _ results: [Result<RecordPosition, PipelineError>?],
        pending: Int,
        _ correlationID: String,
        _ flagged: [String: Int]
    ) -> [AuditEntry] {
        var refused: [PipelineError.Kind: Int] = [:]
        for case .failure(let error)? in results { refused[error.kind, default: 0] += 1 }
        var entries: [AuditEntry] = []
        if pending > 0 {
            entries.append(
                AuditEntry(
                    principal: principal,
                    action: "Produce",
                    resource: "topic:\(topic)",
                    decision: .allow,
                    correlationID: correlationID,
                    count: pending
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
        return entries
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
/// for the declared purpose → audit → decrypt or mask → hand out → commit.
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
    /// The principal as a front attested it, decided on instead of the policy's entry.
    public let identity: Principal?
    let verified = Mutex<[[UInt8]: Merkle.Hash]>([:])
    /// Producer sessions' next expected record numbers, advanced only when a batch commits.
    let sequences = Mutex<[ExactText: Int]>([:])
    /// Batches handed out uncommitted, by topic and partition: the offset after each, the
    /// offset it started at, and the record numbers a commit there keeps.
    let delivered = Mutex<[[UInt8]: [Int64: (start: Int64, sequences: [ExactText: Int])]]>([:])
    /// Held from reading the committed offset to writing the new one: this consumer's offsets
    /// only move forward, whichever of its calls finishes first.
    let committing = Mutex(())
    /// The next batch of each partition, fetched on another thread while `consume` handles the
    /// current one; used only by the next call that starts exactly where it does.
    let prefetched = Mutex<[[UInt8]: Prefetch]>([:])

    /// A batch being fetched on another thread, for one partition, offset and size, with its
    /// records' signature checks up to the batch signatures (``RecordReader/Prepared``).
    final class Prefetch: Sendable {
        let from: Int64
        let maxRecords: Int
        let started = ContinuousClock.now
        private let result = Mutex<Result<([StoredRecord], RecordReader.Prepared), any Error>?>(nil)
        private let done = DispatchSemaphore(value: 0)

        init(from: Int64, maxRecords: Int) {
            self.from = from
            self.maxRecords = maxRecords
        }

        func finish(_ fetched: Result<([StoredRecord], RecordReader.Prepared), any Error>) {
            result.withLock { $0 = fetched }
            done.signal()
        }

        /// The fetched records and their checks, waiting for them; nil if the fetch failed.
        func records() -> ([StoredRecord], RecordReader.Prepared)? {
            done.wait()
            done.signal()
            return try? result.withLock { $0 }?.get()
        }
    }

    /// Partitions with a batch fetched ahead at once: each holds up to 8 MiB.
    static let prefetchLimit = 4
    /// A batch fetched ahead longer ago than this is fetched again.
    static let prefetchAge = Duration.seconds(2)

    /// Whether `consume` fetches the next batch ahead (see ``init(services:principal:purpose:group:token:identity:fetchAhead:)``).
    public let fetchAhead: Bool

    /// A consumer for `principal` declaring `purpose`, in `group`, optionally presenting `token`.
    ///
    /// With `fetchAhead`, a full batch handed out by `consume` starts fetching the next one on
    /// another thread, with the records' signature checks, for a reader that calls again at
    /// once (a drain loop): up to 8 MiB held per partition, for at most a few seconds. Off for
    /// a consumer kept between remote requests.
    public init(
        services: StrongroomServices,
        principal: String,
        purpose: String?,
        group: String,
        token: String? = nil,
        identity: Principal? = nil,
        fetchAhead: Bool = false
    ) {
        self.services = services
        self.principal = principal
        self.purpose = purpose
        self.group = group
        self.token = token
        self.identity = identity
        self.fetchAhead = fetchAhead
    }

    /// `Consume` on the topic and on the group (its offsets are shared state: moving them needs
    /// its own grant); a denial is audited as `action` before anything else happens.
    func authorizeReading(
        _ topic: String,
        action: String,
        _ correlationID: String
    ) throws -> (Decision, AuthorizationContext) {
        let context = AuthorizationContext(
            purpose: purpose,
            tenant: services.tenant.isEmpty ? nil : services.tenant,
            token: token
        )
        var decision = services.policy.authorize(principal, as: identity, .consume, .topic(topic), context)
        if decision.isAllowed {
            decision = services.policy.authorize(principal, as: identity, .consume, .group(group), context)
        }
        if !decision.isAllowed {
            try services.record([
                AuditEntry(
                    principal: principal,
                    action: action,
                    resource: "topic:\(topic) group:\(group)",
                    decision: .deny,
                    purpose: purpose,
                    rules: decision.matchedRules,
                    reason: decision.reason,
                    correlationID: correlationID
                )
            ])
        }
        return (decision, context)
    }

    /// Where the group stands in one partition: the next offset it will read, and the
    /// partition's end (the offset the next record will get).
    public func position(topic: String, partition: Int) throws -> (next: Int64, end: Int64) {
        let description = try services.log.describeTopic(topic)
        guard let state = description.partitions.first(where: { $0.partition == partition }) else {
            throw PipelineError(.log, "topic \(topic) has no partition \(partition)")
        }
        let committed = try services.log.committedOffset(group: group, topic: topic, partition: partition) ?? 0
        return (max(committed, state.startOffset), state.endOffset)
    }

    /// Moves the group back to the first record the partition still holds, so the next
    /// consume reads everything again.
    ///
    /// Needs `Consume` on the topic and on the group, like reading; the entry is written first
    /// (an allow or the denial), so no audit, no move.
    public func rewind(topic: String, partition: Int, correlationID: String = UUID().uuidString) throws {
        // Decided and recorded before the log is looked at: a refused principal learns nothing.
        let (decision, _) = try authorizeReading(topic, action: "ResetGroup", correlationID)
        guard decision.isAllowed else { throw PipelineError(.denied, decision.reason) }
        try services.record([
            AuditEntry(
                principal: principal,
                action: "ResetGroup",
                resource: "topic:\(topic) group:\(group)",
                decision: .allow,
                purpose: purpose,
                rules: decision.matchedRules,
                reason: "partition \(partition): back to its first record",
                correlationID: correlationID
            )
        ])
        let first = try services.log.describeTopic(topic).partitions.first { $0.partition == partition }?.startOffset
        guard let first else { throw PipelineError(.log, "topic \(topic) has no partition \(partition)") }
        try services.log.commit(group: group, topic: topic, partition: partition, offset: first)
        delivered.withLock { $0[Self.deliveryKey(topic, partition)] = nil }
    }

    /// Reads up to `maxRecords` from the group's committed offset, hands them to `handler`,
    /// then commits: a crash inside `handler` replays the batch, never skips it.
    ///
    /// The batch's audit entries (every decrypt and denial, with counts, and the dead letters)
    /// are written before anything is revealed: if they cannot be, nothing is handed out or
    /// committed and ``PipelineError/Kind/audit`` is thrown. A signed record whose fields fail
    /// authentication points at the reader's own setup (a wrong tenant, topic or data
    /// directory): the batch stops with ``PipelineError/Kind/context`` before any dead letter
    /// or commit.
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
        let (records, context, _, prepared) = try fetch(topic, partition, maxRecords, correlationID, ahead: fetchAhead)
        let handled = try handle(
            records,
            topic: topic,
            partition: partition,
            context: context,
            correlationID,
            prepared: prepared,
            handler
        )
        Retire.later(consume records)
        return handled
    }

    /// Reads up to `maxRecords` from the group's committed offset exactly as
    /// ``consume(topic:partition:maxRecords:correlationID:handler:)`` does, but commits nothing:
    /// the same records come again until ``commit(topic:partition:offset:correlationID:)`` is
    /// called with the returned `next` (for a caller who may lose the answer, such as an HTTP client).
    ///
    /// - Returns: the events and the offset after the batch (nil at the end of the partition).
    public func read(
        topic: String,
        partition: Int,
        maxRecords: Int = 500,
        correlationID: String = UUID().uuidString
    ) throws -> (events: [ConsumedEvent], next: Int64?) {
        let started = ContinuousClock.now
        defer { services.time("strongroom_consume_duration", [("topic", topic)], since: started) }
        let (records, context, start, _) = try fetch(topic, partition, maxRecords, correlationID)
        var events: [ConsumedEvent] = []
        _ = try handle(
            records,
            topic: topic,
            partition: partition,
            context: context,
            correlationID,
            commit: false,
            readFrom: start
        ) { events = $0 }
        return (events, records.last.map { $0.offset + 1 })
    }

    /// Authorizes reading and fetches the group's next records.
    ///
    /// With `ahead`, a full batch starts the fetch of the one after it on another thread, for
    /// the next call. That call uses it only once authorized again, when the group stands
    /// exactly where the batch starts (a commit or rewind elsewhere discards it), for the same
    /// size, within ``prefetchAge``, when it came back with records, and when the partition still
    /// holds its first record (retention since then discards it); otherwise, or after a failed
    /// fetch ahead, the call fetches as usual. A batch fetched ahead comes with its records'
    /// signature checks done ahead (``RecordReader/Prepared``).
    func fetch(
        _ topic: String,
        _ partition: Int,
        _ maxRecords: Int,
        _ correlationID: String,
        ahead: Bool = false
    ) throws -> ([StoredRecord], AuthorizationContext, from: Int64, prepared: RecordReader.Prepared?) {
        let (decision, context) = try authorizeReading(topic, action: "Consume", correlationID)
        guard decision.isAllowed else {
            services.denied("Consume", topic, principal, decision, correlationID)
            throw PipelineError(.denied, decision.reason)
        }
        _ = try services.schema(for: topic)
        let key = Self.deliveryKey(topic, partition)
        let waiting = prefetched.withLock { $0.removeValue(forKey: key) }
        // With a batch fetched ahead, the partition's first offset is asked beside the committed
        // one: on Kafka two requests to the brokers at once, not one after the other.
        let firstOffset = waiting.map { [log = services.log] _ in
            Self.asking { try log.firstOffset(topic: topic, partition: partition) }
        }
        let start = try services.log.committedOffset(group: group, topic: topic, partition: partition) ?? 0
        let records: [StoredRecord]
        var prepared: RecordReader.Prepared? = nil
        if let waiting, waiting.from == start, waiting.maxRecords == maxRecords,
            ContinuousClock.now - waiting.started < Self.prefetchAge, let (ready, checks) = waiting.records(),
            !ready.isEmpty, ready.first?.offset == start,
            // A check that cannot run now uses nothing fetched ahead: the fetch below retries.
            firstOffset?().map({ $0 <= start }) == true
        {
            records = ready
            prepared = checks
        } else {
            records = try services.retry.run { try Self.page(services.log, topic, partition, from: start, maxRecords) }
        }
        if ahead, records.count == maxRecords, let last = records.last {
            fetchAhead(topic, partition, key, from: last.offset + 1, maxRecords: maxRecords)
        }
        return (records, context, start, prepared)
    }

    /// Starts `question` on another thread; the returned function waits for its answer (nil
    /// when it threw).
    static func asking<T: Sendable>(_ question: @escaping @Sendable () throws -> T) -> @Sendable () -> T? {
        let answer = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let result = try? question()
            answer.withLock { $0 = result }
            done.signal()
        }
        return {
            done.wait()
            done.signal()
            return answer.withLock { $0 }
        }
    }

    /// One fetch of up to `maxRecords` (and 8 MiB) from `offset`.
    static func page(
        _ log: any EventLog,
        _ topic: String,
        _ partition: Int,
        from offset: Int64,
        _ maxRecords: Int
    ) throws(LogError) -> [StoredRecord] {
        try log.fetch(topic: topic, partition: partition, from: offset, maxBytes: 8 << 20, maxRecords: maxRecords)
    }

    /// Starts fetching the group's next batch of a partition on another thread, for a coming
    /// ``consume(topic:partition:maxRecords:correlationID:handler:)`` with the same `maxRecords`:
    /// a drain loop calls it for the partition it reads next, whose first batch would otherwise
    /// be fetched and checked in that call.
    ///
    /// Needs `fetchAhead` (otherwise it does nothing) and the rights `consume` needs: a denial
    /// is audited and thrown. Nothing is revealed or committed here; `consume` uses the batch
    /// only under the conditions it applies to every batch fetched ahead.
    public func startFetching(
        topic: String,
        partition: Int,
        maxRecords: Int = 500,
        correlationID: String = UUID().uuidString
    ) throws {
        guard fetchAhead else { return }
        let (decision, _) = try authorizeReading(topic, action: "Consume", correlationID)
        guard decision.isAllowed else {
            services.denied("Consume", topic, principal, decision, correlationID)
            throw PipelineError(.denied, decision.reason)
        }
        let key = Self.deliveryKey(topic, partition)
        guard prefetched.withLock({ $0[key] == nil }) else { return }
        let from = try services.log.committedOffset(group: group, topic: topic, partition: partition) ?? 0
        fetchAhead(topic, partition, key, from: from, maxRecords: maxRecords)
    }

    /// Starts fetching `maxRecords` from `from` on another thread for the next call.
    func fetchAhead(_ topic: String, _ partition: Int, _ key: [UInt8], from: Int64, maxRecords: Int) {
        let next = Prefetch(from: from, maxRecords: maxRecords)
        prefetched.withLock { batches in
            let now = ContinuousClock.now
            batches = batches.filter { now - $0.value.started < Self.prefetchAge }
            while batches[key] == nil, batches.count >= Self.prefetchLimit, let any = batches.keys.first {
                batches[any] = nil
            }
            batches[key] = next
        }
        let services = services
        // The producer keys trusted now: the next call uses the checks only if it trusts the same.
        let trusted = RecordSignature.identified(services.trustedProducerKeys())
        DispatchQueue.global().async {
            // One try: after a failure the next call fetches itself, with its retries.
            next.finish(
                Result { try Self.page(services.log, topic, partition, from: from, maxRecords) }.map { records in
                    (records, RecordReader.prepare(records, topic: topic, trusted: trusted))
                }
            )
        }
    }

    /// Commits the group at `offset` in one partition, which must end a batch this consumer
    /// handed out from ``read(topic:partition:maxRecords:correlationID:)``; an offset already
    /// committed is a no-op.
    ///
    /// Needs `Consume` on the topic and the group. Commits only move forward over delivered
    /// records: skipping unread ones or going back is refused (``rewind(topic:partition:correlationID:)``
    /// goes back, audited).
    public func commit(topic: String, partition: Int, offset: Int64, correlationID: String = UUID().uuidString) throws {
        let (decision, _) = try authorizeReading(topic, action: "Commit", correlationID)
        guard decision.isAllowed else { throw PipelineError(.denied, decision.reason) }
        let key = Self.deliveryKey(topic, partition)
        try committing.withLock { _ in
            let committed = try services.log.committedOffset(group: group, topic: topic, partition: partition) ?? 0
            if offset <= committed { return }
            // The batch must have been read from where the group stands now: after a rewind
            // made elsewhere, an old batch end would skip records nobody read again.
            guard let kept = delivered.withLock({ $0[key]?[offset] }), kept.start <= committed else {
                throw PipelineError(
                    .position,
                    "offset \(offset) of \(topic):\(partition) does not end a batch this consumer handed out "
                        + "from the group's current position; consume first"
                )
            }
            try services.log.commit(group: group, topic: topic, partition: partition, offset: offset)
            sequences.withLock { stored in
                for (stream, next) in kept.sequences { stored[stream] = max(stored[stream] ?? 0, next) }
            }
            delivered.withLock { $0[key] = $0[key]?.filter { $0.key > offset } }
        }
    }

    static func deliveryKey(_ topic: String, _ partition: Int) -> [UInt8] {
        Array(topic.utf8) + [0] + Array(String(partition).utf8)
    }

    /// Consumes records the caller already read from one partition (a Kafka group member's
    /// poll), in offset order: verified, authorized, audited, handed to `handler`, then
    /// committed, exactly as ``consume(topic:partition:maxRecords:correlationID:handler:)``.
    @discardableResult
    public func consume(
        _ records: [StoredRecord],
        topic: String,
        partition: Int,
        correlationID: String = UUID().uuidString,
        handler: ([ConsumedEvent]) throws -> Void
    ) throws -> Int {
        let started = ContinuousClock.now
        defer { services.time("strongroom_consume_duration", [("topic", topic)], since: started) }
        guard records.allSatisfy({ $0.partition == partition }) else {
            throw PipelineError(.log, "records of several partitions in one batch")
        }
        let (decision, context) = try authorizeReading(topic, action: "Consume", correlationID)
        guard decision.isAllowed else {
            services.count("strongroom_denials_total", [("action", "Consume"), ("topic", topic)])
            throw PipelineError(.denied, decision.reason)
        }
        _ = try services.schema(for: topic)
        return try handle(records, topic: topic, partition: partition, context: context, correlationID, handler)
    }

    func handle(
        _ records: [StoredRecord],
        topic: String,
        partition: Int,
        context: AuthorizationContext,
        _ correlationID: String,
        commit: Bool = true,
        readFrom: Int64 = 0,
        prepared: RecordReader.Prepared? = nil,
        _ handler: ([ConsumedEvent]) throws -> Void
    ) throws -> Int {
        guard let last = records.last else { return 0 }
        var reader = RecordReader(
            services: services,
            topic: topic,
            principal: principal,
            identity: identity,
            context: context,
            verifiedRoots: verified.withLock { $0 },
            sequences: sequences.withLock { $0 }
        )
        var dead: [(StoredRecord, String)] = []
        var events: [ConsumedEvent] = []
        let read = reader.readAll(records, prepared: prepared)
        if reader.checkedAhead { services.count("strongroom_consume_checked_ahead_total", [("topic", topic)]) }
        for (record, result) in zip(records, read) {
            switch result {
            case .success(let read): events.append(read.event)
            case .failure(.record(let reason)): dead.append((record, reason))
            case .failure(.context(let code)):
                services.logger.error(
                    "consume stopped: fields fail authentication",
                    metadata: ["topic": "\(topic)", "partition": "\(partition)", "offset": "\(record.offset)"]
                )
                throw PipelineError(
                    .context,
                    "a signed record at \(topic):\(partition):\(record.offset) does not open (\(code)): "
                        + "check --tenant (this reader uses \"\(services.tenant)\"), the topic and the data directory; "
                        + "nothing was dead-lettered or committed"
                )
            }
        }
        verified.withLock { $0 = reader.verifiedRoots }
        var fresh: [(StoredRecord, String)] = []
        var deadLetterDecision: Decision?
        if !dead.isEmpty {
            let decision = services.policy.authorize(principal, as: identity, .produce, .topic(topic + ".dlq"), context)
            deadLetterDecision = decision
            if decision.isAllowed { fresh = try Self.notYetDeadLettered(dead, topic: topic, services: services) }
        }
        // The entries go first: what cannot be audited is not revealed, dead-lettered or committed.
        try services.record(
            auditEntries(
                topic,
                reader.fields,
                keyIDs: reader.decryptedKeyTexts,
                batch: "partition \(partition) offsets \(records[0].offset)...\(last.offset)",
                gaps: reader.gaps,
                dead: dead,
                deadLetterDecision: deadLetterDecision,
                correlationID
            )
        )
        if !fresh.isEmpty {
            // Stored before anything is committed: a dead letter is never lost to a skipped offset.
            _ = try services.retry.run {
                try services.log.append(
                    fresh.map { record, reason in
                        LogRecord(
                            key: record.key,
                            value: record.value,
                            // Incoming `sr-dlq-*` headers are dropped: only ours may name a source.
                            headers: record.headers.filter { !$0.name.utf8.starts(with: "sr-dlq-".utf8) } + [
                                RecordHeader("sr-dlq-reason", text: reason),
                                RecordHeader("sr-dlq-source", text: Self.source(topic, record)),
                            ],
                            timestamp: record.timestamp,
                            // Same partition as the source: the signature binds it.
                            partition: record.partition
                        )
                    },
                    to: topic + ".dlq"
                )
            }
        }
        try handler(events)
        let handedOut = events.count
        Retire.later(consume events)
        if commit {
            try committing.withLock { _ in
                // Never back: another call of this consumer may have committed further meanwhile.
                let committed = try services.log.committedOffset(group: group, topic: topic, partition: partition)
                guard (committed ?? 0) < last.offset + 1 else { return }
                try services.log.commit(group: group, topic: topic, partition: partition, offset: last.offset + 1)
                // Merged, never overwritten: another consume call may have advanced other streams.
                sequences.withLock { stored in
                    for (stream, next) in reader.sequences { stored[stream] = max(stored[stream] ?? 0, next) }
                }
            }
        } else {
            let key = Self.deliveryKey(topic, partition)
            delivered.withLock { batches in
                var ends = batches[key] ?? [:]
                ends[last.offset + 1] = (readFrom, reader.sequences)
                // Bounded: a client that never commits holds only its newest batches.
                while ends.count > 64, let oldest = ends.keys.min() { ends[oldest] = nil }
                batches[key] = ends
            }
        }
        services.count("strongroom_records_consumed_total", [("topic", topic)], by: handedOut)
        for (reason, count) in Dictionary(grouping: dead, by: \.1).mapValues(\.count) {
            services.count("strongroom_dead_letters_total", [("topic", topic), ("reason", reason)], by: count)
        }
        for entry in reader.fields.counts.values {
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
                "partition": "\(partition)", "records": "\(handedOut)", "dead_letters": "\(dead.count)",
            ]
        )
        return records.count
    }

    static func source(_ topic: String, _ record: StoredRecord) -> String {
        "\(topic):\(record.partition):\(record.offset)"
    }

    /// The dead letters whose source record is not in `<topic>.dlq` already: a group that
    /// reads the same bad record again (another group, a reset) adds no copy.
    static func notYetDeadLettered(
        _ dead: [(StoredRecord, String)],
        topic: String,
        services: StrongroomServices
    ) throws -> [(StoredRecord, String)] {
        var wanted = Set(dead.map { ExactText(source(topic, $0.0)) })
        let partitions = Set(dead.map(\.0.partition))
        let dlq = topic + ".dlq"
        for partition in partitions {
            var next: Int64 = 0
            while !wanted.isEmpty {
                let page = try services.log.fetch(
                    topic: dlq,
                    partition: partition,
                    from: next,
                    maxBytes: 8 << 20,
                    maxRecords: 5000
                )
                guard let last = page.last else { break }
                for record in page {
                    for header in record.headers where header.name == "sr-dlq-source" {
                        wanted.remove(ExactText(String(decoding: header.value, as: UTF8.self)))
                    }
                }
                next = last.offset + 1
            }
        }
        return dead.filter { wanted.contains(ExactText(source(topic, $0.0))) }
    }

    func auditEntries(
        _ topic: String,
        _ fields: FieldDecisions,
        keyIDs: [String],
        batch: String,
        gaps: [RecordReader.SequenceGap],
        dead: [(StoredRecord, String)],
        deadLetterDecision: Decision?,
        _ correlationID: String
    ) -> [AuditEntry] {
        var entries: [AuditEntry] = []
        var allowed: [String] = []
        var allowedRules: Set<ExactText> = []
        for (pointer, entry) in fields.counts.sorted(by: { $0.key < $1.key }) {
            if entry.decision.isAllowed {
                allowed.append(pointer.string)
                allowedRules.formUnion(entry.decision.matchedRules.map { ExactText($0) })
            }
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
        // The batch's keys once, not in every pointer's entry: a batch of 1,000 events names
        // about 45 KB of key references. Appended right after the batch's Decrypt entries, with
        // the batch's place (a correlation id may span batches: the gateway's is the trace id).
        if !keyIDs.isEmpty {
            entries.append(
                AuditEntry(
                    principal: principal,
                    action: "DecryptKeys",
                    resource: "topic:\(topic)",
                    decision: .allow,
                    fields: allowed,
                    purpose: purpose,
                    rules: allowedRules.sorted().map(\.string),
                    reason: batch,
                    correlationID: correlationID,
                    keyIDs: keyIDs,
                    count: keyIDs.count
                )
            )
        }
        for gap in gaps {
            entries.append(
                AuditEntry(
                    principal: principal,
                    action: "SequenceGap",
                    resource: "topic:\(topic)",
                    decision: .deny,
                    reason:
                        "records \(gap.from)..<\(gap.to) of producer \(gap.producer) session \(gap.session.prefix(8)) "
                        + "missing from partition \(gap.partition)",
                    correlationID: correlationID,
                    count: gap.to - gap.from
                )
            )
        }
        if let deadLetterDecision {
            let reasons = Set(dead.map(\.1)).sorted().joined(separator: ", ")
            entries.append(
                AuditEntry(
                    principal: principal,
                    action: "DeadLetter",
                    resource: "topic:\(topic).dlq",
                    decision: deadLetterDecision.isAllowed ? .allow : .deny,
                    rules: deadLetterDecision.matchedRules,
                    reason: deadLetterDecision.isAllowed
                        ? reasons : "skipped, not dead-lettered (\(deadLetterDecision.reason)): \(reasons)",
                    correlationID: correlationID,
                    count: dead.count
                )
            )
        }
        return entries
    }
}

/// Reads stored records of one topic the one way every reader must (consume, data-subject
/// export): parse and verify the signature headers, take the schema the record names, then
/// decrypt or mask each field as the policy says for the concrete pointer.
struct RecordReader: Sendable {
    let services: StrongroomServices
    let topic: String
    let trusted: RecordSignature.IdentifiedKeys
    var fields: FieldDecisions
    /// Interior nodes of the inclusion paths of records read one by one.
    var nodeCache = Merkle.NodeHashCache()
    /// The header parts shared by the records read one by one.
    var headerMemo = SignedHeaders.Memo()
    /// Whether the last ``readAll(_:prepared:)`` used checks made ahead.
    var checkedAhead = false
    /// Key references (`subject:<id>:v<n>`, no key bytes) of the fields decrypted so far, in
    /// reading order, a key repeated when other keys came between.
    var decryptedKeys: [KeyReference] = []

    /// ``decryptedKeys`` once each, as text, in byte order.
    var decryptedKeyTexts: [String] {
        var texts: [String] = []
        var last: KeyReference? = nil
        for key in decryptedKeys.sorted(by: KeyReference.precedesInText) where key != last {
            texts.append(key.description)
            last = key
        }
        return texts
    }
    /// `<session>:<partition>` → the next record number expected from that producer session.
    var sequences: [ExactText: Int]
    /// Records missing between two records of one producer session (deleted, or not yet seen).
    var gaps: [SequenceGap] = []

    /// Records of a producer session that never arrived: numbers `from..<to` in `partition`.
    struct SequenceGap: Sendable {
        let producer: String
        let session: String
        let partition: Int
        let from: Int
        let to: Int
    }
    var verifiedRoots: [[UInt8]: Merkle.Hash]
    /// The record whose batch statement was confirmed last.
    var lastConfirmed: RecordSignature.Prepared?
    /// The last answers of the per-record lookups in ``accept(_:_:)``: the records of one
    /// batch share signer, timestamp, session and schema, and these are pure lookups (the
    /// signer's Produce right at one time under one policy, with no token to spend; a sequence
    /// key; a schema id).
    var lastProduceRight: (producer: String, timestamp: Int64, policy: UInt64)?
    var lastStream: (producer: String, session: String, partition: Int, key: ExactText)?
    var lastSchema: (id: Int, schema: StrongroomServices.CompiledSchema)?

    /// Why a record could not be read.
    enum Failure: Error, Sendable {
        /// The record's own fault (signature, schema, malformed field): it is dead-lettered.
        case record(String)
        /// A verified record whose fields do not open: the reader's tenant, topic or key store
        /// is wrong, not the record.
        case context(String)
    }

    /// Why a record could not be read, as words fit for a report (no content).
    struct ReadError: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// One record read.
    struct Read: Sendable {
        var event: ConsumedEvent
        /// The data-subject id the event names (its decrypted subject field), if revealed.
        var subject: String?
    }

    init(
        services: StrongroomServices,
        topic: String,
        principal: String,
        identity: Principal? = nil,
        context: AuthorizationContext,
        verifiedRoots: [[UInt8]: Merkle.Hash] = [:],
        sequences: [ExactText: Int] = [:]
    ) {
        self.sequences = sequences
        self.services = services
        self.topic = topic
        self.trusted = RecordSignature.identified(services.trustedProducerKeys())
        self.fields = FieldDecisions(
            services: services,
            principal: principal,
            identity: identity,
            topic: topic,
            context: context
        )
        self.verifiedRoots = verifiedRoots
    }

    /// Verifies and opens `record`; with `reveal` false every field stays as stored (the
    /// subject and signature are still checked).
    mutating func read(_ record: StoredRecord, reveal: Bool = true) -> Result<Read, Failure> {
        let prepared = prepare(record, cache: &nodeCache, memo: &headerMemo)
        switch accept(record, prepared) {
        case .success(let (signed, schema)):
            return open(record, signed, schema, reveal: reveal, fields: &fields, keys: &decryptedKeys)
        case .failure(let failure): return .failure(failure)
        }
    }

    /// Reads `records` in offset order exactly as ``read(_:reveal:)`` one by one would: the
    /// signature checks and the fields' opening run on every core, the ordered steps (batch
    /// signatures, the signer's right, producer sequences) on this thread in between.
    ///
    /// `ahead` holds the records' checks up to their batch signatures, done earlier (while the
    /// batch before was handled): used only when made with the producer keys this reader
    /// trusts, for this topic and these records; else they are done again here.
    mutating func readAll(_ records: [StoredRecord], prepared ahead: Prepared? = nil) -> [Result<Read, Failure>] {
        let reader = self
        let prepared: [Result<RecordSignature.Prepared, RecordSignature.Failure>]
        // The same array as checked ahead compares at once; other records byte by byte.
        if let ahead, ahead.topic == topic, ahead.results.count == records.count, ahead.records == records,
            RecordSignature.sameKeys(ahead.trusted, trusted)
        {
            prepared = ahead.results
            checkedAhead = true
        } else {
            // A batch's records come in runs: their inclusion paths share nodes, hashed once a chunk.
            prepared = Parallel.chunks(records.count) { range in
                var cache = Merkle.NodeHashCache()
                var memo = SignedHeaders.Memo()
                return range.map { reader.prepare(records[$0], cache: &cache, memo: &memo) }
            }.flatMap { $0 }
        }
        let accepted = records.indices.map { accept(records[$0], prepared[$0]) }
        // One decision per pointer for the whole batch, whichever chunk asks first (a single-use
        // grant is spent once); each chunk counts only its own records.
        let chunkFields = fields.sharing(FieldDecisions.Shared(fields.counts.mapValues(\.decision)))
        let opened = Parallel.chunks(records.count) { [self] range in
            var fields = chunkFields
            var keys: [KeyReference] = []
            let results = range.map { i -> Result<Read, Failure> in
                accepted[i].flatMap { signed, schema in
                    open(records[i], signed, schema, reveal: true, fields: &fields, keys: &keys)
                }
            }
            return (results, fields.tallies, keys)
        }
        for (_, counts, keys) in opened {
            fields.merge(counts)
            decryptedKeys += keys
        }
        let results = opened.flatMap(\.0)
        Retire.later((consume prepared, consume accepted, consume opened))
        return results
    }

    /// A batch's signature checks up to the batch signatures, made ahead of reading it: for
    /// which topic and records, with which trusted producer keys.
    struct Prepared: Sendable {
        let topic: String
        /// The records checked, whole: checks count only for these very bytes.
        let records: [StoredRecord]
        let trusted: RecordSignature.IdentifiedKeys
        let results: [Result<RecordSignature.Prepared, RecordSignature.Failure>]
    }

    /// The checks of `records` up to their batch signatures, on this thread.
    static func prepare(_ records: [StoredRecord], topic: String, trusted: RecordSignature.IdentifiedKeys) -> Prepared {
        var cache = Merkle.NodeHashCache()
        var memo = SignedHeaders.Memo()
        return Prepared(
            topic: topic,
            records: records,
            trusted: trusted,
            results: records.map { prepare($0, topic: topic, trusted: trusted, cache: &cache, memo: &memo) }
        )
    }

    /// The record's signature check up to its batch signature: no shared state.
    func prepare(
        _ record: StoredRecord,
        cache: inout Merkle.NodeHashCache,
        memo: inout SignedHeaders.Memo
    ) -> Result<RecordSignature.Prepared, RecordSignature.Failure> {
        Self.prepare(record, topic: topic, trusted: trusted, cache: &cache, memo: &memo)
    }

    static func prepare(
        _ record: StoredRecord,
        topic: String,
        trusted: RecordSignature.IdentifiedKeys,
        cache: inout Merkle.NodeHashCache,
        memo: inout SignedHeaders.Memo
    ) -> Result<RecordSignature.Prepared, RecordSignature.Failure> {
        RecordSignature.prepare(
            topic: topic,
            partition: record.partition,
            key: record.key ?? [],
            value: record.value ?? [],
            headers: record.headers,
            trusted: trusted,
            cache: &cache,
            memo: &memo
        )
    }

    /// The ordered checks: the batch signature, the signer's right at the record's time and the
    /// producer session's sequence, then the schema the record names.
    mutating func accept(
        _ record: StoredRecord,
        _ prepared: Result<RecordSignature.Prepared, RecordSignature.Failure>
    ) -> Result<(SignedHeaders, StrongroomServices.CompiledSchema), Failure> {
        let signed: SignedHeaders
        if case .success(let record) = prepared, let last = lastConfirmed, record.hasSameStatement(as: last) {
            // The statement and root just confirmed: records of one batch come in runs.
            signed = record.headers
        } else {
            switch prepared.flatMap({ RecordSignature.confirm($0, verifiedRoots: &verifiedRoots) }) {
            case .success(let headers):
                signed = headers
                lastConfirmed = try? prepared.get()
            case .failure(let failure): return .failure(.record(failure.rawValue))
            }
        }
        // A valid signature proves who signed, not that they may write here: the signer's
        // Produce right is checked again, at the record's time, in this reader's tenant.
        // Decided per record, at its own time: a time-boxed grant is not judged by one record.
        // Only an allow is remembered, for the next record of the same signer and time.
        let policy = services.policy.generation
        let remembered =
            lastProduceRight.map {
                $0.timestamp == record.timestamp && $0.policy == policy && $0.producer.hasSameBytes(as: signed.producer)
            } ?? false
        if !remembered {
            let decision = services.policy.authorize(
                principalID: signed.producer,
                .produce,
                .topic(topic),
                AuthorizationContext(
                    time: Date(timeIntervalSince1970: Double(record.timestamp) / 1000),
                    tenant: services.tenant.isEmpty ? nil : services.tenant,
                    networkAttested: true
                )
            )
            guard decision.isAllowed else {
                lastProduceRight = nil
                return .failure(.record("signer may not produce to this topic"))
            }
            lastProduceRight = (signed.producer, record.timestamp, policy)
        }
        // A producer session numbers its records per partition without gaps: a lower number
        // than expected is a replay, a duplicate or a reordering; a higher one means records
        // went missing in between.
        // Producer and topic are in the key: a producer numbers each topic on its own, and one
        // producer cannot disturb another's stream by signing its session id.
        let stream: ExactText
        if let last = lastStream, last.partition == record.partition, last.producer.hasSameBytes(as: signed.producer),
            last.session.hasSameBytes(as: signed.session)
        {
            stream = last.key
        } else {
            stream = ExactText("\(signed.producer)\u{0}\(topic)\u{0}\(signed.session)\u{0}\(record.partition)")
            lastStream = (signed.producer, signed.session, record.partition, stream)
        }
        if let expected = sequences[stream] {
            if signed.number < expected {
                return .failure(.record("replayed, duplicated or reordered record"))
            }
            if signed.number > expected {
                gaps.append(
                    SequenceGap(
                        producer: signed.producer,
                        session: signed.session,
                        partition: record.partition,
                        from: expected,
                        to: signed.number
                    )
                )
            }
        }
        sequences[stream] = signed.number + 1
        if let last = lastSchema, last.id == signed.schemaID { return .success((signed, last.schema)) }
        do {
            let schema = try services.schema(for: topic, id: signed.schemaID)
            lastSchema = (signed.schemaID, schema)
            return .success((signed, schema))
        } catch {
            return .failure(.record("schema: \(error.kind.rawValue)"))
        }
    }

    /// Decrypts or masks an accepted record's fields; `fields` and `keys` collect the decisions
    /// and the keys used.
    func open(
        _ record: StoredRecord,
        _ signed: SignedHeaders,
        _ schema: StrongroomServices.CompiledSchema,
        reveal: Bool,
        fields: inout FieldDecisions,
        keys: inout [KeyReference]
    ) -> Result<Read, Failure> {
        let value = record.value ?? []
        var out: [UInt8] = []
        let masks = schema.annotations.masks
        let revealed: Result<EventCipher.DecryptOutcome, EventCipherError> = value.withUnsafeBufferPointer {
            buffer in
            Result { () throws(EventCipherError) -> EventCipher.DecryptOutcome in
                try schema.cipher.reveal(buffer, into: &out) {
                    reveal ? fields.treatment($0, $1, masks: masks) : .keep
                }
            }
        }
        switch revealed {
        case .success(let outcome):
            // The record key is signed; the subject field's key id is bound into every field's
            // associated data: they must name the same pseudonym, or a data-subject request would
            // miss or mis-assign the record (DSR also requires the subject field to open).
            guard outcome.subjectKeyID.map({ $0.isSpelled(by: record.key ?? []) }) ?? (record.key ?? []).isEmpty else {
                return .failure(.record("the record key does not name the event's data subject"))
            }
            if outcome.decrypted > 0 {
                // Named as text once per batch, in the audit entry, not once per record; an
                // array, not a set: hashing each record's key cost more than sorting them once.
                for key in outcome.keys where key != keys.last { keys.append(key) }
            }
            return .success(
                Read(
                    event: ConsumedEvent(
                        partition: record.partition,
                        offset: record.offset,
                        value: out,
                        outcome: outcome
                    ),
                    subject: outcome.subject
                )
            )
        case .failure(let error) where error.code == .authenticationFailure || error.code == .keyUnavailable:
            return .failure(.context("\(error.code)"))
        case .failure(let error):
            return .failure(.record("field: \(error.code)"))
        }
    }
}

extension EventLog {
    /// Creates `topic` and beside it `<topic>.dlq`: same partitions, classification and time
    /// retention, no byte cap (a dead letter is evidence), room for the dead-letter headers.
    public func createTopicWithDeadLetters(_ topic: String, config: TopicConfig) throws(LogError) {
        try createTopic(topic, config: config)
        var dlq = config
        dlq.retentionBytes = nil
        dlq.maxRecordBytes = config.maxRecordBytes + 4096
        try createTopic(topic + ".dlq", config: dlq)
    }
}

/// One Decrypt decision per concrete field pointer per batch, and how often each applied.
///
/// The policy is asked about the exact pointer revealed (`/cards/0`), which is what
/// `policy explain` and `policy test` evaluate and what the audit entry names; the schema's
/// mask is looked up by the plan field's pattern (`/cards/*`).
struct FieldDecisions: Sendable {
    let services: StrongroomServices
    let principal: String
    let identity: Principal?
    let topic: String
    let context: AuthorizationContext
    /// The decision and count per pointer, in the order the pointers came: a batch's events
    /// mostly share a handful, found by their bytes without hashing.
    private(set) var tallies: [Tally] = []
    /// Each tally's place by pointer, kept once there are more than ``scanned`` (arrays of fields).
    private var places: [ExactText: Int] = [:]
    /// The tally tried first: an event's fields come in the order the event before had them.
    private var cursor = 0
    /// Decisions shared by the chunks of one batch read on several cores.
    var shared: Shared?

    /// How many tallies are searched one by one before ``places`` is used.
    static let scanned = 16

    /// One pointer's decision and how many fields it covered.
    struct Tally: Sendable {
        var pointer: String
        var decision: Decision
        var count: Int
    }

    init(
        services: StrongroomServices,
        principal: String,
        identity: Principal?,
        topic: String,
        context: AuthorizationContext
    ) {
        self.services = services
        self.principal = principal
        self.identity = identity
        self.topic = topic
        self.context = context
    }

    /// The decision and count per pointer.
    var counts: [ExactText: (decision: Decision, count: Int)] {
        var all: [ExactText: (decision: Decision, count: Int)] = [:]
        all.reserveCapacity(tallies.count)
        for tally in tallies {
            let replaced = all.updateValue((tally.decision, tally.count), forKey: ExactText(tally.pointer))
            assert(replaced == nil, "one tally per pointer")
        }
        return all
    }

    /// The same principal and context with nothing counted, sharing `decided` (the decisions
    /// made so far, and those the chunks of one batch make) under a lock.
    func sharing(_ decided: Shared) -> FieldDecisions {
        var copy = FieldDecisions(
            services: services,
            principal: principal,
            identity: identity,
            topic: topic,
            context: context
        )
        copy.shared = decided
        return copy
    }

    /// The decision per pointer of one batch, made once under a lock by the first chunk to ask.
    final class Shared: Sendable {
        let decided: Mutex<[ExactText: Decision]>
        init(_ decided: [ExactText: Decision]) { self.decided = Mutex(decided) }
    }

    /// Adds the counts of a chunk that shared these decisions.
    mutating func merge(_ other: [Tally]) {
        for tally in other {
            let place = self.place(of: tally.pointer) ?? add(tally.pointer, tally.decision)
            assert(tallies[place].decision == tally.decision, "chunks share one decision per pointer")
            tallies[place].count += tally.count
        }
    }

    /// Decrypt where the policy allows this field for the purpose, else the schema's mask.
    mutating func treatment(
        _ pointer: String,
        _ field: EncryptionPlan.Field,
        masks: [String: MaskStyle]
    ) -> EventCipher.FieldTreatment {
        let place = self.place(of: pointer) ?? add(pointer, decide(pointer))
        tallies[place].count += 1
        return tallies[place].decision.isAllowed ? .decrypt : .mask(masks[field.pattern] ?? .full)
    }

    /// The tally of `pointer`, compared byte for byte.
    private mutating func place(of pointer: String) -> Int? {
        let found: Int?
        if cursor < tallies.count, tallies[cursor].pointer.hasSameBytes(as: pointer) {
            found = cursor
        } else if tallies.count > Self.scanned {
            found = places[ExactText(pointer)]
        } else {
            found = tallies.firstIndex { $0.pointer.hasSameBytes(as: pointer) }
        }
        if let found { cursor = found + 1 }
        return found
    }

    /// A new tally for `pointer` (not yet counted); its place.
    private mutating func add(_ pointer: String, _ decision: Decision) -> Int {
        tallies.append(Tally(pointer: pointer, decision: decision, count: 0))
        if tallies.count > Self.scanned {
            if places.isEmpty {
                for (i, tally) in tallies.enumerated() { places[ExactText(tally.pointer)] = i }
            } else {
                places[ExactText(pointer)] = tallies.count - 1
            }
        }
        return tallies.count - 1
    }

    /// The policy's decision for `pointer`: made once per batch when chunks share decisions.
    private func decide(_ pointer: String) -> Decision {
        let (services, principal, identity, topic, context) = (services, principal, identity, topic, context)
        func ask() -> Decision {
            services.policy.authorize(
                principal,
                as: identity,
                .decrypt,
                .field(topic: topic, pointer: pointer),
                context
            )
        }
        guard let shared else { return ask() }
        let key = ExactText(pointer)
        return shared.decided.withLock { decided in
            if let known = decided[key] { return known }
            let made = ask()
            decided[key] = made
            return made
        }
    }
}
