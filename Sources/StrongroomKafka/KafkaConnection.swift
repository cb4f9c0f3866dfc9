import Foundation

/// A Kafka setting that cannot be used, named so the operator can fix it; never a secret's value.
public struct KafkaConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and how to fix it.
    public var description: String

    init(_ description: String) { self.description = description }
}

/// How Strongroom reaches a Kafka cluster: brokers, transport security and authentication.
///
/// Validated up front (``validate()``) so a typo fails at start with a clear message instead
/// of as a connection that never comes up. A plaintext listener is refused unless
/// ``allowPlaintext`` says so: Strongroom's fields are encrypted, but the record keys,
/// headers and SASL exchange are not.
public struct KafkaConnection: Sendable, Hashable {
    /// `security.protocol`.
    public enum SecurityProtocol: String, Sendable, CaseIterable {
        /// No TLS, no authentication: development only.
        case plaintext = "PLAINTEXT"
        /// TLS, optionally with a client certificate (mTLS).
        case ssl = "SSL"
        /// SASL without TLS: development only (credentials cross the network in the clear).
        case saslPlaintext = "SASL_PLAINTEXT"
        /// SASL over TLS.
        case saslSSL = "SASL_SSL"

        var isEncrypted: Bool { self == .ssl || self == .saslSSL }
        var usesSASL: Bool { self == .saslSSL || self == .saslPlaintext }
    }

    /// `sasl.mechanism`.
    public enum SASLMechanism: String, Sendable, CaseIterable {
        /// SCRAM with SHA-512.
        case scramSHA512 = "SCRAM-SHA-512"
        /// SCRAM with SHA-256.
        case scramSHA256 = "SCRAM-SHA-256"
        /// OAuth 2 client credentials (OIDC) tokens.
        case oauthBearer = "OAUTHBEARER"
    }

    /// `host:port[,host:port…]`.
    public var bootstrapServers: String
    /// The transport.
    public var securityProtocol: SecurityProtocol
    /// The SASL mechanism, for the SASL protocols.
    public var saslMechanism: SASLMechanism?
    /// The SCRAM user name.
    public var saslUsername: String?
    /// The SCRAM password (never printed).
    public var saslPassword: String?
    /// OAUTHBEARER: the token endpoint, client id and secret (never printed) and scope.
    public var oauthTokenEndpoint: String?
    /// OAUTHBEARER client id.
    public var oauthClientID: String?
    /// OAUTHBEARER client secret (never printed).
    public var oauthClientSecret: String?
    /// OAUTHBEARER scope.
    public var oauthScope: String?
    /// PEM file of the CA certificates that sign the brokers' certificates (else the system's).
    public var caLocation: String?
    /// PEM client certificate, for mTLS.
    public var certificateLocation: String?
    /// PEM client private key, for mTLS.
    public var keyLocation: String?
    /// The client key's password (never printed).
    public var keyPassword: String?
    /// Permits PLAINTEXT and SASL_PLAINTEXT listeners.
    public var allowPlaintext: Bool
    /// `compression.type` for produced batches: none, gzip, snappy, lz4, zstd.
    public var compression: String?
    /// Further librdkafka properties, from ``tuningProperties`` only.
    public var tuning: [String: String]

    /// librdkafka properties a deployment may tune; anything else is refused rather than ignored.
    public static let tuningProperties: Set<String> = [
        "client.id", "linger.ms", "batch.num.messages", "batch.size", "message.timeout.ms", "request.timeout.ms",
        "max.in.flight.requests.per.connection",
        "socket.timeout.ms", "queue.buffering.max.messages", "queue.buffering.max.kbytes", "retry.backoff.ms",
        "reconnect.backoff.ms", "reconnect.backoff.max.ms", "session.timeout.ms", "heartbeat.interval.ms",
        "max.poll.interval.ms", "fetch.wait.max.ms", "fetch.min.bytes", "fetch.max.bytes",
        "queued.max.messages.kbytes", "topic.metadata.refresh.interval.ms", "client.rack", "statistics.interval.ms",
        "broker.address.family", "ssl.cipher.suites", "ssl.curves.list", "ssl.sigalgs.list",
        "replication.factor", "min.insync.replicas",
    ]

