#if Gateway
import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import NIOCore
import NIOHTTP1
import StrongroomJSON

/// Verifies OIDC bearer JWTs against a JWKS: signature (RS256, ES256 or EdDSA only), issuer,
/// audience, expiry and not-before with a bounded clock skew; gives the subject, tenant and roles.
public final class TokenVerifier: Sendable {
    /// What a verified token says.
    public struct Claims: Sendable, Equatable {
        /// The principal (`sub`).
        public var subject: String
        /// The tenant claim.
        public var tenant: String
        /// The roles claim.
        public var roles: [String]
    }

    /// Why a token is refused; the reason names the check, never a claim's value.
    public struct Refused: Error, Sendable, CustomStringConvertible {
        /// Which check failed.
        public var description: String
        init(_ description: String) { self.description = description }
    }

    static let algorithms: Set<String> = ["RS256", "ES256", "EdDSA"]

    let configuration: GatewayConfiguration.OIDC
    let cache: JWKSCache

    /// Loads the JWKS the configuration names (a file, or an HTTPS URL).
    ///
    /// The set is read again every `jwksRefreshSeconds`, and sooner when a token names a key id
    /// it does not hold. `clock` times the refreshes (a test moves it by hand).
    public init(
        _ configuration: GatewayConfiguration.OIDC,
        logger: Logger = Logger(label: "strongroom.gateway"),
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) async throws(Refused) {
        self.configuration = configuration
        cache = try await JWKSCache(configuration, logger: logger, clock: clock)
    }

