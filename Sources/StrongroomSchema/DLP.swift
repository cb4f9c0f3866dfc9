import Foundation
public import StrongroomJSON

/// A kind of sensitive value that the data-loss-prevention scanner looks for in free text.
///
/// Each detector is a hand-written scanner over UTF-8 bytes with a check that random text
/// rarely passes (Luhn, mod 97, a JSON header, entropy), so it can run on every untagged
/// string of every event. The exact rules and what each one misses are in `docs/dlp.md`.
public enum DLPDetector: String, Sendable, CaseIterable {
    /// A US Social Security number written `123-45-6789` or `123 45 6789`.
    case ssn
    /// A Luhn-valid payment card number of a known brand, plain or grouped.
    case paymentCard
    /// An IBAN of a registry country at its fixed length whose mod-97 check holds.
    case iban
    /// An e-mail address: a dot-atom local part, `@`, a dotted domain with a letter TLD.
    case email
    /// An E.164 (`+…`) or North American phone number.
    case phone
    /// An AWS access key id (`AKIA…`, `ASIA…`).
    case awsAccessKey
    /// A PEM private key header.
    case privateKey
    /// A JSON Web Token whose header and payload decode to JSON objects.
    case jwt
    /// A long random-looking token: base64-like or hex.
    case highEntropyToken
}

/// What a topic does with an event in which the scanner found sensitive data.
public enum DLPAction: String, Sendable {
    /// Refuse the event (the default).
    case reject
    /// Accept the event and report the findings.
    case flag
}

/// One string of an event in which a detector fired.
///
/// Holds where and what kind, never the matched value or any part of it: a finding can be
/// logged, audited and returned to a producer without copying the leak it reports.
public struct DLPFinding: Sendable, Hashable, CustomStringConvertible {
    /// RFC 6901 JSON pointer of the string (`/notes/0`, `/memo`).
    public var pointer: String
    /// The detector that fired.
    public var detector: DLPDetector

    /// A finding of `detector` in the string at `pointer`.
    public init(pointer: String, detector: DLPDetector) {
        self.pointer = pointer
        self.detector = detector
    }

    /// The detector and the pointer, never the value.
    public var description: String { "\(detector.rawValue) at \(pointer.isEmpty ? "/" : pointer)" }
}

/// Finds personal data and secrets in the strings of events that no schema tag covers.
///
/// Tagged fields are encrypted, so what leaks is free text: a memo holding a card number,
/// a note holding a phone number. ``scan(_:skipping:)`` visits every string value and every
/// member name (a name can hold data too) except those under a covered pointer.
///
/// Scanning costs no allocation per character: each detector is a pass over the string's
/// UTF-8 bytes, and a first pass counting digits and marks skips detectors that cannot fire.
public struct DLPScanner: Sendable {
    /// The detectors this scanner runs.
    public let detectors: Set<DLPDetector>
    let enabled: DLPRules.Enabled

    /// A scanner running `detectors` (all of them by default).
    public init(detectors: Set<DLPDetector> = Set(DLPDetector.allCases)) {
        self.detectors = detectors
        self.enabled = DLPRules.Enabled(detectors)
    }

    /// The detectors that fire on `text`, in ``DLPDetector/allCases`` order.
    ///
    /// Text with non-ASCII scalars is also checked in its folded form (``fold(_:)``), so a
    /// number written with Arabic-Indic digits or fullwidth dashes is still found.
    public func detect(_ text: String) -> [DLPDetector] {
        var found = detectBytes(text)
        let ascii = text.utf8.withContiguousStorageIfAvailable { bytes in bytes.allSatisfy { $0 < 0x80 } }
        if !(ascii ?? text.utf8.allSatisfy { $0 < 0x80 }), let folded = Self.fold(text) {
            for detector in detectBytes(folded) where !found.contains(detector) { found.append(detector) }
            found.sort { a, b in
                (DLPDetector.allCases.firstIndex(of: a) ?? 0) < (DLPDetector.allCases.firstIndex(of: b) ?? 0)
            }
        }
        return found
    }

    func detectBytes(_ text: String) -> [DLPDetector] {
        if let found = text.utf8.withContiguousStorageIfAvailable({ DLPRules.detect($0, enabled) }) {
            return found
        }
        // Bridged or otherwise non-contiguous strings: copy once.
        return Array(text.utf8).withUnsafeBufferPointer { DLPRules.detect($0, enabled) }
    }

