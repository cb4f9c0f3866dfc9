public import Crypto
import Foundation
public import StrongroomCrypto
import Synchronization

/// A service that keeps root keys inside itself: a PKCS#11 HSM, a cloud KMS, Vault Transit.
///
/// Root keys never leave the service. Strongroom hands it 32-byte keys to wrap and wrapped
/// bytes to unwrap, and names root keys by handles it stores in the data directory (not secret).
public protocol RootKeyService: Sendable {
    /// What `keys list` and the audit log show: the provider and key reference, never a secret.
    var reference: String { get }
    /// Makes a new root key for `purpose` (`data` or `seal`) and returns its handle.
    func createKey(purpose: String) throws -> String
    /// Wraps a 32-byte key under root key `handle`, bound to `context` where the service can bind one.
    func wrap(_ key: [UInt8], under handle: String, context: [UInt8]) throws -> [UInt8]
    /// Unwraps bytes made by ``wrap(_:under:context:)`` with the same handle and context.
    func unwrap(_ wrapped: [UInt8], under handle: String, context: [UInt8]) throws -> [UInt8]
    /// Destroys root key `handle` for good (an HSM deletes the object; a KMS schedules deletion).
    func destroyKey(_ handle: String) throws
    /// The root key given at `init` for KEK version 1, if the service takes one (a KMS key id).
    var configuredKey: String? { get }
    /// Throws unless root key `handle` may be used (a KMS key pending deletion may not).
    func checkUsable(_ handle: String) throws
}

extension RootKeyService {
    /// None: version 1's root key is made by ``createKey(purpose:)``.
    public var configuredKey: String? { nil }
    /// Nothing to check beyond what the service's own calls refuse.
    public func checkUsable(_ handle: String) throws {}
}

/// KEKs held by an HSM or KMS, with erasure that stays final for backups.
///
/// Every data key is wrapped twice: first by the service under the KEK version's root key
/// (one service call per wrap or unwrap, bound to the key family where the service binds a
/// context), then with AES-256-GCM under that version's key-tree leaf for its family, the same
/// puncturable tree as ``LocalKeyring``. The tree lives in `kek.json`, sealed under a separate
/// *sealing* root key. Finalizing an erasure punctures the tree, reseals it under a new sealing
/// key and destroys the old one in the service. So a restored backup of the key store (and even
/// of `kek.json`) unwraps every other family through the live tree, and never the erased one:
/// the only tree that still covers it is sealed under a key the service no longer has. Someone
/// with the data directory but not the service can unwrap nothing.
public final class EnvelopeKeyring: KeyEncryptionKeyProvider, Sendable {
    /// The state file, `kek.json` in a data directory.
    public let url: URL
    /// The service holding the root keys.
    public let service: any RootKeyService
    private let state: Mutex<Loaded>
    /// MAC contexts for leaves and family ids, lent one derivation at a time.
    private let chains = ChainPool()

    /// The file name inside a data directory.
    public static let fileName = "kek.json"
    static let treeLabel = Array("strongroom/kek-tree/v1".utf8)
    static let dekLabel = Array("strongroom/dek/v1".utf8)
    static let sealLabel = Array("strongroom/tree-key/v1".utf8)

    struct File: Codable, Sendable {
        static let formatName = "strongroom-kek/1"
        var format: String
        /// The service's reference when the file was made; a different service is refused.
        var provider: String
        /// The root key of each KEK version.
        var roots: [Root]
        /// The root key that wraps ``treeKey``.
        var sealKey: String
        /// The tree key, wrapped by the service under ``sealKey``.
        var treeKey: [UInt8]
        /// nonce ‖ AES-256-GCM(tree key, the key tree as JSON) ‖ tag; associated data: format and seal key.
        var tree: [UInt8]
        /// Root keys retired (sealing keys a finalize replaced, roots of destroyed versions) whose
        /// destruction the service has not confirmed yet: every change retries them.
        var retiring: [String] = []

        struct Root: Codable, Sendable {
            var version: UInt32
            var handle: String
        }

        func root(_ version: UInt32) throws(KeyStoreError) -> String {
            guard let root = roots.first(where: { $0.version == version }) else {
                throw KeyStoreError(.kekUnavailable, "KEK v\(version) has no root key")
            }
            return root.handle
        }
    }

    /// The file and what unsealing it gave.
    struct Loaded: Sendable {
        var file: File
        var tree: LocalKeyring.File
        var treeKey: SymmetricKey
    }

    /// Opens `url` with `service`, unsealing the key tree (one service call).
    public init(url: URL, service: any RootKeyService) throws(KeyStoreError) {
        self.url = url
        self.service = service
        self.state = Mutex(try Self.load(url, service, reusing: nil))
    }