    /// The verified claims of `token`, at `now`.
    public func verify(_ token: String, now: Date = Date()) async throws(Refused) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Self.base64URL(parts[0]),
            let header = try? JSONValue(parsing: headerBytes), let members = header.objectMembers
        else { throw Refused("not a signed JWT") }
        // Chosen here, not by the token: no `none`, no HMAC keyed with a public key.
        guard let alg = members.first(where: { $0.key.hasSameBytes(as: "alg") })?.value.stringValue,
            Self.algorithms.contains(alg)
        else { throw Refused("signature algorithm not accepted (RS256, ES256, EdDSA)") }
        // The key is named, known, and made for exactly this algorithm: no default key, no
        // verifying one algorithm's header with another algorithm's key.
        guard let kid = members.first(where: { $0.key.hasSameBytes(as: "kid") })?.value.stringValue else {
            throw Refused("key id unknown, or the key is not for this algorithm")
        }
        let set = try await cache.keySet(naming: kid)
        guard let known = set.inventory.first(where: { $0.kid.hasSameBytes(as: kid) }), known.alg.hasSameBytes(as: alg)
        else { throw Refused("key id unknown, or the key is not for this algorithm") }
        let payload: Payload
        do { payload = try await set.keys.verify(token, as: Payload.self) } catch {
            throw Refused("signature does not verify")
        }
        let claims = payload.claims
        func string(_ name: String) -> String? {
            claims.first(where: { $0.key.hasSameBytes(as: name) })?.value.stringValue
        }
        func number(_ name: String) -> Double? {
            guard case .number(let text)? = claims.first(where: { $0.key.hasSameBytes(as: name) })?.value else {
                return nil
            }
            return Double(text)
        }
        let skew = Double(configuration.clockSkewSeconds)
        let t = now.timeIntervalSince1970
        guard let issuer = string("iss"), issuer.hasSameBytes(as: configuration.issuer) else {
            throw Refused("issuer not accepted")
        }
        let audiences: [String]
        switch claims.first(where: { $0.key.hasSameBytes(as: "aud") })?.value {
        case .string(let one)?: audiences = [one]
        case .array(let many)?: audiences = many.compactMap(\.stringValue)
        default: audiences = []
        }
        guard audiences.contains(where: { $0.hasSameBytes(as: configuration.audience) }) else {
            throw Refused("audience not accepted")
        }
        guard let exp = number("exp") else { throw Refused("no expiry (exp)") }
        guard t < exp + skew else { throw Refused("expired") }
        if let nbf = number("nbf"), t + skew < nbf { throw Refused("not valid yet (nbf)") }
        guard let subject = string("sub"), !subject.isEmpty else { throw Refused("no subject (sub)") }
        guard let tenant = string(configuration.tenantClaim), !tenant.isEmpty else {
            throw Refused("no tenant claim (\(configuration.tenantClaim))")
        }
        var roles: [String] = []
        switch claims.first(where: { $0.key.hasSameBytes(as: configuration.rolesClaim) })?.value {
        case .array(let items)?: roles = items.compactMap(\.stringValue)
        case .string(let text)?: roles = text.split(separator: " ").map(String.init)
        case nil: break
        default: throw Refused("roles claim (\(configuration.rolesClaim)) is not a list")
        }
        return Claims(subject: subject, tenant: tenant, roles: roles)
    }

    /// Every key of a JWKS with its algorithm: `alg` when given (one of ours), else the one its
    /// type implies (OKP Ed25519: EdDSA, EC P-256: ES256); a key without `kid` is refused.
    static func inventory(_ bytes: [UInt8], path: String) throws(Refused) -> [(kid: String, alg: String)] {
        guard let jwks = try? JSONValue(parsing: bytes), let members = jwks.objectMembers,
            case .array(let keys)? = members.first(where: { $0.key.hasSameBytes(as: "keys") })?.value
        else { throw Refused("the JWKS \(path) is not a key set") }
        var out: [(kid: String, alg: String)] = []
        for key in keys {
            let fields = key.objectMembers ?? []
            func field(_ name: String) -> String? {
                fields.first(where: { $0.key.hasSameBytes(as: name) })?.value.stringValue
            }
            guard let kid = field("kid"), !kid.isEmpty else { throw Refused("a key in \(path) has no kid") }
            let implied: String? =
                switch (field("kty"), field("crv")) {
                case ("OKP"?, "Ed25519"?): "EdDSA"
                case ("EC"?, "P-256"?): "ES256"
                default: nil
                }
            guard let alg = field("alg") ?? implied, algorithms.contains(alg), implied == nil || implied == alg else {
                throw Refused("key \(kid) in \(path): its algorithm is not RS256, ES256 or EdDSA")
            }
            guard !out.contains(where: { $0.kid.hasSameBytes(as: kid) }) else {
                throw Refused("key id \(kid) appears twice in \(path)")
            }
            out.append((kid, alg))
        }
        guard !out.isEmpty else { throw Refused("the JWKS \(path) has no keys") }
        return out
    }

    /// A JWKS loaded from `bytes`, every key checked as ``inventory(_:path:)`` does.
    static func keySet(_ bytes: [UInt8], path: String) async throws(Refused) -> JWKSCache.KeySet {
        let inventory = try inventory(bytes, path: path)
        let keys = JWTKeyCollection()
        do { try await keys.add(jwksJSON: String(decoding: bytes, as: UTF8.self)) } catch {
            throw Refused("the JWKS \(path) does not load: \(error)")
        }
        return JWKSCache.KeySet(keys: keys, inventory: inventory)
    }

    static func base64URL(_ text: Substring) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s.append("=") }
        return Data(base64Encoded: s).map(Array.init)
    }

    /// Every claim, kept as JSON; the checks above read them.
    struct Payload: JWTPayload {
        var claims: [JSONValue.Member]

        init(claims: [JSONValue.Member]) { self.claims = claims }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            claims = try container.allKeys.map { key in
                JSONValue.Member(key.stringValue, try container.decode(Claim.self, forKey: key).value)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: AnyKey.self)
            for member in claims { try container.encode(Claim(value: member.value), forKey: AnyKey(member.key)) }
        }

        // The checks need the configuration, so they run after decoding.
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// One claim value as JSON.
    struct Claim: Codable {
        var value: JSONValue

        init(value: JSONValue) { self.value = value }

        init(from decoder: any Decoder) throws {
            if var array = try? decoder.unkeyedContainer() {
                var items: [JSONValue] = []
                while !array.isAtEnd { items.append(try array.decode(Claim.self).value) }
                value = .array(items)
            } else if let object = try? decoder.container(keyedBy: AnyKey.self) {
                value = .object(
                    try object.allKeys.map {
                        JSONValue.Member($0.stringValue, try object.decode(Claim.self, forKey: $0).value)
                    }
                )
            } else {
                let single = try decoder.singleValueContainer()
                if single.decodeNil() {
                    value = .null
                } else if let b = try? single.decode(Bool.self) {
                    value = .bool(b)
                } else if let n = try? single.decode(Int64.self) {
                    value = .number(String(n))
                } else if let d = try? single.decode(Double.self) {
                    value = .number(String(d))
                } else {
                    value = .string(try single.decode(String.self))
                }
            }
        }

        func encode(to encoder: any Encoder) throws {
            var single = encoder.singleValueContainer()
            switch value {
            case .null: try single.encodeNil()
            case .bool(let b): try single.encode(b)
            case .number(let text):
                if let whole = Int64(text) { try single.encode(whole) } else { try single.encode(Double(text) ?? 0) }
            case .string(let s): try single.encode(s)
            case .array(let items): try single.encode(items.map { Claim(value: $0) })
            case .object(let members):
                var container = encoder.container(keyedBy: AnyKey.self)
                for m in members { try container.encode(Claim(value: m.value), forKey: AnyKey(m.key)) }
            }
        }
    }
}

