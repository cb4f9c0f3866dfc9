import ArgumentParser
import Foundation
import StrongroomAudit
import StrongroomFiles
import StrongroomKeys

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a data directory: a keyring (mode 0600), an empty key store and an audit log.",
        discussion: "Refuses to overwrite an existing keyring: losing it loses every key."
    )

    @OptionGroup var data: DataDirectoryOptions
    @Option(
        help: """
            The tenant this data directory belongs to (the bank, brand or business unit whose customers these \
            are): bound into every ciphertext and key id, matched against the policy's tenant conditions, and \
            used by every command, which then refuses a different --tenant. Printable ASCII, no spaces. \
            Default: no tenant (the empty string), for a single-tenant deployment.
            """
    )
    var tenant: String?
    @OptionGroup var limits: Keys.LimitOptions

    func run() throws {
        let tenant = self.tenant ?? ""
        guard tenant.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ValidationError("--tenant must be printable ASCII without spaces")
        }
        do {
            let usage = try limits.applied(to: DEKUsageLimits())
            let store = try KeyStore.initialize(dataDirectory: data.url)
            if !limits.isEmpty { try store.setUsageLimits(usage) }
            try PrivateFiles.write(
                Array((tenant + "\n").utf8),
                to: data.url.appendingPathComponent(DataDirectoryOptions.tenantFileName).path
            )
            print("Initialized \(data.url.path)")
            print("  keyring:   \(data.url.appendingPathComponent(KeyStore.keyringFileName).path) (mode 0600)")
            print("  key store: \(store.databaseURL.path)")
            print("  tenant:    \(tenant.isEmpty ? "(none)" : tenant)")
            print("  \(Keys.LimitOptions.describe(usage))")
            let audit = try data.auditLog()
            let keyPath = data.auditKeyURL?.path ?? data.url.appendingPathComponent(AuditLog.keyFileName).path
            print(
                "  audit log: \(data.url.appendingPathComponent(AuditLog.databaseFileName).path), signed with \(keyPath)"
            )
            print("  audit verifier key (record it outside this directory): \(audit.verifierKey.text)")
            if data.auditKeyURL == nil {
                print("  note: the audit signing key is inside the data directory; pass --audit-key (or set")
                print("        STRONGROOM_AUDIT_KEY) to keep it apart, and keep checkpoints elsewhere.")
            }
        } catch {
            throw CLIError("strongroom init: \(error)")
        }
    }
}
