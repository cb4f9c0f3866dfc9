import ArgumentParser
import Foundation
import Strongroom
import StrongroomJSON
import Synchronization

#if Gateway
import AsyncHTTPClient
import Crypto
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import StrongroomAudit
import StrongroomFiles
import StrongroomGateway
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema
#endif

struct GatewayBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Produce through the gateway over HTTPS with mTLS, with field encryption on and off, events/s.",
        discussion: """
            Starts a gateway in this process on loopback (TLS 1.3, a client certificate from a test CA) over a \
            scratch data directory with two topics: `secure`, whose schema tags the PII fields (encrypted), and \
            `plain`, the same schema with every tag removed (nothing encrypted; DLP flags instead of refusing). \
            Each event is padded with a `notes` field to --event-bytes. --concurrency clients send batches of \
            --batch events until every event is produced, first to plain, then to secure. Then, at half the \
            secure peak, requests are paced and their latency measured (p50, p99).

              strongroom bench gateway --events /tmp/srbench/events-100000.jsonl \\
                  --schema ../shared/bench/loan_application.schema.json
            """
    )
    @Option(help: "JSON Lines events file.")
    var events: String
    @Option(help: "JSON Schema with PII tags.")
    var schema: String
    @Option(help: "Data-subject field.")
    var subjectField = "customerId"
    @Option(help: "Events per request.")
    var batch = 100
    @Option(help: "Requests in flight at once.")
    var concurrency = 4
    @Option(help: "Each event's size after padding, in bytes.")
    var eventBytes = 1_024
    @Option(help: "At most this many events (0: all).")
    var limit = 50_000
    @Option(help: "Seconds of paced load for the latency line.")
    var latencySeconds = 5

    func run() throws {
        #if Gateway
        let options = self
        do { try runAsync { try await options.measure() } } catch { throw CLIError("\(error)") }
        #else
        _ = (events, schema, subjectField, batch, concurrency, eventBytes, limit, latencySeconds)
        throw CLIError(
            "this strongroom was built without the gateway: build with `swift build --traits default,Gateway`"
        )
        #endif
    }

    #if Gateway
    /// `schema` with `notes` added, and with `strongroom:subject` on the subject field; `tagged`
    /// false drops every PII tag.
    static func schemaText(_ text: String, subjectField: String, tagged: Bool) throws -> String {
        func strip(_ value: JSONValue) -> JSONValue {
            switch value {
            case .object(let members):
                return .object(
                    members.filter { !$0.key.hasPrefix("confluent:") && !$0.key.hasPrefix("strongroom:") }
                        .map { .init($0.key, strip($0.value)) }
                )
            case .array(let items): return .array(items.map(strip))
            default: return value
            }
        }
        guard case .object(var members) = try JSONValue(parsing: text) else {
            throw CLIError("schema is not an object")
        }
        if let i = members.firstIndex(where: { $0.key.hasSameBytes(as: "properties") }),
            case .object(var properties) = members[i].value
        {
            properties.append(.init("notes", .object([.init("type", .string("string"))])))
            if tagged, let j = properties.firstIndex(where: { $0.key.hasSameBytes(as: subjectField) }),
                case .object(var field) = properties[j].value
            {
                field.append(.init("strongroom:subject", .bool(true)))
                properties[j].value = .object(field)
            }
            members[i].value = .object(properties)
        }
        let value = JSONValue.object(members)
        return (tagged ? value : strip(value)).jsonText
    }

    func measure() async throws {
        var lines = try Data(contentsOf: URL(fileURLWithPath: events)).split(separator: 0x0A).map { Array($0) }
        if limit > 0 { lines = Array(lines.prefix(limit)) }
        // Padded to the event size with a field no detector flags.
        let padded: [[UInt8]] = lines.map { line in
            let room = max(0, eventBytes - line.count - #","notes":"""#.utf8.count)
            return Array(line.dropLast()) + Array(#","notes":""#.utf8)
                + Array(repeating: UInt8(ascii: "x"), count: room)
                + Array(#""}"#.utf8)
        }
        let bytes = padded.reduce(0) { $0 + $1.count }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("strongroom-bench-gateway-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = folder.appendingPathComponent("data")
        try PrivateFiles.directory(folder.path)

        // A tenant's data directory with both topics.
        let keys = try KeyStore.initialize(dataDirectory: data)
        try PrivateFiles.write(Array("bench\n".utf8), to: data.appendingPathComponent("tenant").path)
        let registry = try SchemaRegistry(dataDirectory: data)
        let text = try DemoFiles.text(schema)
        for (topic, tagged) in [("secure", true), ("plain", false)] {
            try registry.register(
                subject: "\(topic)-value",
                schema: try Self.schemaText(text, subjectField: subjectField, tagged: tagged),
                principal: "bench"
            )
        }
        let producerKey = try ProducerKeys.loadOrCreate(principal: "bench-producer", in: data)
        let policyText = """
            {"version":"bench","principals":{"bench-producer":{"kind":"service","tenant":"bench",
             "producerKeys":["\(producerKey.publicKey.rawRepresentation.base64EncodedString())"]}},
             "rules":[{"id":"p","effect":"allow","principals":["bench-producer"],"actions":["Produce"],
             "resource":{"type":"topic","name":"","pattern":"prefixed"}}]}
            """
        let policyFile = folder.appendingPathComponent("policy.json")
        try Data(policyText.utf8).write(to: policyFile)
        let services = StrongroomServices(
            keys: keys,
            log: try SQLiteEventLog(dataDirectory: data),
            registry: registry,
            policy: try PolicyEngine(contentsOf: policyFile),
            audit: try AuditLog(dataDirectory: data),
            tenant: "bench",
            logger: Logger(label: "strongroom.pipeline") { _ in SwiftLogNoOpLogHandler() }
        )
        try services.createTopic("secure", config: TopicConfig(partitions: 3))
        try services.createTopic("plain", config: TopicConfig(partitions: 3, dlpAction: "flag"))

        // Test credentials and the gateway.
        let ca = try DevCredentials.Authority()
        let server = try ca.server()
        let client = try ca.client(commonName: "bench-producer")
        for (name, text) in [
            ("ca.pem", try ca.pem), ("server.pem", server.certificate), ("server.key", server.privateKey),
        ] {
            try PrivateFiles.write(Array(text.utf8), to: folder.appendingPathComponent(name).path)
        }
        var configuration = GatewayConfiguration(
            authentication: .mtls,
            tenants: ["bench": .init(dataDirectory: data.path, policy: policyFile.path)]
        )
        configuration.port = 0
        configuration.tls = .init(
            certificate: folder.appendingPathComponent("server.pem").path,
            privateKey: folder.appendingPathComponent("server.key").path,
            clientCA: folder.appendingPathComponent("ca.pem").path
        )
        configuration.principalMappingRules = #"RULE:^CN=([a-zA-Z0-9._-]+),.*$/$1/"#
        configuration.limits.maxBatchRecords = max(batch, 1)
        configuration.limits.maxBodyBytes = max(1 << 20, (eventBytes + 16) * batch + 1_024)
        configuration.limits.requestsPerSecond = 1e9
        configuration.limits.burst = 1_000_000_000
        configuration.limits.maxConcurrentRequests = max(64, concurrency * 2)
        let gateway = try Gateway(
            configuration: configuration,
            tenants: [GatewayTenant(name: "bench", directory: data, services: services)],
            verifier: nil,
            accessLog: Logger(label: "strongroom.gateway.access") { _ in SwiftLogNoOpLogHandler() }
        )
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        // Result lines own standard output, and the server's own lines would only be noise here.
        let quiet = Logger(label: "strongroom.gateway") { _ in SwiftLogNoOpLogHandler() }
        let application = try gateway.application(logger: quiet) { address in
            continuation.yield(Int(address.split(separator: ":").last ?? "") ?? 0)
        }
        let running = Task { try await application.run() }
        defer { running.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw CLIError("the gateway did not start") }

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(try ca.pem.utf8), format: .pem)])
        tls.certificateChain = [
            .certificate(try NIOSSLCertificate(bytes: Array(client.certificate.utf8), format: .pem))
        ]
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(client.privateKey.utf8), format: .pem))
        var clientConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            try await drive(http, port: port, padded: padded, bytes: bytes)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    /// The plain and secure saturation runs, then the paced latency run.
    func drive(_ http: HTTPClient, port: Int, padded: [[UInt8]], bytes: Int) async throws {
        let batch = self.batch
        let concurrency = self.concurrency

        let bodies: [ByteBuffer] = stride(from: 0, to: padded.count, by: batch).map { start in
            let records = padded[start..<min(start + batch, padded.count)]
            var out = Array(#"{"records":["#.utf8)
            for (i, record) in records.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out += record
            }
            out += Array("]}".utf8)
            return ByteBuffer(bytes: out)
        }

        /// Sends `body` to `topic`; the latency, after checking every record was accepted.
        @Sendable func send(_ body: ByteBuffer, to topic: String) async throws -> Duration {
            var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/v1/topics/\(topic)/records")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(body)
            let started = ContinuousClock.now
            let response = try await http.execute(request, timeout: .seconds(60))
            let answer = try await response.body.collect(upTo: 16 << 20)
            let elapsed = started.duration(to: .now)
            guard response.status.code == 200, String(buffer: answer).contains(#""refused":0}"#) else {
                throw CLIError("\(topic): HTTP \(response.status.code): \(String(buffer: answer).prefix(300))")
            }
            return elapsed
        }

        /// Every body to `topic` from `concurrency` workers; the seconds taken.
        func saturate(_ topic: String) async throws -> Double {
            let shared = BenchShared()
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<concurrency {
                    group.addTask {
                        while true {
                            let index = shared.next.add(1, ordering: .relaxed).oldValue
                            guard index < bodies.count else { return }
                            _ = try await send(bodies[index], to: topic)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = started.duration(to: .now)
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }

        let note = "HTTPS TLS 1.3 mTLS, \(eventBytes)-byte events, \(batch) per request, \(concurrency) in flight"
        _ = try await send(bodies[0], to: "plain")
        _ = try await send(bodies[0], to: "secure")
        let plainSeconds = try await saturate("plain")
        BenchLine(op: "gateway_produce_plain", n: padded.count, bytes: bytes, seconds: plainSeconds, note: note).print()
        let secureSeconds = try await saturate("secure")
        BenchLine(op: "gateway_produce_secure", n: padded.count, bytes: bytes, seconds: secureSeconds, note: note)
            .print()
        let overhead = (1 - plainSeconds / secureSeconds) * 100
        print(#"{"op":"gateway_encryption_overhead","percent":\#((overhead * 10).rounded() / 10),"target":"< 25"}"#)

        // Half the secure peak, paced: one request every interval, each timed on its own.
        let peakRequests = Double(bodies.count) / secureSeconds
        let interval = Duration.seconds(1 / (peakRequests / 2))
        let total = max(10, Int(peakRequests / 2 * Double(latencySeconds)))
        let shared = BenchShared()
        try await withThrowingTaskGroup(of: Void.self) { group in
            let start = ContinuousClock.now
            for i in 0..<total {
                try await Task.sleep(until: start + interval * i, clock: .continuous)
                let body = bodies[i % bodies.count]
                group.addTask {
                    let latency = try await send(body, to: "secure")
                    shared.latencies.withLock { $0.append(latency) }
                }
            }
            try await group.waitForAll()
        }
        let sorted = shared.latencies.withLock { $0 }.sorted()
        func ms(_ q: Double) -> Double {
            let d = sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
            return ((Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15) * 100).rounded()
                / 100
        }
        print(
            #"{"op":"gateway_latency_half_peak","requests":\#(sorted.count),"requests_per_s":\#((peakRequests / 2).rounded()),"p50_ms":\#(ms(0.5)),"p99_ms":\#(ms(0.99))}"#
        )
    }
    #endif
}

/// What the benchmark's concurrent senders share.
final class BenchShared: Sendable {
    let next = Atomic(0)
    let latencies = Mutex<[Duration]>([])
}
