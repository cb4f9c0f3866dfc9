import ArgumentParser
import Foundation
import Strongroom
import StrongroomAudit
import StrongroomCrypto
import StrongroomKeys

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage data-encryption keys, KEK versions and erasures.",
        subcommands: [
            List.self, Rotate.self, Retire.self, RotateKEK.self, DestroyKEK.self, MigrateKEK.self, Erase.self,
            Finalize.self,
            Backup.self, Limits.self,
        ]
    )

    struct Output: ParsableArguments {
        @Flag(help: "Print JSON instead of text.")
        var json = false
    }

    /// Selects one key family.
    struct FamilyOptions: ParsableArguments {
        @Option(help: "A topic's key family.")
        var topic: String?
        @Option(help: "A data subject's key family.")
        var subject: String?
        @OptionGroup var tenantOption: TenantOption
        var tenant: String? { tenantOption.tenant }

        func family(_ data: DataDirectoryOptions) throws -> KeyFamily {
            let tenant = try data.tenant(tenant)
            switch (topic, subject) {
            case (let topic?, nil): return .topic(topic, tenant: tenant)
            case (nil, let subject?): return .subject(subject, tenant: tenant)
            default: throw ValidationError("give exactly one of --topic or --subject")
            }
        }
    }

    static var defaultPrincipal: String { "user:" + ProcessInfo.processInfo.userName }

    static func open(_ data: DataDirectoryOptions) throws -> KeyStore {
        do { return try KeyStore.open(dataDirectory: data.url) } catch { throw CLIError("\(error)") }
    }

    static func emit<T: Encodable>(_ value: T, json: Bool, text: () -> String) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(value), as: UTF8.self))
        } else {
            print(text())
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List key families, their versions, KEK versions and erasure counts.",
            discussion: "Subject families show only their key id (a random pseudonym): subject ids are never stored."
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup var output: Output

        struct Listing: Encodable {
            var provider: String
            var families: [KeyFamilyInfo]
            var kekVersions: [KEK]
            var erasures: Erasures
            struct KEK: Encodable {
                var version: UInt32
                var state: String
                var puncturedFamilies: Int
            }
            struct Erasures: Encodable {
                var pending: Int
                var final: Int
            }
        }

        func run() throws {
            let store = try Keys.open(data)
            do {
                let counts = try store.erasureCounts()
                let listing = Listing(
                    provider: store.provider.reference,
                    families: try store.list(),
                    kekVersions: try store.kekVersions().map {
                        .init(version: $0.version, state: $0.state.rawValue, puncturedFamilies: $0.puncturedFamilies)
                    },
                    erasures: .init(pending: counts.pending, final: counts.final)
                )
                try Keys.emit(listing, json: output.json) {
                    var lines = ["KEY ID                            SCOPE    VERSIONS                         LABEL"]
                    for f in listing.families {
                        let versions = f.versions.map { "v\($0.version):\($0.state)@kek\($0.kekVersion)" }
                            .joined(separator: " ")
                        lines.append(
                            "\(f.keyID)  \(f.scope.padding(toLength: 7, withPad: " ", startingAt: 0))  "
                                + "\(versions.padding(toLength: 32, withPad: " ", startingAt: 0)) \(f.label ?? "-")"
                        )
                    }
                    lines.append("")
                    lines.append("KEK provider: \(listing.provider)")
                    lines.append(
                        "KEK versions: "
                            + listing.kekVersions.map {
                                "v\($0.version) \($0.state)"
                                    + ($0.puncturedFamilies > 0 ? " (punctured at \($0.puncturedFamilies))" : "")
                            }.joined(separator: ", ")
                    )
                    lines.append("Erasures: \(counts.pending) pending finalize, \(counts.final) final")
                    return lines.joined(separator: "\n")
                }
            } catch let error as KeyStoreError {
                throw CLIError("\(error)")
            }
        }
    }

    /// The data-key usage limits options shared by `init` and `keys limits`.
    struct LimitOptions: ParsableArguments {
        @Option(
            name: .customLong("dek-max-seals"),
            help: """
                Field seals one data-key version may make before a new version takes over (at most 2^32, \
                NIST SP 800-38D's bound for random nonces). Default 1073741824 (2^30).
                """
        )
        var maxSeals: UInt64?
        @Option(
            name: .customLong("dek-max-age"),
            help: "Age after which a data-key version is replaced on its next use: 12h, 90d, 1y; none to lift it."
        )
        var maxAge: String?

        var isEmpty: Bool { maxSeals == nil && maxAge == nil }

        /// `current` with the options applied.
        func applied(to current: DEKUsageLimits) throws -> DEKUsageLimits {
            var age = current.maxAgeSeconds
            if let text = maxAge {
                if text == "none" {
                    age = nil
                } else {
                    guard let seconds = durationSeconds(text, units: "smhdy") else {
                        throw ValidationError("--dek-max-age: a duration such as 3600s, 12h, 90d or 1y, or none")
                    }
                    age = seconds
                }
            }
            do { return try DEKUsageLimits(maxSeals: maxSeals ?? current.maxSeals, maxAgeSeconds: age) } catch {
                throw ValidationError("\(error)")
            }
        }

        static func describe(_ limits: DEKUsageLimits) -> String {
            let age = limits.maxAgeSeconds.map { "\($0) s (\(Double($0) / 86_400) days)" } ?? "none"
            return "data-key limits: at most \(limits.maxSeals) field seals per key version; maximum age \(age)"
        }
    }

    struct Limits: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or set how much one data-key version may encrypt before it is rotated.",
            discussion: """
                Every key version counts its field seals in the key store (reserved in blocks before use, so \
                a crash can only overcount). When a version reaches the seal limit, or is older than the age \
                limit, its family gets a new version on its next use; older versions still decrypt. The \
                limits live in the key store: every process on the data directory applies them.

                  strongroom keys limits
                  strongroom keys limits --dek-max-age 90d --dek-max-seals 268435456
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup var limits: LimitOptions
        @OptionGroup var output: Output

        func run() throws {
            let store = try Keys.open(data)
            var current: DEKUsageLimits
            do { current = try store.usageLimits() } catch {
                // A damaged setting stops encryption; setting both limits repairs it.
                guard limits.maxSeals != nil, limits.maxAge != nil else {
                    throw CLIError("\(error): set both --dek-max-seals and --dek-max-age to repair it")
                }
                current = try limits.applied(to: DEKUsageLimits())
            }
            if !limits.isEmpty {
                let updated = try limits.applied(to: current)
                try data.audit(
                    "SetKeyLimits",
                    "keyring",
                    reason: "max seals \(updated.maxSeals), max age \(updated.maxAgeSeconds.map { "\($0)s" } ?? "none")"
                )
                do { try store.setUsageLimits(updated) } catch { throw CLIError("\(error)") }
                current = updated
            }
            try Keys.emit(current, json: output.json) { LimitOptions.describe(current) }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a key version to a topic or subject; it encrypts from now on, older versions still decrypt."
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup var family: FamilyOptions
        @OptionGroup var output: Output

        func run() throws {
            try data.audit("RotateKey", family.topic.map { "key:topic/\($0)" } ?? "key:subject")
            let store = try Keys.open(data)
            do {
                let reference = try store.rotate(try family.family(data))
                try Keys.emit(["key": reference.description], json: output.json) {
                    "Rotated: now encrypting with \(reference)"
                }
            } catch let error as KeyStoreError {
                throw CLIError("\(error)")
            }
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retire an old key version: its wrapped key is deleted and fields under it no longer decrypt."
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup var family: FamilyOptions
        @Option(help: "The version to retire (not the active one).")
        var version: UInt32
        @OptionGroup var output: Output

        func run() throws {
            try data.audit(
                "RetireKey",
                family.topic.map { "key:topic/\($0)" } ?? "key:subject",
                reason: "version \(version)"
            )
            let store = try Keys.open(data)
            do {
                try store.retire(try family.family(data), version: version)
                try Keys.emit(["retired": version], json: output.json) { "Retired version \(version)" }
            } catch let error as KeyStoreError {
                throw CLIError("\(error)")
            }
        }
    }

    struct RotateKEK: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-kek",
            abstract: "Add a KEK version and rewrap every data key under it; event data is not touched.",
            discussion:
                "The old KEK version is retired, not destroyed: `keys destroy-kek` removes it once no backup needs it."
        )
        @OptionGroup var data: DataDirectoryOptions
        @OptionGroup var output: Output

        func run() throws {
            let store = try Keys.open(data)
            try data.audit("RotateKEK", "keyring", reason: "provider \(store.provider.reference)")
            do {
                let report = try store.rotateKEK { done, total in
                    if !output.json { printError("rewrapped \(done)/\(total)") }
                }
                try Keys.emit(report, json: output.json) {
                    "KEK rotated: version \(report.newVersion) active, \(report.rewrapped) keys rewrapped"
                }
            } catch let error as KeyStoreError {
                throw CLIError("\(error)")
            }
        }
    }

    struct MigrateKEK: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate-kek",
            abstract:
                "Move the KEKs from the keyring file to an HSM or KMS: every data key rewrapped, then the keyring deleted.",
            discussion: """
                Key ids, lookup hashes and record keys stay the same. Stop every writer first. If it is interrupted, \
                the data directory refuses to open until this command is run again, which finishes it.

                  strongroom keys migrate-kek --to 'pkcs11:token=strongroom;object=payments'

                The keyring file is deleted, not shredded: its blocks may stay on the disk until reused.
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "The new provider: pkcs11:…, aws-kms:… or vault-transit:MOUNT/KEY (as `init --kek`).")
        var to: String
        @Option(help: "With --to aws-kms:…, the KMS endpoint.")
        var kmsEndpoint: String?
        @Option(help: "With --to aws-kms:…, the AWS region (default: $AWS_REGION).")
        var region: String?
        @Option(help: "With --to vault-transit:…, Vault's address (default: $VAULT_ADDR).")
        var vaultAddr: String?
        @OptionGroup var output: Output

        func run() throws {
            let reference = try KEKReference.build(
                to,
                option: "--to",
                kmsEndpoint: kmsEndpoint,
                region: region,
                vaultAddr: vaultAddr
            )
            // Recorded before anything moves: what cannot be audited is not done.
            try data.audit("MigrateKEK", "keyring", reason: "to provider \(reference ?? to)")
            do {
                let report = try KeyStore.migrateKEK(dataDirectory: data.url, to: reference ?? to) { done, total in
                    if !output.json { printError("rewrapped \(done)/\(total)") }
                }
                try Keys.emit(report, json: output.json) {
                    "KEKs moved to \(report.provider): \(report.rewrapped) keys rewrapped, keyring deleted"
                }
            } catch let error as KeyStoreError {
                throw CLIError("\(error)")
            }
        }
    }

    struct DestroyKEK: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "destroy-kek",
            abstract: "Destroy a retired KEK version; backups wrapped under it become unreadable."
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "The KEK version to destroy.")
        var version: UInt32
        @OptionGroup var output: Output

        func run() throws {
            let store = try Keys.open(data)
            try data.audit("DestroyKEK", "keyring", reason: "version \(version), provider \(store.provider.reference)")
            do {
                try store.destroyKEK(version: version)
                try Keys.emit(["destroyed": version], json: output.json) { "KEK version \(version) destroyed" }
            } catch let error as KeyStoreError {
                throw CLIError("\(error)")
            }
        }
    }

    struct Erase: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Crypto-shred a data subject: every key version deleted, immediately, in every process.",
            discussion: """
                Fields of the subject then decrypt to {"$erased":true}. Run `keys finalize` to make the erasure \
                reach backups of the key store too. The receipt names the subject only by its pseudonym, which the key store forgets.
                """
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "The data subject's id.")
        var subject: String
        @OptionGroup var tenantOption: TenantOption
        var tenant: String? { tenantOption.tenant }
        @Option(
            name: .customLong("principal"),
            help: "Who asks, recorded in the audit receipt (default: user:<login name>)."
        )
        var principalOption: String?
        var principal: String { principalOption ?? Keys.defaultPrincipal }
        @Option(help: "Correlation id of the request (e.g. the DSR ticket), recorded in the receipt.")
        var correlationId: String?
        @OptionGroup var output: Output

        func run() throws {
            let store = try Keys.open(data)
            let tenant = try data.tenant(tenant)
            let audit: AuditLog
            do { audit = try data.auditLog() } catch { throw CLIError("\(error)") }
            do {
                let receipt = try SubjectErasure.erase(
                    subject: subject,
                    tenant: tenant,
                    keys: store,
                    principal: principal,
                    resource: tenant.isEmpty ? "subject" : "subject:tenant=\(tenant)",
                    correlationID: correlationId
                ) { _ = try audit.append($0) }
                let nothingHeld = !receipt.alreadyErased && receipt.versionsDeleted == 0
                try Keys.emit(receipt, json: output.json) {
                    receipt.alreadyErased
                        ? "Already erased."
                        : nothingHeld
                            ? "No keys held for this subject in tenant \"\(tenant)\": nothing was destroyed "
                                + "(check --tenant and that its data was encrypted under a subject key). "
                                + "New data for it will be refused."
                            : "Erased: key id \(receipt.keyID), \(receipt.versionsDeleted) key version(s) deleted. "
                                + "Run `strongroom keys finalize` to make it final for backups."
                }
            } catch let error as KeyStoreError {
                throw CLIError("\(error)")
            } catch let error as SubjectErasure.Failure {
                throw CLIError("\(error)")
            }
        }
    }

    struct Finalize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make pending erasures final: every KEK version forgets the erased keys, backups included."
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(
            name: .customLong("principal"),
            help: "Who asks, recorded in the audit log (default: user:<login name>)."
        )
        var principalOption: String?
        var principal: String { principalOption ?? Keys.defaultPrincipal }
        @OptionGroup var output: Output

        func run() throws {
            let store = try Keys.open(data)
            let audit: AuditLog
            do { audit = try data.auditLog() } catch { throw CLIError("\(error)") }
            do {
                let report = try store.finalize()
                if !report.finalized.isEmpty {
                    do {
                        try audit.append(
                            AuditEntry(
                                principal: principal,
                                action: "FinalizeErasure",
                                resource: "keyring",
                                decision: .allow,
                                reason: "KEK versions punctured: "
                                    + report.kekVersions.map { "v\($0)" }.joined(separator: ",")
                                    + "; provider \(store.provider.reference)",
                                keyIDs: report.finalized,
                                count: report.finalized.count
                            )
                        )
                    } catch {
                        throw CLIError("finalized, but the audit entry could not be written: \(error)")
                    }
                }
                try Keys.emit(report, json: output.json) {
                    report.finalized.isEmpty
                        ? "Nothing to finalize"
                        : "Finalized \(report.finalized.count) erasure(s); KEK versions punctured: "
                            + report.kekVersions.map { "v\($0)" }.joined(separator: ", ")
                }
            } catch let error as KeyStoreError {
                throw CLIError("\(error)")
            }
        }
    }
}

extension Keys {
    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a consistent copy of the key database (wrapped keys only) to a file.",
            discussion: "Useless without the keyring; after `keys finalize` it no longer opens erased subjects' keys."
        )
        @OptionGroup var data: DataDirectoryOptions
        @Option(help: "Destination file.")
        var out: String

        func run() throws {
            let store = try Keys.open(data)
            do {
                try store.backup(to: URL(fileURLWithPath: out))
                print("Backed up key store to \(out)")
            } catch {
                throw CLIError("\(error)")
            }
        }
    }
}
