import ArgumentParser
import Crypto
import Foundation
import Logging
import Strongroom
import StrongroomAudit
import StrongroomJSON
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema
import Synchronization

#if Kafka
import StrongroomKafka
#endif

/// The secure pipeline set up for a benchmark in a scratch data directory, on a given log.
struct SecureBench {
    let services: StrongroomServices
    let producer: SecureProducer

    /// Registers `schema` (with `strongroom:subject` on `subjectField`, so every customer has its
    /// own key as in the crypto bench) for each topic, creates the topics, and a policy letting
    /// bench-producer produce and bench-consumer consume and decrypt everything for purpose bench.
    init(
        directory: URL,
        schema: String,
        subjectField: String,
        topics: [String],
        partitions: Int,
        log: any EventLog
    ) throws {
        guard case .object(var members) = try JSONValue(parsing: DemoFiles.text(schema)) else {
            throw CLIError("schema is not an object")
        }
        if let i = members.firstIndex(where: { $0.key == "properties" }),
            case .object(var properties) = members[i].value,
            let j = properties.firstIndex(where: { $0.key == subjectField }),
            case .object(var field) = properties[j].value
        {
            field.removeAll { $0.key == "strongroom:subject" }
            field.append(.init("strongroom:subject", .bool(true)))
            properties[j].value = .object(field)
            members[i].value = .object(properties)
        }
        let registry = try SchemaRegistry(dataDirectory: directory)
        for name in topics {
            try registry.register(
                subject: "\(name)-value",
                schema: JSONValue.object(members).jsonText,
                principal: "bench"
            )
        }
        let policyText = """
            {"version":"bench","principals":{"bench-producer":{"kind":"service"},"bench-consumer":{"kind":"service"}},
             "rules":[
              {"id":"p","effect":"allow","principals":["bench-producer"],"actions":["Produce"],"resource":{"type":"topic","name":"","pattern":"prefixed"}},
              {"id":"c","effect":"allow","principals":["bench-consumer"],"actions":["Consume"],"resource":{"type":"topic","name":"","pattern":"prefixed"}},
              {"id":"g","effect":"allow","principals":["bench-consumer"],"actions":["Consume"],"resource":{"type":"group","name":"","pattern":"prefixed"}},
              {"id":"d","effect":"allow","principals":["bench-consumer"],"actions":["Decrypt"],"resource":{"type":"field","topic":"","pattern":"prefixed"},"purposes":["bench"]}]}
            """
        services = StrongroomServices(
            keys: try KeyStore.initialize(dataDirectory: directory),
            log: log,
            registry: registry,
            policy: PolicyEngine(try Policy(parsing: Array(policyText.utf8))),
            audit: try AuditLog(dataDirectory: directory),
            // Result lines own standard output.
            logger: Logger(label: "strongroom.pipeline") { _ in SwiftLogNoOpLogHandler() }
        )
        for name in topics { try services.createTopic(name, config: TopicConfig(partitions: partitions)) }
        let key = Curve25519.Signing.PrivateKey()
        services.trust(producer: "bench-producer", key: key.publicKey)
        producer = SecureProducer(services: services, principal: "bench-producer", key: key)
    }

