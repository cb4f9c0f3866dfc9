import ArgumentParser
import Foundation
import Strongroom
import StrongroomJSON
import StrongroomKeys
import StrongroomSchema

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks on the shared workload, printed in the ../shared/bench result-line format.",
        subcommands: [
            CryptoBench.self, ValidateBench.self, LogBench.self, PipelineBench.self, PolicyBench.self, AuditBench.self,
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

    init(op: String, n: Int, bytes: Int, seconds: Double, note: String? = nil) {
        self.op = op
        self.n = n
        self.seconds = (seconds * 1000).rounded() / 1000
        self.events_per_s = (Double(n) / seconds).rounded()
        self.mb_per_s = (Double(bytes) / seconds / 1e6 * 100).rounded() / 100
        self.note = note
    }

    func print() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let data = try? encoder.encode(self) { Swift.print(String(decoding: data, as: UTF8.self)) }
    }
}

func measure(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let elapsed = try clock.measure(body)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

struct CryptoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "Field encryption and decryption of an events file, one thread.",
        discussion: """
            Same contract as ../shared/bench: 1000-event warm-up (untimed), then the whole file timed.

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
            options: .init(topic: topic, subjectField: subjectField, eventIDField: eventIdField)
        )
        func encryptAll(_ input: ArraySlice<[UInt8]>) throws -> [[UInt8]] {
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
        _ = try encryptAll(lines.prefix(warmup))
        var encrypted: [[UInt8]] = []
        let encryptSeconds = try measure { encrypted = try encryptAll(lines[...]) }
        BenchLine(op: "encrypt", n: lines.count, bytes: bytes, seconds: encryptSeconds).print()
        let warmSeconds = try measure { _ = try encryptAll(lines[...]) }
        BenchLine(
            op: "encrypt_warm",
            n: lines.count,
            bytes: bytes,
            seconds: warmSeconds,
            note: "every subject key exists"
        )
        .print()

        for line in encrypted.prefix(warmup) { _ = try JSONValue(parsing: try cipher.decrypt(line)) }
        let decryptSeconds = try measure {
            var out: [UInt8] = []
            for line in encrypted {
                out.removeAll(keepingCapacity: true)
                _ = try line.withUnsafeBufferPointer { try cipher.decrypt($0, into: &out) }
                _ = try JSONValue(parsing: out)
            }
        }
        BenchLine(op: "decrypt", n: lines.count, bytes: bytes, seconds: decryptSeconds).print()

        let bytesSeconds = try measure {
            var out: [UInt8] = []
            for line in encrypted {
                out.removeAll(keepingCapacity: true)
                _ = try line.withUnsafeBufferPointer { try cipher.decrypt($0, into: &out) }
            }
        }
        BenchLine(op: "decrypt_bytes", n: lines.count, bytes: bytes, seconds: bytesSeconds).print()

        keys.clearCache()
        let coldSeconds = try measure {
            var out: [UInt8] = []
            for line in encrypted {
                out.removeAll(keepingCapacity: true)
                _ = try line.withUnsafeBufferPointer { try cipher.decrypt($0, into: &out) }
            }
        }
        BenchLine(
            op: "decrypt_cold",
            n: lines.count,
            bytes: bytes,
            seconds: coldSeconds,
            note: "key cache emptied first"
        )
        .print()
    }
}
