#if Gateway
import AsyncHTTPClient
import Foundation
import Hummingbird
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
/// Every check but three: `positive_data_acceptance` (a request the document allows is often
/// refused by the policy, as it should be), `unsupported_method` (an undeclared method gets
/// 404, not 405) and, over mTLS, `ignored_auth` (schemathesis cannot drop the client
/// certificate; the handshake tests cover a missing or bad one).
func schemathesis(_ document: String, url: String, arguments: [String], mtls: Bool) async throws -> (Int32, String) {
    let folder = TestSupport.scratchDirectory("schemathesis")
    let file = folder.appendingPathComponent("openapi.json")
    try Data(document.utf8).write(to: file)
    var excluded = ["positive_data_acceptance", "unsupported_method"]
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
        let verifier = try await TokenVerifier(oidc)
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
        try await Task.sleep(for: .milliseconds(1_100))
        #expect(try await verifier.verify(b).subject == "fraud-service")
        await #expect(throws: TokenVerifier.Refused.self, "the first key is gone from the set") {
            try await verifier.verify(a)
        }
        // The provider is down: the last good set serves until it is too old.
        served.withLock { $0 = nil }
        try await Task.sleep(for: .milliseconds(1_100))
        #expect(try await verifier.verify(b).subject == "fraud-service", "a failed refresh keeps the last good set")
        try await Task.sleep(for: .milliseconds(2_200))
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
        #expect(throws: GatewayConfiguration.Invalid.self) {
            try parse(#"{"jwks":"k","issuer":"i","audience":"a","jwksRefreshSeconds":600,"jwksMaxStaleSeconds":60}"#)
        }
    }
}
#endif
