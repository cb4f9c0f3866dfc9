public import Crypto
import Foundation
public import StrongroomAudit
import StrongroomCrypto
public import StrongroomJSON
public import StrongroomLog

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
        /// `<producer session>:<n>`: the producer session's record number in this partition.
        public static let sequence = "sr-seq"
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
        /// The partition the record is appended to.
        public var partition: Int
        /// `<session>:<n>`: 32 hex digits naming the producer session, and the record's number
        /// among that session's records in this partition (0, 1, 2, … with no gap).
        public var sequence: String
        /// The record key.
        public var key: [UInt8]
        /// The record value (fields encrypted).
        public var value: [UInt8]
        /// The schema id.
        public var schemaID: Int
        /// The producing principal.
        public var producer: String

        /// Content of one record.
        public init(
            topic: String,
            partition: Int,
            sequence: String,
            key: [UInt8],
            value: [UInt8],
            schemaID: Int,
            producer: String
        ) {
            self.topic = topic
            self.partition = partition
            self.sequence = sequence
            self.key = key
            self.value = value
            self.schemaID = schemaID
            self.producer = producer
        }

        /// The record's leaf hash.
        public var leafHash: Merkle.Hash {
            // SHA-256(0x00 ‖ entry): the parts before the value, the value, the parts after it,
            // in three updates (no copy of the value).
            func part(_ bytes: some Collection<UInt8>, into out: inout [UInt8]) {
                withUnsafeBytes(of: UInt32(truncatingIfNeeded: bytes.count).bigEndian) { out += $0 }
                out += bytes
            }
            var head: [UInt8] = [0]
            head.reserveCapacity(Self.domain.count + 40 + topic.utf8.count + sequence.utf8.count + key.count)
            head += Self.domain
            part(topic.utf8, into: &head)
            part(String(partition).utf8, into: &head)
            part(sequence.utf8, into: &head)
            part(key, into: &head)
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: value.count).bigEndian) { head += $0 }
            var tail: [UInt8] = []
            tail.reserveCapacity(24 + producer.utf8.count)
            part(String(schemaID).utf8, into: &tail)
            part(producer.utf8, into: &tail)
            var hasher = SHA256()
            head.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            value.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            tail.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            return hasher.finalize().withUnsafeBytes { Array($0) }
        }

        static let domain = Array("strongroom/record/v2".utf8)
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
        SHA256.hash(data: key.rawRepresentation).withUnsafeBytes { Array($0.prefix(8)) }.hexString
    }

    /// Per-record signature headers for a batch.
    public static func sign(
        _ contents: [Content],
        producer: String,
        key: Curve25519.Signing.PrivateKey,
        batchID: String
    ) throws -> [[(String, [UInt8])]] {
        let leaves = Parallel.map(contents.count) { contents[$0].leafHash }
        let tree = Merkle.Tree(leaves: leaves)
        let root = tree.root
        let keyID = keyID(key.publicKey)
        let signature = try key.signature(
            for: statement(producer: producer, keyID: keyID, batchID: batchID, size: leaves.count, root: root)
        )
        let signatureText = Array(Data(signature).base64EncodedString().utf8)
        // The same bytes in every record's headers: made once, shared.
        let producerText = Array(producer.utf8)
        let keyIDText = Array(keyID.utf8)
        // "<batch id>:<index>:<size>": the parts around the index made once.
        let batchPrefix = Array("\(batchID):".utf8)
        let batchSuffix = Array(":\(leaves.count)".utf8)
        return Parallel.map(leaves.count) { i in
            var batch: [UInt8] = []
            batch.reserveCapacity(batchPrefix.count + 20 + batchSuffix.count)
            batch += batchPrefix
            appendDecimal(i, to: &batch)
            batch += batchSuffix
            return [
                (Header.signature, signatureText),
                (Header.batch, batch),
                (Header.proof, tree.inclusionPathBytes(UInt64(i))),
                (Header.producer, producerText),
                (Header.producerKey, keyIDText),
                (Header.sequence, Array(contents[i].sequence.utf8)),
            ]
        }
    }

    /// Appends the decimal digits of `value` (not negative), as `String(value)` spells them.
    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        precondition(value >= 0)
        var divisor = 1
        while value / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }

    /// The number of headers ``sign(_:producer:key:batchID:)`` gives each record.
    static let headerCount = 6

    /// Why a record's signature does not hold.
    public enum Failure: String, Error, Sendable {
        /// A header is missing.
        case missing = "signature headers missing"
        /// Headers present but not well formed (or one repeated).
        case malformed = "signature headers malformed"
        /// The producer or its key is not trusted.
        case unknownProducer = "producer key not trusted"
        /// The inclusion path does not lead to a root the signature covers.
        case invalid = "signature does not verify"
    }

    /// Checks one stored record; `verifiedRoots` caches batch statements already verified.
    ///
    /// - Returns: the parsed signature headers (producer, schema id, batch position), or why
    ///   the record cannot be trusted.
    public static func verify(
        topic: String,
        partition: Int,
        key: [UInt8],
        value: [UInt8],
        headers: [RecordHeader],
        trusted: [ExactText: [Curve25519.Signing.PublicKey]],
        verifiedRoots: inout [[UInt8]: Merkle.Hash]
    ) -> Result<SignedHeaders, Failure> {
        var cache = Merkle.NodeHashCache(capacity: 0)
        var memo = SignedHeaders.Memo()
        return prepare(
            topic: topic,
            partition: partition,
            key: key,
            value: value,
            headers: headers,
            trusted: identified(trusted),
            cache: &cache,
            memo: &memo
        )
        .flatMap { confirm($0, verifiedRoots: &verifiedRoots) }
    }

    /// A record whose headers parse, whose producer key is trusted and whose inclusion path
    /// leads to `root`: only the batch signature over `root` is left to check.
    struct Prepared: Sendable {
        let headers: SignedHeaders
        let publicKey: Curve25519.Signing.PublicKey
        let root: Merkle.Hash

        /// Whether `other` claims the same signed statement (producer, key, batch, size,
        /// signature) and leads to the same root: then one signature check holds for both.
        func hasSameStatement(as other: Prepared) -> Bool {
            headers.batchID == other.headers.batchID && headers.size == other.headers.size
                && headers.signature == other.headers.signature && root == other.root
                && headers.producer.hasSameBytes(as: other.headers.producer)
                && headers.producerKeyID.hasSameBytes(as: other.headers.producerKeyID)
        }
    }

    /// Trusted producer keys with their ids, worked out once rather than for every record.
    typealias IdentifiedKeys = [ExactText: [(key: Curve25519.Signing.PublicKey, id: String)]]

    static func identified(_ trusted: [ExactText: [Curve25519.Signing.PublicKey]]) -> IdentifiedKeys {
        trusted.mapValues { keys in keys.map { ($0, keyID($0)) } }
    }

    /// Whether `a` and `b` trust the same keys, under the same principals, in the same order.
    static func sameKeys(_ a: IdentifiedKeys, _ b: IdentifiedKeys) -> Bool {
        a.count == b.count
            && a.allSatisfy { principal, keys in
                guard let other = b[principal], other.count == keys.count else { return false }
                return zip(keys, other).allSatisfy { $0.key.rawRepresentation == $1.key.rawRepresentation }
            }
    }

    /// Everything of ``verify(topic:partition:key:value:headers:trusted:verifiedRoots:)`` that
    /// needs no shared state (so records can be prepared on several cores at once).
    ///
    /// `cache` keeps the interior nodes of the inclusion paths checked before, for the records
    /// after; `memo` the header parts they share.
    static func prepare(
        topic: String,
        partition: Int,
        key: [UInt8],
        value: [UInt8],
        headers: [RecordHeader],
        trusted: IdentifiedKeys,
        cache: inout Merkle.NodeHashCache,
        memo: inout SignedHeaders.Memo
    ) -> Result<Prepared, Failure> {
        let parsed: SignedHeaders
        switch SignedHeaders.parse(headers, memo: &memo) {
        case .success(let p): parsed = p
        case .failure(let failure): return .failure(failure)
        }
        let content = Content(
            topic: topic,
            partition: partition,
            sequence: parsed.sequence,
            key: key,
            value: value,
            schemaID: parsed.schemaID,
            producer: parsed.producer
        )
        guard
            let publicKey = trusted[ExactText(parsed.producer)]?.first(where: {
                $0.id.hasSameBytes(as: parsed.producerKeyID)
            })?.key
        else { return .failure(.unknownProducer) }
        guard
            let root = try? Merkle.rootFromInclusionProof(
                index: parsed.index,
                size: parsed.size,
                leafHash: content.leafHash,
                path: parsed.path,
                cache: &cache
            )
        else { return .failure(.invalid) }
        return .success(Prepared(headers: parsed, publicKey: publicKey, root: root))
    }

    /// Checks the batch signature over a prepared record's root, once per batch statement.
    static func confirm(
        _ prepared: Prepared,
        verifiedRoots: inout [[UInt8]: Merkle.Hash]
    ) -> Result<SignedHeaders, Failure> {
        let parsed = prepared.headers
        let root = prepared.root
        // Every part is printable ASCII (no 0 byte), so 0-separated parts cannot run together.
        var cacheKey = Array(parsed.producer.utf8) + [0] + Array(parsed.producerKeyID.utf8) + [0] + parsed.batchID
        cacheKey += [0] + Array(String(parsed.size).utf8) + [0] + parsed.signature
        if let known = verifiedRoots[cacheKey] { return known == root ? .success(parsed) : .failure(.invalid) }
        guard
            prepared.publicKey.isValidSignature(
                parsed.signature,
                for: statement(
                    producer: parsed.producer,
                    keyID: parsed.producerKeyID,
                    batchID: String(decoding: parsed.batchID, as: UTF8.self),
                    size: Int(parsed.size),
                    root: root
                )
            )
        else { return .failure(.invalid) }
        verifiedRoots[cacheKey] = root
        return .success(parsed)
    }
}

