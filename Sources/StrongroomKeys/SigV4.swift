import Crypto
public import Foundation

/// AWS Signature Version 4 for one request (the `Authorization` header form).
///
/// Written to the published algorithm and checked against every case of the AWS SigV4 test
/// suite (request → canonical request → string to sign → authorization): see `SigV4Tests`.
/// Paths are normalized (dot segments removed, repeated slashes collapsed) and each byte outside
/// the unreserved set is percent-encoded once, as for every service but S3.
public struct SigV4: Sendable {
    /// Access key, secret key and (temporary credentials) session token.
    public struct Credentials: Sendable, CustomStringConvertible {
        /// The access key id (not secret: it appears in every request).
        public var accessKeyID: String
        /// The secret access key.
        public var secretAccessKey: String
        /// The STS session token, for temporary credentials.
        public var sessionToken: String?

        /// The access key id; the secret and the token never.
        public var description: String { "AWS credentials \(accessKeyID) (secret redacted)" }

        /// Credentials.
        public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
        }
    }

    /// The three steps' results.
    public struct Signed: Sendable {
        /// The canonical request.
        public var canonicalRequest: String
        /// The string to sign.
        public var stringToSign: String
        /// The `Authorization` header's value.
        public var authorization: String
    }

    /// The credentials.
    public var credentials: Credentials
    /// The region (`eu-central-1`).
    public var region: String
    /// The service (`kms`).
    public var service: String

    /// A signer.
    public init(credentials: Credentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Signs a request whose headers already hold `Host` and `X-Amz-Date` (`yyyyMMdd'T'HHmmss'Z'`).
    ///
    /// With a session token and no ``tokenHeader`` among `headers`, the token is signed as that
    /// header: the caller sends it too.
    ///
    /// - Parameters:
    ///   - target: the path and query as sent (`/`, `/?a=b`), not yet percent-encoded.
    ///   - headers: every header to sign, names in any case, values as sent.
    public func sign(method: String, target: String, headers: [(String, String)], body: [UInt8]) -> Signed {
        let (path, query) = Self.split(target)
        var grouped: [String: [String]] = [:]
        for (name, value) in headers { grouped[name.lowercased(), default: []].append(Self.trim(value)) }
        // Temporary credentials sign their token; the caller sends it as this same header.
        if let token = credentials.sessionToken, grouped[Self.tokenHeader] == nil {
            grouped[Self.tokenHeader] = [token]
        }
        let names = grouped.keys.sorted()
        let date = grouped["x-amz-date"]?.first ?? ""
        let canonical = [
            method,
            Self.canonicalPath(path),
            Self.canonicalQuery(query),
            names.map { "\($0):\(grouped[$0, default: []].joined(separator: ","))" }.joined(separator: "\n") + "\n",
            names.joined(separator: ";"),
            Self.hex(SHA256.hash(data: body)),
        ].joined(separator: "\n")
        let day = String(date.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", date, scope, Self.hex(SHA256.hash(data: Array(canonical.utf8))),
        ].joined(separator: "\n")
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(names.joined(separator: ";")), Signature=\(signature)"
        return Signed(canonicalRequest: canonical, stringToSign: stringToSign, authorization: authorization)
    }

    /// The header carrying a session token (signed; send it with the request).
    public static let tokenHeader = "x-amz-security-token"

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }

    static func split(_ target: String) -> (Substring, Substring) {
        guard let mark = target.firstIndex(of: "?") else { return (target[...], "") }
        return (target[..<mark], target[target.index(after: mark)...])
    }

    /// RFC 3986 §5.2.4 dot-segment removal with empty segments dropped, then each segment encoded.
    static func canonicalPath(_ path: Substring) -> String {
        guard !path.isEmpty else { return "/" }
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) where segment != "." {
            if segment == ".." {
                _ = segments.popLast()
            } else {
                segments.append(segment)
            }
        }
        let lead = path.hasPrefix("/") ? "/" : ""
        let trail = path.hasSuffix("/") && !segments.isEmpty ? "/" : ""
        return lead + segments.map { encode(Array($0.utf8)) }.joined(separator: "/") + trail
    }

    /// Pairs decoded, encoded again, sorted by encoded name then value; empty pairs dropped.
    static func canonicalQuery(_ query: Substring) -> String {
        query.split(separator: "&").compactMap { pair -> (String, String)? in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : []
            guard !name.isEmpty else { return nil }
            return (encode(name), encode(value))
        }
        .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        .map { "\($0.0)=\($0.1)" }
        .joined(separator: "&")
    }

    /// Leading and trailing blanks removed, every inner run of blanks (and folded lines) one space.
    static func trim(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    static func encode(_ bytes: [UInt8]) -> String {
        var out = ""
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// Percent-decoding as a form decoder does it (`+` is a space).
    static func decode(_ text: Substring) -> [UInt8] {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), bytes.count >= 2,
                let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16)
            {
                out.append(value)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(byte)
            }
        }
        return out
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
