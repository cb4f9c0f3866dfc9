import ArgumentParser
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

#if Kafka || Gateway
import ServiceLifecycle
import UnixSignals
#endif
#if Kafka
import StrongroomKafka
#endif

struct ConsumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Consume a partition through the secure pipeline: verified, decrypted or masked per the policy.",
        discussion: """
            Prints one JSON line per event ({"partition","offset","event"}), then commits the group's offset: \
            a consumer killed mid-batch reads that batch again on restart, never skipping a record. \
            Producer keys are trusted only as the policy pins them (principals.<id>.producerKeys), never from the \
            data directory; the demo writes its own policy copy with its keys pinned, <data-dir>/policy.json.

              strongroom consume --topic loan_applications --principal fraud-service \\
                  --purpose credit-check --group fraud-scoring --policy policy.json
            """
    )
    @OptionGroup var pipeline: PipelineOptions
    @Option(help: "Topic.")
    var topic: String
    @Option(help: "Partition (default: every partition, in order).")
    var partition: Int?
    @Option(help: "Declared purpose for decrypts.")
    var purpose: String?
    @Option(help: "Consumer group (committed offsets).")
    var group: String
    @Option(help: "Events per batch (one commit per batch).")
    var batch = 100
    @Option(help: "Stop after this many batches (default: until the end of the partition).")
    var maxBatches: Int?
    @Flag(
        help:
            "Move the group back to the partition's first record before reading (needs Consume on the group; audited)."
    )
    var fromBeginning = false
    @Flag(
        help: """
            Kafka only: join the group as a member (its partitions shared with the group's other members and \
            rebalanced as they come and go) and keep consuming until Ctrl-C or SIGTERM, which leaves the group \
            after the batch in hand is committed.
            """
    )
    var follow = false

    func validate() throws {
        if follow && partition != nil {
            throw ValidationError("--follow takes the group's partitions: drop --partition")
        }
        if follow && fromBeginning {
            throw ValidationError("--follow resumes from the group's offsets: drop --from-beginning")
        }
        if follow && !pipeline.eventLog.isKafka { throw ValidationError("--follow needs --kafka or --kafka-config") }
    }

    /// One JSON line per event, written before the batch is committed.
    static func write(_ events: [ConsumedEvent]) throws {
        var out: [UInt8] = []
        for event in events {
            JSONValue.object([
                .init("partition", .number("\(event.partition)")),
                .init("offset", .number("\(event.offset)")),
                .init("event", try JSONValue(parsing: event.value)),
            ]).write(to: &out)
            out.append(0x0A)
        }
        guard writeOut(out) else { throw CLIError("cannot write to standard output") }
    }

    func run() throws {
        let services = try pipeline.services()
        let consumer = SecureConsumer(
            services: services,
            principal: pipeline.principal,
            purpose: purpose,
            group: group,
            // One process drains the partition: the next batch is fetched while this one is handled.
            fetchAhead: !follow
        )
        if follow {
            try FollowGroup.run(services: services, consumer: consumer, topic: topic, batch: batch)
            return
        }
        var batches = 0
        var consumed = 0
        do {
            let partitions: [Int]
            if let partition {
                partitions = [partition]
            } else {
                partitions = try services.log.describeTopic(topic).partitions.map(\.partition)
            }
            if fromBeginning { for partition in partitions { try consumer.rewind(topic: topic, partition: partition) } }
            for (i, partition) in partitions.enumerated() {
                // The next partition's first batch is fetched while this one is read.
                if i + 1 < partitions.count, maxBatches == nil {
                    try consumer.startFetching(topic: topic, partition: partitions[i + 1], maxRecords: batch)
                }
                while maxBatches.map({ batches < $0 }) ?? true {
                    // The batch is handed over (written) before the offset is committed.
                    let n = try consumer.consume(
                        topic: topic,
                        partition: partition,
                        maxRecords: batch,
                        handler: Self.write
                    )
                    if n == 0 { break }
                    consumed += n
                    batches += 1
                }
            }
            if consumed == 0 {
                let positions = try partitions.map { p in
                    let at = try consumer.position(topic: topic, partition: p)
                    return (p, at.next, at.end)
                }
                printError(
                    "nothing new to consume: group \(group) is at "
                        + positions.map { "offset \($0.1) of \($0.2) in partition \($0.0)" }.joined(separator: ", ")
                        + " of \(topic)" + (positions.contains { $0.2 > 0 } ? " (--from-beginning reads it again)" : "")
                )
            }
        } catch let error as CLIError { throw error } catch { throw CLIError("\(error)") }
    }
}

#if Kafka || Gateway
/// Runs `service` in a `ServiceGroup` until SIGTERM or SIGINT shuts it down gracefully, from
/// synchronous command code; its error, if it failed.
func runUntilSignal(_ service: any Service, label: String) throws {
    try runUntilSignal([service], label: label)
}

/// Runs `services` together until SIGTERM or SIGINT, then shuts them down gracefully.
func runUntilSignal(_ services: [any Service], label: String) throws {
    let group = ServiceGroup(
        configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: label) { _ in SwiftLogNoOpLogHandler() }
        )
    )
    let outcome = Mutex<(any Error)?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do { try await group.run() } catch { outcome.withLock { $0 = error } }
        done.signal()
    }
    done.wait()
    if let error = outcome.withLock({ $0 }) { throw CLIError("\(error)") }
}
#endif

/// `consume --follow`: the secure consumer as a Kafka group member until a signal.
enum FollowGroup {
    static func run(services: StrongroomServices, consumer: SecureConsumer, topic: String, batch: Int) throws {
        #if Kafka
        guard let log = services.log as? KafkaEventLog else { throw CLIError("--follow needs --kafka") }
        let member: KafkaGroupConsumer
        do {
            member = try KafkaGroupConsumer(log: log, group: consumer.group, topics: [topic], maxRecords: batch) {
                partition,
                records in
                try consumer.consume(records, topic: partition.topic, partition: partition.partition) {
                    try ConsumeCommand.write($0)
                }
            }
        } catch { throw CLIError("\(error)") }
        printError("strongroom consume: following group \(consumer.group) on \(topic); Ctrl-C leaves the group")
        try runUntilSignal(member, label: "strongroom.consume")
        #else
        _ = (services, consumer, topic, batch)
        throw CLIError("this strongroom was built without Kafka")
        #endif
    }
}
