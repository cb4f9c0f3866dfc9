public import Foundation
import StrongroomJSON

/// One audit record: who did what to which resource, and what was decided.
///
/// Metadata only. There is no field for payload values, and none may be smuggled into
/// `reason` or `resource`: callers put field paths, rule ids, key ids and counts here,
/// never the values those fields hold. Stored as RFC 8785 canonical JSON; the leaf hash
/// of the Merkle tree is computed over exactly those bytes (schema: docs/audit.md).
public struct AuditEntry: Sendable, Hashable {
    /// The outcome of an authorization or operation.
    public enum Decision: String, Sendable, Hashable {
        /// Allowed or done.
        case allow
        /// Denied or refused.
        case deny
    }

    /// Position in the log, assigned on append.
    public internal(set) var index: UInt64 = 0
    /// When it happened (stored to the millisecond, UTC).
    public var time: Date
    /// Who: a service account or user id.
    public var principal: String
    /// The action: Produce, Consume, Decrypt, Erase and so on.
    public var action: String
    /// The resource, such as `topic:loan_applications` or `field:loan_applications/ssn`.
    public var resource: String
    /// The decision.
    public var decision: Decision
    /// JSON pointers of the fields concerned.
    public var fields: [String]
    /// The declared purpose, if any.
    public var purpose: String?
    /// Ids of the policy rules that decided.
    public var rules: [String]
    /// Why, in safe words.
    public var reason: String?
    /// Correlation id of the request or batch.
    public var correlationID: String?
    /// Key references used (never key bytes).
    public var keyIDs: [String]
    /// How many records or fields this entry stands for (aggregated per batch).
    public var count: Int
    /// The data subject's pseudonym (its random key id, hex), never the id.
    public var subjectKey: String?
    /// The policy in force when it was decided: `<version> <sha256 digest>`.
    public var policy: String?

