#if Gateway
import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Prometheus
import Strongroom
import StrongroomAudit
import StrongroomFiles
import StrongroomGateway
import StrongroomJSON
import StrongroomKafka
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema
import StrongroomTestSupport
import Synchronization
import Testing

/// Every line a logger wrote, to scan for values that must never appear.
final class CapturedLines: Sendable {
    let lines = Mutex<[String]>([])
    var all: String { lines.withLock { $0.joined(separator: "\n") } }
    func logger(_ label: String) -> Logger {
        Logger(label: label) { label in
            JSONLogHandler(label: label) { bytes in
                self.lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) }
            }
        }
    }
}

/// A tenant's data directory made as `strongroom init --tenant NAME` would, with the example
/// topic, schema and policy (pos-terminal may produce from loopback, its producer key pinned).
struct TenantFixture: Sendable {
    let name: String
    let directory: URL
    let policy: URL

    /// `foreign`: principals declared in this tenant's policy as another tenant's.
    init(_ name: String, foreign: [String: String] = [:]) throws {
        self.name = name
        directory = TestSupport.scratchDirectory("gateway-\(name)")
        try KeyStore.initialize(dataDirectory: directory)
        try PrivateFiles.write(Array("\(name)\n".utf8), to: directory.appendingPathComponent("tenant").path)
        let examples = TestSupport.packageRoot.appendingPathComponent("examples")
        let schema = try String(
            contentsOf: examples.appendingPathComponent("loan_application.schema.json"),
            encoding: .utf8
        )
        _ = try SchemaRegistry(dataDirectory: directory).register(
            subject: "loan_applications-value",
            schema: schema,
            principal: "test"
        )
        let key = try ProducerKeys.loadOrCreate(principal: "pos-terminal", in: directory)
        let dpoKey = try ProducerKeys.loadOrCreate(principal: "dana", in: directory)
        var policy = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: examples.appendingPathComponent("policy.json")))
                as? [String: Any]
        )
        var principals = try #require(policy["principals"] as? [String: Any])
        for (id, value) in principals {
            guard var principal = value as? [String: Any] else { continue }
            principal["tenant"] = name
            if id == "pos-terminal" {
                principal["producerKeys"] = [key.publicKey.rawRepresentation.base64EncodedString()]
            }
            if id == "dana" {
                principal["producerKeys"] = [dpoKey.publicKey.rawRepresentation.base64EncodedString()]
            }
            principals[id] = principal
        }
        for (id, tenant) in foreign { principals[id] = ["kind": "user", "tenant": tenant] }
        principals["schema-admin"] = ["kind": "service", "tenant": name]
        policy["principals"] = principals
        var rules = try #require(policy["rules"] as? [[String: Any]])
        for i in rules.indices where rules[i]["id"] as? String == "pos-produce-applications" {
            rules[i]["conditions"] = ["cidrs": ["127.0.0.0/8", "::1/128"]]
        }
        // Erasure in office hours only is the example's rule; tests run at any hour.
        for i in rules.indices where rules[i]["id"] as? String == "dpo-erase-subject-keys" {
            rules[i]["conditions"] = ["cidrs": ["127.0.0.1/32", "::1/128"]]
        }
        rules.append([
            "id": "ops-cluster", "effect": "allow", "principals": ["schema-admin"], "actions": ["Describe", "Admin"],
            "resource": ["type": "cluster"],
        ])
        rules.append([
            "id": "schema-admins", "effect": "allow", "principals": ["schema-admin"], "actions": ["Alter", "Describe"],
            "resource": ["type": "subject", "name": "", "pattern": "prefixed"],
        ])
        rules.append([
            "id": "ops-describe-topics", "effect": "allow", "principals": ["schema-admin"], "actions": ["Describe"],
            "resource": ["type": "topic", "name": "", "pattern": "prefixed"],
        ])
        policy["rules"] = rules
        self.policy = directory.appendingPathComponent("policy.json")
        try JSONSerialization.data(withJSONObject: policy).write(to: self.policy)
    }

    func tenant(logger: Logger) throws -> GatewayTenant {
        let metrics = PrometheusCollectorRegistry()
        let services = StrongroomServices(
            keys: try KeyStore.open(dataDirectory: directory),
            log: try SQLiteEventLog(dataDirectory: directory),
            registry: try SchemaRegistry(dataDirectory: directory),
            policy: try PolicyEngine(contentsOf: policy),
            audit: try AuditLog(dataDirectory: directory),
            tenant: name,
            logger: logger,
            metrics: PrometheusMetricsFactory(registry: metrics)
        )
        try services.createTopic(
            "loan_applications",
            config: TopicConfig(partitions: 2, classification: "RESTRICTED", encryptionRequired: true)
        )
        return GatewayTenant(name: name, directory: directory, services: services, metrics: metrics)
    }

    var configuration: GatewayConfiguration.Tenant {
        .init(dataDirectory: directory.path, policy: policy.path)
    }
}

/// The example events, and every PII value in them (for scans).
enum Events {
    static let lines: [String] = {
        let url = TestSupport.packageRoot.appendingPathComponent("examples/loan_applications.jsonl")
        return ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }()

    /// The PII of every example event: SSN, name, email, phone, date of birth, street.
    static var pii: [String] {
        lines.flatMap { line -> [String] in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return []
            }
            let address = object["address"] as? [String: Any]
            return ["ssn", "fullName", "email", "phone", "dateOfBirth"].compactMap { object[$0] as? String }
                + [address?["street"] as? String].compactMap { $0 }
        }
    }

    static func batch(_ lines: [String]) -> String { #"{"records":["# + lines.joined(separator: ",") + "]}" }
}

@Suite("Gateway over real TLS 1.3 with client certificates", .serialized)
struct GatewayMTLSTests {
    let ca: DevCredentials.Authority
    let folder = TestSupport.scratchDirectory("gateway-pki")

    init() throws {
        ca = try DevCredentials.Authority()
    }