    /// `text` with look-alikes folded to ASCII, or nil when nothing changes: decimal digits
    /// of any script become `0`–`9`, fullwidth forms their ASCII letter, dashes and minus
    /// signs `-`, space separators and format characters (zero-width) a space or nothing,
    /// small and fullwidth commercial at `@`, fullwidth full stop and ideographic full stop `.`.
    public static func fold(_ text: String) -> String? {
        var out = String.UnicodeScalarView()
        var changed = false
        for scalar in text.unicodeScalars {
            let v = scalar.value
            var replacement: Unicode.Scalar? = scalar
            if scalar.isASCII {
                replacement = scalar
            } else if scalar.properties.numericType == .decimal, let value = scalar.properties.numericValue,
                value >= 0, value <= 9
            {
                replacement = Unicode.Scalar(UInt8(48 + Int(value)))
            } else if (0xFF01...0xFF5E).contains(v) {
                replacement = Unicode.Scalar(v - 0xFEE0)
            } else if v == 0xFE6B {
                replacement = "@"
            } else if v == 0x3002 || v == 0xFE52 {
                replacement = "."
            } else if scalar.properties.generalCategory == .dashPunctuation || v == 0x2212 {
                replacement = "-"
            } else if scalar.properties.generalCategory == .spaceSeparator {
                replacement = " "
            } else if scalar.properties.generalCategory == .format {
                replacement = nil
            }
            if replacement != scalar { changed = true }
            if let replacement { out.append(replacement) }
        }
        return changed ? String(out) : nil
    }

    /// Every finding in the string values of `event`, in document order.
    ///
    /// - Parameters:
    ///   - event: The parsed event.
    ///   - covered: Called with the JSON pointer of each value before it is visited; a
    ///     value for which it returns true is skipped with everything inside it.
    /// - Returns: One finding per string and detector that fired.
    public func scan(_ event: JSONValue, skipping covered: (String) -> Bool) -> [DLPFinding] {
        var findings: [DLPFinding] = []
        var pointer = ""
        visit(event, pointer: &pointer, covered: covered, into: &findings)
        return findings
    }

    /// ``scan(_:taggedPointers:)`` with findings fit for errors, logs and the audit: a member
    /// name outside `declaredNames` is data, so the finding's pointer names it by position
    /// (`/<member 2>`) instead.
    public func scan(
        _ event: JSONValue,
        taggedPointers: [String],
        declaredNames: Set<ExactText>
    ) -> [DLPFinding] {
        scan(event, coverage: DLPCoverage(taggedPointers), declaredNames: declaredNames)
    }

    /// ``scan(_:taggedPointers:declaredNames:)`` with the tagged pointers compiled once.
    public func scan(
        _ event: JSONValue,
        coverage: DLPCoverage,
        declaredNames: Set<ExactText>
    ) -> [DLPFinding] {
        scan(event, coverage: coverage, declared: DLPDeclaredNames(declaredNames))
    }

    /// ``scan(_:taggedPointers:declaredNames:)`` with the tagged pointers and the declared
    /// names compiled once.
    public func scan(_ event: JSONValue, coverage: DLPCoverage, declared: DLPDeclaredNames) -> [DLPFinding] {
        let declaredNames = declared.names
        var findings: [DLPFinding] = []
        var path: [Int] = []
        // One pass: string values, and member names the schema does not declare (free text too).
        // The trie of tagged pointers walks along; a pointer string is built only for a finding.
        walkUncovered(event, active: DLPCoverage.Reached(coverage.root), path: &path, found: &findings) {
            text,
            isName in
            if isName, declared.contains(text) { return [] }
            return detect(text)
        }
        // The walk leaves each finding's path in its pointer as indices: named now.
        for i in findings.indices {
            let path = findings[i].pointer.split(separator: "/").compactMap { Int($0) }
            findings[i].pointer = Self.tokens(of: path, in: event).map { "/" + JSONPathSet.escapePointerToken($0) }
                .joined()
        }
        return findings.map { finding in
            DLPFinding(
                pointer: Self.safePointer(finding.pointer, in: event, declaredNames: declaredNames),
                detector: finding.detector
            )
        }
    }

    /// The unescaped tokens of the place `path` (member and element indices) leads to in `event`.
    static func tokens(of path: [Int], in event: JSONValue) -> [String] {
        var node = event
        var tokens: [String] = []
        for index in path {
            switch node {
            case .object(let members) where index < members.count:
                tokens.append(members[index].key)
                node = members[index].value
            case .array(let elements) where index < elements.count:
                tokens.append(String(index))
                node = elements[index]
            default:
                return tokens
            }
        }
        return tokens
    }