    /// An entry; `index` is assigned by the log.
    public init(
        time: Date = Date(),
        principal: String,
        action: String,
        resource: String,
        decision: Decision,
        fields: [String] = [],
        purpose: String? = nil,
        rules: [String] = [],
        reason: String? = nil,
        correlationID: String? = nil,
        keyIDs: [String] = [],
        count: Int = 1,
        subjectKey: String? = nil,
        policy: String? = nil
    ) {
        self.policy = policy
        self.time = Date(timeIntervalSince1970: (time.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
        self.principal = principal
        self.action = action
        self.resource = resource
        self.decision = decision
        self.fields = fields
        self.purpose = purpose
        self.rules = rules
        self.reason = reason
        self.correlationID = correlationID
        self.keyIDs = keyIDs
        self.count = count
        self.subjectKey = subjectKey
    }

    /// The canonical bytes: RFC 8785 JSON, members in code-point order, optional ones omitted.
    public func canonicalBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        func strings(_ list: [String]) {
            out.append(UInt8(ascii: "["))
            for (i, s) in list.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(s, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        // Keys in code-point order (RFC 8785 §3.2.3); all are ASCII, written as prepared bytes.
        out += Self.keyAction
        JSONValue.writeString(action, to: &out)
        if let correlationID {
            out += Self.keyCorrelation
            JSONValue.writeString(correlationID, to: &out)
        }
        out += Self.keyCount
        Self.appendDecimal(Int64(count), to: &out)
        out += Self.keyDecision
        JSONValue.writeString(decision.rawValue, to: &out)
        out += Self.keyFields
        strings(fields)
        out += Self.keyIndex
        Self.appendDecimal(Int64(bitPattern: index), to: &out)
        out += Self.keyKeyIDs
        strings(keyIDs)
        if let policy {
            out += Self.keyPolicy
            JSONValue.writeString(policy, to: &out)
        }
        out += Self.keyPrincipal
        JSONValue.writeString(principal, to: &out)
        if let purpose {
            out += Self.keyPurpose
            JSONValue.writeString(purpose, to: &out)
        }
        if let reason {
            out += Self.keyReason
            JSONValue.writeString(reason, to: &out)
        }
        out += Self.keyResource
        JSONValue.writeString(resource, to: &out)
        out += Self.keyRules
        strings(rules)
        if let subjectKey {
            out += Self.keySubjectKey
            JSONValue.writeString(subjectKey, to: &out)
        }
        out += Self.keyTime
        out.append(UInt8(ascii: "\""))
        Self.appendTimestamp(time, to: &out)
        out += [UInt8(ascii: "\""), UInt8(ascii: "}")]
        return out
    }

    static let keyAction = Array(#"{"action":"#.utf8)
    static let keyCorrelation = Array(#","correlationID":"#.utf8)
    static let keyCount = Array(#","count":"#.utf8)
    static let keyDecision = Array(#","decision":"#.utf8)
    static let keyFields = Array(#","fields":"#.utf8)
    static let keyIndex = Array(#","index":"#.utf8)
    static let keyKeyIDs = Array(#","keyIDs":"#.utf8)
    static let keyPolicy = Array(#","policy":"#.utf8)
    static let keyPrincipal = Array(#","principal":"#.utf8)
    static let keyPurpose = Array(#","purpose":"#.utf8)
    static let keyReason = Array(#","reason":"#.utf8)
    static let keyResource = Array(#","resource":"#.utf8)
    static let keyRules = Array(#","rules":"#.utf8)
    static let keySubjectKey = Array(#","subjectKey":"#.utf8)
    static let keyTime = Array(#","time":"#.utf8)

    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var count = 0
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[i]) }
        }
    }

    static func appendPadded(_ value: Int64, width: Int, to out: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8((v / divisor) % 10))
            v %= divisor
            divisor /= 10
        }
    }

    static func appendTimestamp(_ date: Date, to out: inout [UInt8]) {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = millis.quotientFloor(1000)
        let ms = millis - seconds * 1000
        let days = seconds.quotientFloor(86_400)
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = civil(fromDays: days)
        appendPadded(y, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(m, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(d, width: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        appendPadded(secondOfDay / 3600, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendPadded(secondOfDay / 60 % 60, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendPadded(secondOfDay % 60, width: 2, to: &out)
        out.append(UInt8(ascii: "."))
        appendPadded(ms, width: 3, to: &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// Parses the stored bytes back; nil when they are not an entry.
    public init?(canonical bytes: some Collection<UInt8>) {
        guard let value = try? JSONValue(parsing: bytes, maxDepth: 4), case .object = value else { return nil }
        func string(_ name: String) -> String? { value[name]?.stringValue }
        func strings(_ name: String) -> [String]? {
            guard case .array(let items)? = value[name] else { return nil }
            let out = items.compactMap(\.stringValue)
            return out.count == items.count ? out : nil
        }
        func integer(_ name: String) -> Int? {
            guard case .number(let text)? = value[name] else { return nil }
            return Int(text)
        }
        guard let action = string("action"), let principal = string("principal"),
            let resource = string("resource"), let decision = string("decision").flatMap(Decision.init(rawValue:)),
            let fields = strings("fields"), let rules = strings("rules"), let keyIDs = strings("keyIDs"),
            let count = integer("count"), let index = integer("index"), index >= 0,
            let time = string("time").flatMap(Self.parseTimestamp)
        else { return nil }
        self.init(
            time: time,
            principal: principal,
            action: action,
            resource: resource,
            decision: decision,
            fields: fields,
            purpose: string("purpose"),
            rules: rules,
            reason: string("reason"),
            correlationID: string("correlationID"),
            keyIDs: keyIDs,
            count: count,
            subjectKey: string("subjectKey"),
            policy: string("policy")
        )
        self.index = UInt64(index)
    }

    /// RFC 3339 UTC with milliseconds: `2026-11-24T09:30:00.123Z`.
    public static func timestamp(_ date: Date) -> String {
        var out: [UInt8] = []
        appendTimestamp(date, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func parseTimestamp(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 24, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x2E,
            b[23] == 0x5A
        else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in range {
                guard (0x30...0x39).contains(b[i]) else { return nil }
                v = v * 10 + Int64(b[i] - 0x30)
            }
            return v
        }
        guard let y = number(0..<4), let mo = number(5..<7), let d = number(8..<10), let h = number(11..<13),
            let mi = number(14..<16), let s = number(17..<19), let ms = number(20..<23),
            (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60
        else { return nil }
        let days = daysFromCivil(y, mo, d)
        let millis = ((days * 86_400 + h * 3600 + mi * 60 + s) * 1000) + ms
        return Date(timeIntervalSince1970: Double(millis) / 1000)
    }

    // Howard Hinnant's civil-date algorithms: exact for the proleptic Gregorian calendar.
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

extension Int64 {
    fileprivate func quotientFloor(_ divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
