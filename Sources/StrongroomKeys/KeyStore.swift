import Crypto
public import Foundation
import GRDB
public import StrongroomCrypto
import StrongroomFiles
import StrongroomJSON
import Synchronization

/// A family of data-encryption keys: one data subject's, or one topic's, in a tenant.
///
/// Two families are the same only when their tenant and name have the same UTF-8 bytes:
/// the family id, the associated data and the tombstone are all derived from the bytes, so
/// canonically equivalent spellings (`"\u{212A}"` and `"K"`) are different customers.
public struct KeyFamily: Sendable, Hashable, CustomStringConvertible {
    /// The tenant ("" for a single-tenant deployment).
    public var tenant: String
    /// Subject or topic.
    public var scope: KeyScope
    /// The subject id or topic name.
    public var name: String

    /// The keys of data subject `id`.
    public static func subject(_ id: String, tenant: String = "") -> KeyFamily {
        KeyFamily(tenant: tenant, scope: .subject, name: id)
    }

    /// The keys of topic `name`.
    public static func topic(_ name: String, tenant: String = "") -> KeyFamily {
        KeyFamily(tenant: tenant, scope: .topic, name: name)
    }

    /// Equal when scope, tenant bytes and name bytes are.
    public static func == (lhs: KeyFamily, rhs: KeyFamily) -> Bool {
        lhs.scope == rhs.scope && lhs.tenant.hasSameBytes(as: rhs.tenant) && lhs.name.hasSameBytes(as: rhs.name)
    }

    /// Hashes scope, tenant bytes and name bytes.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(scope)
        hasher.combine(ExactText(tenant))
        hasher.combine(ExactText(name))
    }

    var descriptor: [UInt8] {
        var out: [UInt8] = [1, scope.rawValue]
        for part in [tenant, name] {
            let bytes = Array(part.utf8)
            let n = UInt32(bytes.count)
            out.append(contentsOf: [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)])
            out.append(contentsOf: bytes)
        }
        return out
    }

    /// Topic families print their name; subject families never print the subject id.
    public var description: String {
        scope == .topic ? "topic \(tenant.isEmpty ? "" : tenant + "/")\(name)" : "subject <redacted>"
    }
}

/// What a key reference resolves to.
public enum KeyLookup: Sendable {
    /// The key.
    case key(DataEncryptionKey)
    /// The family was erased: the field must read as erased, not fail.
    case erased
}

/// Tuning of a ``KeyStore``.
public struct KeyStoreConfiguration: Sendable {
    /// Unwrapped keys kept in memory at most.
    public var cacheCapacity: Int
    /// How long an unwrapped key stays in memory.
    public var cacheTTL: Duration

    /// Field seals a process reserves on disk at a time for one key version, before it
    /// makes them: a crash loses at most this many from the count, and never undercounts.
    public var sealReservation: UInt64

    /// Defaults: 100,000 keys for five minutes; 65,536 seals reserved at a time.
    public init(cacheCapacity: Int = 100_000, cacheTTL: Duration = .seconds(300), sealReservation: UInt64 = 1 << 16) {
        self.cacheCapacity = cacheCapacity
        self.cacheTTL = cacheTTL
        self.sealReservation = max(1, sealReservation)
    }
}

/// How much one data-encryption key version may encrypt before a new version takes over.
///
/// Kept in the key store, so every process on a data directory applies the same limits.
/// Reaching either limit rotates the family on its next use: older versions still decrypt.
public struct DEKUsageLimits: Sendable, Hashable, Codable {
    /// NIST SP 800-38D §8.3: at most 2^32 AES-GCM invocations per key with random 96-bit nonces.
    public static let randomNonceBound: UInt64 = 1 << 32
    /// The default seal limit, 2^30: a quarter of the NIST bound.
    public static let defaultMaxSeals: UInt64 = 1 << 30
    /// The shortest age limit accepted.
    public static let minimumMaxAgeSeconds: Int64 = 60

    /// Field seals under one key version, at most.
    public var maxSeals: UInt64
    /// Seconds a key version encrypts after it was made; nil for no age limit.
    public var maxAgeSeconds: Int64?

    /// Limits, checked: `maxSeals` in 1...2^32, `maxAgeSeconds` at least a minute.
    public init(maxSeals: UInt64 = defaultMaxSeals, maxAgeSeconds: Int64? = nil) throws(KeyStoreError) {
        self.init(unchecked: maxSeals, maxAgeSeconds: maxAgeSeconds)
        try validate()
    }

    init(unchecked maxSeals: UInt64, maxAgeSeconds: Int64?) {
        self.maxSeals = maxSeals
        self.maxAgeSeconds = maxAgeSeconds
    }

    func validate() throws(KeyStoreError) {
        guard maxSeals >= 1, maxSeals <= Self.randomNonceBound else {
            throw KeyStoreError(
                .invalidArgument,
                "the seal limit must be between 1 and 2^32 (NIST SP 800-38D bound for random nonces), got \(maxSeals)"
            )
        }
        if let age = maxAgeSeconds, age < Self.minimumMaxAgeSeconds {
            throw KeyStoreError(.invalidArgument, "the age limit must be at least \(Self.minimumMaxAgeSeconds) seconds")
        }
    }
}

/// The proof an erasure happened, free of personal data.
public struct ErasureReceipt: Sendable, Hashable, Codable {
    /// The erased family's id: the subject's random pseudonym, never the id; empty when the
    /// subject held no keys.
    public var keyID: String
    /// Unix time of the erasure.
    public var erasedAt: Int64
    /// How many key versions were deleted.
    public var versionsDeleted: Int
    /// True when the subject had been erased before (nothing left to delete).
    public var alreadyErased: Bool
}

/// What `finalize` did.
public struct FinalizeReport: Sendable, Hashable, Codable {
    /// Erasures made final by this call.
    public var finalized: [String]
    /// KEK versions punctured at those families.
    public var kekVersions: [UInt32]
}

/// What a KEK rotation did.
public struct KEKRotationReport: Sendable, Hashable, Codable {
    /// The new active KEK version.
    public var newVersion: UInt32
    /// Keys rewrapped under it.
    public var rewrapped: Int
}

/// One key family as listed by ``KeyStore/list()``.
public struct KeyFamilyInfo: Sendable, Hashable, Codable {
    /// One version of the family.
    public struct Version: Sendable, Hashable, Codable {
        /// The version number.
        public var version: UInt32
        /// `active` (encrypts), `decrypt-only` or `retired`.
        public var state: String
        /// The KEK version that wraps it.
        public var kekVersion: UInt32
        /// Unix time created.
        public var createdAt: Int64
        /// Field seals reserved under it so far: an upper bound on the seals it made.
        public var sealed: UInt64
    }

    /// The family id, hex.
    public var keyID: String
    /// `subject` or `topic`.
    public var scope: String
    /// A topic family's tenant/topic; nil for subject families (the id is never stored).
    public var label: String?
    /// Versions, oldest first.
    public var versions: [Version]
}

/// Data-encryption keys: created on first use, stored only wrapped, cached unwrapped,
/// rotated, retired, and erased (crypto-shredding).
///
/// Safe to share between tasks and between processes on one data directory: SQLite
/// (WAL) serializes writers, and a memory-mapped generation counter tells every
/// process's cache at once when an erasure or KEK change happened.
public final class KeyStore: Sendable {
    /// The SQLite file.
    public let databaseURL: URL
    /// Where KEKs live.
    public let provider: any KeyEncryptionKeyProvider
    let db: DatabasePool
    let generation: SharedGeneration
    let configuration: KeyStoreConfiguration
    private let cache: Mutex<Cache>

    /// The keyring, key database and generation file names inside a data directory.
    public static let keyringFileName = "keyring.json"
    static let databaseFileName = "keys.sqlite"
    static let generationFileName = "keys.generation"