    /// `pointer` with every member token not in `declaredNames` replaced by its position.
    static func safePointer(_ pointer: String, in event: JSONValue, declaredNames: Set<ExactText>) -> String {
        var node: JSONValue? = event
        var out = ""
        for token in JSONPathSet.pointerTokens(pointer, unescape: false) {
            let name = JSONPathSet.unescapePointerToken(token)
            switch node {
            case .array(let elements)?:
                out += "/" + token
                node = Int(token).flatMap { $0 < elements.count ? elements[$0] : nil }
            case .object(let members)?:
                let index = members.firstIndex { $0.key.hasSameBytes(as: name) }
                out += declaredNames.contains(ExactText(name)) ? "/" + token : "/<member \(index ?? -1)>"
                node = index.map { members[$0].value }
            default:
                out += "/<member>"
                node = nil
            }
        }
        return out
    }

    /// Every finding in the string values of `event` outside the tagged fields.
    ///
    /// A tagged pointer covers its value and everything below it: `/address` covers
    /// `/address/street` and `/address/lines/0`. A `*` token matches any one token, so the
    /// patterns of ``EncryptionPlan/Field/pattern`` (`/items/*/iban`) can be passed as they are.
    ///
    /// - Parameters:
    ///   - event: The parsed event.
    ///   - taggedPointers: RFC 6901 pointers (or `*` patterns) of the encrypted fields.
    /// - Returns: One finding per string and detector that fired.
    public func scan(_ event: JSONValue, taggedPointers: [String]) -> [DLPFinding] {
        let tagged = taggedPointers.map { DLPPointerPattern($0) }
        return scan(event) { pointer in tagged.contains { $0.covers(pointer) } }
    }

    /// The number of string values ``scan(_:skipping:)`` would scan in `event`.
    public func countStrings(in event: JSONValue, skipping covered: (String) -> Bool) -> Int {
        var count = 0
        var pointer = ""
        walkStrings(event, pointer: &pointer, covered: covered) { _, _ in count += 1 }
        return count
    }

    private func visit(
        _ value: JSONValue,
        pointer: inout String,
        covered: (String) -> Bool,
        into findings: inout [DLPFinding]
    ) {
        walkStrings(value, pointer: &pointer, covered: covered) { text, at in
            for detector in detect(text) {
                findings.append(DLPFinding(pointer: at, detector: detector))
            }
        }
    }

    /// Calls `detect` with every string value and member name outside the tagged subtrees, and
    /// appends what it finds to `found`, the pointer written as the path's indices (`/2/0`).
    ///
    /// `isName` is true for names; `path` is the member and element indices that lead there
    /// (``tokens(of:in:)`` names them, for a finding); `active` are the coverage-trie nodes the
    /// path has reached. Members and elements are visited in place, not copied out, and the
    /// path is read only for a finding: per member, nothing is retained that need not be.
    private func walkUncovered(
        _ value: JSONValue,
        active: DLPCoverage.Reached,
        path: inout [Int],
        found: inout [DLPFinding],
        _ detect: (_ text: String, _ isName: Bool) -> [DLPDetector]
    ) {
        if active.isCovered { return }
        switch value {
        case .string(let text):
            let detectors = detect(text, false)
            if !detectors.isEmpty { Self.report(detectors, path, &found) }
        case .array(let elements):
            elements.withUnsafeBufferPointer { elements in
                for index in elements.indices {
                    path.append(index)
                    walkUncovered(
                        elements[index],
                        active: active.isEmpty ? active : active.step(String(index)),
                        path: &path,
                        found: &found,
                        detect
                    )
                    path.removeLast()
                }
            }
        case .object(let members):
            members.withUnsafeBufferPointer { members in
                guard let base = members.baseAddress else { return }
                for index in members.indices {
                    let member = base + index
                    let next = active.isEmpty ? active : active.step(member.pointee.key)
                    if next.isCovered { continue }
                    path.append(index)
                    var detectors = detect(member.pointee.key, true)
                    if !detectors.isEmpty { Self.report(detectors, path, &found) }
                    switch member.pointee.value {
                    case .null, .bool, .number: break
                    case .string(let text):
                        detectors = detect(text, false)
                        if !detectors.isEmpty { Self.report(detectors, path, &found) }
                    default: walkUncovered(member.pointee.value, active: next, path: &path, found: &found, detect)
                    }
                    path.removeLast()
                }
            }
        case .null, .bool, .number:
            return
        }
    }

    private static func report(_ detectors: [DLPDetector], _ path: [Int], _ found: inout [DLPFinding]) {
        let pointer = path.map { "/\($0)" }.joined()
        for detector in detectors { found.append(DLPFinding(pointer: pointer, detector: detector)) }
    }

