public import StrongroomCrypto
import StrongroomJSON
public import StrongroomKeys
public import StrongroomSchema

/// An event that could not be encrypted or decrypted.
///
/// Names the field pointer and the rule, never a value.
public struct EventCipherError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case invalidJSON = "invalid JSON"
            case missingSubject = "data-subject field missing"
            case invalidSubject = "data-subject field must be a non-empty string"
            case invalidEventID = "event-id field must be a non-empty string"
            case subjectErased = "subject erased: no new data can be encrypted for it"
            case keyUnavailable = "key unavailable"
            case keyRetired = "key version retired"
            case malformedCiphertext = "malformed field ciphertext"
            case alreadyEncrypted = "value is already an sr1: ciphertext; refusing to encrypt it again"
            case notAnObject = "an event must be a JSON object"
            case schemaViolation = "schema violation"
            case untaggedPersonalData = "personal data in an untagged field"
            case authenticationFailure = "field failed authentication"
        }

        let base: Base
        /// Not well-formed JSON.
        public static let invalidJSON = Code(base: .invalidJSON)
        /// The schema names a data-subject field the event lacks.
        public static let missingSubject = Code(base: .missingSubject)
        /// The data-subject field is not a non-empty string.
        public static let invalidSubject = Code(base: .invalidSubject)
        /// The event-id field is not a non-empty string.
        public static let invalidEventID = Code(base: .invalidEventID)
        /// The subject was erased.
        public static let subjectErased = Code(base: .subjectErased)
        /// The key store could not supply the key.
        public static let keyUnavailable = Code(base: .keyUnavailable)
        /// The field's key version was retired: it can never be opened again.
        public static let keyRetired = Code(base: .keyRetired)
        /// A tagged value that starts with `sr1:` but is not a valid ciphertext.
        public static let malformedCiphertext = Code(base: .malformedCiphertext)
        /// A tagged value handed to encryption is already an `sr1:` string.
        public static let alreadyEncrypted = Code(base: .alreadyEncrypted)
        /// The event is not a JSON object.
        public static let notAnObject = Code(base: .notAnObject)
        /// The event breaks its schema (checked before encryption by the CLI's `encrypt`).
        public static let schemaViolation = Code(base: .schemaViolation)
        /// DLP found personal data outside the tagged fields.
        public static let untaggedPersonalData = Code(base: .untaggedPersonalData)
        /// Wrong key, tampering, or a ciphertext moved from another field or event.
        public static let authenticationFailure = Code(base: .authenticationFailure)

        /// The code as words.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// Safe detail: a field pointer, a byte offset, a key reference.
    public let detail: String

    /// An error with `code` and safe `detail`.
    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    /// Equal by code.
    public static func == (lhs: EventCipherError, rhs: EventCipherError) -> Bool { lhs.code == rhs.code }
    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    /// The code and safe detail.
    public var description: String { detail.isEmpty ? "\(code)" : "\(code) (\(detail))" }
}

/// Encrypts and decrypts the tagged fields of JSON events in place.
///
/// The event's bytes are scanned once; each tagged value's exact JSON text is sealed
/// and spliced back as an `sr1:` string, and everything else is copied byte for byte,
/// so numbers, key order and spacing survive. Fields are sealed under the data
/// subject's key when the event names one, else under the topic's key.
public struct EventCipher: Sendable {
    /// Where events come from and how they name their subject and id.
    public struct Options: Sendable {
        /// Tenant ("" for one tenant).
        public var tenant: String
        /// Topic the events belong to.
        public var topic: String
        /// Top-level member that holds the data-subject id; nil puts every field under
        /// the topic key (erasure then cannot reach a single customer).
        public var subjectField: String?
        /// Top-level member that holds a unique event id, bound into every randomized
        /// field so a ciphertext cannot move between two events of the same subject.
        public var eventIDField: String?
        /// Deepest nesting accepted.
        public var maxDepth: Int
        /// Cores one batch call may use; nil for every core, 1 keeps a call on its caller's
        /// thread (for callers that run their own workers).
        public var threads: Int?

