public import Crypto
import Foundation
public import StrongroomAudit
import StrongroomCrypto

/// Signs produce batches once and lets a consumer verify any single record of them.
///
/// Each record's digest is an RFC 6962 leaf over its topic, key, value, schema id and
/// producer; the batch's Merkle root is signed with the producer's Ed25519 key. Every record
/// carries the signature, the batch id, its index, the batch size and its inclusion path, so
/// one record can be checked without the rest of its batch, one signature verification per
/// batch is enough (a consumer caches verified roots), and a record injected into, dropped
/// from or moved within a batch fails. Byte layout: `docs/formats.md`.
public enum RecordSignature {
    /// Header names the pipeline writes.
    public enum Header {
        /// Base64 Ed25519 signature of the batch statement.
        public static let signature = "sr-sig"
        /// `<batch id>:<index>:<size>`.
        public static let batch = "sr-batch"
        /// The inclusion path: concatenated 32-byte hashes.
        public static let proof = "sr-proof"
        /// The producing principal.
        public static let producer = "sr-producer"
        /// The producer key's id (first 8 bytes of SHA-256 of the public key, hex).
        public static let producerKey = "sr-producer-key"
        /// The schema id the value was validated against.
        public static let schema = "sr-schema"
        /// Keyed hash of the data subject (the key store's family id).
        public static let subject = "sr-subject"
        /// Key references used for the record's fields.
        public static let keys = "sr-keys"
        /// Correlation id of the produce call.
        public static let correlation = "sr-correlation"
        /// `application/json; strongroom=1`.
        public static let contentType = "content-type"
    }

    /// What a record's digest covers.
    public struct Content: Sendable {
        /// The topic.
        public var topic: String
        /// The record key.
        public var key: [UInt8]
        /// The record value (fields encrypted).
        public var value: [UInt8]
        /// The schema id.
        public var schemaID: Int
        /// The producing principal.
        public var producer: String

        /// Content of one record.
        public init(topic: String, key: [UInt8], value: [UInt8], schemaID: Int, producer: String) {
            self.topic = topic
            self.key = key
            self.value = value
            self.schemaID = schemaID
            self.producer = producer
        }

        /// The record's leaf hash.
        public var leafHash: Merkle.Hash {
            var bytes = Array("strongroom/record/v1".utf8)
            for part in [Array(topic.utf8), key, value, Array(String(schemaID).utf8), Array(producer.utf8)] {
                let n = UInt32(truncatingIfNeeded: part.count)
                bytes += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
                bytes += part
            }
            return Merkle.leafHash(bytes)
        }
    }

    /// The signed statement: producer, key id, batch id, size and root.
    static func statement(producer: String, keyID: String, batchID: String, size: Int, root: Merkle.Hash) -> [UInt8] {
        Array(
            "strongroom/batch/v1\n\(producer)\n\(keyID)\n\(batchID)\n\(size)\n\(Data(root).base64EncodedString())\n"
                .utf8
        )
    }

    /// The id of a producer's public key.
    public static func keyID(_ key: Curve25519.Signing.PublicKey) -> String {
        SHA256.hash(data: key.rawRepresentation).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Per-record signature headers for a batch.
    public static func sign(
        _ contents: [Content],
        producer: String,
        key: Curve25519.Signing.PrivateKey,
        batchID: String
    ) throws -> [[(String, [UInt8])]] {
        let leaves = contents.map(\.leafHash)
        let tree = Merkle.Tree(leaves: leaves)
        let root = tree.root
        let keyID = keyID(key.publicKey)
        let signature = try key.signature(
            for: statement(producer: producer, keyID: keyID, batchID: batchID, size: leaves.count, root: root)
        )
        let signatureText = Array(Data(signature).base64EncodedString().utf8)
        return leaves.indices.map { i in
            [
                (Header.signature, signatureText),
                (Header.batch, Array("\(batchID):\(i):\(leaves.count)".utf8)),
                (Header.proof, tree.inclusionPath(UInt64(i)).flatMap { $0 }),
                (Header.producer, Array(producer.utf8)),
                (Header.producerKey, Array(keyID.utf8)),
            ]
        }
    }

    /// Why a record's signature does not hold.
    public enum Failure: String, Error, Sendable {
        /// A header is missing.
        case missing = "signature headers missing"
        /// Headers present but not well formed.
        case malformed = "signature headers malformed"
        /// The producer or its key is not trusted.
        case unknownProducer = "producer key not trusted"
        /// The inclusion path does not lead to a root the signature covers.
        case invalid = "signature does not verify"
    }

    /// Checks one record; `verifiedRoots` caches batch statements already verified.
    public static func verify(
        _ content: Content,
        headers: [String: [UInt8]],
        trusted: [String: Curve25519.Signing.PublicKey],
        verifiedRoots: inout [String: Merkle.Hash]
    ) -> Failure? {
        guard let signature = headers[Header.signature], let batch = headers[Header.batch],
            let proof = headers[Header.proof], let producerKeyID = headers[Header.producerKey],
            let producer = headers[Header.producer]
        else { return .missing }
        let parts = String(decoding: batch, as: UTF8.self).split(separator: ":")
        guard parts.count == 3, let index = UInt64(parts[1]), let size = UInt64(parts[2]), index < size,
            proof.count % 32 == 0, String(decoding: producer, as: UTF8.self) == content.producer
        else { return .malformed }
        let batchID = String(parts[0])
        let keyIDText = String(decoding: producerKeyID, as: UTF8.self)
        guard let key = trusted[content.producer], keyID(key) == keyIDText else { return .unknownProducer }
        let path = stride(from: 0, to: proof.count, by: 32).map { Array(proof[$0..<($0 + 32)]) }
        guard
            let root = try? Merkle.rootFromInclusionProof(
                index: index,
                size: size,
                leafHash: content.leafHash,
                proof: path
            )
        else { return .invalid }
        let cacheKey =
            "\(content.producer)/\(keyIDText)/\(batchID)/\(size)/\(String(decoding: signature, as: UTF8.self))"
        if let known = verifiedRoots[cacheKey] { return known == root ? nil : .invalid }
        guard let signatureBytes = Data(base64Encoded: String(decoding: signature, as: UTF8.self)),
            key.isValidSignature(
                signatureBytes,
                for: statement(
                    producer: content.producer,
                    keyID: keyIDText,
                    batchID: batchID,
                    size: Int(size),
                    root: root
                )
            )
        else { return .invalid }
        verifiedRoots[cacheKey] = root
        return nil
    }
}
