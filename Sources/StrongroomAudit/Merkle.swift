import Crypto
public import Foundation

/// RFC 6962 Merkle tree hashing, proofs and their verification (RFC 9162 §2.1).
///
/// Leaf hash = SHA-256(0x00 ‖ entry), node hash = SHA-256(0x01 ‖ left ‖ right); the empty
/// tree's root is SHA-256 of nothing. A tree of n leaves splits at the largest power of two
/// below n.
public enum Merkle {
    /// A 32-byte SHA-256 value.
    public typealias Hash = [UInt8]

    /// A hash in lowercase hex.
    public static func hex(_ hash: Hash) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(hash.count * 2)
        for byte in hash {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hashes as quoted hex, comma-separated (the inside of a JSON array).
    static func hexList(_ hashes: [Hash]) -> String { hashes.map { "\"\(hex($0))\"" }.joined(separator: ",") }

    /// The leaf hash of `entry`.
    public static func leafHash(_ entry: some DataProtocol) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0])
        hasher.update(data: entry)
        return bytes(hasher.finalize())
    }

    /// The hash of a leaf whose entry is these bytes (no generic data path: the hot case).
    public static func leafHash(_ entry: [UInt8]) -> Hash {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0)) { hasher.update(bufferPointer: $0) }
        entry.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return bytes(hasher.finalize())
    }

    /// The hash of an interior node.
    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(1)) { hasher.update(bufferPointer: $0) }
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return bytes(hasher.finalize())
    }

    static func bytes(_ digest: SHA256.Digest) -> Hash { digest.withUnsafeBytes { Array($0) } }

    /// Interior-node hashes already computed, by their two children's bytes.
    ///
    /// Inclusion proofs of neighbouring leaves of one tree share their upper nodes: checked in
    /// a run (a batch's records), each node is hashed once. A pure cache of ``nodeHash(_:_:)``
    /// keyed by the whole 64-byte input, so a proof gives exactly the root it gives without
    /// one, whatever the proofs before it held.
    ///
    /// Direct-mapped: a node has one slot, picked by a word of each child, and a newer node
    /// takes the slot over. No lookup costs more than one 64-byte comparison, whatever the
    /// bytes (a proof's path is the writer's to choose): nodes that share a slot only miss.
    public struct NodeHashCache: Sendable {
        /// The two children, end to end, as eight words.
        struct Children: Equatable {
            var w0, w1, w2, w3, w4, w5, w6, w7: UInt64
        }
        struct Slot {
            var children: Children
            var hash: Word32
        }
        var slots: [Slot?]
        let mask: Int
        /// Entries held at most (0: no caching).
        public let capacity: Int

        /// Nodes held now.
        var held: Int { slots.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }

        /// An empty cache of at most `capacity` nodes.
        public init(capacity: Int = 4096) {
            self.capacity = max(0, capacity)
            // Slots: the largest power of two not above the capacity, at most 2^16 (the table is
            // made whole on first use).
            let wanted = min(self.capacity, 1 << 16)
            let count = wanted > 0 ? 1 << (Int.bitWidth - 1 - wanted.leadingZeroBitCount) : 0
            slots = []
            mask = max(0, count - 1)
        }

        /// ``Merkle/nodeHash(_:_:)`` of two hashes, from the cache when it holds them.
        mutating func nodeHash(_ left: Word32, _ right: Word32) -> Word32 {
            guard capacity > 0 else { return Word32.node(left, right) }
            let key = Children(
                w0: left.w0,
                w1: left.w1,
                w2: left.w2,
                w3: left.w3,
                w4: right.w0,
                w5: right.w1,
                w6: right.w2,
                w7: right.w3
            )
            if slots.isEmpty { slots = Array(repeating: nil, count: mask + 1) }
            let index = Int(truncatingIfNeeded: key.w0 ^ key.w5) & mask
            if let slot = slots[index], slot.children == key { return slot.hash }
            let hash = Word32.node(left, right)
            slots[index] = Slot(children: key, hash: hash)
            return hash
        }
    }

    /// A 32-byte hash held inline, its bytes in memory order: a proof's nodes are checked
    /// without a heap buffer per node.
    struct Word32: Equatable {
        var w0, w1, w2, w3: UInt64

        /// The 32 bytes of `buffer` from `offset`.
        init(_ buffer: UnsafeRawBufferPointer, at offset: Int) {
            w0 = buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            w1 = buffer.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
            w2 = buffer.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)
            w3 = buffer.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self)
        }

        var bytes: Hash { withUnsafeBytes(of: self) { Array($0) } }

        /// ``Merkle/nodeHash(_:_:)`` of `left` and `right`.
        static func node(_ left: Word32, _ right: Word32) -> Word32 {
            var hasher = SHA256()
            withUnsafeBytes(of: UInt8(1)) { hasher.update(bufferPointer: $0) }
            withUnsafeBytes(of: left) { hasher.update(bufferPointer: $0) }
            withUnsafeBytes(of: right) { hasher.update(bufferPointer: $0) }
            return hasher.finalize().withUnsafeBytes { Word32($0, at: 0) }
        }
    }

    /// The root of the empty tree.
    public static let emptyRoot: Hash = Array(SHA256.hash(data: [UInt8]()))

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func split(_ n: UInt64) -> UInt64 {
        precondition(n >= 2)
        return 1 << (63 - (n - 1).leadingZeroBitCount)
    }

    /// MTH over `range`, given a source of complete aligned subtree hashes.
    ///
    /// Every split leaves an aligned complete subtree on the left, so `complete(level, index)`
    /// is asked only for subtrees that exist.
    static func rangeHash<E: Error>(
        _ range: Range<UInt64>,
        complete: (_ level: Int, _ index: UInt64) throws(E) -> Hash
    ) throws(E) -> Hash {
        let n = range.upperBound - range.lowerBound
        if n == 0 { return emptyRoot }
        if n & (n - 1) == 0 {
            let level = n.trailingZeroBitCount
            return try complete(level, range.lowerBound >> UInt64(level))
        }
        let k = split(n)
        let left = try complete(k.trailingZeroBitCount, range.lowerBound >> UInt64(k.trailingZeroBitCount))
        let right = try rangeHash((range.lowerBound + k)..<range.upperBound, complete: complete)
        return nodeHash(left, right)
    }

    /// RFC 6962 §2.1.1 PATH(m, D[n]): the audit path of leaf `index` in the tree of `size`.
    static func inclusionPath<E: Error>(
        index: UInt64,
        size: UInt64,
        complete: (_ level: Int, _ index: UInt64) throws(E) -> Hash,
        known: (_ range: Range<UInt64>) -> Hash? = { _ in nil }
    ) throws(E) -> [Hash] {
        precondition(index < size)
        var path: [Hash] = []
        var start: UInt64 = 0
        var n = size
        var m = index
        // Iterative form of the recursion: record siblings top-down, then reverse.
        while n > 1 {
            let k = split(n)
            if m < k {
                let right = (start + k)..<(start + n)
                if let hash = known(right) {
                    path.append(hash)
                } else {
                    path.append(try rangeHash(right, complete: complete))
                }
                n = k
            } else {
                path.append(try rangeHash(start..<(start + k), complete: complete))
                start += k
                m -= k
                n -= k
            }
        }
        return path.reversed()
    }

    /// RFC 6962 §2.1.2 PROOF(m, D[n]): the consistency proof from size `old` to `new`.
    static func consistencyProof<E: Error>(
        old: UInt64,
        new: UInt64,
        complete: (_ level: Int, _ index: UInt64) throws(E) -> Hash
    ) throws(E) -> [Hash] {
        precondition(0 < old && old <= new)
        if old == new { return [] }
        var proof: [Hash] = []
        var start: UInt64 = 0
        var m = old
        var n = new
        var wholeOld = true
        // SUBPROOF(m, D[start..<start+n], b), unrolled.
        while m != n {
            let k = split(n)
            if m <= k {
                proof.append(try rangeHash((start + k)..<(start + n), complete: complete))
                n = k
            } else {
                proof.append(try rangeHash(start..<(start + k), complete: complete))
                start += k
                m -= k
                n -= k
                wholeOld = false
            }
        }
        if !wholeOld { proof.append(try rangeHash(start..<(start + m), complete: complete)) }
        return proof.reversed()
    }

    /// A tree held in memory with every complete subtree, for many proofs over one batch.
    public struct Tree: Sendable {
        /// `levels[l][i]` is the complete subtree of 2^l leaves starting at leaf i·2^l.
        public let levels: [[Hash]]
        /// The incomplete subtrees `[start, size)` along the right edge, by start: every path
        /// of a tree whose size is not a power of two needs one, so each is hashed once.
        let rightEdge: [UInt64: Hash]
        /// The number of leaves.
        public var size: UInt64 { UInt64(levels.first?.count ?? 0) }

        /// Builds the complete subtrees of `leaves` (leaf hashes): n − 1 node hashes at most.
        public init(leaves: [Hash]) {
            var levels = [leaves]
            while let last = levels.last, last.count > 1 {
                levels.append(
                    stride(from: 0, to: last.count - 1, by: 2).map { Merkle.nodeHash(last[$0], last[$0 + 1]) }
                )
            }
            self.levels = levels
            var edge: [UInt64: Hash] = [:]
            // Right to left: each incomplete range is its complete left part and the next one.
            var start = UInt64(0)
            var starts: [UInt64] = []
            var n = UInt64(leaves.count)
            while n > 1, n & (n - 1) != 0 {
                starts.append(start)
                let k = split(n)
                start += k
                n -= k
            }
            var right: Hash? = nil
            for s in starts.reversed() {
                let k = split(UInt64(leaves.count) - s)
                let left = levels[k.trailingZeroBitCount][Int(s >> UInt64(k.trailingZeroBitCount))]
                let tail = right ?? rangeHash((s + k)..<UInt64(leaves.count)) { levels[$0][Int($1)] }
                let hash = nodeHash(left, tail)
                edge[s] = hash
                right = hash
            }
            self.rightEdge = edge
        }

        /// The root (RFC 6962 MTH).
        public var root: Hash {
            rightEdge[0] ?? rangeHash(0..<size) { (level: Int, i: UInt64) -> Hash in levels[level][Int(i)] }
        }

        /// PATH(index) with its hashes end to end, as a record header carries them: one
        /// array, filled by copies of the tree's hashes (no array per hash, none hashed again).
        public func inclusionPathBytes(_ index: UInt64) -> [UInt8] {
            let size = self.size
            precondition(index < size)
            // Each step top-down names its sibling: a complete aligned subtree (level, index),
            // or an incomplete range along the right edge, hashed once when the tree was built.
            var steps = 0
            var (n, m) = (size, index)
            while n > 1 {
                let k = split(n)
                if m < k { n = k } else { (m, n) = (m - k, n - k) }
                steps += 1
            }
            return [UInt8](unsafeUninitializedCapacity: steps * 32) { out, count in
                // PATH lists the siblings bottom-up: the first step's sibling goes last.
                var at = steps * 32
                var start: UInt64 = 0
                (n, m) = (size, index)
                func put(_ hash: Hash) {
                    at -= 32
                    hash.withUnsafeBufferPointer {
                        precondition($0.count == 32)
                        (out.baseAddress.unsafelyUnwrapped + at).initialize(
                            from: $0.baseAddress.unsafelyUnwrapped,
                            count: 32
                        )
                    }
                }
                func sibling(_ lower: UInt64, _ upper: UInt64) {
                    let length = upper - lower
                    if length & (length - 1) != 0 {
                        // Not a power of two: only the right edge has such ranges.
                        put(rightEdge[lower].unsafelyUnwrapped)
                    } else {
                        let level = length.trailingZeroBitCount
                        put(levels[level][Int(lower >> UInt64(level))])
                    }
                }
                while n > 1 {
                    let k = split(n)
                    if m < k {
                        sibling(start + k, start + n)
                        n = k
                    } else {
                        sibling(start, start + k)
                        start += k
                        m -= k
                        n -= k
                    }
                }
                count = steps * 32
            }
        }

        /// PATH(index) in O(log n).
        public func inclusionPath(_ index: UInt64) -> [Hash] {
            Merkle.inclusionPath(
                index: index,
                size: size,
                complete: { (level: Int, i: UInt64) -> Hash in levels[level][Int(i)] },
                known: { range in range.upperBound == size ? rightEdge[range.lowerBound] : nil }
            )
        }
    }

    /// The root of `leaves` (leaf hashes), computed in memory.
    public static func root(of leaves: [Hash]) -> Hash {
        rangeHash(0..<UInt64(leaves.count)) { (level: Int, index: UInt64) -> Hash in
            subtree(leaves, level: level, index: index)
        }
    }

    /// PATH(index, leaves) in memory.
    public static func inclusionPath(index: UInt64, leaves: [Hash]) -> [Hash] {
        inclusionPath(index: index, size: UInt64(leaves.count)) { (level: Int, i: UInt64) -> Hash in
            subtree(leaves, level: level, index: i)
        }
    }

    /// PROOF(old, leaves) in memory.
    public static func consistencyProof(old: UInt64, leaves: [Hash]) -> [Hash] {
        consistencyProof(old: old, new: UInt64(leaves.count)) { (level: Int, i: UInt64) -> Hash in
            subtree(leaves, level: level, index: i)
        }
    }

    static func subtree(_ leaves: [Hash], level: Int, index: UInt64) -> Hash {
        if level == 0 { return leaves[Int(index)] }
        return nodeHash(
            subtree(leaves, level: level - 1, index: 2 * index),
            subtree(leaves, level: level - 1, index: 2 * index + 1)
        )
    }

    // MARK: Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)

    /// The root that `proof` leads to from `leafHash`; throws when the proof has the wrong length.
    public static func rootFromInclusionProof(
        index: UInt64,
        size: UInt64,
        leafHash: Hash,
        proof: [Hash]
    ) throws(AuditError) -> Hash {
        guard proof.allSatisfy({ $0.count == 32 }) else { throw AuditError(.invalidProof, "hashes must be 32 bytes") }
        return try rootFromInclusionProof(index: index, size: size, leafHash: leafHash, path: proof.flatMap { $0 })
    }

    /// ``rootFromInclusionProof(index:size:leafHash:proof:)`` with the proof's hashes end to
    /// end in `path` (as a record header carries them): no array per hash.
    public static func rootFromInclusionProof(
        index: UInt64,
        size: UInt64,
        leafHash: Hash,
        path: [UInt8]
    ) throws(AuditError) -> Hash {
        var cache = NodeHashCache(capacity: 0)
        return try rootFromInclusionProof(index: index, size: size, leafHash: leafHash, path: path, cache: &cache)
    }

    /// ``rootFromInclusionProof(index:size:leafHash:path:)`` with interior nodes taken from
    /// `cache` when an earlier proof computed them: the same root, fewer hashes for the
    /// neighbouring leaves of one tree.
    public static func rootFromInclusionProof(
        index: UInt64,
        size: UInt64,
        leafHash: Hash,
        path: [UInt8],
        cache: inout NodeHashCache
    ) throws(AuditError) -> Hash {
        guard index < size else { throw AuditError(.invalidProof, "leaf index \(index) not below tree size \(size)") }
        guard leafHash.count == 32, path.count % 32 == 0 else {
            throw AuditError(.invalidProof, "hashes must be 32 bytes")
        }
        var fn = index
        var sn = size - 1
        var r = leafHash.withUnsafeBytes { Word32($0, at: 0) }
        let tooLong = path.withUnsafeBytes { path -> Bool in
            for start in stride(from: 0, to: path.count, by: 32) {
                guard sn != 0 else { return true }
                let p = Word32(path, at: start)
                if fn & 1 == 1 || fn == sn {
                    r = cache.nodeHash(p, r)
                    if fn & 1 == 0 {
                        while fn & 1 == 0 && fn != 0 {
                            fn >>= 1
                            sn >>= 1
                        }
                    }
                } else {
                    r = cache.nodeHash(r, p)
                }
                fn >>= 1
                sn >>= 1
            }
            return false
        }
        guard !tooLong else { throw AuditError(.invalidProof, "proof too long") }
        guard sn == 0 else { throw AuditError(.invalidProof, "proof too short") }
        return r.bytes
    }

    /// Verifies that `leafHash` is leaf `index` of the tree of `size` with `root`.
    public static func verifyInclusion(
        index: UInt64,
        size: UInt64,
        leafHash: Hash,
        proof: [Hash],
        root: Hash
    ) throws(AuditError) {
        let computed = try rootFromInclusionProof(index: index, size: size, leafHash: leafHash, proof: proof)
        guard constantTimeEqual(computed, root) else { throw AuditError(.invalidProof, "root mismatch") }
    }

    /// Verifies that the tree of `size2` with `root2` extends the tree of `size1` with `root1`.
    public static func verifyConsistency(
        size1: UInt64,
        size2: UInt64,
        root1: Hash,
        root2: Hash,
        proof: [Hash]
    ) throws(AuditError) {
        guard size1 > 0, size1 <= size2 else {
            throw AuditError(.invalidProof, "sizes must satisfy 0 < size1 ≤ size2")
        }
        if size1 == size2 {
            guard proof.isEmpty else { throw AuditError(.invalidProof, "proof must be empty for equal sizes") }
            guard constantTimeEqual(root1, root2) else { throw AuditError(.invalidProof, "root mismatch") }
            return
        }
        guard root1.count == 32, root2.count == 32, proof.allSatisfy({ $0.count == 32 }) else {
            throw AuditError(.invalidProof, "hashes must be 32 bytes")
        }
        guard !proof.isEmpty else { throw AuditError(.invalidProof, "empty proof") }
        var path = proof
        // A power-of-two old tree is itself a node of the new one: prepend its root.
        if size1 & (size1 - 1) == 0 { path.insert(root1, at: 0) }
        var fn = size1 - 1
        var sn = size2 - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { throw AuditError(.invalidProof, "proof too long") }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw AuditError(.invalidProof, "proof too short") }
        guard constantTimeEqual(fr, root1) else { throw AuditError(.invalidProof, "old root mismatch") }
        guard constantTimeEqual(sr, root2) else { throw AuditError(.invalidProof, "new root mismatch") }
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
