import ArgumentParser
import Foundation
import StrongroomKafka

struct DevCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Development helpers: a Kafka cluster on this machine, test certificates and test tokens.",
        subcommands: [Kafka.self, PKI.self, Token.self]
    )

    struct Kafka: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a Kafka cluster in the foreground (librdkafka's mock brokers) and print its address.",
            discussion: """
                Real Kafka protocol on loopback sockets, with consumer groups and rebalances, so kcat, \
                confluent-kafka and Strongroom itself can use it. Development only: no TLS, no SASL, no \
                admin API (Strongroom's topics are created by this process when registered), no retention, \
                everything in memory and gone when it stops (Ctrl-C or SIGTERM).

                  strongroom dev kafka --brokers 3 &
                  strongroom topic create payments --partitions 3 --kafka 127.0.0.1:PORT --allow-plaintext
                """
        )

        @Option(help: "Brokers (1…10).")
        var brokers = 3

        func run() throws {
            #if Kafka
            let cluster: MockKafkaCluster
            do { cluster = try MockKafkaCluster(brokers: brokers) } catch { throw CLIError("\(error)") }
            // Unbuffered, so a script reading the first line gets it at once.
            writeOut(Array((cluster.bootstrapServers + "\n").utf8))
            printError(
                "strongroom dev kafka: \(brokers) broker(s) at \(cluster.bootstrapServers) (plaintext, in memory). "
                    + "Use: --kafka \(cluster.bootstrapServers) --allow-plaintext. Ctrl-C stops it."
            )
            let stop = DispatchSemaphore(value: 0)
            var sources: [any DispatchSourceSignal] = []
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { stop.signal() }
                source.resume()
                sources.append(source)
            }
            stop.wait()
            withExtendedLifetime((cluster, sources)) {}
            #else
            _ = brokers
            throw CLIError(
                "this strongroom was built without Kafka: build with `swift build --traits default,Kafka` "
                    + "(needs Debian's librdkafka-dev)"
            )
            #endif
        }
    }
}
