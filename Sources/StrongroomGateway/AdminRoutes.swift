#if Gateway
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import Strongroom
import StrongroomAudit
import StrongroomCrypto
import StrongroomJSON
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy

/// Keys administration, data-subject requests, the audit log and policy explanations.
///
/// All run in the caller's tenant. Key and audit operations need `Admin` (changes) or `Describe` (reads) on the
/// `cluster`; data-subject requests are decided and audited by `DataSubjectRequests` itself.
struct AdminRoutes {
    let gateway: Gateway

    func add(to group: RouterGroup<GatewayContext>) {
        group.get("v1/keys") { _, context in
            let tenant = try allow(.admin, context, "ListKeys")
            return try Self.encoded(try tenant.services.keys.list())
        }
        group.post("v1/keys/rotate-kek") { _, context in
            let tenant = try allow(.admin, context, "RotateKEK")
            let keys = tenant.services.keys
            return try Self.encoded(try await published(tenant) { try keys.rotateKEK() })
        }
        group.post("v1/keys/finalize") { _, context in
            let tenant = try allow(.admin, context, "FinalizeErasure")
            let keys = tenant.services.keys
            return try Self.encoded(try await published(tenant) { try keys.finalize() })
        }
        group.post("v1/keys/rotate") { request, context in try await rotate(request, context) }
        group.post("v1/keys/erase") { request, context in try await erase(request, context) }
        group.post("v1/dsr/:request") { request, context in try await dsr(request, context) }
        group.get("v1/audit/verify") { _, context in
            let tenant = try allow(.describe, context, nil)
            let audit = tenant.services.audit
            let result = try await NIOThreadPool.singleton.runIfActive { () -> Result<UInt64, AuditError> in
                Result { () throws(AuditError) in
                    _ = try audit.verify()
                    return audit.size
                }
            }
            switch result {
            case .success(let size): return Gateway.json(#"{"verified":true,"size":\#(size)}"#)
            case .failure(let error):
                throw Self.auditProblem(error)
            }
        }
        group.get("v1/audit/checkpoint") { _, context in
            let tenant = try allow(.describe, context, nil)
            guard let note = try tenant.services.audit.latestCheckpoint() else {
                throw Problem(.notFound, "no-checkpoint", "No checkpoint", "the audit log is empty")
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: note))
            )
        }
        group.get("v1/audit/proofs/inclusion") { request, context in
            let tenant = try allow(.describe, context, nil)
            var query = Query(request)
            guard let index = try query.uint("index") else {
                throw Problem(.badRequest, "bad-request", "Bad request", "index: required")
            }
            let size = try query.uint("size")
            try query.done()
            let audit = tenant.services.audit
            return try await Self.proof { () throws(AuditError) in
                let proof = try audit.inclusionProof(index: index, size: size)
                try proof.verify()
                return (proof.json, try audit.isSigned(size: proof.size, root: proof.root))
            }
        }
        group.get("v1/audit/proofs/consistency") { request, context in
            let tenant = try allow(.describe, context, nil)
            var query = Query(request)
            guard let old = try query.uint("old"), let new = try query.uint("new") else {
                throw Problem(.badRequest, "bad-request", "Bad request", "old and new: required")
            }
            try query.done()
            let audit = tenant.services.audit
            return try await Self.proof { () throws(AuditError) in
                let proof = try audit.consistencyProof(oldSize: old, newSize: new)
                try proof.verify()
                let oldSigned = try audit.isSigned(size: proof.oldSize, root: proof.oldRoot)
                let newSigned = try audit.isSigned(size: proof.newSize, root: proof.newRoot)
                return (proof.json, oldSigned && newSigned)
            }
        }
        group.get("v1/audit/entries") { request, context in try await entries(request, context) }
        group.post("v1/policy/explain") { request, context in try await explain(request, context) }
    }

    /// Runs a key change off the event loop, then sends it to the tenant's Kafka cluster.
    func published<T: Sendable>(_ tenant: GatewayTenant, _ change: @escaping @Sendable () throws -> T) async throws -> T
    {
        try await NIOThreadPool.singleton.runIfActive {
            let result = try change()
            try Self.publish(tenant)
            return result
        }
    }

    /// Publishes the tenant's key changes; a failure says the change is made but not yet sent.
    static func publish(_ tenant: GatewayTenant) throws {
        do { try tenant.publishKeyChanges() } catch {
            throw Problem(
                .serviceUnavailable,
                "key-replication",
                "Key change not yet on the cluster",
                "done here; its key metadata goes to the Kafka cluster before the next append"
            )
        }
    }

    /// A verified proof, with whether signed checkpoints cover its roots.
    static func proof(_ make: @escaping @Sendable () throws(AuditError) -> (String, Bool)) async throws -> Response {
        let result = try await NIOThreadPool.singleton.runIfActive { () -> Result<(String, Bool), AuditError> in
            Result { () throws(AuditError) in try make() }
        }
        switch result {
        case .success(let (json, signed)):
            return Gateway.json(#"{"proof":\#(json),"verified":true,"signedCheckpoint":\#(signed)}"#)
        case .failure(let error) where error.code == .outOfRange:
            throw Problem(.notFound, "out-of-range", "Out of range", error.description)
        case .failure(let error):
            throw Self.auditProblem(error)
        }
    }

    /// Entries from `from` in the SIEM format asked for; `Strongroom-Next-Index` says where to
    /// go on (a client keeps it as its cursor).
    func entries(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let tenant = try allow(.describe, context, nil)
        var query = Query(request)
        let from = try query.uint("from") ?? 0
        let limit = Int(try query.uint("limit", 1...10_000) ?? 1000)
        let format = try query.string("format") ?? "jsonl"
        try query.done()
        guard ["jsonl", "cef", "syslog"].contains(format) else {
            throw Problem(.badRequest, "bad-request", "Bad request", "format: jsonl, cef or syslog")
        }
        let audit = tenant.services.audit
        let host = gateway.configuration.host
        let result = try await NIOThreadPool.singleton.runIfActive {
            () -> Result<([UInt8], UInt64), AuditError> in
            Result { () throws(AuditError) in
                var out: [UInt8] = []
                var next = from
                for (index, bytes) in try audit.entries(from: from, limit: limit) {
                    guard let entry = AuditEntry(canonical: bytes) else {
                        throw AuditError(.tampered, "entry \(index) does not parse", index: index)
                    }
                    switch format {
                    case "cef": out += Array(SIEMFormat.cef(entry).utf8)
                    case "syslog": out += Array(SIEMFormat.syslog(entry, hostname: host).utf8)
                    default: out += bytes
                    }
                    out.append(0x0A)
                    next = index + 1
                }
                return (out, next)
            }
        }
        switch result {
        case .success(let (body, next)):
            return Response(
                status: .ok,
                headers: [
                    .contentType: format == "jsonl" ? "application/jsonl" : "text/plain; charset=utf-8",
                    Self.nextIndex: String(next),
                ],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
            )
        case .failure(let error):
            throw Self.auditProblem(error)
        }
    }

    /// 409 when the log fails verification; 503 when it cannot be read (not tampering).
    static func auditProblem(_ error: AuditError) -> Problem {
        guard error.code != .storage, error.code != .signingKey else {
            return Problem(.serviceUnavailable, "audit", "Audit log unavailable", error.code.description)
        }
        return Problem(.conflict, "audit-verification", "Audit log does not verify", error.description)
    }

    static let nextIndex = HTTPField.Name("Strongroom-Next-Index") ?? .contentLocation

    /// A new key version for one topic or subject family; older versions still decrypt.
    func rotate(_ request: Request, _ context: GatewayContext) async throws -> Response {
        var body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
        let topic = try body.reader.string("topic")
        let subject = try body.reader.string("subject")
        try body.done()
        let family: KeyFamily
        let (_, named) = try gateway.tenant(context)
        switch (topic, subject) {
        case (let topic?, nil) where !topic.isEmpty: family = .topic(topic, tenant: named.name)
        case (nil, let subject?) where !subject.isEmpty: family = .subject(subject, tenant: named.name)
        default: throw Problem(.badRequest, "bad-request", "Bad request", "give exactly one of topic or subject")
        }
        // The subject is named by the key family only: its id stays out of the audit log.
        let tenant = try allow(.admin, context, "RotateKey", resource: topic.map { "key:topic/\($0)" } ?? "key:subject")
        let keys = tenant.services.keys
        let reference = try await published(tenant) { try keys.rotate(family) }
        return try Self.encoded(["key": reference.description])
    }

    /// Crypto-shreds a subject as the keys administrator (a DPO uses `/v1/dsr/erase`).
    func erase(_ request: Request, _ context: GatewayContext) async throws -> Response {
        var body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
        guard let subject = try body.reader.string("subject"), !subject.isEmpty else {
            throw Problem(.badRequest, "bad-request", "Bad request", "subject: required")
        }
        try body.done()
        let (identity, tenant) = try gateway.tenant(context)
        let decision = tenant.services.policy.authorize(
            identity.principal,
            .admin,
            .cluster,
            gateway.authorization(context, tenant)
        )
        guard decision.isAllowed else {
            // Recorded by SubjectErasure only when allowed: a refusal is audited here.
            _ = tenant.audit(
                identity.principal.id,
                "EraseRequested",
                "keyring",
                allowed: false,
                rules: decision.matchedRules,
                reason: decision.reason,
                correlationID: context.correlationID
            )
            throw Problem(.forbidden, "denied", "Denied", "the policy does not let this principal Admin the cluster")
        }
        let name = tenant.name
        let services = tenant.services
        let principal = identity.principal.id
        let correlation = context.correlationID
        let receipt = try await published(tenant) {
            try SubjectErasure.erase(
                subject: subject,
                tenant: name,
                keys: services.keys,
                principal: principal,
                resource: "subject:tenant=\(name)",
                correlationID: correlation
            ) { try services.record([$0]) }
        }
        return try Self.encoded(receipt)
    }

    /// Checks `action` on the cluster and, for a change, writes its audit entry first.
    func allow(
        _ action: Action,
        _ context: GatewayContext,
        _ audited: String?,
        resource: String = "keyring"
    ) throws -> GatewayTenant {
        let (identity, tenant) = try gateway.tenant(context)
        let decision = tenant.services.policy.authorize(
            identity.principal,
            action,
            .cluster,
            gateway.authorization(context, tenant)
        )
        if let audited,
            !tenant.audit(
                identity.principal.id,
                audited,
                resource,
                allowed: decision.isAllowed,
                rules: decision.matchedRules,
                reason: decision.isAllowed ? nil : decision.reason,
                correlationID: context.correlationID
            )
        {
            throw Problem(
                .serviceUnavailable,
                "audit",
                "Audit log unavailable",
                "not done: the audit entry could not be written"
            )
        }
        guard decision.isAllowed else {
            throw Problem(
                .forbidden,
                "denied",
                "Denied",
                "the policy does not let this principal \(action.rawValue) the cluster"
            )
        }
        return tenant
    }

    func dsr(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let (identity, tenant) = try gateway.tenant(context)
        let kind = context.parameters.get("request") ?? ""
        guard ["erase", "access", "export", "rectify"].contains(kind) else {
            throw Problem(
                .notFound,
                "not-found",
                "Not found",
                "data-subject requests are erase, access, export and rectify"
            )
        }
        var body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
        guard let subject = try body.reader.string("subject"), !subject.isEmpty else {
            throw Problem(.badRequest, "bad-request", "Bad request", "subject: required")
        }
        var correction: (topic: String, event: [UInt8])?
        if kind == "rectify" {
            guard let topic = try body.reader.string("topic"), !topic.isEmpty,
                let event = body.reader.value("event"), case .object = event
            else {
                throw Problem(.badRequest, "bad-request", "Bad request", "topic and event (an object): required")
            }
            var bytes: [UInt8] = []
            event.write(to: &bytes)
            correction = (topic, bytes)
        }
        try body.done()
        let requests = DataSubjectRequests(
            services: tenant.services,
            principal: identity.principal.id,
            sourceAddress: Gateway.address(context.channel),
            identity: identity.principal
        )
        let correlation = context.correlationID
        if let correction {
            // Authorized before a producer key is made or trusted: a refused request changes nothing.
            try await NIOThreadPool.singleton.runIfActive {
                try requests.authorizeRectify(topic: correction.topic, correlationID: correlation)
            }
            let producer = try tenant.producer(for: identity, sourceAddress: Gateway.address(context.channel))
            let position = try await NIOThreadPool.singleton.runIfActive {
                try requests.rectify(
                    subject: subject,
                    topic: correction.topic,
                    correction: correction.event,
                    producer: producer,
                    correlationID: correlation
                )
            }
            return Gateway.json(#"{"partition":\#(position.partition),"offset":\#(position.offset)}"#)
        }
        return try await NIOThreadPool.singleton.runIfActive {
            switch kind {
            case "erase":
                let receipt = try requests.erase(subject: subject, correlationID: correlation)
                try Self.publish(tenant)
                return try Self.encoded(receipt)
            case "access": return try Self.encoded(try requests.access(subject: subject, correlationID: correlation))
            default: return Gateway.json(try requests.export(subject: subject, correlationID: correlation))
            }
        }
    }

    func explain(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let tenant = try allow(.describe, context, nil)
        var body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
        guard let principal = try body.reader.string("principal"), let actionName = try body.reader.string("action"),
            let resourceText = try body.reader.string("resource")
        else { throw Problem(.badRequest, "bad-request", "Bad request", "principal, action and resource are required") }
        let purpose = try body.reader.string("purpose")
        try body.done()
        guard let action = Action(name: actionName) else {
            throw Problem(.badRequest, "bad-request", "Bad request", "action: unknown")
        }
        let resource: Resource
        do { resource = try Resource(parsing: resourceText) } catch {
            throw Problem(
                .badRequest,
                "bad-request",
                "Bad request",
                "resource: not one (topic:NAME, field:TOPIC/POINTER, …)"
            )
        }
        let engine = tenant.services.policy
        let explanation = engine.explain(
            engine.policy.principal(principal),
            action,
            resource,
            gateway.authorization(context, tenant, purpose: purpose)
        )
        let rules: [JSONValue] = explanation.evaluations.map { evaluation in
            .object([
                .init("rule", .string(evaluation.ruleID)), .init("effect", .string(evaluation.effect.rawValue)),
                .init("applied", .bool(evaluation.applied)), .init("detail", .string(evaluation.detail)),
            ])
        }
        let answer: JSONValue = .object([
            .init("allowed", .bool(explanation.decision.isAllowed)),
            .init("reason", .string(explanation.decision.reason)), .init("rules", .array(rules)),
        ])
        var out: [UInt8] = []
        answer.write(to: &out)
        return Gateway.json(out)
    }

    /// A request's query parameters, each read once; an unknown one is refused.
    struct Query {
        var items: [(String, String)]

        init(_ request: Request) {
            items = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        }

        mutating func string(_ key: String) throws(Problem) -> String? {
            let found = items.filter { $0.0.utf8.elementsEqual(key.utf8) }
            guard found.count <= 1 else {
                throw Problem(.badRequest, "bad-request", "Bad request", "\(key): given twice")
            }
            items.removeAll { $0.0.utf8.elementsEqual(key.utf8) }
            return found.first?.1
        }

        mutating func uint(
            _ key: String,
            _ range: ClosedRange<UInt64> = 0...UInt64(Int64.max)
        ) throws(Problem) -> UInt64? {
            guard let text = try string(key) else { return nil }
            guard let value = UInt64(text), range.contains(value) else {
                throw Problem(.badRequest, "bad-request", "Bad request", "\(key): a whole number in \(range)")
            }
            return value
        }

        func done() throws(Problem) {
            guard let unknown = items.first else { return }
            throw Problem(.badRequest, "bad-request", "Bad request", "unknown query parameter \(unknown.0)")
        }
    }

    static func encoded(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Gateway.json(Array(try encoder.encode(value)))
    }
}
#endif