    /// Opens `url` with the service its file names (``RootKeyServices/service(for:)``).
    public static func open(at url: URL) throws(KeyStoreError) -> EnvelopeKeyring {
        let data = try LocalKeyring.readPrivate(url)
        guard let file = try? JSONDecoder().decode(File.self, from: data), file.format == File.formatName else {
            throw KeyStoreError(.keyringCorrupt, url.path)
        }
        return try EnvelopeKeyring(url: url, service: try RootKeyServices.service(for: file.provider))
    }

    /// Creates `url` with a root key for KEK version 1 and a sealing key, both made by `service`.
    @discardableResult
    public static func create(at url: URL, service: any RootKeyService) throws(KeyStoreError) -> EnvelopeKeyring {
        try create(at: url, service: service, familyKey: nil)
    }

    /// Creates `url`, keeping `familyKey` (a migrated store's family ids) when given.
    static func create(
        at url: URL,
        service: any RootKeyService,
        familyKey: [UInt8]?
    ) throws(KeyStoreError) -> EnvelopeKeyring {
        guard !FileManager.default.fileExists(atPath: url.path) else {
            throw KeyStoreError(.keyringExists, url.path)
        }
        let root: String
        if let configured = service.configuredKey {
            root = configured
        } else {
            root = try call { try service.createKey(purpose: "data") }
        }
        let tree = LocalKeyring.File.fresh(familyKey: familyKey)
        let file = try seal(
            tree,
            base: File(
                format: File.formatName,
                provider: service.reference,
                roots: [.init(version: 1, handle: root)],
                sealKey: "",
                treeKey: [],
                tree: []
            ),
            service: service
        )
        try LocalKeyring.write(file.file, to: url)
        return try EnvelopeKeyring(url: url, service: service)
    }

    // MARK: KeyEncryptionKeyProvider

    /// The service's reference (`pkcs11:token=…;object=…`).
    public var reference: String { service.reference }

    /// The active KEK version.
    public func activeVersion() throws -> UInt32 { state.withLock { $0.tree.activeVersion } }

    /// The service wraps the key under the active root; the tree leaf for `family` seals that.
    public func wrap(_ key: SymmetricKey, family: KeyID) throws -> WrappedKey {
        let (version, root, path) = try state.withLock { loaded throws(KeyStoreError) in
            let v = loaded.tree.activeVersion
            return (v, try loaded.file.root(v), try loaded.tree.leafPath(version: v, family: family))
        }
        let leaf = try chains.withChain { chain in path.derive(chain) }
        let context = Self.context(family, version)
        let bytes = key.withUnsafeBytes { Array($0) }
        let inner = try Self.call { try service.wrap(bytes, under: root, context: context) }
        do {
            let box = try AES.GCM.seal(inner, using: leaf, authenticating: context)
            guard let combined = box.combined else { throw KeyStoreError(.storage, "AES-GCM") }
            return WrappedKey(kekVersion: version, bytes: Array(combined))
        } catch {
            throw KeyStoreError(.storage, "sealing a wrapped key for \(family)")
        }
    }

    /// Opens the tree layer (no service call when the leaf was punctured), then asks the service.
    public func unwrap(_ wrapped: WrappedKey, family: KeyID) throws -> SymmetricKey {
        let (root, path) = try state.withLock { loaded throws(KeyStoreError) in
            (
                try loaded.file.root(wrapped.kekVersion),
                try loaded.tree.leafPath(version: wrapped.kekVersion, family: family)
            )
        }
        let leaf = try chains.withChain { chain in path.derive(chain) }
        let context = Self.context(family, wrapped.kekVersion)
        let inner: Data
        do {
            inner = try AES.GCM.open(AES.GCM.SealedBox(combined: wrapped.bytes), using: leaf, authenticating: context)
        } catch {
            throw KeyStoreError(.unwrapFailed, "family \(family), KEK v\(wrapped.kekVersion)")
        }
        let key = try Self.call { try service.unwrap(Array(inner), under: root, context: context) }
        guard key.count == 32 else { throw KeyStoreError(.unwrapFailed, "family \(family): not a 32-byte key") }
        return SymmetricKey(data: key)
    }

    /// HMAC-SHA256 of `descriptor` under the tree's family key, first 16 bytes.
    public func familyID(for descriptor: [UInt8]) throws -> KeyID {
        let familyKey = state.withLock { $0.tree.familyKey }
        return try chains.withChain { chain throws(KeyStoreError) in
            try LocalKeyring.File.familyID(for: descriptor, familyKey: familyKey, chain)
        }
    }

