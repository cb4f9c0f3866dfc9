public import Crypto
public import Foundation
import StrongroomCrypto
import StrongroomJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A time-boxed, Ed25519-signed break-glass grant for one exact scope.
///
/// Text form: `srg1.` + base64url(payload) + `.` + base64url(signature), where the payload is
/// the RFC 8785 canonical JSON of `{"action", "expires", "id", "issuer", "notBefore",
/// "policyDigest", "policyVersion", "principal", "purpose"?, "resource", "singleUse"}` and the signature is
/// Ed25519 over exactly those bytes. Parsing does not verify: ``PolicyEngine`` does.
public struct GovernanceToken: Hashable, Sendable {
    /// Random 128-bit id, base64url.
    public let id: String
    /// The issuer's key id (``GovernanceIssuer/keyID``).
    public let issuer: String
    /// The principal id the grant is for.
    public let principal: String
    /// The one action granted.
    public let action: Action
    /// The one resource granted.
    public let resource: Resource
    /// The purpose the request must state, if any.
    public let purpose: String?
    /// The policy version the grant is bound to.
    public let policyVersion: String
    /// The ``Policy/digest`` of the policy text the grant is bound to.
    public let policyDigest: String
    /// Valid from (Unix seconds, inclusive).
    public let notBefore: Int64
    /// Valid until (Unix seconds, exclusive).
    public let expires: Int64
    /// When true, the first use spends it.
    public let singleUse: Bool
    let payload: [UInt8]
    let signature: [UInt8]

    static let prefix = "srg1."

    /// Parses the text form (structure only; no signature, time or scope check).
    public init(parsing text: String) throws(PolicyError) {
        guard text.hasPrefix(GovernanceToken.prefix) else { throw PolicyError(.invalidToken, "not an srg1 token") }
        let parts = text.dropFirst(GovernanceToken.prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Base64URL.decode(String(parts[0])),
            let signature = Base64URL.decode(String(parts[1])), signature.count == 64
        else { throw PolicyError(.invalidToken, "expected srg1.PAYLOAD.SIGNATURE in base64url") }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: payload)
        } catch {
            throw PolicyError(.invalidToken, "payload is not JSON")
        }
        // Only the canonical form is accepted: one token, one byte string.
        guard let canonical = try? CanonicalJSON.encode(json), canonical == payload else {
            throw PolicyError(.invalidToken, "payload is not canonical JSON")
        }
        let allowed: Set<String> = [
            "id", "issuer", "principal", "action", "resource", "purpose", "policyVersion", "policyDigest",
            "notBefore", "expires", "singleUse",
        ]
        guard let members = json.objectMembers, members.allSatisfy({ allowed.contains($0.key) }),
            let id = json["id"]?.stringValue, let issuer = json["issuer"]?.stringValue,
            let principal = json["principal"]?.stringValue,
            let actionName = json["action"]?.stringValue, let action = Action(name: actionName),
            let resourceText = json["resource"]?.stringValue,
            let policyVersion = json["policyVersion"]?.stringValue,
            let policyDigest = json["policyDigest"]?.stringValue,
            case .number(let nbf)? = json["notBefore"], let notBefore = Int64(nbf),
            case .number(let exp)? = json["expires"], let expires = Int64(exp),
            case .bool(let singleUse)? = json["singleUse"]
        else { throw PolicyError(.invalidToken, "payload lacks a field or has a wrong type") }
        var purpose: String?
        if let p = json["purpose"] {
            guard let s = p.stringValue else { throw PolicyError(.invalidToken, "purpose must be a string") }
            purpose = s
        }
        self.id = id
        self.issuer = issuer
        self.principal = principal
        self.action = action
        self.resource = try Resource(parsing: resourceText)
        self.purpose = purpose
        self.policyVersion = policyVersion
        self.policyDigest = policyDigest
        self.notBefore = notBefore
        self.expires = expires
        self.singleUse = singleUse
        self.payload = payload
        self.signature = signature
    }

    static func payload(
        id: String,
        issuer: String,
        principal: String,
        action: Action,
        resource: Resource,
        purpose: String?,
        policyVersion: String,
        policyDigest: String,
        notBefore: Int64,
        expires: Int64,
        singleUse: Bool
    ) -> JSONValue {
        var members: [JSONValue.Member] = [
            .init("id", .string(id)),
            .init("issuer", .string(issuer)),
            .init("principal", .string(principal)),
            .init("action", .string(action.rawValue)),
            .init("resource", .string(resource.description)),
            .init("policyVersion", .string(policyVersion)),
            .init("policyDigest", .string(policyDigest)),
            .init("notBefore", .number(String(notBefore))),
            .init("expires", .number(String(expires))),
            .init("singleUse", .bool(singleUse)),
        ]
        if let purpose { members.append(.init("purpose", .string(purpose))) }
        return .object(members)
    }
}

/// Holds the Ed25519 key that signs governance tokens.
public struct GovernanceIssuer: Sendable, CustomStringConvertible {
    let privateKey: Curve25519.Signing.PrivateKey

    /// An issuer with `privateKey`.
    public init(privateKey: Curve25519.Signing.PrivateKey) { self.privateKey = privateKey }