    /// Calls `body` with every string value and its pointer, and `names` (when given) with
    /// every member name and the member's pointer, skipping covered subtrees.
    private func walkStrings(
        _ value: JSONValue,
        pointer: inout String,
        covered: (String) -> Bool,
        names: ((String, String) -> Void)? = nil,
        _ body: (String, String) -> Void
    ) {
        if covered(pointer) { return }
        switch value {
        case .string(let text):
            body(text, pointer)
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                let saved = pointer
                pointer += "/\(index)"
                walkStrings(element, pointer: &pointer, covered: covered, names: names, body)
                pointer = saved
            }
        case .object(let members):
            for member in members {
                let saved = pointer
                pointer += "/" + JSONPathSet.escapePointerToken(member.key)
                if let names, !covered(pointer) { names(member.key, pointer) }
                walkStrings(member.value, pointer: &pointer, covered: covered, names: names, body)
                pointer = saved
            }
        case .null, .bool, .number:
            return
        }
    }
}

/// The member names a schema declares, compiled once for many scans: a name found here is
/// not scanned as data, and is looked up by its bytes without hashing a `String`.
public struct DLPDeclaredNames: Sendable {
    let names: Set<ExactText>
    private let table: NameTable<Bool>

    /// Compiles `names`.
    public init(_ names: Set<ExactText>) {
        self.names = names
        table = NameTable(Dictionary(uniqueKeysWithValues: names.map { ($0, true) }))
    }

    /// Whether `name` (its exact bytes) is declared.
    func contains(_ name: String) -> Bool { table.find(name) != nil }
}

/// The tagged pointers (or `*` patterns) of a schema, compiled once for many scans.
///
/// A trie of unescaped tokens walked alongside the event, `*` matching any one token.
public struct DLPCoverage: Sendable {
    let patterns: [DLPPointerPattern]
    let root: Node

    final class Node: @unchecked Sendable {
        // Written only while the coverage is built, read-only afterwards.
        var children: [ExactText: Node] = [:]
        /// `children` by name bytes, for the walk (built once the coverage is complete).
        var table = NameTable<Node>([:])
        var any: Node?
        /// A tagged pointer ends here: this value and everything below it is covered.
        var covered = false

        /// Builds the lookup tables of this node and every node below it.
        func seal() {
            table = NameTable(children)
            for child in children.values { child.seal() }
            any?.seal()
        }
    }

    /// Compiles `taggedPointers`.
    public init(_ taggedPointers: [String]) {
        patterns = taggedPointers.map { DLPPointerPattern($0) }
        root = Node()
        for pattern in patterns {
            var node = root
            for token in pattern.tokens {
                if token == "*" {
                    let next = node.any ?? Node()
                    node.any = next
                    node = next
                } else {
                    let key = ExactText(JSONPathSet.unescapePointerToken(token))
                    let next = node.children[key] ?? Node()
                    node.children[key] = next
                    node = next
                }
            }
            node.covered = true
        }
        root.seal()
    }

    /// The trie nodes a walk has reached.
    ///
    /// Usually one or none (a `*` pattern can add more): the first is held without an array,
    /// so a step makes no allocation.
    struct Reached {
        private var first: Node?
        /// Nodes after the first; empty when `first` is nil.
        private var rest: [Node] = []

        init(_ node: Node? = nil) { first = node }

        /// True when the path left the trie: nothing below is tagged.
        var isEmpty: Bool { first == nil }

        /// Whether a tagged pointer ends at one of the nodes.
        var isCovered: Bool {
            guard let first else { return false }
            return first.covered || rest.contains { $0.covered }
        }

        /// The trie nodes one `token` further down.
        func step(_ token: String) -> Reached {
            guard let first else { return self }
            var next = Reached()
            next.add(first, token)
            for node in rest { next.add(node, token) }
            return next
        }

        /// The trie nodes one token further down, the token given as its exact bytes.
        func step(bytes token: UnsafeBufferPointer<UInt8>) -> Reached {
            guard let first else { return self }
            var next = Reached()
            next.add(first, bytes: token)
            for node in rest { next.add(node, bytes: token) }
            return next
        }

        private mutating func add(_ node: Node, _ token: String) {
            if let child = node.table[token] { append(child) }
            if let any = node.any { append(any) }
        }

        private mutating func add(_ node: Node, bytes token: UnsafeBufferPointer<UInt8>) {
            if let place = node.table.find(bytes: token) { append(node.table.values[place]) }
            if let any = node.any { append(any) }
        }

