#if Gateway
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Strongroom
import StrongroomFiles
import StrongroomGateway
import StrongroomJSON
import StrongroomTestSupport
import Testing

/// Runs `arguments` through `/usr/bin/env` and returns its exit status and output.
///
/// It waits on a thread of its own: blocking the cooperative pool or NIO's thread pool would
/// starve the gateway under test.
func run(_ arguments: [String], in folder: URL? = nil) async throws -> (Int32, String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(
                with: Result {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    process.arguments = arguments
                    if let folder { process.currentDirectoryURL = folder }
                    let output = Pipe()
                    process.standardOutput = output
                    process.standardError = output
                    try process.run()
                    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    process.waitUntilExit()
                    return (process.terminationStatus, text)
                }
            )
        }
    }
}

/// Runs schemathesis against a live gateway with `document`; returns its exit status and output.
///
/// Every check but two: `positive_data_acceptance` (a request the document allows is often
/// refused by the policy, as it should be) and, over mTLS, `ignored_auth` (schemathesis cannot
/// drop the client certificate; the handshake tests cover a missing or bad one).
func schemathesis(_ document: String, url: String, arguments: [String], mtls: Bool) async throws -> (Int32, String) {
    let folder = TestSupport.scratchDirectory("schemathesis")
    let file = folder.appendingPathComponent("openapi.json")
    try Data(document.utf8).write(to: file)
    var excluded = ["positive_data_acceptance"]
    if mtls { excluded.append("ignored_auth") }
    return try await run(
        [
            "schemathesis", "run", file.path, "--url", url, "--checks", "all", "--exclude-checks",
            excluded.joined(separator: ","), "--phases", "examples,coverage,fuzzing", "--max-examples", "40",
            "--seed", "20261126", "--workers", "1",
        ] + arguments,
        in: folder
    )
}

