public import Crypto
import Foundation
public import StrongroomCrypto
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded default KEK provider: a keyring file in the data directory, mode 0600.
///
/// Each KEK version is the root of a 16-ary key tree, 16 levels deep (the GGM
/// construction with HMAC-SHA256 as the PRF); a key family's wrapping key is the leaf at
/// the first 64 bits of its ``KeyID``. Finalizing an erasure *punctures* every version at
/// the erased family: the covering node is destroyed and replaced by the 15 siblings at
/// each level below it (at most 240 nodes), which derive every other leaf but not that one. So a backup of the key store taken
/// before the erasure still unwraps every other family, and never the erased one.
///
/// The file is refused, as ssh refuses a private key, when group or others can read it.
public final class LocalKeyring: KeyEncryptionKeyProvider, Sendable {
    /// The keyring file.
    public let url: URL
    private let state: Mutex<File>
    /// MAC contexts for leaves and family ids, lent one derivation at a time.
    private let chains = ChainPool()

    /// 16 levels of 16 children: a leaf per 64-bit family prefix, 16 HMACs to reach it.
    static let treeLevels = 16
    static let arity = 16
    static let leafLabel = Array("strongroom/kek-leaf/v1".utf8)
    static let familyLabel = Array("strongroom/key-family/v1".utf8)

    /// Opens the keyring at `url`.
    ///
    /// - Throws: ``KeyStoreError/Code/keyringMissing``, ``KeyStoreError/Code/keyringPermissions``
    ///   or ``KeyStoreError/Code/keyringCorrupt``.
    public init(url: URL) throws(KeyStoreError) {
        self.url = url
        self.state = Mutex(try LocalKeyring.load(url))
    }

    /// Creates a keyring with one fresh KEK version and a fresh family-hash key.
    @discardableResult
    public static func create(at url: URL) throws(KeyStoreError) -> LocalKeyring {
        guard !FileManager.default.fileExists(atPath: url.path) else {
            throw KeyStoreError(.keyringExists, url.path)
        }
        try write(File.fresh(), to: url)
        return try LocalKeyring(url: url)
    }

    // MARK: KeyEncryptionKeyProvider

    /// `keyring:<path>`.
    public var reference: String { "keyring:\(url.path)" }

    /// The active KEK version.
    public func activeVersion() throws -> UInt32 { state.withLock { $0.activeVersion } }

    /// Wraps `key` under the active version's leaf for `family`.
    public func wrap(_ key: SymmetricKey, family: KeyID) throws -> WrappedKey {
        let (version, path) = try state.withLock { file throws(KeyStoreError) in
            let v = file.activeVersion
            return (v, try file.leafPath(version: v, family: family))
        }
        // Derived outside the lock: cores making keys at once derive at once.
        let leaf = try chains.withChain { chain in path.derive(chain) }
        return WrappedKey(kekVersion: version, bytes: try KeyWrap.wrap(key, using: leaf))
    }

    /// Unwraps with the leaf of `wrapped.kekVersion` for `family`.
    public func unwrap(_ wrapped: WrappedKey, family: KeyID) throws -> SymmetricKey {
        let path = try state.withLock { file throws(KeyStoreError) in
            try file.leafPath(version: wrapped.kekVersion, family: family)
        }
        let leaf = try chains.withChain { chain in path.derive(chain) }
        do {
            return try KeyWrap.unwrap(wrapped.bytes, using: leaf)
        } catch {
            throw KeyStoreError(.unwrapFailed, "family \(family), KEK v\(wrapped.kekVersion)")
        }
    }

    /// HMAC-SHA256 of `descriptor` under the keyring's family key, first 16 bytes.
    public func familyID(for descriptor: [UInt8]) throws -> KeyID {
        let familyKey = state.withLock { $0.familyKey }
        return try chains.withChain { chain throws(KeyStoreError) in
            try File.familyID(for: descriptor, familyKey: familyKey, chain)
        }
    }

    /// Adds a version with a fresh root and makes it active; the old one is retired.
    public func rotate() throws -> UInt32 { try mutate { file in file.rotate() } }

    /// Punctures every live version at each family's leaf.
    public func puncture(_ families: [KeyID]) throws {
        guard !families.isEmpty else { return }
        let chain = try makeChain()
        try mutate { file in file.puncture(families, chain) }
    }

