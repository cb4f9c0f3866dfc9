#if Gateway
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import Strongroom
import StrongroomAudit
import StrongroomJSON
import StrongroomKeys
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
            return try Self.encoded(try await NIOThreadPool.singleton.runIfActive { try keys.rotateKEK() })
        }
        group.post("v1/keys/finalize") { _, context in
            let tenant = try allow(.admin, context, "FinalizeErasure")
            let keys = tenant.services.keys
            return try Self.encoded(try await NIOThreadPool.singleton.runIfActive { try keys.finalize() })
        }
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
                throw Problem(.conflict, "audit-verification", "Audit log does not verify", error.detail)
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
        group.post("v1/policy/explain") { request, context in try await explain(request, context) }
    }

    /// Checks `action` on the cluster and, for a change, writes its audit entry first.
    func allow(_ action: Action, _ context: GatewayContext, _ audited: String?) throws -> GatewayTenant {
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
                "keyring",
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
        guard ["erase", "access", "export"].contains(kind) else {
            throw Problem(.notFound, "not-found", "Not found", "data-subject requests are erase, access and export")
        }
        var body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
        guard let subject = try body.reader.string("subject"), !subject.isEmpty else {
            throw Problem(.badRequest, "bad-request", "Bad request", "subject: required")
        }
        try body.done()
        let requests = DataSubjectRequests(
            services: tenant.services,
            principal: identity.principal.id,
            sourceAddress: Gateway.address(context.channel)
        )
        let correlation = context.correlationID
        return try await NIOThreadPool.singleton.runIfActive {
            switch kind {
            case "erase": return try Self.encoded(try requests.erase(subject: subject, correlationID: correlation))
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

    static func encoded(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Gateway.json(Array(try encoder.encode(value)))
    }
}
#endif