        /// Options for `topic`.
        public init(
            topic: String,
            tenant: String = "",
            subjectField: String? = nil,
            eventIDField: String? = nil,
            maxDepth: Int = 64,
            threads: Int? = nil
        ) {
            self.topic = topic
            self.tenant = tenant
            self.subjectField = subjectField
            self.eventIDField = eventIDField
            self.maxDepth = maxDepth
            self.threads = threads
        }
    }

    /// What a decryption did.
    public struct DecryptOutcome: Sendable, Hashable {
        /// Fields decrypted.
        public var decrypted = 0
        /// Fields whose subject was erased, written as the erased marker.
        public var erased = 0
        /// Fields masked.
        public var masked = 0
        /// Fields left encrypted.
        public var kept = 0
        /// The data-subject id the event names: set when its subject field was decrypted (or
        /// was stored in clear), nil when it was masked or kept.
        public var subject: String?
        /// The pseudonym of the event's data subject, read from the header of its encrypted
        /// subject field.
        public var subjectKeyID: KeyID?
        /// That pseudonym as hex: what record keys, `sr-subject` and audit entries carry.
        public var subjectKey: String? { subjectKeyID?.description }
        /// True when the subject field was opened under that key (so the key id is authentic);
        /// false when it was not sealed, or its key was erased.
        public var subjectAuthenticated = false
        /// The keys that opened a field (decrypted or masked), each once.
        public var keys: [KeyReference] = []
    }

    /// One encrypted event and the pseudonym of its data subject.
    public struct Sealed: Sendable, Hashable {
        /// The event with its tagged fields and subject field encrypted.
        public var value: [UInt8]
        /// The subject's pseudonym, nil for an event without a subject.
        public var subjectKeyID: KeyID?
        /// That pseudonym as hex.
        public var subjectKey: String? { subjectKeyID?.description }
        /// The key every sealed field of the event names, nil when nothing was sealed.
        public var key: KeyReference?
        /// How many fields were sealed.
        public var fields = 0
    }