        private mutating func append(_ node: Node) {
            if first == nil { first = node } else { rest.append(node) }
        }
    }

    /// True when `pointer` is a tagged value or lies below one.
    public func covers(_ pointer: String) -> Bool { patterns.contains { $0.covers(pointer) } }
}

/// A tagged pointer, split into tokens once; `*` matches any one token.
struct DLPPointerPattern: Sendable {
    let raw: String
    let tokens: [String]
    let hasWildcard: Bool

    init(_ raw: String) {
        self.raw = raw
        // "" is the whole document; "/a/b" splits to ["a", "b"].
        let parts = JSONPathSet.pointerTokens(raw, unescape: false)
        self.tokens = parts
        self.hasWildcard = parts.contains("*")
    }

    /// True when `pointer` is this pattern's value or lies below it.
    func covers(_ pointer: String) -> Bool {
        if !hasWildcard {
            let n = raw.utf8.count
            guard pointer.utf8.count >= n else { return false }
            let same: Bool? =
                pointer.utf8.withContiguousStorageIfAvailable { p in
                    raw.utf8.withContiguousStorageIfAvailable { r in
                        UnsafeBufferPointer(rebasing: p[..<n]).elementsEqual(r)
                            && (p.count == n || p[n] == UInt8(ascii: "/"))
                    } ?? nil
                } ?? nil
            if let same { return same }
            guard pointer.utf8.starts(with: raw.utf8) else { return false }
            let rest = pointer.utf8.dropFirst(n)
            return rest.isEmpty || rest.first == UInt8(ascii: "/")
        }
        var remaining = JSONPathSet.pointerTokens(pointer, unescape: false)[...]
        for token in tokens {
            guard let next = remaining.first, token == "*" || token.utf8.elementsEqual(next.utf8) else { return false }
            remaining = remaining.dropFirst()
        }
        return true
    }
}

/// Per-topic handling of findings: reject unless the topic is set to flag.
public struct DLPPolicy: Sendable, Hashable {
    /// The action for topics not listed in ``topicActions`` (``DLPAction/reject`` by default).
    public var defaultAction: DLPAction
    /// Actions by topic name.
    public var topicActions: [String: DLPAction]

    /// A policy with `defaultAction` for unlisted topics.
    public init(defaultAction: DLPAction = .reject, topicActions: [String: DLPAction] = [:]) {
        self.defaultAction = defaultAction
        self.topicActions = topicActions
    }

    /// The action for `topic`.
    public func action(forTopic topic: String) -> DLPAction { topicActions[topic] ?? defaultAction }

    /// What to do with an event of `topic` given its `findings`.
    public func decide(_ findings: [DLPFinding], topic: String) -> DLPDecision {
        if findings.isEmpty { return .clean }
        switch action(forTopic: topic) {
        case .reject: return .reject(findings)
        case .flag: return .flag(findings)
        }
    }
}

/// The outcome of scanning one event, as a value: a rejection is not thrown here.
public enum DLPDecision: Sendable, Hashable {
    /// Nothing found.
    case clean
    /// Findings on a topic that flags: accept and report.
    case flag([DLPFinding])
    /// Findings on a topic that rejects: refuse the event.
    case reject([DLPFinding])
}

/// An event refused because an untagged field holds sensitive data.
///
/// Carries the findings (pointer and detector), never the values: the description is safe
/// to log and to return to the producer.
public struct DLPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case sensitiveData = "sensitive data in an untagged field"
        }

        let base: Base

        /// A detector fired on a string no schema tag covers.
        public static let sensitiveData = Code(base: .sensitiveData)

        /// The code as words.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// Where and what kind; never the matched values.
    public let findings: [DLPFinding]
    /// Where the error was raised, for bug reports.
    public let location: String

    init(_ code: Code, findings: [DLPFinding], file: String, line: Int) {
        self.code = code
        self.findings = findings
        self.location = "\(file):\(line)"
    }

    /// An event refused for `findings`.
    public static func sensitiveData(
        _ findings: [DLPFinding],
        file: String = #fileID,
        line: Int = #line
    ) -> DLPError {
        DLPError(.sensitiveData, findings: findings, file: file, line: line)
    }

    /// Equal by code: codes can grow, findings are informational.
    public static func == (lhs: DLPError, rhs: DLPError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// The code and the findings (detector and pointer), never a value.
    public var description: String {
        findings.isEmpty ? "\(code)" : "\(code) (\(findings.map(\.description).joined(separator: ", ")))"
    }
}
