import ArgumentParser
import Crypto
import Foundation
import Logging
import Strongroom
import StrongroomAudit
import StrongroomFiles
import StrongroomJSON
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema
import Synchronization

struct DSRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dsr",
        abstract: "GDPR data-subject requests: erase, access, export. Authorized by the policy and audited.",
        discussion: """
            The subject is found by its pseudonym (the record key of each of its records), never by its id, which is encrypted. The acting \
            principal needs Erase on key resources (erase), Describe and Consume on the topics (access, export) \
            and Decrypt on fields for purpose data-subject-request (export); examples/policy.json gives these to \
            the dpo role.

              strongroom dsr access --subject CUST-00000001 --principal dana \\
                  --policy examples/policy.json
              strongroom dsr export --subject CUST-00000001 --principal dana \\
                  --policy examples/policy.json
              strongroom dsr erase  --subject CUST-00000001 --principal dana \\
                  --policy examples/policy.json
              strongroom dsr rectify --subject CUST-00000001 --topic loan_applications \\
                  --event corrected.json --principal dana --policy examples/policy.json
            """,
        subcommands: [Erase.self, Access.self, Export.self, Rectify.self]
    )

    struct Options: ParsableArguments {
        @OptionGroup var pipeline: PipelineOptions
        @Option(help: "The data subject's id.")
        var subject: String
        @Option(help: "The requester's network address, for policy conditions (a local CLI: loopback).")
        var sourceAddress = "127.0.0.1"
        @Option(
            name: .customLong("correlation-id"),
            help: "Ticket or correlation id, recorded in the audit log (default: DSR- and 8 random hex digits)."
        )
        var ticket: String?

        /// One generated id per run, made at run time (a random default would show in --help).
        static let generated = "DSR-" + UUID().uuidString.prefix(8).lowercased()

        var correlationId: String { ticket ?? Self.generated }

        func requests() throws -> DataSubjectRequests {
            do {
                let services = try services()
                return DataSubjectRequests(
                    services: services,
                    principal: principal,
                    sourceAddress: IPAddress(sourceAddress)
                )
            } catch {
                throw CLIError("\(error)")
            }
        }

        var data: DataDirectoryOptions { pipeline.data }
        var principal: String { pipeline.principal }

        func services() throws -> StrongroomServices { try pipeline.services() }
    }

    struct Erase: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Crypto-shred the subject now, in every process; the receipt goes to the audit log."
        )
        @OptionGroup var options: Options

        func run() throws {
            let requests = try options.requests()
            do {
                let receipt = try requests.erase(subject: options.subject, correlationID: options.correlationId)
                // On Kafka the erasure reaches the keys topic (and so a standby site) now.
                try LogOptions.publishKeyChanges(requests.services.log)
                print(
                    receipt.alreadyErased
                        ? "Already erased (subject hash \(receipt.keyID))."
                        : "Erased: subject hash \(receipt.keyID), \(receipt.versionsDeleted) key version(s) destroyed. "
                            + "Run `strongroom keys finalize` to reach backups."
                )
            } catch { throw CLIError("\(error)") }
        }
    }

    struct Access: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What is held about the subject and where: topics, partitions, offsets (JSON, no values)."
        )
        @OptionGroup var options: Options

        func run() throws {
            let requests = try options.requests()
            do {
                let holdings = try requests.access(subject: options.subject, correlationID: options.correlationId)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(holdings), as: UTF8.self))
            } catch { throw CLIError("\(error)") }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every event of the subject, decrypted where the policy allows, as one JSON document.",
            discussion:
                "Writes to --out (mode 0600) or standard output. The document holds personal data: handle it so."
        )
        @OptionGroup var options: Options
        @Option(help: "Write the document to this file (created 0600).")
        var out: String?

        func run() throws {
            let requests = try options.requests()
            let document: [UInt8]
            do { document = try requests.export(subject: options.subject, correlationID: options.correlationId) } catch
            {
                throw CLIError("\(error)")
            }
            guard let out else {
                guard writeOut(document + [0x0A]) else { throw CLIError("cannot write to standard output") }
                return
            }
            // Plaintext: 0600 from the first byte, written whole through a private temporary file.
            do { try PrivateFiles.write(document, to: out) } catch { throw CLIError("\(error)") }
            printError("export written to \(out)")
        }
    }

    struct Rectify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Append a corrected event of the subject through the secure produce path (the log stays immutable).",
            discussion: """
                The event (a JSON file) must name the same data subject and pass the topic's schema and DLP. It is \
                signed with the acting principal's producer key, <data-dir>/producer-<principal>.key (created on first \
                use, mode 0600). Consumers trust it only once the policy pins its public key under \
                principals.<principal>.producerKeys: until then the command prints the key to pin and appends nothing.
                """
        )
        @OptionGroup var options: Options
        @Option(help: "Topic.")
        var topic: String
        @Option(help: "JSON file with the corrected event.")
        var event: String

        func run() throws {
            let services = try options.services()
            let requests = try options.requests()
            // Authorized before any key is made or trusted: a refused request changes nothing.
            do { try requests.authorizeRectify(topic: topic, correlationID: options.correlationId) } catch {
                throw CLIError("\(error)")
            }
            let key: Curve25519.Signing.PrivateKey
            do { key = try CLIProducerKeys.loadOrCreate(principal: options.principal, in: options.data.url) } catch {
                throw CLIError("\(error)")
            }
            try CLIProducerKeys.requirePinned(key, principal: options.principal, services: services)
            guard let correction = FileManager.default.contents(atPath: event) else {
                throw CLIError("cannot read \(event)")
            }
            let producer = SecureProducer(
                services: services,
                principal: options.principal,
                key: key,
                sourceAddress: IPAddress(options.sourceAddress)
            )
            do {
                let position = try requests.rectify(
                    subject: options.subject,
                    topic: topic,
                    correction: Array(correction),
                    producer: producer,
                    correlationID: options.correlationId
                )
                print("Correction appended to \(topic) partition \(position.partition) offset \(position.offset).")
            } catch { throw CLIError("\(error)") }
        }
    }
}

/// The library's producer keys, with the CLI's messages.
enum CLIProducerKeys {
    /// Refuses, printing the key to pin, when the policy does not pin `key` for `principal`.
    static func requirePinned(
        _ key: Curve25519.Signing.PrivateKey,
        principal: String,
        services: StrongroomServices
    ) throws {
        do {
            try ProducerKeys.requirePinned(key, principal: principal, services: services)
        } catch {
            throw CLIError(
                """
                \(principal)'s producer key is not pinned in the policy, so consumers would dead-letter what it \
                signs; nothing was appended. Add it and run again:
                  "principals": {"\(principal)": {..., "producerKeys": ["\(error.publicKey ?? "")"]}}
                """
            )
        }
    }

    static func loadOrCreate(principal: String, in directory: URL) throws -> Curve25519.Signing.PrivateKey {
        do { return try ProducerKeys.loadOrCreate(principal: principal, in: directory) } catch {
            throw CLIError(error.detail)
        }
    }
}