    /// Opens the store of a data directory, with its KEK provider.
    public static func open(
        dataDirectory: URL,
        configuration: KeyStoreConfiguration = KeyStoreConfiguration()
    ) throws(KeyStoreError) -> KeyStore {
        try KeyStore(directory: dataDirectory, provider: try provider(of: dataDirectory), configuration: configuration)
    }

    /// The KEK provider of a data directory: its `kek.json` (an HSM or KMS), else its local keyring.
    ///
    /// A directory with both is refused: which one holds the KEKs would be a guess.
    public static func provider(of dataDirectory: URL) throws(KeyStoreError) -> any KeyEncryptionKeyProvider {
        let envelope = dataDirectory.appendingPathComponent(EnvelopeKeyring.fileName)
        let keyring = dataDirectory.appendingPathComponent(keyringFileName)
        guard !FileManager.default.fileExists(atPath: envelope.path + migratingSuffix) else {
            throw KeyStoreError(
                .invalidArgument,
                "\(dataDirectory.path): a `keys migrate-kek` was interrupted; run it again to finish it"
            )
        }
        guard FileManager.default.fileExists(atPath: envelope.path) else { return try LocalKeyring(url: keyring) }
        guard !FileManager.default.fileExists(atPath: keyring.path) else {
            throw KeyStoreError(
                .invalidArgument,
                "\(dataDirectory.path) has both \(keyringFileName) and \(EnvelopeKeyring.fileName): keep the one that holds the KEKs"
            )
        }
        return try EnvelopeKeyring.open(at: envelope)
    }