    /// A connection; validate it before use.
    public init(
        bootstrapServers: String,
        securityProtocol: SecurityProtocol = .saslSSL,
        saslMechanism: SASLMechanism? = nil,
        allowPlaintext: Bool = false
    ) {
        self.bootstrapServers = bootstrapServers
        self.securityProtocol = securityProtocol
        self.saslMechanism = saslMechanism
        self.allowPlaintext = allowPlaintext
        self.tuning = [:]
    }

    /// Checks every setting; throws the first problem, naming the setting.
    public func validate() throws(KafkaConfigurationError) {
        let servers = bootstrapServers.split(separator: ",", omittingEmptySubsequences: false)
        guard !bootstrapServers.isEmpty else { throw KafkaConfigurationError("bootstrap.servers is empty") }
        for server in servers {
            let text = server.trimmingCharacters(in: .whitespaces)
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                (1...65535).contains(port), colon > text.startIndex
            else {
                throw KafkaConfigurationError("bootstrap.servers: \"\(text)\" is not host:port")
            }
        }
        if !securityProtocol.isEncrypted && !allowPlaintext {
            throw KafkaConfigurationError(
                "security.protocol \(securityProtocol.rawValue) sends record keys, headers and credentials "
                    + "unencrypted; use SSL or SASL_SSL, or pass --allow-plaintext for a development cluster"
            )
        }
        if securityProtocol.usesSASL {
            guard let mechanism = saslMechanism else {
                throw KafkaConfigurationError(
                    "security.protocol \(securityProtocol.rawValue) needs sasl.mechanism "
                        + "(\(SASLMechanism.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            switch mechanism {
            case .scramSHA256, .scramSHA512:
                guard let user = saslUsername, !user.isEmpty else {
                    throw KafkaConfigurationError("sasl.mechanism \(mechanism.rawValue) needs sasl.username")
                }
                guard let password = saslPassword, !password.isEmpty else {
                    throw KafkaConfigurationError("sasl.mechanism \(mechanism.rawValue) needs sasl.password")
                }
            case .oauthBearer:
                guard let endpoint = oauthTokenEndpoint, let url = URL(string: endpoint), url.scheme == "https"
                else {
                    throw KafkaConfigurationError(
                        "sasl.mechanism OAUTHBEARER needs sasl.oauthbearer.token.endpoint.url, an https URL "
                            + "(unsecured JWTs are refused)"
                    )
                }
                guard oauthClientID?.isEmpty == false, oauthClientSecret?.isEmpty == false else {
                    throw KafkaConfigurationError(
                        "sasl.mechanism OAUTHBEARER needs sasl.oauthbearer.client.id and sasl.oauthbearer.client.secret"
                    )
                }
            }
        } else if saslMechanism != nil {
            throw KafkaConfigurationError(
                "sasl.mechanism is set but security.protocol \(securityProtocol.rawValue) does not use SASL"
            )
        }
        let tlsFiles =
            [("ssl.ca.location", caLocation), ("ssl.certificate.location", certificateLocation)]
            + [("ssl.key.location", keyLocation)]
        for (name, path) in tlsFiles {
            guard let path else { continue }
            guard securityProtocol.isEncrypted else {
                throw KafkaConfigurationError(
                    "\(name) is set but security.protocol \(securityProtocol.rawValue) has no TLS"
                )
            }
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw KafkaConfigurationError("\(name): cannot read \(path)")
            }
        }
        if (certificateLocation == nil) != (keyLocation == nil) {
            throw KafkaConfigurationError("mTLS needs both ssl.certificate.location and ssl.key.location")
        }
        if let compression, !["none", "gzip", "snappy", "lz4", "zstd"].contains(compression) {
            throw KafkaConfigurationError("compression.type \"\(compression)\": use none, gzip, snappy, lz4 or zstd")
        }
        for name in tuning.keys where !Self.tuningProperties.contains(name) {
            throw KafkaConfigurationError(
                "\(name) is not a setting Strongroom passes to Kafka clients; the ones it takes are in docs/kafka.md"
            )
        }
    }

