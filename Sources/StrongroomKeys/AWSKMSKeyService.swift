#if KMS
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP client for every key service of the process: TLS verified, bounded timeouts, no redirects.
enum KeyServiceHTTP {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        // A refused connection is retried by the client until the connect timeout: keep it short,
        // so an outage reaches the caller's retries and circuit breaker in seconds.
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(15))
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Sends a request and waits for the whole response (callers are synchronous key-store calls).
    static func send(
        _ method: HTTPMethod,
        _ url: String,
        headers: [(String, String)],
        body: [UInt8]?
    ) throws(KeyStoreError) -> (status: Int, body: [UInt8]) {
        do {
            var request = try HTTPClient.Request(url: url, method: method)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(body) }
            let response = try client.execute(request: request, deadline: .now() + .seconds(20)).wait()
            let bytes = response.body.map { Array($0.readableBytesView) } ?? []
            return (Int(response.status.code), bytes)
        } catch let error as HTTPClientError where error == .invalidURL || error == .emptyHost || error == .emptyScheme
        {
            throw KeyStoreError(.invalidArgument, "key service URL \(url) is not usable")
        } catch {
            throw KeyStoreError(.providerUnavailable, "\(url): \(error)")
        }
    }
}

/// Root keys in AWS KMS (or a KMS-compatible endpoint), over the KMS JSON API with SigV4.
///
/// Data keys are wrapped with `Encrypt` and unwrapped with `Decrypt` under the root key, with the
/// key family and version bound as the `EncryptionContext` (`{"strongroom": "<hex>"}`); a
/// ciphertext moved to another family does not decrypt. The configured key is version 1's
/// root; rotation and every finalize make new keys with `CreateKey`, and destruction is
/// `ScheduleKeyDeletion` with ``deletionWindowDays``. Before a sealing key is used Strongroom
/// checks with `DescribeKey` that it is enabled: a key scheduled for deletion is refused even
/// where the endpoint would still decrypt with it.
///
/// Credentials: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else the
/// profile (`AWS_PROFILE`, default `default`) of the shared credentials file
/// (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`).
public final class AWSKMSKeyService: RootKeyService {
    /// `aws-kms:<key>?region=…&endpoint=…`.
    public let reference: String
    /// The key given at `init` (id, ARN or `alias/…`).
    public let key: String
    /// The region.
    public let region: String
    /// The endpoint (`https://kms.<region>.amazonaws.com` unless given).
    public let endpoint: String
    /// Days a destroyed key stays pending deletion (7–30).
    public let deletionWindowDays: Int
    private let signer: SigV4