    /// A new root key in the service and a new tree version; both become active.
    public func rotate() throws -> UInt32 {
        let root = try Self.call { try service.createKey(purpose: "data") }
        return try mutate { loaded throws(KeyStoreError) in
            let version = loaded.tree.rotate()
            loaded.file.roots.append(.init(version: version, handle: root))
            return version
        }
    }

    /// Punctures the tree, reseals it under a new sealing key and destroys the old sealing key.
    ///
    /// Throws ``KeyStoreError/Code/providerUnavailable`` when the old key could not be destroyed:
    /// the erasure is not final until a later call destroys it (``KeyStore/finalize()`` retries).
    /// With no families, only retries destructions still pending.
    public func puncture(_ families: [KeyID]) throws {
        let chain = try makeChain()
        let fresh = families.isEmpty ? nil : try Self.call { try service.createKey(purpose: "seal") }
        try locked { loaded throws(KeyStoreError) in
            if let fresh {
                loaded.tree.puncture(families, chain)
                loaded.file.retiring.append(loaded.file.sealKey)
                loaded = try Self.seal(loaded.tree, base: loaded.file, service: service, sealKey: fresh)
                try LocalKeyring.write(loaded.file, to: url)
            }
        }
    }

    /// Destroys a retired version: its tree root here and its root key in the service.
    public func destroy(version: UInt32) throws {
        try locked { loaded throws(KeyStoreError) in
            try loaded.tree.destroy(version)
            let root = try loaded.file.root(version)
            loaded.file.retiring.append(root)
            loaded = try Self.seal(loaded.tree, base: loaded.file, service: service, treeKey: loaded.treeKey)
            try LocalKeyring.write(loaded.file, to: url)
        }
    }

    /// Every version with its state.
    public func versions() throws -> [KEKVersionInfo] { state.withLock { $0.tree.versionInfo } }

    /// Re-reads `kek.json` (another process may have rotated or punctured).
    public func reload() throws {
        try state.withLock { current throws(KeyStoreError) in current = try Self.load(url, service, reusing: current) }
    }

    // MARK: State

    private func mutate<R: Sendable>(_ body: (inout Loaded) throws(KeyStoreError) -> R) throws(KeyStoreError) -> R {
        try locked { loaded throws(KeyStoreError) -> R in
            let result = try body(&loaded)
            loaded = try Self.seal(loaded.tree, base: loaded.file, service: service, treeKey: loaded.treeKey)
            try LocalKeyring.write(loaded.file, to: url)
            return result
        }
    }

    /// Runs `change` on the file as it is on disk, under this process's and every process's lock.
    ///
    /// Then it destroys every retired root key no live state uses and records which were
    /// destroyed. The lock is held until that is recorded, so no process can write state sealed
    /// under a key being destroyed.
    private func locked<R: Sendable>(_ change: (inout Loaded) throws(KeyStoreError) -> R) throws(KeyStoreError) -> R {
        try state.withLock { current throws(KeyStoreError) -> R in
            try LocalKeyring.withFileLock(url) { () throws(KeyStoreError) -> R in
                var loaded = try Self.load(url, service, reusing: current)
                let result = try change(&loaded)
                current = loaded
                let live = Set(
                    loaded.file.roots.filter { root in
                        loaded.tree.versions.contains { $0.version == root.version && $0.state != .destroyed }
                    }.map(\.handle)
                ).union([loaded.file.sealKey])
                var destroyed: Set<String> = []
                var failure: KeyStoreError?
                for handle in Set(loaded.file.retiring) where !live.contains(handle) {
                    do throws(KeyStoreError) {
                        try Self.call { try service.destroyKey(handle) }
                        destroyed.insert(handle)
                    } catch {
                        failure = error
                    }
                }
                if !destroyed.isEmpty {
                    loaded.file.retiring.removeAll { destroyed.contains($0) }
                    loaded = try Self.seal(loaded.tree, base: loaded.file, service: service, treeKey: loaded.treeKey)
                    try LocalKeyring.write(loaded.file, to: url)
                    current = loaded
                }
                if let failure {
                    throw KeyStoreError(
                        .providerUnavailable,
                        "a retired root key is not destroyed yet (\(failure)): run finalize again"
                    )
                }
                return result
            }
        }
    }

