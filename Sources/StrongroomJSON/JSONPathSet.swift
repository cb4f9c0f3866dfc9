#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A set of value paths to find in documents, compiled once and matched in one pass.
///
/// A path is a list of steps: an object member name, or ``Step/anyElement`` for every
/// element of an array. A path that ends at a container covers the whole container: the
/// scanner reports the container's span and does not look inside it.
public struct JSONPathSet: Sendable {
    /// One step of a path.
    public enum Step: Sendable, Hashable {
        /// The object member with this name.
        case member(String)
        /// Every element of an array.
        case anyElement

        /// Equal when both are elements, or members whose names have the same bytes.
        public static func == (lhs: Step, rhs: Step) -> Bool {
            switch (lhs, rhs) {
            case (.anyElement, .anyElement): true
            case (.member(let a), .member(let b)): a.hasSameBytes(as: b)
            default: false
            }
        }

        /// Hashes what ``==`` compares.
        public func hash(into hasher: inout Hasher) {
            switch self {
            case .anyElement: hasher.combine(0)
            case .member(let name): hasher.combine(ExactText(name))
            }
        }
    }

    /// A value found in a document.
    public struct Match: Sendable, Hashable {
        /// The tag given when the path was added.
        public var tag: Int
        /// RFC 6901 JSON pointer of the value (`/address`, `/phones/0`).
        public var pointer: String
        /// The value's byte span in the document.
        public var span: Range<Int>
    }

    final class Node: @unchecked Sendable {
        // Written only while the set is built (`insert`), read-only afterwards. So the
        // properties a walk reads skip the run-time exclusivity check: a walk reads them for
        // every member of every document, and the checks cost more than the lookups.
        var members: [ExactText: Node] = [:]
        /// The same members by UTF-8 name, for matching document bytes without a String:
        /// every name in one buffer, so a lookup copies (and retains) nothing.
        @exclusivity(unchecked) var nameBytes: [UInt8] = []
        @exclusivity(unchecked) var nameRanges: [Range<Int>] = []
        @exclusivity(unchecked) var nameNodes: [Node] = []
        @exclusivity(unchecked) var elements: Node?
        @exclusivity(unchecked) var tag: Int?
        /// The JSON pointer of every value this node matches, when no array step leads here.
        @exclusivity(unchecked) var pointer: String?

        init(pointer: String?) { self.pointer = pointer }

        /// The member child whose name has exactly these bytes.
        func member(_ name: UnsafeBufferPointer<UInt8>) -> Node? {
            let found: Int? = nameBytes.withUnsafeBufferPointer { all in
                nameRanges.withUnsafeBufferPointer { ranges in
                    // Length and first byte first: most names differ there.
                    for i in 0..<ranges.count where ranges[i].count == name.count {
                        if name.isEmpty || all[ranges[i].lowerBound] == name[0],
                            sameBytes(UnsafeBufferPointer(rebasing: all[ranges[i]]), name)
                        {
                            return i
                        }
                    }
                    return nil
                }
            }
            return found.map { nameNodes[$0] }
        }

        func addName(_ name: String, _ node: Node) {
            let start = nameBytes.count
            nameBytes.append(contentsOf: name.utf8)
            nameRanges.append(start..<nameBytes.count)
            nameNodes.append(node)
        }

        /// A copy of this node and everything under it.
        func copy() -> Node {
            let node = Node(pointer: pointer)
            node.tag = tag
            node.elements = elements?.copy()
            node.nameBytes = nameBytes
            node.nameRanges = nameRanges
            node.nameNodes = nameNodes.map { $0.copy() }
            for (i, range) in nameRanges.enumerated() {
                node.members[ExactText(String(decoding: nameBytes[range], as: UTF8.self))] = node.nameNodes[i]
            }
            return node
        }
    }

    /// Shared between copies of the set until one of them inserts: then it gets its own, so a
    /// walk never meets a node being written (the walk reads nodes without exclusivity checks).
    private(set) var root = Node(pointer: "")
    /// Paths in the set: room for that many matches is made before a walk.
    var paths = 0

    /// An empty set.
    public init() {}

    /// Adds `steps`, reported with `tag`; false if a path already ends there.
    @discardableResult
    public mutating func insert(_ steps: [Step], tag: Int) -> Bool {
        if !isKnownUniquelyReferenced(&root) { root = root.copy() }
        var node = root
        for step in steps {
            switch step {
            case .member(let name):
                if let next = node.members[ExactText(name)] {
                    node = next
                } else {
                    let next = Node(pointer: node.pointer.map { $0 + "/" + JSONPathSet.escapePointerToken(name) })
                    node.members[ExactText(name)] = next
                    node.addName(name, next)
                    node = next
                }
            case .anyElement:
                if let next = node.elements {
                    node = next
                } else {
                    let next = Node(pointer: nil)
                    node.elements = next
                    node = next
                }
            }
        }
        guard node.tag == nil else { return false }
        node.tag = tag
        paths += 1
        return true
    }

