import Foundation
import StrongroomJSON

#if Gateway
import Yams
#endif

/// What `strongroom serve --config FILE` reads, as JSON or YAML.
///
/// One listener, its TLS and authentication, the tenants it serves, and its limits. Unknown
/// keys are errors; relative paths are read from the configuration file's folder.
public struct GatewayConfiguration: Sendable {
    /// How clients prove who they are.
    public enum Authentication: String, Sendable {
        /// A client certificate (TLS 1.3, required), its subject DN mapped to a principal.
        case mtls
        /// An OIDC bearer JWT, verified against a JWKS.
        case oidc
    }

    /// The server's certificate and key, and for mTLS the CA that signs client certificates.
    public struct TLS: Sendable {
        /// The server certificate chain (PEM).
        public var certificate: String
        /// The server's private key (PEM).
        public var privateKey: String
        /// The CA that signs client certificates (PEM); required for mTLS.
        public var clientCA: String?

        /// A configuration with these values; the rest default.
        public init(certificate: String, privateKey: String, clientCA: String? = nil) {
            self.certificate = certificate
            self.privateKey = privateKey
            self.clientCA = clientCA
        }
    }

    /// Where bearer tokens come from and what they must say.
    public struct OIDC: Sendable {
        /// The JWKS: a file, or an `https://` URL (`http://` on a loopback address only).
        public var jwks: String
        /// The issuer (`iss`) tokens must name.
        public var issuer: String
        /// The audience (`aud`) tokens must name.
        public var audience: String
        /// The claim holding the tenant.
        public var tenantClaim = "tenant"
        /// The claim holding the roles (a list, or space-separated).
        public var rolesClaim = "roles"
        /// Seconds of clock difference allowed on `exp` and `nbf` (at most 300).
        public var clockSkewSeconds = 60
        /// Seconds between reads of the JWKS (also a file's); an unknown key id reads it sooner.
        public var jwksRefreshSeconds = 300
        /// Seconds a JWKS that cannot be read again stays in use; then every token is refused.
        public var jwksMaxStaleSeconds = 86_400

        /// Whether `source` names a URL rather than a file.
        static func isURL(_ source: String) -> Bool { source.hasPrefix("https://") || source.hasPrefix("http://") }

        /// A configuration with these values; the rest default.
        public init(jwks: String, issuer: String, audience: String) {
            self.jwks = jwks
            self.issuer = issuer
            self.audience = audience
        }
    }

    /// One tenant: its data directory (made with `init --tenant NAME`) and its policy.
    public struct Tenant: Sendable {
        /// The tenant's data directory.
        public var dataDirectory: String
        /// The tenant's policy file.
        public var policy: String
        /// The audit log's signing key file, when kept outside the data directory.
        public var auditKey: String?
        /// The tenant's records on Apache Kafka instead of the data directory's embedded log.
        public var kafka: Kafka?

        /// A configuration with these values; the rest default.
        public init(dataDirectory: String, policy: String, auditKey: String? = nil, kafka: Kafka? = nil) {
            self.dataDirectory = dataDirectory
            self.policy = policy
            self.auditKey = auditKey
            self.kafka = kafka
        }
    }

    /// A tenant's Kafka cluster: a `client.properties` file in Kafka's format (the same file
    /// `strongroom … --kafka-config` reads).
    public struct Kafka: Sendable {
        /// The `client.properties` file.
        public var properties: String
        /// Whether a PLAINTEXT or SASL_PLAINTEXT listener is accepted (a development cluster).
        public var allowPlaintext = false

        /// A cluster reached with `properties`.
        public init(properties: String, allowPlaintext: Bool = false) {
            self.properties = properties
            self.allowPlaintext = allowPlaintext
        }
    }

