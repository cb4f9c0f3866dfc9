import Crypto
import Foundation
import StrongroomJSON
import StrongroomTestSupport
import Testing

@testable import StrongroomAudit

/// Skips (or, under CI, fails) when ../shared/vectors is absent.
func requireVectors() throws -> Bool {
    if TestSupport.vectorsAvailable { return true }
    if TestSupport.isCI { Issue.record("shared vectors missing under CI: \(TestSupport.vectorsDirectory.path)") }
    return false
}

func hex(_ text: Any?) -> [UInt8] { TestSupport.hex(text as? String ?? "") }

@Suite("RFC 6962 Merkle tree")
struct MerkleTests {
    static func vectors() throws -> [String: Any] { try TestSupport.vectorJSON("rfc6962/merkle_vectors.json") }

    @Test("roots, complete subtrees, inclusion and consistency proofs match the reference vectors")
    func referenceVectors() throws {
        guard try requireVectors() else { return }
        let v = try Self.vectors()
        let leaves = (v["leaves"] as? [String] ?? []).map { TestSupport.hex($0) }
        #expect(leaves.count == 8)
        let leafHashes = leaves.map { Merkle.leafHash($0) }
        #expect(leafHashes == (v["leaf_hashes"] as? [String] ?? []).map { TestSupport.hex($0) })
        let roots = v["roots"] as? [[String: Any]] ?? []
        #expect(roots.count == 9)
        for root in roots {
            let size = root["size"] as? Int ?? -1
            #expect(Merkle.root(of: Array(leafHashes.prefix(size))) == hex(root["hash"]), "size \(size)")
        }
        for node in v["node_hashes"] as? [[String: Any]] ?? [] {
            let level = node["level"] as? Int ?? 0
            let index = node["index"] as? Int ?? 0
            #expect(Merkle.subtree(leafHashes, level: level, index: UInt64(index)) == hex(node["hash"]))
        }
        let inclusion = v["inclusion_proofs"] as? [[String: Any]] ?? []
        #expect(inclusion.count == 5)
        for p in inclusion {
            let index = UInt64(p["leaf_index"] as? Int ?? 0)
            let size = p["tree_size"] as? Int ?? 0
            let path = (p["path"] as? [String] ?? []).map { TestSupport.hex($0) }
            #expect(Merkle.inclusionPath(index: index, leaves: Array(leafHashes.prefix(size))) == path)
            try Merkle.verifyInclusion(
                index: index,
                size: UInt64(size),
                leafHash: hex(p["leaf_hash"]),
                proof: path,
                root: hex(p["root"])
            )
        }
        let consistency = v["consistency_proofs"] as? [[String: Any]] ?? []
        #expect(consistency.count == 5)
        for p in consistency {
            let size1 = p["size1"] as? Int ?? 0
            let size2 = p["size2"] as? Int ?? 0
            let path = (p["path"] as? [String] ?? []).map { TestSupport.hex($0) }
            #expect(Merkle.consistencyProof(old: UInt64(size1), leaves: Array(leafHashes.prefix(size2))) == path)
            try Merkle.verifyConsistency(
                size1: UInt64(size1),
                size2: UInt64(size2),
                root1: hex(p["root1"]),
                root2: hex(p["root2"]),
                proof: path
            )
        }
    }

