import ArgumentParser
import Foundation
import StrongroomJSON
import StrongroomSchema

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "The schema registry: register, get, list, check, diff, validate; compatibility modes.",
        discussion: """
            Subjects are <topic>-value. Registration checks the subject's compatibility mode (default BACKWARD) \
            against earlier versions, and in every mode refuses schema poisoning: a removed PII tag or a loosened \
            constraint (removed pattern, wider maximum, …) needs --force, an admin's decision that is recorded.

              strongroom schema register --subject loan_applications-value \\
                  --schema examples/loan_application.schema.json
              strongroom schema check --subject loan_applications-value \\
                  --schema new.schema.json
              strongroom schema validate --subject loan_applications-value < \\
                  examples/loan_applications.jsonl
            """,
        subcommands: [
            Register.self, Get.self, List.self, Check.self, Diff.self, Validate.self, Compatibility.self, History.self,
        ]
    )

    static func open(_ data: DataDirectoryOptions) throws -> SchemaRegistry {
        do { return try SchemaRegistry(dataDirectory: data.url) } catch { throw CLIError("\(error)") }
    }

    static func read(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError("cannot read schema file \(path)")
        }
        return text
    }

    static func emit<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a schema version under a subject.")
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "Subject, <topic>-value.")
        var subject: String
        @Option(help: "JSON Schema file.")
        var schema: String
        @Option(help: "Who registers it (recorded).")
        var principal: String = "user:" + ProcessInfo.processInfo.userName
        @Flag(help: "Admin override: skip compatibility and security checks (recorded as register-forced).")
        var force = false
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            try data.audit("RegisterSchema", "subject:\(subject)", reason: force ? "forced" : nil)
            let registry = try SchemaCommand.open(data)
            do {
                let registered = try registry.register(
                    subject: subject,
                    schema: try SchemaCommand.read(schema),
                    principal: principal,
                    force: force
                )
                if json { return try SchemaCommand.emit(registered) }
                print(
                    "Registered \(registered.subject) version \(registered.version), id \(registered.id), "
                        + "fingerprint \(registered.fingerprint.prefix(16))…"
                )
            } catch {
                throw CLIError("\(error)")
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a schema by subject and version, or by id.")
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "Subject.")
        var subject: String?
        @Option(help: "Version (default: latest).")
        var version: Int?
        @Option(help: "Global schema id.")
        var id: Int?

        func validate() throws {
            guard (subject != nil) != (id != nil) else { throw ValidationError("give --subject or --id") }
        }

        func run() throws {
            let registry = try SchemaCommand.open(data)
            do {
                let found: RegisteredSchema
                if let id {
                    found = try registry.schema(id: id)
                } else {
                    found = try registry.schema(subject: subject ?? "", version: version)
                }
                print(found.schema)
            } catch {
                throw CLIError("\(error)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List subjects, versions and modes.")
        @OptionGroup var data: DataDirectoryOptions
        @Flag(help: "Print JSON instead of text.")
        var json = false

        struct Entry: Encodable {
            var subject: String
            var versions: [Int]
            var compatibility: String
        }

        func run() throws {
            let registry = try SchemaCommand.open(data)
            do {
                let entries = try registry.subjects().map { subject throws(RegistryError) in
                    Entry(
                        subject: subject,
                        versions: try registry.versions(subject: subject),
                        compatibility: try registry.compatibility(subject: subject).rawValue
                    )
                }
                if json { return try SchemaCommand.emit(entries) }
                if entries.isEmpty { print("No subjects.") }
                for e in entries {
                    print(
                        "\(e.subject): versions \(e.versions.map(String.init).joined(separator: ", ")), \(e.compatibility)"
                    )
                }
            } catch {
                throw CLIError("\(error)")
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say whether a schema could be registered: every compatibility and security issue.",
            discussion: "Exit status 0 when it would be accepted, 1 with the issues listed otherwise."
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "Subject.")
        var subject: String
        @Option(help: "Candidate JSON Schema file.")
        var schema: String
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let registry = try SchemaCommand.open(data)
            let issues: [CompatibilityIssue]
            let candidate = try SchemaCommand.read(schema)
            do { issues = try registry.check(subject: subject, schema: candidate) } catch {
                throw CLIError("\(error)")
            }
            if json {
                try SchemaCommand.emit(issues)
            } else if issues.isEmpty {
                print(
                    "Compatible: \(subject) would accept it (\(try registry.compatibility(subject: subject).rawValue))."
                )
            } else {
                for issue in issues { print(issue) }
            }
            if !issues.isEmpty { throw ExitCode(1) }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "What changed between two versions (or a file and the latest): compatibility both ways, weakenings."
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "Subject.")
        var subject: String
        @Option(help: "Older version (default: the one before --to).")
        var from: Int?
        @Option(help: "Newer version (default: latest).")
        var to: Int?
        @Option(help: "Compare this file with the latest version instead.")
        var schema: String?

        func run() throws {
            let registry = try SchemaCommand.open(data)
            do {
                let newText: String
                let old: RegisteredSchema
                if let schema {
                    newText = try SchemaCommand.read(schema)
                    old = try registry.schema(subject: subject)
                } else {
                    let newer = try registry.schema(subject: subject, version: to)
                    newText = newer.schema
                    old = try registry.schema(subject: subject, version: from ?? max(1, newer.version - 1))
                }
                let oldValue = try JSONValue(parsing: old.schema)
                let newValue = try JSONValue(parsing: newText)
                let sections: [(String, [(String, String)])] = [
                    ("new reads old (BACKWARD)", SchemaCompatibility.canRead(reader: newValue, writer: oldValue)),
                    ("old reads new (FORWARD)", SchemaCompatibility.canRead(reader: oldValue, writer: newValue)),
                    ("weakened (SECURITY)", SchemaCompatibility.weakenings(old: oldValue, new: newValue)),
                ]
                for (title, issues) in sections {
                    print("\(title): \(issues.isEmpty ? "no issue" : "\(issues.count) issue(s)")")
                    for (pointer, message) in issues { print("  #\(pointer): \(message)") }
                }
            } catch {
                throw CLIError("\(error)")
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate JSON Lines on stdin against a schema; name each bad line's pointer and rule.",
            discussion: """
                Errors carry the JSON pointer and the rule, never the value. Exit status 1 when any line is \
                invalid. With --json, one result object per line: {"line":N,"valid":bool,"errors":[…]}.
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "JSON Schema file.")
        var schema: String?
        @Option(help: "Registered subject (latest version).")
        var subject: String?
        @Flag(help: "One JSON result per line.")
        var json = false

        func validate() throws {
            guard (schema != nil) != (subject != nil) else { throw ValidationError("give --schema or --subject") }
        }

        func run() throws {
            let text: String
            if let schema {
                text = try SchemaCommand.read(schema)
            } else {
                do { text = try SchemaCommand.open(data).schema(subject: subject ?? "").schema } catch {
                    throw CLIError("\(error)")
                }
            }
            let validator: JSONSchemaValidator
            do { validator = try JSONSchemaValidator(schema: try JSONValue(parsing: text)) } catch {
                throw CLIError("schema: \(error)")
            }
            var line = 0
            var invalid = 0
            var lines = InputLines(maxBytes: ValidationLimits().maxEventBytes + 1)
            while let next = lines.next() {
                line += 1
                let errors: [StrongroomSchema.ValidationError]
                switch next {
                case .tooLong:
                    errors = [
                        StrongroomSchema.ValidationError(
                            pointer: "",
                            keyword: "limit",
                            schemaPointer: "",
                            message: "event larger than \(ValidationLimits().maxEventBytes) bytes"
                        )
                    ]
                case .line(let input):
                    if InputLines.isBlank(input) { continue }
                    errors = validator.validate(bytes: input)
                }
                if !errors.isEmpty { invalid += 1 }
                if json {
                    var out: [UInt8] = []
                    JSONValue.object([
                        .init("line", .number(String(line))), .init("valid", .bool(errors.isEmpty)),
                        .init("errors", .array(errors.map { .string($0.description) })),
                    ]).write(to: &out)
                    print(String(decoding: out, as: UTF8.self))
                } else {
                    for error in errors { print("line \(line): \(error)") }
                }
            }
            if !json { printError("\(line - invalid) of \(line) line(s) valid") }
            if invalid > 0 { throw ExitCode(1) }
        }
    }

    struct Compatibility: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show or set a subject's compatibility mode.")
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "Subject.")
        var subject: String
        @Option(help: "New mode: \(CompatibilityMode.allCases.map(\.rawValue).joined(separator: ", ")).")
        var set: String?
        @Option(help: "Who changes it (recorded).")
        var principal: String = "user:" + ProcessInfo.processInfo.userName

        func run() throws {
            let registry = try SchemaCommand.open(data)
            do {
                if let set {
                    guard let mode = CompatibilityMode(rawValue: set.uppercased()) else {
                        throw CLIError("unknown mode \(set)")
                    }
                    try registry.setCompatibility(mode, subject: subject, principal: principal)
                }
                print("\(subject): \(try registry.compatibility(subject: subject).rawValue)")
            } catch {
                throw CLIError("\(error)")
            }
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every schema change: who, when, what, fingerprint.")
        @OptionGroup var data: DataDirectoryOptions

        func run() throws {
            let changes: [SchemaChange]
            do { changes = try SchemaCommand.open(data).changes() } catch { throw CLIError("\(error)") }
            try SchemaCommand.emit(changes)
        }
    }
}

struct ValidateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "JSON Schema validation (parse + validate) of an events file, events/s.",
        discussion: """
            Same contract as ../shared/bench: 1000-event warm-up, then the whole file, one thread. Compare with \
            the difference between the confluent-csfle `encrypt` and `encrypt_novalidate` lines. With --dlp, each \
            valid event is also scanned for sensitive data outside its tagged fields, as a produce call does \
            before encrypting: op validate_dlp as a produce call runs it (one pass over the bytes, the parsed \
            path for an event that pass cannot decide), op validate_dlp_parsed on the parsed event alone.

              strongroom bench validate --events /tmp/srbench/events-100000.jsonl \\
                  --schema ../shared/bench/loan_application.schema.json --dlp
            """
    )
    @Option(help: "JSON Lines events file.")
    var events: String
    @Option(help: "JSON Schema.")
    var schema: String
    @Option(help: "Warm-up events (untimed).")
    var warmup = 1000
    @Flag(help: "Also time validation followed by the DLP scan of the produce path.")
    var dlp = false

    func run() throws {
        let lines = try Data(contentsOf: URL(fileURLWithPath: events)).split(separator: 0x0A).map { Array($0) }
        let bytes = lines.reduce(0) { $0 + $1.count }
        let schemaValue = try JSONValue(parsing: SchemaCommand.read(schema))
        let validator = try JSONSchemaValidator(schema: schemaValue)
        for line in lines.prefix(warmup) { _ = validator.validate(bytes: line) }
        var invalid = 0
        let seconds = measure { for line in lines where !validator.validate(bytes: line).isEmpty { invalid += 1 } }
        BenchLine(
            op: "validate",
            n: lines.count,
            bytes: bytes,
            seconds: seconds,
            note: "parse + validate, \(invalid) invalid"
        )
        .print()
        guard dlp else { return }
        // What a produce call runs on each event before encrypting it.
        let scanner = DLPScanner()
        let coverage = DLPCoverage(try EncryptionPlan(schema: schemaValue).fields.map(\.pattern))
        let declared = DLPDeclaredNames(validator.declaredNames)
        func parsedCheck(_ line: [UInt8]) -> Bool {
            let (value, errors) = validator.validated(bytes: line)
            guard errors.isEmpty, let value else { return false }
            return scanner.scan(value, coverage: coverage, declared: declared).isEmpty
        }
        // As the produce path: one pass over the bytes, the parsed path when it cannot tell.
        func check(_ line: [UInt8]) -> Bool {
            line.withUnsafeBufferPointer { validator.passes($0, dlp: scanner, coverage: coverage) }
                || parsedCheck(line)
        }
        for line in lines.prefix(warmup) { _ = parsedCheck(line) }
        var parsedRefused = 0
        let parsedSeconds = measure { for line in lines where !parsedCheck(line) { parsedRefused += 1 } }
        BenchLine(
            op: "validate_dlp_parsed",
            n: lines.count,
            bytes: bytes,
            seconds: parsedSeconds,
            note: "parse + validate + DLP scan of the parsed event, \(parsedRefused) refused"
        )
        .print()
        for line in lines.prefix(warmup) { _ = check(line) }
        var refused = 0
        let dlpSeconds = measure { for line in lines where !check(line) { refused += 1 } }
        BenchLine(
            op: "validate_dlp",
            n: lines.count,
            bytes: bytes,
            seconds: dlpSeconds,
            note: "one pass over the bytes (the parsed path when it cannot decide), \(refused) refused"
        )
        .print()
    }
}
