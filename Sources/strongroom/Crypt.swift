import ArgumentParser
import Foundation
import Strongroom
import StrongroomJSON
import StrongroomKeys
import StrongroomSchema
import Synchronization

/// Options shared by `encrypt` and `decrypt`.
struct CipherOptions: ParsableArguments {
    @Option(help: "Topic the events belong to (bound into every ciphertext).")
    var topic: String

    @Option(help: "JSON Schema file; fields whose confluent:tags hold PII are encrypted.")
    var schema: String

    @OptionGroup var tenantOption: TenantOption
    var tenant: String? { tenantOption.tenant }

    @Option(
        help: """
            Top-level field holding the data-subject id; its fields use the subject's own key. Default: the \
            schema's strongroom:subject field (a different one is refused).
            """
    )
    var subjectField: String?

    @Option(
        help:
            "Top-level field holding a unique event id, bound into each field so ciphertexts cannot move between events."
    )
    var eventIdField: String?

    /// The schema, its plan and annotations, and the cipher for the data directory's tenant.
    func load(_ data: DataDirectoryOptions) throws -> (schema: JSONValue, cipher: EventCipher) {
        let tenant = try data.tenant(tenant)
        do {
            guard let bytes = FileManager.default.contents(atPath: schema) else {
                throw CLIError("cannot read schema file \(schema)")
            }
            let value = try JSONValue(parsing: bytes)
            let plan = try EncryptionPlan(schema: value)
            let annotations = try SchemaAnnotations(schema: value)
            // The schema's subject field is the subject field: encrypting its customers' PII
            // under one topic key would make their erasure impossible.
            var subject = subjectField
            if let named = annotations.subjectField {
                if let given = subjectField, !given.hasSameBytes(as: named) {
                    throw CLIError(
                        "--subject-field \(given) disagrees with the schema's strongroom:subject field \(named): "
                            + "check --subject-field and --schema"
                    )
                }
                subject = named
            }
            let keys = try KeyStore.open(dataDirectory: data.url)
            let cipher = try EventCipher(
                plan: plan,
                keys: keys,
                options: .init(topic: topic, tenant: tenant, subjectField: subject, eventIDField: eventIdField)
            )
            return (value, cipher)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// Runs `body` over JSON Lines from stdin.
///
/// Failures are reported per line and do not stop the stream. Lines available together
/// are handled as one batch.
func processLines<Failure: Error>(
    _ label: String,
    maxLineBytes: Int = InputLines.defaultMaxBytes,
    _ body: ([[UInt8]]) -> [Result<[UInt8], Failure>]
) throws {
    var reader = LineBatches(maxLineBytes: maxLineBytes)
    let report = LineReport(label, maxLineBytes: maxLineBytes)
    while let batch = reader.next() { report.write(body(batch.lines), batch) }
    try report.finish(lines: reader.lineNumber, skipped: reader.leftOver)
}

/// Standard input in batches of the lines that are ready together (at most 1,000), with their
/// line numbers and the numbers of lines skipped as too long.
struct LineBatches {
    /// One batch.
    struct Batch: Sendable {
        var lines: [[UInt8]] = []
        var numbers: [Int] = []
        /// Lines before or among these that were longer than the limit, skipped.
        var skipped: [Int] = []
    }

    private var input: InputLines
    private var done = false
    private var skipped: [Int] = []
    /// Lines read so far, blank and skipped ones included.
    private(set) var lineNumber = 0
    /// Skipped lines after the last batch.
    var leftOver: [Int] { skipped }

    init(maxLineBytes: Int) { self.input = InputLines(maxBytes: maxLineBytes) }

    /// The next batch, nil at the end of input.
    ///
    /// Waits for the batch's first line only.
    mutating func next() -> Batch? {
        while !done {
            var batch = Batch()
            var line = input.next().map(InputLines.Ready.line) ?? .end
            while true {
                guard case .line(let next) = line else {
                    if case .end = line { done = true }
                    break
                }
                lineNumber += 1
                switch next {
                case .tooLong: skipped.append(lineNumber)
                case .line(let bytes) where !InputLines.isBlank(bytes):
                    batch.lines.append(bytes)
                    batch.numbers.append(lineNumber)
                case .line: break
                }
                if batch.lines.count == 1000 { break }
                line = input.nextIfReady()
            }
            if !batch.lines.isEmpty {
                batch.skipped = skipped
                skipped = []
                return batch
            }
        }
        return nil
    }
}

/// Writes each batch's results in order (outputs on stdout, failures and skipped lines on
/// stderr with their line numbers) and the summary; usable from the thread a streaming
/// producer answers on.
final class LineReport: Sendable {
    let label: String
    let maxLineBytes: Int
    private let state = Mutex((failures: 0, outputLost: false))

    init(_ label: String, maxLineBytes: Int) {
        self.label = label
        self.maxLineBytes = maxLineBytes
    }

    func write<Failure: Error>(_ results: [Result<[UInt8], Failure>], _ batch: LineBatches.Batch) {
        var out: [UInt8] = []
        var failures = 0
        var skipped = batch.skipped[...]
        for (number, result) in zip(batch.numbers, results) {
            while let first = skipped.first, first < number {
                tooLong(first)
                skipped = skipped.dropFirst()
            }
            switch result {
            case .success(let bytes):
                out.append(contentsOf: bytes)
                out.append(0x0A)
            case .failure(let error):
                failures += 1
                printError("strongroom \(label): line \(number): \(error)")
            }
        }
        skipped.forEach(tooLong)
        let written = writeOut(out)
        state.withLock {
            $0.failures += failures + batch.skipped.count
            if !written { $0.outputLost = true }
        }
    }

    private func tooLong(_ number: Int) {
        printError("strongroom \(label): line \(number): longer than \(maxLineBytes) bytes, skipped")
    }

    /// Reports lines skipped after the last batch; throws when output was lost or any of
    /// `lines` failed.
    func finish(lines: Int, skipped: [Int]) throws {
        skipped.forEach(tooLong)
        let (failures, outputLost) = state.withLock { ($0.failures + skipped.count, $0.outputLost) }
        if outputLost { throw CLIError("strongroom \(label): standard output could not be written") }
        if failures > 0 {
            printError("strongroom \(label): \(failures) of \(lines) lines failed")
            throw ExitCode(1)
        }
    }
}

struct Encrypt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encrypt the PII fields of JSON Lines (stdin → stdout).",
        discussion: """
            Every field the schema tags PII becomes an "sr1:…" string (AES-256-GCM, or AES-256-GCM-SIV where \
            the schema says "strongroom:encryption": "deterministic"); tags on an object cover its contents. \
            A bad line is reported on stderr with its number and reason; the others are still written. \
            Exit status 1 when any line failed.

            Example:
              strongroom encrypt --topic loan_applications \\
                  --schema examples/loan_application.schema.json \\
                  --subject-field customerId --event-id-field applicationId < \\
                  events.jsonl > encrypted.jsonl
            """
    )

    @OptionGroup var data: DataDirectoryOptions
    @OptionGroup var options: CipherOptions
    @Flag(help: "Pass events through even when the schema tags no field PII (nothing is then encrypted).")
    var allowNoTags = false
    @Flag(help: "Skip JSON Schema validation of each event (a warning is printed).")
    var noValidate = false
    @Flag(help: "Skip the DLP scan of untagged fields (a warning is printed).")
    var noDLP = false

    func run() throws {
        let (schema, cipher) = try options.load(data)
        if cipher.plan.fields.isEmpty && !allowNoTags {
            throw CLIError(
                "the schema tags no field PII, so nothing would be encrypted: check --schema "
                    + "(or pass --allow-no-tags to write events through in clear)"
            )
        }
        let validator: JSONSchemaValidator?
        do { validator = noValidate ? nil : try JSONSchemaValidator(schema: schema) } catch {
            throw CLIError("schema: \(error)")
        }
        if noValidate { printError("warning: --no-validate: events are not checked against the schema") }
        if noDLP { printError("warning: --no-dlp: personal data in untagged fields is not looked for") }
        let scanner = DLPScanner()
        let patterns = cipher.plan.fields.map(\.pattern)
        let declared = validator?.declaredNames ?? []
        // The same checks as the produce pipeline: schema, then DLP, then encryption.
        try processLines("encrypt") { lines in
            var checked: [Result<[UInt8], EventCipherError>?] = Array(repeating: nil, count: lines.count)
            var accepted: [Int] = []
            for (i, line) in lines.enumerated() {
                if let validator {
                    let errors = validator.validate(bytes: line)
                    if !errors.isEmpty {
                        let code: EventCipherError.Code = errors[0].keyword == "json" ? .invalidJSON : .schemaViolation
                        checked[i] = .failure(
                            EventCipherError(code, errors.prefix(3).map(\.description).joined(separator: "; "))
                        )
                        continue
                    }
                }
                if !noDLP, let value = try? JSONValue(parsing: line) {
                    let findings = scanner.scan(value, taggedPointers: patterns, declaredNames: declared)
                    if !findings.isEmpty {
                        checked[i] = .failure(
                            EventCipherError(
                                .untaggedPersonalData,
                                findings.map(\.description).joined(separator: ", ")
                            )
                        )
                        continue
                    }
                }
                accepted.append(i)
            }
            for (i, result) in zip(accepted, cipher.encrypt(batch: accepted.map { lines[$0] })) { checked[i] = result }
            return checked.map { $0 ?? .failure(EventCipherError(.invalidJSON)) }
        }
    }
}

struct Decrypt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decrypt the PII fields of JSON Lines (stdin → stdout).",
        discussion: """
            Takes the options `encrypt` took. Fields of an erased subject come out as {"$erased":true}: \
            erasure is an outcome, not an error. A line that fails (tampered, moved from another event, \
            unknown key) is reported on stderr with its number; the others are still written.
            """
    )

    @OptionGroup var data: DataDirectoryOptions
    @OptionGroup var options: CipherOptions

    func run() throws {
        try data.audit("Decrypt", "topic:\(options.topic)", reason: "strongroom decrypt from the shell")
        let cipher = try options.load(data).cipher
        try processLines("decrypt") { lines in
            lines.map { line in
                Result { () throws(EventCipherError) in try cipher.decrypt(line) }.mapError { error in
                    // A field that opens nowhere but in its own context: name the options that set it.
                    guard error.code == .authenticationFailure else { return error }
                    return EventCipherError(
                        error.code,
                        error.detail + "; check --topic, --event-id-field and the data directory's tenant: "
                            + "they must be the ones the events were encrypted with"
                    )
                }
            }
        }
    }
}
