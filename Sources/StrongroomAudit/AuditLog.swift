import Crypto
public import Foundation
import GRDB
import StrongroomFiles
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An inclusion proof: leaf `index` is in the tree of `size` entries with `root`.
public struct InclusionProof: Sendable, Hashable {
    /// The leaf's index.
    public var index: UInt64
    /// The tree size the proof is for.
    public var size: UInt64
    /// The leaf hash.
    public var leafHash: Merkle.Hash
    /// Sibling hashes, bottom up.
    public var path: [Merkle.Hash]
    /// The root of the tree of `size`.
    public var root: Merkle.Hash

    /// Verifies the proof on its own terms (RFC 9162 §2.1.3.2).
    public func verify() throws(AuditError) {
        try Merkle.verifyInclusion(index: index, size: size, leafHash: leafHash, proof: path, root: root)
    }

    /// The proof as a JSON object, hashes in lowercase hex.
    public var json: String {
        #"{"index":\#(index),"leafHash":"\#(Merkle.hex(leafHash))","path":[\#(Merkle.hexList(path))],"#
            + #""root":"\#(Merkle.hex(root))","size":\#(size)}"#
    }
}

/// A consistency proof: the tree of `newSize` extends the tree of `oldSize`.
public struct ConsistencyProof: Sendable, Hashable {
    /// The older size.
    public var oldSize: UInt64
    /// The newer size.
    public var newSize: UInt64
    /// Root at the older size.
    public var oldRoot: Merkle.Hash
    /// Root at the newer size.
    public var newRoot: Merkle.Hash
    /// Proof hashes.
    public var path: [Merkle.Hash]

    /// Verifies the proof on its own terms (RFC 9162 §2.1.4.2).
    public func verify() throws(AuditError) {
        try Merkle.verifyConsistency(size1: oldSize, size2: newSize, root1: oldRoot, root2: newRoot, proof: path)
    }

    /// The proof as a JSON object, hashes in lowercase hex.
    public var json: String {
        #"{"newRoot":"\#(Merkle.hex(newRoot))","newSize":\#(newSize),"oldRoot":"\#(Merkle.hex(oldRoot))","#
            + #""oldSize":\#(oldSize),"path":[\#(Merkle.hexList(path))]}"#
    }
}

/// What a full verification covered.
public struct AuditVerification: Sendable, Hashable {
    /// Entries replayed.
    public var size: UInt64
    /// Signed checkpoints checked.
    public var checkpoints: Int
    /// The root of the whole log.
    public var root: Merkle.Hash
}

/// The append-only, tamper-evident audit log: RFC 6962 Merkle tree in SQLite, signed
/// c2sp.org/tlog-checkpoint notes after every append.
///
/// `audit.sqlite` holds entries (canonical JSON and leaf hash), the complete subtrees'
/// hashes (so a proof costs O(log n) reads at any size) and the checkpoints; `audit.key`
/// (0600) holds the Ed25519 signing key in signed-note `PRIVATE+KEY+…` form. Appends are
/// durable when they return (WAL, `synchronous = FULL`) and grouped: one transaction, one
/// fsync and one checkpoint signature per call, however many entries.
public final class AuditLog: Sendable {
    /// The database file in the data directory.
    public static let databaseFileName = "audit.sqlite"
    /// The signing key file in the data directory.
    public static let keyFileName = "audit.key"

    /// The log's origin line (and signing key name).
    public let origin: String
    /// The key that verifies this log's checkpoints.
    public var verifierKey: NoteVerifierKey { signer.verifierKey }

    let db: DatabaseQueue
    let signer: NoteSigner
    /// Right edge of the tree: the complete subtrees of the current size, largest first.
    let frontier: Mutex<Frontier>

    struct Frontier {
        var size: UInt64 = 0
        var nodes: [(level: Int, hash: Merkle.Hash)] = []
        /// True once the edge was built by this process or checked against the signed checkpoint.
        var trusted = false

        var root: Merkle.Hash {
            guard var r = nodes.last?.hash else { return Merkle.emptyRoot }
            for node in nodes.dropLast().reversed() { r = Merkle.nodeHash(node.hash, r) }
            return r
        }