    /// Destroys a retired version: every key it still wraps becomes unreadable.
    public func destroy(version: UInt32) throws {
        try mutate { file throws(KeyStoreError) in try file.destroy(version) }
    }

    /// Every version with its state.
    public func versions() throws -> [KEKVersionInfo] {
        state.withLock { $0.versionInfo }
    }

    /// The family-hash key: a key store moving to another provider keeps its family ids.
    var familyKey: [UInt8] { state.withLock { $0.familyKey } }

    /// Re-reads the file (another process may have rotated or punctured).
    public func reload() throws {
        let fresh = try LocalKeyring.load(url)
        state.withLock { $0 = fresh }
    }

    private func mutate<R: Sendable>(_ body: (inout File) throws(KeyStoreError) -> R) throws(KeyStoreError) -> R {
        try state.withLock { current throws(KeyStoreError) in
            try LocalKeyring.withFileLock(url) { () throws(KeyStoreError) -> R in
                // Start from the file, not memory: another process may have changed it.
                var file = try LocalKeyring.load(url)
                let result = try body(&file)
                try LocalKeyring.write(file, to: url)
                current = file
                return result
            }
        }
    }

    // MARK: File

    struct File: Codable, Sendable {
        static let formatName = "strongroom-keyring/1"
        var format: String
        var familyKey: [UInt8]
        var activeVersion: UInt32
        var versions: [Version]

        struct Version: Codable, Sendable {
            var version: UInt32
            var state: KEKVersionState
            var createdAt: Int64
            var root: [UInt8]?
            /// Co-path nodes left by punctures, keyed by ``nodeName(depth:prefix:)``.
            var nodes: [String: [UInt8]]  // text-keyed: node names are ASCII we write ourselves
            var punctures = 0

            /// The tree node covering `path` and its depth (in levels).
            func cover(_ path: UInt64) -> (key: [UInt8], depth: Int)? {
                if let root { return (root, 0) }
                for depth in 1...LocalKeyring.treeLevels {
                    if let key = nodes[nodeName(depth: depth, prefix: prefix(of: path, depth: depth))] {
                        return (key, depth)
                    }
                }
                return nil
            }

            mutating func puncture(path: UInt64, _ chain: HMACChain) {
                guard let (key, depth) = cover(path) else { return }
                if depth == 0 {
                    root = nil
                } else {
                    nodes[nodeName(depth: depth, prefix: prefix(of: path, depth: depth))] = nil
                }
                var node = key
                for level in depth..<LocalKeyring.treeLevels {
                    let digit = digit(of: path, level: level)
                    let parent = prefix(of: path, depth: level)
                    for sibling in 0..<LocalKeyring.arity where sibling != Int(digit) {
                        nodes[nodeName(depth: level + 1, prefix: parent << 4 | UInt64(sibling))] = child(
                            node,
                            UInt8(sibling),
                            chain
                        )
                    }
                    node = child(node, digit, chain)
                }
                punctures += 1
            }
        }

        /// A file with one fresh KEK version and a fresh family-hash key.
        static func fresh(familyKey: [UInt8]? = nil) -> File {
            File(
                format: formatName,
                familyKey: familyKey ?? randomBytes(32),
                activeVersion: 1,
                versions: [Version(version: 1, state: .active, createdAt: now(), root: randomBytes(32), nodes: [:])]
            )
        }

        /// True when the file is one this build reads.
        var isWellFormed: Bool {
            format == File.formatName && familyKey.count == 32
                && versions.contains(where: { $0.version == activeVersion && $0.state == .active })
        }

        /// HMAC-SHA256 of `descriptor` under the family key, first 16 bytes.
        static func familyID(
            for descriptor: [UInt8],
            familyKey: [UInt8],
            _ chain: HMACChain
        ) throws(KeyStoreError) -> KeyID {
            var data = LocalKeyring.familyLabel
            data.append(contentsOf: descriptor)
            guard let id = KeyID(bytes: chain.mac(key: familyKey, message: data)) else {
                throw KeyStoreError(.keyringCorrupt)
            }
            return id
        }