    /// Produces `input` in calls of `batch` events from `callers` threads at once (each takes
    /// the next call's events as it finishes one); the number appended.
    func produceAll(_ input: ArraySlice<[UInt8]>, to topic: String, batch: Int, callers: Int = 1) -> Int {
        let calls = (input.count + batch - 1) / batch
        let next = Atomic(0)
        let appended = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: max(1, min(callers, calls))) { _ in
            while true {
                let call = next.add(1, ordering: .relaxed).oldValue
                guard call < calls else { return }
                let start = input.startIndex + call * batch
                let events = Array(input[start..<min(start + batch, input.endIndex)])
                let ok = producer.produce(events, to: topic).filter { (try? $0.get()) != nil }.count
                appended.add(ok, ordering: .relaxed)
            }
        }
        return appended.load(ordering: .relaxed)
    }

    /// Produces `input` as one stream of `batch`-event calls, each prepared while earlier ones
    /// are appended (``SecureProducer/produce(to:next:done:)``); the number appended.
    func produceStream(_ input: ArraySlice<[UInt8]>, to topic: String, batch: Int) -> Int {
        let appended = Atomic(0)
        var start = input.startIndex
        producer.produce(
            to: topic,
            next: {
                guard start < input.endIndex else { return nil }
                let end = min(start + batch, input.endIndex)
                defer { start = end }
                return (Array(input[start..<end]), UUID().uuidString)
            },
            done: { results in
                appended.add(results.filter { (try? $0.get()) != nil }.count, ordering: .relaxed)
                return true
            }
        )
        return appended.load(ordering: .relaxed)
    }

    /// Consumes the first record of each partition of `topic` as group `group`.
    ///
    /// Authorized, verified, decrypted, audited and committed like the rest: what the peers leave
    /// out of their consume timing as the first record's wait, here once per partition, as each
    /// partition's reader starts on its first fetch. The records consumed and the seconds taken.
    func consumeFirst(_ topic: String, partitions: Int, group: String) throws -> (events: Int, seconds: Double) {
        let consumer = SecureConsumer(services: services, principal: "bench-consumer", purpose: "bench", group: group)
        var events = 0
        let seconds = try measure {
            for partition in 0..<partitions {
                events += try consumer.consume(topic: topic, partition: partition, maxRecords: 1, handler: { _ in })
            }
        }
        return (events, seconds)
    }

    /// Each partition's end offset: where ``consumeAll(_:partitions:group:readers:until:)`` stops,
    /// read before the clock.
    func ends(of topic: String) throws -> [Int: Int64] {
        Dictionary(
            uniqueKeysWithValues: try services.log.describeTopic(topic).partitions.map { ($0.partition, $0.endOffset) }
        )
    }

    /// Consumes every partition of `topic` up to its end in `ends` as group `group`, with
    /// `readers` members of the group at once (reader r takes partitions r, r + readers, …);
    /// events and fields decrypted.
    ///
    /// A partition is left once a batch reaches its end, as the peers stop once they hold every
    /// event: no call is made only to find nothing more (a call that hands out nothing stops too).
    func consumeAll(
        _ topic: String,
        partitions: Int,
        group: String,
        readers: Int = 1,
        until ends: [Int: Int64]
    ) throws -> (events: Int, decrypted: Int) {
        let totals = Mutex((events: 0, decrypted: 0, error: nil as (any Error)?))
        DispatchQueue.concurrentPerform(iterations: max(1, min(readers, partitions))) { reader in
            let consumer = SecureConsumer(
                services: services,
                principal: "bench-consumer",
                purpose: "bench",
                group: group,
                fetchAhead: true
            )
            var consumed = 0
            var decrypted = 0
            do {
                let mine = Array(stride(from: reader, to: partitions, by: max(1, readers)))
                for (i, partition) in mine.enumerated() {
                    // The next partition's first batch is fetched while this one is read.
                    if i + 1 < mine.count {
                        try consumer.startFetching(topic: topic, partition: mine[i + 1], maxRecords: 1000)
                    }
                    let end = ends[partition] ?? .max
                    var next: Int64 = 0
                    while try consumer.consume(
                        topic: topic,
                        partition: partition,
                        maxRecords: 1000,
                        handler: { events in
                            consumed += events.count
                            decrypted += events.reduce(0) { $0 + $1.outcome.decrypted }
                            if let last = events.last { next = last.offset + 1 }
                        }
                    ) > 0, next < end {}
                }
            } catch {
                totals.withLock { $0.error = $0.error ?? error }
            }
            totals.withLock {
                $0.events += consumed
                $0.decrypted += decrypted
            }
        }
        let result = totals.withLock { $0 }
        if let error = result.error { throw error }
        return (result.events, result.decrypted)
    }
}

/// How many threads produce and read at once in the secure pipeline benches.
struct BenchConcurrency: ParsableArguments {
    @Option(
        help: """
            Threads calling produce at once, as a server's concurrent requests do: one call's signing \
            and durable append overlap the next call's validation and encryption.
            """
    )
    var callers = 1
    @Flag(
        help: """
            One caller producing the file as a stream of calls, each prepared (checked, encrypted) while \
            earlier ones are signed and appended, as `strongroom produce` does and as the peer's producer \
            queues records while earlier ones are sent.
            """
    )
    var pipelined = false
    @Option(help: "Members of the consumer group reading the secure topic at once, each its own partitions.")
    var readers = 1

