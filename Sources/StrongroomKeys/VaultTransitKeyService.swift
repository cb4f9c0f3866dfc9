#if KMS
import Foundation
import NIOHTTP1

/// Root keys in HashiCorp Vault's Transit secrets engine, over its HTTP API.
///
/// The configured key (`vault-transit:MOUNT/KEY`) holds the KEK versions: version 1's root is the
/// key's latest version at `init`, `rotate-kek` calls `keys/KEY/rotate`, data keys are wrapped
/// with `encrypt` under that exact `key_version` and the family bound as `associated_data`, and
/// destroying a version raises `min_decryption_version` past it and trims it away (Transit
/// destroys versions oldest first). Sealing keys are keys of their own, `KEY-seal-<id>`, deleted
/// (`deletion_allowed`, then `DELETE`) at the next finalize. Token auth (`VAULT_TOKEN`, else
/// `~/.vault-token`) and namespaces (`VAULT_NAMESPACE` or `?namespace=`).
///
/// Tested against a Transit-compatible test server whose wire behaviour is checked with hvac;
/// not against a real Vault server (none can be installed on the machines this was built on).
public final class VaultTransitKeyService: RootKeyService {
    /// `vault-transit:MOUNT/KEY?addr=…[&namespace=…]`.
    public let reference: String
    /// The Transit mount.
    public let mount: String
    /// The key holding the KEK versions.
    public let key: String
    /// Vault's address.
    public let address: String
    /// The namespace, if any.
    public let namespace: String?
    private let connection: Connection
    private let initialVersion: Int