    /// The librdkafka properties for this connection (secrets included: for librdkafka only).
    var clientProperties: [(String, String)] {
        var out: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("security.protocol", securityProtocol.rawValue.lowercased()),
        ]
        if securityProtocol.isEncrypted {
            // Brokers' certificates must name the host dialled.
            out.append(("ssl.endpoint.identification.algorithm", "https"))
            out.append(("enable.ssl.certificate.verification", "true"))
        }
        if let saslMechanism { out.append(("sasl.mechanism", saslMechanism.rawValue)) }
        if let saslUsername { out.append(("sasl.username", saslUsername)) }
        if let saslPassword { out.append(("sasl.password", saslPassword)) }
        if saslMechanism == .oauthBearer {
            out.append(("sasl.oauthbearer.method", "oidc"))
            if let oauthTokenEndpoint { out.append(("sasl.oauthbearer.token.endpoint.url", oauthTokenEndpoint)) }
            if let oauthClientID { out.append(("sasl.oauthbearer.client.id", oauthClientID)) }
            if let oauthClientSecret { out.append(("sasl.oauthbearer.client.secret", oauthClientSecret)) }
            if let oauthScope { out.append(("sasl.oauthbearer.scope", oauthScope)) }
        }
        if let caLocation { out.append(("ssl.ca.location", caLocation)) }
        if let certificateLocation { out.append(("ssl.certificate.location", certificateLocation)) }
        if let keyLocation { out.append(("ssl.key.location", keyLocation)) }
        if let keyPassword { out.append(("ssl.key.password", keyPassword)) }
        for (name, value) in tuning.sorted(by: { $0.key < $1.key })
        where name != "replication.factor" && name != "min.insync.replicas" {
            out.append((name, value))
        }
        return out
    }

    /// Reads a `client.properties` file in Kafka's Java client format.
    ///
    /// Understood: `bootstrap.servers`, `security.protocol`, `sasl.mechanism`, `sasl.jaas.config`
    /// (ScramLoginModule `username`/`password`; OAuthBearerLoginModule `clientId`/`clientSecret`/`scope`),
    /// `sasl.username`, `sasl.password`, `sasl.oauthbearer.token.endpoint.url` (and the Java name
    /// `sasl.oauthbearer.token.endpoint.url`), `ssl.ca.location`, `ssl.certificate.location`,
    /// `ssl.key.location`, `ssl.key.password`, `ssl.truststore.location` with
    /// `ssl.truststore.type=PEM`, `compression.type`, and ``tuningProperties``. Any other key is
    /// an error, never silently ignored.
    public static func parse(
        properties text: String,
        allowPlaintext: Bool = false
    ) throws(KafkaConfigurationError)
        -> KafkaConnection
    {
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            guard let equals = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw KafkaConfigurationError("client.properties line \(number + 1): expected key=value")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard values[key] == nil else {
                throw KafkaConfigurationError("client.properties line \(number + 1): \(key) is set twice")
            }
            values[key] = value
        }
        guard let bootstrap = values.removeValue(forKey: "bootstrap.servers") else {
            throw KafkaConfigurationError("client.properties has no bootstrap.servers")
        }
        let protocolName = values.removeValue(forKey: "security.protocol") ?? "PLAINTEXT"
        guard let securityProtocol = SecurityProtocol(rawValue: protocolName.uppercased()) else {
            throw KafkaConfigurationError(
                "security.protocol \"\(protocolName)\": use \(SecurityProtocol.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        var connection = KafkaConnection(
            bootstrapServers: bootstrap,
            securityProtocol: securityProtocol,
            allowPlaintext: allowPlaintext
        )
        if let name = values.removeValue(forKey: "sasl.mechanism") {
            guard let mechanism = SASLMechanism(rawValue: name.uppercased()) else {
                throw KafkaConfigurationError(
                    "sasl.mechanism \"\(name)\": use \(SASLMechanism.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            connection.saslMechanism = mechanism
        }
        if let jaas = values.removeValue(forKey: "sasl.jaas.config") {
            let options = try parseJAAS(jaas)
            connection.saslUsername = options["username"]
            connection.saslPassword = options["password"]
            connection.oauthClientID = options["clientId"]
            connection.oauthClientSecret = options["clientSecret"]
            connection.oauthScope = options["scope"]
        }
        func take(_ name: String, into path: WritableKeyPath<KafkaConnection, String?>) {
            if let value = values.removeValue(forKey: name) { connection[keyPath: path] = value }
        }
        take("sasl.username", into: \.saslUsername)
        take("sasl.password", into: \.saslPassword)
        take("sasl.oauthbearer.token.endpoint.url", into: \.oauthTokenEndpoint)
        take("sasl.oauthbearer.client.id", into: \.oauthClientID)
        take("sasl.oauthbearer.client.secret", into: \.oauthClientSecret)
        take("sasl.oauthbearer.scope", into: \.oauthScope)
        take("ssl.ca.location", into: \.caLocation)
        take("ssl.certificate.location", into: \.certificateLocation)
        take("ssl.key.location", into: \.keyLocation)
        take("ssl.key.password", into: \.keyPassword)
        take("compression.type", into: \.compression)
        if let store = values.removeValue(forKey: "ssl.truststore.location") {
            let type = values.removeValue(forKey: "ssl.truststore.type") ?? "JKS"
            guard type.uppercased() == "PEM" else {
                throw KafkaConfigurationError(
                    "ssl.truststore.type \(type): Strongroom reads PEM files only; convert the trust store to PEM "
                        + "(keytool -exportcert -rfc) and set ssl.ca.location"
                )
            }
            connection.caLocation = store
        }
        for key in values.keys.sorted() {
            guard tuningProperties.contains(key) else {
                throw KafkaConfigurationError(
                    "client.properties: \(key) is not a setting Strongroom understands (see docs/kafka.md)"
                )
            }
            connection.tuning[key] = values[key]
        }
        return connection
    }

    /// The options of a JAAS login module line: `Module required k="v" k2="v2";`.
    static func parseJAAS(_ text: String) throws(KafkaConfigurationError) -> [String: String] {
        let known = ["ScramLoginModule", "OAuthBearerLoginModule"]
        guard known.contains(where: { text.contains($0) }) else {
            throw KafkaConfigurationError(
                "sasl.jaas.config: only ScramLoginModule and OAuthBearerLoginModule are supported"
            )
        }
        var options: [String: String] = [:]
        var rest = Substring(text)
        while let equals = rest.firstIndex(of: "=") {
            let name = rest[..<equals].split(separator: " ").last.map(String.init) ?? ""
            var after = rest[rest.index(after: equals)...]
            guard after.first == "\"" else {
                throw KafkaConfigurationError("sasl.jaas.config: the value of \(name) must be quoted")
            }
            after = after.dropFirst()
            guard let close = after.firstIndex(of: "\"") else {
                throw KafkaConfigurationError("sasl.jaas.config: unterminated value of \(name)")
            }
            options[name] = String(after[..<close])
            rest = after[after.index(after: close)...]
        }
        return options
    }
}

extension KafkaConnection: CustomStringConvertible {
    /// The connection without its secrets.
    public var description: String {
        var parts = ["bootstrap.servers=\(bootstrapServers)", "security.protocol=\(securityProtocol.rawValue)"]
        if let saslMechanism { parts.append("sasl.mechanism=\(saslMechanism.rawValue)") }
        if let saslUsername { parts.append("sasl.username=\(saslUsername)") }
        if saslPassword != nil { parts.append("sasl.password=(set)") }
        if oauthClientSecret != nil { parts.append("sasl.oauthbearer.client.secret=(set)") }
        if let caLocation { parts.append("ssl.ca.location=\(caLocation)") }
        if let certificateLocation { parts.append("ssl.certificate.location=\(certificateLocation)") }
        return parts.joined(separator: " ")
    }
}
