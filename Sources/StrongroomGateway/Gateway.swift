#if Gateway
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import Strongroom
import StrongroomAudit
import StrongroomJSON
import StrongroomKafka
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema
import Synchronization
import X509

/// One tenant the gateway serves: its own data directory, so its topics, keys, schemas, audit
/// log and policy are out of every other tenant's reach.
public final class GatewayTenant: Sendable {
    /// The tenant's name, as recorded in its data directory.
    public let name: String
    /// The tenant's data directory.
    public let directory: URL
    /// The pipeline's services on the tenant's data directory.
    public let services: StrongroomServices
    /// The tenant's metrics: the pipeline's (when its services record into it) and the
    /// gateway's own; `/metrics` shows a caller only its own tenant's.
    public let metrics: PrometheusCollectorRegistry
    let producers = Mutex<[[UInt8]: SecureProducer]>([:])
    /// Kept across requests so a group's sequence checks and verified batches run on.
    let consumers = Mutex<[[UInt8]: SecureConsumer]>([:])

    /// A tenant over already opened services, whose metrics factory records into `metrics`.
    public init(
        name: String,
        directory: URL,
        services: StrongroomServices,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) {
        self.name = name
        self.directory = directory
        self.services = services
        self.metrics = metrics
    }

    /// Counts a request and its latency, by route and status.
    func observe(route: String, status: Int, duration: Duration) {
        let labels = [("route", route), ("status", String(status)), ("tenant", name)]
        metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "strongroom",
                subsystem: "http",
                metricName: "requests",
                unitName: "total",
                helpText: "HTTP requests by route, status and tenant."
            ),
            labels: labels
        ).increment()
        metrics.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "strongroom",
                subsystem: "http",
                metricName: "request_duration",
                unitName: "seconds",
                helpText: "HTTP request latency by route, status and tenant."
            ),
            labels: labels,
            buckets: [
                .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
                .seconds(2), .seconds(10),
            ]
        ).record(duration)
    }

    /// Opens `tenant`'s data directory, which must have been made for it (`init --tenant NAME`).
    public static func open(name: String, _ tenant: GatewayConfiguration.Tenant) throws -> GatewayTenant {
        let directory = URL(fileURLWithPath: tenant.dataDirectory, isDirectory: true)
        guard let recorded = StrongroomServices.tenant(ofDataDirectory: directory), recorded.hasSameBytes(as: name)
        else {
            throw GatewayConfiguration.Invalid(
                "tenants.\(name): \(directory.path) was not made for tenant \(name) (strongroom init --tenant \(name))"
            )
        }
        let metrics = PrometheusCollectorRegistry()
        let keys = try KeyStore.openGuarded(dataDirectory: directory)
        let log: any EventLog =
            try tenant.kafka.map { try Self.kafka($0, keys: keys, tenant: name) }
            ?? SQLiteEventLog(dataDirectory: directory)
        let services = StrongroomServices(
            keys: keys,
            log: log,
            registry: try SchemaRegistry(dataDirectory: directory),
            policy: try PolicyEngine(contentsOf: URL(fileURLWithPath: tenant.policy)),
            audit: try AuditLog(dataDirectory: directory, signingKey: tenant.auditKey.map { URL(fileURLWithPath: $0) }),
            tenant: name,
            logger: Logger(label: "strongroom.pipeline") { JSONLogHandler(label: $0) },
            metrics: PrometheusMetricsFactory(registry: metrics)
        )
        return GatewayTenant(name: name, directory: directory, services: services, metrics: metrics)
    }

    /// The tenant's Kafka log, its key metadata published to the cluster before any record
    /// that needs it (so a mirror gives a standby site every key and every erasure).
    static func kafka(_ kafka: GatewayConfiguration.Kafka, keys: KeyStore, tenant: String) throws -> any EventLog {
        #if Kafka
        guard let text = try? String(contentsOfFile: kafka.properties, encoding: .utf8) else {
            throw GatewayConfiguration.Invalid("tenants.\(tenant).kafka: cannot read \(kafka.properties)")
        }
        let connection = try KafkaConnection.parse(properties: text, allowPlaintext: kafka.allowPlaintext)
        let log = try KafkaEventLog(.init(connection: connection))
        try log.replicateKeys(from: keys)
        return log
        #else
        throw GatewayConfiguration.Invalid(
            "tenants.\(tenant).kafka: this strongroom was built without Kafka (swift build --traits default,Gateway,Kafka)"
        )
        #endif
    }

    /// Sends key changes (a rotation, an erasure) to the tenant's Kafka cluster now, not with
    /// the next append: an erasure reaches a standby site without waiting for new records.
    func publishKeyChanges() throws {
        #if Kafka
        _ = try (services.log as? KafkaEventLog)?.publishKeyChanges()
        #endif
    }

    /// This principal's producer, signing with its key in the data directory (pinned in the
    /// policy); one per principal and roles, so its record numbers run on.
    func producer(for identity: GatewayIdentity, sourceAddress: IPAddress?) throws(Problem) -> SecureProducer {
        let id = identity.principal.id
        let cacheKey = Self.key([id] + identity.principal.roles.sorted())
        if let producer = producers.withLock({ $0[cacheKey] }), producer.sourceAddress == sourceAddress {
            return producer
        }
        let key: Curve25519.Signing.PrivateKey
        do {
            key = try ProducerKeys.loadOrCreate(principal: id, in: directory)
            try ProducerKeys.requirePinned(key, principal: id, services: services)
        } catch {
            throw error.kind == .notPinned
                ? Problem(
                    .forbidden,
                    "producer-key",
                    "Producer key not pinned",
                    "this principal's producer key is not pinned in the policy; pin \(error.publicKey ?? "")"
                )
                : Problem(
                    .serviceUnavailable,
                    "producer-key",
                    "Producer key unusable",
                    "this principal's producer key file in the data directory cannot be used"
                )
        }
        let producer = SecureProducer(
            services: services,
            principal: id,
            key: key,
            sourceAddress: sourceAddress,
            identity: identity.principal
        )
        producers.withLock { $0[cacheKey] = producer }
        return producer
    }

    /// Appends one entry to the tenant's audit log; false when it could not be written (the
    /// caller then refuses what the entry records).
    func audit(
        _ principal: String,
        _ action: String,
        _ resource: String,
        allowed: Bool,
        rules: [String] = [],
        reason: String? = nil,
        correlationID: String
    ) -> Bool {
        (try? services.record([
            AuditEntry(
                principal: principal,
                action: action,
                resource: resource,
                decision: allowed ? .allow : .deny,
                rules: rules,
                reason: reason,
                correlationID: correlationID
            )
        ])) != nil
    }

    /// This principal's consumer for `group` and `purpose`, kept across requests.
    func consumer(for identity: GatewayIdentity, group: String, purpose: String?) -> SecureConsumer {
        let cacheKey = Self.key([identity.principal.id, group, purpose ?? "\u{0}"] + identity.principal.roles.sorted())
        return consumers.withLock { consumers in
            if let consumer = consumers[cacheKey] { return consumer }
            // Bounded: group and purpose names come from requests. A consumer dropped here
            // loses only its uncommitted deliveries (a commit of them is then refused, 409).
            if consumers.count >= Self.keptConsumers, let any = consumers.keys.first { consumers[any] = nil }
            let consumer = SecureConsumer(
                services: services,
                principal: identity.principal.id,
                purpose: purpose,
                group: group,
                identity: identity.principal
            )
            consumers[cacheKey] = consumer
            return consumer
        }
    }

    /// The consumer for a request body's `group` (required) and `purpose`.
    func consumer(for identity: GatewayIdentity, reading body: inout JSONBody) throws -> SecureConsumer {
        guard let group = try body.reader.string("group"), !group.isEmpty else {
            throw Problem(.badRequest, "bad-request", "Bad request", "group: required")
        }
        return consumer(for: identity, group: group, purpose: try body.reader.string("purpose"))
    }

    /// Consumers kept per tenant.
    static let keptConsumers = 4_096

    /// A cache key from names: each length-prefixed, compared as bytes.
    static func key(_ parts: [String]) -> [UInt8] {
        parts.flatMap { part in Array("\(part.utf8.count):".utf8) + Array(part.utf8) }
    }
}

