import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Strongroom
import StrongroomKafka
import StrongroomKeys
import Synchronization
import UnixSignals

struct MirrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Copy topics, key metadata and group positions from a primary Kafka cluster to a standby (DR).",
        discussion: """
            Runs at the standby site until SIGTERM or Ctrl-C (or one pass with --once). Each pass reads what is \
            new on the primary, then copies the primary's key metadata (__strongroom_keys) and applies it to this \
            data directory's key store, then copies the records, so the standby holds every key a copied record \
            needs, and every erasure made on the primary. Records keep partition, key, headers and timestamp, \
            plus sr-mirror-source; the standby's offsets map exactly to the primary's (kept in \
            __strongroom_mirror). The groups named with --groups are carried across, translated, only forward and \
            only while idle on the standby. The data directory needs a copy of the primary's keyring \
            (keyring.json): the KEK never travels through Kafka. docs/kafka.md has the failover runbook.

              strongroom mirror --from primary:9092 --to standby:9092 --allow-plaintext \\
                  --data-dir ./standby --groups fraud-scoring --once
            """
    )

    @Option(help: ArgumentHelp("The primary cluster's brokers (host:port,…).", valueName: "bootstrap"))
    var from: String?
    @Option(help: ArgumentHelp("A client.properties file for the primary.", valueName: "file"))
    var fromConfig: String?
    @Option(help: ArgumentHelp("The standby cluster's brokers (host:port,…).", valueName: "bootstrap"))
    var to: String?
    @Option(help: ArgumentHelp("A client.properties file for the standby.", valueName: "file"))
    var toConfig: String?
    @Flag(help: "Permit unencrypted Kafka listeners (PLAINTEXT): development clusters only.")
    var allowPlaintext = false
    @OptionGroup var data: DataDirectoryOptions
    @Option(
        parsing: .upToNextOption,
        help: "Topics to mirror, each with its .dlq (default: every topic registered on the primary)."
    )
    var topics: [String] = []
    @Option(parsing: .upToNextOption, help: "Consumer groups whose positions are carried to the standby.")
    var groups: [String] = []
    @Option(help: "How often group positions are carried across, in milliseconds.")
    var checkpointIntervalMs = 1000
    @Option(help: "Records copied per partition per pass.")
    var batch = 2000
    @Flag(help: "One pass (records, key metadata, group positions), then exit.")
    var once = false

    func run() throws {
        #if Kafka
        let directory = try data.existing()
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(KeyStore.keyringFileName).path)
        else {
            throw CLIError(
                "\(directory.path) has no keyring: copy the primary's keyring.json there (mode 0600) first; "
                    + "without it the standby cannot open what it receives"
            )
        }
        let keys: KeyStore
        do { keys = try KeyStore.openGuarded(dataDirectory: directory) } catch { throw CLIError("\(error)") }
        let primary = try Self.open(from, fromConfig, "--from", allowPlaintext)
        let standby = try Self.open(to, toConfig, "--to", allowPlaintext)
        let mirror: KafkaMirror
        do {
            mirror = try KafkaMirror(
                from: primary,
                to: standby,
                options: .init(
                    topics: topics.isEmpty ? nil : topics,
                    groups: groups,
                    checkpointIntervalMs: checkpointIntervalMs,
                    batch: batch,
                    keys: keys
                )
            )
        } catch { throw CLIError("\(error)") }
        try data.audit(
            "Mirror",
            "cluster:\(primary.clusterID)",
            reason: "to cluster \(standby.clusterID)"
                + (topics.isEmpty ? "" : ", topics \(topics.joined(separator: ","))")
        )
        if once {
            do {
                var copied = 0
                while true {
                    let pass = try mirror.mirrorOnce()
                    if pass == 0 { break }
                    copied += pass
                }
                let carried = try mirror.syncGroupOffsets()
                print("mirrored \(copied) records; \(carried.count) group position(s) carried")
                for checkpoint in carried {
                    print(
                        "  \(checkpoint.group) \(checkpoint.partition.topic)[\(checkpoint.partition.partition)]: "
                            + "primary \(checkpoint.source) -> standby \(checkpoint.target)"
                    )
                }
            } catch { throw CLIError("\(error)") }
            return
        }
        printError(
            "strongroom mirror: \(primary.clusterID) -> \(standby.clusterID); Ctrl-C or SIGTERM stops after the pass in hand"
        )
        let progress = DispatchSource.makeTimerSource(queue: .global())
        progress.schedule(deadline: .now() + 10, repeating: 10)
        progress.setEventHandler { printError("strongroom mirror: \(mirror.copied) records copied") }
        progress.resume()
        defer { progress.cancel() }
        try runUntilSignal(mirror, label: "strongroom.mirror")
        printError("strongroom mirror: stopped; \(mirror.copied) records copied")
        #else
        throw CLIError(
            "this strongroom was built without Kafka: build with `swift build --traits default,Kafka` "
                + "(needs Debian's librdkafka-dev)"
        )
        #endif
    }

    #if Kafka
    /// One side's log, through the same validated settings as `--kafka`/`--kafka-config`.
    static func open(
        _ bootstrap: String?,
        _ config: String?,
        _ name: String,
        _ plaintext: Bool
    ) throws
        -> KafkaEventLog
    {
        guard bootstrap != nil || config != nil else {
            throw CLIError("\(name) BOOTSTRAP or \(name)-config FILE is required")
        }
        var arguments = bootstrap.map { ["--kafka", $0] } ?? []
        if let config { arguments += ["--kafka-config", config] }
        if plaintext { arguments.append("--allow-plaintext") }
        let options: LogOptions
        do { options = try LogOptions.parse(arguments) } catch { throw CLIError("\(name): \(error)") }
        guard let connection = try options.connection() else { throw CLIError("\(name): no cluster") }
        guard let log = try LogOptions.openKafka(connection) as? KafkaEventLog else {
            throw CLIError("\(name): not a Kafka cluster")
        }
        return log
    }
    #endif
}
