#if Gateway
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Strongroom
import StrongroomAudit
import StrongroomJSON
import StrongroomPolicy
import StrongroomSchema

/// The subset of Confluent Schema Registry's REST API that `confluent-kafka`'s
/// `SchemaRegistryClient` uses, over the tenant's own registry: JSON Schema only, reads need
/// `Describe` and changes `Alter` on `subject:NAME`, changes are audited first, errors in the
/// registry's own shape (`error_code`, `message`).
struct RegistryRoutes {
    let gateway: Gateway

    /// A Schema Registry error: `{"error_code": N, "message": "…"}`, never a schema's content.
    struct RegistryProblem: Error {
        var status: HTTPResponse.Status
        var code: Int
        var message: String

        var response: Response {
            var out = Array(#"{"error_code":\#(code),"message":"#.utf8)
            JSONValue.writeString(message, to: &out)
            out.append(UInt8(ascii: "}"))
            return Response(
                status: status,
                headers: [.contentType: "application/vnd.schemaregistry.v1+json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: out))
            )
        }
    }

    func add(to group: RouterGroup<GatewayContext>) {
        group.get("subjects") { _, context in try await wrap { try subjects(context) } }
        group.get("subjects/:subject/versions") { _, context in try await wrap { try versions(context) } }
        group.post("subjects/:subject/versions") { request, context in
            let body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
            return try await wrap { try register(body, context) }
        }
        group.post("subjects/:subject") { request, context in
            let body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
            return try await wrap { try lookup(body, context) }
        }
        group.get("subjects/:subject/versions/:version") { _, context in try await wrap { try version(context) } }
        group.get("schemas/ids/:id") { _, context in try await wrap { try byID(context) } }
        group.get("config") { _, context in try await wrap { try config(context, subject: nil) } }
        group.get("config/:subject") { _, context in
            try await wrap { try config(context, subject: try subject(context)) }
        }
        group.put("config/:subject") { request, context in
            let body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
            return try await wrap { try setConfig(body, context) }
        }
        group.post("compatibility/subjects/:subject/versions/:version") { request, context in
            let body = try await JSONBody(request, limit: gateway.configuration.limits.maxBodyBytes)
            return try await wrap { try compatible(body, context) }
        }
    }

    /// Runs `body`, turning registry and policy refusals into the registry's error shape.
    func wrap(_ body: () throws -> Response) async throws -> Response {
        do { return try body() } catch let problem as RegistryProblem { return problem.response } catch let error
            as RegistryError
        {
            return Self.problem(for: error).response
        }
    }

    static func problem(for error: RegistryError) -> RegistryProblem {
        switch error.kind {
        case .notFound: RegistryProblem(status: .notFound, code: 40401, message: error.detail)
        case .incompatible:
            RegistryProblem(
                status: .conflict,
                code: 409,
                message: "incompatible with an earlier version: "
                    + error.issues.prefix(3).map(\.description).joined(separator: "; ")
            )
        case .invalidSchema, .invalidSubject:
            RegistryProblem(status: .unprocessableContent, code: 42201, message: error.detail)
        case .storage: RegistryProblem(status: .internalServerError, code: 50001, message: "registry storage error")
        }
    }

    // MARK: Authorization

    func tenant(_ context: GatewayContext) throws -> (GatewayIdentity, GatewayTenant) {
        try gateway.tenant(context)
    }

    /// Allows `action` on `subject` or throws 40301; a denied change is audited as `audited`.
    func authorize(
        _ action: Action,
        _ subject: String,
        _ context: GatewayContext,
        audited: String? = nil
    ) throws -> GatewayTenant {
        let (identity, tenant) = try tenant(context)
        let decision = tenant.services.policy.authorize(
            identity.principal,
            action,
            .subject(subject),
            gateway.authorization(context, tenant)
        )
        guard decision.isAllowed else {
            if let audited {
                try record(tenant, identity, audited, subject, context, allowed: false, reason: decision.reason)
            }
            throw RegistryProblem(
                status: .forbidden,
                code: 40301,
                message: "the policy does not let this principal \(action.rawValue) this subject"
            )
        }
        return tenant
    }

    /// Writes the audit entry of a change before it is made; no entry, no change.
    func record(
        _ tenant: GatewayTenant,
        _ identity: GatewayIdentity,
        _ action: String,
        _ subject: String,
        _ context: GatewayContext,
        allowed: Bool = true,
        reason: String? = nil
    ) throws {
        guard
            tenant.audit(
                identity.principal.id,
                action,
                "subject:\(subject)",
                allowed: allowed,
                reason: reason,
                correlationID: context.correlationID
            )
        else {
            throw RegistryProblem(status: .serviceUnavailable, code: 50003, message: "audit log unavailable: not done")
        }
    }

    // MARK: Routes

    func subject(_ context: GatewayContext) throws -> String {
        guard let subject = context.parameters.get("subject"), !subject.isEmpty else {
            throw RegistryProblem(status: .notFound, code: 40401, message: "no subject")
        }
        return subject
    }

    func subjects(_ context: GatewayContext) throws -> Response {
        let (identity, tenant) = try tenant(context)
        let visible = try tenant.services.registry.subjects().filter { subject in
            tenant.services.policy.authorize(
                identity.principal,
                .describe,
                .subject(subject),
                gateway.authorization(context, tenant)
            ).isAllowed
        }
        return Self.json(.array(visible.map { .string($0) }))
    }

    func versions(_ context: GatewayContext) throws -> Response {
        let subject = try subject(context)
        let tenant = try authorize(.describe, subject, context)
        let versions = try tenant.services.registry.versions(subject: subject)
        guard !versions.isEmpty else {
            throw RegistryProblem(status: .notFound, code: 40401, message: "subject not found")
        }
        return Self.json(.array(versions.map { .number(String($0)) }))
    }

    func version(_ context: GatewayContext) throws -> Response {
        let subject = try subject(context)
        let tenant = try authorize(.describe, subject, context)
        let text = context.parameters.get("version") ?? ""
        let number: Int?
        if text == "latest" || text == "-1" {
            number = nil
        } else if let n = Int(text), n > 0 {
            number = n
        } else {
            throw RegistryProblem(status: .unprocessableContent, code: 42202, message: "invalid version")
        }
        return Self.json(Self.document(try tenant.services.registry.schema(subject: subject, version: number)))
    }

    func byID(_ context: GatewayContext) throws -> Response {
        let (identity, tenant) = try tenant(context)
        guard let id = Int(context.parameters.get("id") ?? "") else {
            throw RegistryProblem(status: .notFound, code: 40403, message: "schema not found")
        }
        let found: RegisteredSchema
        do { found = try tenant.services.registry.schema(id: id) } catch {
            throw RegistryProblem(status: .notFound, code: 40403, message: "schema not found")
        }
        // One id may serve several subjects: readable when the caller may describe the one found.
        guard
            tenant.services.policy.authorize(
                identity.principal,
                .describe,
                .subject(found.subject),
                gateway.authorization(context, tenant)
            ).isAllowed
        else { throw RegistryProblem(status: .notFound, code: 40403, message: "schema not found") }
        return Self.json(.object([.init("schema", .string(found.schema)), .init("schemaType", .string("JSON"))]))
    }

    /// The schema text of a registration request; only JSON Schema without references.
    func schemaText(_ body: JSONBody) throws -> String {
        var body = body
        guard let text = try body.reader.string("schema") else {
            throw RegistryProblem(status: .unprocessableContent, code: 42201, message: "schema: required")
        }
        let type = try body.reader.string("schemaType") ?? "AVRO"
        guard type == "JSON" else {
            throw RegistryProblem(
                status: .unprocessableContent,
                code: 42201,
                message: "schemaType is not supported: JSON only"
            )
        }
        if let references = body.reader.value("references"), references != .array([]), references != .null {
            throw RegistryProblem(
                status: .unprocessableContent,
                code: 42201,
                message: "schema references are not supported"
            )
        }
        for name in ["metadata", "ruleSet"] {
            if let value = body.reader.value(name), value != .null {
                throw RegistryProblem(status: .unprocessableContent, code: 42201, message: "\(name) is not supported")
            }
        }
        do { try body.reader.done() } catch {
            throw RegistryProblem(status: .unprocessableContent, code: 42201, message: error.description)
        }
        return text
    }

    func register(_ body: JSONBody, _ context: GatewayContext) throws -> Response {
        let subject = try subject(context)
        let tenant = try authorize(.alter, subject, context, audited: "RegisterSchema")
        let text = try schemaText(body)
        let (identity, _) = try self.tenant(context)
        try record(tenant, identity, "RegisterSchema", subject, context)
        let registered = try tenant.services.registry.register(
            subject: subject,
            schema: text,
            principal: identity.principal.id
        )
        return Self.json(.object([.init("id", .number(String(registered.id)))]))
    }

    func lookup(_ body: JSONBody, _ context: GatewayContext) throws -> Response {
        let subject = try subject(context)
        let tenant = try authorize(.describe, subject, context)
        let text = try schemaText(body)
        let fingerprint: String
        do { fingerprint = try SchemaRegistry.fingerprint(of: text) } catch {
            throw RegistryProblem(status: .unprocessableContent, code: 42201, message: "invalid schema")
        }
        for version in try tenant.services.registry.versions(subject: subject).reversed() {
            let registered = try tenant.services.registry.schema(subject: subject, version: version)
            if registered.fingerprint == fingerprint { return Self.json(Self.document(registered)) }
        }
        throw RegistryProblem(status: .notFound, code: 40403, message: "schema not found")
    }

    func config(_ context: GatewayContext, subject: String?) throws -> Response {
        guard let subject else {
            _ = try tenant(context)
            return Self.json(.object([.init("compatibilityLevel", .string(CompatibilityMode.backward.rawValue))]))
        }
        let tenant = try authorize(.describe, subject, context)
        let mode = try tenant.services.registry.compatibility(subject: subject)
        return Self.json(.object([.init("compatibilityLevel", .string(mode.rawValue))]))
    }

    func setConfig(_ body: JSONBody, _ context: GatewayContext) throws -> Response {
        let subject = try subject(context)
        let tenant = try authorize(.alter, subject, context, audited: "SetCompatibility")
        var body = body
        guard let text = try body.reader.string("compatibility"), let mode = CompatibilityMode(rawValue: text) else {
            throw RegistryProblem(status: .unprocessableContent, code: 42203, message: "invalid compatibility level")
        }
        do { try body.reader.done() } catch {
            throw RegistryProblem(status: .unprocessableContent, code: 42203, message: error.description)
        }
        let (identity, _) = try self.tenant(context)
        try record(tenant, identity, "SetCompatibility", subject, context, reason: mode.rawValue)
        try tenant.services.registry.setCompatibility(mode, subject: subject, principal: identity.principal.id)
        return Self.json(.object([.init("compatibility", .string(mode.rawValue))]))
    }

    func compatible(_ body: JSONBody, _ context: GatewayContext) throws -> Response {
        let subject = try subject(context)
        let tenant = try authorize(.describe, subject, context)
        let text = try schemaText(body)
        let issues = try tenant.services.registry.check(subject: subject, schema: text)
        return Self.json(.object([.init("is_compatible", .bool(issues.isEmpty))]))
    }

    static func document(_ registered: RegisteredSchema) -> JSONValue {
        .object([
            .init("subject", .string(registered.subject)), .init("version", .number(String(registered.version))),
            .init("id", .number(String(registered.id))), .init("schemaType", .string("JSON")),
            .init("schema", .string(registered.schema)),
        ])
    }

    static func json(_ value: JSONValue) -> Response {
        var out: [UInt8] = []
        value.write(to: &out)
        return Response(
            status: .ok,
            headers: [.contentType: "application/vnd.schemaregistry.v1+json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: out))
        )
    }
}
#endif