/// The signature headers of one stored record, parsed strictly.
///
/// Every `sr-` header the signature needs appears exactly once; text is printable ASCII;
/// numbers are decimal digits within bounds; the signature is 64 bytes of standard base64;
/// the proof is whole 32-byte hashes. Anything else is ``RecordSignature/Failure/malformed``:
/// a record header never traps a reader, whatever its bytes (fuzzed in the tests).
public struct SignedHeaders: Sendable, Hashable {
    /// The producing principal.
    public var producer: String
    /// The producer key's id (16 lowercase hex digits).
    public var producerKeyID: String
    /// The schema id the value was validated against.
    public var schemaID: Int
    /// The batch id.
    public var batchID: [UInt8]
    /// The record's index in its batch.
    public var index: UInt64
    /// The batch size.
    public var size: UInt64
    /// The inclusion path.
    public var proof: [[UInt8]] {
        get { stride(from: 0, to: path.count, by: 32).map { Array(path[$0..<($0 + 32)]) } }
        set { path = newValue.flatMap { $0 } }
    }
    /// The inclusion path's hashes end to end, as the header carries them.
    var path: [UInt8]
    /// The Ed25519 signature of the batch statement.
    public var signature: [UInt8]
    /// `<session>:<n>` as written.
    public var sequence: String
    /// The producer session (32 lowercase hex digits).
    public var session: String
    /// The record's number among the session's records in its partition.
    public var number: Int

