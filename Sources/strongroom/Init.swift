import ArgumentParser
import Foundation
import StrongroomAudit
import StrongroomFiles
import StrongroomKeys

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a data directory: a keyring (mode 0600), an empty key store and an audit log.",
        discussion: """
            Refuses to overwrite an existing keyring: losing it loses every key.

            With --kek, the KEKs live in an HSM instead of a keyring file, named by an RFC 7512 PKCS#11 URI; \
            the PIN comes from the URI's pin-source file or $STRONGROOM_PKCS11_PIN, never from an argument:

              export STRONGROOM_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
              strongroom init --data-dir ./data \\
                --kek 'pkcs11:token=strongroom;object=payments?pin-source=file:/run/pin'

            See docs/keys.md for each provider's setup and threat model.
            """
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
    @Option(
        help: """
            Where the key-encryption keys live: a PKCS#11 URI (pkcs11:token=…;object=…?module-path=…&pin-source=…) \
            an AWS KMS key (aws-kms:KEY_ID_OR_ARN) or a Vault Transit key (vault-transit:MOUNT/KEY). Default: a \
            keyring file in the data directory.
            """
    )
    var kek: String?
    @Option(help: "With --kek aws-kms:…, the KMS endpoint (a VPC endpoint, or a test server on loopback).")
    var kmsEndpoint: String?
    @Option(help: "With --kek aws-kms:…, the AWS region (default: $AWS_REGION).")
    var region: String?
    @Option(help: "With --kek vault-transit:MOUNT/KEY, Vault's address (default: $VAULT_ADDR).")
    var vaultAddr: String?
    @OptionGroup var limits: Keys.LimitOptions

    func run() throws {
        let tenant = self.tenant ?? ""
        guard tenant.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ValidationError("--tenant must be printable ASCII without spaces")
        }
        do {
            let usage = try limits.applied(to: DEKUsageLimits())
            let reference = try KEKReference.build(
                kek,
                option: "--kek",
                kmsEndpoint: kmsEndpoint,
                region: region,
                vaultAddr: vaultAddr
            )
            let store = try KeyStore.initialize(dataDirectory: data.url, kek: reference)
            if !limits.isEmpty { try store.setUsageLimits(usage) }
            try PrivateFiles.write(
                Array((tenant + "\n").utf8),
                to: data.url.appendingPathComponent(DataDirectoryOptions.tenantFileName).path
            )
            print("Initialized \(data.url.path)")
            if kek == nil {
                print("  keyring:   \(data.url.appendingPathComponent(KeyStore.keyringFileName).path) (mode 0600)")
            } else {
                print("  KEKs:      \(store.provider.reference)")
                print(
                    "  key tree:  \(data.url.appendingPathComponent(EnvelopeKeyring.fileName).path) (sealed by the provider, mode 0600)"
                )
            }
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

/// A KEK provider reference from `--kek` (or `--to`) and the options that complete it.
enum KEKReference {
    static func build(
        _ kek: String?,
        option: String,
        kmsEndpoint: String?,
        region: String?,
        vaultAddr: String?
    ) throws -> String? {
        var reference = kek
        if kmsEndpoint != nil || region != nil {
            guard let kek, kek.hasPrefix("aws-kms:") else {
                throw ValidationError("--kms-endpoint and --region go with \(option) aws-kms:…")
            }
            var query: [String] = []
            if let region { query.append("region=\(region)") }
            if let kmsEndpoint { query.append("endpoint=\(kmsEndpoint)") }
            reference = kek + (kek.contains("?") ? "&" : "?") + query.joined(separator: "&")
        }
        if let vaultAddr {
            guard let kek, kek.hasPrefix("vault-transit:") else {
                throw ValidationError("--vault-addr goes with \(option) vault-transit:MOUNT/KEY")
            }
            reference = kek + (kek.contains("?") ? "&" : "?") + "addr=\(vaultAddr)"
        }
        return reference
    }
}
