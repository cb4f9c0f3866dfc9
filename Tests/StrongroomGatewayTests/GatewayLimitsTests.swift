#if Gateway
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Strongroom
import StrongroomGateway
import StrongroomLog
import StrongroomTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A request whose body arrives only when the test says: it holds its slot in the gateway.
struct HeldRequest {
    let body: AsyncStream<ByteBuffer>.Continuation
    let response: Task<(Int, String), any Error>
    private let answered = Answered()

    /// Set once the gateway has answered, before the body was finished.
    final class Answered: Sendable {
        let value = Atomic(false)
    }

    init(_ client: HTTPClient, url: String) {
        let (stream, body) = AsyncStream.makeStream(of: ByteBuffer.self)
        self.body = body
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .stream(stream, length: .unknown)
        let answered = answered
        response = Task {
            defer { answered.value.store(true, ordering: .releasing) }
            let response = try await client.execute(request, timeout: .seconds(180))
            return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
    }

    /// True when the gateway answered without waiting for the body (it refused the request).
    var isAnswered: Bool { answered.value.load(ordering: .acquiring) }

    func finish(_ text: String) async throws -> (Int, String) {
        body.yield(ByteBuffer(string: text))
        body.finish()
        return try await response.value
    }
}

extension GatewayMTLSTests {
    @Test("a tenant's requests in flight are limited: the next one gets 429 until one finishes")
    func concurrency() async throws {
        var limits = GatewayConfiguration.Limits()
        limits.maxConcurrentRequests = 1
        try await withGateway(limits: limits) { port, _ in
            let pos = try client(try ca.client(commonName: "pos-terminal"))
            let url = "https://127.0.0.1:\(port)/v1/topics/loan_applications/records"
            // On a loaded machine the held request may reach the gateway while a probe holds the
            // one slot; it is then refused at once, and is sent again.
            var held = HeldRequest(pos, url: url)
            held.body.yield(ByteBuffer(string: #"{"records":["#))
            var busy = (status: 0, body: "", headers: [String: String]())
            let deadline = ContinuousClock.now + .seconds(120)
            while busy.status != 429, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                if held.isAnswered {
                    let (status, body) = try await held.response.value
                    #expect(status == 429 && body.contains("in flight"), "\(body)")
                    held = HeldRequest(pos, url: url)
                    held.body.yield(ByteBuffer(string: #"{"records":["#))
                    continue
                }
                busy = try await send(pos, port, "/ready")
            }
            #expect(busy.status == 429 && busy.body.contains("in flight"), "\(busy.body)")
            let (status, body) = try await held.finish(Events.lines[0] + "]}")
            #expect(status == 200 && body.contains(#""accepted":1"#), "\(body)")
            #expect(try await send(pos, port, "/ready").status == 200, "the slot is free again")
            try await pos.shutdown()
        }
    }

    @Test("a header over maxHeaderBytes is refused; the connection is not served")
    func headerLimit() async throws {
        var limits = GatewayConfiguration.Limits()
        limits.maxHeaderBytes = 2_048
        try await withGateway(limits: limits) { port, _ in
            let pos = try client(try ca.client(commonName: "pos-terminal"))
            var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/ready")
            request.headers.add(name: "x-padding", value: String(repeating: "a", count: 4_096))
            let refused: Int
            do {
                let response = try await pos.execute(request, timeout: .seconds(10))
                refused = Int(response.status.code)
            } catch { refused = -1 }
            #expect(refused == -1 || refused >= 400, "\(refused)")
            #expect(try await send(pos, port, "/ready").status == 200)
            try await pos.shutdown()
        }
    }

    @Test("SIGTERM's graceful shutdown lets a request in flight finish: its records are acknowledged and kept")
    func gracefulShutdown() async throws {
        let fixture = try TenantFixture("bfb")
        let configuration = try mtlsConfiguration(fixture)
        let tenant = try fixture.tenant(logger: Logger(label: "test"))
        let gateway = try Gateway(configuration: configuration, tenants: [tenant], verifier: nil)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = try gateway.application(logger: Logger(label: "test")) { address in
            continuation.yield(Int(address.split(separator: ":").last ?? "") ?? 0)
        }
        let group = ServiceGroup(
            configuration: .init(services: [application], logger: Logger(label: "test"))
        )
        let running = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let pos = try client(try ca.client(commonName: "pos-terminal"))
        let held = HeldRequest(pos, url: "https://127.0.0.1:\(port)/v1/topics/loan_applications/records")
        held.body.yield(ByteBuffer(string: #"{"records":["#))
        try await Task.sleep(for: .milliseconds(500))
        await group.triggerGracefulShutdown()
        try await Task.sleep(for: .milliseconds(300))
        let (status, body) = try await held.finish(Events.lines.joined(separator: ",") + "]}")
        #expect(status == 200 && body.contains(#""accepted":4"#), "the request in flight finished: \(body)")
        try await running.value
        // The acknowledged records are in the log the gateway stopped with.
        let stored = try (0..<2).flatMap { partition in
            try tenant.services.log.fetch(
                topic: "loan_applications",
                partition: partition,
                from: 0,
                maxBytes: 1 << 20,
                maxRecords: 100
            )
        }
        #expect(stored.count == 4)
        try await pos.shutdown()
    }
}

extension GatewayOIDCTests {
    @Test("a client that opens a connection and stalls (slowloris) is cut off after idleTimeoutSeconds")
    func slowClient() async throws {
        var limits = GatewayConfiguration.Limits()
        limits.idleTimeoutSeconds = 1
        let issuer = try TokenIssuer(folder: TestSupport.scratchDirectory("gateway-issuer"))
        let bfb = try TenantFixture("bfb")
        var configuration = GatewayConfiguration(authentication: .oidc, tenants: ["bfb": bfb.configuration])
        configuration.port = 0
        configuration.allowPlaintext = true
        configuration.limits = limits
        let oidc = GatewayConfiguration.OIDC(jwks: issuer.jwks.path, issuer: Self.issuerName, audience: "strongroom")
        configuration.oidc = oidc
        let gateway = try Gateway(
            configuration: configuration,
            tenants: [try bfb.tenant(logger: Logger(label: "test"))],
            verifier: try await TokenVerifier(oidc)
        )
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = try gateway.application(logger: Logger(label: "test")) { address in
            continuation.yield(Int(address.split(separator: ":").last ?? "") ?? 0)
        }
        let running = Task { try await application.run() }
        defer { running.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        // Half a request head, then nothing: the server must close the connection itself.
        let closedAfter = try await Task.detached { () throws -> Duration in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
            var wait = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
            let partial = Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n".utf8)
            _ = partial.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            let started = ContinuousClock.now
            var buffer = [UInt8](repeating: 0, count: 512)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
            }
            return started.duration(to: .now)
        }.value
        #expect(closedAfter < .seconds(5), "closed after \(closedAfter)")
        #expect(closedAfter >= .milliseconds(500), "not at once: \(closedAfter)")
    }
}
#endif