    /// The value an erased field reads as.
    public static let erasedMarker: [UInt8] = Array(#"{"$erased":true}"#.utf8)

    /// The fields to encrypt.
    public let plan: EncryptionPlan
    /// The options.
    public let options: Options
    /// The key store.
    public let keys: KeyStore
    let paths: JSONPathSet
    /// The subject field, encrypted (randomized) like personal data under the subject's key.
    let subjectPlanField: EncryptionPlan.Field?
    static let subjectTag = -1
    static let eventTag = -2

    /// A cipher for `plan` over `keys`.
    ///
    /// - Throws: ``SchemaError`` when the subject or event-id field would itself be
    ///   encrypted (nothing could then bind or find the key).
    public init(plan: EncryptionPlan, keys: KeyStore, options: Options) throws(SchemaError) {
        var paths = JSONPathSet()
        for (i, field) in plan.fields.enumerated() { paths.insert(field.steps, tag: i) }
        for (name, tag) in [(options.subjectField, Self.subjectTag), (options.eventIDField, Self.eventTag)] {
            guard let name else { continue }
            if plan.fields.contains(where: { $0.steps.first == .member(name) }) {
                throw SchemaError(
                    "the field '\(name)' names the subject or event but is tagged PII",
                    at: "/properties/\(name)"
                )
            }
            guard paths.insert([.member(name)], tag: tag) else {
                throw SchemaError("subject and event-id fields must differ", at: "/properties/\(name)")
            }
        }
        self.plan = plan
        self.keys = keys
        self.options = options
        self.paths = paths
        self.subjectPlanField = options.subjectField.map {
            EncryptionPlan.Field(
                steps: [.member($0)],
                pattern: "/" + JSONPathSet.escapePointerToken($0),
                deterministic: false
            )
        }
    }

    struct Scan {
        var matches: [JSONPathSet.Match]
        /// The subject id, when the subject field is in clear.
        var subject: String?
        /// The subject's key id, when the subject field is an `sr1:` ciphertext.
        var subjectKey: KeyID?
        /// The subject field's ciphertext, parsed once for both its key id and its opening.
        var subjectSealed: (span: Range<Int>, field: SealedField)?
        var eventID: String?
        /// Fields encryption seals: the tagged fields and the subject field.
        var seals = 0

        /// Personal data to seal: a tagged field, or the subject field in clear.
        var needsKey: Bool { subject != nil || matches.contains { $0.tag >= 0 } }
    }

    /// The plan field a match stands for: a tagged field, or the subject field.
    func field(_ match: JSONPathSet.Match) -> EncryptionPlan.Field? {
        if match.tag >= 0 { return plan.fields[match.tag] }
        return match.tag == Self.subjectTag ? subjectPlanField : nil
    }

    func scan(_ bytes: UnsafeBufferPointer<UInt8>) throws(EventCipherError) -> Scan {
        let matches: [JSONPathSet.Match]
        do { matches = try paths.matches(in: bytes, maxDepth: options.maxDepth) } catch {
            throw EventCipherError(.invalidJSON, "\(error.code) at byte \(error.offset)")
        }
        // Only objects are events: `[1,2]` or `"x"` would pass through unencrypted.
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }),
            first == UInt8(ascii: "{")
        else { throw EventCipherError(.notAnObject) }
        var result = Scan(matches: matches)
        result.seals = matches.reduce(0) { $0 + (field($1) == nil ? 0 : 1) }
        for match in matches where match.tag < 0 {
            let isSubject = match.tag == Self.subjectTag
            if isSubject, match.span.count > 6, bytes[match.span.lowerBound] == UInt8(ascii: "\""),
                FieldCipher.looksSealed(UnsafeBufferPointer(rebasing: bytes[(match.span.lowerBound + 1)...]))
            {
                // An `sr1:` value that does not parse is a broken ciphertext, never a subject id.
                guard let sealed = Self.sealedField(bytes, match.span) else {
                    throw EventCipherError(.malformedCiphertext, match.pointer)
                }
                guard sealed.key.scope == .subject else { throw EventCipherError(.invalidSubject, match.pointer) }
                result.subjectKey = sealed.key.id
                result.subjectSealed = (match.span, sealed)
                continue
            }
            guard let text = Self.decodeString(bytes, match.span), !text.isEmpty else {
                throw EventCipherError(isSubject ? .invalidSubject : .invalidEventID, match.pointer)
            }
            if isSubject { result.subject = text } else { result.eventID = text }
        }
        if options.subjectField != nil, result.subject == nil, result.subjectKey == nil,
            matches.contains(where: { $0.tag >= 0 })
        {
            throw EventCipherError(.missingSubject, "/" + (options.subjectField ?? ""))
        }
        // A named event-id field that is absent would silently drop the event binding.
        if let field = options.eventIDField, result.eventID == nil, matches.contains(where: { $0.tag >= 0 }) {
            throw EventCipherError(.invalidEventID, "/" + field + " missing")
        }
        return result
    }

    /// The parsed ciphertext when the value at `span` is an `sr1:` string that parses.
    static func sealedField(_ bytes: UnsafeBufferPointer<UInt8>, _ span: Range<Int>) -> SealedField? {
        guard span.count > 6, bytes[span.lowerBound] == UInt8(ascii: "\""),
            FieldCipher.looksSealed(UnsafeBufferPointer(rebasing: bytes[(span.lowerBound + 1)...]))
        else { return nil }
        return try? SealedField(
            parsing: UnsafeBufferPointer(rebasing: bytes[(span.lowerBound + 1)..<(span.upperBound - 1)])
        )
    }

    static func decodeString(_ bytes: UnsafeBufferPointer<UInt8>, _ span: Range<Int>) -> String? {
        guard span.count >= 2, bytes[span.lowerBound] == UInt8(ascii: "\"") else { return nil }
        let inner = (span.lowerBound + 1)..<(span.upperBound - 1)
        let raw = UnsafeBufferPointer(rebasing: bytes[inner])
        if !raw.contains(UInt8(ascii: "\\")) { return String(decoding: raw, as: UTF8.self) }
        return (try? JSONValue(parsing: UnsafeBufferPointer(rebasing: bytes[span])))?.stringValue
    }

    func family(for subject: String?) -> KeyFamily {
        if let subject {
            .subject(subject, tenant: options.tenant)
        } else {
            .topic(options.topic, tenant: options.tenant)
        }
    }

    // MARK: Encrypt

    /// Encrypts one event; appends the result to `out`.
    @discardableResult
    public func encrypt(
        _ event: UnsafeBufferPointer<UInt8>,
        into out: inout [UInt8]
    ) throws(EventCipherError) -> String? {
        let scan = try scan(event)
        let key = try encryptionKey(for: scan)
        try seal(event, scan: scan, key: key, into: &out)
        return key?.reference.scope == .subject ? key?.reference.id.description : nil
    }

    /// Encrypts one event.
    public func encrypt(_ event: [UInt8]) throws(EventCipherError) -> [UInt8] {
        var out: [UInt8] = []
        let result: Result<Void, EventCipherError> = event.withUnsafeBufferPointer { buffer in
            do throws(EventCipherError) {
                try encrypt(buffer, into: &out)
                return .success(())
            } catch { return .failure(error) }
        }
        try result.get()
        return out
    }

    /// Encrypts many events, one result per event.
    ///
    /// The keys of all their subjects are resolved together first: new subjects' keys
    /// are created in one transaction.
    public func encrypt(batch events: [[UInt8]]) -> [Result<[UInt8], EventCipherError>] {
        seal(batch: events).map { $0.map(\.value) }
    }

    /// The slot `entry` holds, or `next` stored in it.
    private static func slot(in entry: inout Int?, next: Int) -> Int {
        if let known = entry { return known }
        entry = next
        return next
    }

    /// Encrypts many events, one result per event, each with its subject's pseudonym.
    public func seal(batch events: [[UInt8]]) -> [Result<Sealed, EventCipherError>] {
        let scans = Parallel.map(events.count, threads: options.threads) { i in
            events[i].withUnsafeBufferPointer { buffer -> Result<Scan, EventCipherError> in
                do throws(EventCipherError) { return .success(try scan(buffer)) } catch { return .failure(error) }
            }
        }
        // The batch's distinct families, each with the seals the batch makes under it (counted
        // against its limit), and each event's place among them: one hash per event.
        var slots: [KeyFamily: Int] = [:]
        var families: [KeyFamily] = []
        var seals: [Int] = []
        // Sized for a batch of distinct subjects: no rehashing while it fills.
        slots.reserveCapacity(events.count)
        families.reserveCapacity(events.count)
        seals.reserveCapacity(events.count)
        let slot = scans.map { scanned -> Int? in
            guard case .success(let s) = scanned, s.needsKey, s.subjectKey == nil else { return nil }
            let f = family(for: s.subject)
            let i = Self.slot(in: &slots[f], next: families.count)
            if i == families.count {
                families.append(f)
                seals.append(s.seals)
            } else {
                seals[i] += s.seals
            }
            return i
        }
        // One round trip for every subject; a failure resurfaces per event (each event then
        // asks for its own key).
        let threads = min(options.threads ?? Parallel.cores, Parallel.cores)
        guard threads > 1 else {
            let resolved = (try? keys.encryptionKeys(for: families, seals: seals, threads: 1)) ?? []
            return sealEach(events, scans, slot, resolved, events.indices)
        }
        guard threads == Parallel.cores else {
            // A cap below the machine's cores: one sealing at a time, overlapping the commit.
            return
                (try? keys.withEncryptionKeys(for: families, seals: seals, threads: threads) { resolved in
                    sealEach(events, scans, slot, resolved, events.indices)
                }) ?? sealEach(events, scans, slot, [], events.indices)
        }
        // On every core, the events whose keys are cached are sealed at once, while
        // the keys of the batch's new and uncached subjects are made and committed; those events are
        // then sealed while the new keys' transaction commits.
        let cached = keys.cachedEncryptionKeys(for: families, seals: seals)
        let missing = cached.indices.filter { cached[$0] == nil }
        guard !missing.isEmpty else { return sealEach(events, scans, slot, cached, events.indices) }
        let waiting = events.indices.filter { i in slot[i].map { cached[$0] == nil } ?? false }
        let early = Overlap<[Result<Sealed, EventCipherError>]>()
        early.start { [self] in
            sealEach(
                events,
                scans,
                slot,
                cached,
                events.indices.filter { i in slot[i].map { cached[$0] != nil } ?? true }
            )
        }
        @Sendable func sealWaiting(_ made: [DataEncryptionKey?]) -> [Result<Sealed, EventCipherError>] {
            // `made` follows `missing`; an empty answer leaves each event to ask for its own key.
            var resolved = cached
            if made.count == missing.count { for (j, f) in missing.enumerated() { resolved[f] = made[j] } }
            return sealEach(events, scans, slot, resolved, waiting)
        }
        let late =
            (try? keys.withEncryptionKeys(
                for: missing.map { families[$0] },
                seals: missing.map { seals[$0] },
                threads: threads,
                sealWaiting
            )) ?? sealWaiting([])
        let sealedEarly = early.wait().unsafelyUnwrapped
        // Back in the events' order: each group kept its events in order.
        var results: [Result<Sealed, EventCipherError>] = []
        results.reserveCapacity(events.count)
        var (e, l) = (0, 0)
        for i in events.indices {
            if l < waiting.count, waiting[l] == i {
                results.append(late[l])
                l += 1
            } else {
                results.append(sealedEarly[e])
                e += 1
            }
        }
        return results
    }

    /// Seals each event of `indices` with its slot's key in `resolved` (or its own, asked for
    /// now); the results in the order of `indices`.
    private func sealEach(
        _ events: [[UInt8]],
        _ scans: [Result<Scan, EventCipherError>],
        _ slot: [Int?],
        _ resolved: [DataEncryptionKey?],
        _ indices: some RandomAccessCollection<Int> & Sendable
    ) -> [Result<Sealed, EventCipherError>] {
        Parallel.map(indices.count, threads: options.threads) { j in
            let i = indices[indices.index(indices.startIndex, offsetBy: j)]
            return events[i].withUnsafeBufferPointer { buffer in
                do throws(EventCipherError) {
                    let scan = try scans[i].get()
                    var out: [UInt8] = []
                    // The exact size: the results of a batch stay in memory together.
                    out.reserveCapacity(sealedCount(buffer.count, scan: scan))
                    var key = slot[i].flatMap { resolved.indices.contains($0) ? resolved[$0] : nil }
                    if key == nil { key = try encryptionKey(for: scan) }
                    try seal(buffer, scan: scan, key: key, into: &out)
                    return .success(
                        Sealed(
                            value: out,
                            subjectKeyID: key?.reference.scope == .subject ? key?.reference.id : nil,
                            key: key?.reference,
                            fields: key == nil ? 0 : scan.seals
                        )
                    )
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    func encryptionKey(for scan: Scan) throws(EventCipherError) -> DataEncryptionKey? {
        if scan.subjectKey != nil { throw EventCipherError(.alreadyEncrypted, "/" + (options.subjectField ?? "")) }
        guard scan.needsKey else { return nil }
        do { return try keys.encryptionKey(for: family(for: scan.subject), seals: scan.seals) } catch {
            if error.code == .subjectErased {
                throw EventCipherError(.subjectErased)
            }
            throw EventCipherError(.keyUnavailable, error.code.description)
        }
    }

    /// Bytes of an event of `count` bytes once its fields are sealed: each field's JSON text
    /// becomes a string holding `sr1:` and the base64url of header, nonce, ciphertext and tag.
    func sealedCount(_ count: Int, scan: Scan) -> Int {
        var total = count
        for match in scan.matches {
            guard let field = field(match) else { continue }
            let algorithm: FieldAlgorithm = field.deterministic ? .aes256GCMSIVDeterministic : .aes256GCM
            total += 2 + FieldCipher.textCount(match.span.count, algorithm) - match.span.count
        }
        return total
    }

    func seal(
        _ event: UnsafeBufferPointer<UInt8>,
        scan: Scan,
        key: DataEncryptionKey?,
        into out: inout [UInt8]
    ) throws(EventCipherError) {
        guard let key else {
            out.append(contentsOf: event)
            return
        }
        let context = FieldContext(
            tenant: options.tenant,
            topic: options.topic,
            subjectKey: key.reference.scope == .subject ? key.reference.id : nil,
            eventID: scan.eventID
        )
        let randomized = context.associatedDataPrefix()
        var deterministicPrefix: [UInt8]? = nil
        // One cipher context for all the event's fields.
        let session: FieldSession
        do { session = try FieldSession(key) } catch {
            throw EventCipherError(.keyUnavailable, scan.matches.first { field($0) != nil }?.pointer ?? "")
        }
        var copied = 0
        for match in scan.matches {
            guard let field = field(match) else { continue }
            let span = match.span
            if span.count > 6, event[span.lowerBound] == UInt8(ascii: "\""),
                FieldCipher.looksSealed(UnsafeBufferPointer(rebasing: event[(span.lowerBound + 1)...]))
            {
                throw EventCipherError(.alreadyEncrypted, match.pointer)
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: event[copied..<match.span.lowerBound]))
            out.append(UInt8(ascii: "\""))
            let prefix: [UInt8]
            if field.deterministic {
                // Equality search needs the same ciphertext in every event: no event id.
                if deterministicPrefix == nil {
                    var c = context
                    c.eventID = nil
                    deterministicPrefix = c.associatedDataPrefix()
                }
                prefix = deterministicPrefix ?? randomized
            } else {
                prefix = randomized
            }
            do {
                try FieldCipher.seal(
                    UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: event[match.span])),
                    pointer: match.pointer,
                    associatedDataPrefix: prefix,
                    session: session,
                    algorithm: field.deterministic ? .aes256GCMSIVDeterministic : .aes256GCM,
                    into: &out
                )
            } catch {
                throw EventCipherError(.keyUnavailable, match.pointer)
            }
            out.append(UInt8(ascii: "\""))
            copied = match.span.upperBound
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: event[copied...]))
    }

    // MARK: Decrypt

    /// Decrypts one event into `out`; erased subjects' fields become ``erasedMarker``.
    ///
    /// A tagged value that is not an `sr1:` string is copied as it is.
    @discardableResult
    public func decrypt(
        _ event: UnsafeBufferPointer<UInt8>,
        into out: inout [UInt8]
    ) throws(EventCipherError)
        -> DecryptOutcome
    {
        try reveal(event, into: &out) { _, _ in .decrypt }
    }

    /// What a reader gets of one encrypted field.
    public enum FieldTreatment: Sendable, Hashable {
        /// The plaintext.
        case decrypt
        /// The plaintext masked (decrypted here, in the trusted pipeline, then masked).
        case mask(MaskStyle)
        /// The ciphertext as stored.
        case keep
    }

    /// The mask of a field's JSON text: `last4` keeps separators and the last four characters
    /// of a string; any other value or style becomes `"***"`.
    static func masked(_ json: [UInt8], style: MaskStyle) -> String {
        if style == .lastFour, case .string(let s)? = try? JSONValue(parsing: json) {
            return SchemaAnnotations.mask(s, style: .lastFour)
        }
        return "***"
    }

    /// Decrypts, masks or keeps each encrypted field as `treatment` says for its concrete JSON
    /// pointer (`/phones/0`, never a pattern: authorization is asked about exactly the field
    /// revealed) and the plan field it matched (whose `pattern` selects the schema's mask).
    ///
    /// Masks: `last4` keeps separators and the last four characters of a string value, any
    /// other value or style becomes `"***"`. An erased subject's fields become the erased
    /// marker whatever the treatment.
    @discardableResult
    public func reveal(
        _ event: UnsafeBufferPointer<UInt8>,
        into out: inout [UInt8],
        treatment: (_ pointer: String, _ field: EncryptionPlan.Field) -> FieldTreatment
    ) throws(EventCipherError)
        -> DecryptOutcome
    {
        let scan = try scan(event)
        var outcome = DecryptOutcome()
        outcome.subject = scan.subject
        outcome.subjectKeyID = scan.subjectKey
        let context = FieldContext(
            tenant: options.tenant,
            topic: options.topic,
            subjectKey: scan.subjectKey,
            eventID: scan.eventID
        )
        var randomized: [UInt8]? = nil
        var deterministic: [UInt8]? = nil
        var lastLookup: (reference: KeyReference, lookup: KeyLookup)? = nil
        // The cipher context of the last key used, kept for the event's next fields.
        var session: FieldSession? = nil
        // One buffer for every field's decoded bytes: each field is done with before the next.
        var decoded: [UInt8] = []
        var copied = 0
        for match in scan.matches {
            guard let field = field(match) else { continue }
            let span = match.span
            guard span.count > 6, event[span.lowerBound] == UInt8(ascii: "\""),
                FieldCipher.looksSealed(UnsafeBufferPointer(rebasing: event[(span.lowerBound + 1)...]))
            else {
                // A tagged value stored in clear (an older schema did not tag it) is still masked
                // for a reader without decrypt rights: the tag, not the storage, decides.
                if case .mask(let style) = treatment(match.pointer, field) {
                    if match.tag == Self.subjectTag { outcome.subject = nil }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: event[copied..<span.lowerBound]))
                    copied = span.upperBound
                    let plain = Array(UnsafeBufferPointer(rebasing: event[span]))
                    let masked = Self.masked(plain, style: style)
                    JSONValue.writeString(masked, to: &out)
                    outcome.masked += 1
                }
                continue
            }
            let how = treatment(match.pointer, field)
            // The subject field is opened even when kept, to authenticate the key id it names.
            if how == .keep && match.tag != Self.subjectTag {
                outcome.kept += 1
                continue
            }
            let text = UnsafeBufferPointer(rebasing: event[(span.lowerBound + 1)..<(span.upperBound - 1)])
            let sealed: SealedField
            if let subject = scan.subjectSealed, subject.span == span {
                sealed = subject.field
            } else {
                do { sealed = try SealedField(parsing: text, reusing: &decoded) } catch {
                    throw EventCipherError(.malformedCiphertext, "\(match.pointer): \(error.code)")
                }
            }
            var lookup: KeyLookup
            // An event's fields mostly share one key: ask the store once per key.
            if let last = lastLookup, last.reference == sealed.key {
                lookup = last.lookup
            } else {
                do { lookup = try keys.decryptionKey(sealed.key) } catch {
                    if error.code == .keyRetired { throw EventCipherError(.keyRetired, match.pointer) }
                    throw EventCipherError(.keyUnavailable, "\(match.pointer): \(error.code)")
                }
                session = nil
                if case .key(let key) = lookup {
                    do { session = try FieldSession(key) } catch {
                        // Erased while this read was under way: the field reads as erased, not as
                        // tampered. Any other failure is not an erasure and stops the read.
                        guard key.isDiscarded else {
                            throw EventCipherError(.keyUnavailable, "\(match.pointer): \(error.code)")
                        }
                        lookup = .erased
                    }
                }
                lastLookup = (sealed.key, lookup)
            }
            let prefix: [UInt8]
            if sealed.algorithm == .aes256GCMSIVDeterministic {
                if deterministic == nil {
                    var c = context
                    c.eventID = nil
                    deterministic = c.associatedDataPrefix()
                }
                prefix = deterministic ?? []
            } else {
                if randomized == nil { randomized = context.associatedDataPrefix() }
                prefix = randomized ?? []
            }
            if how == .keep {
                if case .key(let key) = lookup {
                    var plain: [UInt8] = []
                    if try Self.open(sealed, match.pointer, prefix, session, key, into: &plain) {
                        for i in plain.indices { plain[i] = 0 }
                        outcome.subjectAuthenticated = true
                    }
                }
                outcome.kept += 1
                continue
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: event[copied..<span.lowerBound]))
            copied = span.upperBound
            switch lookup {
            case .erased:
                out.append(contentsOf: Self.erasedMarker)
                outcome.erased += 1
            case .key(let key):
                if !outcome.keys.contains(key.reference) { outcome.keys.append(key.reference) }
                if case .mask(let style) = how {
                    var plain: [UInt8] = []
                    guard try Self.open(sealed, match.pointer, prefix, session, key, into: &plain) else {
                        out.append(contentsOf: Self.erasedMarker)
                        outcome.erased += 1
                        continue
                    }
                    let masked = Self.masked(plain, style: style)
                    // The plaintext never leaves this scope.
                    for i in plain.indices { plain[i] = 0 }
                    if match.tag == Self.subjectTag { outcome.subjectAuthenticated = true }
                    JSONValue.writeString(masked, to: &out)
                    outcome.masked += 1
                } else {
                    let start = out.count
                    guard try Self.open(sealed, match.pointer, prefix, session, key, into: &out) else {
                        out.append(contentsOf: Self.erasedMarker)
                        outcome.erased += 1
                        continue
                    }
                    if match.tag == Self.subjectTag {
                        outcome.subject = (try? JSONValue(parsing: Array(out[start...])))?.stringValue
                        outcome.subjectAuthenticated = true
                    }
                    outcome.decrypted += 1
                }
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: event[copied...]))
        return outcome
    }

    /// Opens `sealed` with the session a lookup of its key began.
    ///
    /// False when `key` was erased while this event was read (the field then reads as erased);
    /// `out` is unchanged on failure.
    static func open(
        _ sealed: SealedField,
        _ pointer: String,
        _ prefix: [UInt8],
        _ session: borrowing FieldSession?,
        _ key: DataEncryptionKey,
        into out: inout [UInt8]
    ) throws(EventCipherError) -> Bool {
        do {
            switch session {
            case .some(let session):
                try sealed.open(pointer: pointer, associatedDataPrefix: prefix, session: session, into: &out)
            case .none:
                throw CipherError(.invalidKey)
            }
            return true
        } catch {
            if key.isDiscarded { return false }
            throw EventCipherError(.authenticationFailure, pointer)
        }
    }

    /// Decrypts one event.
    public func decrypt(_ event: [UInt8]) throws(EventCipherError) -> [UInt8] {
        var out: [UInt8] = []
        let result: Result<Void, EventCipherError> = event.withUnsafeBufferPointer { buffer in
            do throws(EventCipherError) {
                try decrypt(buffer, into: &out)
                return .success(())
            } catch { return .failure(error) }
        }
        try result.get()
        return out
    }
}
