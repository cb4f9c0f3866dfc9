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

@main
struct StrongroomCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strongroom",
        abstract: "Secure, compliant event streaming: field-level encryption, crypto-shredding, signed events.",
        discussion: """
            Data lives in a data directory: --data-dir, else $STRONGROOM_DATA, else ./strongroom-data. \
            Start with `strongroom init`, or try `strongroom demo` for a guided walk-through.
            """,
        subcommands: [
            Demo.self, Init.self, Encrypt.self, Decrypt.self, Keys.self, SchemaCommand.self, TopicCommand.self,
            ProduceCommand.self, ConsumeCommand.self, DLQCommand.self, LogCommand.self, PolicyCommand.self,
            AuditCommand.self, DSRCommand.self, MirrorCommand.self, ServeCommand.self,
            Bench.self, DevCommand.self,
        ]
    )
}

/// The data directory option every command shares.
struct DataDirectoryOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "Data directory (default: $STRONGROOM_DATA, else ./strongroom-data)."
    )
    var dataDir: String?

    @Option(
        name: .customLong("audit-key"),
        help: """
            The audit log's signing key file, best kept outside the data directory where its writers cannot reach \
            it (default: $STRONGROOM_AUDIT_KEY, else <data-dir>/audit.key).
            """
    )
    var auditKey: String?

    var url: URL {
        let path = dataDir ?? ProcessInfo.processInfo.environment["STRONGROOM_DATA"] ?? "./strongroom-data"
        return URL(fileURLWithPath: path, isDirectory: true)
    }

    /// The signing key's path when it is kept apart from the data directory.
    var auditKeyURL: URL? {
        (auditKey ?? ProcessInfo.processInfo.environment["STRONGROOM_AUDIT_KEY"]).map { URL(fileURLWithPath: $0) }
    }

    /// The data directory's audit log, signing with the configured key.
    func auditLog() throws -> AuditLog { try AuditLog(dataDirectory: url, signingKey: auditKeyURL) }

    /// The file naming the data directory's tenant (`init --tenant`).
    static let tenantFileName = StrongroomServices.tenantFileName

    /// The tenant every command acts in: the data directory's own (`init --tenant`), which a
    /// different `--tenant` may not override; `requested` (else "") for a directory made before
    /// tenants were recorded.
    func tenant(_ requested: String?) throws -> String {
        guard let stored = StrongroomServices.tenant(ofDataDirectory: url) else { return requested ?? "" }
        if let requested, !requested.hasSameBytes(as: stored) {
            throw CLIError(
                "--tenant \"\(requested)\" does not match this data directory's tenant \"\(stored)\" "
                    + "(\(url.path)): check --tenant and --data-dir"
            )
        }
        return stored
    }

    /// Writes one audit entry for a command about to reveal plaintext or change configuration,
    /// before it acts: if the entry cannot be written, the command does not run.
    ///
    /// Metadata only: who (`$STRONGROOM_PRINCIPAL`, else `user:<login name>`), what, on which
    /// resource, counts; never a value.
    func audit(_ action: String, _ resource: String, reason: String? = nil, count: Int = 1) throws {
        let principal =
            ProcessInfo.processInfo.environment["STRONGROOM_PRINCIPAL"] ?? "user:" + ProcessInfo.processInfo.userName
        do {
            try auditLog().append(
                AuditEntry(
                    principal: principal,
                    action: action,
                    resource: resource,
                    decision: .allow,
                    reason: reason,
                    count: count
                )
            )
        } catch {
            throw CLIError("not done: the audit entry could not be written: \(error)")
        }
    }

    /// The secure pipeline's services on this data directory (and `log`'s event log), deciding
    /// with the policy file at `policy`, in the data directory's tenant (a different `tenant` is refused).
    func services(policy: String, tenant requested: String?, log: LogOptions) throws -> StrongroomServices {
        _ = try existing()
        let eventLog = try log.open(self)
        do {
            return StrongroomServices(
                keys: try KeyStore.openGuarded(dataDirectory: url),
                log: eventLog,
                registry: try SchemaRegistry(dataDirectory: url),
                policy: try PolicyEngine(contentsOf: URL(fileURLWithPath: policy)),
                audit: try auditLog(),
                tenant: try tenant(requested),
                logger: Logger(label: "strongroom.pipeline") { JSONLogHandler(label: $0) }
            )
        } catch let error as CLIError { throw error } catch { throw CLIError("\(error)") }
    }

    /// The data directory, which must exist: read-only commands never create one.
    func existing() throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError(
                "no data directory at \(url.path): check --data-dir or $STRONGROOM_DATA (`strongroom init` makes one)"
            )
        }
        return url
    }
}

/// The tenant a command acts in, explained once for every command.
struct TenantOption: ParsableArguments {
    @Option(
        help: """
            The tenant whose keys and data these are (bound into every ciphertext). Default: the data \
            directory's, set by `init --tenant`; a different one is refused.
            """
    )
    var tenant: String?
}

/// What every command on the secure pipeline takes: the data directory, who acts, under which
/// policy, in which tenant.
struct PipelineOptions: ParsableArguments {
    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "Who acts: a principal of the policy.")
    var principal: String
    @Option(help: "Policy file.")
    var policy: String
    @OptionGroup var tenantOption: TenantOption
    var tenant: String? { tenantOption.tenant }
    @OptionGroup(title: "Event log") var eventLog: LogOptions

    /// The pipeline's services for this data directory, event log, policy and tenant.
    func services() throws -> StrongroomServices { try data.services(policy: policy, tenant: tenant, log: eventLog) }
}

/// Prints to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Writes bytes to standard output, unbuffered; false when they could not all be written.
@discardableResult
func writeOut(_ bytes: [UInt8]) -> Bool {
    var offset = 0
    return bytes.withUnsafeBytes { raw in
        while offset < raw.count {
            let n = write(1, raw.baseAddress.map { $0 + offset }, raw.count - offset)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}

/// Turns a library error into a clean CLI failure with the message on stderr.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A positive duration written `<n><unit>` (`90s`, `15m`, `2h`, `1d`, `1y` = 365 days), in
/// seconds; nil for another form, a unit not in `units`, or an overflow.
func durationSeconds(_ text: String, units: String) -> Int64? {
    guard let unit = text.last, units.contains(unit), let n = Int64(text.dropLast()), n > 0 else { return nil }
    let scale: Int64
    switch unit {
    case "s": scale = 1
    case "m": scale = 60
    case "h": scale = 3600
    case "d": scale = 86_400
    case "y": scale = 365 * 86_400
    default: return nil
    }
    let total = n.multipliedReportingOverflow(by: scale)
    return total.overflow ? nil : total.partialValue
}