    /// The largest batch a record may claim to belong to.
    public static let maxBatchSize: UInt64 = 1 << 24
    /// The longest producer name or batch id accepted.
    public static let maxNameLength = 512

    static let names = [
        RecordSignature.Header.signature, RecordSignature.Header.batch, RecordSignature.Header.proof,
        RecordSignature.Header.producer, RecordSignature.Header.producerKey, RecordSignature.Header.schema,
        RecordSignature.Header.sequence,
    ]

    /// The names of ``names`` as bytes.
    static let nameBytes = names.map { Array($0.utf8) }

    /// What the records of one batch share (signature, producer, key id, session, batch id),
    /// checked and decoded once for a run of records.
    ///
    /// A header reuses a remembered part only when its bytes are exactly those the part was
    /// checked and decoded from; anything else is checked and decoded afresh.
    public struct Memo: Sendable {
        var signature: (text: [UInt8], bytes: [UInt8])?
        var producer: (bytes: [UInt8], text: String)?
        var keyID: (bytes: [UInt8], text: String)?
        var session: (bytes: ArraySlice<UInt8>, text: String)?
        var batchID: [UInt8]?

        /// Nothing remembered.
        public init() {}
    }

    /// Parses the headers of a stored record.
    public static func parse(_ headers: [RecordHeader]) -> Result<SignedHeaders, RecordSignature.Failure> {
        var memo = Memo()
        return parse(headers, memo: &memo)
    }