    @Test("the 196 upstream probes: every wantErr case is refused, every happy path accepted")
    func probes() throws {
        guard try requireVectors() else { return }
        let base = TestSupport.vectorsDirectory.appendingPathComponent("rfc6962/probes")
        let files =
            FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "json" } ?? []
        #expect(files.count == 196)
        func b64(_ any: Any?) -> [UInt8] { Data(base64Encoded: any as? String ?? "").map(Array.init) ?? [0xFF] }
        var accepted = 0
        for file in files {
            let probe = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any] ?? [:]
            let proof = (probe["proof"] as? [String] ?? []).map { b64($0) }
            let wantErr = probe["wantErr"] as? Bool ?? false
            let failed: Bool
            if file.path.contains("/inclusion/") {
                let index = probe["leafIdx"] as? Int ?? -1
                let size = probe["treeSize"] as? Int ?? -1
                failed =
                    index < 0 || size < 0
                    || (try? Merkle.verifyInclusion(
                        index: UInt64(index),
                        size: UInt64(size),
                        leafHash: b64(probe["leafHash"]),
                        proof: proof,
                        root: b64(probe["root"])
                    )) == nil
            } else {
                let size1 = probe["size1"] as? Int ?? -1
                let size2 = probe["size2"] as? Int ?? -1
                failed =
                    size1 < 0 || size2 < 0
                    || (try? Merkle.verifyConsistency(
                        size1: UInt64(size1),
                        size2: UInt64(size2),
                        root1: b64(probe["root1"]),
                        root2: b64(probe["root2"]),
                        proof: proof
                    )) == nil
            }
            #expect(failed == wantErr, "\(file.lastPathComponent): \(probe["desc"] ?? "")")
            if !failed { accepted += 1 }
        }
        #expect(accepted >= 10)
    }

    @Test("proofs for every index and size pair up to 70 leaves verify; a changed hash never does")
    func exhaustiveSmallTrees() throws {
        let leaves = (0..<70).map { Merkle.leafHash([UInt8(truncatingIfNeeded: $0), 7]) }
        for size in 1...leaves.count {
            let tree = Array(leaves.prefix(size))
            let root = Merkle.root(of: tree)
            // The in-memory tree (the producer's, with its right edge hashed once) agrees.
            let held = Merkle.Tree(leaves: tree)
            #expect(held.root == root, "size \(size)")
            for index in 0..<size {
                let path = Merkle.inclusionPath(index: UInt64(index), leaves: tree)
                #expect(held.inclusionPath(UInt64(index)) == path, "size \(size) index \(index)")
                #expect(held.inclusionPathBytes(UInt64(index)) == path.flatMap { $0 }, "size \(size) index \(index)")
                try Merkle.verifyInclusion(
                    index: UInt64(index),
                    size: UInt64(size),
                    leafHash: tree[index],
                    proof: path,
                    root: root
                )
                if !path.isEmpty {
                    var bad = path
                    bad[bad.count / 2][0] ^= 1
                    #expect(
                        (try? Merkle.verifyInclusion(
                            index: UInt64(index),
                            size: UInt64(size),
                            leafHash: tree[index],
                            proof: bad,
                            root: root
                        )) == nil
                    )
                }
            }
            for old in 1...size {
                let proof = Merkle.consistencyProof(old: UInt64(old), leaves: tree)
                try Merkle.verifyConsistency(
                    size1: UInt64(old),
                    size2: UInt64(size),
                    root1: Merkle.root(of: Array(tree.prefix(old))),
                    root2: root,
                    proof: proof
                )
            }
        }
    }

    @Test(
        "a node-hash cache shared by many proofs gives the root each gives alone: forged, tampered and other trees' proofs before a good one change nothing, and a tampered proof never reaches the root"
    )
    func nodeHashCache() throws {
        let leaves = (0..<70).map { Merkle.leafHash([UInt8(truncatingIfNeeded: $0), 9]) }
        let other = (0..<70).map { Merkle.leafHash([UInt8(truncatingIfNeeded: $0), 10]) }
        for capacity in [4096, 3, 1 << 40] {
            var cache = Merkle.NodeHashCache(capacity: capacity)
            for size in [1, 2, 5, 8, 13, 64, 70] {
                let tree = Array(leaves.prefix(size))
                let root = Merkle.root(of: tree)
                for index in 0..<size {
                    let path = Merkle.inclusionPath(index: UInt64(index), leaves: tree).flatMap { $0 }
                    // Another tree's proof and a forged one first: they fill the cache with their nodes.
                    let foreign = Merkle.inclusionPath(index: UInt64(index), leaves: Array(other.prefix(size)))
                    _ = try? Merkle.rootFromInclusionProof(
                        index: UInt64(index),
                        size: UInt64(size),
                        leafHash: other[index],
                        path: foreign.flatMap { $0 },
                        cache: &cache
                    )
                    var forged = path
                    if !forged.isEmpty { forged[forged.count - 1] ^= 0x80 }
                    let forgedRoot = try Merkle.rootFromInclusionProof(
                        index: UInt64(index),
                        size: UInt64(size),
                        leafHash: tree[index],
                        path: forged,
                        cache: &cache
                    )
                    #expect(forged.isEmpty || forgedRoot != root, "size \(size) index \(index)")
                    let cached = try Merkle.rootFromInclusionProof(
                        index: UInt64(index),
                        size: UInt64(size),
                        leafHash: tree[index],
                        path: path,
                        cache: &cache
                    )
                    #expect(cached == root, "size \(size) index \(index)")
                    // With every node of the good proof cached, a change anywhere still fails.
                    for byte in stride(from: 0, to: path.count, by: 7) {
                        var bad = path
                        bad[byte] ^= 1
                        let reached = try Merkle.rootFromInclusionProof(
                            index: UInt64(index),
                            size: UInt64(size),
                            leafHash: tree[index],
                            path: bad,
                            cache: &cache
                        )
                        #expect(reached != root, "size \(size) index \(index) byte \(byte)")
                    }
                    var badLeaf = tree[index]
                    badLeaf[31] ^= 1
                    let fromBadLeaf = try Merkle.rootFromInclusionProof(
                        index: UInt64(index),
                        size: UInt64(size),
                        leafHash: badLeaf,
                        path: path,
                        cache: &cache
                    )
                    #expect(fromBadLeaf != root)
                }
            }
            #expect(cache.held <= capacity)
            if capacity == 4096 { #expect(cache.held > 100, "the cache was used") }
        }
    }
}