/// Who a request comes from, as the gateway established it.
public struct GatewayIdentity: Sendable {
    /// The principal the policy decides for: its id, the roles the token or policy gives, the tenant.
    public var principal: Principal
    /// The tenant the request runs in.
    public var tenant: String
}

/// The request context: the connection (for the client certificate) and, once authenticated,
/// the identity and correlation id.
public struct GatewayContext: RequestContext {
    /// Hummingbird's own request state.
    public var coreContext: CoreRequestContextStorage
    /// The connection: its peer certificate and address.
    public let channel: any Channel
    /// Who the request comes from, once authenticated.
    public var identity: GatewayIdentity?
    /// The trace id of the request's `traceparent`.
    public var correlationID = ""
    /// Shared by every layer's copy of the context: what the access log reports.
    let state = RequestState()

    /// The context of a request on `source`'s connection.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// What inner layers tell the outer ones about a request.
final class RequestState: Sendable {
    private let stored = Mutex<GatewayIdentity?>(nil)
    var identity: GatewayIdentity? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}

/// The HTTPS front: authenticates, limits, and hands each request to the library's pipeline
/// types (`SecureProducer`, `SecureConsumer`) in the caller's tenant.
public final class Gateway: Sendable {
    /// What the gateway was started with.
    public let configuration: GatewayConfiguration
    let tenants: [String: GatewayTenant]
    let mapping: PrincipalMapping
    let verifier: TokenVerifier?
    let rates: RateLimiter
    /// Failed authentications by source address.
    let failures: RateLimiter
    let concurrency: ConcurrencyLimiter
    let accessLog: Logger
    /// Every documented path (its segments, `nil` for a parameter) and the methods it takes.
    let paths: [(segments: [Substring?], methods: [String])]
    /// The OpenAPI document for each listener's scheme.
    let openAPI: [GatewayConfiguration.Authentication: [UInt8]]

