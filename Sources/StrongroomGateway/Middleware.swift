#if Gateway
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import Strongroom
import StrongroomAudit
import StrongroomJSON
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import SwiftASN1
import X509

/// An RFC 9457 problem: the status, a stable type, a title and a detail that names what was
/// wrong, never a value from the request.
public struct Problem: Error, Sendable {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// A stable name, as `urn:strongroom:problem:TYPE`.
    public var type: String
    /// A short, fixed summary of the type.
    public var title: String
    /// What was wrong; never a value from the request.
    public var detail: String
    /// Seconds to wait, for 429 and 503.
    public var retryAfter: Int?
    /// The methods a path takes, for 405.
    public var allow: String?

    /// A problem with this status, type, title and detail.
    public init(
        _ status: HTTPResponse.Status,
        _ type: String,
        _ title: String,
        _ detail: String,
        retryAfter: Int? = nil
    ) {
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.retryAfter = retryAfter
    }

    /// `application/problem+json`, with the correlation id.
    func response(instance: String, correlationID: String) -> Response {
        var out = Array(#"{"type":"urn:strongroom:problem:"#.utf8)
        out += Array(type.utf8)
        out += Array(#"","title":"#.utf8)
        JSONValue.writeString(title, to: &out)
        out += Array(#","status":\#(status.code),"detail":"#.utf8)
        JSONValue.writeString(detail, to: &out)
        out += Array(#","instance":"#.utf8)
        JSONValue.writeString(instance, to: &out)
        out += Array(#","correlationId":"#.utf8)
        JSONValue.writeString(correlationID, to: &out)
        out.append(UInt8(ascii: "}"))
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        if let allow { headers[.allow] = allow }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: out)))
    }
}

/// The outermost layer: a W3C `traceparent` taken or made (its trace id is the correlation id
/// in the pipeline's logs and audit entries), every error turned into a problem, one JSON access
/// log line per request with no body, query or header value in it.
struct Front: RouterMiddleware {
    typealias Context = GatewayContext
    let gateway: Gateway

    // A valid field name: the initializer cannot fail on it.
    static let traceparent = HTTPField.Name("traceparent") ?? .via

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        var context = context
        let (trace, parentFlags) = Self.trace(request.headers[Self.traceparent])
        context.correlationID = trace
        let span = Self.hex(8)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError
            where error.status == .notFound && !gateway.methods(of: request.uri.path).isEmpty
        {
            // A known path asked with a method it does not take: 405 and what it does take.
            let allowed = gateway.methods(of: request.uri.path).joined(separator: ", ")
            var problem = Problem(
                .methodNotAllowed,
                "method-not-allowed",
                "Method not allowed",
                "this path takes \(allowed)"
            )
            problem.allow = allowed
            response = problem.response(instance: request.uri.path, correlationID: trace)
        } catch {
            response = Self.problem(for: error).response(instance: request.uri.path, correlationID: trace)
        }
        response.headers[Self.traceparent] = "00-\(trace)-\(span)-\(parentFlags)"
        let elapsed = started.duration(to: .now)
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue)",
            "route": "\(context.endpointPath ?? "unmatched")",
            "status": "\(response.status.code)",
            "duration_ms":
                "\(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)",
            "correlation_id": "\(trace)",
        ]
        if let identity = context.state.identity {
            metadata["principal"] = "\(identity.principal.id)"
            metadata["tenant"] = "\(identity.tenant)"
            gateway.tenants[identity.tenant]?.observe(
                route: context.endpointPath ?? "unmatched",
                status: Int(response.status.code),
                duration: elapsed
            )
        }
        if let remote = context.channel.remoteAddress?.ipAddress { metadata["remote"] = "\(remote)" }
        gateway.accessLog.info("request", metadata: metadata)
        return response
    }

    static func problem(for error: any Error) -> Problem {
        switch error {
        case let problem as Problem: return problem
        case let invalid as GatewayConfiguration.Invalid:
            return Problem(.badRequest, "bad-request", "Bad request", invalid.description)
        case let http as HTTPError:
            return Problem(http.status, "http", http.status.reasonPhrase, http.status.reasonPhrase)
        case let pipeline as PipelineError:
            let status: HTTPResponse.Status =
                switch pipeline.kind {
                case .denied: .forbidden
                case .noSchema: .notFound
                case .audit, .log: .serviceUnavailable
                case .position: .conflict
                default: .unprocessableContent
                }
            return Problem(status, "pipeline", pipeline.kind.rawValue, pipeline.description)
        case let log as LogError:
            let status: HTTPResponse.Status =
                switch log.code {
                case .unknownTopic, .unknownPartition: .notFound
                case .topicExists: .conflict
                case .invalidArgument, .recordTooLarge: .badRequest
                case .corrupt: .internalServerError
                default: .serviceUnavailable
                }
            // A storage or cluster failure may quote a path or a broker's text: its code only.
            let detail = status.code >= 500 ? log.code.description : log.description
            return Problem(status, "log", log.code.description, detail)
        case let keys as KeyStoreError:
            let status: HTTPResponse.Status =
                switch keys.code {
                case .unknownKey: .notFound
                case .invalidArgument: .badRequest
                case .subjectErased, .keyRetired, .punctured: .gone
                default: .serviceUnavailable
                }
            // Families print by topic or as "subject <redacted>", never by subject id; a
            // storage or provider failure may quote a path or a provider's text: its code only.
            let detail = status == .serviceUnavailable ? keys.code.description : keys.description
            return Problem(status, "keys", keys.code.description, detail)
        case let audit as AuditError:
            return Problem(.serviceUnavailable, "audit", "Audit log unavailable", audit.code.description)
        case let failure as SubjectErasure.Failure:
            return Problem(
                .serviceUnavailable,
                "audit",
                "Audit log unavailable",
                failure.erased
                    ? "erased, but the receipt could not be written to the audit log"
                    : "nothing erased: the audit entry could not be written"
            )
        default:
            // An error from below may quote what it was given: only its type is said.
            return Problem(.internalServerError, "internal", "Internal error", "\(type(of: error))")
        }
    }

    /// The trace id and flags of a valid `traceparent`, else a new trace id.
    static func trace(_ header: String?) -> (String, String) {
        if let header {
            let parts = header.split(separator: "-", omittingEmptySubsequences: false)
            if parts.count == 4, parts[0] == "00", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
                parts[1...3].allSatisfy({ $0.utf8.allSatisfy(Self.isLowerHex) }),
                parts[1] != Substring(String(repeating: "0", count: 32))
            {
                return (String(parts[1]), String(parts[3]))
            }
        }
        return (hex(16), "01")
    }

    static func isLowerHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) }

    static func hex(_ count: Int) -> String {
        var random = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            let b = UInt8.random(in: 0...255, using: &random)
            return String(b >> 4, radix: 16) + String(b & 0xF, radix: 16)
        }.joined()
    }
}