    /// Creates a data directory's KEK provider and key store; refuses to overwrite either.
    ///
    /// - Parameter kek: a root-key service reference (`pkcs11:…`), or nil for a local keyring file.
    @discardableResult
    public static func initialize(dataDirectory: URL, kek: String? = nil) throws(KeyStoreError) -> KeyStore {
        do {
            try PrivateFiles.directory(dataDirectory.path)
        } catch {
            throw KeyStoreError(.storage, "cannot create \(dataDirectory.path)")
        }
        for name in [keyringFileName, EnvelopeKeyring.fileName]
        where FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent(name).path) {
            throw KeyStoreError(.keyringExists, dataDirectory.appendingPathComponent(name).path)
        }
        let provider: any KeyEncryptionKeyProvider
        if let kek {
            provider = try EnvelopeKeyring.create(
                at: dataDirectory.appendingPathComponent(EnvelopeKeyring.fileName),
                service: try RootKeyServices.service(for: kek)
            )
        } else {
            provider = try LocalKeyring.create(at: dataDirectory.appendingPathComponent(keyringFileName))
        }
        return try KeyStore(directory: dataDirectory, provider: provider)
    }

    /// Opens (creating if needed) the key database in `directory`, with `provider`.
    public init(
        directory: URL,
        provider: any KeyEncryptionKeyProvider,
        configuration: KeyStoreConfiguration = KeyStoreConfiguration()
    ) throws(KeyStoreError) {
        self.databaseURL = directory.appendingPathComponent(KeyStore.databaseFileName)
        self.provider = provider
        self.configuration = configuration
        self.generation = try SharedGeneration(path: directory.appendingPathComponent(KeyStore.generationFileName).path)
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // FULL: an acknowledged key is on disk before any ciphertext uses it.
            // secure_delete: an erased wrapped key is overwritten, not left in free pages.
            // temp_store: statement journals stay in memory, never a temporary file of key pages.
            try db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY")
        }
        do {
            try PrivateFiles.prepareDatabase(databaseURL.path)
            db = try DatabasePool(path: databaseURL.path, configuration: config)
            // GRDB's pool sets `synchronous = NORMAL` on its writer when it turns WAL on, after
            // `prepareDatabase`: a key must be on disk before anything sealed under it is.
            try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            try db.write { db in
                // A later build's store is never touched, not even by this build's tables: it
                // holds the only copies of its keys.
                let stored = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                guard stored <= 4 else { throw Newer(format: stored) }
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS family (
                            key_id BLOB PRIMARY KEY, scope INTEGER NOT NULL, label TEXT,
                            active_version INTEGER NOT NULL, created_at INTEGER NOT NULL);
                        CREATE TABLE IF NOT EXISTS dek (
                            key_id BLOB NOT NULL, version INTEGER NOT NULL, kek_version INTEGER NOT NULL,
                            wrapped BLOB NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL,
                            PRIMARY KEY (key_id, version));
                        CREATE INDEX IF NOT EXISTS dek_kek ON dek(kek_version);
                        CREATE TABLE IF NOT EXISTS tombstone (
                            key_id BLOB PRIMARY KEY, erased_at INTEGER NOT NULL, finalized_at INTEGER);
                        CREATE TABLE IF NOT EXISTS subject (lookup BLOB PRIMARY KEY, key_id BLOB NOT NULL) WITHOUT ROWID;
                        CREATE TABLE IF NOT EXISTS erased_subject (lookup BLOB PRIMARY KEY) WITHOUT ROWID;
                        CREATE TABLE IF NOT EXISTS setting (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                        """
                )
                // Stores written before subject pseudonyms keyed subjects by the keyed hash
                // itself: their records carry the subject id in clear. Refuse, never mix.
                var format = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                if format == 0 {
                    guard try Bool.fetchOne(db, sql: "SELECT 1 FROM family WHERE scope = 1 LIMIT 1") != true,
                        try Bool.fetchOne(db, sql: "SELECT 1 FROM tombstone LIMIT 1") != true
                    else { throw Legacy() }
                    format = 2
                }
                if format == 2 {
                    // Format 3 counts seals per key version; keys made before start from zero.
                    try db.execute(sql: "ALTER TABLE dek ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0")
                    try db.execute(sql: "PRAGMA user_version = 3")
                    format = 3
                }
                if format == 3 {
                    try Self.dropSubjectKeyIndex(db)
                    try db.execute(sql: "PRAGMA user_version = 4")
                    format = 4
                }
                guard format == 4 else { throw Legacy() }
            }
        } catch is Legacy {
            throw KeyStoreError(
                .storage,
                "\(databaseURL.path) is not a key store of format 2 to 4 (subject pseudonyms): re-create the data directory"
            )
        } catch let newer as Newer {
            throw KeyStoreError(
                .storage,
                "\(databaseURL.path) is a key store of format \(newer.format), written by a later Strongroom; "
                    + "this build reads formats 2 to 4: open it with that build (never delete it: it holds the keys)"
            )
        } catch {
            throw KeyStoreError(.storage, "cannot open \(databaseURL.path)")
        }
        self.cache = Mutex(Cache(generation: generation.value))
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: databaseURL.path)
    }

    // MARK: Encrypting

    /// The key that encrypts new fields of `family`, created on first use, with `seals`
    /// field seals counted against its usage limit.
    ///
    /// - Throws: ``KeyStoreError/Code/subjectErased`` when the family was erased.
    public func encryptionKey(for family: KeyFamily, seals: Int = 1) throws(KeyStoreError) -> DataEncryptionKey {
        if let hit = cachedActive(family, seals: seals) { return hit }
        // Only an erased family is left out of the result.
        guard let key = try encryptionKeys(for: [family: seals])[family] else { throw KeyStoreError(.subjectErased) }
        return key
    }

    /// The encrypting keys of many families, one seal each.
    public func encryptionKeys(
        for families: some Sequence<KeyFamily>
    ) throws(KeyStoreError)
        -> [KeyFamily: DataEncryptionKey]
    {
        try encryptionKeys(for: Dictionary(families.map { ($0, 1) }, uniquingKeysWith: +))
    }

    /// The encrypting keys of many families, each with the number of field seals it is
    /// about to make: one read, then one write transaction that creates the keys of new
    /// families, reserves seals (``KeyStoreConfiguration/sealReservation`` at a time, on disk
    /// before any is used) and rotates every key that reached its usage limits.
    ///
    /// Families that were erased are missing from the result.
    public func encryptionKeys(for demand: [KeyFamily: Int]) throws(KeyStoreError) -> [KeyFamily: DataEncryptionKey] {
        let wanted = Array(demand)
        let keys = try encryptionKeys(for: wanted.map(\.key), seals: wanted.map(\.value))
        var result: [KeyFamily: DataEncryptionKey] = [:]
        for (want, key) in zip(wanted, keys) { result[want.key] = key }
        return result
    }

    /// ``encryptionKeys(for:)-(Dictionary<KeyFamily,Int>)`` for distinct `families` with
    /// `seals[i]` seals for `families[i]`: the keys in the same order, nil for an erased family.
    ///
    /// For a caller that already numbered its families: no dictionary is built or hashed here
    /// beyond the key cache's own lookup.
    ///
    /// `threads` cores at most make and unwrap the keys of a large batch's new and uncached
    /// families at once (the database work stays on this thread).
    package func encryptionKeys(
        for families: [KeyFamily],
        seals: [Int],
        threads: Int = 1
    ) throws(KeyStoreError) -> [DataEncryptionKey?] {
        try encryptionKeys(for: families, seals: seals, threads: threads, decided: nil)
    }

    /// The encrypting keys of `families` this process already holds, no database read.
    ///
    /// `seals[i]` seals are taken from each hit's reservation; nil where the cache cannot
    /// answer (not cached, its reserved seals spent, past its age limit, or an erasure since
    /// it was cached): those are for ``encryptionKeys(for:seals:threads:)``, which does not
    /// charge a family twice.
    package func cachedEncryptionKeys(for families: [KeyFamily], seals: [Int]) -> [DataEncryptionKey?] {
        guard families.count == seals.count, seals.allSatisfy({ $0 >= 0 }) else {
            return Array(repeating: nil, count: families.count)
        }
        return cachedActive(families, seals)
    }

    /// `work` with the keys of ``encryptionKeys(for:seals:threads:)``, run on other threads
    /// while the transaction that makes new keys commits.
    ///
    /// `work` starts once every key is decided, before the transaction is on disk; its result
    /// is returned only after the commit. When the keys cannot be written, the error is thrown
    /// and `work`'s result, made with keys that do not exist, is dropped: nothing sealed under
    /// a key leaves before the key is stored. When nothing is written (every key cached, or
    /// only erased families missing) or `threads` is 1, `work` runs on this thread after the
    /// keys are resolved.
    package func withEncryptionKeys<T: Sendable>(
        for families: [KeyFamily],
        seals: [Int],
        threads: Int,
        _ work: @escaping @Sendable ([DataEncryptionKey?]) -> T
    ) throws(KeyStoreError) -> T {
        guard threads > 1 else { return work(try encryptionKeys(for: families, seals: seals, threads: 1)) }
        let overlapped = Overlap<T>()
        let keys: [DataEncryptionKey?]
        do {
            keys = try encryptionKeys(for: families, seals: seals, threads: threads) { decided in
                overlapped.start { work(decided) }
            }
        } catch {
            _ = overlapped.wait()
            throw error
        }
        return overlapped.wait() ?? work(keys)
    }

    private func encryptionKeys(
        for families: [KeyFamily],
        seals: [Int],
        threads: Int,
        decided: (([DataEncryptionKey?]) -> Void)?
    ) throws(KeyStoreError) -> [DataEncryptionKey?] {
        // Read before the database: what is cached must not predate an erasure.
        let observed = generation.value
        guard families.count == seals.count, seals.allSatisfy({ $0 >= 0 }) else {
            throw KeyStoreError(.invalidArgument, "one non-negative seal count per family")
        }
        var result = [DataEncryptionKey?](repeating: nil, count: families.count)
        var missing: [(index: Int, family: KeyFamily, seals: UInt64)] = []
        for (i, hit) in cachedActive(families, seals).enumerated() {
            if let hit {
                result[i] = hit
            } else {
                missing.append((i, families[i], UInt64(seals[i])))
            }
        }
        guard !missing.isEmpty else { return result }
        let named = try missing.map { m throws(KeyStoreError) in (m.index, m.family, m.seals, try familyID(m.family)) }
        let (limits, found): (DEKUsageLimits, [Found]) = try read { db in
            let limits = try Self.readLimits(db)
            return (limits, try named.map { _, family, _, name in try Self.find(family, name: name, db) })
        }
        let stamp = now()
        // Outside the write transaction: unwrap live keys, make and wrap new ones.
        // After a failure the rest is not asked for: a provider that is down is not asked again
        // for every family of the batch (the first failure found is thrown).
        let failed = Flag()
        let planned = Self.map(named.count, threads: found.count >= Self.parallelKeys ? threads : 1) {
            i -> Result<Plan?, KeyStoreError> in
            if failed.isSet { return .success(nil) }
            let (index, family, seals, name) = named[i]
            do throws(KeyStoreError) {
                let reservation = try reservationSize(seals, limits)
                var plan = Plan(index: index, family: family, name: name, seals: seals, reservation: reservation)
                switch found[i] {
                case .erased: return .success(nil)
                case .missing:
                    plan.fresh = try freshKey(family.scope == .subject ? KeyID.random() : name, family.scope)
                case .active(let id, let row):
                    // Unwrapped even when it is about to be replaced: in a store restored from before
                    // a finalized erasure, failing to unwrap is what says the subject is erased.
                    let current: DataEncryptionKey
                    do throws(KeyStoreError) { current = try unwrap(row, id: id, scope: family.scope) } catch {
                        if error.code == .punctured { return .success(nil) }
                        throw error
                    }
                    plan.checked = current.reference
                    if row.needsRotation(adding: reservation, limits, at: stamp) {
                        plan.fresh = try freshKey(id, family.scope)
                    } else {
                        plan.current = current
                    }
                }
                return .success(plan)
            } catch {
                failed.set()
                return .failure(error)
            }
        }
        var plans: [Plan] = []
        plans.reserveCapacity(planned.count)
        for result in planned { if let plan = try result.get() { plans.append(plan) } }
        // Only erased families were missing: nothing to write.
        guard !plans.isEmpty else { return result }
        // In key-id order: the family and DEK rows are written front to back through their
        // B-trees (random ids otherwise jump between pages: +4 to +9% on encrypt with new keys).
        plans.sort { a, b in
            let x = a.fresh?.key.reference.id ?? a.current?.reference.id ?? a.name
            let y = b.fresh?.key.reference.id ?? b.current?.reference.id ?? b.name
            return (x.high, x.low) < (y.high, y.low)
        }
        // The limits are read again inside the transaction: one changed since is applied now.
        let (granted, limitsNow): ([Granted], DEKUsageLimits) = try write { db in
            let limits = try Self.readLimits(db)
            let granted = try plans.compactMap { plan in try self.grant(plan, limits: limits, stamp: stamp, db) }
            if let decided {
                // Every key is decided; only the commit is left.
                var keys = result
                for grant in granted { keys[grant.index] = grant.key }
                decided(keys)
            }
            return (granted, limits)
        }
        for grant in granted {
            let staleAt = limitsNow.maxAgeSeconds.map {
                Deadline.now + .seconds(max(0, $0 - (stamp - grant.createdAt)))
            }
            remember(
                active: grant.key,
                for: grant.family,
                budget: grant.reservation - grant.seals,
                staleAt: staleAt,
                observed: observed
            )
            result[grant.index] = grant.key
        }
        return result
    }

    /// A flag set once, read from many threads.
    private final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        var isSet: Bool { value.load(ordering: .relaxed) }
        func set() { value.store(true, ordering: .relaxed) }
    }

    /// Families below this many are made and unwrapped on the calling thread alone.
    static let parallelKeys = 32
    /// Read once: Foundation reads the cgroup's CPU quota files on every call.
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// `body(i)` for every `i` in `0..<count`, in order, on up to `threads` cores.
    ///
    /// Not `Parallel.map`: that lives in `Strongroom`, above this module, and splits only work
    /// of 64 items or more; a generic shared across modules would also run unspecialized.
    private static func map<T: Sendable>(_ count: Int, threads: Int, _ body: @Sendable (Int) -> T) -> [T] {
        let workers = min(max(1, threads), cores, count)
        guard workers > 1 else { return (0..<count).map(body) }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let base = SlotBuffer(buffer)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                // Each worker writes only its own slots.
                for i in (count * worker / workers)..<(count * (worker + 1) / workers) {
                    (base.buffer.baseAddress.unsafelyUnwrapped + i).initialize(to: body(i))
                }
            }
            initialized = count
        }
    }

    private struct SlotBuffer<T>: @unchecked Sendable {
        let buffer: UnsafeMutableBufferPointer<T>
        init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
    }

    /// Seals to reserve on disk for a demand of `seals`: the configured block, at least the
    /// demand, never more than one key may make.
    private func reservationSize(_ seals: UInt64, _ limits: DEKUsageLimits) throws(KeyStoreError) -> UInt64 {
        guard seals <= limits.maxSeals else {
            throw KeyStoreError(
                .invalidArgument,
                "\(seals) seals in one request exceed the limit of \(limits.maxSeals) per key"
            )
        }
        return min(max(configuration.sealReservation, seals), limits.maxSeals)
    }

    /// What one family resolved to when it was read.
    enum Found {
        case erased
        case missing
        case active(KeyID, ActiveRow)
    }

    /// One family's part of the write transaction.
    struct Plan {
        /// The family's place in the request.
        var index: Int
        var family: KeyFamily
        var name: KeyID
        var seals: UInt64
        var reservation: UInt64
        /// The active key as read, when it stays active.
        var current: DataEncryptionKey?
        /// A new key, already wrapped, for a new family or a rotation.
        var fresh: (key: DataEncryptionKey, wrapped: WrappedKey)?
        /// The active version that was unwrapped (so not punctured) when read.
        var checked: KeyReference?
    }

    /// A key granted for `seals` seals out of `reservation` reserved on disk.
    struct Granted {
        var index: Int
        var family: KeyFamily
        var key: DataEncryptionKey
        var seals: UInt64
        var reservation: UInt64
        var createdAt: Int64
    }

    /// One statement for what a family resolves to.
    ///
    /// Its erased-subject mark, key id, tombstone and active version. `?1` is the name (a
    /// topic's key id, a subject's lookup hash), `?2` is 1 for a subject.
    static let findSQL = """
        SELECT
          (SELECT 1 FROM erased_subject WHERE ?2 = 1 AND lookup = ?1) AS erased_subject,
          s.id AS key_id,
          (SELECT 1 FROM tombstone WHERE key_id = s.id) AS tombstone,
          d.version, d.kek_version, d.wrapped, d.sealed, d.created_at
        FROM (SELECT CASE WHEN ?2 = 1 THEN (SELECT key_id FROM subject WHERE lookup = ?1) ELSE ?1 END AS id) s
        LEFT JOIN family f ON f.key_id = s.id
        LEFT JOIN dek d ON d.key_id = f.key_id AND d.version = f.active_version
        """

    static func find(_ family: KeyFamily, name: KeyID, _ db: Database) throws -> Found {
        // Bound and read in place: this runs for every family a batch asks for.
        let row = try RawStatement(
            db.cachedStatement(sql: findSQL),
            [.blob(name.bytes), .int(family.scope == .subject ? 1 : 0)]
        )
        guard try row.step() else { return .missing }
        // By index: the columns of findSQL, in order.
        if !row.isNull(0) { return .erased }
        guard !row.isNull(1) else { return .missing }
        let idBytes = try row.blob(1)
        guard idBytes.count == 16, let id = KeyID(bytes: idBytes) else {
            throw KeyStoreError(.storage, "bad key id")
        }
        if !row.isNull(2) { return .erased }
        guard !row.isNull(3) else { return .missing }
        return .active(id, try ActiveRow(row, from: 3))
    }

    private func freshKey(
        _ id: KeyID,
        _ scope: KeyScope
    ) throws(KeyStoreError) -> (key: DataEncryptionKey, wrapped: WrappedKey) {
        // The version is set in the transaction; the wrap binds the family id only.
        let key = DataEncryptionKey.generate(reference: KeyReference(scope: scope, id: id, version: 1))
        return (key, try wrap(key.key, family: id))
    }

    /// Creates, reserves on or rotates one family, against what the database holds now:
    /// another process may have created, rotated or erased it since it was read.
    private func grant(_ plan: Plan, limits: DEKUsageLimits, stamp: Int64, _ db: Database) throws -> Granted? {
        var plan = plan
        plan.reservation = try reservationSize(plan.seals, limits)
        let family = plan.family
        if plan.current == nil, let fresh = plan.fresh, try claim(plan, fresh, stamp: stamp, db) {
            return Granted(
                index: plan.index,
                family: family,
                key: fresh.key,
                seals: plan.seals,
                reservation: plan.reservation,
                createdAt: stamp
            )
        }
        let key: DataEncryptionKey
        var createdAt = stamp
        switch try Self.find(family, name: plan.name, db) {
        case .erased:
            return nil
        case .missing:
            guard let fresh = plan.fresh else { return nil }
            let id = fresh.key.reference.id
            let idData = Data(id.bytes)
            if family.scope == .subject {
                try db.cachedStatement(sql: "INSERT INTO subject (lookup, key_id) VALUES (?, ?)")
                    .execute(arguments: [Data(plan.name.bytes), idData])
            }
            try db.cachedStatement(
                sql: "INSERT INTO family (key_id, scope, label, active_version, created_at) VALUES (?, ?, ?, 1, ?)"
            ).execute(
                arguments: [idData, Int(family.scope.rawValue), family.scope == .topic ? family.labelText : nil, stamp]
            )
            try insertVersion(id, 1, fresh.wrapped, sealed: plan.reservation, stamp: stamp, db)
            key = fresh.key
        case .active(let id, let row):
            if row.needsRotation(adding: plan.reservation, limits, at: stamp) {
                // Not a version checked when read: unwrap it now, a punctured key means erased.
                if plan.checked != KeyReference(scope: family.scope, id: id, version: row.version) {
                    do { _ = try unwrap(row, id: id, scope: family.scope) } catch {
                        if error.code == .punctured { return nil }
                        throw error
                    }
                }
                let next =
                    try Int.fetchOne(
                        db.cachedStatement(sql: "SELECT MAX(version) FROM dek WHERE key_id = ?"),
                        arguments: [Data(id.bytes)]
                    ).map { UInt32($0) + 1 } ?? row.version + 1
                // A key made and wrapped for this family (not for a pseudonym another process
                // lost to) is reused; otherwise make one now.
                let fresh =
                    try plan.fresh.flatMap { $0.key.reference.id == id ? $0 : nil } ?? freshKey(id, family.scope)
                try db.cachedStatement(
                    sql: "UPDATE dek SET state = 'decrypt-only' WHERE key_id = ? AND state = 'active'"
                )
                .execute(arguments: [Data(id.bytes)])
                try insertVersion(id, next, fresh.wrapped, sealed: plan.reservation, stamp: stamp, db)
                try db.cachedStatement(sql: "UPDATE family SET active_version = ? WHERE key_id = ?")
                    .execute(arguments: [Int(next), Data(id.bytes)])
                key = try DataEncryptionKey(
                    reference: KeyReference(scope: family.scope, id: id, version: next),
                    key: fresh.key.key
                )
            } else {
                try db.cachedStatement(sql: "UPDATE dek SET sealed = sealed + ? WHERE key_id = ? AND version = ?")
                    .execute(arguments: [Int64(plan.reservation), Data(id.bytes), Int(row.version)])
                if let current = plan.current, current.reference.version == row.version, current.reference.id == id {
                    key = current
                } else {
                    key = try unwrap(row, id: id, scope: family.scope)
                }
                createdAt = row.createdAt
            }
        }
        return Granted(
            index: plan.index,
            family: family,
            key: key,
            seals: plan.seals,
            reservation: plan.reservation,
            createdAt: createdAt
        )
    }

    /// Creates a new family in one step when nothing holds its place.
    ///
    /// The subject link (or the topic's family row) goes in only if no link, family or
    /// erasure exists: a concurrent creation or erasure, or a rotation plan, finds it taken
    /// and is left to the full check in ``grant(_:limits:stamp:_:)``.
    private func claim(
        _ plan: Plan,
        _ fresh: (key: DataEncryptionKey, wrapped: WrappedKey),
        stamp: Int64,
        _ db: Database
    ) throws -> Bool {
        let family = plan.family
        let id = fresh.key.reference.id.bytes
        if family.scope == .subject {
            let linked = try RawStatement(
                db.cachedStatement(
                    sql: """
                        INSERT OR IGNORE INTO subject (lookup, key_id) SELECT ?1, ?2
                        WHERE NOT EXISTS (SELECT 1 FROM erased_subject WHERE lookup = ?1)
                        """
                ),
                [.blob(plan.name.bytes), .blob(id)]
            ).execute()
            guard linked == 1 else { return false }
            _ = try RawStatement(
                db.cachedStatement(
                    sql:
                        "INSERT INTO family (key_id, scope, label, active_version, created_at) VALUES (?, ?, NULL, 1, ?)"
                ),
                [.blob(id), .int(Int64(family.scope.rawValue)), .int(stamp)]
            ).execute()
        } else {
            let created = try RawStatement(
                db.cachedStatement(
                    sql: """
                        INSERT OR IGNORE INTO family (key_id, scope, label, active_version, created_at)
                        VALUES (?, ?, ?, 1, ?)
                        """
                ),
                [.blob(id), .int(Int64(family.scope.rawValue)), .text(family.labelText), .int(stamp)]
            ).execute()
            guard created == 1 else { return false }
        }
        try insertVersion(fresh.key.reference.id, 1, fresh.wrapped, sealed: plan.reservation, stamp: stamp, db)
        return true
    }

    private func insertVersion(
        _ id: KeyID,
        _ version: UInt32,
        _ wrapped: WrappedKey,
        sealed: UInt64,
        stamp: Int64,
        _ db: Database
    ) throws {
        _ = try RawStatement(
            db.cachedStatement(
                sql: """
                    INSERT INTO dek (key_id, version, kek_version, wrapped, state, created_at, sealed)
                    VALUES (?, ?, ?, ?, 'active', ?, ?)
                    """
            ),
            [
                .blob(id.bytes), .int(Int64(version)), .int(Int64(wrapped.kekVersion)), .blob(wrapped.bytes),
                .int(stamp), .int(Int64(sealed)),
            ]
        ).execute()
    }

    private func unwrap(_ row: ActiveRow, id: KeyID, scope: KeyScope) throws(KeyStoreError) -> DataEncryptionKey {
        try unwrap(
            row.wrapped,
            kekVersion: row.kekVersion,
            reference: KeyReference(scope: scope, id: id, version: row.version)
        )
    }

    // MARK: Usage limits

    /// The usage limits every process on this key store applies.
    public func usageLimits() throws(KeyStoreError) -> DEKUsageLimits {
        try read { db in try Self.readLimits(db) }
    }

    /// Sets the usage limits for every process on this key store; each applies them from its
    /// next key lookup (cached keys are dropped everywhere).
    public func setUsageLimits(_ limits: DEKUsageLimits) throws(KeyStoreError) {
        try limits.validate()
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO setting (name, value) VALUES ('dek_max_seals', ?)",
                arguments: [Int64(limits.maxSeals)]
            )
            if let age = limits.maxAgeSeconds {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO setting (name, value) VALUES ('dek_max_age_seconds', ?)",
                    arguments: [age]
                )
            } else {
                try db.execute(sql: "DELETE FROM setting WHERE name = 'dek_max_age_seconds'")
            }
        }
        generation.bump()
    }

    static func readLimits(_ db: Database) throws -> DEKUsageLimits {
        let maxSeals = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT value FROM setting WHERE name = 'dek_max_seals'")
        )
        let maxAge = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT value FROM setting WHERE name = 'dek_max_age_seconds'")
        )
        let limits = DEKUsageLimits(
            unchecked: maxSeals.map { UInt64(clamping: $0) } ?? DEKUsageLimits.defaultMaxSeals,
            maxAgeSeconds: maxAge
        )
        // A corrupted setting must not lift the limit: refuse to encrypt.
        try limits.validate()
        return limits
    }

    // Hot statements, compiled once per connection.
    static let activeRowSQL = """
        SELECT d.version, d.kek_version, d.wrapped, d.sealed, d.created_at FROM family f
        JOIN dek d ON d.key_id = f.key_id AND d.version = f.active_version WHERE f.key_id = ?
        """
    static let tombstoneSQL = "SELECT 1 FROM tombstone WHERE key_id = ?"
    static let subjectSQL = "SELECT key_id FROM subject WHERE lookup = ?"
    static let erasedSubjectSQL = "SELECT 1 FROM erased_subject WHERE lookup = ?"

    /// What a family's name resolves to inside one transaction.
    enum Resolution {
        /// The family's key id.
        case id(KeyID)
        /// A subject that holds no keys yet.
        case none
        /// A subject that was erased: it never gets a key again.
        case erased
    }

    /// A topic's id is its keyed name hash; a subject's is the pseudonym recorded against its
    /// keyed lookup hash.
    static func resolve(_ family: KeyFamily, name: KeyID, _ db: Database) throws -> Resolution {
        guard family.scope == .subject else { return .id(name) }
        let lookup = Data(name.bytes)
        if try Bool.fetchOne(db.cachedStatement(sql: erasedSubjectSQL), arguments: [lookup]) == true { return .erased }
        guard let id = try Data.fetchOne(db.cachedStatement(sql: subjectSQL), arguments: [lookup]) else { return .none }
        guard let keyID = KeyID(bytes: Array(id)) else { throw KeyStoreError(.storage, "bad subject key id") }
        return .id(keyID)
    }

    static func isErased(_ family: KeyFamily, name: KeyID, _ db: Database) throws -> Bool {
        if case .erased = try resolve(family, name: name, db) { return true }
        return false
    }
    static let versionRowSQL = """
        SELECT version, kek_version, wrapped, sealed, created_at, state FROM dek WHERE key_id = ? AND version = ?
        """

    // MARK: Decrypting

    /// The key a field ciphertext names, or ``KeyLookup/erased``.
    ///
    /// - Throws: ``KeyStoreError/Code/unknownKey``, ``KeyStoreError/Code/keyRetired``,
    ///   ``KeyStoreError/Code/kekUnavailable``.
    public func decryptionKey(_ reference: KeyReference) throws(KeyStoreError) -> KeyLookup {
        let now = Deadline.now
        let (cached, moved): (KeyLookup?, Bool) = cache.withLock { cache in
            if cache.sync(generation.value) { return (nil, true) }
            if !cache.erased.isEmpty, cache.erased.contains(reference.id) { return (.erased, false) }
            if let held = cache.keys[reference], held.expires > now { return (.key(held.key), false) }
            return (nil, false)
        }
        if let cached { return cached }
        if moved { reloadProvider() }
        let observed = generation.value
        let id = reference.id.bytes
        // Bound and read in place: this runs for every key a reader meets first.
        let found: (row: ActiveRow?, retired: Bool, erased: Bool) = try read { db in
            var active: ActiveRow? = nil
            var retired = false
            do {
                let row = try RawStatement(
                    db.cachedStatement(sql: Self.versionRowSQL),
                    [.blob(id), .int(Int64(reference.version))]
                )
                if try row.step() {
                    active = try ActiveRow(row, from: 0)
                    retired = try row.hasText(5, "retired")
                }
            }
            let erased = try RawStatement(db.cachedStatement(sql: Self.tombstoneSQL), [.blob(id)]).step()
            return (active, retired, erased)
        }
        if found.erased {
            cache.withLock { _ = $0.erased.insert(reference.id) }
            return .erased
        }
        guard let active = found.row else { throw KeyStoreError(.unknownKey, "\(reference)") }
        guard !found.retired else { throw KeyStoreError(.keyRetired, "\(reference)") }
        let key: DataEncryptionKey
        do { key = try unwrap(active.wrapped, kekVersion: active.kekVersion, reference: reference) } catch {
            // A key store restored from before a finalized erasure still holds the wrapped key;
            // the keyring no longer derives its leaf: the field reads as erased, as it should.
            guard error.code == .punctured else { throw error }
            cache.withLock { _ = $0.erased.insert(reference.id) }
            return .erased
        }
        remember(key, observed: observed)
        return .key(key)
    }

    // MARK: Rotation and retirement

    /// Adds a version to `family` that encrypts from now on; older versions still decrypt.
    @discardableResult
    public func rotate(_ family: KeyFamily) throws(KeyStoreError) -> KeyReference {
        let id = try existingID(family)
        let idData = Data(id.bytes)
        let newKey = SymmetricKey(size: .bits256)
        let wrapped = try wrap(newKey, family: id)
        let stamp = now()
        let version: UInt32 = try write { db in
            guard
                let current = try Int.fetchOne(
                    db,
                    sql: "SELECT active_version FROM family WHERE key_id = ?",
                    arguments: [idData]
                )
            else {
                throw KeyStoreError(.unknownKey, "no keys for \(family)")
            }
            let next =
                (try Int.fetchOne(db, sql: "SELECT MAX(version) FROM dek WHERE key_id = ?", arguments: [idData])
                    ?? current) + 1
            try db.execute(
                sql: "UPDATE dek SET state = 'decrypt-only' WHERE key_id = ? AND state = 'active'",
                arguments: [idData]
            )
            try db.execute(
                sql:
                    "INSERT INTO dek (key_id, version, kek_version, wrapped, state, created_at) VALUES (?, ?, ?, ?, 'active', ?)",
                arguments: [idData, next, Int(wrapped.kekVersion), Data(wrapped.bytes), stamp]
            )
            try db.execute(sql: "UPDATE family SET active_version = ? WHERE key_id = ?", arguments: [next, idData])
            return UInt32(next)
        }
        invalidate(family: id)
        // Other processes stop sealing under the old version now, not when their cache expires.
        generation.bump()
        return KeyReference(scope: family.scope, id: id, version: version)
    }

    /// Retires a non-active version: its wrapped key is deleted, fields under it no
    /// longer decrypt.
    public func retire(_ family: KeyFamily, version: UInt32) throws(KeyStoreError) {
        let id = try existingID(family)
        let idData = Data(id.bytes)
        try write { db in
            guard
                let state = try String.fetchOne(
                    db,
                    sql: "SELECT state FROM dek WHERE key_id = ? AND version = ?",
                    arguments: [idData, Int(version)]
                )
            else {
                throw KeyStoreError(.unknownKey, "no version \(version) for \(family)")
            }
            guard state != "active" else {
                throw KeyStoreError(.invalidArgument, "version \(version) is active: rotate first")
            }
            try db.execute(
                sql: "UPDATE dek SET state = 'retired', wrapped = x'' WHERE key_id = ? AND version = ?",
                arguments: [idData, Int(version)]
            )
        }
        invalidate(family: id)
        generation.bump()
    }

    /// Makes a new KEK version active and rewraps every key under it.
    ///
    /// No event data is touched. The old version is retired, not destroyed: backups still need it until
    /// ``destroyKEK(version:)``.
    public func rotateKEK(progress: (Int, Int) -> Void = { _, _ in }) throws(KeyStoreError) -> KEKRotationReport {
        let newVersion: UInt32
        do { newVersion = try provider.rotate() } catch { throw KeyStoreError(.storage, "KEK rotation failed") }
        generation.bump()
        let rows: [(Data, Int, Int, Data)] = try read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT key_id, version, kek_version, wrapped FROM dek WHERE state != 'retired' AND kek_version != ?",
                arguments: [Int(newVersion)]
            )
            .map { ($0["key_id"], $0["version"], $0["kek_version"], $0["wrapped"]) }
        }
        var done = 0
        let batch = 1000
        var start = 0
        while start < rows.count {
            let slice = rows[start..<min(start + batch, rows.count)]
            let rewrapped = try slice.map { row throws(KeyStoreError) in
                guard let id = KeyID(bytes: Array(row.0)) else { throw KeyStoreError(.storage, "bad key id") }
                let key = try unwrapRaw(Array(row.3), kekVersion: UInt32(row.2), family: id)
                return (row.0, row.1, try wrap(key, family: id))
            }
            try write { db in
                for (idData, version, wrapped) in rewrapped {
                    try db.execute(
                        sql: "UPDATE dek SET kek_version = ?, wrapped = ? WHERE key_id = ? AND version = ?",
                        arguments: [Int(wrapped.kekVersion), Data(wrapped.bytes), idData, version]
                    )
                }
            }
            done += slice.count
            progress(done, rows.count)
            start += batch
        }
        generation.bump()
        return KEKRotationReport(newVersion: newVersion, rewrapped: done)
    }

    /// Destroys a retired KEK version for good; refuses while live keys still need it.
    public func destroyKEK(version: UInt32) throws(KeyStoreError) {
        let users = try read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM dek WHERE kek_version = ? AND state != 'retired'",
                arguments: [Int(version)]
            ) ?? 0
        }
        guard users == 0 else {
            throw KeyStoreError(
                .invalidArgument,
                "\(users) keys are still wrapped under KEK v\(version): run rotate-kek first"
            )
        }
        do { try provider.destroy(version: version) } catch let error as KeyStoreError { throw error } catch {
            throw KeyStoreError(.storage, "destroy KEK v\(version)")
        }
        generation.bump()
    }

    // MARK: Erasure

    /// Crypto-shreds a data subject: every key version is deleted at once, and every
    /// cache in every process sharing this directory drops it before the next lookup.
    ///
    /// Idempotent. The link from the subject to its pseudonym (the key id its records carry)
    /// is deleted with the keys: what stays is a tombstone keyed by the pseudonym, so fields
    /// read as erased, and the subject's keyed lookup hash, so new data for it is refused;
    /// nothing joins the two. Call ``finalize()`` to make the erasure reach backups.
    @discardableResult
    public func erase(subject: String, tenant: String = "") throws(KeyStoreError) -> ErasureReceipt {
        let family = KeyFamily.subject(subject, tenant: tenant)
        let lookup = Data(try familyID(family).bytes)
        let stamp = now()
        let (id, deleted, already): (KeyID?, Int, Bool) = try write { db in
            let already = try Bool.fetchOne(db, sql: Self.erasedSubjectSQL, arguments: [lookup]) ?? false
            try db.execute(sql: "INSERT OR IGNORE INTO erased_subject (lookup) VALUES (?)", arguments: [lookup])
            guard let idData = try Data.fetchOne(db, sql: Self.subjectSQL, arguments: [lookup]) else {
                return (nil, 0, already)
            }
            try db.execute(sql: "DELETE FROM subject WHERE lookup = ?", arguments: [lookup])
            try db.execute(sql: "DELETE FROM dek WHERE key_id = ?", arguments: [idData])
            let deleted = db.changesCount
            try db.execute(sql: "DELETE FROM family WHERE key_id = ?", arguments: [idData])
            try db.execute(
                sql: "INSERT OR IGNORE INTO tombstone (key_id, erased_at) VALUES (?, ?)",
                arguments: [idData, stamp]
            )
            return (KeyID(bytes: Array(idData)), deleted, already)
        }
        cache.withLock { cache in
            if let id {
                cache.erased.insert(id)
                // Free the cipher contexts and subkeys now, in every copy still held.
                for entry in cache.keys.values where entry.key.reference.id == id { entry.key.discard() }
                for entry in cache.active.values where entry.key.reference.id == id { entry.key.discard() }
                cache.drop(family: id)
            }
            cache.active[family] = nil
        }
        // Every process drops its cache before the checkpoint, which can wait on readers.
        generation.bump()
        // The old wrapped bytes and the subject's link may still sit in WAL frames: fold them
        // away now.
        _ = try? db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return ErasureReceipt(
            keyID: id?.description ?? "",
            erasedAt: stamp,
            versionsDeleted: deleted,
            alreadyErased: already && deleted == 0
        )
    }

    /// True when `subject` was erased.
    public func isErased(subject: String, tenant: String = "") throws(KeyStoreError) -> Bool {
        let family = KeyFamily.subject(subject, tenant: tenant)
        let name = try familyID(family)
        return try read { db in try Self.isErased(family, name: name, db) }
    }

    /// Makes pending erasures final: every KEK version is punctured at the erased
    /// families, so even a restored backup of this key store cannot unwrap their keys,
    /// while every other family's keys still unwrap from that backup.
    public func finalize() throws(KeyStoreError) -> FinalizeReport {
        let pending: [Data] = try read { db in
            try Data.fetchAll(db, sql: "SELECT key_id FROM tombstone WHERE finalized_at IS NULL")
        }
        let ids = pending.compactMap { KeyID(bytes: Array($0)) }
        // A live family sharing an erased family's 64-bit leaf (odds ~n/2^64) would lose
        // its wrap too: refuse rather than destroy it.
        let collisions = try read { db in
            try pending.reduce(0) { count, id in
                count
                    + (try Int.fetchOne(
                        db,
                        sql: "SELECT COUNT(*) FROM family WHERE substr(key_id, 1, 8) = ?",
                        arguments: [id.prefix(8)]
                    ) ?? 0)
            }
        }
        guard collisions == 0 else {
            throw KeyStoreError(
                .invalidArgument,
                "\(collisions) live key families share a key-tree leaf with an erased one: finalize refused, nothing destroyed"
            )
        }
        do { try provider.puncture(ids) } catch let error as KeyStoreError { throw error } catch {
            throw KeyStoreError(.storage, "puncture failed")
        }
        let versions: [UInt32]
        do { versions = try provider.versions().filter { $0.state != .destroyed }.map(\.version) } catch {
            versions = []
        }
        let stamp = now()
        try write { db in
            for id in pending {
                try db.execute(sql: "UPDATE tombstone SET finalized_at = ? WHERE key_id = ?", arguments: [stamp, id])
            }
        }
        generation.bump()
        return FinalizeReport(finalized: ids.map(\.description), kekVersions: ids.isEmpty ? [] : versions)
    }

    // MARK: Listing

    /// Every key family with its versions; subject ids are not stored, so not listed.
    public func list() throws(KeyStoreError) -> [KeyFamilyInfo] {
        try read { db in
            let families = try Row.fetchAll(
                db,
                sql: "SELECT key_id, scope, label FROM family ORDER BY created_at, key_id"
            )
            return try families.map { f in
                let idData: Data = f["key_id"]
                let versions = try Row.fetchAll(
                    db,
                    sql:
                        "SELECT version, state, kek_version, created_at, sealed FROM dek WHERE key_id = ? ORDER BY version",
                    arguments: [idData]
                ).map {
                    KeyFamilyInfo.Version(
                        version: UInt32($0["version"] as Int),
                        state: $0["state"],
                        kekVersion: UInt32($0["kek_version"] as Int),
                        createdAt: $0["created_at"],
                        sealed: UInt64(clamping: $0["sealed"] as Int64)
                    )
                }
                let scope = KeyScope(rawValue: UInt8(f["scope"] as Int)) ?? .topic
                return KeyFamilyInfo(
                    keyID: Array(idData).hexString,
                    scope: scope.description,
                    label: f["label"],
                    versions: versions
                )
            }
        }
    }

    /// Counts of erased subjects: pending and final.
    public func erasureCounts() throws(KeyStoreError) -> (pending: Int, final: Int) {
        try read { db in
            let pending = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tombstone WHERE finalized_at IS NULL") ?? 0
            let final = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tombstone WHERE finalized_at IS NOT NULL") ?? 0
            return (pending, final)
        }
    }

    /// The KEK versions of the provider.
    public func kekVersions() throws(KeyStoreError) -> [KEKVersionInfo] {
        do { return try provider.versions() } catch { throw KeyStoreError(.storage, "cannot read KEK versions") }
    }

    // MARK: Internals

    /// The pseudonym that names `subject` outside the key store (its key id, hex), or nil when
    /// the subject holds no keys (never had any, or was erased).
    ///
    /// Record keys, `sr-subject` headers, field headers and audit entries carry it; only this
    /// store links it to the subject, and erasure deletes the link.
    public func pseudonym(ofSubject subject: String, tenant: String = "") throws(KeyStoreError) -> String? {
        let family = KeyFamily.subject(subject, tenant: tenant)
        let name = try familyID(family)
        return try read { db in
            if case .id(let id) = try Self.resolve(family, name: name, db) { return id.description }
            return nil
        }
    }

    /// The key id of a family that holds keys.
    func existingID(_ family: KeyFamily) throws(KeyStoreError) -> KeyID {
        let name = try familyID(family)
        let resolved = try read { db in try Self.resolve(family, name: name, db) }
        switch resolved {
        case .id(let id): return id
        case .erased: throw KeyStoreError(.subjectErased)
        case .none: throw KeyStoreError(.unknownKey, "no keys for \(family)")
        }
    }

    func familyID(_ family: KeyFamily) throws(KeyStoreError) -> KeyID {
        do { return try provider.familyID(for: family.descriptor) } catch let error as KeyStoreError {
            throw error
        } catch {
            // Not the provider's answer (a circuit breaker's refusal): it could not be asked.
            throw KeyStoreError(.providerUnavailable, "family id: \(error)")
        }
    }

    private func wrap(_ key: SymmetricKey, family: KeyID) throws(KeyStoreError) -> WrappedKey {
        do { return try provider.wrap(key, family: family) } catch let error as KeyStoreError { throw error } catch {
            throw KeyStoreError(.providerUnavailable, "wrap: \(error)")
        }
    }

    func unwrapRaw(_ wrapped: [UInt8], kekVersion: UInt32, family: KeyID) throws(KeyStoreError) -> SymmetricKey {
        do {
            return try provider.unwrap(WrappedKey(kekVersion: kekVersion, bytes: wrapped), family: family)
        } catch let error as KeyStoreError {
            throw error
        } catch {
            throw KeyStoreError(.providerUnavailable, "unwrap for family \(family): \(error)")
        }
    }

    private func unwrap(
        _ wrapped: [UInt8],
        kekVersion: UInt32,
        reference: KeyReference
    ) throws(KeyStoreError) -> DataEncryptionKey {
        let key = try unwrapRaw(wrapped, kekVersion: kekVersion, family: reference.id)
        do { return try DataEncryptionKey(reference: reference, key: key) } catch {
            throw KeyStoreError(.unwrapFailed, "\(reference)")
        }
    }

    /// ``cachedActive(_:seals:)`` for many families under one lock: threads sealing batches
    /// at once would otherwise pass the cache's lock back and forth once per family.
    private func cachedActive(_ families: [KeyFamily], _ seals: [Int]) -> [DataEncryptionKey?] {
        let now = Deadline.now
        let (hits, moved): ([DataEncryptionKey?], Bool) = cache.withLock { cache in
            if cache.sync(generation.value) { return ([], true) }
            return (
                zip(families, seals).map { family, seals in
                    precondition(seals >= 0, "seal counts are checked before the cache")
                    guard let index = cache.active.index(forKey: family) else { return nil }
                    return Self.charge(&cache.active.values[index], seals: UInt64(seals), now: now)
                }, false
            )
        }
        if moved {
            reloadProvider()
            return Array(repeating: nil, count: families.count)
        }
        // A short answer would read as "erased" for the families it left out.
        precondition(hits.count == families.count)
        return hits
    }

    /// The cached active key of `family` when this process still holds `seals` reserved
    /// seals for it and it is not past its age limit; the seals are taken.
    private func cachedActive(_ family: KeyFamily, seals: Int) -> DataEncryptionKey? {
        guard seals >= 0 else { return nil }
        let now = Deadline.now
        let (hit, moved): (DataEncryptionKey?, Bool) = cache.withLock { cache in
            if cache.sync(generation.value) { return (nil, true) }
            // One hash, and the entry read and charged in place (not copied).
            guard let index = cache.active.index(forKey: family) else { return (nil, false) }
            return (Self.charge(&cache.active.values[index], seals: UInt64(seals), now: now), false)
        }
        if moved { reloadProvider() }
        return hit
    }

    /// The entry's key when it is fresh and holds `seals` reserved seals, which it gives up.
    private static func charge(
        _ entry: inout Cache.Entry,
        seals: UInt64,
        now: Deadline
    )
        -> DataEncryptionKey?
    {
        guard entry.expires > now, entry.budget >= seals, entry.staleAt.map({ $0 > now }) ?? true else { return nil }
        entry.budget -= seals
        return entry.key
    }

    /// Caches a key read while the generation was `observed`, only if nothing moved it since:
    /// a key read just before an erasure committed must not outlive the erasure in the cache.
    private func remember(
        active key: DataEncryptionKey,
        for family: KeyFamily,
        budget: UInt64,
        staleAt: Deadline?,
        observed: UInt64
    ) {
        let expires = Deadline.now + configuration.cacheTTL
        cache.withLock { cache in
            _ = cache.sync(generation.value)
            guard cache.generation == observed else { return }
            cache.makeRoom(capacity: configuration.cacheCapacity)
            cache.active[family] = Cache.Entry(key: key, expires: expires, budget: budget, staleAt: staleAt)
            cache.keys[key.reference] = Cache.Held(key: key, expires: expires)
        }
    }

    private func remember(_ key: DataEncryptionKey, observed: UInt64) {
        let expires = Deadline.now + configuration.cacheTTL
        cache.withLock { cache in
            _ = cache.sync(generation.value)
            guard cache.generation == observed else { return }
            cache.makeRoom(capacity: configuration.cacheCapacity)
            cache.keys[key.reference] = Cache.Held(key: key, expires: expires)
        }
    }

    private func invalidate(family id: KeyID) {
        cache.withLock { $0.drop(family: id) }
    }

    /// Writes a consistent copy of the key database to `url` (SQLite online backup).
    ///
    /// The copy holds only wrapped keys; it is useless without the keyring, and after a
    /// ``finalize()`` it no longer opens the erased subjects' keys.
    public func backup(to url: URL) throws(KeyStoreError) {
        do {
            try PrivateFiles.prepare(url.path)
            let target = try DatabaseQueue(path: url.path)
            try db.backup(to: target)
            try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
        } catch {
            throw KeyStoreError(.storage, "backup to \(url.path) failed")
        }
    }

    /// Unwrapped keys held in this process's cache (for metrics).
    public var cachedKeyCount: Int { cache.withLock { $0.keys.count } }

    /// Drops every unwrapped key this process holds.
    public func clearCache() {
        cache.withLock { $0 = Cache(generation: generation.value) }
    }

    private struct Legacy: Error {}
    private struct Newer: Error { var format: Int }

    func read<T>(_ body: (Database) throws -> T) throws(KeyStoreError) -> T {
        do { return try db.read(body) } catch let error as KeyStoreError { throw error } catch {
            throw KeyStoreError(.storage, "read failed")
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws(KeyStoreError) -> T {
        do { return try db.write(body) } catch let error as KeyStoreError { throw error } catch {
            throw KeyStoreError(.storage, "write failed")
        }
    }

    private func reloadProvider() {
        try? provider.reload()
    }

    /// Process-local unwrapped keys.
    struct Cache {
        struct Entry {
            var key: DataEncryptionKey
            var expires: Deadline
            /// Seals this process reserved on disk and has not used yet (active keys).
            var budget: UInt64 = 0
            /// When the key passes its age limit (active keys).
            var staleAt: Deadline? = nil
        }

        /// A decrypting key in the cache, held in the dictionary's storage: a key is one object
        /// (``DataEncryptionKey`` keeps its parts in one), so a lookup reads no other.
        struct Held: Sendable {
            let key: DataEncryptionKey
            let expires: Deadline
        }

        var generation: UInt64
        var active: [KeyFamily: Entry] = [:]
        var keys: [KeyReference: Held] = [:]
        var erased: Set<KeyID> = []

        init(generation: UInt64) { self.generation = generation }

        /// Drops everything when another writer moved the generation; true if it did.
        mutating func sync(_ current: UInt64) -> Bool {
            guard current != generation else { return false }
            active = [:]
            keys = [:]
            erased = []
            generation = current
            return true
        }

        mutating func drop(family id: KeyID) {
            active = active.filter { $0.value.key.reference.id != id }
            keys = keys.filter { $0.key.id != id }
        }

        mutating func makeRoom(capacity: Int) {
            guard keys.count >= capacity || active.count >= capacity else { return }
            let now = Deadline.now
            keys = keys.filter { $0.value.expires > now }
            active = active.filter { $0.value.expires > now }
            // Still full: forget half, arbitrary but bounded in time.
            if keys.count >= capacity {
                keys = Dictionary(uniqueKeysWithValues: keys.prefix(capacity / 2).map { ($0.key, $0.value) })
            }
            if active.count >= capacity {
                active = Dictionary(uniqueKeysWithValues: active.prefix(capacity / 2).map { ($0.key, $0.value) })
            }
        }
    }
}

struct ActiveRow {
    var version: UInt32
    var kekVersion: UInt32
    var wrapped: [UInt8]
    /// Seals reserved on disk so far: an upper bound on the seals made under this version.
    var sealed: UInt64
    var createdAt: Int64

    /// From columns `first`...`first + 4`: version, kek_version, wrapped, sealed, created_at.
    init(_ row: borrowing RawStatement, from first: Int32) throws(KeyStoreError) {
        guard let version = UInt32(exactly: try row.int(first)),
            let kekVersion = UInt32(exactly: try row.int(first + 1))
        else { throw KeyStoreError(.storage, "bad key version") }
        self.version = version
        self.kekVersion = kekVersion
        wrapped = try row.blob(first + 2)
        sealed = UInt64(clamping: try row.int(first + 3))
        createdAt = try row.int(first + 4)
    }

    /// True when reserving `reservation` more seals would pass the seal limit, or the
    /// version is older than the age limit.
    func needsRotation(adding reservation: UInt64, _ limits: DEKUsageLimits, at now: Int64) -> Bool {
        if sealed > limits.maxSeals || reservation > limits.maxSeals - sealed { return true }
        if let age = limits.maxAgeSeconds, now - createdAt >= age { return true }
        return false
    }
}

extension KeyFamily {
    var labelText: String { tenant.isEmpty ? name : "\(tenant)/\(name)" }
}

/// A point on the monotonic clock `ContinuousClock` reads (`CLOCK_BOOTTIME`), in nanoseconds.
///
/// The key cache compares deadlines for every family of every batch and every decrypted
/// field; `ContinuousClock.Instant`'s comparison is a call into the standard library each time.
struct Deadline: Comparable, Sendable {
    var nanoseconds: UInt64

    static var now: Deadline {
        var t = timespec()
        clock_gettime(CLOCK_BOOTTIME, &t)
        return Deadline(nanoseconds: UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec))
    }

    /// `lhs` moved by `rhs`, saturating: a negative duration is none, a huge one never passes.
    static func + (lhs: Deadline, rhs: Duration) -> Deadline {
        let (seconds, attoseconds) = rhs.components
        guard seconds >= 0, attoseconds >= 0 else { return lhs }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (span, carry) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        let (sum, again) = lhs.nanoseconds.addingReportingOverflow(span)
        return Deadline(nanoseconds: overflow || carry || again ? .max : sum)
    }

    static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
}