        /// Adds a version with a fresh root and makes it active; the old one is retired.
        mutating func rotate() -> UInt32 {
            let next = (versions.map(\.version).max() ?? 0) + 1
            for i in versions.indices where versions[i].state == .active { versions[i].state = .retired }
            versions.append(Version(version: next, state: .active, createdAt: now(), root: randomBytes(32), nodes: [:]))
            activeVersion = next
            return next
        }

        /// Punctures every live version at each family's leaf.
        mutating func puncture(_ families: [KeyID], _ chain: HMACChain) {
            for i in versions.indices where versions[i].state != .destroyed {
                for family in families { versions[i].puncture(path: family.high, chain) }
            }
        }

        /// Destroys a non-active version.
        mutating func destroy(_ version: UInt32) throws(KeyStoreError) {
            guard let i = versions.firstIndex(where: { $0.version == version }) else {
                throw KeyStoreError(.invalidArgument, "no KEK version \(version)")
            }
            guard version != activeVersion else {
                throw KeyStoreError(.invalidArgument, "KEK version \(version) is active: rotate first")
            }
            versions[i].state = .destroyed
            versions[i].root = nil
            versions[i].nodes = [:]
        }

        /// What ``KeyEncryptionKeyProvider/versions()`` reports.
        var versionInfo: [KEKVersionInfo] {
            versions.map { KEKVersionInfo(version: $0.version, state: $0.state, puncturedFamilies: $0.punctures) }
        }

        /// Where the leaf of `family` in `version` is derived from: the node that covers it and
        /// the steps down from there.
        func leafPath(version: UInt32, family: KeyID) throws(KeyStoreError) -> LeafPath {
            guard let v = versions.first(where: { $0.version == version }), v.state != .destroyed else {
                throw KeyStoreError(.kekUnavailable, "KEK v\(version) destroyed or unknown")
            }
            guard let (start, depth) = v.cover(family.high) else {
                throw KeyStoreError(.punctured, "KEK v\(version), family \(family)")
            }
            return LeafPath(
                start: start,
                steps: (depth..<LocalKeyring.treeLevels).map { digit(of: family.high, level: $0) }
            )
        }
    }

    /// A leaf's covering node and the steps down to the leaf.
    struct LeafPath: Sendable {
        let start: [UInt8]
        let steps: [UInt8]

        /// The leaf key.
        func derive(_ chain: HMACChain) -> SymmetricKey {
            SymmetricKey(data: chain.walk(key: start, steps: steps, last: LocalKeyring.leafLabel))
        }
    }

    static func load(_ url: URL) throws(KeyStoreError) -> File {
        let data = try readPrivate(url)
        guard let file = try? JSONDecoder().decode(File.self, from: data), file.isWellFormed else {
            throw KeyStoreError(.keyringCorrupt, url.path)
        }
        return file
    }

    /// The bytes of a file only this user may read, as ssh insists for a private key.
    static func readPrivate(_ url: URL) throws(KeyStoreError) -> Data {
        var info = stat()
        guard stat(url.path, &info) == 0 else {
            throw KeyStoreError(.keyringMissing, "\(url.path): run `strongroom init`")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw KeyStoreError(
                .keyringPermissions,
                "\(url.path) is accessible by group or others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600"
            )
        }
        guard info.st_uid == geteuid() else {
            throw KeyStoreError(.keyringPermissions, "\(url.path) is owned by another user")
        }
        guard let data = try? Data(contentsOf: url) else { throw KeyStoreError(.keyringCorrupt, url.path) }
        return data
    }

