import ArgumentParser
import Foundation
import Strongroom
import StrongroomKafka
import StrongroomKeys
import StrongroomLog

/// Where the event log lives: the data directory's embedded log, or a Kafka cluster.
struct LogOptions: ParsableArguments {
    @Option(
        name: .customLong("kafka"),
        help: ArgumentHelp(
            "Use the Kafka cluster at these brokers (host:port,…) instead of the data directory's embedded log.",
            valueName: "bootstrap"
        )
    )
    var kafka: String?

    @Option(
        name: .customLong("kafka-config"),
        help: ArgumentHelp(
            "A client.properties file in Kafka's format (bootstrap.servers, security.protocol, sasl.*, ssl.*); "
                + "options given here override it.",
            valueName: "file"
        )
    )
    var kafkaConfig: String?

    @Option(help: "Kafka security.protocol: SSL or SASL_SSL (default SASL_SSL; PLAINTEXT with --allow-plaintext).")
    var securityProtocol: String?

    @Option(help: "SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or OAUTHBEARER.")
    var saslMechanism: String?

    @Option(help: "SCRAM user name.")
    var saslUsername: String?

    @Option(
        help: ArgumentHelp(
            "File holding the SCRAM password (else $STRONGROOM_KAFKA_PASSWORD); never given as an argument.",
            valueName: "file"
        )
    )
    var saslPasswordFile: String?

    @Option(help: ArgumentHelp("PEM CA certificates that sign the brokers' certificates.", valueName: "file"))
    var sslCa: String?

    @Option(help: ArgumentHelp("PEM client certificate, for mTLS.", valueName: "file"))
    var sslCert: String?

    @Option(help: ArgumentHelp("PEM client private key, for mTLS.", valueName: "file"))
    var sslKey: String?

    @Option(help: "Compression of produced batches: none, gzip, snappy, lz4, zstd.")
    var compression: String?

    @Flag(
        help: """
            Permit an unencrypted Kafka listener (PLAINTEXT, or SASL_PLAINTEXT): development clusters only. With no \
            --security-protocol it means PLAINTEXT.
            """
    )
    var allowPlaintext = false

    var isKafka: Bool { kafka != nil || kafkaConfig != nil }

    /// The Kafka connection these options describe, validated; nil for the embedded log.
    func connection() throws -> KafkaConnection? {
        guard isKafka else {
            let stray: [(String, Bool)] = [
                ("--security-protocol", securityProtocol != nil), ("--sasl-mechanism", saslMechanism != nil),
                ("--sasl-username", saslUsername != nil), ("--sasl-password-file", saslPasswordFile != nil),
                ("--ssl-ca", sslCa != nil), ("--ssl-cert", sslCert != nil), ("--ssl-key", sslKey != nil),
                ("--compression", compression != nil), ("--allow-plaintext", allowPlaintext),
            ]
            if let (name, _) = stray.first(where: { $0.1 }) {
                throw CLIError("\(name) applies to Kafka only: add --kafka BOOTSTRAP or --kafka-config FILE")
            }
            return nil
        }
        do {
            var connection: KafkaConnection
            if let kafkaConfig {
                guard let data = FileManager.default.contents(atPath: kafkaConfig) else {
                    throw CLIError("cannot read --kafka-config \(kafkaConfig)")
                }
                connection = try KafkaConnection.parse(
                    properties: String(decoding: data, as: UTF8.self),
                    allowPlaintext: allowPlaintext
                )
                if let kafka { connection.bootstrapServers = kafka }
            } else {
                if securityProtocol == nil && saslMechanism == nil && !allowPlaintext {
                    throw CLIError(
                        "--kafka needs its security settings: --security-protocol SSL or SASL_SSL (with --sasl-*, "
                            + "--ssl-*), or a --kafka-config client.properties file; for a development cluster "
                            + "without TLS, --allow-plaintext"
                    )
                }
                connection = KafkaConnection(
                    bootstrapServers: kafka ?? "",
                    securityProtocol: allowPlaintext && securityProtocol == nil ? .plaintext : .saslSSL,
                    allowPlaintext: allowPlaintext
                )
            }
            if let securityProtocol {
                guard let value = KafkaConnection.SecurityProtocol(rawValue: securityProtocol.uppercased()) else {
                    throw CLIError(
                        "--security-protocol \(securityProtocol): use SSL, SASL_SSL, PLAINTEXT or SASL_PLAINTEXT"
                    )
                }
                connection.securityProtocol = value
            }
            if let saslMechanism {
                guard let value = KafkaConnection.SASLMechanism(rawValue: saslMechanism.uppercased()) else {
                    throw CLIError("--sasl-mechanism \(saslMechanism): use SCRAM-SHA-512, SCRAM-SHA-256 or OAUTHBEARER")
                }
                connection.saslMechanism = value
            }
            if let saslUsername { connection.saslUsername = saslUsername }
            if let saslPasswordFile {
                guard let data = FileManager.default.contents(atPath: saslPasswordFile) else {
                    throw CLIError("cannot read --sasl-password-file \(saslPasswordFile)")
                }
                connection.saslPassword = String(decoding: data, as: UTF8.self)
                    .trimmingCharacters(in: .newlines)
            } else if let password = ProcessInfo.processInfo.environment["STRONGROOM_KAFKA_PASSWORD"] {
                connection.saslPassword = password
            }
            if let sslCa { connection.caLocation = sslCa }
            if let sslCert { connection.certificateLocation = sslCert }
            if let sslKey { connection.keyLocation = sslKey }
            if let compression { connection.compression = compression }
            try connection.validate()
            return connection
        } catch let error as KafkaConfigurationError {
            throw CLIError("Kafka settings: \(error)")
        }
    }

    /// The event log: Kafka when asked for, else the data directory's embedded log.
    func open(
        _ data: DataDirectoryOptions,
        durability: SQLiteEventLog.Durability = .full
    ) throws -> any EventLog {
        guard let connection = try connection() else {
            do { return try SQLiteEventLog(dataDirectory: data.url, durability: durability) } catch {
                throw CLIError("\(error)")
            }
        }
        let log = try Self.openKafka(connection)
        #if Kafka
        // The data directory's key metadata goes to the cluster before any record that needs it,
        // so a mirror can give a standby site every key (and every erasure).
        if let kafka = log as? KafkaEventLog,
            FileManager.default.fileExists(atPath: data.url.appendingPathComponent(KeyStore.keyringFileName).path)
        {
            do { try kafka.replicateKeys(from: KeyStore.openGuarded(dataDirectory: data.url)) } catch {
                throw CLIError("\(error)")
            }
        }
        #endif
        return log
    }

    /// Publishes key changes made since `log` was opened (an erasure) to its cluster now.
    static func publishKeyChanges(_ log: any EventLog) throws {
        #if Kafka
        do { try (log as? KafkaEventLog)?.publishKeyChanges() } catch { throw CLIError("\(error)") }
        #endif
    }

    static func openKafka(_ connection: KafkaConnection) throws -> any EventLog {
        #if Kafka
        if !connection.securityProtocol.rawValue.hasPrefix("SASL_SSL") && connection.securityProtocol != .ssl {
            printError(
                "strongroom: WARNING: \(connection.securityProtocol.rawValue) Kafka listener: record keys, headers "
                    + "and credentials cross the network unencrypted. Development only."
            )
        }
        do { return try KafkaEventLog(.init(connection: connection)) } catch { throw CLIError("\(error)") }
        #else
        throw CLIError(
            "this strongroom was built without Kafka: build with `swift build --traits default,Kafka` "
                + "(needs Debian's librdkafka-dev)"
        )
        #endif
    }
}