    /// Writes `ca.pem`, `server.pem` and `server.key` into the folder.
    func writeServerFiles() throws {
        let server = try ca.server()
        for (name, text) in [
            ("ca.pem", try ca.pem), ("server.pem", server.certificate), ("server.key", server.privateKey),
        ] {
            try Data(text.utf8).write(to: folder.appendingPathComponent(name))
        }
    }

    /// Writes the CA and server files; an mTLS configuration on a free port for tenant bfb.
    func mtlsConfiguration(_ fixture: TenantFixture) throws -> GatewayConfiguration {
        try writeServerFiles()
        var configuration = GatewayConfiguration(authentication: .mtls, tenants: ["bfb": fixture.configuration])
        configuration.port = 0
        configuration.tls = .init(
            certificate: folder.appendingPathComponent("server.pem").path,
            privateKey: folder.appendingPathComponent("server.key").path,
            clientCA: folder.appendingPathComponent("ca.pem").path
        )
        configuration.principalMappingRules = #"RULE:^CN=([a-zA-Z0-9._-]+),.*$/$1/"#
        return configuration
    }

    /// Starts a gateway on a free port, runs `body`, stops it.
    func withGateway(
        limits: GatewayConfiguration.Limits = .init(),
        revoked: [String] = [],
        kafka: GatewayConfiguration.Kafka? = nil,
        _ body: (_ port: Int, _ captured: CapturedLines) async throws -> Void
    ) async throws {
        let fixture = try TenantFixture("bfb")
        var configuration = try mtlsConfiguration(fixture)
        configuration.revokedSubjects = revoked
        configuration.limits = limits
        let captured = CapturedLines()
        let tenant: GatewayTenant
        if let kafka {
            var onKafka = fixture.configuration
            onKafka.kafka = kafka
            tenant = try GatewayTenant.open(name: "bfb", onKafka)
            try tenant.services.createTopic(
                "loan_applications",
                config: TopicConfig(partitions: 2, classification: "RESTRICTED", encryptionRequired: true)
            )
        } else {
            tenant = try fixture.tenant(logger: captured.logger("strongroom.pipeline"))
        }
        let gateway = try Gateway(
            configuration: configuration,
            tenants: [tenant],
            verifier: nil,
            accessLog: captured.logger("strongroom.gateway.access")
        )
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = try gateway.application { address in
            continuation.yield(Int(address.split(separator: ":").last ?? "") ?? 0)
        }
        let running = Task { try await application.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        do {
            try await body(port, captured)
        } catch {
            running.cancel()
            throw error
        }
        running.cancel()
        _ = await running.result
    }

    /// A client presenting `identity` (nil: none), trusting `trust` (default: the test CA).
    func client(
        _ identity: DevCredentials.Issued?,
        trust: String? = nil,
        maximumTLS: TLSVersion? = nil
    ) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array((try trust ?? ca.pem).utf8), format: .pem)])
        if let identity {
            tls.certificateChain = [
                .certificate(try NIOSSLCertificate(bytes: Array(identity.certificate.utf8), format: .pem))
            ]
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKey.utf8), format: .pem))
        }
        if let maximumTLS { tls.maximumTLSVersion = maximumTLS }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }

    func send(
        _ client: HTTPClient,
        _ port: Int,
        _ path: String,
        body: String? = nil
    ) async throws -> (status: Int, body: String, headers: [String: String]) {
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)\(path)")
        if let body {
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(20))
        let bytes = try await response.body.collect(upTo: 8 << 20)
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        return (Int(response.status.code), String(buffer: bytes), headers)
    }

    @Test("no certificate, an untrusted CA, TLS 1.2 and an expired certificate never reach a handler")
    func refusedHandshakes() async throws {
        try await withGateway { port, captured in
            let other = try DevCredentials.Authority(commonName: "Someone Else's CA")
            let cases: [(String, HTTPClient)] = [
                ("no certificate", try client(nil)),
                ("untrusted CA", try client(try other.client(commonName: "pos-terminal"))),
                ("TLS 1.2", try client(try ca.client(commonName: "pos-terminal"), maximumTLS: .tlsv12)),
                (
                    "expired",
                    try client(
                        try ca.client(
                            commonName: "pos-terminal",
                            notBefore: Date() - 10 * 86_400,
                            notAfter: Date() - 86_400
                        )
                    )
                ),
            ]
            for (name, client) in cases {
                await #expect(throws: (any Error).self, "\(name)") { _ = try await send(client, port, "/health") }
                try await client.shutdown()
            }
            #expect(!captured.all.contains(#""status":"200""#), "no request was handled")
            let good = try client(try ca.client(commonName: "pos-terminal"))
            #expect(try await send(good, port, "/health").status == 200)
            try await good.shutdown()
        }
    }

    @Test("a revoked subject and an unmapped or undeclared principal get 401/403 problems")
    func refusedIdentities() async throws {
        let revoked = "CN=pos-terminal,OU=payments,O=Acme Bank"
        try await withGateway(revoked: [revoked]) { port, _ in
            let client = try client(try ca.client(commonName: "pos-terminal"))
            let refused = try await send(client, port, "/ready")
            #expect(refused.status == 401)
            #expect(refused.headers["content-type"] == "application/problem+json")
            #expect(refused.body.contains("revoked"))
            try await client.shutdown()
            let stranger = try self.client(try ca.client(commonName: "nobody"))
            let unknown = try await send(stranger, port, "/ready")
            #expect(unknown.status == 403, "\(unknown.body)")
            try await stranger.shutdown()
        }
    }

    @Test("produce and consume through the pipeline; per-record refusals; no PII in logs or problems")
    func produceAndConsume() async throws {
        try await withGateway { port, captured in
            let pos = try client(try ca.client(commonName: "pos-terminal"))
            #expect(try await send(pos, port, "/ready").status == 200)
            var bad = Events.lines[1]
            bad = bad.replacingOccurrences(of: #""currency":"EUR""#, with: #""currency":"DOLLARS""#)
            let produced = try await send(
                pos,
                port,
                "/v1/topics/loan_applications/records",
                body: Events.batch([Events.lines[0], bad, Events.lines[2]])
            )
            #expect(produced.status == 200, "\(produced.body)")
            let results = try JSONValue(parsing: produced.body)
            #expect(produced.body.contains(#""accepted":2,"refused":1"#), "\(produced.body)")
            #expect(produced.body.contains("schema violation"))
            #expect(results.objectMembers != nil)
            #expect(produced.headers["traceparent"]?.hasPrefix("00-") == true)
            // The producer may not read.
            let denied = try await send(
                pos,
                port,
                "/v1/topics/loan_applications/consume",
                body: #"{"group":"pos","purpose":"credit-check"}"#
            )
            #expect(denied.status == 403, "\(denied.body)")
            try await pos.shutdown()

            let fraud = try client(try ca.client(commonName: "fraud-service"))
            let consumed = try await send(
                fraud,
                port,
                "/v1/topics/loan_applications/consume",
                body: #"{"group":"fraud-gateway","purpose":"credit-check"}"#
            )
            #expect(consumed.status == 200, "\(consumed.body)")
            #expect(consumed.body.contains("123-45-6789"), "fraud-service decrypts the SSN for credit checks")
            #expect(consumed.body.components(separatedBy: #""offset""#).count == 3, "two records")
            let again = try await send(
                fraud,
                port,
                "/v1/topics/loan_applications/consume",
                body: #"{"group":"fraud-gateway","purpose":"credit-check"}"#
            )
            #expect(again.body == #"{"records":[]}"#, "committed: nothing new")
            try await fraud.shutdown()
            #expect(Events.pii.count == 24)
            for value in Events.pii {
                #expect(!captured.all.contains(value), "\(value) in a log line")
                #expect(!produced.body.contains(value) && !denied.body.contains(value))
            }
            #expect(captured.all.contains(#""principal":"pos-terminal""#), "the access log names the principal")
            let monitor = try client(try ca.client(commonName: "schema-admin"))
            let metrics = try await send(monitor, port, "/metrics")
            #expect(metrics.status == 200 && metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
            #expect(
                metrics.body.contains(
                    #"strongroom_http_requests_total{route="/v1/topics/{topic}/records",status="200",tenant="bfb"} 1"#
                ),
                "\(metrics.body.prefix(3000))"
            )
            #expect(metrics.body.contains(#"strongroom_http_request_duration_seconds_bucket{"#))
            #expect(
                metrics.body.contains(#"strongroom_records_produced_total{topic="loan_applications"} 2"#),
                "the pipeline's own counters"
            )
            for value in Events.pii { #expect(!metrics.body.contains(value), "\(value) in /metrics") }
            try await monitor.shutdown()
            let other = try client(try ca.client(commonName: "pos-terminal"))
            #expect(try await send(other, port, "/metrics").status == 403, "metrics need Describe on the cluster")
            try await other.shutdown()
        }
    }

    @Test("confluent-kafka's SchemaRegistryClient registers, fetches, checks and is refused through the gateway")
    func schemaRegistryClient() async throws {
        try await withGateway { port, _ in
            var files: [String] = []
            for name in ["schema-admin", "pos-terminal"] {
                let issued = try ca.client(commonName: name)
                for (suffix, text) in [("pem", issued.certificate), ("key", issued.privateKey)] {
                    let url = folder.appendingPathComponent("\(name).\(suffix)")
                    try PrivateFiles.write(Array(text.utf8), to: url.path)
                    files.append(url.path)
                }
            }
            let (status, text) = try await run([
                "python3", TestSupport.packageRoot.appendingPathComponent("scripts/schema_registry_interop.py").path,
                "https://127.0.0.1:\(port)", folder.appendingPathComponent("ca.pem").path, files[0], files[1],
                TestSupport.packageRoot.appendingPathComponent("examples/loan_application.schema.json").path,
                files[2], files[3],
            ])
            #expect(status == 0, "\(text.suffix(2000))")
            #expect(text.contains("OK: registered"))
        }
    }

    @Test("data-subject requests, keys, the audit log and policy explanations through the gateway")
    func administration() async throws {
        try await withGateway { port, captured in
            let pos = try client(try ca.client(commonName: "pos-terminal"))
            let produced = try await send(
                pos,
                port,
                "/v1/topics/loan_applications/records",
                body: Events.batch(Events.lines)
            )
            #expect(produced.body.contains(#""accepted":4"#), "\(produced.body)")
            #expect(try await send(pos, port, "/v1/keys").status == 403, "keys need Admin on the cluster")
            try await pos.shutdown()

            let dana = try client(try ca.client(commonName: "dana"))
            let subject = #"{"subject":"CUST-00000001"}"#
            let access = try await send(dana, port, "/v1/dsr/access", body: subject)
            #expect(access.status == 200 && access.body.contains(#""count":2"#), "\(access.body.prefix(400))")
            let export = try await send(dana, port, "/v1/dsr/export", body: subject)
            #expect(export.status == 200 && export.body.contains("123-45-6789"), "the DPO's export is decrypted")
            let erased = try await send(dana, port, "/v1/dsr/erase", body: subject)
            #expect(erased.status == 200 && erased.body.contains(#""alreadyErased":false"#), "\(erased.body)")
            try await dana.shutdown()

            let admin = try client(try ca.client(commonName: "schema-admin"))
            let finalized = try await send(admin, port, "/v1/keys/finalize", body: "{}")
            #expect(
                finalized.status == 200 && finalized.body.contains(#""finalized":["#),
                "\(finalized.status) \(finalized.body)"
            )
            let keys = try await send(admin, port, "/v1/keys")
            #expect(keys.status == 200 && keys.body.contains(#""keyID""#), "\(keys.body.prefix(300))")
            let verified = try await send(admin, port, "/v1/audit/verify")
            #expect(verified.status == 200 && verified.body.contains(#""verified":true"#), "\(verified.body)")
            let checkpoint = try await send(admin, port, "/v1/audit/checkpoint")
            #expect(checkpoint.status == 200 && checkpoint.body.contains("strongroom"), "\(checkpoint.body)")
            let explained = try await send(
                admin,
                port,
                "/v1/policy/explain",
                body:
                    #"{"principal":"analytics","action":"Decrypt","resource":"field:loan_applications/ssn","purpose":"reporting"}"#
            )
            #expect(explained.body.contains(#""allowed":false"#) && explained.body.contains("analytics-never-decrypts"))
            try await admin.shutdown()

            let fraud = try client(try ca.client(commonName: "fraud-service"))
            let consumed = try await send(
                fraud,
                port,
                "/v1/topics/loan_applications/consume",
                body: #"{"group":"fraud-after-erasure","purpose":"credit-check"}"#
            )
            #expect(consumed.body.contains(#"{"$erased":true}"#), "the erased customer reads as erased")
            #expect(!consumed.body.contains("123-45-6789"))
            try await fraud.shutdown()
            #expect(!captured.all.contains("CUST-00000001"), "no subject id in a log line")
            for value in Events.pii { #expect(!captured.all.contains(value), "\(value) in a log line") }
        }
    }

    @Test("topics, consume with an explicit commit, key rotation and erasure, rectify, audit proofs and export")
    func operations() async throws {
        try await withGateway { port, captured in
            let clients = try ["pos-terminal", "schema-admin", "fraud-service", "dana"].map {
                try client(try ca.client(commonName: $0))
            }
            do { try await operations(port, captured, clients) } catch {
                for client in clients { try await client.shutdown() }
                throw error
            }
            for client in clients { try await client.shutdown() }
        }
    }

    func operations(_ port: Int, _ captured: CapturedLines, _ clients: [HTTPClient]) async throws {
        do {
            let (pos, admin, fraud, dana) = (clients[0], clients[1], clients[2], clients[3])
            let produced = try await send(
                pos,
                port,
                "/v1/topics/loan_applications/records",
                body: Events.batch(Events.lines)
            )
            #expect(produced.body.contains(#""accepted":4"#), "\(produced.body)")

            // Topics: each caller sees only what it may describe; creating needs Admin on the cluster.
            #expect(try await send(pos, port, "/v1/topics").body == #"{"topics":[]}"#)
            let listed = try await send(fraud, port, "/v1/topics")
            #expect(listed.status == 200 && listed.body.contains(#""name":"loan_applications""#), "\(listed.body)")
            #expect(!listed.body.contains("loan_applications.dlq"), "fraud may not describe the dead letters")
            let described = try await send(fraud, port, "/v1/topics/loan_applications")
            #expect(described.status == 200 && described.body.contains(#""partitions":["#), "\(described.body)")
            #expect(try await send(pos, port, "/v1/topics/loan_applications").status == 403)
            let decisions = #"{"name":"loan_decisions","partitions":3,"classification":"CONFIDENTIAL"}"#
            #expect(try await send(pos, port, "/v1/topics", body: decisions).status == 403)
            let created = try await send(admin, port, "/v1/topics", body: decisions)
            #expect(created.status == 201 && created.body.contains(#""partition":2"#), "\(created.body)")
            #expect(try await send(admin, port, "/v1/topics", body: decisions).status == 409)
            let badClass = try await send(admin, port, "/v1/topics", body: #"{"name":"x","classification":"SECRET"}"#)
            #expect(badClass.status == 400, "\(badClass.body)")
            #expect(try await send(admin, port, "/v1/topics", body: #"{"name":"y","colour":"red"}"#).status == 400)

            // Consume without committing: the same records come again until the commit.
            let manual = #"{"group":"fraud-manual","purpose":"credit-check","commit":false,"maxRecords":3}"#
            let path = "/v1/topics/loan_applications/consume"
            let first = try await send(fraud, port, path, body: manual)
            #expect(first.status == 200, "\(first.body)")
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(first.body.utf8)) as? [String: Any])
            let records = try #require(answer["records"] as? [[String: Any]])
            let commit = try #require(answer["commit"] as? [[String: Any]])
            #expect(records.count == 3 && !commit.isEmpty, "\(first.body.prefix(300))")
            let replay = try await send(fraud, port, path, body: manual)
            #expect(replay.body == first.body, "nothing was committed, so the same records come again")
            let offsets = String(decoding: try JSONSerialization.data(withJSONObject: commit), as: UTF8.self)
            let commitPath = "/v1/topics/loan_applications/commit"
            let beyond = #"{"group":"fraud-manual","purpose":"credit-check","offsets":[{"partition":0,"offset":999}]}"#
            let refused = try await send(fraud, port, commitPath, body: beyond)
            #expect(refused.status == 409, "an offset never handed out: \(refused.body)")
            let committed = try await send(
                fraud,
                port,
                commitPath,
                body: #"{"group":"fraud-manual","purpose":"credit-check","offsets":\#(offsets)}"#
            )
            #expect(
                committed.status == 200 && committed.body == #"{"committed":\#(commit.count)}"#,
                "\(committed.body)"
            )
            let rest = try await send(fraud, port, path, body: manual)
            let restRecords = try #require(
                (try JSONSerialization.jsonObject(with: Data(rest.body.utf8)) as? [String: Any])?["records"] as? [Any]
            )
            #expect(restRecords.count == 1, "after the commit only the fourth record is left: \(rest.body.prefix(300))")
            let posCommit = try await send(pos, port, commitPath, body: beyond)
            #expect(posCommit.status == 403, "\(posCommit.body)")

            // Keys: a new version for a subject; an erasure by the administrator, once.
            let rotated = try await send(admin, port, "/v1/keys/rotate", body: #"{"subject":"CUST-00000002"}"#)
            #expect(rotated.status == 200 && rotated.body.contains(":v2"), "\(rotated.body)")
            let both = #"{"subject":"CUST-00000002","topic":"loan_applications"}"#
            #expect(try await send(admin, port, "/v1/keys/rotate", body: both).status == 400)
            #expect(try await send(pos, port, "/v1/keys/rotate", body: #"{"subject":"CUST-00000002"}"#).status == 403)
            let erased = try await send(admin, port, "/v1/keys/erase", body: #"{"subject":"CUST-00000002"}"#)
            #expect(erased.status == 200 && erased.body.contains(#""alreadyErased":false"#), "\(erased.body)")
            let again = try await send(admin, port, "/v1/keys/erase", body: #"{"subject":"CUST-00000002"}"#)
            #expect(again.body.contains(#""alreadyErased":true"#), "\(again.body)")
            #expect(try await send(pos, port, "/v1/keys/erase", body: #"{"subject":"CUST-00000003"}"#).status == 403)

            // Rectify: a corrected event of the same subject, appended and signed as the DPO.
            let corrected = Events.lines[2].replacingOccurrences(of: "Chloe Dubois", with: "Chloe Dubois-Martin")
            let rectified = try await send(
                dana,
                port,
                "/v1/dsr/rectify",
                body: #"{"subject":"CUST-00000003","topic":"loan_applications","event":\#(corrected)}"#
            )
            #expect(rectified.status == 200 && rectified.body.contains(#""offset""#), "\(rectified.body)")
            let otherSubject = try await send(
                dana,
                port,
                "/v1/dsr/rectify",
                body: #"{"subject":"CUST-00000001","topic":"loan_applications","event":\#(corrected)}"#
            )
            #expect(otherSubject.status == 422, "the correction must name the same subject: \(otherSubject.body)")
            let read = try await send(fraud, port, path, body: #"{"group":"fraud-rectified","purpose":"credit-check"}"#)
            // fraud-service reads names masked: the correction shows as the subject's second event.
            #expect(read.body.components(separatedBy: #""customerId":"CUST-00000003""#).count == 3, "read back")

            // The audit log: proofs verified by the server, entries exported with a cursor.
            let inclusion = try await send(admin, port, "/v1/audit/proofs/inclusion?index=0")
            #expect(inclusion.status == 200 && inclusion.body.contains(#""verified":true"#), "\(inclusion.body)")
            #expect(try await send(admin, port, "/v1/audit/proofs/inclusion?index=99999").status == 404)
            #expect(try await send(admin, port, "/v1/audit/proofs/inclusion?index=0&colour=red").status == 400)
            let consistency = try await send(admin, port, "/v1/audit/proofs/consistency?old=1&new=5")
            #expect(consistency.status == 200 && consistency.body.contains(#""oldSize":1"#), "\(consistency.body)")
            let exported = try await send(admin, port, "/v1/audit/entries?from=0&limit=3")
            #expect(exported.status == 200 && exported.headers["strongroom-next-index"] == "3")
            #expect(exported.body.split(separator: "\n").count == 3)
            let cef = try await send(admin, port, "/v1/audit/entries?from=3&limit=2&format=cef")
            #expect(cef.body.hasPrefix("CEF:0|") && cef.headers["strongroom-next-index"] == "5", "\(cef.body)")
            #expect(try await send(pos, port, "/v1/audit/entries").status == 403)
            let everything = try await send(admin, port, "/v1/audit/entries?limit=10000")
            #expect(everything.body.contains(#""action":"Rectify""#) && everything.body.contains(#""action":"Erase""#))
            #expect(everything.body.contains(#""action":"CreateTopic""#) && everything.body.contains(#""RotateKey""#))
            for text in [everything.body, captured.all] {
                #expect(!text.contains("CUST-0000000"), "no subject id in the audit log or a log line")
                for value in Events.pii { #expect(!text.contains(value), "\(value) in the audit log or a log line") }
            }
        }
    }

    #if Kafka
    @Test("a tenant on Kafka: produce and consume through the gateway; an erasure reaches the cluster at once")
    func onKafka() async throws {
        let cluster = try MockKafkaCluster(brokers: 1)
        let properties = folder.appendingPathComponent("client.properties")
        try Data("bootstrap.servers=\(cluster.bootstrapServers)\nsecurity.protocol=PLAINTEXT\n".utf8).write(
            to: properties
        )
        try await withGateway(kafka: .init(properties: properties.path, allowPlaintext: true)) { port, _ in
            let pos = try client(try ca.client(commonName: "pos-terminal"))
            let fraud = try client(try ca.client(commonName: "fraud-service"))
            let dana = try client(try ca.client(commonName: "dana"))
            let produced = try await send(
                pos,
                port,
                "/v1/topics/loan_applications/records",
                body: Events.batch(Events.lines)
            )
            #expect(produced.status == 200 && produced.body.contains(#""accepted":4"#), "\(produced.body)")
            let consumed = try await send(
                fraud,
                port,
                "/v1/topics/loan_applications/consume",
                body: #"{"group":"fraud-kafka","purpose":"credit-check"}"#
            )
            #expect(consumed.body.components(separatedBy: #""offset""#).count == 5, "\(consumed.body.prefix(300))")
            #expect(consumed.body.contains("123-45-6789"), "decrypted from records stored on Kafka")
            // The erasure's key metadata is on the cluster before the answer: no append needed.
            let keys = try KafkaEventLog(
                .init(
                    connection: KafkaConnection(
                        bootstrapServers: cluster.bootstrapServers,
                        securityProtocol: .plaintext,
                        allowPlaintext: true
                    )
                )
            )
            let before = try keys.describeTopic("__strongroom_keys").partitions.map(\.endOffset).reduce(0, +)
            let erased = try await send(dana, port, "/v1/dsr/erase", body: #"{"subject":"CUST-00000001"}"#)
            #expect(erased.status == 200, "\(erased.body)")
            let after = try keys.describeTopic("__strongroom_keys").partitions.map(\.endOffset).reduce(0, +)
            #expect(after > before, "the erasure was published to the key topic")
            let again = try await send(
                fraud,
                port,
                "/v1/topics/loan_applications/consume",
                body: #"{"group":"fraud-kafka-after","purpose":"credit-check"}"#
            )
            #expect(again.body.contains(#"{"$erased":true}"#) && !again.body.contains("123-45-6789"))
            // Ready only while the cluster answers.
            #expect(try await send(pos, port, "/ready").status == 200)
            cluster.setBroker(1, up: false)
            let down = try await send(pos, port, "/ready")
            #expect(down.status == 503 && down.body.contains("not-ready"), "\(down.body)")
            cluster.setBroker(1, up: true)
            // A second tenant on the same cluster would share its topics and groups: refused.
            var twoOnOne = try mtlsConfiguration(try TenantFixture("bfb"))
            for name in ["bfb", "other"] {
                var tenant = try TenantFixture(name).configuration
                tenant.kafka = .init(properties: properties.path, allowPlaintext: true)
                twoOnOne.tenants[name] = tenant
            }
            let sameCluster = await #expect(throws: GatewayConfiguration.Invalid.self) {
                _ = try await Gateway.open(twoOnOne)
            }
            #expect(sameCluster?.description.contains("the same cluster") == true, "\(String(describing: sameCluster))")
            for client in [pos, fraud, dana] { try await client.shutdown() }
        }
    }
    #endif

    @Test("the body limit, the batch limit and the tenant's rate limit trip at their configured values")
    func limits() async throws {
        var limits = GatewayConfiguration.Limits()
        limits.maxBodyBytes = 4_096
        limits.maxBatchRecords = 2
        limits.requestsPerSecond = 0.05
        limits.burst = 4
        try await withGateway(limits: limits) { port, _ in
            let pos = try client(try ca.client(commonName: "pos-terminal"))
            let path = "/v1/topics/loan_applications/records"
            let large = try await send(pos, port, path, body: Events.batch(Array(repeating: Events.lines[0], count: 8)))
            #expect(large.status == 413, "\(large.body)")
            let many = try await send(pos, port, path, body: Events.batch(Array(Events.lines.prefix(3))))
            #expect(many.status == 413 && many.body.contains("at most 2"), "\(many.body)")
            for _ in 0..<2 { #expect(try await send(pos, port, "/ready").status == 200) }
            let limited = try await send(pos, port, "/ready")
            #expect(limited.status == 429, "the fifth request, past a burst of 4: \(limited.body)")
            #expect(Int(limited.headers["retry-after"] ?? "") ?? 0 >= 1)
            try await pos.shutdown()
        }
    }
}
#endif

#if Gateway
@Suite("Gateway with OIDC bearer tokens: claims checked, tenants apart", .serialized)
struct GatewayOIDCTests {
    static let issuerName = "https://issuer.strongroom.test"

    /// Starts a plaintext gateway (allowed for this test) over tenants bfb and other.
    func withGateway(
        limits: GatewayConfiguration.Limits = .init(),
        _ body:
            @escaping @Sendable (TokenIssuer, TenantFixture, TenantFixture, any TestClientProtocol, CapturedLines)
            async throws -> Void
    ) async throws {
        let issuer = try TokenIssuer(folder: TestSupport.scratchDirectory("gateway-issuer"))
        let bfb = try TenantFixture("bfb")
        let other = try TenantFixture("other", foreign: ["auditor-bfb": "bfb"])
        var configuration = GatewayConfiguration(
            authentication: .oidc,
            tenants: ["bfb": bfb.configuration, "other": other.configuration]
        )
        configuration.port = 0
        configuration.allowPlaintext = true
        configuration.limits = limits
        var oidc = GatewayConfiguration.OIDC(jwks: issuer.jwks.path, issuer: Self.issuerName, audience: "strongroom")
        oidc.clockSkewSeconds = 30
        configuration.oidc = oidc
        let captured = CapturedLines()
        let gateway = try Gateway(
            configuration: configuration,
            tenants: [
                try bfb.tenant(logger: captured.logger("strongroom.pipeline")),
                try other.tenant(logger: captured.logger("strongroom.pipeline")),
            ],
            verifier: try await TokenVerifier(oidc),
            accessLog: captured.logger("strongroom.gateway.access")
        )
        try await gateway.application().test(.live) { client in try await body(issuer, bfb, other, client, captured) }
    }

    typealias TokenIssuer = DevCredentials.TokenIssuer

    func token(
        _ issuer: TokenIssuer,
        subject: String = "pos-terminal",
        tenant: String = "bfb",
        roles: [String] = [],
        issuerName: String = issuerName,
        audience: String = "strongroom",
        lifetime: TimeInterval = 600,
        extra: [String: JSONValue] = [:]
    ) async throws -> String {
        try await issuer.token(
            subject: subject,
            tenant: tenant,
            roles: roles,
            issuer: issuerName,
            audience: audience,
            lifetime: lifetime,
            extra: extra
        )
    }

    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @discardableResult
    func call(
        _ client: any TestClientProtocol,
        _ token: String?,
        _ uri: String,
        body: String? = nil
    ) async throws -> (status: Int, body: String) {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(
            uri: uri,
            method: body == nil ? .get : .post,
            headers: headers,
            body: body.map { ByteBuffer(string: $0) }
        ) { response in (Int(response.status.code), String(buffer: response.body)) }
    }

    @Test(
        "expired, not yet valid, wrong audience, wrong issuer, alg none, HS256 keyed with the public key, a bad signature and no tenant are refused"
    )
    func refusedTokens() async throws {
        try await withGateway { issuer, _, _, client, _ in
            let good = try await token(issuer)
            #expect(try await call(client, good, "/ready").status == 200)
            #expect(try await call(client, nil, "/ready").status == 401, "no token")
            #expect(try await call(client, nil, "/health").status == 200, "health alone is open")
            let parts = good.split(separator: ".").map(String.init)
            let payload = parts[1]
            let jwks = try Data(contentsOf: issuer.jwks)
            let hsHeader = Self.base64URL(Array(#"{"alg":"HS256","typ":"JWT","kid":"\#(issuer.keyID)"}"#.utf8))
            let hsMAC = HMAC<SHA256>.authenticationCode(
                for: Data("\(hsHeader).\(payload)".utf8),
                using: SymmetricKey(data: jwks)
            )
            var flipped = Array(parts[2])
            flipped[5] = flipped[5] == "A" ? "B" : "A"
            let cases: [(String, String)] = [
                ("expired", try await token(issuer, lifetime: -120)),
                (
                    "not yet valid",
                    try await token(issuer, extra: ["nbf": .number(String(Int(Date().timeIntervalSince1970) + 600))])
                ),
                ("wrong audience", try await token(issuer, audience: "someone-else")),
                ("wrong issuer", try await token(issuer, issuerName: "https://evil.example")),
                ("alg none", Self.base64URL(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + ".\(payload)."),
                ("HS256 with the public key", "\(hsHeader).\(payload).\(Self.base64URL(hsMAC))"),
                ("bad signature", "\(parts[0]).\(payload).\(String(flipped))"),
                ("no tenant", try await token(issuer, tenant: "")),
                ("not a JWT", "not-a-token"),
            ]
            for (name, token) in cases {
                let answer = try await call(client, token, "/ready")
                #expect(answer.status == 401, "\(name): \(answer.body)")
                #expect(answer.body.contains("urn:strongroom:problem:unauthenticated"), "\(name)")
            }
            let unknown = try await call(client, try await token(issuer, tenant: "nobody"), "/ready")
            #expect(unknown.status == 403, "a tenant not served here")
            // A header naming no key of the set, or another key's algorithm, is refused before any
            // signature check; so is a JWKS holding a key for an algorithm not on the list.
            for header in [
                #"{"alg":"ES256","typ":"JWT"}"#, #"{"alg":"ES256","kid":"other"}"#,
                #"{"alg":"RS256","kid":"\#(issuer.keyID)"}"#,
            ] {
                let forged = Self.base64URL(Array(header.utf8)) + ".\(payload).\(parts[2])"
                #expect(try await call(client, forged, "/ready").status == 401, "\(header)")
            }
            let weak = TestSupport.scratchDirectory("jwks").appendingPathComponent("jwks.json")
            try Data(#"{"keys":[{"kty":"RSA","alg":"RS512","kid":"k","n":"AQAB","e":"AQAB"}]}"#.utf8).write(to: weak)
            await #expect(throws: TokenVerifier.Refused.self) {
                _ = try await TokenVerifier(.init(jwks: weak.path, issuer: Self.issuerName, audience: "strongroom"))
            }
        }
    }

    @Test("a tenant's data is invisible to another; a principal claimed in the wrong tenant is refused and audited")
    func tenants() async throws {
        try await withGateway { issuer, bfb, other, client, captured in
            let pos = try await token(issuer)
            let produced = try await call(
                client,
                pos,
                "/v1/topics/loan_applications/records",
                body: Events.batch(Events.lines)
            )
            #expect(produced.status == 200 && produced.body.contains(#""accepted":4"#), "\(produced.body)")
            let consume = #"{"group":"fraud-gateway","purpose":"credit-check"}"#
            // The same principal and topic names in the other tenant reach the other tenant's data.
            let elsewhere = try await call(
                client,
                try await token(issuer, subject: "fraud-service", tenant: "other"),
                "/v1/topics/loan_applications/consume",
                body: consume
            )
            #expect(elsewhere.status == 200 && elsewhere.body == #"{"records":[]}"#, "\(elsewhere.body)")
            let home = try await call(
                client,
                try await token(issuer, subject: "fraud-service"),
                "/v1/topics/loan_applications/consume",
                body: consume
            )
            #expect(home.body.components(separatedBy: #""offset""#).count == 5, "\(home.body.prefix(200))")

            // auditor-bfb is declared in other's policy as bfb's: a token placing it in other is refused.
            let crossed = try await call(
                client,
                try await token(issuer, subject: "auditor-bfb", tenant: "other"),
                "/ready"
            )
            #expect(crossed.status == 403 && crossed.body.contains("tenant-mismatch"), "\(crossed.body)")
            let entries = try AuditLog(dataDirectory: other.directory).entries(from: 0, limit: 1_000)
            #expect(entries.contains { String(decoding: $0.bytes, as: UTF8.self).contains("tenant mismatch") })
            let bfbEntries = try AuditLog(dataDirectory: bfb.directory).entries(from: 0, limit: 1_000)
            #expect(!bfbEntries.contains { String(decoding: $0.bytes, as: UTF8.self).contains("tenant mismatch") })

            // Topics, keys, schemas and audit entries made in bfb are not there for other's
            // administrator, whatever names it asks for.
            let bfbAdmin = try await token(issuer, subject: "schema-admin")
            let otherAdmin = try await token(issuer, subject: "schema-admin", tenant: "other")
            let created = try await call(client, bfbAdmin, "/v1/topics", body: #"{"name":"bfb_only"}"#)
            #expect(created.status == 201, "\(created.body)")
            let schema = try String(
                contentsOf: TestSupport.packageRoot.appendingPathComponent("examples/loan_decision.schema.json"),
                encoding: .utf8
            )
            var registration: [UInt8] = []
            JSONValue.object([.init("schema", .string(schema)), .init("schemaType", .string("JSON"))])
                .write(to: &registration)
            let registered = try await call(
                client,
                bfbAdmin,
                "/subjects/bfb_only-value/versions",
                body: String(decoding: registration, as: UTF8.self)
            )
            #expect(registered.status == 200, "\(registered.body)")
            #expect(try await call(client, bfbAdmin, "/v1/topics").body.contains("bfb_only"))
            #expect(try await call(client, bfbAdmin, "/v1/keys").body.contains(#""keyID""#))
            #expect(try await call(client, bfbAdmin, "/subjects").body.contains("bfb_only-value"))
            let theirs = try await call(client, otherAdmin, "/v1/topics")
            #expect(theirs.status == 200 && !theirs.body.contains("bfb_only"), "\(theirs.body)")
            #expect(try await call(client, otherAdmin, "/v1/topics/bfb_only").status == 404)
            #expect(try await call(client, otherAdmin, "/v1/keys").body == "[]", "no keys were made in other")
            #expect(!(try await call(client, otherAdmin, "/subjects").body.contains("bfb_only-value")))
            #expect(try await call(client, otherAdmin, "/subjects/bfb_only-value/versions").status == 404)
            let otherAudit = try await call(client, otherAdmin, "/v1/audit/entries?limit=10000")
            #expect(otherAudit.status == 200 && !otherAudit.body.contains("bfb_only"), "\(otherAudit.body.prefix(300))")
            #expect(!otherAudit.body.contains(#""action":"Produce""#), "bfb's produce is not in other's audit log")
            let bfbAudit = try await call(client, bfbAdmin, "/v1/audit/entries?limit=10000")
            #expect(bfbAudit.body.contains("bfb_only") && bfbAudit.body.contains(#""action":"Produce""#))
            for value in Events.pii { #expect(!captured.all.contains(value), "\(value) in a log line") }
        }
    }

    @Test("each tenant has its own rate limit: one tenant spending its bucket leaves the other's alone")
    func tenantRateLimits() async throws {
        var limits = GatewayConfiguration.Limits()
        limits.requestsPerSecond = 0.01
        limits.burst = 2
        try await withGateway(limits: limits) { issuer, _, _, client, _ in
            let bfb = try await token(issuer, subject: "schema-admin")
            let other = try await token(issuer, subject: "schema-admin", tenant: "other")
            for _ in 0..<2 { #expect(try await call(client, bfb, "/ready").status == 200) }
            #expect(try await call(client, bfb, "/ready").status == 429)
            for _ in 0..<2 { #expect(try await call(client, other, "/ready").status == 200, "other's bucket is full") }
            #expect(try await call(client, other, "/ready").status == 429)
        }
    }

    @Test("a known path with a method it does not take is 405 with Allow; an unknown path is 404")
    func methodNotAllowed() async throws {
        try await withGateway { issuer, _, _, client, _ in
            let token = try await token(issuer)
            var headers: HTTPFields = [:]
            headers[.authorization] = "Bearer \(token)"
            let wrong = try await client.execute(uri: "/v1/topics", method: .put, headers: headers) { $0 }
            #expect(wrong.status == .methodNotAllowed && wrong.headers[.allow] == "GET, POST")
            let trace = try await client.execute(uri: "/v1/topics/x/records", method: .get, headers: headers) { $0 }
            #expect(trace.status == .methodNotAllowed && trace.headers[.allow] == "POST")
            let unknown = try await client.execute(uri: "/v1/nothing", method: .get, headers: headers) { $0 }
            #expect(unknown.status == .notFound)
        }
    }

    @Test("an address that keeps failing authentication is turned away before its token is checked")
    func failedAuthentications() async throws {
        var limits = GatewayConfiguration.Limits()
        limits.failedAuthenticationsPerMinute = 3
        try await withGateway(limits: limits) { issuer, _, _, client, _ in
            for _ in 0..<3 { #expect(try await call(client, "not.a.token", "/ready").status == 401) }
            let good = try await token(issuer)
            let turnedAway = try await call(client, good, "/ready")
            #expect(
                turnedAway.status == 429 && turnedAway.body.contains("failed authentications"),
                "\(turnedAway.body)"
            )
            #expect(try await call(client, nil, "/health").status == 200, "health stays open")
        }
    }

    @Test("roles come from the token: an undeclared principal with role fraud may consume, without it may not")
    func rolesFromToken() async throws {
        try await withGateway { issuer, _, _, client, _ in
            let body = #"{"group":"fraud-carol","purpose":"credit-check"}"#
            let uri = "/v1/topics/loan_applications/consume"
            let withRole = try await call(
                client,
                try await token(issuer, subject: "carol", roles: ["fraud"]),
                uri,
                body: body
            )
            #expect(withRole.status == 200, "\(withRole.body)")
            let without = try await call(client, try await token(issuer, subject: "carol"), uri, body: body)
            #expect(without.status == 403, "\(without.body)")
            // A Produce right from a token's role alone is refused: consumers check the signer's
            // own right in the policy and would dead-letter every record.
            let operatorToken = try await token(issuer, subject: "carol", roles: ["operators"])
            let produced = try await call(
                client,
                operatorToken,
                "/v1/topics/loan_applications/records",
                body: Events.batch([Events.lines[0]])
            )
            #expect(produced.status == 403 && produced.body.contains("itself in the policy"), "\(produced.body)")
            // Data-subject requests are decided with the token's roles too; a rectify, which
            // produces, needs the principal's own right.
            let subject = #"{"subject":"CUST-00000001"}"#
            let dpo = try await token(issuer, subject: "carol", roles: ["dpo"])
            let access = try await call(client, dpo, "/v1/dsr/access", body: subject)
            #expect(access.status == 200, "role dpo from the token: \(access.body)")
            let refused = try await call(
                client,
                try await token(issuer, subject: "carol"),
                "/v1/dsr/access",
                body: subject
            )
            #expect(refused.status == 403, "\(refused.body)")
            let rectify = try await call(
                client,
                dpo,
                "/v1/dsr/rectify",
                body: #"{"subject":"CUST-00000001","topic":"loan_applications","event":\#(Events.lines[0])}"#
            )
            #expect(rectify.status == 403, "Produce from a token role alone: \(rectify.body)")
        }
    }
}
#endif