@Suite("Signed notes and checkpoints")
struct SignedNoteTests {
    static func vectors() throws -> [String: Any] { try TestSupport.vectorJSON("signed-note/signed_notes.json") }

    @Test("keys, signing, verification and malformed notes follow the golang/mod and C2SP vectors")
    func noteVectors() throws {
        guard try requireVectors() else { return }
        let v = try Self.vectors()
        var keys: [String: NoteVerifierKey] = [:]
        for key in v["keys"] as? [[String: Any]] ?? [] {
            let parsed = try NoteVerifierKey(parsing: key["vkey"] as? String ?? "")
            #expect(parsed.keyID == hex(key["key_id"]))
            #expect(parsed.publicKey == hex(key["public_key_hex"]))
            #expect(parsed.text == key["vkey"] as? String)
            keys[parsed.name] = parsed
            if let seed = key["private_seed_hex"] as? String {
                let signer = try NoteSigner(
                    name: parsed.name,
                    privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: TestSupport.hex(seed))
                )
                #expect(signer.verifierKey == parsed)
            }
        }
        #expect(!keys.isEmpty)
        var signedOne = false
        for note in v["notes"] as? [[String: Any]] ?? [] {
            let message = note["message"] as? String ?? ""
            let verifiers = (note["verifier_keys"] as? [String] ?? []).compactMap { keys[$0] }
            let expect = note["expect"] as? String ?? ""
            let id = note["id"] as? String ?? ""
            let result = Result { () throws(AuditError) -> [String] in
                try SignedNote(parsing: Array(message.utf8)).verify(with: verifiers)
            }
            switch expect {
            case "ok":
                #expect(try result.get().sorted() == (note["verified"] as? [String] ?? []).sorted(), "\(id)")
                #expect(try SignedNote(parsing: Array(message.utf8)).text == note["text"] as? String, "\(id)")
            default:
                #expect((try? result.get()) == nil, "\(id) expected \(expect)")
            }
            if id == "peter-sign", let seed = (v["keys"] as? [[String: Any]])?.first?["private_seed_hex"] as? String {
                let signer = try NoteSigner(
                    name: "PeterNeumann",
                    privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: TestSupport.hex(seed))
                )
                #expect(try signer.sign(note["text"] as? String ?? "") == message)
                signedOne = true
            }
        }
        #expect(signedOne)
        for bad in v["malformed_messages"] as? [[String: Any]] ?? [] {
            let bytes = hex(bad["message_hex"])
            let outcome = Result { () throws(AuditError) -> [String] in
                try SignedNote(parsing: bytes).verify(with: Array(keys.values))
            }
            #expect((try? outcome.get()) == nil, "malformed message accepted")
        }
        for bad in v["invalid_vkeys"] as? [[String: Any]] ?? [] {
            #expect((try? NoteVerifierKey(parsing: bad["vkey"] as? String ?? "")) == nil, "\(bad["why"] ?? "")")
        }
        for example in v["format_only_examples"] as? [[String: Any]] ?? [] {
            let note = try SignedNote(parsing: Array((example["message"] as? String ?? "").utf8))
            if let expected = example["checkpoint"] as? [String: Any] {
                let checkpoint = try Checkpoint(text: note.text)
                #expect(checkpoint.origin == expected["origin"] as? String)
                #expect(checkpoint.size == UInt64(expected["tree_size"] as? Int ?? -1))
                #expect(Data(checkpoint.root).base64EncodedString() == expected["root_hash_b64"] as? String)
                #expect(checkpoint.text == note.text)
            }
        }
    }
}