    /// The family and version every wrap binds.
    static func context(_ family: KeyID, _ version: UInt32) -> [UInt8] {
        var out = dekLabel
        out.append(contentsOf: family.bytes)
        withUnsafeBytes(of: version.bigEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// The tree's associated data: every other field of the file, so none can be changed
    /// (a live key listed as retired, a root remapped, another provider named) without the tree
    /// failing to open.
    static func treeAAD(_ file: File) -> [UInt8] {
        var header = file
        header.tree = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return treeLabel + Array((try? encoder.encode(header)) ?? Data())
    }

    static func load(
        _ url: URL,
        _ service: any RootKeyService,
        reusing current: Loaded?
    ) throws(KeyStoreError) -> Loaded {
        let data = try LocalKeyring.readPrivate(url)
        guard let file = try? JSONDecoder().decode(File.self, from: data), file.format == File.formatName else {
            throw KeyStoreError(.keyringCorrupt, url.path)
        }
        guard file.provider == service.reference else {
            throw KeyStoreError(
                .invalidArgument,
                "\(url.path) belongs to \(file.provider), not \(service.reference)"
            )
        }
        let treeKey: SymmetricKey
        if let current, current.file.sealKey == file.sealKey, current.file.treeKey == file.treeKey {
            treeKey = current.treeKey
        } else {
            // A sealing key the service was told to destroy is refused even where it still works.
            try call { try service.checkUsable(file.sealKey) }
            let bytes = try call {
                try service.unwrap(file.treeKey, under: file.sealKey, context: sealLabel + Array(file.sealKey.utf8))
            }
            guard bytes.count == 32 else { throw KeyStoreError(.keyringCorrupt, "\(url.path): tree key") }
            treeKey = SymmetricKey(data: bytes)
        }
        guard
            let plain = try? AES.GCM.open(
                AES.GCM.SealedBox(combined: file.tree),
                using: treeKey,
                authenticating: treeAAD(file)
            ),
            let tree = try? JSONDecoder().decode(LocalKeyring.File.self, from: plain), tree.isWellFormed,
            tree.versions.allSatisfy({ v in v.state == .destroyed || file.roots.contains { $0.version == v.version } })
        else { throw KeyStoreError(.keyringCorrupt, "\(url.path): key tree") }
        return Loaded(file: file, tree: tree, treeKey: treeKey)
    }

    /// `tree` sealed into `base`: under `treeKey` when the sealing key stays, else under a new
    /// tree key wrapped by `sealKey` (or a new sealing key when none is given).
    static func seal(
        _ tree: LocalKeyring.File,
        base: File,
        service: any RootKeyService,
        sealKey: String? = nil,
        treeKey: SymmetricKey? = nil
    ) throws(KeyStoreError) -> Loaded {
        var file = base
        let key: SymmetricKey
        if let treeKey {
            key = treeKey
        } else {
            let handle: String
            if let sealKey { handle = sealKey } else { handle = try call { try service.createKey(purpose: "seal") } }
            key = SymmetricKey(size: .bits256)
            let bytes = key.withUnsafeBytes { Array($0) }
            let wrapped = try call { try service.wrap(bytes, under: handle, context: sealLabel + Array(handle.utf8)) }
            file.sealKey = handle
            file.treeKey = wrapped
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let json = try? encoder.encode(tree),
            let box = try? AES.GCM.seal(json, using: key, authenticating: treeAAD(file)),
            let combined = box.combined
        else { throw KeyStoreError(.storage, "sealing the key tree") }
        file.tree = Array(combined)
        return Loaded(file: file, tree: tree, treeKey: key)
    }

    /// A service call whose failure is a ``KeyStoreError`` (typed errors pass through).
    static func call<R>(_ body: () throws -> R) throws(KeyStoreError) -> R {
        do { return try body() } catch let error as KeyStoreError { throw error } catch {
            throw KeyStoreError(.providerUnavailable, "\(error)")
        }
    }
}

/// The root-key services this build can reach, by reference.
public enum RootKeyServices {
    /// The service `reference` names: `pkcs11:…` (RFC 7512) or `aws-kms:KEY?region=…`.
    ///
    /// - Throws: ``KeyStoreError/Code/invalidArgument`` for a reference this build cannot serve.
    public static func service(for reference: String) throws(KeyStoreError) -> any RootKeyService {
        if reference.hasPrefix("pkcs11:") {
            #if PKCS11
            return try PKCS11KeyService(uri: PKCS11URI(reference))
            #else
            throw KeyStoreError(.invalidArgument, "this build has no PKCS#11 support: build with the PKCS11 trait")
            #endif
        }
        if reference.hasPrefix("aws-kms:") {
            #if KMS
            return try AWSKMSKeyService(reference: reference)
            #else
            throw KeyStoreError(.invalidArgument, "this build has no AWS KMS support: build with the KMS trait")
            #endif
        }
        if reference.hasPrefix("vault-transit:") {
            #if KMS
            return try VaultTransitKeyService(reference: reference)
            #else
            throw KeyStoreError(.invalidArgument, "this build has no Vault Transit support: build with the KMS trait")
            #endif
        }
        throw KeyStoreError(
            .invalidArgument,
            "unknown KEK provider \(reference.prefix(while: { $0 != ":" })): use pkcs11:…, aws-kms:… or vault-transit:…"
        )
    }
}
