import ArgumentParser
import Crypto
import Foundation
import Strongroom
import StrongroomJSON
import StrongroomLog
import StrongroomPolicy
import Synchronization

struct ProduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce JSON Lines to a topic through the secure pipeline (stdin → one result per line).",
        discussion: """
            Each line goes through what every producer goes through: the principal's Produce right (from the \
            policy, at this time, from --source-address), the topic's schema, the DLP scan, field encryption under \
            the data subject's key, a batch signature, the audit entry, then the append. Each accepted line prints \
            {"partition":P,"offset":O} on stdout, in input order; refused lines are reported on stderr with their number \
            and reason, and the others are still produced. Exit status 1 when any line was refused.

            Lines that are ready together (a file, a busy pipe) go as one batch of up to 1,000: one audit entry, \
            one signature and one durable append each. The next batches are checked and encrypted while \
            earlier ones are signed and appended; a line typed alone is produced and answered at once.

            Records are signed with the principal's producer key, <data-dir>/producer-<principal>.key (created on \
            first use, mode 0600). Consumers trust it only once the policy pins its public key under \
            principals.<principal>.producerKeys: until then nothing is produced and the key to pin is printed.

            Example:
              strongroom produce --topic loan_applications --principal pos-terminal \\
                  --source-address 10.20.0.5 --policy policy.json < \\
                  examples/loan_applications.jsonl
            """
    )

    @OptionGroup var pipeline: PipelineOptions
    @Option(help: "Topic to produce to.")
    var topic: String
    @Option(
        help: """
            The producer's network address, for the policy's CIDR conditions. Self-asserted, like --principal: \
            the shell is an operator's tool; the gateway authenticates both.
            """
    )
    var sourceAddress = "127.0.0.1"
    @Option(help: "Correlation id recorded on every record and audit entry (default: a fresh one per batch).")
    var correlationId: String?

    func run() throws {
        let services = try pipeline.services()
        let principal = pipeline.principal
        guard let address = IPAddress(sourceAddress) else {
            throw CLIError("--source-address \(sourceAddress) is not an IPv4 or IPv6 address")
        }
        let key: Curve25519.Signing.PrivateKey
        do { key = try CLIProducerKeys.loadOrCreate(principal: principal, in: pipeline.data.url) } catch {
            throw CLIError("\(error)")
        }
        try CLIProducerKeys.requirePinned(key, principal: principal, services: services)
        let producer = SecureProducer(services: services, principal: principal, key: key, sourceAddress: address)
        var reader = LineBatches(maxLineBytes: InputLines.defaultMaxBytes)
        let report = LineReport("produce", maxLineBytes: InputLines.defaultMaxBytes)
        // Each batch's line numbers (and skipped lines), for its results: answered in order on another thread.
        let batches = Mutex<[LineBatches.Batch]>([])
        let correlationId = self.correlationId
        producer.produce(
            to: topic,
            next: {
                guard var batch = reader.next() else { return nil }
                let lines = batch.lines
                // Only the numbers wait for the answer: the lines' plaintext goes with the batch.
                batch.lines = []
                batches.withLock { $0.append(batch) }
                return (lines, correlationId ?? UUID().uuidString.lowercased())
            },
            done: { results in
                let batch = batches.withLock { $0.removeFirst() }
                report.write(
                    results.map { result in
                        result.map { position in
                            var out: [UInt8] = []
                            JSONValue.object([
                                .init("partition", .number("\(position.partition)")),
                                .init("offset", .number("\(position.offset)")),
                            ]).write(to: &out)
                            return out
                        }
                    },
                    batch
                )
                // A refused line does not stop the others.
                return true
            }
        )
        try report.finish(lines: reader.lineNumber, skipped: reader.leftOver)
    }
}