    /// Writes atomically: a new 0600 file, fsync, rename over the old one, fsync the folder.
    ///
    /// The temporary file has a name of its own; a folder that cannot be synced is an error, since
    /// callers destroy keys next.
    static func write(_ file: some Encodable, to url: URL) throws(KeyStoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(file) else { throw KeyStoreError(.keyringCorrupt, "encode") }
        let tmp = url.path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyStoreError(.storage, "cannot create \(tmp)") }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == data.count, synced == 0, rename(tmp, url.path) == 0 else {
            unlink(tmp)
            throw KeyStoreError(.storage, "cannot write \(url.path)")
        }
        let dir = open(url.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if dir >= 0 { close(dir) } }
        guard dir >= 0, fsync(dir) == 0 else {
            throw KeyStoreError(.storage, "cannot sync the folder of \(url.path): the new file may not survive a crash")
        }
    }

    /// Runs `body` holding an exclusive `flock` on `<url>.lock`: one process at a time reads,
    /// changes and writes the file (and destroys what the change retired).
    static func withFileLock<R>(_ url: URL, _ body: () throws(KeyStoreError) -> R) throws(KeyStoreError) -> R {
        let path = url.path + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyStoreError(.storage, "cannot open \(path)") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw KeyStoreError(.storage, "cannot lock \(path)") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// The first `depth` hex digits of `path`.
@inline(__always)
private func prefix(of path: UInt64, depth: Int) -> UInt64 { depth == 0 ? 0 : path >> (64 - 4 * depth) }

/// Hex digit `level` (0 = most significant) of `path`.
@inline(__always)
private func digit(of path: UInt64, level: Int) -> UInt8 { UInt8(truncatingIfNeeded: path >> (60 - 4 * level) & 0xF) }

/// `"<depth>:<prefix>"`, the prefix as exactly `depth` lowercase hex digits (leading zeros kept).
private func nodeName(depth: Int, prefix: UInt64) -> String {
    let hex = String(prefix, radix: 16)
    return "\(depth):" + String(repeating: "0", count: max(0, depth - hex.count)) + hex
}

/// The tree's step to child `digit` (0-15): HMAC-SHA256 keyed by the node (a PRF, as GGM asks).
private func child(_ node: [UInt8], _ digit: UInt8, _ chain: HMACChain) -> [UInt8] {
    chain.mac(key: node, message: [digit])
}

/// A MAC chain for one derivation.
func makeChain() throws(KeyStoreError) -> HMACChain {
    do { return try HMACChain() } catch { throw KeyStoreError(.kekUnavailable, "HMAC-SHA256 unavailable") }
}

/// MAC contexts lent to one derivation at a time: making one (a digest context) costs about
/// as much as a MAC, and one context behind a lock would let one core derive at a time.
///
/// An idle chain holds nothing key-derived: each MAC leaves its digest context reset.
final class ChainPool: Sendable {
    /// A context held by the pool or by one borrower, never two threads at once.
    private struct Idle: @unchecked Sendable {
        let chain: HMACChain
    }

    private let idle = Mutex<[Idle]>([])

    /// `body` with a context no other caller holds meanwhile.
    func withChain<T>(_ body: (HMACChain) throws(KeyStoreError) -> T) throws(KeyStoreError) -> T {
        let lent: Idle
        if let popped = idle.withLock({ $0.popLast() }) { lent = popped } else { lent = Idle(chain: try makeChain()) }
        defer { idle.withLock { if $0.count < 16 { $0.append(lent) } } }
        return try body(lent.chain)
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

extension LocalKeyring.File.Version {
    enum CodingKeys: String, CodingKey {
        case version, state, createdAt, root, nodes, punctures
    }

    /// Reads a version; node names written before names kept their leading zeros
    /// (`"2:5"` for prefix `05`) are read as the prefix they stand for and renamed.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(UInt32.self, forKey: .version)
        state = try c.decode(KEKVersionState.self, forKey: .state)
        createdAt = try c.decode(Int64.self, forKey: .createdAt)
        root = try c.decodeIfPresent([UInt8].self, forKey: .root)
        punctures = try c.decodeIfPresent(Int.self, forKey: .punctures) ?? 0
        var renamed: [String: [UInt8]] = [:]
        for (name, key) in try c.decode([String: [UInt8]].self, forKey: .nodes) {
            let parts = name.split(separator: ":")
            guard parts.count == 2, let depth = Int(parts[0]), (1...LocalKeyring.treeLevels).contains(depth),
                parts[1].count <= depth, let prefix = UInt64(parts[1], radix: 16), prefix >> (4 * depth) == 0
            else {
                throw DecodingError.dataCorruptedError(
                    forKey: .nodes,
                    in: c,
                    debugDescription: "malformed key-tree node name"
                )
            }
            renamed[nodeName(depth: depth, prefix: prefix)] = key
        }
        nodes = renamed
    }
}