    /// Parses `vault-transit:MOUNT/KEY[?addr=URL&namespace=NS]`, reads the token and the key's latest version.
    public init(
        reference text: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(KeyStoreError) {
        guard text.hasPrefix("vault-transit:") else { throw Self.bad("must start with vault-transit:") }
        let parts = text.dropFirst("vault-transit:".count).split(
            separator: "?",
            maxSplits: 1,
            omittingEmptySubsequences: false
        )
        let path = parts[0].split(separator: "/", omittingEmptySubsequences: false)
        let name = #/^[A-Za-z0-9_.-]{1,128}$/#
        guard path.count == 2, (try? name.wholeMatch(in: String(path[0]))) != nil,
            (try? name.wholeMatch(in: String(path[1]))) != nil
        else { throw Self.bad("MOUNT/KEY, each letters, digits, _ . -") }
        var address = environment["VAULT_ADDR"]
        var namespace = environment["VAULT_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
        if parts.count == 2 {
            for (name, value) in try ReferenceQuery.parse(parts[1], Self.bad) {
                switch name {
                case "addr": address = value
                case "namespace": namespace = value
                default: throw Self.bad("attribute \(name) is not supported (addr, namespace)")
                }
            }
        }
        guard let address, let url = URL(string: address), let scheme = url.scheme, url.host != nil,
            ["https", "http"].contains(scheme)
        else { throw Self.bad("no Vault address: add ?addr=https://… or set VAULT_ADDR") }
        if scheme == "http", !["127.0.0.1", "localhost", "::1"].contains(url.host ?? "") {
            throw Self.bad("\(address): plain HTTP is refused except on loopback (tests)")
        }
        var token = environment["VAULT_TOKEN"]
        if token == nil || token?.isEmpty == true {
            let file = (environment["HOME"] ?? NSHomeDirectory()) + "/.vault-token"
            token = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines
            )
        }
        guard let token, !token.isEmpty else {
            throw KeyStoreError(.invalidArgument, "no Vault token: set VAULT_TOKEN or write ~/.vault-token")
        }
        let base = address.hasSuffix("/") ? String(address.dropLast()) : address
        self.mount = String(path[0])
        self.key = String(path[1])
        self.address = base
        self.namespace = namespace
        var canonical = "vault-transit:\(path[0])/\(path[1])?addr=\(base)"
        if let namespace { canonical += "&namespace=\(namespace)" }
        self.reference = canonical
        self.connection = Connection(address: base, mount: String(path[0]), namespace: namespace, token: token)
        self.initialVersion = try Self.latestVersion(of: String(path[1]), connection)
    }

    // MARK: RootKeyService

    /// Version 1's root: the configured key at its latest version.
    public var configuredKey: String? { "\(key)#\(initialVersion)" }

    /// `data`: rotate the configured key (its new version is the root); `seal`: a new key of its own.
    public func createKey(purpose: String) throws -> String {
        if purpose == "data" {
            let answer = try call("POST", "keys/\(key)/rotate", [:])
            var version = (answer["data"] as? [String: Any])?["latest_version"] as? Int
            if version == nil { version = try Self.latestVersion(of: key, connection) }
            return "\(key)#\(version ?? 0)"
        }
        let name =
            "\(key)-\(purpose)-\((0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined())"
        _ = try call("POST", "keys/\(name)", ["type": "aes256-gcm96"])
        return name
    }

    /// `encrypt` under the handle's key and version, the context as associated data.
    public func wrap(_ key: [UInt8], under handle: String, context: [UInt8]) throws -> [UInt8] {
        let (name, version) = try Self.split(handle)
        var body: [String: Any] = [
            "plaintext": Data(key).base64EncodedString(), "associated_data": Data(context).base64EncodedString(),
        ]
        if let version { body["key_version"] = version }
        let answer = try call("POST", "encrypt/\(name)", body)
        guard let text = (answer["data"] as? [String: Any])?["ciphertext"] as? String, text.hasPrefix("vault:v") else {
            throw KeyStoreError(.providerUnavailable, "Vault encrypt: no ciphertext in the answer")
        }
        return Array(text.utf8)
    }

    /// `decrypt` with the same associated data; the ciphertext names its version.
    public func unwrap(_ wrapped: [UInt8], under handle: String, context: [UInt8]) throws -> [UInt8] {
        let (name, version) = try Self.split(handle)
        let text = String(decoding: wrapped, as: UTF8.self)
        // The version a ciphertext claims must be the root it was filed under.
        if let version, !text.hasPrefix("vault:v\(version):") {
            throw KeyStoreError(.unwrapFailed, "Vault ciphertext of another key version")
        }
        let answer = try call(
            "POST",
            "decrypt/\(name)",
            ["ciphertext": text, "associated_data": Data(context).base64EncodedString()]
        )
        guard
            let plain = ((answer["data"] as? [String: Any])?["plaintext"] as? String).flatMap({
                Data(base64Encoded: $0)
            })
        else { throw KeyStoreError(.providerUnavailable, "Vault decrypt: no plaintext in the answer") }
        return Array(plain)
    }

    /// A version: raise `min_decryption_version` past it and trim it (oldest first only);
    /// a sealing key: allow deletion, then delete it.
    public func destroyKey(_ handle: String) throws {
        let (name, version) = try Self.split(handle)
        guard let version else {
            let allowed = Result { () throws(KeyStoreError) in
                _ = try call("POST", "keys/\(name)/config", ["deletion_allowed": true])
            }
            if case .failure(let error) = allowed {
                // Gone already: a 404 on a key of our own naming.
                if error.code == .kekUnavailable { return }
                throw error
            }
            _ = try call("DELETE", "keys/\(name)", nil)
            return
        }
        let info = try call("GET", "keys/\(name)", nil)["data"] as? [String: Any] ?? [:]
        let minimum = info["min_decryption_version"] as? Int ?? 1
        let available = info["min_available_version"] as? Int ?? 0
        if version < minimum && version < available { return }
        guard version <= minimum else {
            throw KeyStoreError(
                .invalidArgument,
                "Vault Transit destroys versions oldest first: destroy KEK versions below \(version) first"
            )
        }
        _ = try call("POST", "keys/\(name)/config", ["min_decryption_version": version + 1])
        _ = try call("POST", "keys/\(name)/trim", ["min_available_version": version + 1])
    }

    /// The key (and version) must exist and still decrypt.
    public func checkUsable(_ handle: String) throws {
        let (name, version) = try Self.split(handle)
        let info = try call("GET", "keys/\(name)", nil)["data"] as? [String: Any] ?? [:]
        if let version, version < (info["min_decryption_version"] as? Int ?? 1) {
            throw KeyStoreError(.kekUnavailable, "Vault key \(name) version \(version) no longer decrypts")
        }
    }

    // MARK: HTTP

    static func split(_ handle: String) throws(KeyStoreError) -> (String, Int?) {
        let parts = handle.split(separator: "#", maxSplits: 1)
        guard let name = parts.first, !name.isEmpty else { throw KeyStoreError(.keyringCorrupt, "Vault key handle") }
        if parts.count == 2 {
            guard let version = Int(parts[1]), version > 0 else {
                throw KeyStoreError(.keyringCorrupt, "Vault key handle")
            }
            return (String(name), version)
        }
        return (String(name), nil)
    }

    static func latestVersion(of name: String, _ connection: Connection) throws(KeyStoreError) -> Int {
        let info = try connection.call("GET", "keys/\(name)", nil)["data"] as? [String: Any] ?? [:]
        guard let latest = info["latest_version"] as? Int, latest > 0 else {
            throw KeyStoreError(.kekUnavailable, "Vault key \(name): no versions")
        }
        return latest
    }

    func call(_ method: String, _ path: String, _ body: [String: Any]?) throws(KeyStoreError) -> [String: Any] {
        try connection.call(method, path, body)
    }

    /// Where and as whom requests go.
    struct Connection: Sendable {
        let address: String
        let mount: String
        let namespace: String?
        let token: String

        func call(_ method: String, _ path: String, _ body: [String: Any]?) throws(KeyStoreError) -> [String: Any] {
            var headers = [("X-Vault-Token", token), ("Content-Type", "application/json")]
            if let namespace { headers.append(("X-Vault-Namespace", namespace)) }
            let payload = try body.map { body throws(KeyStoreError) -> [UInt8] in
                guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]) else {
                    throw KeyStoreError(.invalidArgument, "Vault \(path): request")
                }
                return Array(data)
            }
            let (status, answer) = try KeyServiceHTTP.send(
                method == "GET" ? .GET : method == "DELETE" ? .DELETE : .POST,
                "\(address)/v1/\(mount)/\(path)",
                headers: headers,
                body: payload
            )
            let json = (try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any] ?? [:]
            guard (200..<300).contains(status) else {
                let message = ((json["errors"] as? [String])?.first ?? "HTTP \(status)").prefix(200)
                throw KeyStoreError(
                    VaultTransitKeyService.code(status, String(message)),
                    "Vault \(path.prefix(while: { $0 != "/" })): \(message)"
                )
            }
            return json
        }
    }

    static func code(_ status: Int, _ message: String) -> KeyStoreError.Code {
        switch status {
        case 401, 403: .providerDenied
        case 404: .kekUnavailable
        case 400 where message.contains("message authentication failed"): .unwrapFailed
        case 400
        where message.contains("too old") || message.contains("not found") || message.contains("invalid key version"):
            .kekUnavailable
        case 400: .invalidArgument
        default: .providerUnavailable
        }
    }

    static func bad(_ why: String) -> KeyStoreError {
        KeyStoreError(.invalidArgument, "vault-transit reference: \(why)")
    }
}
#endif