extension GatewayMTLSTests {
    @Test(
        "schemathesis over mTLS, as an administrator and as a consumer: no 5xx, every answer as documented",
        arguments: ["schema-admin", "fraud-service"]
    )
    func openAPIConformance(principal: String) async throws {
        var limits = GatewayConfiguration.Limits()
        limits.requestsPerSecond = 1_000_000
        limits.burst = 1_000_000
        try await withGateway(limits: limits) { port, captured in
            let issued = try ca.client(commonName: principal)
            var files: [String] = []
            for (suffix, text) in [("pem", issued.certificate), ("key", issued.privateKey)] {
                let url = folder.appendingPathComponent("\(principal).\(suffix)")
                try PrivateFiles.write(Array(text.utf8), to: url.path)
                files.append(url.path)
            }
            let caller = try client(issued)
            let pos = try client(try ca.client(commonName: "pos-terminal"))
            let produced = try await send(
                pos,
                port,
                "/v1/topics/loan_applications/records",
                body: Events.batch(Events.lines)
            )
            try await pos.shutdown()
            #expect(produced.body.contains(#""accepted":4"#))
            let served = try await send(caller, port, "/openapi.json")
            try await caller.shutdown()
            #expect(served.status == 200)
            let document = try JSONValue(parsing: served.body)
            #expect(document["openapi"]?.stringValue == "3.1.0")
            #expect(served.body.contains(#""security":[{"mutualTLS":[]}]"#), "the listener's own scheme only")
            let (status, output) = try await schemathesis(
                served.body,
                url: "https://127.0.0.1:\(port)",
                arguments: [
                    "--request-cert", files[0], "--request-cert-key", files[1], "--tls-verify",
                    folder.appendingPathComponent("ca.pem").path,
                ],
                mtls: true
            )
            #expect(status == 0, "\(output.suffix(6000))")
            #expect(output.contains("Tested: 35"), "every operation reached: \(output.suffix(1500))")
            for value in Events.pii { #expect(!captured.all.contains(value), "\(value) in a log line") }
        }
    }
}

extension GatewayOIDCTests {
    @Test("schemathesis with bearer tokens: invalid and missing tokens refused, no 5xx, answers as documented")
    func openAPIConformance() async throws {
        let issuer = try TokenIssuer(folder: TestSupport.scratchDirectory("gateway-issuer"))
        let bfb = try TenantFixture("bfb")
        var configuration = GatewayConfiguration(authentication: .oidc, tenants: ["bfb": bfb.configuration])
        configuration.port = 0
        configuration.allowPlaintext = true
        configuration.limits.requestsPerSecond = 1_000_000
        configuration.limits.burst = 1_000_000
        configuration.limits.failedAuthenticationsPerMinute = 1_000_000
        let oidc = GatewayConfiguration.OIDC(jwks: issuer.jwks.path, issuer: Self.issuerName, audience: "strongroom")
        configuration.oidc = oidc
        let captured = CapturedLines()
        let gateway = try Gateway(
            configuration: configuration,
            tenants: [try bfb.tenant(logger: captured.logger("strongroom.pipeline"))],
            verifier: try await TokenVerifier(oidc),
            accessLog: captured.logger("strongroom.gateway.access")
        )
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = try gateway.application { address in
            continuation.yield(Int(address.split(separator: ":").last ?? "") ?? 0)
        }
        let running = Task { try await application.run() }
        defer { running.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let token = try await token(issuer, subject: "schema-admin", lifetime: 1800)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/openapi.json")
        request.headers.add(name: "authorization", value: "Bearer \(token)")
        let response = try await client.execute(request, timeout: .seconds(20))
        let served = String(buffer: try await response.body.collect(upTo: 1 << 20))
        try await client.shutdown()
        #expect(response.status.code == 200)
        #expect(served.contains(#""security":[{"bearer":[]}]"#), "the listener's own scheme only")
        let (status, output) = try await schemathesis(
            served,
            url: "http://127.0.0.1:\(port)",
            arguments: ["--header", "Authorization: Bearer \(token)"],
            mtls: false
        )
        #expect(status == 0, "\(output.suffix(6000))")
        #expect(output.contains("Tested: 35"), "every operation reached: \(output.suffix(1500))")
        #expect(!captured.all.contains(token), "the token never reaches a log line")
    }
}
#endif

#if Gateway
import Synchronization

@Suite("JWKS fetched from a URL and refreshed")
struct JWKSRefreshTests {
    @Test("fetched over HTTP, read again for an unknown key id and on schedule; too stale, every token is refused")
    func refresh() async throws {
        let first = try DevCredentials.TokenIssuer(folder: TestSupport.scratchDirectory("jwks-a"))
        let second = try DevCredentials.TokenIssuer(folder: TestSupport.scratchDirectory("jwks-b"))
        #expect(first.keyID != second.keyID)
        let served = Mutex<[UInt8]?>(Array(try Data(contentsOf: first.jwks)))
        let fetches = Mutex(0)
        let router = Router()
        router.get("jwks.json") { _, _ -> Response in
            fetches.withLock { $0 += 1 }
            guard let body = served.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }
        )
        let running = Task { try await application.run() }
        defer { running.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        var oidc = GatewayConfiguration.OIDC(
            jwks: "http://127.0.0.1:\(port)/jwks.json",
            issuer: "https://issuer.strongroom.test",
            audience: "strongroom"
        )
        oidc.jwksRefreshSeconds = 1
        oidc.jwksMaxStaleSeconds = 3
        // Time moves only when the test says, however slow a loaded machine runs it.
        let time = Mutex(ContinuousClock.now)
        func advance(_ by: Duration) { time.withLock { $0 += by } }
        let verifier = try await TokenVerifier(oidc, clock: { time.withLock { $0 } })
        func token(_ issuer: DevCredentials.TokenIssuer) async throws -> String {
            try await issuer.token(
                subject: "fraud-service",
                tenant: "bfb",
                roles: [],
                issuer: "https://issuer.strongroom.test",
                audience: "strongroom"
            )
        }
        let (a, b) = (try await token(first), try await token(second))
        #expect(try await verifier.verify(a).subject == "fraud-service")
        await #expect(throws: TokenVerifier.Refused.self, "the second key is not served yet") {
            try await verifier.verify(b)
        }
        // The provider rotates: an unknown key id reads the set again (at most once a second here).
        served.withLock { $0 = Array((try? Data(contentsOf: second.jwks)) ?? Data()) }
        advance(.milliseconds(1_100))
        #expect(try await verifier.verify(b).subject == "fraud-service")
        await #expect(throws: TokenVerifier.Refused.self, "the first key is gone from the set") {
            try await verifier.verify(a)
        }
        // The provider is down: the last good set serves until it is too old.
        served.withLock { $0 = nil }
        advance(.milliseconds(1_100))
        #expect(try await verifier.verify(b).subject == "fraud-service", "a failed refresh keeps the last good set")
        advance(.milliseconds(2_200))
        let stale = await #expect(throws: TokenVerifier.Refused.self) { try await verifier.verify(b) }
        #expect(stale?.description.contains("jwksMaxStaleSeconds") == true)
        // A flood of unknown key ids fetches at most once per second.
        let before = fetches.withLock { $0 }
        served.withLock { $0 = Array((try? Data(contentsOf: second.jwks)) ?? Data()) }
        for _ in 0..<50 { _ = try? await verifier.verify(a) }
        #expect(fetches.withLock { $0 } - before <= 2)
    }

