import ArgumentParser
import Foundation
import Strongroom
import StrongroomAudit
import StrongroomJSON
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema

extension SQLiteEventLog.Durability: ExpressibleByArgument {}

struct TopicCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topic",
        abstract: "Create, list, describe and delete topics of the event log (embedded, or Kafka with --kafka).",
        discussion: """
            Topics are never created implicitly: appending to a topic that does not exist is an error.

              strongroom topic create loan_applications --partitions 6 \\
                  --retention-ms 604800000 --classification RESTRICTED \\
                  --encryption-required
              strongroom topic describe loan_applications
            """,
        subcommands: [Create.self, List.self, Describe.self, Delete.self]
    )

    static func emit<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func text(_ topic: TopicDescription) -> String {
        var lines = ["\(topic.name): \(topic.config.partitions) partition(s)"]
        var settings: [String] = []
        if let ms = topic.config.retentionMs {
            let days = Double(ms) / 86_400_000
            settings.append("retention \(String(format: days < 1 ? "%.3g" : "%.4g", days)) days (\(ms) ms)")
        }
        if let bytes = topic.config.retentionBytes { settings.append("retention \(bytes) bytes per partition") }
        if let c = topic.config.classification { settings.append("classification \(c)") }
        if topic.config.encryptionRequired { settings.append("encryption required") }
        settings.append("DLP \(topic.config.dlpAction ?? "reject")")
        if !settings.isEmpty { lines.append("  " + settings.joined(separator: ", ")) }
        for p in topic.partitions {
            let size = p.bytes < 0 ? "size kept by the brokers" : "\(p.bytes) bytes"
            lines.append("  partition \(p.partition): offsets \(p.startOffset)..<\(p.endOffset), \(size)")
        }
        return lines.joined(separator: "\n")
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a topic, and beside it its dead-letter topic <name>.dlq.",
            discussion: """
                The dead-letter topic gets the same partitions, classification and time retention: it holds, \
                still encrypted, the records a consumer could not verify or read (see `strongroom dlq`).
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup(title: "Event log") var eventLog: LogOptions
        @Argument(help: "Topic name: 1–249 of A-Z a-z 0-9 . _ -")
        var name: String
        @Option(help: "Partitions (1…4096).")
        var partitions = 1
        @Option(help: "Delete records older than this many milliseconds.")
        var retentionMs: Int64?
        @Option(help: "Keep at most this many bytes per partition.")
        var retentionBytes: Int64?
        @Option(help: "PUBLIC, INTERNAL, CONFIDENTIAL or RESTRICTED.")
        var classification: String?
        @Flag(help: "The secure pipeline must encrypt tagged fields before appending.")
        var encryptionRequired = false
        @Option(help: "Largest record accepted, in bytes.")
        var maxRecordBytes = 1 << 20
        @Option(help: "What a DLP finding in an untagged field does: reject or flag.")
        var dlp = "reject"

        func run() throws {
            try data.audit("CreateTopic", "topic:\(name)")
            let classes = ["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"]
            if let classification, !classes.contains(classification) {
                throw ValidationError("classification must be one of \(classes.joined(separator: ", "))")
            }
            let log = try eventLog.open(data)
            let config = TopicConfig(
                partitions: partitions,
                retentionMs: retentionMs,
                retentionBytes: retentionBytes,
                classification: classification,
                encryptionRequired: encryptionRequired,
                maxRecordBytes: maxRecordBytes,
                dlpAction: dlp
            )
            let withDeadLetters = !name.hasSuffix(".dlq")
            do {
                if withDeadLetters {
                    try log.createTopicWithDeadLetters(name, config: config)
                } else {
                    try log.createTopic(name, config: config)
                }
            } catch { throw CLIError("\(error)") }
            print(
                "Created topic \(name) with \(partitions) partition(s)"
                    + (withDeadLetters ? ", and its dead-letter topic \(name).dlq" : "")
            )
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics.")
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup(title: "Event log") var eventLog: LogOptions
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let topics: [TopicDescription]
            do { topics = try eventLog.open(data).topics() } catch { throw CLIError("\(error)") }
            if json { return try TopicCommand.emit(topics) }
            if topics.isEmpty { print("No topics. Create one with `strongroom topic create NAME`.") }
            for topic in topics { print(TopicCommand.text(topic)) }
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a topic's configuration and offsets.")
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup(title: "Event log") var eventLog: LogOptions
        @Argument(help: "Topic name.")
        var name: String
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let topic: TopicDescription
            do { topic = try eventLog.open(data).describeTopic(name) } catch { throw CLIError("\(error)") }
            if json { return try TopicCommand.emit(topic) }
            print(TopicCommand.text(topic))
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a topic, its records and its consumer groups' offsets."
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup(title: "Event log") var eventLog: LogOptions
        @Argument(help: "Topic name.")
        var name: String

        func run() throws {
            try data.audit("DeleteTopic", "topic:\(name)")
            do { try eventLog.open(data).deleteTopic(name) } catch { throw CLIError("\(error)") }
            print("Deleted topic \(name)")
        }
    }
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Raw append and read on the event log (operators' tools, not the secure path).",
        discussion: """
            These bypass schema validation, encryption, signatures and policy: use them to inspect and \
            repair, never to produce customer data (that is `strongroom produce`). Appending to a protected \
            topic needs --raw, and is audited.

              printf '{"customerId":"C1","amount":10}\\n' | strongroom log append --topic t --key-field customerId --raw
              strongroom log read --topic t --partition 0 --from 0
            """,
        subcommands: [Append.self, Read.self, Retention.self]
    )

    struct Append: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append stdin lines as raw records; print `partition P offset O` for each once it is durable.",
            discussion: """
                Each non-empty line is one record value, stored as it is: no validation, DLP, encryption or \
                signature. With --key-field, lines must be JSON objects and the named member (a string) is the \
                key, so records land where a Kafka client would put them. A bad line is reported with its number \
                and skipped; the others are appended. Exit status 1 when any line failed.

                A topic that is not classified PUBLIC, whose DLP action is reject (the default) or that \
                requires encryption is protected: raw records there are refused unless --raw is given, which the \
                audit log records. Customer data goes through `strongroom produce`.
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup(title: "Event log") var eventLog: LogOptions
        @Option(help: "Topic (must exist).")
        var topic: String
        @Option(help: "Top-level JSON member whose string value is the record key.")
        var keyField: String?
        @Option(help: "Records per durable append.")
        var batch = 500
        @Option(help: "Durability of each append: full, normal or off.")
        var durability: SQLiteEventLog.Durability = .full
        @Flag(help: "Append to a protected topic anyway, unchecked and unencrypted (audited).")
        var raw = false

        /// Why a topic must not take raw records; empty when it may.
        static func protections(_ config: TopicConfig) -> [String] {
            var found: [String] = []
            // Only an explicit PUBLIC is unprotected: an unclassified topic may hold anything.
            if config.classification != "PUBLIC" { found.append("classification \(config.classification ?? "none")") }
            if (config.dlpAction ?? "reject") == "reject" { found.append("DLP reject") }
            if config.encryptionRequired { found.append("encryption required") }
            return found
        }

        func run() throws {
            _ = try data.existing()
            let log = try eventLog.open(data, durability: durability)
            let config: TopicConfig
            do { config = try log.describeTopic(topic).config } catch { throw CLIError("\(error)") }
            let protections = Self.protections(config)
            if !protections.isEmpty && !raw {
                throw CLIError(
                    "topic \(topic) is protected (\(protections.joined(separator: ", "))): produce customer data "
                        + "with `strongroom produce`, or pass --raw to append unchecked records (audited)"
                )
            }
            try data.audit(
                raw ? "AppendRaw" : "Append",
                "topic:\(topic)",
                reason: protections.isEmpty
                    ? "raw records from the shell"
                    : "raw records from the shell, bypassing: \(protections.joined(separator: ", "))"
            )
            let maxRecordBytes = config.maxRecordBytes
            var records: [LogRecord] = []
            var failures = 0
            var lineNumber = 0
            func flush() throws {
                guard !records.isEmpty else { return }
                let positions: [RecordPosition]
                do { positions = try log.append(records, to: topic) } catch { throw CLIError("\(error)") }
                records.removeAll(keepingCapacity: true)
                var out: [UInt8] = []
                for p in positions { out += Array("partition \(p.partition) offset \(p.offset)\n".utf8) }
                guard writeOut(out) else { throw CLIError("cannot write to standard output") }
            }
            var input = InputLines(maxBytes: maxRecordBytes)
            while let next = input.next() {
                lineNumber += 1
                // Each line is checked alone: one bad or oversized line never costs its batch.
                guard case .line(let line) = next else {
                    printError(
                        "strongroom log append: line \(lineNumber): longer than \(maxRecordBytes) bytes, skipped"
                    )
                    failures += 1
                    continue
                }
                if InputLines.isBlank(line) { continue }
                let value: JSONValue
                do { value = try JSONValue(parsing: line) } catch {
                    printError(
                        "strongroom log append: line \(lineNumber): not JSON (\(error.code) at byte \(error.offset))"
                    )
                    failures += 1
                    continue
                }
                var key: [UInt8]? = nil
                if let keyField {
                    guard case .object = value, let k = value[keyField]?.stringValue else {
                        printError("strongroom log append: line \(lineNumber): no string member \(keyField)")
                        failures += 1
                        continue
                    }
                    key = Array(k.utf8)
                }
                records.append(LogRecord(key: key, value: line))
                if records.count >= batch { try flush() }
            }
            try flush()
            if failures > 0 {
                printError("strongroom log append: \(failures) of \(lineNumber) lines failed")
                throw ExitCode(1)
            }
        }
    }

    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print records of one partition, one value per line (or --json with offsets and headers).",
            discussion: "With --group, resumes from the group's committed offset and commits after printing."
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup(title: "Event log") var eventLog: LogOptions
        @Option(help: "Topic.")
        var topic: String
        @Option(help: "Partition (default: every partition, in order).")
        var partition: Int?
        @Option(help: "First offset (default: the group's committed offset, else 0).")
        var from: Int64?
        @Option(help: "Most records to print (per partition).")
        var limit = 1000
        @Option(help: "Consumer group: resume from and commit to it.")
        var group: String?
        @Flag(help: "Print JSON objects with partition, offset, timestamp, key, headers and value.")
        var json = false

        func run() throws {
            _ = try data.existing()
            try data.audit("Read", "topic:\(topic)", reason: partition.map { "partition \($0)" } ?? "every partition")
            let log = try eventLog.open(data)
            do {
                let partitions = try partition.map { [$0] } ?? log.describeTopic(topic).partitions.map(\.partition)
                for partition in partitions { try read(log, partition) }
            } catch let error as CLIError { throw error } catch { throw CLIError("\(error)") }
        }

        func read(_ log: any EventLog, _ partition: Int) throws {
            do {
                var next =
                    try from ?? group.flatMap { try log.committedOffset(group: $0, topic: topic, partition: partition) }
                    ?? 0
                var remaining = limit
                while remaining > 0 {
                    let page = try log.fetch(
                        topic: topic,
                        partition: partition,
                        from: next,
                        maxBytes: 1 << 20,
                        maxRecords: min(remaining, 1000)
                    )
                    guard let last = page.last else { break }
                    var out: [UInt8] = []
                    for record in page {
                        if json {
                            out += Array(LogCommand.json(record).utf8)
                        } else {
                            out += record.value ?? []
                        }
                        out.append(0x0A)
                    }
                    guard writeOut(out) else { throw CLIError("cannot write to standard output") }
                    next = last.offset + 1
                    remaining -= page.count
                    if let group { try log.commit(group: group, topic: topic, partition: partition, offset: next) }
                }
            } catch let error as CLIError { throw error } catch { throw CLIError("\(error)") }
        }
    }

    struct Retention: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the retention sweep now and say what it removed, topic by topic.",
            discussion: """
                A topic's retention is its own --retention-ms, else its schema's strongroom:retentionDays, else the \
                default of its classification (INTERNAL 365 days, CONFIDENTIAL and RESTRICTED 2555). Removals are \
                recorded in the audit log. A partition whose stored records do not decode is left as it was, \
                audited and reported, the others are swept, and the command exits non-zero.
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup(title: "Event log") var eventLog: LogOptions

        func run() throws {
            let outcomes: [RetentionSweep.Outcome]
            do {
                let services = StrongroomServices(
                    keys: try KeyStore.openGuarded(dataDirectory: data.url),
                    log: try eventLog.open(data),
                    registry: try SchemaRegistry(dataDirectory: data.url),
                    // The sweep authorizes nothing: a policy without rules.
                    policy: PolicyEngine(try Policy(parsing: Array(#"{"version":"retention-sweep","rules":[]}"#.utf8))),
                    audit: try data.auditLog()
                )
                outcomes = try RetentionSweep(services: services).run()
            } catch { throw CLIError("\(error)") }
            if outcomes.isEmpty { print("No topics.") }
            for o in outcomes {
                guard let days = o.retentionDays else {
                    print("\(o.topic): no retention (kept)")
                    continue
                }
                print(
                    "\(o.topic): retention \(String(format: "%g", days)) days (\(o.source)): removed \(o.records) record(s), "
                        + "\(o.bytes) bytes"
                )
                for failure in o.failures {
                    print("\(o.topic): partition \(failure.partition) not swept: \(failure.reason)")
                }
            }
            let failed = outcomes.reduce(0) { $0 + $1.failures.count }
            if failed > 0 {
                throw CLIError(
                    "\(failed) partition(s) kept their expired records: their stored records do not decode (see above)"
                )
            }
        }
    }

    static func json(_ record: StoredRecord) -> String {
        var out: [UInt8] = []
        func text(_ bytes: [UInt8]?) -> JSONValue {
            guard let bytes else { return .null }
            if let s = String(validating: bytes, as: UTF8.self) { return .string(s) }
            return .string("base64:" + Data(bytes).base64EncodedString())
        }
        let value = JSONValue.object([
            .init("partition", .number(String(record.partition))),
            .init("offset", .number(String(record.offset))),
            .init("timestamp", .number(String(record.timestamp))),
            .init("key", text(record.key)),
            // Pairs, not an object: header names may repeat.
            .init("headers", .array(record.headers.map { .array([.string($0.name), text($0.value)]) })),
            .init("value", text(record.value)),
        ])
        value.write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

struct LogBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Durable append and read of an events file through the embedded event log.",
        discussion: """
            append: key (the --key-field value) and value bytes in hand, appended in batches of --batch
              records, each batch one durable transaction (WAL, synchronous=FULL unless --durability says
              otherwise), one thread. Same meaning as the `produce` op of ../shared/bench.
            read: every partition fetched from offset 0 to the end (1 MiB / 10,000-record pages). \
            Lines in the ../shared/bench format; compare with the confluent-kafka produce/consume lines.

              strongroom bench log --events /tmp/srbench/events-100000.jsonl
            """
    )
    @Option(help: "JSON Lines events file.")
    var events: String
    @Option(help: "Top-level member used as the record key.")
    var keyField = "customerId"
    @Option(help: "Partitions of the bench topic.")
    var partitions = 4
    @Option(help: "Records per durable append.")
    var batch = 1000
    @Option(help: "full, normal or off.")
    var durability: SQLiteEventLog.Durability = .full
    @Option(help: "Warm-up events (untimed, appended to another topic).")
    var warmup = 1000

    func run() throws {
        let lines = try Data(contentsOf: URL(fileURLWithPath: events)).split(separator: 0x0A).map { Array($0) }
        var paths = JSONPathSet()
        paths.insert([.member(keyField)], tag: 0)
        let keys: [[UInt8]?] = lines.map { line in
            line.withUnsafeBufferPointer { buffer in
                guard let match = try? paths.matches(in: buffer).first, match.span.count >= 2 else { return nil }
                return Array(buffer[(match.span.lowerBound + 1)..<(match.span.upperBound - 1)])
            }
        }
        let records = zip(keys, lines).map { LogRecord(key: $0, value: $1) }
        let bytes = lines.reduce(0) { $0 + $1.count }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strongroom-bench-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = try SQLiteEventLog(dataDirectory: directory, durability: durability)
        try log.createTopic("warmup", config: TopicConfig(partitions: partitions))
        try log.createTopic("loan_applications", config: TopicConfig(partitions: partitions))
        _ = try log.append(Array(records.prefix(warmup)), to: "warmup")
        let appendSeconds = try measure {
            var start = 0
            while start < records.count {
                let end = min(start + batch, records.count)
                _ = try log.append(Array(records[start..<end]), to: "loan_applications")
                start = end
            }
        }
        BenchLine(
            op: "append",
            n: records.count,
            bytes: bytes,
            seconds: appendSeconds,
            note: "durable (\(durability.rawValue)), \(batch) records per transaction, \(partitions) partitions"
        )
        .print()
        var read = 0
        let readSeconds = try measure {
            for p in 0..<partitions {
                var next: Int64 = 0
                while true {
                    let page = try log.fetch(
                        topic: "loan_applications",
                        partition: p,
                        from: next,
                        maxBytes: 1 << 20,
                        maxRecords: 10_000
                    )
                    guard let last = page.last else { break }
                    read += page.count
                    next = last.offset + 1
                }
            }
        }
        guard read == records.count else { throw CLIError("read \(read) of \(records.count) records") }
        BenchLine(op: "read", n: read, bytes: bytes, seconds: readSeconds, note: "all partitions from offset 0").print()
    }
}
