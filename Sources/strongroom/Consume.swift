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

    func run() throws {
        let services = try pipeline.services()
        let consumer = SecureConsumer(
            services: services,
            principal: pipeline.principal,
            purpose: purpose,
            group: group
        )
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
            for partition in partitions {
                while maxBatches.map({ batches < $0 }) ?? true {
                    let n = try consumer.consume(topic: topic, partition: partition, maxRecords: batch) { events in
                        var out: [UInt8] = []
                        for event in events {
                            JSONValue.object([
                                .init("partition", .number("\(event.partition)")),
                                .init("offset", .number("\(event.offset)")),
                                .init("event", try JSONValue(parsing: event.value)),
                            ]).write(to: &out)
                            out.append(0x0A)
                        }
                        // The batch is handed over (written) before the offset is committed.
                        guard writeOut(out) else { throw CLIError("cannot write to standard output") }
                    }
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