        /// Adds a leaf; returns the interior nodes it completes.
        mutating func add(_ leaf: Merkle.Hash) -> [(level: Int, index: UInt64, hash: Merkle.Hash)] {
            var completed: [(Int, UInt64, Merkle.Hash)] = []
            var hash = leaf
            var level = 0
            var index = size
            while index & 1 == 1, let left = nodes.last, left.level == level {
                nodes.removeLast()
                hash = Merkle.nodeHash(left.hash, hash)
                level += 1
                index >>= 1
                completed.append((level, index, hash))
            }
            nodes.append((level, hash))
            size += 1
            return completed
        }
    }

    /// Opens the log in `dataDirectory`, creating it and its signing key on first use.
    ///
    /// - Parameter signingKey: where the Ed25519 signing key lives (created 0600 on first use).
    ///   Keep it outside the data directory, under another owner, so that whoever can rewrite
    ///   the log cannot also re-sign it; nil keeps it at `<dataDirectory>/audit.key`.
    public init(dataDirectory: URL, signingKey: URL? = nil) throws(AuditError) {
        do {
            try PrivateFiles.directory(dataDirectory.path)
        } catch {
            throw AuditError(.storage, "cannot create \(dataDirectory.path)")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // FULL in WAL mode: a returned append survives power loss. The page size (set before
            // WAL, and only in a new file): a consume batch's entries name about a thousand keys
            // each, tens of kilobytes that 4 KiB pages split into overflow chains.
            try db.execute(
                sql:
                    "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY"
            )
        }
        let path = dataDirectory.appendingPathComponent(Self.databaseFileName).path
        let origin: String
        do {
            try PrivateFiles.prepareDatabase(path)
            db = try DatabaseQueue(path: path, configuration: config)
            origin = try db.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                        CREATE TABLE IF NOT EXISTS entry (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, leaf BLOB NOT NULL);
                        CREATE TABLE IF NOT EXISTS node (
                            level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
                            PRIMARY KEY (level, idx)) WITHOUT ROWID;
                        CREATE TABLE IF NOT EXISTS checkpoint (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
                        """
                )
                if let existing = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'origin'") {
                    return existing
                }
                let id = (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
                let fresh = "strongroom.local/audit/\(id)"
                try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('origin', ?)", arguments: [fresh])
                return fresh
            }
        } catch {
            throw AuditError(.storage, "cannot open \(path)")
        }
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        self.origin = origin
        let hasCheckpoints: Bool
        do {
            hasCheckpoints = try db.read { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM checkpoint LIMIT 1") ?? false
            }
        } catch {
            throw AuditError(.storage, "cannot read \(path)")
        }
        self.signer = try Self.loadOrCreateKey(
            signingKey ?? dataDirectory.appendingPathComponent(Self.keyFileName),
            origin: origin,
            hasCheckpoints: hasCheckpoints
        )
        var empty = Frontier()
        empty.trusted = true
        self.frontier = Mutex(empty)
        _ = try read { db in try self.syncFrontier(db) }
    }

    // MARK: Appending

    /// Appends `entries` durably in one transaction and signs a checkpoint of the new size.
    ///
    /// - Returns: the indices the entries received.
    @discardableResult
    public func append(_ entries: [AuditEntry]) throws(AuditError) -> Range<UInt64> {
        guard !entries.isEmpty else { return size..<size }
        let working: Frontier = try write { db in
            var working = try self.syncFrontier(db)
            // Never sign on top of a tail no signature covers: that would launder tampering.
            if !working.trusted {
                try self.checkTail(db, working)
                working.trusted = true
            }
            let insertEntry = try db.cachedStatement(sql: "INSERT INTO entry (idx, data, leaf) VALUES (?, ?, ?)")
            let insertNode = try db.cachedStatement(sql: "INSERT INTO node (level, idx, hash) VALUES (?, ?, ?)")
            for var entry in entries {
                entry.index = working.size
                let bytes = entry.canonicalBytes()
                let leaf = Merkle.leafHash(bytes)
                try insertEntry.execute(arguments: [Int64(entry.index), Data(bytes), Data(leaf)])
                for node in working.add(leaf) {
                    try insertNode.execute(arguments: [node.level, Int64(node.index), Data(node.hash)])
                }
            }
            let note = try self.signer.sign(
                Checkpoint(origin: self.origin, size: working.size, root: working.root).text
            )
            // Cached statements: SQLite parsing them anew took a tenth of an append.
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO checkpoint (size, note) VALUES (?, ?)")
                .execute(arguments: [Int64(working.size), note])
            return working
        }
        // Only a committed transaction moves the in-memory edge, and never backwards.
        frontier.withLock { if working.size > $0.size { $0 = working } }
        return (working.size - UInt64(entries.count))..<working.size
    }

    /// The stored tail must be exactly what the newest checkpoint signed.
    func checkTail(_ db: Database, _ edge: Frontier) throws {
        guard edge.size > 0 else { return }
        guard let note = try String.fetchOne(db, sql: "SELECT note FROM checkpoint ORDER BY size DESC LIMIT 1") else {
            throw AuditError(.tampered, "no signed checkpoint covers the stored entries", index: 0)
        }
        let checkpoint = try Checkpoint(text: try SignedNote.verified(note, keys: [verifierKey]))
        guard checkpoint.size == edge.size, Merkle.constantTimeEqual(checkpoint.root, edge.root) else {
            throw AuditError(
                .tampered,
                "stored entries (\(edge.size)) differ from the newest signed checkpoint (\(checkpoint.size)): "
                    + "appends refused, run `strongroom audit verify`",
                index: min(checkpoint.size, edge.size)
            )
        }
    }

    /// Appends one entry.
    @discardableResult
    public func append(_ entry: AuditEntry) throws(AuditError) -> UInt64 {
        try append([entry]).lowerBound
    }

    /// The right edge for the stored size: ours, or rebuilt when another process appended.
    @discardableResult
    func syncFrontier(_ db: Database) throws -> Frontier {
        let stored = UInt64(
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(MAX(idx) + 1, 0) FROM entry")) ?? 0
        )
        let current = frontier.withLock { $0 }
        if stored == current.size { return current }
        var fresh = Frontier()
        fresh.size = stored
        var start: UInt64 = 0
        for level in stride(from: 63, through: 0, by: -1) where stored & (1 << UInt64(level)) != 0 {
            fresh.nodes.append((level, try completeHash(db, level: level, index: start >> UInt64(level))))
            start += 1 << UInt64(level)
        }
        frontier.withLock { $0 = fresh }
        return fresh
    }

    // MARK: Reading

    /// Number of entries.
    public var size: UInt64 { frontier.withLock { $0.size } }

    /// The current root.
    public var root: Merkle.Hash { frontier.withLock { $0.root } }

    /// The stored bytes of entry `index`.
    public func entryBytes(at index: UInt64) throws(AuditError) -> [UInt8] {
        guard index < size else { throw AuditError(.outOfRange, "no entry \(index)") }
        return try read { db in
            guard
                let data = try Data.fetchOne(db, sql: "SELECT data FROM entry WHERE idx = ?", arguments: [Int64(index)])
            else { throw AuditError(.outOfRange, "no entry \(index)") }
            return Array(data)
        }
    }

    /// Entries from `start`, at most `limit`, in order, as (index, canonical bytes).
    public func entries(from start: UInt64, limit: Int) throws(AuditError) -> [(index: UInt64, bytes: [UInt8])] {
        // Past the end (also past Int64, which SQLite cannot hold): nothing, not a trap.
        guard start < size, limit > 0 else { return [] }
        return try read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT idx, data FROM entry WHERE idx >= ? ORDER BY idx LIMIT ?",
                arguments: [Int64(start), limit]
            ).map { row in (UInt64(row[0] as Int64), Array(row[1] as Data)) }
        }
    }

    /// The root of the tree of the first `size` entries.
    public func root(size: UInt64) throws(AuditError) -> Merkle.Hash {
        try checkSize(size)
        return try read { db in
            try Merkle.rangeHash(0..<size) { level, index in try self.completeHash(db, level: level, index: index) }
        }
    }

    /// The inclusion proof of entry `index` in the tree of `size` (default: the whole log).
    public func inclusionProof(index: UInt64, size: UInt64? = nil) throws(AuditError) -> InclusionProof {
        let size = size ?? self.size
        try checkSize(size)
        guard index < size else { throw AuditError(.outOfRange, "entry \(index) not below tree size \(size)") }
        return try read { db in
            let complete = { (level: Int, i: UInt64) throws -> Merkle.Hash in
                try self.completeHash(db, level: level, index: i)
            }
            return InclusionProof(
                index: index,
                size: size,
                leafHash: try complete(0, index),
                path: try Merkle.inclusionPath(index: index, size: size, complete: complete),
                root: try Merkle.rangeHash(0..<size, complete: complete)
            )
        }
    }

    /// The consistency proof from `oldSize` to `newSize` (default: the whole log).
    public func consistencyProof(oldSize: UInt64, newSize: UInt64? = nil) throws(AuditError) -> ConsistencyProof {
        let newSize = newSize ?? size
        try checkSize(newSize)
        guard oldSize > 0, oldSize <= newSize else {
            throw AuditError(.outOfRange, "sizes must satisfy 0 < old ≤ new ≤ \(size)")
        }
        return try read { db in
            let complete = { (level: Int, i: UInt64) throws -> Merkle.Hash in
                try self.completeHash(db, level: level, index: i)
            }
            return ConsistencyProof(
                oldSize: oldSize,
                newSize: newSize,
                oldRoot: try Merkle.rangeHash(0..<oldSize, complete: complete),
                newRoot: try Merkle.rangeHash(0..<newSize, complete: complete),
                path: try Merkle.consistencyProof(old: oldSize, new: newSize, complete: complete)
            )
        }
    }

    /// Total bytes of the stored entries.
    public func storedBytes() throws(AuditError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(length(data)), 0) FROM entry") ?? 0 }
    }

    /// The newest signed checkpoint note, nil for an empty log.
    public func latestCheckpoint() throws(AuditError) -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT note FROM checkpoint ORDER BY size DESC LIMIT 1") }
    }

    func completeHash(_ db: Database, level: Int, index: UInt64) throws -> Merkle.Hash {
        let data: Data?
        if level == 0 {
            data = try Data.fetchOne(
                db.cachedStatement(sql: "SELECT leaf FROM entry WHERE idx = ?"),
                arguments: [Int64(index)]
            )
        } else {
            data = try Data.fetchOne(
                db.cachedStatement(sql: "SELECT hash FROM node WHERE level = ? AND idx = ?"),
                arguments: [level, Int64(index)]
            )
        }
        guard let data, data.count == 32 else {
            throw AuditError(.tampered, "missing tree node at level \(level)", index: index << UInt64(level))
        }
        return Array(data)
    }

    func checkSize(_ size: UInt64) throws(AuditError) {
        guard size <= self.size else { throw AuditError(.outOfRange, "size \(size) beyond the log's \(self.size)") }
    }

    // MARK: Verifying

    /// Replays the whole log from its stored entries and checks every signed checkpoint.
    ///
    /// Trusts nothing stored but the entries themselves and the checkpoint signatures:
    /// every leaf hash and root is recomputed. Fails on the first problem and names the
    /// first bad entry: a changed byte, a missing entry, two entries swapped, a truncated
    /// tail, entries no checkpoint signs, a checkpoint not signed by `trustedKeys`.
    ///
    /// Someone who can write the data directory can also delete checkpoints and cut the tail
    /// below them, or replace the signing key: checkpoints kept elsewhere (`external`,
    /// checked against `trustedKeys`) are what catch that.
    ///
    /// - Parameters:
    ///   - trustedKeys: keys whose signatures count (default: this log's own key).
    ///   - external: signed checkpoint notes kept outside the data directory.
    ///   - progress: called with (entries checked, total) every 65,536 entries.
    public func verify(
        trustedKeys: [NoteVerifierKey]? = nil,
        external: [String] = [],
        progress: ((UInt64, UInt64) -> Void)? = nil
    ) throws(AuditError) -> AuditVerification {
        let keys = trustedKeys ?? [verifierKey]
        var outside: [Checkpoint] = []
        for note in external {
            let checkpoint: Checkpoint
            do throws(AuditError) { checkpoint = try Checkpoint(text: try SignedNote.verified(note, keys: keys)) } catch
            {
                throw AuditError(.invalidCheckpoint, "external checkpoint: \(error.detail)")
            }
            guard checkpoint.origin == origin else {
                throw AuditError(.invalidCheckpoint, "external checkpoint is for another log (\(checkpoint.origin))")
            }
            outside.append(checkpoint)
        }
        return try read { db in
            var checkpoints: [Checkpoint] = outside
            for row in try Row.fetchAll(db, sql: "SELECT size, note FROM checkpoint ORDER BY size") {
                guard let storedSize = (row[0] as Int64?).flatMap(UInt64.init(exactly:)), let text = row[1] as String?
                else { throw AuditError(.invalidCheckpoint, "unreadable checkpoint row") }
                let checkpoint: Checkpoint
                do throws(AuditError) {
                    checkpoint = try Checkpoint(text: try SignedNote.verified(text, keys: keys))
                } catch {
                    throw AuditError(.invalidCheckpoint, "checkpoint at size \(storedSize): \(error.detail)")
                }
                guard checkpoint.size == storedSize, checkpoint.origin == self.origin else {
                    throw AuditError(.invalidCheckpoint, "checkpoint at size \(storedSize) names another log or size")
                }
                checkpoints.append(checkpoint)
            }
            checkpoints.sort { $0.size < $1.size }
            let total = UInt64(try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM entry") ?? 0)
            var tree = Frontier()
            var next = checkpoints.startIndex
            var lastGood: UInt64 = 0
            while next < checkpoints.endIndex, checkpoints[next].size == 0 { next += 1 }
            let rows = try Row.fetchCursor(db, sql: "SELECT idx, data, leaf FROM entry ORDER BY idx")
            while let row = try rows.next() {
                // Decoded with checks: a tampered row is reported, never a crash.
                guard let index = (row[0] as Int64?).flatMap(UInt64.init(exactly:)), index >= tree.size else {
                    throw AuditError(.tampered, "entry with an invalid index", index: tree.size)
                }
                guard index == tree.size else {
                    throw AuditError(.tampered, "entry missing (next stored is \(index))", index: tree.size)
                }
                guard let data = row[1] as Data?, let stored = row[2] as Data? else {
                    throw AuditError(.tampered, "entry has no content or leaf hash", index: index)
                }
                guard let entry = AuditEntry(canonical: data) else {
                    throw AuditError(.tampered, "entry does not parse", index: index)
                }
                guard entry.index == index else {
                    throw AuditError(.tampered, "entry records index \(entry.index): moved or reordered", index: index)
                }
                let leaf = Merkle.leafHash(data)
                guard Merkle.constantTimeEqual(leaf, Array(stored)) else {
                    throw AuditError(.tampered, "content does not match its leaf hash", index: index)
                }
                _ = tree.add(leaf)
                while next < checkpoints.endIndex, checkpoints[next].size == tree.size {
                    guard Merkle.constantTimeEqual(tree.root, checkpoints[next].root) else {
                        throw AuditError(
                            .tampered,
                            "root differs from the signed checkpoint at size \(tree.size): an entry in "
                                + "[\(lastGood), \(tree.size)) was rewritten with its hashes",
                            index: lastGood
                        )
                    }
                    lastGood = tree.size
                    next += 1
                }
                if tree.size & 0xFFFF == 0 { progress?(tree.size, total) }
            }
            if next < checkpoints.endIndex {
                throw AuditError(
                    .tampered,
                    "log truncated: \(tree.size) entries but a signed checkpoint covers \(checkpoints[next].size)",
                    index: tree.size
                )
            }
            guard lastGood == tree.size else {
                throw AuditError(
                    .tampered,
                    "entries [\(lastGood), \(tree.size)) are covered by no signed checkpoint",
                    index: lastGood
                )
            }
            progress?(tree.size, total)
            return AuditVerification(size: tree.size, checkpoints: checkpoints.count, root: tree.root)
        }
    }

    /// The signed checkpoint stored for `size`, verified; nil when none was signed at that size.
    public func signedCheckpoint(size: UInt64) throws(AuditError) -> Checkpoint? {
        let note: String? = try read { db in
            try String.fetchOne(db, sql: "SELECT note FROM checkpoint WHERE size = ?", arguments: [Int64(size)])
        }
        guard let note else { return nil }
        let checkpoint = try Checkpoint(text: try SignedNote.verified(note, keys: [verifierKey]))
        guard checkpoint.size == size, checkpoint.origin == origin else {
            throw AuditError(.invalidCheckpoint, "checkpoint at size \(size) names another log or size")
        }
        return checkpoint
    }

    /// Whether `root` at `size` is covered by a signed checkpoint: true when one matches, false
    /// when none was signed at that size; a checkpoint that names another root is an error.
    public func isSigned(size: UInt64, root: Merkle.Hash) throws(AuditError) -> Bool {
        guard let checkpoint = try signedCheckpoint(size: size) else { return false }
        guard checkpoint.root == root else {
            throw AuditError(.tampered, "the root at size \(size) differs from its signed checkpoint")
        }
        return true
    }

    // MARK: Storage helpers

    private func read<T>(_ body: (Database) throws -> T) throws(AuditError) -> T {
        do { return try db.read(body) } catch let error as AuditError { throw error } catch {
            throw AuditError(.storage, "read failed")
        }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(AuditError) -> T {
        do { return try db.write(body) } catch let error as AuditError { throw error } catch {
            throw AuditError(.storage, "write failed")
        }
    }

    // MARK: Signing key

    /// Loads `PRIVATE+KEY+name+id+base64(0x01 ‖ seed)` from a 0600 file, creating it if absent.
    static func loadOrCreateKey(_ url: URL, origin: String, hasCheckpoints: Bool) throws(AuditError) -> NoteSigner {
        var info = stat()
        if stat(url.path, &info) != 0 {
            guard !hasCheckpoints else {
                throw AuditError(
                    .signingKey,
                    "\(url.path) is missing but the log has signed checkpoints: restore the key, do not replace it"
                )
            }
            let key = Curve25519.Signing.PrivateKey()
            let signer = try NoteSigner(name: origin, privateKey: key)
            let id = signer.verifierKey.keyID.map { String(format: "%02x", $0) }.joined()
            let text = "PRIVATE+KEY+\(origin)+\(id)+\(Data([1] + Array(key.rawRepresentation)).base64EncodedString())\n"
            // Written whole to a temporary name, then linked into place: a reader never sees
            // half a key, and of two processes creating it at once exactly one wins.
            let temporary = url.path + ".\(getpid()).tmp"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw AuditError(.signingKey, "cannot create \(url.path)") }
            let bytes = Array(text.utf8)
            let written = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd)
            close(fd)
            defer { unlink(temporary) }
            guard written == bytes.count, synced == 0 else { throw AuditError(.signingKey, "cannot write \(url.path)") }
            if link(temporary, url.path) == 0 {
                let directory = open(url.deletingLastPathComponent().path, O_RDONLY)
                if directory >= 0 {
                    fsync(directory)
                    close(directory)
                }
                return signer
            }
            guard errno == EEXIST, stat(url.path, &info) == 0 else {
                throw AuditError(.signingKey, "cannot create \(url.path)")
            }
        }
        guard info.st_mode & 0o077 == 0 else {
            throw AuditError(
                .signingKey,
                "\(url.path) is accessible by group or others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600"
            )
        }
        guard info.st_uid == geteuid() else { throw AuditError(.signingKey, "\(url.path) is owned by another user") }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw AuditError(.signingKey, "cannot read \(url.path)")
        }
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 4)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY", parts[2] == origin,
            let blob = Data(base64Encoded: String(parts[4])), blob.count == 33, blob.first == 1,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: blob.dropFirst())
        else { throw AuditError(.signingKey, "\(url.path) is not this log's signing key") }
        let signer = try NoteSigner(name: origin, privateKey: key)
        guard signer.verifierKey.keyID.map({ String(format: "%02x", $0) }).joined() == parts[3] else {
            throw AuditError(.signingKey, "\(url.path): key id does not match the key")
        }
        return signer
    }
}

private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}