    /// A gateway over opened tenants; checks the configuration again.
    public init(
        configuration: GatewayConfiguration,
        tenants: [GatewayTenant],
        verifier: TokenVerifier?,
        accessLog: Logger = Logger(label: "strongroom.gateway.access") { JSONLogHandler(label: $0) }
    ) throws {
        try configuration.check()
        self.configuration = configuration
        self.tenants = Dictionary(tenants.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.mapping = try PrincipalMapping(rules: configuration.principalMappingRules)
        self.verifier = verifier
        self.rates = RateLimiter(rate: configuration.limits.requestsPerSecond, burst: configuration.limits.burst)
        let failed = configuration.limits.failedAuthenticationsPerMinute
        self.failures = RateLimiter(rate: Double(failed) / 60, burst: failed)
        self.concurrency = ConcurrencyLimiter(limit: configuration.limits.maxConcurrentRequests)
        self.accessLog = accessLog
        self.paths = OpenAPI.paths()
        self.openAPI = Dictionary(
            uniqueKeysWithValues: [GatewayConfiguration.Authentication.mtls, .oidc].map {
                ($0, OpenAPI.document(for: $0))
            }
        )
    }

    /// Opens every tenant and the JWKS the configuration names.
    public static func open(_ configuration: GatewayConfiguration) async throws -> Gateway {
        let tenants = try configuration.tenants.sorted { $0.key < $1.key }.map {
            try GatewayTenant.open(name: $0.key, $0.value)
        }
        try requireSeparateClusters(tenants)
        let verifier: TokenVerifier? =
            if let oidc = configuration.oidc, configuration.listeners.contains(where: { $0.authentication == .oidc }) {
                try await TokenVerifier(oidc)
            } else { nil }
        return try Gateway(configuration: configuration, tenants: tenants, verifier: verifier)
    }

    /// Refuses two tenants on one Kafka cluster: topic names, consumer groups and the key topic
    /// are cluster-wide, so they would see and move each other's.
    static func requireSeparateClusters(_ tenants: [GatewayTenant]) throws {
        #if Kafka
        var seen: [String: String] = [:]
        for tenant in tenants {
            guard let kafka = tenant.services.log as? KafkaEventLog else { continue }
            if let other = seen[kafka.clusterID] {
                throw GatewayConfiguration.Invalid(
                    "tenants.\(tenant.name).kafka: the same cluster as tenants.\(other); each tenant needs its own"
                )
            }
            seen[kafka.clusterID] = tenant.name
        }
        #endif
    }

    /// The methods `path` takes, by the OpenAPI document; none for an unknown path.
    func methods(of path: String) -> [String] {
        let parts = path.split(separator: "/")
        return paths.first { entry in
            entry.segments.count == parts.count
                && zip(entry.segments, parts).allSatisfy { template, part in template.map { $0 == part } ?? true }
        }?.methods ?? []
    }

    // MARK: Server

    /// One listener's HTTP server: TLS 1.3 only, a client certificate required for mTLS.
    public func server(_ listener: GatewayConfiguration.Listener) throws -> HTTPServerBuilder {
        let limits = configuration.limits
        let http = HTTP1Channel.Configuration(
            idleTimeout: .seconds(Int64(limits.idleTimeoutSeconds)),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: limits.maxHeaderBytes,
                maxHeaderListSize: limits.maxHeaderBytes,
                maxHeaderFieldCount: 100
            )
        )
        guard let tls = listener.tls else { return .http1(configuration: http) }
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
        let key = NIOSSLPrivateKeySource.privateKey(try NIOSSLPrivateKey(file: tls.privateKey, format: .pem))
        var settings =
            if let ca = tls.clientCA {
                TLSConfiguration.makeServerConfigurationWithMTLS(
                    certificateChain: chain,
                    privateKey: key,
                    trustRoots: .file(ca)
                )
            } else {
                TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
            }
        settings.minimumTLSVersion = .tlsv13
        return try .tls(.http1(configuration: http), tlsConfiguration: settings)
    }