/// Establishes who is calling and in which tenant, then applies the tenant's limits.
///
/// The caller is known by a client certificate or a bearer token. Nothing passes without an
/// identity.
struct Authenticate: RouterMiddleware {
    typealias Context = GatewayContext
    let gateway: Gateway
    /// The listener's scheme: one per listener, never chosen by the request.
    let authentication: GatewayConfiguration.Authentication

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        // An address that keeps failing is turned away before its credentials cost a check.
        let address = Gateway.address(context.channel).map { "\($0)" } ?? "unknown"
        if let wait = gateway.failures.waiting(address) {
            throw Problem(
                .tooManyRequests,
                "rate-limited",
                "Too many requests",
                "too many failed authentications from this address",
                retryAfter: wait
            )
        }
        let identity: GatewayIdentity
        do {
            identity =
                switch authentication {
                case .mtls: try await certificateIdentity(context)
                case .oidc: try await tokenIdentity(request, context)
                }
        } catch let problem as Problem where problem.status == .unauthorized {
            _ = gateway.failures.take(address)
            throw problem
        }
        context.identity = identity
        context.state.identity = identity
        context.logger[metadataKey: "principal"] = "\(identity.principal.id)"
        context.logger[metadataKey: "tenant"] = "\(identity.tenant)"
        if let wait = gateway.rates.take(identity.tenant) {
            throw Problem(
                .tooManyRequests,
                "rate-limited",
                "Too many requests",
                "the tenant's request rate is over its limit",
                retryAfter: wait
            )
        }
        guard gateway.concurrency.enter(identity.tenant) else {
            throw Problem(
                .tooManyRequests,
                "too-many-in-flight",
                "Too many requests",
                "the tenant has too many requests in flight",
                retryAfter: 1
            )
        }
        defer { gateway.concurrency.leave(identity.tenant) }
        return try await next(request, context)
    }

    func certificateIdentity(_ context: Context) async throws -> GatewayIdentity {
        let peer: NIOSSLCertificate?
        do { peer = try await context.channel.nioSSL_peerCertificate().get() } catch { peer = nil }
        guard let peer, let certificate = try? Certificate(derEncoded: try peer.toDERBytes()) else {
            throw Problem(.unauthorized, "unauthenticated", "Not authenticated", "a client certificate is required")
        }
        let dn = certificate.subject.description
        guard !gateway.configuration.revokedSubjects.contains(where: { $0.hasSameBytes(as: dn) }) else {
            throw Problem(
                .unauthorized,
                "unauthenticated",
                "Not authenticated",
                "the client certificate's subject is revoked"
            )
        }
        guard let id = gateway.mapping.principal(for: dn), !id.isEmpty else {
            throw Problem(
                .unauthorized,
                "unauthenticated",
                "Not authenticated",
                "no principal mapping rule matches the certificate"
            )
        }
        // The tenant is the one whose policy declares this principal for itself; a name two
        // tenants declare is nobody's, since one CA and one rule set serve every tenant.
        let owners = gateway.tenants.compactMap { name, tenant -> GatewayIdentity? in
            guard let declared = Self.declared(id, in: tenant), let own = declared.tenant, own.hasSameBytes(as: name)
            else { return nil }
            return GatewayIdentity(principal: declared, tenant: name)
        }
        guard owners.count == 1, let owner = owners.first else {
            throw Problem(
                .forbidden,
                "unknown-principal",
                "Unknown principal",
                owners.isEmpty
                    ? "the certificate's principal is not declared with its tenant in any tenant's policy"
                    : "the certificate's principal is declared by more than one tenant"
            )
        }
        return owner
    }

    /// The principal `id` as `tenant`'s policy declares it (names compared as bytes), if it does.
    static func declared(_ id: String, in tenant: GatewayTenant) -> Principal? {
        tenant.services.policy.policy.principals.first { $0.key.hasSameBytes(as: id) }?.value
    }

    func tokenIdentity(_ request: Request, _ context: Context) async throws -> GatewayIdentity {
        guard let verifier = gateway.verifier else {
            throw Problem(.unauthorized, "unauthenticated", "Not authenticated", "no token verifier")
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Problem(.unauthorized, "unauthenticated", "Not authenticated", "a bearer token is required")
        }
        let claims: TokenVerifier.Claims
        do { claims = try await verifier.verify(String(header.dropFirst("Bearer ".count))) } catch {
            throw Problem(.unauthorized, "unauthenticated", "Not authenticated", "token refused: \(error.description)")
        }
        guard let tenant = gateway.tenants.first(where: { $0.key.hasSameBytes(as: claims.tenant) })?.value else {
            throw Problem(.forbidden, "unknown-tenant", "Unknown tenant", "the token's tenant is not served here")
        }
        let declared =
            Self.declared(claims.subject, in: tenant) ?? Principal(id: claims.subject, kind: .user, tenant: nil)
        // The issuer vouches for the tenant; the same name may exist in several tenants. Only a
        // principal this tenant's own policy places in another tenant is a contradiction.
        if declared.tenant.map({ !$0.hasSameBytes(as: tenant.name) }) == true {
            // A token for one tenant naming another tenant's principal: refused, and on record.
            _ = tenant.audit(
                claims.subject,
                "Authenticate",
                "tenant:\(tenant.name)",
                allowed: false,
                reason: "tenant mismatch: the policy declares this principal in another tenant",
                correlationID: context.correlationID
            )
            throw Problem(.forbidden, "tenant-mismatch", "Tenant mismatch", "the principal belongs to another tenant")
        }
        var roles = declared.roles
        for role in claims.roles where !roles.contains(where: { $0.hasSameBytes(as: role) }) { roles.append(role) }
        let principal = Principal(
            id: claims.subject,
            kind: declared.kind,
            roles: roles,
            tenant: tenant.name,
            department: declared.department,
            producerKeys: declared.producerKeys
        )
        return GatewayIdentity(principal: principal, tenant: tenant.name)
    }
}
#endif