    /// Parses `aws-kms:KEY[?region=R&endpoint=URL&deletion-window-days=N]` and reads credentials.
    public init(
        reference text: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(KeyStoreError) {
        guard text.hasPrefix("aws-kms:") else { throw Self.bad("must start with aws-kms:") }
        let body = text.dropFirst("aws-kms:".count)
        let parts = body.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let key = String(parts[0])
        guard !key.isEmpty, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "&") }) else {
            throw Self.bad("a key id, ARN or alias/… is required")
        }
        var region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"]
        var endpoint: String?
        var window = 30
        if parts.count == 2 {
            for (name, value) in try ReferenceQuery.parse(parts[1], Self.bad) {
                switch name {
                case "region": region = value
                case "endpoint": endpoint = value
                case "deletion-window-days":
                    guard let days = Int(value), (7...30).contains(days) else {
                        throw Self.bad("deletion-window-days is 7 to 30")
                    }
                    window = days
                default:
                    throw Self.bad("attribute \(name) is not supported (region, endpoint, deletion-window-days)")
                }
            }
        }
        guard let region, !region.isEmpty,
            region.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= 0x30 && $0 < 0x7B) })
        else { throw Self.bad("no region: add ?region=… or set AWS_REGION") }
        let url = endpoint ?? "https://kms.\(region).amazonaws.com"
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["https", "http"].contains(scheme),
            parsed.host != nil
        else { throw Self.bad("endpoint \(url) is not an http(s) URL") }
        if scheme == "http", !["127.0.0.1", "localhost", "::1"].contains(parsed.host ?? "") {
            throw Self.bad("endpoint \(url): plain HTTP is refused except on loopback (tests)")
        }
        self.key = key
        self.region = region
        self.endpoint = url
        self.deletionWindowDays = window
        var canonical = "aws-kms:\(key)?region=\(region)"
        if let endpoint { canonical += "&endpoint=\(endpoint)" }
        if window != 30 { canonical += "&deletion-window-days=\(window)" }
        self.reference = canonical
        self.signer = SigV4(credentials: try Self.credentials(environment), region: region, service: "kms")
    }

    // MARK: RootKeyService

    /// Version 1's root is the key given at `init`.
    public var configuredKey: String? { key }

    /// `CreateKey` (symmetric, encrypt/decrypt), tagged with its purpose.
    public func createKey(purpose: String) throws -> String {
        let response = try call(
            "CreateKey",
            [
                "Description": "strongroom \(purpose) root key", "KeyUsage": "ENCRYPT_DECRYPT",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "Tags": [["TagKey": "strongroom-purpose", "TagValue": purpose]],
            ]
        )
        guard let metadata = response["KeyMetadata"] as? [String: Any], let id = metadata["KeyId"] as? String else {
            throw KeyStoreError(.providerUnavailable, "CreateKey: no KeyId in the answer")
        }
        return id
    }

    /// `Encrypt` bound to `context`.
    public func wrap(_ key: [UInt8], under handle: String, context: [UInt8]) throws -> [UInt8] {
        let response = try call(
            "Encrypt",
            [
                "KeyId": handle, "Plaintext": Data(key).base64EncodedString(),
                "EncryptionContext": ["strongroom": Self.hex(context)],
            ]
        )
        guard let blob = (response["CiphertextBlob"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
            throw KeyStoreError(.providerUnavailable, "Encrypt: no CiphertextBlob in the answer")
        }
        return Array(blob)
    }

    /// `Decrypt` with the same key and context.
    public func unwrap(_ wrapped: [UInt8], under handle: String, context: [UInt8]) throws -> [UInt8] {
        let response = try call(
            "Decrypt",
            [
                "KeyId": handle, "CiphertextBlob": Data(wrapped).base64EncodedString(),
                "EncryptionContext": ["strongroom": Self.hex(context)],
            ]
        )
        guard let plain = (response["Plaintext"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
            throw KeyStoreError(.providerUnavailable, "Decrypt: no Plaintext in the answer")
        }
        return Array(plain)
    }

    /// `ScheduleKeyDeletion` with the configured window; a key already pending deletion counts,
    /// a key the endpoint does not know (a wrong region or account) does not.
    public func destroyKey(_ handle: String) throws {
        do throws(KeyStoreError) {
            _ = try call("ScheduleKeyDeletion", ["KeyId": handle, "PendingWindowInDays": deletionWindowDays])
        } catch  where error.code == .kekUnavailable {
            let response = try call("DescribeKey", ["KeyId": handle])
            guard (response["KeyMetadata"] as? [String: Any])?["KeyState"] as? String == "PendingDeletion" else {
                throw error
            }
        }
    }

    /// `DescribeKey`: the key must be enabled (not disabled, not pending deletion).
    public func checkUsable(_ handle: String) throws {
        let response = try call("DescribeKey", ["KeyId": handle])
        let state = (response["KeyMetadata"] as? [String: Any])?["KeyState"] as? String
        guard state == "Enabled" else {
            throw KeyStoreError(.kekUnavailable, "KMS key \(handle) is \(state ?? "in an unknown state")")
        }
    }

    // MARK: The KMS JSON API

    /// One signed `TrentService.<operation>` call; AWS error types mapped to key-store codes.
    func call(_ operation: String, _ body: [String: Any]) throws(KeyStoreError) -> [String: Any] {
        guard let payload = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]),
            let url = URL(string: endpoint), let host = url.host
        else { throw KeyStoreError(.invalidArgument, "KMS \(operation): request") }
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        var headers = [
            ("Host", hostHeader), ("X-Amz-Date", SigV4.timestamp(Date())),
            ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "TrentService.\(operation)"),
        ]
        let signed = signer.sign(
            method: "POST",
            target: url.path.isEmpty ? "/" : url.path,
            headers: headers,
            body: Array(payload)
        )
        if let token = signer.credentials.sessionToken { headers.append(("X-Amz-Security-Token", token)) }
        headers.append(("Authorization", signed.authorization))
        let (status, answer) = try KeyServiceHTTP.send(
            .POST,
            endpoint,
            headers: headers.filter { $0.0 != "Host" },
            body: Array(payload)
        )
        let json = (try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any] ?? [:]
        guard status == 200 else {
            let type =
                ((json["__type"] as? String) ?? "HTTP \(status)").split(separator: "#").last.map(String.init) ?? ""
            throw KeyStoreError(Self.code(type, status: status), "KMS \(operation): \(type)")
        }
        return json
    }

    static func code(_ type: String, status: Int) -> KeyStoreError.Code {
        switch type {
        case "InvalidCiphertextException", "IncorrectKeyException": .unwrapFailed
        case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
            "IncompleteSignature", "MissingAuthenticationToken", "ExpiredTokenException":
            .providerDenied
        case "NotFoundException", "DisabledException", "KMSInvalidStateException", "KeyUnavailableException":
            .kekUnavailable
        case "ValidationException", "InvalidKeyUsageException": .invalidArgument
        // Throttling, 5xx, anything unknown: an outage, retried and counted by the breaker.
        default: .providerUnavailable
        }
    }

    static func credentials(_ environment: [String: String]) throws(KeyStoreError) -> SigV4.Credentials {
        if let id = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"],
            !id.isEmpty, !secret.isEmpty
        {
            return SigV4.Credentials(
                accessKeyID: id,
                secretAccessKey: secret,
                sessionToken: environment["AWS_SESSION_TOKEN"]
            )
        }
        let path =
            environment["AWS_SHARED_CREDENTIALS_FILE"]
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.aws/credentials"
        let profile = environment["AWS_PROFILE"] ?? "default"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw KeyStoreError(
                .invalidArgument,
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write \(path)"
            )
        }
        var section = ""
        var values: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") || line.hasPrefix(";") || line.isEmpty { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard section == profile, let eq = line.firstIndex(of: "=") else { continue }
            values[line[..<eq].trimmingCharacters(in: .whitespaces)] =
                line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        guard let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else {
            throw KeyStoreError(
                .invalidArgument,
                "profile \(profile) in \(path) has no aws_access_key_id/aws_secret_access_key"
            )
        }
        return SigV4.Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"])
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func bad(_ why: String) -> KeyStoreError { KeyStoreError(.invalidArgument, "aws-kms reference: \(why)") }
}
#endif