    func validate() throws {
        guard callers >= 1, callers <= 64 else { throw ValidationError("--callers: 1 to 64") }
        guard !pipelined || callers == 1 else { throw ValidationError("--pipelined: one caller") }
    }

    /// Refuses more readers than partitions: a member without a partition reads nothing.
    func check(partitions: Int) throws {
        guard readers >= 1, readers <= partitions else { throw ValidationError("--readers: 1 to --partitions") }
    }
}

struct PipelineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Secure produce (validate + DLP + encrypt + sign + durable append) and consume (fetch + verify + "
            + "authorize + decrypt) of an events file through the embedded log, events/s.",
        discussion: """
            The schema is registered as <topic>-value with "strongroom:subject" set on --subject-field; a generated \
            policy lets bench-producer produce and bench-consumer consume and decrypt every field for purpose \
            bench. Produce batches of --batch events, one durable transaction each; consume 1,000 per fetch. \
            Compare with the confluent-kafka+csfle produce_csfle and consume_csfle lines of ../shared/bench.

              strongroom bench pipeline --events /tmp/srbench/events-100000.jsonl \\
                  --schema ../shared/bench/loan_application.schema.json
            """
    )
    @Option(help: "JSON Lines events file.")
    var events: String
    @Option(help: "JSON Schema with PII tags.")
    var schema: String
    @Option(help: "Data-subject field.")
    var subjectField = "customerId"
    @Option(help: "Topic.")
    var topic = "loan_applications"
    @Option(help: "Events per produce call.")
    var batch = 1000
    @Option(help: "Warm-up events (untimed, another topic).")
    var warmup = 1000
    @Option(help: "Partitions of the topic (records go by their key, the subject's pseudonym).")
    var partitions = 1
    @OptionGroup var concurrency: BenchConcurrency
    var callers: Int { concurrency.callers }
    var readers: Int { concurrency.readers }

    func validate() throws {
        guard partitions >= 1, partitions <= 64 else { throw ValidationError("--partitions: 1 to 64") }
        try concurrency.check(partitions: partitions)
    }

    func run() throws {
        let lines = try Data(contentsOf: URL(fileURLWithPath: events)).split(separator: 0x0A).map { Array($0) }
        let bytes = lines.reduce(0) { $0 + $1.count }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strongroom-bench-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let bench = try SecureBench(
            directory: directory,
            schema: schema,
            subjectField: subjectField,
            topics: [topic, "warmup"],
            partitions: partitions,
            log: try SQLiteEventLog(dataDirectory: directory)
        )
        _ = bench.produceAll(lines.prefix(warmup), to: "warmup", batch: batch)
        var produced = 0
        let produceSeconds = measure {
            produced =
                concurrency.pipelined
                ? bench.produceStream(lines[...], to: topic, batch: batch)
                : bench.produceAll(lines[...], to: topic, batch: batch, callers: callers)
        }
        BenchLine(
            op: "produce_secure",
            n: lines.count,
            bytes: bytes,
            seconds: produceSeconds,
            note: "\(produced) appended; validate + DLP + encrypt + sign + durable append, \(batch) per call"
                + (callers > 1 ? ", \(callers) callers at once" : "")
                + (concurrency.pipelined ? ", pipelined" : "")
        )
        .print()
        var consumed = (events: 0, decrypted: 0)
        let ends = try bench.ends(of: topic)
        let consumeSeconds = try measure {
            consumed = try bench.consumeAll(
                topic,
                partitions: partitions,
                group: "bench",
                readers: readers,
                until: ends
            )
        }
        BenchLine(
            op: "consume_secure",
            n: consumed.events,
            bytes: bytes,
            seconds: consumeSeconds,
            note: "fetch + verify + authorize + decrypt (\(consumed.decrypted) fields), offsets committed per 1,000"
                + (readers > 1 ? ", \(readers) group members at once" : "")
        )
        .print()
    }
}