@Suite("Merkle proofs at scale")
struct MerkleScaleTests {
    @Test("inclusion and consistency proofs in a tree of 1,048,583 leaves verify; wrong ones do not")
    func millionLeaves() throws {
        let n = 1_048_583
        var levels: [[Merkle.Hash]] = [
            (0..<n).map { i in
                withUnsafeBytes(of: UInt64(i).bigEndian) { Merkle.leafHash(Array($0)) }
            }
        ]
        while let last = levels.last, last.count > 1 {
            levels.append(stride(from: 0, to: last.count - 1, by: 2).map { Merkle.nodeHash(last[$0], last[$0 + 1]) })
        }
        let complete = { (level: Int, index: UInt64) -> Merkle.Hash in levels[level][Int(index)] }
        var generator = SystemRandomNumberGenerator()
        let root = Merkle.rangeHash(0..<UInt64(n), complete: complete)
        for _ in 0..<500 {
            let index = UInt64.random(in: 0..<UInt64(n), using: &generator)
            let path = Merkle.inclusionPath(index: index, size: UInt64(n), complete: complete)
            try Merkle.verifyInclusion(
                index: index,
                size: UInt64(n),
                leafHash: levels[0][Int(index)],
                proof: path,
                root: root
            )
            let other = (index + 1) % UInt64(n)
            #expect(
                (try? Merkle.verifyInclusion(
                    index: other,
                    size: UInt64(n),
                    leafHash: levels[0][Int(index)],
                    proof: path,
                    root: root
                )) == nil
            )
        }
        for _ in 0..<200 {
            let a = UInt64.random(in: 1...UInt64(n), using: &generator)
            let b = UInt64.random(in: a...UInt64(n), using: &generator)
            let proof = Merkle.consistencyProof(old: a, new: b, complete: complete)
            let rootA = Merkle.rangeHash(0..<a, complete: complete)
            let rootB = Merkle.rangeHash(0..<b, complete: complete)
            try Merkle.verifyConsistency(size1: a, size2: b, root1: rootA, root2: rootB, proof: proof)
            if a < b {
                #expect(
                    (try? Merkle.verifyConsistency(size1: a, size2: b, root1: rootB, root2: rootA, proof: proof)) == nil
                )
            }
        }
    }
}
