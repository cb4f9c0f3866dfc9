import Crypto
import Foundation
import StrongroomFiles
import StrongroomJSON

/// Why a principal's producer key cannot be used.
public struct ProducerKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: String, Sendable {
        case badPrincipal = "bad principal name"
        case unreadable = "unreadable key file"
        case notPinned = "producer key not pinned"
    }

    /// What kind of failure.
    public var kind: Kind
    /// The file or principal concerned; never a key.
    public var detail: String
    /// The public key to pin (base64), for ``Kind/notPinned``.
    public var publicKey: String?

    /// The kind and detail.
    public var description: String { "\(kind.rawValue): \(detail)" }
}

/// A principal's producer signing key, kept in the data directory as
/// `producer-<principal>.key` (base64 of the raw Ed25519 key, mode 0600).
public enum ProducerKeys {
    /// Reads the key, or makes and stores one (0600 from its first byte).
    public static func loadOrCreate(
        principal: String,
        in directory: URL
    ) throws(ProducerKeyError) -> Curve25519.Signing.PrivateKey {
        guard !principal.isEmpty, principal.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") })
        else {
            throw ProducerKeyError(
                kind: .badPrincipal,
                detail: "principal names for key files are printable ASCII without /"
            )
        }
        let url = directory.appendingPathComponent("producer-\(principal).key")
        // A key file that exists is read or refused, never replaced: its key may be pinned.
        if FileManager.default.fileExists(atPath: url.path) { return try read(url) }
        let key = Curve25519.Signing.PrivateKey()
        let created: Bool
        do {
            created = try PrivateFiles.createNew(
                Array((key.rawRepresentation.base64EncodedString() + "\n").utf8),
                at: url.path
            )
        } catch {
            throw ProducerKeyError(kind: .unreadable, detail: "cannot write \(url.path): \(error)")
        }
        // Another process made it first: use its key.
        return created ? key : try read(url)
    }

    static func read(_ url: URL) throws(ProducerKeyError) -> Curve25519.Signing.PrivateKey {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
            let mode = attributes[.posixPermissions] as? Int, mode & 0o077 == 0
        else {
            throw ProducerKeyError(kind: .unreadable, detail: "\(url.path) is accessible by group or others: chmod 600")
        }
        guard let text = try? String(contentsOf: url, encoding: .utf8),
            let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else { throw ProducerKeyError(kind: .unreadable, detail: "\(url.path) is not a readable producer key") }
        return key
    }

    /// Refuses when the policy does not pin `key` for `principal`: consumers would dead-letter
    /// everything it signs.
    public static func requirePinned(
        _ key: Curve25519.Signing.PrivateKey,
        principal: String,
        services: StrongroomServices
    ) throws(ProducerKeyError) {
        let pinned = services.trustedProducerKeys()[ExactText(principal)] ?? []
        guard pinned.contains(where: { $0.rawRepresentation == key.publicKey.rawRepresentation }) else {
            throw ProducerKeyError(
                kind: .notPinned,
                detail: "\(principal)'s producer key is not pinned in the policy",
                publicKey: key.publicKey.rawRepresentation.base64EncodedString()
            )
        }
    }
}

extension StrongroomServices {
    /// The file naming a data directory's tenant (`init --tenant`).
    public static let tenantFileName = "tenant"

    /// The tenant a data directory was made for; nil when it records none (made before tenants
    /// were recorded).
    public static func tenant(ofDataDirectory directory: URL) -> String? {
        let file = directory.appendingPathComponent(tenantFileName)
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