    /// Validates the whole document and returns every value on a path of the set, in
    /// document order.
    public func matches(in bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 64) throws(JSONError) -> [Match] {
        var scanner = JSONScanner(bytes, maxDepth: maxDepth)
        var found: [Match] = []
        found.reserveCapacity(paths)
        var pointer = ""
        try walk(&scanner, node: root, depth: 0, pointer: &pointer, into: &found)
        try scanner.expectEnd()
        return found
    }

    /// Walks one value at `node`.
    ///
    /// `pointer` is the value's JSON pointer, kept up to date only below an array step
    /// (elsewhere each node knows its pointer).
    private func walk(
        _ scanner: inout JSONScanner,
        node: Node,
        depth: Int,
        pointer: inout String,
        into found: inout [Match]
    ) throws(JSONError) {
        if let tag = node.tag {
            let span = try scanner.skipValue(depth: depth)
            found.append(Match(tag: tag, pointer: node.pointer ?? pointer, span: span))
            return
        }
        let first = try scanner.peek()
        if first == UInt8(ascii: "{"), !node.nameNodes.isEmpty {
            guard depth < scanner.maxDepth else { throw JSONError(.tooDeep, at: scanner.position) }
            scanner.position += 1
            if try scanner.peek() == UInt8(ascii: "}") {
                scanner.position += 1
                return
            }
            // Duplicate names would let two readers see different values: refuse them
            // where they could hide a tagged field.
            var seen = SeenKeys(document: scanner.bytes)
            while true {
                guard try scanner.peek() == UInt8(ascii: "\"") else {
                    throw JSONError(.unexpectedByte, at: scanner.position)
                }
                let keyStart = scanner.position
                let (contents, escaped) = try scanner.scanString()
                // The name's bytes: in place when it has no escapes, else decoded.
                let child: Node?
                if escaped {
                    let decoded = scanner.decodeBytes(contents)
                    let (fresh, match) = decoded.withUnsafeBufferPointer { name in
                        (seen.insert(name, span: nil), node.member(name))
                    }
                    guard fresh else { throw JSONError(.duplicateKey, at: keyStart) }
                    child = match
                } else {
                    let name = UnsafeBufferPointer(rebasing: scanner.bytes[contents])
                    guard seen.insert(name, span: contents) else { throw JSONError(.duplicateKey, at: keyStart) }
                    child = node.member(name)
                }
                try scanner.expect(UInt8(ascii: ":"))
                if let child {
                    if child.pointer != nil {
                        try walk(&scanner, node: child, depth: depth + 1, pointer: &pointer, into: &found)
                    } else {
                        let saved = pointer
                        let token = scanner.decodeString(contents, hasEscapes: escaped)
                        pointer = (node.pointer ?? pointer) + "/" + JSONPathSet.escapePointerToken(token)
                        try walk(&scanner, node: child, depth: depth + 1, pointer: &pointer, into: &found)
                        pointer = saved
                    }
                } else {
                    _ = try scanner.skipValue(depth: depth + 1)
                }
                if try scanner.endOfContainer(UInt8(ascii: "}")) { return }
            }
        } else if first == UInt8(ascii: "["), let child = node.elements {
            guard depth < scanner.maxDepth else { throw JSONError(.tooDeep, at: scanner.position) }
            scanner.position += 1
            if try scanner.peek() == UInt8(ascii: "]") {
                scanner.position += 1
                return
            }
            let base = node.pointer ?? pointer
            var index = 0
            while true {
                let saved = pointer
                pointer = base + "/\(index)"
                try walk(&scanner, node: child, depth: depth + 1, pointer: &pointer, into: &found)
                pointer = saved
                index += 1
                if try scanner.endOfContainer(UInt8(ascii: "]")) { return }
            }
        } else {
            _ = try scanner.skipValue(depth: depth)
        }
    }