    /// The verification key engines trust.
    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }

    /// The key id tokens name: base64url of the first 12 bytes of SHA-256 of the raw public key.
    public var keyID: String { GovernanceIssuer.keyID(of: publicKey) }

    /// The key id of `publicKey`.
    public static func keyID(of publicKey: Curve25519.Signing.PublicKey) -> String {
        Base64URL.encode(SHA256.hash(data: publicKey.rawRepresentation).prefix(12))
    }

    /// Signs a grant for exactly (`principal`, `action`, `resource`, `purpose`) under `policy`'s
    /// version and digest, valid for `[notBefore, expires)`, and returns its text form.
    ///
    /// - Throws: ``PolicyError/Code/invalidToken`` when the lifetime, in whole seconds, is under
    ///   1 s or over 7 days (``PolicyEngine/maximumTokenLifetime``), or a name is not ASCII.
    public func issue(
        principal: String,
        action: Action,
        resource: Resource,
        purpose: String? = nil,
        policy: Policy,
        notBefore: Date = Date(),
        expires: Date,
        singleUse: Bool = false
    ) throws(PolicyError) -> String {
        try issue(
            principal: principal,
            action: action,
            resource: resource,
            purpose: purpose,
            policyVersion: policy.version,
            policyDigest: policy.digest,
            notBefore: notBefore,
            expires: expires,
            singleUse: singleUse
        )
    }

    /// Signs a grant bound to `policyVersion` and `policyDigest` (``Policy/digest``); see
    /// ``issue(principal:action:resource:purpose:policy:notBefore:expires:singleUse:)``.
    public func issue(
        principal: String,
        action: Action,
        resource: Resource,
        purpose: String? = nil,
        policyVersion: String,
        policyDigest: String,
        notBefore: Date = Date(),
        expires: Date,
        singleUse: Bool = false
    ) throws(PolicyError) -> String {
        let from = Names.unixSeconds(notBefore)
        let until = Names.unixSeconds(expires)
        // Whole seconds are signed: a TTL that rounds to nothing would give notBefore == expires.
        guard until - from >= 1 else { throw PolicyError(.invalidToken, "the lifetime must be at least 1 s") }
        guard until - from <= PolicyEngine.maximumTokenLifetime else {
            throw PolicyError(.invalidToken, "the lifetime must be at most 7 days")
        }
        guard Names.isASCII(principal), Names.isASCII(resource.description), Names.isASCII(purpose) else {
            throw PolicyError(.nonASCIIName, "token names are ASCII (compared byte for byte)")
        }
        var random = SystemRandomNumberGenerator()
        let id = Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) })
        let value = GovernanceToken.payload(
            id: id,
            issuer: keyID,
            principal: principal,
            action: action,
            resource: resource,
            purpose: purpose,
            policyVersion: policyVersion,
            policyDigest: policyDigest,
            notBefore: from,
            expires: until,
            singleUse: singleUse
        )
        guard let payload = try? CanonicalJSON.encode(value),
            let signature = try? privateKey.signature(for: payload)
        else { throw PolicyError(.invalidToken, "cannot sign") }
        return GovernanceToken.prefix + Base64URL.encode(payload) + "." + Base64URL.encode(Array(signature))
    }

    /// Loads the 32-byte Ed25519 seed at `url` (mode 0600, owned by this user), creating it first if absent.
    ///
    /// The file is opened without following a symbolic link, and the checks are made on the
    /// opened descriptor (`fstat`), which is also what is read: no swap between check and read.
    ///
    /// - Throws: ``PolicyError/Code/keyPermissions`` when the path is a symbolic link or not a regular
    ///   file, group or others can access the file, or another user owns it; ``PolicyError/Code/invalidKey``
    ///   when it is not 32 bytes.
    public static func loadOrCreate(at url: URL) throws(PolicyError) -> GovernanceIssuer {
        // O_NONBLOCK: opening a FIFO planted at the path must not hang; regular files ignore it.
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            switch errno {
            case ENOENT: return try create(at: url)
            case ELOOP: throw PolicyError(.keyPermissions, "\(url.path) is a symbolic link")
            default: throw PolicyError(.unreadable, url.path)
            }
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw PolicyError(.unreadable, url.path) }
        guard info.st_mode & 0o170000 == 0o100000 else {
            throw PolicyError(.keyPermissions, "\(url.path) is not a regular file")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw PolicyError(
                .keyPermissions,
                "\(url.path) is accessible by group or others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600"
            )
        }
        guard info.st_uid == geteuid() else {
            throw PolicyError(.keyPermissions, "\(url.path) is owned by another user")
        }
        // One byte more than a seed, to tell a longer file from a seed.
        var seed = [UInt8](repeating: 0, count: 33)
        defer { for i in seed.indices { seed[i] = 0 } }
        var count = 0
        while count < seed.count {
            let n = seed.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return read(fd, base + count, buffer.count - count)
            }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw PolicyError(.unreadable, url.path) }
            if n == 0 { break }
            count += n
        }
        guard count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed[0..<32]) else {
            throw PolicyError(.invalidKey, "\(url.path): expected a 32-byte Ed25519 seed")
        }
        return GovernanceIssuer(privateKey: key)
    }

    static func create(at url: URL) throws(PolicyError) -> GovernanceIssuer {
        let key = Curve25519.Signing.PrivateKey()
        let seed = Array(key.rawRepresentation)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PolicyError(.unreadable, "cannot create \(url.path)") }
        let written = seed.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == seed.count, synced == 0 else {
            unlink(url.path)
            throw PolicyError(.unreadable, "cannot write \(url.path)")
        }
        return GovernanceIssuer(privateKey: key)
    }

    /// The kind, never the key.
    public var description: String { "GovernanceIssuer(\(keyID), <redacted>)" }
}
