import ArgumentParser
import Foundation
import Logging
import Strongroom
import StrongroomAudit
import StrongroomKeys
import StrongroomLog
import StrongroomPolicy
import StrongroomSchema

struct DSRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dsr",
        abstract: "GDPR data-subject requests: erase, access, export. Authorized by the policy and audited.",
        discussion: """
            The subject is found by the keyed hash every record carries, never by its id in clear. The acting
            principal needs Erase on key resources (erase), Describe and Consume on the topics (access, export)
            and Decrypt on fields for purpose data-subject-request (export); examples/policy.json gives these to
            the dpo role.

              strongroom dsr access --subject CUST-00000001 --principal dana --policy examples/policy.json --tenant bfb
              strongroom dsr export --subject CUST-00000001 --principal dana --policy examples/policy.json --tenant bfb
              strongroom dsr erase  --subject CUST-00000001 --principal dana --policy examples/policy.json --tenant bfb
            """,
        subcommands: [Erase.self, Access.self, Export.self]
    )

    struct Options: ParsableArguments {
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "The data subject's id.")
        var subject: String
        @Option(help: "Who carries the request out (a principal of the policy).")
        var principal: String
        @Option(help: "Policy file.")
        var policy: String
        @Option(help: "Tenant.")
        var tenant = ""
        @Option(help: "Ticket or correlation id, recorded in the audit log.")
        var correlationId = "DSR-" + UUID().uuidString.prefix(8)

        func requests() throws -> DataSubjectRequests {
            do {
                let services = StrongroomServices(
                    keys: try KeyStore.openGuarded(dataDirectory: data.url),
                    log: try SQLiteEventLog(dataDirectory: data.url),
                    registry: try SchemaRegistry(dataDirectory: data.url),
                    policy: try PolicyEngine(contentsOf: URL(fileURLWithPath: policy)),
                    audit: try AuditLog(dataDirectory: data.url),
                    tenant: tenant,
                    logger: Logger(label: "strongroom.pipeline") { JSONLogHandler(label: $0) }
                )
                return DataSubjectRequests(services: services, principal: principal)
            } catch {
                throw CLIError("\(error)")
            }
        }
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
            guard
                FileManager.default.createFile(
                    atPath: out,
                    contents: Data(document),
                    attributes: [.posixPermissions: 0o600]
                )
            else { throw CLIError("cannot write \(out)") }
            printError("export written to \(out)")
        }
    }
}