struct KafkaBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Produce and consume through Strongroom's Kafka engine on a 3-broker cluster in this process, "
            + "plain and through the secure pipeline, events/s.",
        discussion: """
            The same cluster as the confluent-kafka peer of ../shared/bench (librdkafka's mock brokers, acks=all), \
            the same events and keys (--subject-field), the same ops: produce (key + value in hand → every record \
            acknowledged; one append of all of them, as the peer queues all then flushes once), produce_batched \
            (--batch records per append, each waiting for its acknowledgements), consume (the first --consume-events of a topic, every partition, the first record's wait \
            excluded), and the secure produce and consume (compare with produce_csfle and consume_csfle; the \
            secure consume consumes the first record of each partition the same way before its clock, as each \
            partition's reader starts there, and reports their time as first_msg_s; the peer's is one message's \
            wait). Needs the Kafka trait.

              strongroom bench kafka --events /tmp/srbench/events-100000.jsonl \\
                  --schema ../shared/bench/loan_application.schema.json
            """
    )
    @Option(help: "JSON Lines events file.")
    var events: String
    @Option(help: "JSON Schema with PII tags.")
    var schema: String
    @Option(help: "Data-subject field, also the record key.")
    var subjectField = "customerId"
    @Option(help: "Events per append (produce_batched) or produce call (secure).")
    var batch = 5000
    @Option(help: "Events consumed per consume op (the peer reads 20,000: a mock partition keeps its newest 5 MiB).")
    var consumeEvents = 20_000
    @Option(help: "Partitions per topic (the peer's auto-created topics have 4).")
    var partitions = 4
    @Option(help: "Brokers.")
    var brokers = 3
    @Option(help: "Warm-up events (untimed, another topic).")
    var warmup = 1000
    @OptionGroup var concurrency: BenchConcurrency
    var callers: Int { concurrency.callers }
    var readers: Int { concurrency.readers }

    func validate() throws { try concurrency.check(partitions: partitions) }

    func run() throws {
        #if Kafka
        let lines = try Data(contentsOf: URL(fileURLWithPath: events)).split(separator: 0x0A).map { Array($0) }
        let bytes = lines.reduce(0) { $0 + $1.count }
        let keys = try lines.map { line -> [UInt8] in
            guard let key = try JSONValue(parsing: line)[subjectField]?.stringValue else {
                throw CLIError("an event has no string \(subjectField)")
            }
            return Array(key.utf8)
        }
        let consumeCount = min(consumeEvents, lines.count)
        let consumeBytes = lines.prefix(consumeCount).reduce(0) { $0 + $1.count }
        let cluster: MockKafkaCluster
        let log: KafkaEventLog
        do {
            cluster = try MockKafkaCluster(brokers: brokers)
            log = try KafkaEventLog(.init(connection: cluster.connection))
        } catch { throw CLIError("\(error)") }
        let records = zip(keys, lines).map { LogRecord(key: $0, value: $1) }
        func appendAll(_ input: ArraySlice<LogRecord>, to topic: String) throws {
            var start = input.startIndex
            while start < input.endIndex {
                let end = min(start + batch, input.endIndex)
                _ = try log.append(Array(input[start..<end]), to: topic)
                start = end
            }
        }
        // Reads every partition to its end; the first record (the fetcher's start-up) is not timed.
        func readAll(_ topic: String) throws -> (count: Int, seconds: Double) {
            _ = try log.fetch(topic: topic, partition: 0, from: 0, maxBytes: 1 << 20, maxRecords: 1)
            var count = 0
            let seconds = try measure {
                for partition in 0..<partitions {
                    var next: Int64 = partition == 0 ? 1 : 0
                    while true {
                        let page = try log.fetch(
                            topic: topic,
                            partition: partition,
                            from: next,
                            maxBytes: 64 << 20,
                            maxRecords: 10_000
                        )
                        guard let last = page.last else { break }
                        count += page.count
                        next = last.offset + 1
                    }
                }
            }
            return (count, seconds)
        }
        do {
            for name in ["bench_warmup", "bench_plain", "bench_plain.c"] {
                try log.createTopic(name, config: TopicConfig(partitions: partitions))
            }
            try appendAll(records.prefix(warmup)[...], to: "bench_warmup")
            // The peer's shape: every record handed to the client, then one wait for every acknowledgement.
            let produceSeconds = try measure { _ = try log.append(records, to: "bench_plain") }
            BenchLine(
                op: "produce",
                n: lines.count,
                bytes: bytes,
                seconds: produceSeconds,
                note: "one KafkaEventLog.append of every record, returning once all are acknowledged"
            )
            .print()
            let batchedSeconds = try measure { try appendAll(records[...], to: "bench_plain") }
            BenchLine(
                op: "produce_batched",
                n: lines.count,
                bytes: bytes,
                seconds: batchedSeconds,
                note: "KafkaEventLog.append, \(batch) per call, each returning once its records are acknowledged"
            )
            .print()
            try appendAll(records.prefix(consumeCount)[...], to: "bench_plain.c")
            let plain = try readAll("bench_plain.c")
            BenchLine(
                op: "consume",
                n: plain.count,
                bytes: consumeBytes * plain.count / max(consumeCount, 1),
                seconds: plain.seconds,
                note: "KafkaEventLog.fetch of every partition, first record excluded"
            )
            .print()

            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "strongroom-bench-\(UUID())"
            )
            defer { try? FileManager.default.removeItem(at: directory) }
            let topic = "loan_applications"
            let bench = try SecureBench(
                directory: directory,
                schema: schema,
                subjectField: subjectField,
                topics: [topic, topic + ".c", "warmup"],
                partitions: partitions,
                log: log
            )
            _ = bench.produceAll(lines.prefix(warmup), to: "warmup", batch: min(batch, 1000))
            var produced = 0
            let secureSeconds = measure {
                produced =
                    concurrency.pipelined
                    ? bench.produceStream(lines[...], to: topic, batch: batch)
                    : bench.produceAll(lines[...], to: topic, batch: batch, callers: callers)
            }
            BenchLine(
                op: "produce_secure",
                n: lines.count,
                bytes: bytes,
                seconds: secureSeconds,
                note: "\(produced) acknowledged; validate + DLP + encrypt + sign + audit + Kafka append"
                    + (callers > 1 ? ", \(callers) callers at once" : "")
                    + (concurrency.pipelined ? ", pipelined" : "")
            )
            .print()
            _ = bench.produceAll(lines.prefix(consumeCount), to: topic + ".c", batch: batch)
            // As the peer leaves its first record's wait (the fetcher's start-up) out of its timing.
            let first = try bench.consumeFirst(topic + ".c", partitions: partitions, group: "bench")
            var consumed = (events: 0, decrypted: 0)
            let ends = try bench.ends(of: topic + ".c")
            let consumeSeconds = try measure {
                consumed = try bench.consumeAll(
                    topic + ".c",
                    partitions: partitions,
                    group: "bench",
                    readers: readers,
                    until: ends
                )
            }
            // Every record the cluster holds, once (it keeps the newest 5 MiB of each partition).
            let held = try log.describeTopic(topic + ".c").partitions.reduce(0) {
                $0 + Int($1.endOffset - $1.startOffset)
            }
            guard first.events + consumed.events == held else {
                throw CLIError("consumed \(first.events + consumed.events) of the \(held) records held")
            }
            var line = BenchLine(
                op: "consume_secure",
                n: consumed.events,
                bytes: consumeBytes * consumed.events / max(consumeCount, 1),
                seconds: consumeSeconds,
                note: "fetch + verify + authorize + decrypt (\(consumed.decrypted) fields) + Kafka commits per 1,000"
                    + (readers > 1 ? ", \(readers) group members at once" : "")
                    + "; the first record of each partition (\(first.events)) consumed the same way before the "
                    + "clock, first_msg_s their time (the peer's is one message's wait)"
            )
            line.first_msg_s = (first.seconds * 1000).rounded() / 1000
            line.print()
        } catch let error as CLIError { throw error } catch { throw CLIError("\(error)") }
        withExtendedLifetime(cluster) {}
        #else
        throw CLIError(
            "this strongroom was built without Kafka: build with `swift build -c release --traits default,Kafka`"
        )
        #endif
    }
}