    @Test("a JWKS URL must be https (http only on loopback); the refresh settings are checked")
    func configuration() throws {
        func parse(_ oidc: String) throws -> GatewayConfiguration {
            try GatewayConfiguration(
                json: try JSONValue(
                    parsing: Array(
                        #"{"listen":"127.0.0.1:0","authentication":"oidc","allowPlaintext":true,"oidc":\#(oidc),"tenants":{"t":{"dataDirectory":"d","policy":"p"}}}"#
                            .utf8
                    )
                ),
                base: URL(fileURLWithPath: "/srv")
            )
        }
        let https = try parse(#"{"jwks":"https://idp.example/jwks","issuer":"i","audience":"a"}"#)
        #expect(https.oidc?.jwks == "https://idp.example/jwks", "a URL is not taken as a path")
        #expect(try parse(#"{"jwks":"keys.json","issuer":"i","audience":"a"}"#).oidc?.jwks == "/srv/keys.json")
        #expect(throws: GatewayConfiguration.Invalid.self) {
            try parse(#"{"jwks":"http://idp.example/jwks","issuer":"i","audience":"a"}"#)
        }
        #expect(throws: GatewayConfiguration.Invalid.self) {
            try parse(#"{"jwks":"http://127.0.0.1.evil.example/jwks","issuer":"i","audience":"a"}"#)
        }
        _ = try parse(#"{"jwks":"http://127.0.0.1:8080/jwks","issuer":"i","audience":"a"}"#)
        for sneaky in [
            "http://localhost:80@evil.example/jwks", "http://[::1]@evil.example/", "https://u:p@idp.example/",
        ] {
            #expect(throws: GatewayConfiguration.Invalid.self, "\(sneaky)") {
                try parse(#"{"jwks":"\#(sneaky)","issuer":"i","audience":"a"}"#)
            }
        }
        #expect(throws: GatewayConfiguration.Invalid.self) {
            try parse(#"{"jwks":"k","issuer":"i","audience":"a","jwksRefreshSeconds":600,"jwksMaxStaleSeconds":60}"#)
        }
    }
}
#endif

#if Gateway
extension GatewayMTLSTests {
    @Test("two listeners, mTLS and bearer tokens, over one set of tenants: each takes only its own credentials")
    func twoListeners() async throws {
        try writeServerFiles()
        let issuer = try DevCredentials.TokenIssuer(folder: TestSupport.scratchDirectory("listeners-issuer"))
        let fixture = try TenantFixture("bfb")
        let text = """
            {"listeners": [
               {"listen": "127.0.0.1:0", "authentication": "mtls",
                "tls": {"certificate": "server.pem", "privateKey": "server.key", "clientCA": "ca.pem"}},
               {"listen": "127.0.0.1:0", "authentication": "oidc",
                "tls": {"certificate": "server.pem", "privateKey": "server.key"}}],
             "principalMappingRules": "RULE:^CN=([a-zA-Z0-9._-]+),.*$/$1/",
             "oidc": {"jwks": "\(issuer.jwks.path)", "issuer": "https://issuer.strongroom.test", "audience": "strongroom"},
             "tenants": {"bfb": {"dataDirectory": "\(fixture.directory.path)", "policy": "\(fixture.policy.path)"}}}
            """
        let file = folder.appendingPathComponent("listeners.json")
        try Data(text.utf8).write(to: file)
        let configuration = try GatewayConfiguration(contentsOf: file)
        #expect(configuration.listeners.map(\.authentication) == [.mtls, .oidc])
        let tenant = try fixture.tenant(logger: Logger(label: "test"))
        let gateway = try Gateway(
            configuration: configuration,
            tenants: [tenant],
            verifier: try await TokenVerifier(try #require(configuration.oidc))
        )
        let (ports, continuation) = AsyncStream.makeStream(of: (GatewayConfiguration.Authentication, Int).self)
        let applications = try gateway.applications(logger: Logger(label: "test")) { listener, address in
            continuation.yield((listener.authentication, Int(address.split(separator: ":").last ?? "") ?? 0))
        }
        let running = applications.map { application in Task { try await application.run() } }
        var bound: [GatewayConfiguration.Authentication: Int] = [:]
        for await (scheme, port) in ports {
            bound[scheme] = port
            if bound.count == 2 { break }
        }
        let (mtlsPort, oidcPort) = (try #require(bound[.mtls]), try #require(bound[.oidc]))
        let pos = try client(try ca.client(commonName: "pos-terminal"))
        let anonymous = try client(nil)
        defer { for task in running { task.cancel() } }
        do {
            let produced = try await send(
                pos,
                mtlsPort,
                "/v1/topics/loan_applications/records",
                body: Events.batch(Events.lines)
            )
            #expect(produced.body.contains(#""accepted":4"#), "\(produced.body)")
            let token = try await issuer.token(
                subject: "fraud-service",
                tenant: "bfb",
                roles: [],
                issuer: "https://issuer.strongroom.test",
                audience: "strongroom"
            )
            func consume(_ client: HTTPClient, _ port: Int, bearer: String?) async throws -> Int {
                var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/v1/topics/loan_applications/consume")
                request.method = .POST
                if let bearer { request.headers.add(name: "authorization", value: "Bearer \(bearer)") }
                request.body = .bytes(ByteBuffer(string: #"{"group":"fraud-listeners","purpose":"credit-check"}"#))
                let response = try await client.execute(request, timeout: .seconds(20))
                _ = try await response.body.collect(upTo: 8 << 20)
                return Int(response.status.code)
            }
            #expect(try await consume(anonymous, oidcPort, bearer: token) == 200, "a token on the token listener")
            #expect(try await consume(anonymous, oidcPort, bearer: nil) == 401, "no token there")
            #expect(try await consume(pos, oidcPort, bearer: nil) == 401, "a certificate is no token")
            await #expect(throws: (any Error).self, "a token is no certificate: refused in the handshake") {
                _ = try await consume(anonymous, mtlsPort, bearer: token)
            }
            let mtlsDocument = try await send(pos, mtlsPort, "/openapi.json")
            #expect(mtlsDocument.body.contains(#""security":[{"mutualTLS":[]}]"#))
        } catch {
            try await pos.shutdown()
            try await anonymous.shutdown()
            throw error
        }
        try await pos.shutdown()
        try await anonymous.shutdown()
    }

    @Test("listeners: not beside the top-level listener keys; one address once; each checked")
    func listenerConfiguration() throws {
        func parse(_ text: String) throws -> GatewayConfiguration {
            try GatewayConfiguration(json: try JSONValue(parsing: Array(text.utf8)), base: URL(fileURLWithPath: "/srv"))
        }
        let tenants = #""tenants": {"t": {"dataDirectory": "d", "policy": "p"}}"#
        let tls = #""tls": {"certificate": "c", "privateKey": "k", "clientCA": "ca"}"#
        let cases: [(String, String)] = [
            (
                #"{"listeners": [{"listen": "0.0.0.0:1", "authentication": "mtls", \#(tls)}], "listen": "0.0.0.0:2", \#(tenants)}"#,
                "not beside them"
            ),
            (
                #"{"listeners": [{"listen": "0.0.0.0:1", "authentication": "mtls", \#(tls)}, {"listen": "0.0.0.0:1", "authentication": "mtls", \#(tls)}], \#(tenants)}"#,
                "given twice"
            ),
            (
                #"{"listeners": [{"listen": "0.0.0.0:1", "authentication": "mtls", \#(tls)}, {"listen": "0.0.0.0:2", "authentication": "oidc"}], \#(tenants)}"#,
                "listeners[1].authentication oidc: the oidc section is required"
            ),
            (#"{"listeners": [], \#(tenants)}"#, "at least one"),
            (#"{"listeners": {"listen": "0.0.0.0:1"}, \#(tenants)}"#, "expected a list"),
            (
                #"{"listeners": [{"listen": "0.0.0.0:1", "authentication": "mtls", \#(tls), "port": 3}], \#(tenants)}"#,
                "listeners[0].port: unknown key"
            ),
        ]
        for (text, expected) in cases {
            let error = #expect(throws: GatewayConfiguration.Invalid.self) { try parse(text) }
            #expect(error?.description.contains(expected) == true, "\(error?.description ?? "") ← \(text)")
        }
    }
}
#endif
