#if Gateway
import Crypto
import Foundation
import JWTKit
import StrongroomFiles
import StrongroomJSON
import SwiftASN1
import X509

/// Test credentials for trying the gateway.
///
/// A CA, a server certificate for loopback, client certificates, and a local token issuer with
/// its JWKS. Development only: the keys are files in one folder.
public enum DevCredentials {
    /// One certificate and its key, as PEM.
    public struct Issued: Sendable {
        /// The certificate.
        public var certificate: String
        /// The private key (PKCS#8 PEM).
        public var privateKey: String
    }

    /// A test CA.
    public struct Authority: Sendable {
        let key: P256.Signing.PrivateKey
        /// The certificate.
        public let certificate: Certificate
        /// The CA's subject.
        public let name: DistinguishedName

        /// A new CA named `commonName`, valid for `days`.
        public init(commonName: String = "Strongroom Test CA", days: Int = 365) throws {
            key = P256.Signing.PrivateKey()
            name = try DistinguishedName {
                OrganizationName("Strongroom")
                CommonName(commonName)
            }
            let now = Date()
            certificate = try Certificate(
                version: .v3,
                serialNumber: .init(),
                publicKey: .init(key.publicKey),
                notValidBefore: now - 60,
                notValidAfter: now + Double(days) * 86_400,
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                },
                issuerPrivateKey: .init(key)
            )
        }

        /// The CA certificate as PEM.
        public var pem: String { get throws { try certificate.serializeAsPEM().pemString } }

        /// A server certificate for `localhost` and 127.0.0.1.
        public func server(days: Int = 365) throws -> Issued {
            try issue(
                subject: try DistinguishedName { CommonName("localhost") },
                usage: .serverAuth,
                names: [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))],
                notBefore: Date() - 60,
                notAfter: Date() + Double(days) * 86_400
            )
        }

        /// A client certificate: `CN=commonName,OU=unit,O=organization`, valid from `notBefore`
        /// to `notAfter` (an expired one for tests: both in the past).
        public func client(
            commonName: String,
            unit: String = "payments",
            organization: String = "Acme Bank",
            notBefore: Date = Date() - 60,
            notAfter: Date = Date() + 365 * 86_400
        ) throws -> Issued {
            try issue(
                subject: try DistinguishedName {
                    OrganizationName(organization)
                    OrganizationalUnitName(unit)
                    CommonName(commonName)
                },
                usage: .clientAuth,
                names: [],
                notBefore: notBefore,
                notAfter: notAfter
            )
        }

        func issue(
            subject: DistinguishedName,
            usage: ExtendedKeyUsage.Usage,
            names: [GeneralName],
            notBefore: Date,
            notAfter: Date
        ) throws -> Issued {
            let leaf = P256.Signing.PrivateKey()
            let certificate = try Certificate(
                version: .v3,
                serialNumber: .init(),
                publicKey: .init(leaf.publicKey),
                notValidBefore: notBefore,
                notValidAfter: notAfter,
                issuer: name,
                subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([usage])
                    if !names.isEmpty { SubjectAlternativeNames(names) }
                },
                issuerPrivateKey: .init(key)
            )
            return Issued(certificate: try certificate.serializeAsPEM().pemString, privateKey: leaf.pemRepresentation)
        }
    }

    /// Writes a CA, a server certificate and client certificates into `folder`.
    ///
    /// The files are `ca.pem`, `server.pem`, `server.key`, `NAME.pem` and `NAME.key`, all
    /// 0600. Refuses to overwrite.
    public static func writePKI(to folder: URL, clients: [String]) throws -> [String] {
        try PrivateFiles.directory(folder.path)
        let ca = try Authority()
        let server = try ca.server()
        var files: [(String, String, Bool)] = [
            ("ca.pem", try ca.pem, false), ("server.pem", server.certificate, false),
            ("server.key", server.privateKey, true),
        ]
        for name in clients {
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) else {
                throw GatewayConfiguration.Invalid("client names are printable ASCII without / or spaces")
            }
            let client = try ca.client(commonName: name)
            files += [("\(name).pem", client.certificate, false), ("\(name).key", client.privateKey, true)]
        }
        for (name, _, _) in files where FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path)
        {
            throw GatewayConfiguration.Invalid(
                "\(folder.appendingPathComponent(name).path) exists; nothing was written"
            )
        }
        for (name, text, _) in files {
            // Certificates are public, but one mode for the folder keeps the keys' from slipping.
            try PrivateFiles.write(Array(text.utf8), to: folder.appendingPathComponent(name).path)
        }
        return files.map(\.0)
    }

    /// A local token issuer: an ES256 key in `issuer.key` (0600) and its public key in
    /// `jwks.json`, made on first use.
    public struct TokenIssuer: Sendable {
        let key: P256.Signing.PrivateKey
        /// The key's id: its RFC 7638 JWK thumbprint, so every issuer's key has its own.
        public let keyID: String
        /// The folder holding the key and `jwks.json`.
        public let folder: URL

        /// Opens the issuer in `folder`, making its key on first use.
        public init(folder: URL) throws {
            self.folder = folder
            try PrivateFiles.directory(folder.path)
            let keyFile = folder.appendingPathComponent("issuer.key")
            if let pem = try? String(contentsOf: keyFile, encoding: .utf8) {
                key = try P256.Signing.PrivateKey(pemRepresentation: pem)
            } else {
                key = P256.Signing.PrivateKey()
                try PrivateFiles.write(Array(key.pemRepresentation.utf8), to: keyFile.path)
            }
            let point = Array(key.publicKey.x963Representation)
            let (x, y) = (Self.base64URL(point[1...32]), Self.base64URL(point[33...64]))
            let thumbprint = SHA256.hash(data: Array(#"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#.utf8))
            keyID = Self.base64URL(ArraySlice(thumbprint))
            let jwks =
                #"{"keys":[{"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":"\#(keyID)","x":"\#(x)","y":"\#(y)"}]}"#
            try Data(jwks.utf8).write(to: folder.appendingPathComponent("jwks.json"))
        }

        /// The JWKS file the gateway's `oidc.jwks` names.
        public var jwks: URL { folder.appendingPathComponent("jwks.json") }

        /// A signed token with these claims (`extra` overrides the standard ones).
        public func token(
            subject: String,
            tenant: String,
            roles: [String],
            issuer: String,
            audience: String,
            lifetime: TimeInterval = 3_600,
            tenantClaim: String = "tenant",
            rolesClaim: String = "roles",
            extra: [String: JSONValue] = [:]
        ) async throws -> String {
            let now = Date().timeIntervalSince1970.rounded(.down)
            var claims: [String: JSONValue] = [
                "iss": .string(issuer), "aud": .string(audience), "sub": .string(subject),
                tenantClaim: .string(tenant), rolesClaim: .array(roles.map { .string($0) }),
                "iat": .number(String(Int(now))), "nbf": .number(String(Int(now))),
                "exp": .number(String(Int(now + lifetime))),
            ]
            for (name, value) in extra { claims[name] = value }
            let payload = TokenVerifier.Payload(
                claims: claims.sorted { $0.key < $1.key }.map { .init($0.key, $0.value) }
            )
            let keys = JWTKeyCollection()
            await keys.add(ecdsa: try ES256PrivateKey(backing: key), kid: JWKIdentifier(string: keyID))
            return try await keys.sign(payload, kid: JWKIdentifier(string: keyID))
        }

        static func base64URL(_ bytes: ArraySlice<UInt8>) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
    }
}
#endif
