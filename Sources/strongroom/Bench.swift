import ArgumentParser
import Foundation
import Strongroom
import StrongroomJSON
import StrongroomKeys
import StrongroomSchema
import Synchronization

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks on the shared workload, printed in the ../shared/bench result-line format.",
        subcommands: [
            CryptoBench.self, ValidateBench.self, LogBench.self, PipelineBench.self, KafkaBench.self, PolicyBench.self,
            AuditBench.self, GatewayBench.self,
        ]
    )
}

/// One result line of the shared bench format.
struct BenchLine: Encodable {
    var peer = "strongroom"
    var op: String
    var n: Int
    var seconds: Double
    var events_per_s: Double
    var mb_per_s: Double
    var note: String?
    var threads: Int?
    /// The untimed wait for the first record (the peers' `first_msg_s`).
    var first_msg_s: Double?

    init(op: String, n: Int, bytes: Int, seconds: Double, note: String? = nil, threads: Int? = nil) {
        self.op = op
        self.n = n
        self.seconds = (seconds * 1000).rounded() / 1000
        self.events_per_s = (Double(n) / seconds).rounded()
        self.mb_per_s = (Double(bytes) / seconds / 1e6 * 100).rounded() / 100
        self.note = note
        self.threads = threads
    }

    func print() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let data = try? encoder.encode(self) { Swift.print(String(decoding: data, as: UTF8.self)) }
    }
}

/// Runs `body` on `count` threads at once, each with its index; the wall time in seconds.
///
/// The first error any worker throws is rethrown after all have finished.
func measureParallel(_ count: Int, _ body: @Sendable (Int) throws -> Void) throws -> Double {
    let failure = Mutex<(any Error)?>(nil)
    let seconds = measure {
        DispatchQueue.concurrentPerform(iterations: count) { worker in
            do { try body(worker) } catch { failure.withLock { if $0 == nil { $0 = error } } }
        }
    }
    if let error = failure.withLock({ $0 }) { throw error }
    return seconds
}

/// `items` cut into `count` slices of nearly equal size, in order.
func slices<T>(_ items: [T], _ count: Int) -> [ArraySlice<T>] {
    (0..<count).map { i in items[(items.count * i / count)..<(items.count * (i + 1) / count)] }
}

func measure(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let elapsed = try clock.measure(body)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

struct CryptoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "Field encryption and decryption of an events file (--threads workers).",
        discussion: """
            Same contract as ../shared/bench: 1000-event warm-up (untimed), then the whole file timed. \
            Each worker runs on one thread (batch calls do not spread over the cores here), so \
            --threads 1 is the line to set beside the single-threaded peers.

            encrypt: JSON line → encrypted line (scan + per-field AES-256-GCM + splice), subject keys created \
            on first use (durably, in one transaction per batch of 1024 events).
            encrypt_warm: encrypt again, every subject's key now in the store and its cache.
            decrypt: encrypted line → plaintext event parsed into a JSON value (the peers' meaning).
            decrypt_bytes: encrypted line → plaintext JSON bytes (no parse).
            decrypt_cold: as decrypt_bytes with the key cache emptied first: every key unwrapped from the store.

              python3 ../shared/bench/workload.py --n 100000 --out /tmp/events.jsonl
              strongroom bench crypto --events /tmp/events.jsonl \\
                  --schema ../shared/bench/loan_application.schema.json \\
                  --subject-field customerId
            """
    )

    @Option(help: "JSON Lines events file.")
    var events: String
    @Option(help: "JSON Schema with PII tags.")
    var schema: String
    @Option(help: "Data-subject field.")
    var subjectField: String?
    @Option(help: "Event-id field bound into each ciphertext.")
    var eventIdField: String?
    @Option(help: "Topic.")
    var topic = "loan_applications"
    @Option(help: "Warm-up events (untimed).")
    var warmup = 1000
    @Option(help: "Events per batch.")
    var batch = 1024
    @Option(
        help: """
            Independent workers over disjoint slices of the file, one thread each; the lines report \
            the aggregate rate and carry "threads". 1 is the line to compare with the peers.
            """
    )
    var threads = 1

    func validate() throws {
        guard threads >= 1, threads <= 64 else { throw ValidationError("--threads: 1 to 64") }
    }

    func run() throws {
        let lines = try Data(contentsOf: URL(fileURLWithPath: events)).split(separator: 0x0A).map { Array($0) }
        let bytes = lines.reduce(0) { $0 + $1.count }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strongroom-bench-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let keys = try KeyStore.initialize(dataDirectory: directory)
        let cipher = try EventCipher(
            plan: EncryptionPlan(contentsOf: URL(fileURLWithPath: schema)),
            keys: keys,
            options: .init(topic: topic, subjectField: subjectField, eventIDField: eventIdField, threads: 1)
        )
        let threads = self.threads
        let batch = self.batch
        @Sendable func encryptAll(_ input: ArraySlice<[UInt8]>) throws -> [[UInt8]] {
            var out: [[UInt8]] = []
            out.reserveCapacity(input.count)
            var start = input.startIndex
            while start < input.endIndex {
                let end = min(start + batch, input.endIndex)
                for result in cipher.encrypt(batch: Array(input[start..<end])) { out.append(try result.get()) }
                start = end
            }
            return out
        }
        @Sendable func decryptAll(_ input: ArraySlice<[UInt8]>, parse: Bool) throws {
            var out: [UInt8] = []
            // One parser per worker, as a consumer of one topic would keep.
            var parser = JSONValue.Parser()
            for line in input {
                out.removeAll(keepingCapacity: true)
                _ = try line.withUnsafeBufferPointer { try cipher.decrypt($0, into: &out) }
                if parse { _ = try parser.parse(out) }
            }
        }
        let shown: Int? = threads == 1 ? nil : threads
        _ = try encryptAll(lines.prefix(warmup))
        let parts = slices(lines, threads)
        let sealed = Mutex<[Int: [[UInt8]]]>([:])
        let encryptSeconds = try measureParallel(threads) { worker in
            let out = try encryptAll(parts[worker])
            sealed.withLock { $0[worker] = out }
        }
        let encrypted = sealed.withLock { all in (0..<threads).flatMap { all[$0] ?? [] } }
        BenchLine(op: "encrypt", n: lines.count, bytes: bytes, seconds: encryptSeconds, threads: shown).print()
        let warmSeconds = try measureParallel(threads) { _ = try encryptAll(parts[$0]) }
        BenchLine(
            op: "encrypt_warm",
            n: lines.count,
            bytes: bytes,
            seconds: warmSeconds,
            note: "every subject key exists",
            threads: shown
        )
        .print()

        for line in encrypted.prefix(warmup) { _ = try JSONValue(parsing: try cipher.decrypt(line)) }
        let sealedParts = slices(encrypted, threads)
        let decryptSeconds = try measureParallel(threads) { try decryptAll(sealedParts[$0], parse: true) }
        BenchLine(op: "decrypt", n: lines.count, bytes: bytes, seconds: decryptSeconds, threads: shown).print()

        let bytesSeconds = try measureParallel(threads) { try decryptAll(sealedParts[$0], parse: false) }
        BenchLine(op: "decrypt_bytes", n: lines.count, bytes: bytes, seconds: bytesSeconds, threads: shown).print()

        keys.clearCache()
        let coldSeconds = try measureParallel(threads) { try decryptAll(sealedParts[$0], parse: false) }
        BenchLine(
            op: "decrypt_cold",
            n: lines.count,
            bytes: bytes,
            seconds: coldSeconds,
            note: "key cache emptied first",
            threads: shown
        )
        .print()
    }
}