/// The JWKS in use, read again on a schedule and when a token names an unknown key id.
///
/// A failed refresh keeps the last good set (an identity provider's hiccup does not lock
/// everyone out) until it is `jwksMaxStaleSeconds` old; then every token is refused.
actor JWKSCache {
    /// One loaded JWKS: the keys and each key's id and algorithm.
    struct KeySet: Sendable {
        let keys: JWTKeyCollection
        let inventory: [(kid: String, alg: String)]
    }

    let source: String
    let refresh: Duration
    let maxStale: Duration
    let logger: Logger
    let clock: @Sendable () -> ContinuousClock.Instant
    var current: KeySet
    var fetched: ContinuousClock.Instant
    var attempted: ContinuousClock.Instant
    var inFlight: Task<Result<KeySet, TokenVerifier.Refused>, Never>?

    init(
        _ configuration: GatewayConfiguration.OIDC,
        logger: Logger,
        clock: @escaping @Sendable () -> ContinuousClock.Instant
    ) async throws(TokenVerifier.Refused) {
        source = configuration.jwks
        refresh = .seconds(configuration.jwksRefreshSeconds)
        maxStale = .seconds(configuration.jwksMaxStaleSeconds)
        self.logger = logger
        self.clock = clock
        current = try await Self.load(configuration.jwks)
        fetched = clock()
        attempted = fetched
    }

    /// The set to verify a token naming `kid` with: refreshed first when due, or when `kid` is
    /// unknown (at most once per `min(refresh, 30 s)`, so unknown ids cannot hammer the provider).
    func keySet(naming kid: String) async throws(TokenVerifier.Refused) -> KeySet {
        let now = clock()
        let unknown = !current.inventory.contains { $0.kid.hasSameBytes(as: kid) }
        let spacing = min(refresh, .seconds(30))
        // Every attempt waits `spacing` after the last one, failed or not: a provider that is
        // down is not asked again on every request.
        if (now - fetched >= refresh || unknown) && now - attempted >= spacing { await reload() }
        guard clock() - fetched < maxStale else {
            throw TokenVerifier.Refused("the JWKS could not be refreshed for too long (jwksMaxStaleSeconds)")
        }
        return current
    }

    /// Loads the source again, once for every caller waiting.
    func reload() async {
        if let inFlight {
            _ = await inFlight.value
            return
        }
        attempted = clock()
        let source = self.source
        let task = Task { () -> Result<KeySet, TokenVerifier.Refused> in
            do throws(TokenVerifier.Refused) { return .success(try await Self.load(source)) } catch {
                return .failure(error)
            }
        }
        inFlight = task
        switch await task.value {
        case .success(let set):
            current = set
            fetched = clock()
        case .failure(let error):
            logger.warning("JWKS refresh failed; the last good key set stays in use", metadata: ["error": "\(error)"])
        }
        inFlight = nil
    }

    /// The JWKS client: no redirects, so an `https://` fetch never lands on plain HTTP or
    /// another host; kept for the process's life.
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(redirectConfiguration: .disallow)
    )

    /// Reads a JWKS file, or fetches an `https://` (or loopback `http://`) URL: status 200, at
    /// most 1 MiB, within 10 s, no redirects.
    static func load(_ source: String) async throws(TokenVerifier.Refused) -> KeySet {
        guard GatewayConfiguration.OIDC.isURL(source) else {
            guard let data = FileManager.default.contents(atPath: source) else {
                throw TokenVerifier.Refused("cannot read the JWKS \(source)")
            }
            return try await TokenVerifier.keySet(Array(data), path: source)
        }
        let bytes: [UInt8]
        do {
            var request = HTTPClientRequest(url: source)
            request.headers.add(name: "accept", value: "application/json")
            let response = try await Self.client.execute(request, timeout: .seconds(10))
            guard response.status == .ok else {
                throw TokenVerifier.Refused("the JWKS \(source) answered \(response.status.code)")
            }
            bytes = Array(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch let refused as TokenVerifier.Refused {
            throw refused
        } catch {
            throw TokenVerifier.Refused("the JWKS \(source) could not be fetched (\(type(of: error)))")
        }
        return try await TokenVerifier.keySet(bytes, path: source)
    }
}
#endif
