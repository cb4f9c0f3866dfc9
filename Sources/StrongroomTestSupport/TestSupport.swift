import Foundation

/// A small deterministic generator for fuzzing (SplitMix64).
///
/// A fixed seed gives the same inputs on every run. Not for secrets.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Helpers the test targets share: the shared vectors folder and scratch directories.
public enum TestSupport {
    /// `../shared/vectors` beside the package checkout.
    public static let vectorsDirectory: URL = packageRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/vectors")

    /// The package root (the folder holding Package.swift).
    public static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    /// True when the shared vectors are present.
    public static var vectorsAvailable: Bool {
        FileManager.default.fileExists(atPath: vectorsDirectory.path)
    }

    /// True under CI, where missing vectors must fail rather than skip.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Reads a vectors file as a JSON object.
    public static func vectorJSON(_ relativePath: String) throws -> [String: Any] {
        let data = try Data(contentsOf: vectorsDirectory.appendingPathComponent(relativePath))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return object
    }

    /// A new empty directory under the temporary folder.
    public static func scratchDirectory(_ label: String = "test") -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strongroom-\(label)-\(UUID().uuidString)"
        )
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The built `strongroom` executable beside the test bundle.
    public static var executable: URL? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("strongroom")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir.deleteLastPathComponent()
        }
        return nil
    }

    /// Bytes from hex.
    public static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let h = iterator.next(), let l = iterator.next() {
            out.append(UInt8(nibble(h) << 4 | nibble(l)))
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: 0
        }
    }
}

/// SoftHSM2 tokens for this test process, in a temporary directory.
///
/// SoftHSM reads `SOFTHSM2_CONF` and its token list once, when the module is first
/// initialized, so the tokens are made up front: ``token``, shared by every test (each uses its
/// own `object=` prefix), and ``pinToken``, on which no one ever logs in (PKCS#11 login state is
/// per token and process, so a wrong PIN shows only on a token no session has logged in to).
public enum SoftHSM {
    /// Debian's module path.
    public static let module = "/usr/lib/softhsm/libsofthsm2.so"
    /// The user PIN of every token made here.
    public static let pin = "4321"
    /// The shared token's label.
    public static let token = "strongroom-test"
    /// The label of the token kept for wrong-PIN tests.
    public static let pinToken = "strongroom-pin"
    static let util = "/usr/bin/softhsm2-util"

    /// True when SoftHSM2 is installed.
    public static var isInstalled: Bool {
        FileManager.default.fileExists(atPath: module) && FileManager.default.isExecutableFile(atPath: util)
    }

    /// The configuration file, made (with both tokens) on first use; nil if `softhsm2-util` failed.
    public static let configuration: URL? = {
        let dir = TestSupport.scratchDirectory("softhsm")
        let tokens = dir.appendingPathComponent("tokens")
        try? FileManager.default.createDirectory(at: tokens, withIntermediateDirectories: true)
        let conf = dir.appendingPathComponent("softhsm2.conf")
        let text =
            "directories.tokendir = \(tokens.path)\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
        guard (try? text.write(to: conf, atomically: true, encoding: .utf8)) != nil else { return nil }
        setenv("SOFTHSM2_CONF", conf.path, 1)
        // What reopening a data directory reads (kek.json records only the token and object).
        setenv("STRONGROOM_PKCS11_MODULE", module, 1)
        setenv("STRONGROOM_PKCS11_PIN", pin, 1)
        for label in [token, pinToken] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: util)
            process.arguments = ["--init-token", "--free", "--label", label, "--so-pin", "12345678", "--pin", pin]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return nil }
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { return nil }
        }
        return dir
    }()

    /// `SOFTHSM2_CONF` for a child process (a `strongroom` under test).
    public static var environment: [String: String] {
        guard let dir = configuration else { return [:] }
        return [
            "SOFTHSM2_CONF": dir.appendingPathComponent("softhsm2.conf").path, "STRONGROOM_PKCS11_MODULE": module,
            "STRONGROOM_PKCS11_PIN": pin,
        ]
    }

    /// A URI for `token` with the label prefix `object`, reading the PIN from a 0600 file and
    /// loading `module`.
    public static func uri(token: String = SoftHSM.token, object: String, module: String = module) throws -> String {
        guard let dir = configuration else { throw CocoaError(.fileReadNoSuchFile) }
        let pinFile = dir.appendingPathComponent("pin-\(UUID().uuidString)")
        _ = FileManager.default.createFile(
            atPath: pinFile.path,
            contents: Data(pin.utf8),
            attributes: [.posixPermissions: 0o600]
        )
        return "pkcs11:token=\(token);object=\(object)?module-path=\(module)&pin-source=file:\(pinFile.path)"
    }
}

/// The KMS endpoint of a `moto_server` that `scripts/test` starts on loopback
/// (`STRONGROOM_TEST_KMS_ENDPOINT`), with moto's fixed test credentials set for this process.
public enum Moto {
    /// The endpoint, or nil when no server was started.
    public static let endpoint: String? = {
        guard let url = ProcessInfo.processInfo.environment["STRONGROOM_TEST_KMS_ENDPOINT"], !url.isEmpty else {
            return nil
        }
        // moto checks no signature; these only make requests well formed.
        setenv("AWS_ACCESS_KEY_ID", "testing", 1)
        setenv("AWS_SECRET_ACCESS_KEY", "testing", 1)
        return url
    }()
}

/// The Transit test server `scripts/test` starts on loopback (`STRONGROOM_TEST_VAULT_ADDR`, token
/// `STRONGROOM_TEST_VAULT_TOKEN`, a Transit key `bootstrap` made), with `VAULT_TOKEN` set for
/// this process.
public enum VaultTransitServer {
    /// The address, or nil when no server was started.
    public static let address: String? = {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["STRONGROOM_TEST_VAULT_ADDR"], !url.isEmpty,
            let token = environment["STRONGROOM_TEST_VAULT_TOKEN"]
        else { return nil }
        setenv("VAULT_TOKEN", token, 1)
        return url
    }()
}

extension SoftHSM {
    /// A copy of the module at a path of its own, loaded as a separate instance.
    ///
    /// A test can finalize it (the HSM gone) and initialize it again without touching the
    /// instance the other tests share. Both instances read the same token directory.
    public static func privateModule() throws -> String {
        let copy = TestSupport.scratchDirectory("softhsm-module").appendingPathComponent("libsofthsm2.so")
        try? FileManager.default.removeItem(at: copy)
        // Debian installs the module as a relative symbolic link: copy the file it names.
        try FileManager.default.copyItem(at: URL(fileURLWithPath: module).resolvingSymlinksInPath(), to: copy)
        return copy.path
    }

    /// Calls `C_Finalize` (false) or `C_Initialize` with OS locking (true) on a loaded module;
    /// returns the PKCS#11 return value.
    public static func setRunning(_ running: Bool, module: String) -> UInt {
        guard let handle = dlopen(module, RTLD_NOW | RTLD_NOLOAD) else { return UInt.max }
        defer { dlclose(handle) }
        typealias Call = @convention(c) (UnsafeMutableRawPointer?) -> UInt
        guard let symbol = dlsym(handle, running ? "C_Initialize" : "C_Finalize") else { return UInt.max }
        let call = unsafeBitCast(symbol, to: Call.self)
        guard running else { return call(nil) }
        // CK_C_INITIALIZE_ARGS: four mutex callbacks, flags (CKF_OS_LOCKING_OK = 2), reserved.
        var arguments: [UInt] = [0, 0, 0, 0, 2, 0]
        return arguments.withUnsafeMutableBytes { call($0.baseAddress) }
    }
}