    /// Limits per tenant and per request.
    public struct Limits: Sendable {
        /// Bytes in one request body (413 beyond).
        public var maxBodyBytes = 1 << 20
        /// Records in one produce request.
        public var maxBatchRecords = 1_000
        /// Records one consume request may ask for.
        public var maxConsumeRecords = 1_000
        /// A tenant's sustained request rate.
        public var requestsPerSecond = 100.0
        /// Requests a tenant may make at once before the rate applies.
        public var burst = 200
        /// Requests one tenant may have in flight.
        public var maxConcurrentRequests = 32
        /// Seconds a connection may sit idle (slow or stalled clients are closed).
        public var idleTimeoutSeconds = 30
        /// Bytes in a header field, and in all of them.
        public var maxHeaderBytes = 16 * 1024
        /// Failed authentications one source address may make in a minute (a burst of this
        /// many, then one every `60 / n` seconds); past it, the address gets 429 before its
        /// credentials are looked at.
        public var failedAuthenticationsPerMinute = 60

        /// A configuration with these values; the rest default.
        public init() {}
    }

    /// One address the gateway listens on, and how its clients authenticate.
    public struct Listener: Sendable {
        /// The address to listen on.
        public var host: String
        /// The port to listen on (0: any free port).
        public var port: Int
        /// How clients authenticate on this listener.
        public var authentication: Authentication
        /// The listener's TLS; required unless `allowPlaintext`.
        public var tls: TLS?

        /// A listener with these values.
        public init(host: String, port: Int, authentication: Authentication, tls: TLS? = nil) {
            self.host = host
            self.port = port
            self.authentication = authentication
            self.tls = tls
        }
    }

    /// The first listener's address (with `port`, `authentication` and `tls`).
    public var host = "127.0.0.1"
    /// The first listener's port (0: any free port).
    public var port = 8443
    /// The first listener's TLS; required unless `allowPlaintext`.
    public var tls: TLS?
    /// Listeners after the first, each with its own authentication (`listeners` in the file).
    public var additionalListeners: [Listener] = []
    /// Every listener, the first one's from `host`, `port`, `authentication` and `tls`.
    public var listeners: [Listener] {
        [Listener(host: host, port: port, authentication: authentication, tls: tls)] + additionalListeners
    }
    /// Plain HTTP: for tests behind a local proxy only; refused unless set.
    public var allowPlaintext = false
    /// How clients authenticate on the first listener.
    public var authentication: Authentication
    /// Rules from a certificate's subject DN to a principal (Kafka's syntax).
    public var principalMappingRules = "DEFAULT"
    /// Subject DNs refused even with a valid certificate.
    public var revokedSubjects: [String] = []
    /// The token settings, for `oidc`.
    public var oidc: OIDC?
    /// The tenants served, by name.
    public var tenants: [String: Tenant]
    /// Limits per tenant and request.
    public var limits = Limits()

    /// A configuration error, naming the key.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        /// What is wrong, naming the key.
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// A configuration with these values; the rest default.
    public init(authentication: Authentication, tenants: [String: Tenant]) {
        self.authentication = authentication
        self.tenants = tenants
    }