    /// RFC 6901 escaping: `~` → `~0`, `/` → `~1`, byte by byte (a `/` followed by a combining
    /// mark is still a `/`).
    public static func escapePointerToken(_ token: String) -> String {
        guard token.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return token }
        var out: [UInt8] = []
        for b in token.utf8 {
            switch b {
            case UInt8(ascii: "~"): out += [UInt8(ascii: "~"), UInt8(ascii: "0")]
            case UInt8(ascii: "/"): out += [UInt8(ascii: "~"), UInt8(ascii: "1")]
            default: out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// RFC 6901 unescaping of one token: `~1` → `/`, `~0` → `~`, byte by byte.
    public static func unescapePointerToken(_ token: some StringProtocol) -> String {
        let bytes = Array(token.utf8)
        guard bytes.contains(UInt8(ascii: "~")) else { return String(token) }
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "~"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "1") {
                out.append(UInt8(ascii: "/"))
                i += 2
            } else if bytes[i] == UInt8(ascii: "~"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "0") {
                out.append(UInt8(ascii: "~"))
                i += 2
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The tokens of a JSON pointer after its leading `/`, split at every `/` byte (Swift's
    /// `split(separator: "/")` would not split where a combining mark follows the slash), and
    /// unescaped unless `unescape` is false.
    public static func pointerTokens(_ pointer: some StringProtocol, unescape: Bool = true) -> [String] {
        pointer.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst().map {
            let raw = String(decoding: $0, as: UTF8.self)
            return unescape ? unescapePointerToken(raw) : raw
        }
    }
}

/// Member names of one object, by UTF-8 bytes.
///
/// A short list scanned linearly (events have a few dozen members; hashing each name cost
/// more than the whole scan), a set beyond. Names without escapes are kept as spans of the
/// document, not copied; the first 16 in place, so most objects allocate nothing here.
struct SeenKeys {
    let document: UnsafeBufferPointer<UInt8>
    /// The first spans, each `start << 32 | count`.
    var packed:
        (
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
        ) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var packedCount = 0
    static let packedCapacity = 16
    /// Spans past the packed ones (or too large to pack).
    var spans: [Range<Int>] = []
    var decoded: [[UInt8]] = []
    var set: Set<[UInt8]>? = nil
    /// One bit per name seen, picked by its length and three of its bytes: a name whose bit
    /// is clear cannot be a duplicate, so the names before it are compared only on a set bit.
    var mask: UInt64 = 0

    init(document: UnsafeBufferPointer<UInt8>) {
        self.document = document
    }

    /// Records `name` (found at `span` of the document when not decoded); false when it was
    /// already there.
    mutating func insert(_ name: UnsafeBufferPointer<UInt8>, span: Range<Int>?) -> Bool {
        if set != nil { return set?.insert(Array(name)).inserted ?? false }
        let bit = Self.bit(name)
        if mask & bit != 0 {
            let document = document
            let count = packedCount
            let repeated = withUnsafeBytes(of: &packed) { raw in
                for p in raw.bindMemory(to: UInt64.self).prefix(count) where Int(p & 0xFFFF_FFFF) == name.count {
                    let start = Int(p >> 32)
                    if sameBytes(UnsafeBufferPointer(rebasing: document[start..<start + name.count]), name) {
                        return true
                    }
                }
                return false
            }
            if repeated { return false }
            for seen in spans where seen.count == name.count {
                if sameBytes(UnsafeBufferPointer(rebasing: document[seen]), name) { return false }
            }
            for seen in decoded where seen.count == name.count {
                if seen.withUnsafeBufferPointer({ sameBytes($0, name) }) { return false }
            }
        }
        mask |= bit
        if let span {
            if packedCount < Self.packedCapacity, span.lowerBound <= UInt32.max, span.count <= UInt32.max {
                let value = UInt64(span.lowerBound) << 32 | UInt64(span.count)
                let index = packedCount
                withUnsafeMutableBytes(of: &packed) {
                    $0.storeBytes(of: value, toByteOffset: index * 8, as: UInt64.self)
                }
                packedCount += 1
            } else {
                spans.append(span)
            }
        } else {
            decoded.append(Array(name))
        }
        if packedCount + spans.count + decoded.count > 32 {
            set = Set(allSpans().map { Array(document[$0]) } + decoded)
        }
        return true
    }

    /// Every span recorded, packed ones first.
    func allSpans() -> [Range<Int>] {
        var packed = packed
        let count = packedCount
        let unpacked = withUnsafeBytes(of: &packed) { raw in
            raw.bindMemory(to: UInt64.self).prefix(count).map { Int($0 >> 32)..<Int($0 >> 32) + Int($0 & 0xFFFF_FFFF) }
        }
        return unpacked + spans
    }

    /// The mask bit of `name`: equal names always get the same one.
    @inline(__always)
    static func bit(_ name: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let n = name.count
        let word: UInt32 =
            n == 0
            ? 0
            : UInt32(name[0]) | UInt32(name[n - 1]) << 8 | UInt32(name[n / 2]) << 16
                | UInt32(truncatingIfNeeded: n) << 24
        return 1 << ((word &* 0x9E37_79B1) >> 26)
    }
}

/// True when both buffers hold the same bytes.
@inline(__always)
func sameBytes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    guard let x = a.baseAddress, let y = b.baseAddress else { return a.count == 0 }
    return memcmp(x, y, a.count) == 0
}
