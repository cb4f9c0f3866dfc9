import Foundation

/// A PKCS#11 URI (RFC 7512) naming the token and key-label prefix Strongroom uses.
///
/// `pkcs11:token=strongroom;object=payments-kek?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/hsm-pin`.
/// Path attributes: `token` (required), `object` (the label prefix of the keys Strongroom makes,
/// default `strongroom`), `type` (only `secret-key`). Query attributes: `module-path`,
/// `pin-source` (a `file:` URI or an absolute path). A `pin-value` is refused: a PIN in a
/// command line or a shell history is a PIN disclosed. Any other attribute is an error.
public struct PKCS11URI: Sendable, Hashable, CustomStringConvertible {
    /// The token label.
    public var token: String
    /// The label prefix of the keys Strongroom makes.
    public var object: String
    /// The module to load.
    public var modulePath: String?
    /// The file holding the PIN.
    public var pinSource: String?

    /// The environment variable read for the module path when the URI has no `module-path`.
    public static let moduleVariable = "STRONGROOM_PKCS11_MODULE"
    /// The environment variable naming a PIN file when the URI has no `pin-source`.
    public static let pinFileVariable = "STRONGROOM_PKCS11_PIN_FILE"
    /// The environment variable read for the PIN when neither a `pin-source` nor a PIN file is given.
    public static let pinVariable = "STRONGROOM_PKCS11_PIN"

    /// Parses `text`.
    public init(_ text: String) throws(KeyStoreError) {
        guard text.hasPrefix("pkcs11:") else { throw Self.bad("must start with pkcs11:") }
        let rest = text.dropFirst("pkcs11:".count)
        let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var token: String?
        var object = "strongroom"
        var seen: Set<String> = []
        for attribute in parts[0].split(separator: ";") {
            let (name, value) = try Self.attribute(attribute)
            guard seen.insert(name).inserted else { throw Self.bad("\(name) given twice") }
            switch name {
            case "token": token = value
            case "object": object = value
            case "type" where value == "secret-key": break
            default: throw Self.bad("path attribute \(name) is not supported (token, object, type=secret-key)")
            }
        }
        var modulePath: String?
        var pinSource: String?
        if parts.count == 2 {
            for attribute in parts[1].split(separator: "&") {
                let (name, value) = try Self.attribute(attribute)
                guard seen.insert(name).inserted else { throw Self.bad("\(name) given twice") }
                switch name {
                case "module-path": modulePath = value
                case "pin-source": pinSource = value
                case "pin-value":
                    throw Self.bad(
                        "pin-value is refused: give the PIN in a file (pin-source=file:…) or in $STRONGROOM_PKCS11_PIN"
                    )
                default: throw Self.bad("query attribute \(name) is not supported (module-path, pin-source)")
                }
            }
        }
        guard let token, !token.isEmpty, token.utf8.count <= 32 else {
            throw Self.bad("token=… (at most 32 bytes) is required")
        }
        guard !object.isEmpty, object.utf8.count <= 64 else { throw Self.bad("object=… is 1 to 64 bytes") }
        self.token = token
        self.object = object
        self.modulePath = modulePath
        self.pinSource = pinSource
    }

    /// The URI with its attributes percent-encoded where RFC 7512 asks.
    public var description: String {
        var text = "pkcs11:token=\(Self.encode(token));object=\(Self.encode(object))"
        var query: [String] = []
        if let modulePath { query.append("module-path=\(Self.encode(modulePath))") }
        if let pinSource { query.append("pin-source=\(Self.encode(pinSource))") }
        if !query.isEmpty { text += "?" + query.joined(separator: "&") }
        return text
    }

    /// The PIN from `pin-source`, `$STRONGROOM_PKCS11_PIN_FILE` or `$STRONGROOM_PKCS11_PIN`.
    ///
    /// Trailing newlines are dropped; a PIN file must be private (0600, ours).
    func readPIN(environment: [String: String]) throws(KeyStoreError) -> [UInt8] {
        var pin: [UInt8]
        if let source = pinSource ?? environment[Self.pinFileVariable] {
            var path = source.hasPrefix("file:") ? String(source.dropFirst(5)) : source
            if path.hasPrefix("//") {
                // file://localhost/p or file:///p; any other host is not a local file.
                let rest = path.dropFirst(2)
                guard let slash = rest.firstIndex(of: "/"), ["", "localhost"].contains(rest[..<slash]) else {
                    throw Self.bad("pin-source names a file on another host")
                }
                path = String(rest[slash...])
            }
            guard path.hasPrefix("/") else { throw Self.bad("pin-source must be an absolute path or a file: URI") }
            do {
                pin = Array(try LocalKeyring.readPrivate(URL(fileURLWithPath: path)))
            } catch {
                throw KeyStoreError(.invalidArgument, "PIN file: \(error)")
            }
        } else if let value = environment[Self.pinVariable] {
            pin = Array(value.utf8)
        } else {
            throw KeyStoreError(
                .invalidArgument,
                "no PIN: add pin-source=file:/path to the URI, or set \(Self.pinFileVariable) or \(Self.pinVariable)"
            )
        }
        while let last = pin.last, last == 0x0A || last == 0x0D { pin.removeLast() }
        guard !pin.isEmpty else { throw KeyStoreError(.invalidArgument, "the PIN is empty") }
        return pin
    }

    static func attribute(_ text: Substring) throws(KeyStoreError) -> (String, String) {
        let pair = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard pair.count == 2, !pair[0].isEmpty, let value = String(pair[1]).removingPercentEncoding,
            !value.utf8.contains(0)
        else {
            throw bad("malformed attribute \(text.prefix(40))")
        }
        return (String(pair[0]), value)
    }

    static func encode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/:")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    static func bad(_ why: String) -> KeyStoreError { KeyStoreError(.invalidArgument, "PKCS#11 URI: \(why)") }
}

/// The `name=value&…` query of a provider reference (`aws-kms:…?region=…`, `vault-transit:…?addr=…`):
/// values percent-decoded, an empty, malformed or repeated attribute refused.
enum ReferenceQuery {
    static func parse(_ query: Substring, _ bad: (String) -> KeyStoreError) throws(KeyStoreError) -> [(String, String)]
    {
        var seen: Set<String> = []
        var out: [(String, String)] = []
        for attribute in query.split(separator: "&") {
            let pair = attribute.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, let value = String(pair[1]).removingPercentEncoding, !value.isEmpty,
                !value.utf8.contains(0)
            else { throw bad("malformed attribute \(attribute.prefix(40))") }
            guard seen.insert(String(pair[0])).inserted else { throw bad("\(pair[0]) given twice") }
            out.append((String(pair[0]), value))
        }
        return out
    }
}