    /// The application on the first listener; `onListening` gets the bound address.
    public func application(
        logger: Logger = Logger(label: "strongroom.gateway") { JSONLogHandler(label: $0) },
        onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        try application(configuration.listeners[0], logger: logger, onListening: onListening)
    }

    /// One application per listener, over the same tenants and limits; `onListening` gets each
    /// listener and its bound address.
    public func applications(
        logger: Logger = Logger(label: "strongroom.gateway") { JSONLogHandler(label: $0) },
        onListening: @escaping @Sendable (GatewayConfiguration.Listener, String) -> Void = { _, _ in }
    ) throws -> [some ApplicationProtocol] {
        try configuration.listeners.map { listener in
            try application(listener, logger: logger) { onListening(listener, $0) }
        }
    }

    func application(
        _ listener: GatewayConfiguration.Listener,
        logger: Logger,
        onListening: @escaping @Sendable (String) -> Void
    ) throws -> Application<RouterResponder<GatewayContext>> {
        Application(
            router: router(listener.authentication),
            server: try server(listener),
            configuration: .init(address: .hostname(listener.host, port: listener.port), serverName: "strongroom"),
            onServerRunning: { channel in
                onListening(channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?")
            },
            logger: logger
        )
    }

    /// Every route, for a listener whose clients authenticate with `authentication` (default:
    /// the first listener's).
    public func router(_ authentication: GatewayConfiguration.Authentication? = nil) -> Router<GatewayContext> {
        let scheme = authentication ?? configuration.authentication
        let router = Router(context: GatewayContext.self)
        router.add(middleware: Front(gateway: self))
        router.get("health") { _, _ in Self.json(#"{"status":"ok"}"#) }
        let authenticated = router.group().add(middleware: Authenticate(gateway: self, authentication: scheme))
        authenticated.get("ready") { _, context in try await self.ready(context) }
        authenticated.get("metrics") { _, context in try self.metrics(context) }
        let document = openAPI[scheme] ?? []
        authenticated.get("openapi.json") { _, _ in Self.json(document) }
        authenticated.post("v1/topics/:topic/records") { request, context in try await self.produce(request, context) }
        authenticated.post("v1/topics/:topic/consume") { request, context in try await self.consume(request, context) }
        authenticated.post("v1/topics/:topic/commit") { request, context in try await self.commit(request, context) }
        TopicRoutes(gateway: self).add(to: authenticated)
        RegistryRoutes(gateway: self).add(to: authenticated)
        AdminRoutes(gateway: self).add(to: authenticated)
        return router
    }

    // MARK: Handlers

    func tenant(_ context: GatewayContext) throws(Problem) -> (GatewayIdentity, GatewayTenant) {
        guard let identity = context.identity, let tenant = tenants[identity.tenant] else {
            throw Problem(.unauthorized, "unauthenticated", "Not authenticated", "no identity")
        }
        return (identity, tenant)
    }

    /// The caller's tenant's metrics, for a principal its policy lets `Describe` the cluster.
    func metrics(_ context: GatewayContext) throws -> Response {
        let (identity, tenant) = try tenant(context)
        let decision = tenant.services.policy.authorize(
            identity.principal,
            .describe,
            .cluster,
            authorization(context, tenant)
        )
        guard decision.isAllowed else {
            throw Problem(.forbidden, "denied", "Denied", "the policy does not let this principal describe the cluster")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: tenant.metrics.emitToBuffer()))
        )
    }

    func ready(_ context: GatewayContext) async throws -> Response {
        let (_, tenant) = try tenant(context)
        let services = tenant.services
        do {
            // Off the event loop: a cluster that does not answer may take its metadata timeout.
            try await NIOThreadPool.singleton.runIfActive {
                _ = try services.keys.kekVersions()
                try Self.probe(services.log)
                _ = try services.audit.latestCheckpoint()
            }
        } catch {
            throw Problem(
                .serviceUnavailable,
                "not-ready",
                "Not ready",
                "a key provider, the log or the audit log is unreachable"
            )
        }
        return Self.json(#"{"status":"ready"}"#)
    }

    /// Whether the log answers, within 2 s for a Kafka cluster (not the log's whole timeout).
    static func probe(_ log: any EventLog) throws {
        #if Kafka
        if let kafka = log as? KafkaEventLog { return try kafka.probe(timeoutMs: 2_000) }
        #endif
        _ = try log.topics()
    }

    func produce(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let (identity, tenant) = try tenant(context)
        let topic = try topicParameter(context)
        var body = try await JSONBody(request, limit: configuration.limits.maxBodyBytes)
        guard case .array(let records)? = body.reader.value("records") else {
            throw Problem(.badRequest, "bad-request", "Bad request", "records: expected an array of events")
        }
        try body.done()
        guard records.count <= configuration.limits.maxBatchRecords else {
            throw Problem(
                .contentTooLarge,
                "batch-too-large",
                "Batch too large",
                "\(records.count) records; at most \(configuration.limits.maxBatchRecords) per request"
            )
        }
        let events = records.map { record in
            var bytes: [UInt8] = []
            record.write(to: &bytes)
            return bytes
        }
        // Consumers check the signer's Produce right from the policy's own entry, not from a
        // token's roles: a right only a token gives would be accepted here and dead-lettered there.
        let own = tenant.services.policy.authorize(
            principalID: identity.principal.id,
            .produce,
            .topic(topic),
            AuthorizationContext(tenant: tenant.name, networkAttested: true)
        )
        guard own.isAllowed else {
            throw Problem(
                .forbidden,
                "denied",
                "Denied",
                "Produce must be granted to this principal itself in the policy (consumers check the signer's own right)"
            )
        }
        let producer = try tenant.producer(for: identity, sourceAddress: Self.address(context.channel))
        let correlation = context.correlationID
        let results = try await NIOThreadPool.singleton.runIfActive {
            producer.produce(events, to: topic, correlationID: correlation)
        }
        if !results.isEmpty, results.allSatisfy({ if case .failure(let e) = $0 { e.kind == .denied } else { false } }) {
            throw Problem(
                .forbidden,
                "denied",
                "Denied",
                "the policy does not let this principal produce to this topic"
            )
        }
        var out = Array(#"{"results":["#.utf8)
        var accepted = 0
        for (i, result) in results.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            switch result {
            case .success(let position):
                accepted += 1
                out += Array(#"{"partition":\#(position.partition),"offset":\#(position.offset)}"#.utf8)
            case .failure(let error):
                out += Array(#"{"error":{"kind":"#.utf8)
                JSONValue.writeString(error.kind.rawValue, to: &out)
                out += Array(#","detail":"#.utf8)
                JSONValue.writeString(error.detail, to: &out)
                out += Array("}}".utf8)
            }
        }
        out += Array(#"],"accepted":\#(accepted),"refused":\#(results.count - accepted)}"#.utf8)
        return Self.json(out)
    }

    func consume(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let (identity, tenant) = try tenant(context)
        let topic = try topicParameter(context)
        var body = try await JSONBody(request, limit: configuration.limits.maxBodyBytes)
        let consumer = try tenant.consumer(for: identity, reading: &body)
        let limit = configuration.limits.maxConsumeRecords
        let wanted = try body.reader.int("maxRecords", 1...limit) ?? min(500, limit)
        let only = try body.reader.int("partition", 0...65_535)
        let autoCommit = try body.reader.bool("commit") ?? true
        try body.done()
        let correlation = context.correlationID
        let (events, positions, stopped) = try await NIOThreadPool.singleton.runIfActive {
            () throws -> ([ConsumedEvent], [(Int, Int64)], (partition: Int, problem: Problem)?) in
            let partitions =
                try only.map { [$0] } ?? tenant.services.log.describeTopic(topic).partitions.map(\.partition)
            var events: [ConsumedEvent] = []
            var positions: [(Int, Int64)] = []
            for partition in partitions where events.count < wanted {
                do {
                    if autoCommit {
                        try consumer.consume(
                            topic: topic,
                            partition: partition,
                            maxRecords: wanted - events.count,
                            correlationID: correlation
                        ) { events += $0 }
                    } else {
                        let batch = try consumer.read(
                            topic: topic,
                            partition: partition,
                            maxRecords: wanted - events.count,
                            correlationID: correlation
                        )
                        events += batch.events
                        if let next = batch.next { positions.append((partition, next)) }
                    }
                } catch {
                    // Earlier partitions are committed (or committable): their records are answered, not lost.
                    guard !events.isEmpty || !positions.isEmpty else { throw error }
                    return (events, positions, (partition, Front.problem(for: error)))
                }
            }
            return (events, positions, nil)
        }
        var out = Array(#"{"records":["#.utf8)
        for (i, event) in events.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += Array(#"{"partition":\#(event.partition),"offset":\#(event.offset),"value":"#.utf8)
            out += event.value
            out.append(UInt8(ascii: "}"))
        }
        out += Array("]".utf8)
        if !autoCommit {
            out += Array(#","commit":["#.utf8)
            out += Array(
                positions.map { #"{"partition":\#($0.0),"offset":\#($0.1)}"# }.joined(separator: ",").utf8
            )
            out += Array("]".utf8)
        }
        if let stopped {
            out += Array(
                #","stopped":{"partition":\#(stopped.partition),"status":\#(stopped.problem.status.code),"title":"#.utf8
            )
            JSONValue.writeString(stopped.problem.title, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
        return Self.json(out)
    }

    /// Commits offsets a `"commit": false` consume handed out, each the `offset` its answer gave.
    func commit(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let (identity, tenant) = try tenant(context)
        let topic = try topicParameter(context)
        var body = try await JSONBody(request, limit: configuration.limits.maxBodyBytes)
        let consumer = try tenant.consumer(for: identity, reading: &body)
        guard case .array(let items)? = body.reader.value("offsets"), !items.isEmpty, items.count <= 65_536 else {
            throw Problem(.badRequest, "bad-request", "Bad request", "offsets: expected a non-empty array")
        }
        try body.done()
        var offsets: [(Int, Int64)] = []
        for (i, item) in items.enumerated() {
            do throws(GatewayConfiguration.Invalid) {
                var reader = try GatewayConfiguration.Reader(item, "offsets[\(i)]")
                guard let partition = try reader.int("partition", 0...65_535),
                    let offset = try reader.int("offset", 1...Int(Int64.max))
                else { throw GatewayConfiguration.Invalid("offsets[\(i)]: partition and offset are required") }
                try reader.done()
                offsets.append((partition, Int64(offset)))
            } catch { throw Problem(.badRequest, "bad-request", "Bad request", error.description) }
        }
        let correlation = context.correlationID
        try await NIOThreadPool.singleton.runIfActive { [offsets] in
            for (partition, offset) in offsets {
                try consumer.commit(topic: topic, partition: partition, offset: offset, correlationID: correlation)
            }
        }
        return Self.json(#"{"committed":\#(offsets.count)}"#)
    }

    func topicParameter(_ context: GatewayContext) throws(Problem) -> String {
        guard let topic = context.parameters.get("topic"), !topic.isEmpty else {
            throw Problem(.badRequest, "bad-request", "Bad request", "no topic")
        }
        return topic
    }

    /// The context a request is decided in: its tenant and, when the socket has one, its
    /// peer's address (attested: taken from the connection, never from a header).
    func authorization(
        _ context: GatewayContext,
        _ tenant: GatewayTenant,
        purpose: String? = nil
    ) -> AuthorizationContext {
        let address = Self.address(context.channel)
        return AuthorizationContext(
            purpose: purpose,
            sourceAddress: address,
            tenant: tenant.name,
            networkAttested: address != nil
        )
    }

    static func address(_ channel: any Channel) -> IPAddress? {
        channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) }
    }

    static func json(_ text: String) -> Response { json(Array(text.utf8)) }

    static func json(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

/// A JSON request body, read up to the limit; its members read once each, unknown ones refused.
struct JSONBody {
    var reader: GatewayConfiguration.Reader

    init(_ request: Request, limit: Int) async throws {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch {
            throw Problem(.contentTooLarge, "body-too-large", "Body too large", "the body is over \(limit) bytes")
        }
        let value: JSONValue
        do { value = try JSONValue(parsing: buffer.readableBytesView) } catch {
            throw Problem(.badRequest, "bad-request", "Bad request", "the body is not JSON")
        }
        do { reader = try GatewayConfiguration.Reader(value, "") } catch {
            throw Problem(.badRequest, "bad-request", "Bad request", "the body is not a JSON object")
        }
    }

    func done() throws(Problem) {
        do { try reader.done() } catch { throw Problem(.badRequest, "bad-request", "Bad request", error.description) }
    }
}
#endif