    /// Parses the headers of a stored record, reusing what `memo` holds from the records
    /// before it: the same result as ``parse(_:)``, with less work for a batch's records.
    public static func parse(
        _ headers: [RecordHeader],
        memo: inout Memo
    ) -> Result<SignedHeaders, RecordSignature.Failure> {
        // One slot per name of ``names``, in order (held inline: no array per record).
        var values: ([UInt8]?, [UInt8]?, [UInt8]?, [UInt8]?, [UInt8]?, [UInt8]?, [UInt8]?) = (
            nil, nil, nil, nil, nil, nil, nil
        )
        var seen = 0
        for header in headers {
            var name = header.name
            let index: Int? = name.withUTF8 { n in
                nameBytes.firstIndex { known in
                    known.count == n.count
                        && known.withUnsafeBufferPointer { k in
                            guard let a = k.baseAddress, let b = n.baseAddress else { return k.isEmpty }
                            return memcmp(a, b, k.count) == 0
                        }
                }
            }
            guard let i = index else { continue }
            guard seen & (1 << i) == 0 else { return .failure(.malformed) }
            seen |= 1 << i
            switch i {
            case 0: values.0 = header.value
            case 1: values.1 = header.value
            case 2: values.2 = header.value
            case 3: values.3 = header.value
            case 4: values.4 = header.value
            case 5: values.5 = header.value
            default: values.6 = header.value
            }
        }
        if seen == 0 { return .failure(.missing) }
        guard let signatureText = values.0, let batch = values.1, let proof = values.2, let producer = values.3,
            let keyID = values.4, let schema = values.5, let sequence = values.6
        else { return .failure(.missing) }
        // `<32 lowercase hex>:<decimal>`.
        guard sequence.count > 33, sequence[32] == UInt8(ascii: ":"),
            let number = decimal(sequence[33...], maxDigits: 18)
        else { return .failure(.malformed) }
        let session: String
        if let known = memo.session, known.bytes == sequence[..<32] {
            session = known.text
        } else {
            guard sequence[..<32].allSatisfy({ isLowerHex($0) }) else { return .failure(.malformed) }
            session = String(decoding: sequence[..<32], as: UTF8.self)
            memo.session = (sequence[..<32], session)
        }
        let producerText: String
        if let known = memo.producer, known.bytes == producer {
            producerText = known.text
        } else {
            guard isPrintableASCII(producer, max: maxNameLength) else { return .failure(.malformed) }
            producerText = String(decoding: producer, as: UTF8.self)
            memo.producer = (producer, producerText)
        }
        let keyIDText: String
        if let known = memo.keyID, known.bytes == keyID {
            keyIDText = known.text
        } else {
            guard keyID.count == 16, keyID.allSatisfy({ isLowerHex($0) }) else { return .failure(.malformed) }
            keyIDText = String(decoding: keyID, as: UTF8.self)
            memo.keyID = (keyID, keyIDText)
        }
        guard let schemaID = decimal(schema[...], maxDigits: 9), schemaID > 0,
            proof.count % 32 == 0, proof.count / 32 <= 64
        else { return .failure(.malformed) }
        let signature: [UInt8]
        if let known = memo.signature, known.text == signatureText {
            signature = known.bytes
        } else {
            guard signatureText.count == 88, isPrintableASCII(signatureText, max: 88),
                let decoded = Data(base64Encoded: Data(signatureText)), decoded.count == 64
            else { return .failure(.malformed) }
            signature = Array(decoded)
            memo.signature = (signatureText, signature)
        }
        // `<batch id>:<index>:<size>`; the id holds no colon.
        guard let first = batch.firstIndex(of: UInt8(ascii: ":")),
            let second = batch[(first + 1)...].firstIndex(of: UInt8(ascii: ":")),
            !batch[(second + 1)...].contains(UInt8(ascii: ":")), first > 0,
            let index = decimal(batch[(first + 1)..<second], maxDigits: 8),
            let size = decimal(batch[(second + 1)...], maxDigits: 8),
            size >= 1, UInt64(size) <= maxBatchSize, index < size
        else { return .failure(.malformed) }
        let batchID: [UInt8]
        if let known = memo.batchID, known[...] == batch[..<first] {
            batchID = known
        } else {
            guard isPrintableASCII(batch[..<first], max: maxNameLength) else { return .failure(.malformed) }
            batchID = Array(batch[..<first])
            memo.batchID = batchID
        }
        return .success(
            SignedHeaders(
                producer: producerText,
                producerKeyID: keyIDText,
                schemaID: schemaID,
                batchID: batchID,
                index: UInt64(index),
                size: UInt64(size),
                path: proof,
                signature: signature,
                sequence: String(decoding: sequence, as: UTF8.self),
                session: session,
                number: number
            )
        )
    }

    static func isPrintableASCII(_ bytes: some Collection<UInt8>, max: Int) -> Bool {
        !bytes.isEmpty && bytes.count <= max && bytes.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    static func isLowerHex(_ b: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(b)
    }

    /// A decimal of 1…`maxDigits` ASCII digits without a leading zero (`0` itself allowed).
    static func decimal(_ bytes: ArraySlice<UInt8>, maxDigits: Int) -> Int? {
        guard !bytes.isEmpty, bytes.count <= maxDigits, bytes.count == 1 || bytes.first != UInt8(ascii: "0") else {
            return nil
        }
        var n = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int(b - UInt8(ascii: "0"))
        }
        return n
    }
}
