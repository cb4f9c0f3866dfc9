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
import Strongroom
import StrongroomAudit
import StrongroomFiles
import StrongroomGateway
import StrongroomJSON
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
struct TenantFixture {
    let name: String
    let directory: URL
    let policy: URL

    init(_ name: String) throws {
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
            principals[id] = principal
        }
        policy["principals"] = principals
        var rules = try #require(policy["rules"] as? [[String: Any]])
        for i in rules.indices where rules[i]["id"] as? String == "pos-produce-applications" {
            rules[i]["conditions"] = ["cidrs": ["127.0.0.0/8", "::1/128"]]
        }
        policy["rules"] = rules
        self.policy = directory.appendingPathComponent("policy.json")
        try JSONSerialization.data(withJSONObject: policy).write(to: self.policy)
    }

    func tenant(logger: Logger) throws -> GatewayTenant {
        let services = StrongroomServices(
            keys: try KeyStore.open(dataDirectory: directory),
            log: try SQLiteEventLog(dataDirectory: directory),
            registry: try SchemaRegistry(dataDirectory: directory),
            policy: try PolicyEngine(contentsOf: policy),
            audit: try AuditLog(dataDirectory: directory),
            tenant: name,
            logger: logger
        )
        try services.createTopic(
            "loan_applications",
            config: TopicConfig(partitions: 2, classification: "RESTRICTED", encryptionRequired: true)
        )
        return GatewayTenant(name: name, directory: directory, services: services)
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

    /// Writes the CA and server files, starts a gateway on a free port, runs `body`, stops it.
    func withGateway(
        limits: GatewayConfiguration.Limits = .init(),
        revoked: [String] = [],
        _ body: (_ port: Int, _ captured: CapturedLines) async throws -> Void
    ) async throws {
        let server = try ca.server()
        for (name, text) in [
            ("ca.pem", try ca.pem), ("server.pem", server.certificate), ("server.key", server.privateKey),
        ] {
            try Data(text.utf8).write(to: folder.appendingPathComponent(name))
        }
        let fixture = try TenantFixture("bfb")
        var configuration = GatewayConfiguration(authentication: .mtls, tenants: ["bfb": fixture.configuration])
        configuration.port = 0
        configuration.tls = .init(
            certificate: folder.appendingPathComponent("server.pem").path,
            privateKey: folder.appendingPathComponent("server.key").path,
            clientCA: folder.appendingPathComponent("ca.pem").path
        )
        configuration.principalMappingRules = #"RULE:^CN=([a-zA-Z0-9._-]+),.*$/$1/"#
        configuration.revokedSubjects = revoked
        configuration.limits = limits
        let captured = CapturedLines()
        let gateway = try Gateway(
            configuration: configuration,
            tenants: [try fixture.tenant(logger: captured.logger("strongroom.pipeline"))],
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
        }
    }

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