    /// Reads and checks `url`: YAML when it ends in `.yaml` or `.yml`, else JSON.
    public init(contentsOf url: URL) throws(Invalid) {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Invalid("cannot read \(url.path)")
        }
        let value: JSONValue
        if ["yaml", "yml"].contains(url.pathExtension.lowercased()) {
            value = try Self.yaml(String(decoding: data, as: UTF8.self), file: url.path)
        } else {
            do { value = try JSONValue(parsing: Array(data)) } catch {
                throw Invalid("\(url.path): not JSON: \(error)")
            }
        }
        try self.init(json: value, base: url.deletingLastPathComponent())
    }

    /// A YAML document as the JSON it stands for, read strictly: YAML 1.2's core types only
    /// (`yes`, `on` and `0x1F` stay strings, so a boolean or number key refuses them), no
    /// tags but `!!str`, no duplicate keys, one document.
    public static func yaml(_ text: String, file: String) throws(Invalid) -> JSONValue {
        #if Gateway
        let root: Node?
        do { root = try Yams.compose(yaml: text, .basic) } catch {
            throw Invalid("\(file): not YAML: \(error)")
        }
        guard let root else { throw Invalid("\(file): empty") }
        return try json(root, file: file, at: "")
        #else
        throw Invalid("\(file): YAML configuration needs the Gateway trait; use JSON")
        #endif
    }

    #if Gateway
    static func json(_ node: Node, file: String, at: String) throws(Invalid) -> JSONValue {
        let place = at.isEmpty ? file : "\(file): \(at)"
        switch node {
        case .alias: throw Invalid("\(place): aliases are not supported")
        case .sequence(let items):
            guard untagged(items.tag) || items.tag.rawValue == Tag.Name.seq.rawValue else {
                throw Invalid("\(place): tag \(items.tag.rawValue) is not supported")
            }
            var out: [JSONValue] = []
            for (i, item) in items.enumerated() { out.append(try json(item, file: file, at: "\(at)[\(i)]")) }
            return .array(out)
        case .mapping(let mapping):
            guard untagged(mapping.tag) || mapping.tag.rawValue == Tag.Name.map.rawValue else {
                throw Invalid("\(place): tag \(mapping.tag.rawValue) is not supported")
            }
            var members: [JSONValue.Member] = []
            for (key, value) in mapping {
                guard case .scalar(let name) = key,
                    Self.untagged(name.tag) || name.tag.rawValue == Tag.Name.str.rawValue
                else { throw Invalid("\(place): keys must be plain strings") }
                let path = at.isEmpty ? name.string : "\(at).\(name.string)"
                guard !members.contains(where: { $0.key.hasSameBytes(as: name.string) }) else {
                    throw Invalid("\(file): \(path): given twice")
                }
                members.append(.init(name.string, try json(value, file: file, at: path)))
            }
            return .object(members)
        case .scalar(let scalar):
            let text = scalar.string
            if scalar.tag.rawValue == Tag.Name.str.rawValue { return .string(text) }
            guard Self.untagged(scalar.tag) else {
                throw Invalid("\(place): tag \(scalar.tag.rawValue) is not supported")
            }
            guard scalar.style == .plain else { return .string(text) }
            if ["", "~", "null", "Null", "NULL"].contains(text) { return .null }
            if ["true", "True", "TRUE"].contains(text) { return .bool(true) }
            if ["false", "False", "FALSE"].contains(text) { return .bool(false) }
            if let number = Self.number(text) { return .number(number) }
            return .string(text)
        }
    }

    /// No tag written in the file.
    static func untagged(_ tag: Tag) -> Bool {
        [Tag.Name.implicit.rawValue, Tag.Name.nonSpecific.rawValue].contains(tag.rawValue)
    }

    /// A YAML 1.2 core decimal number as JSON number text, or nil.
    static func number(_ text: String) -> String? {
        var digits = Substring(text)
        if digits.first == "+" {
            digits = digits.dropFirst()
            guard digits.first != "-", digits.first != "+" else { return nil }
        }
        let body = digits.first == "-" ? digits.dropFirst() : digits
        guard let first = body.first, first.isASCII, first.isNumber || first == "." else { return nil }
        if body.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // JSON has no leading zeros.
            guard let value = Int(digits) else { return nil }
            return String(value)
        }
        guard body.allSatisfy({ $0.isASCII && ($0.isNumber || ".eE+-".contains($0)) }), let value = Double(digits),
            value.isFinite
        else { return nil }
        return String(value)
    }
    #endif

    /// Reads a parsed configuration; relative paths are taken from `base`.
    public init(json: JSONValue, base: URL) throws(Invalid) {
        var root = try Reader(json, "")
        func path(_ text: String) -> String {
            text.hasPrefix("/") ? text : base.appendingPathComponent(text).path
        }
        /// `listen`, `authentication` and `tls` of one listener.
        func listener(_ r: inout Reader, at: String) throws(Invalid) -> Listener {
            var host = "127.0.0.1"
            var port = 8443
            if let listen = try r.string("listen") {
                guard let colon = listen.lastIndex(of: ":"), let number = Int(listen[listen.index(after: colon)...]),
                    (1...65_535).contains(number) || number == 0
                else { throw Invalid("\(at)listen: expected HOST:PORT, got \(listen)") }
                host = String(listen[..<colon])
                port = number
            }
            guard let auth = try r.string("authentication") else {
                throw Invalid("\(at)authentication: required (mtls or oidc)")
            }
            guard let method = Authentication(rawValue: auth) else {
                throw Invalid("\(at)authentication: \(auth) is not supported (mtls or oidc)")
            }
            var tls: TLS?
            if var t = try r.object("tls") {
                guard let certificate = try t.string("certificate"), let key = try t.string("privateKey") else {
                    throw Invalid("\(at)tls: certificate and privateKey are required")
                }
                tls = TLS(
                    certificate: path(certificate),
                    privateKey: path(key),
                    clientCA: try t.string("clientCA").map(path)
                )
                try t.done()
            }
            return Listener(host: host, port: port, authentication: method, tls: tls)
        }
        let first: Listener
        if let value = root.value("listeners") {
            guard case .array(let items) = value, !items.isEmpty else {
                throw Invalid("listeners: expected a list of at least one listener")
            }
            guard !root.keys.contains(where: { ["listen", "authentication", "tls"].contains($0) }) else {
                throw Invalid("listeners: give listen, authentication and tls inside each listener, not beside them")
            }
            var all: [Listener] = []
            for (i, item) in items.enumerated() {
                var r = try Reader(item, "listeners[\(i)]")
                all.append(try listener(&r, at: "listeners[\(i)]."))
                try r.done()
            }
            first = all[0]
            additionalListeners = Array(all.dropFirst())
        } else {
            first = try listener(&root, at: "")
        }
        host = first.host
        port = first.port
        authentication = first.authentication
        tls = first.tls
        allowPlaintext = try root.bool("allowPlaintext") ?? false
        principalMappingRules = try root.string("principalMappingRules") ?? "DEFAULT"
        revokedSubjects = try root.strings("revokedSubjects") ?? []
        if var o = try root.object("oidc") {
            guard let jwks = try o.string("jwks"), let issuer = try o.string("issuer"),
                let audience = try o.string("audience")
            else { throw Invalid("oidc: jwks, issuer and audience are required") }
            var oidc = OIDC(jwks: OIDC.isURL(jwks) ? jwks : path(jwks), issuer: issuer, audience: audience)
            oidc.tenantClaim = try o.string("tenantClaim") ?? oidc.tenantClaim
            oidc.rolesClaim = try o.string("rolesClaim") ?? oidc.rolesClaim
            oidc.clockSkewSeconds = try o.int("clockSkewSeconds", 0...300) ?? oidc.clockSkewSeconds
            oidc.jwksRefreshSeconds = try o.int("jwksRefreshSeconds", 1...86_400) ?? oidc.jwksRefreshSeconds
            oidc.jwksMaxStaleSeconds =
                try o.int("jwksMaxStaleSeconds", 1...(30 * 86_400)) ?? oidc.jwksMaxStaleSeconds
            try o.done()
            self.oidc = oidc
        }
        guard var t = try root.object("tenants") else { throw Invalid("tenants: required") }
        var tenants: [String: Tenant] = [:]
        for name in t.keys {
            guard var one = try t.object(name) else { continue }
            guard let directory = try one.string("dataDirectory"), let policy = try one.string("policy") else {
                throw Invalid("tenants.\(name): dataDirectory and policy are required")
            }
            var kafka: Kafka?
            if var k = try one.object("kafka") {
                guard let properties = try k.string("properties") else {
                    throw Invalid("tenants.\(name).kafka: properties (a client.properties file) is required")
                }
                kafka = Kafka(properties: path(properties), allowPlaintext: try k.bool("allowPlaintext") ?? false)
                try k.done()
            }
            tenants[name] = Tenant(
                dataDirectory: path(directory),
                policy: path(policy),
                auditKey: try one.string("auditKey").map(path),
                kafka: kafka
            )
            try one.done()
        }
        try t.done()
        guard !tenants.isEmpty else { throw Invalid("tenants: at least one") }
        self.tenants = tenants
        if var l = try root.object("limits") {
            limits.maxBodyBytes = try l.int("maxBodyBytes", 1_024...(64 << 20)) ?? limits.maxBodyBytes
            limits.maxBatchRecords = try l.int("maxBatchRecords", 1...100_000) ?? limits.maxBatchRecords
            limits.maxConsumeRecords = try l.int("maxConsumeRecords", 1...100_000) ?? limits.maxConsumeRecords
            limits.requestsPerSecond = Double(
                try l.int("requestsPerSecond", 1...1_000_000) ?? Int(limits.requestsPerSecond)
            )
            limits.burst = try l.int("burst", 1...1_000_000) ?? limits.burst
            limits.maxConcurrentRequests =
                try l.int("maxConcurrentRequests", 1...10_000) ?? limits.maxConcurrentRequests
            limits.idleTimeoutSeconds = try l.int("idleTimeoutSeconds", 1...3_600) ?? limits.idleTimeoutSeconds
            limits.maxHeaderBytes = try l.int("maxHeaderBytes", 1_024...(1 << 20)) ?? limits.maxHeaderBytes
            limits.failedAuthenticationsPerMinute =
                try l.int("failedAuthenticationsPerMinute", 1...1_000_000) ?? limits.failedAuthenticationsPerMinute
            try l.done()
        }
        try root.done()
        try check()
    }

    /// The rules a configuration must keep whichever way it was made.
    public func check() throws(Invalid) {
        var seen: [String] = []
        for (i, listener) in listeners.enumerated() {
            let at = listeners.count > 1 ? "listeners[\(i)]." : ""
            switch listener.authentication {
            case .mtls:
                guard listener.tls?.clientCA != nil else {
                    throw Invalid("\(at)authentication mtls: tls.clientCA is required")
                }
            case .oidc:
                guard oidc != nil else { throw Invalid("\(at)authentication oidc: the oidc section is required") }
            }
            if listener.tls == nil {
                guard allowPlaintext else {
                    throw Invalid(
                        "\(at)tls: required (plain HTTP only with \"allowPlaintext\": true, for a local test)"
                    )
                }
                // Bearer tokens never cross a network in the clear.
                guard ["127.0.0.1", "::1", "localhost"].contains(where: { $0.hasSameBytes(as: listener.host) }) else {
                    throw Invalid("\(at)allowPlaintext: only on a loopback address (127.0.0.1, ::1, localhost)")
                }
            }
            let address = "\(listener.host):\(listener.port)"
            guard listener.port == 0 || !seen.contains(address) else {
                throw Invalid("\(at)listen: \(address) is given twice")
            }
            seen.append(address)
        }
        if let oidc {
            guard (0...300).contains(oidc.clockSkewSeconds) else { throw Invalid("oidc.clockSkewSeconds: 0…300") }
            guard (1...86_400).contains(oidc.jwksRefreshSeconds),
                (oidc.jwksRefreshSeconds...(30 * 86_400)).contains(oidc.jwksMaxStaleSeconds)
            else {
                throw Invalid("oidc: jwksRefreshSeconds 1…86400, jwksMaxStaleSeconds from it to 30 days")
            }
            if OIDC.isURL(oidc.jwks) {
                guard let url = URLComponents(string: oidc.jwks), let host = url.host, !host.isEmpty,
                    url.user == nil, url.password == nil
                else { throw Invalid("oidc.jwks: not a URL with a host (and no user or password)") }
                // Keys fetched in the clear could be swapped on the way: loopback only.
                if url.scheme == "http" {
                    guard ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host) else {
                        throw Invalid("oidc.jwks: https:// (http:// only on a loopback address)")
                    }
                }
            }
        }
        let l = limits
        let ranges: [(String, Bool)] = [
            ("maxBodyBytes", (1_024...(64 << 20)).contains(l.maxBodyBytes)),
            ("maxBatchRecords", (1...100_000).contains(l.maxBatchRecords)),
            ("maxConsumeRecords", (1...100_000).contains(l.maxConsumeRecords)),
            ("requestsPerSecond", l.requestsPerSecond.isFinite && l.requestsPerSecond > 0),
            ("burst", l.burst >= 1), ("maxConcurrentRequests", (1...100_000).contains(l.maxConcurrentRequests)),
            ("idleTimeoutSeconds", (1...3_600).contains(l.idleTimeoutSeconds)),
            ("maxHeaderBytes", (1_024...(1 << 20)).contains(l.maxHeaderBytes)),
            ("failedAuthenticationsPerMinute", (1...1_000_000).contains(l.failedAuthenticationsPerMinute)),
        ]
        for (name, ok) in ranges where !ok { throw Invalid("limits.\(name): out of range") }
        do { _ = try PrincipalMapping(rules: principalMappingRules) } catch { throw Invalid("\(error)") }
    }

    /// Reads an object's members once each and refuses any left unread.
    struct Reader {
        let members: [JSONValue.Member]
        let at: String
        /// Indexes of the members read (keys compared as bytes).
        var read: Set<Int> = []

        init(_ value: JSONValue, _ at: String) throws(Invalid) {
            guard let members = value.objectMembers else {
                throw Invalid("\(at.isEmpty ? "the file" : at): expected an object")
            }
            self.members = members
            self.at = at
        }

        var keys: [String] { members.map(\.key) }

        private func name(_ key: String) -> String { at.isEmpty ? key : "\(at).\(key)" }

        mutating func value(_ key: String) -> JSONValue? {
            guard let index = members.firstIndex(where: { $0.key.hasSameBytes(as: key) }) else { return nil }
            read.insert(index)
            return members[index].value
        }

        mutating func string(_ key: String) throws(Invalid) -> String? {
            guard let value = value(key) else { return nil }
            guard let text = value.stringValue else { throw Invalid("\(name(key)): expected a string") }
            return text
        }

        mutating func strings(_ key: String) throws(Invalid) -> [String]? {
            guard let value = value(key) else { return nil }
            guard case .array(let items) = value else { throw Invalid("\(name(key)): expected an array of strings") }
            var out: [String] = []
            for item in items {
                guard let text = item.stringValue else { throw Invalid("\(name(key)): expected an array of strings") }
                out.append(text)
            }
            return out
        }

        mutating func bool(_ key: String) throws(Invalid) -> Bool? {
            guard let value = value(key) else { return nil }
            guard case .bool(let b) = value else { throw Invalid("\(name(key)): expected true or false") }
            return b
        }

        mutating func int(_ key: String, _ range: ClosedRange<Int>) throws(Invalid) -> Int? {
            guard let value = value(key) else { return nil }
            guard case .number(let text) = value, let n = Int(text), range.contains(n) else {
                throw Invalid("\(name(key)): expected a whole number in \(range.lowerBound)…\(range.upperBound)")
            }
            return n
        }

        mutating func object(_ key: String) throws(Invalid) -> Reader? {
            guard let value = value(key) else { return nil }
            return try Reader(value, name(key))
        }

        func done() throws(Invalid) {
            for (index, member) in members.enumerated() where !read.contains(index) {
                throw Invalid("\(name(member.key)): unknown key")
            }
        }
    }
}
