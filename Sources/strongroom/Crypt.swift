import ArgumentParser
import Foundation
import Strongroom
import StrongroomKeys
import StrongroomSchema

/// Options shared by `encrypt` and `decrypt`.
struct CipherOptions: ParsableArguments {
    @Option(help: "Topic the events belong to (bound into every ciphertext).")
    var topic: String

    @Option(help: "JSON Schema file; fields whose confluent:tags hold PII are encrypted.")
    var schema: String

    @Option(help: "Tenant (bound into every ciphertext).")
    var tenant: String = ""

    @Option(help: "Top-level field holding the data-subject id; its fields use the subject's own key.")
    var subjectField: String?

    @Option(
        help:
            "Top-level field holding a unique event id, bound into each field so ciphertexts cannot move between events."
    )
    var eventIdField: String?

    func cipher(dataDirectory: URL) throws -> EventCipher {
        do {
            let plan = try EncryptionPlan(contentsOf: URL(fileURLWithPath: schema))
            let keys = try KeyStore.open(dataDirectory: dataDirectory)
            return try EventCipher(
                plan: plan,
                keys: keys,
                options: .init(topic: topic, tenant: tenant, subjectField: subjectField, eventIDField: eventIdField)
            )
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// Runs `body` over JSON Lines from stdin.
///
/// Failures are reported per line and do not stop the stream. Lines available together
/// are handled as one batch.
func processLines(
    _ label: String,
    maxLineBytes: Int = InputLines.defaultMaxBytes,
    _ body: ([[UInt8]]) -> [Result<[UInt8], EventCipherError>]
) throws {
    var input = InputLines(maxBytes: maxLineBytes)
    var lineNumber = 0
    var failures = 0
    var outputLost = false
    var done = false
    while !done {
        var batch: [[UInt8]] = []
        var numbers: [Int] = []
        repeat {
            guard let next = input.next() else {
                done = true
                break
            }
            lineNumber += 1
            switch next {
            case .tooLong:
                failures += 1
                printError("strongroom \(label): line \(lineNumber): longer than \(maxLineBytes) bytes, skipped")
            case .line(let line):
                if InputLines.isBlank(line) { continue }
                batch.append(line)
                numbers.append(lineNumber)
            }
        } while input.hasBufferedLine && batch.count < 1000
        guard !batch.isEmpty else { continue }
        var out: [UInt8] = []
        for (number, result) in zip(numbers, body(batch)) {
            switch result {
            case .success(let bytes):
                out.append(contentsOf: bytes)
                out.append(0x0A)
            case .failure(let error):
                failures += 1
                printError("strongroom \(label): line \(number): \(error)")
            }
        }
        if !writeOut(out) { outputLost = true }
    }
    if outputLost { throw CLIError("strongroom \(label): standard output could not be written") }
    if failures > 0 {
        printError("strongroom \(label): \(failures) of \(lineNumber) lines failed")
        throw ExitCode(1)
    }
}

struct Encrypt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encrypt the PII fields of JSON Lines (stdin → stdout).",
        discussion: """
            Every field the schema tags PII becomes an "sr1:…" string (AES-256-GCM, or AES-256-GCM-SIV where
            the schema says "strongroom:encryption": "deterministic"); tags on an object cover its contents.
            A bad line is reported on stderr with its number and reason; the others are still written.
            Exit status 1 when any line failed.

            Example:
              strongroom encrypt --topic loan_applications --schema examples/loan_application.schema.json \\
                  --subject-field customerId --event-id-field applicationId < events.jsonl > encrypted.jsonl
            """
    )

    @OptionGroup var data: DataDirectoryOptions
    @OptionGroup var options: CipherOptions

    func run() throws {
        let cipher = try options.cipher(dataDirectory: data.url)
        try processLines("encrypt") { cipher.encrypt(batch: $0) }
    }
}

struct Decrypt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decrypt the PII fields of JSON Lines (stdin → stdout).",
        discussion: """
            Takes the options `encrypt` took. Fields of an erased subject come out as {"$erased":true}:
            erasure is an outcome, not an error. A line that fails (tampered, moved from another event,
            unknown key) is reported on stderr with its number; the others are still written.
            """
    )

    @OptionGroup var data: DataDirectoryOptions
    @OptionGroup var options: CipherOptions

    func run() throws {
        let cipher = try options.cipher(dataDirectory: data.url)
        try processLines("decrypt") { lines in
            lines.map { line in Result { () throws(EventCipherError) in try cipher.decrypt(line) } }
        }
    }
}
