import StrongroomJSON

extension JSONSchemaValidator {
    /// True when `bytes` is an event this schema accepts and in which `dlp` finds nothing
    /// outside `coverage`, decided in one pass over the bytes without building the event.
    ///
    /// It answers true only where ``validated(bytes:)`` finds no error and
    /// ``DLPScanner/scan(_:coverage:declared:)`` no finding. False means "not shown here":
    /// the event breaks a rule, holds a finding, or uses what this pass leaves to the full
    /// path (escaped strings, members the schema does not declare, `allOf` / `anyOf` /
    /// `oneOf` / `not`, `patternProperties`, `$ref` beside other keywords, nested objects
    /// under no schema). The caller then runs the full path, which names the errors and
    /// the findings.
    public func passes(_ bytes: UnsafeBufferPointer<UInt8>, dlp: DLPScanner, coverage: DLPCoverage) -> Bool {
        guard bytes.count <= limits.maxEventBytes else { return false }
        var walk = StreamingCheck(bytes, limits: limits, dlp: dlp)
        let root = DLPCoverage.Reached(coverage.root)
        do throws(StreamingCheck.Stop) {
            try walk.value(self.root, active: root, scan: !root.isCovered, depth: 0, level: 0)
            try walk.end()
        } catch {
            return false
        }
        return true
    }
}

/// The walk behind ``JSONSchemaValidator/passes(_:dlp:coverage:)``: the event's bytes read
/// once, each value checked against its schema node as it is read.
///
/// Its rules are the validator's and the DLP scanner's, read from the same compiled nodes
/// (the leaf checks call ``Node/validateString(_:pointer:context:)`` and
/// ``Node/validateNumber(_:pointer:context:)`` themselves); anything it does not handle
/// stops the walk, never passes.
struct StreamingCheck: ~Copyable {
    /// The walk stopped: the event failed, or it needs the full path.
    struct Stop: Error {}

    var scanner: JSONScanner
    let limits: ValidationLimits
    let dlp: DLPScanner
    /// Schema nodes visited and string scalars counted, as ``JSONSchemaValidator/Context/work``.
    var work = 0
    /// Where the leaf checks record what they find (a failure stops the walk anyway).
    var scratch: JSONSchemaValidator.Context

    init(_ bytes: UnsafeBufferPointer<UInt8>, limits: ValidationLimits, dlp: DLPScanner) {
        scanner = JSONScanner(bytes, maxDepth: limits.maxDepth)
        self.limits = limits
        self.dlp = dlp
        scratch = JSONSchemaValidator.Context(limits: limits, maxErrors: 1)
    }

    mutating func end() throws(Stop) {
        do { try scanner.expectEnd() } catch { throw Stop() }
        guard work <= limits.maxWork else { throw Stop() }
    }

    /// Checks the value at the scanner against `start`.
    ///
    /// `start` nil is a place no schema describes, held to the limits only. `depth` is the
    /// value's nesting in the event, `level` the validator's own count of nesting and `$ref` steps.
    mutating func value(
        _ start: Node?,
        active: DLPCoverage.Reached,
        scan: Bool,
        depth: Int,
        level: Int
    ) throws(Stop) {
        var node = start
        var level = level
        while let current = node {
            work += 1
            guard work <= limits.maxWork else { throw Stop() }
            if let constant = current.constant {
                // Always valid: what is below is still read, and held to the limits.
                guard case .alwaysValid = constant else { throw Stop() }
                node = nil
                break
            }
            guard current.streamable else { throw Stop() }
            guard let target = current.refTarget else { break }
            guard level < 64 else { throw Stop() }
            level += 1
            node = target
        }
        let first: UInt8
        do { first = try scanner.peek() } catch { throw Stop() }
        switch first {
        case UInt8(ascii: "\""): try string(node, scan: scan)
        case UInt8(ascii: "{"): try object(node, active: active, scan: scan, depth: depth, level: level)
        case UInt8(ascii: "["): try array(node, active: active, scan: scan, depth: depth, level: level)
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            do { _ = try scanner.skipValue() } catch { throw Stop() }
            guard let node else { return }
            let literal: JSONValue = first == UInt8(ascii: "n") ? .null : .bool(first == UInt8(ascii: "t"))
            try scalar(literal, node)
        default:
            let start = scanner.position
            do { try scanner.scanNumber() } catch { throw Stop() }
            guard let node else { return }
            let text = String(decoding: scanner.bytes(in: start..<scanner.position), as: UTF8.self)
            try scalar(.number(text), node)
            guard node.validateNumber(text, pointer: "", context: &scratch) else { throw Stop() }
        }
    }

    /// The type, `enum` and `const` of a scalar.
    mutating func scalar(_ value: JSONValue, _ node: Node) throws(Stop) {
        if let types = node.types, !Node.matches(value, types) { throw Stop() }
        if let values = node.enumValues, !values.contains(where: { JSONEquality.equal($0, value) }) { throw Stop() }
        if let constant = node.constValue, !JSONEquality.equal(constant, value) { throw Stop() }
    }

    mutating func string(_ node: Node?, scan: Bool) throws(Stop) {
        let contents: Range<Int>
        do {
            let (span, escaped) = try scanner.scanString()
            guard !escaped else { throw Stop() }
            contents = span
        } catch {
            throw Stop()
        }
        let bytes = scanner.bytes(in: contents)
        var length = 0
        var ascii = true
        for byte in bytes {
            if byte & 0xC0 != 0x80 { length += 1 }
            if byte >= 0x80 { ascii = false }
        }
        guard length <= limits.maxStringLength else { throw Stop() }
        if let node {
            work += length
            if let types = node.types, !types.contains(.string) { throw Stop() }
            // A `String` only for the rules that read the text.
            let constrained = node.enumValues != nil || node.constValue != nil
            let shaped = node.minLength != nil || node.maxLength != nil || node.pattern != nil || node.format != nil
            if constrained || shaped {
                let text = String(decoding: bytes, as: UTF8.self)
                if constrained { try scalar(.string(text), node) }
                if shaped, !node.validateString(text, pointer: "", context: &scratch) { throw Stop() }
            }
        }
        guard scan else { return }
        // As the scanner: bytes in place for ASCII, folded look-alikes otherwise.
        let found = ascii ? DLPRules.detect(bytes, dlp.enabled) : dlp.detect(String(decoding: bytes, as: UTF8.self))
        guard found.isEmpty else { throw Stop() }
    }

    mutating func object(
        _ node: Node?,
        active: DLPCoverage.Reached,
        scan: Bool,
        depth: Int,
        level: Int
    ) throws(Stop) {
        guard depth < limits.maxDepth else { throw Stop() }
        scanner.position += 1
        let empty: Bool
        do { empty = try scanner.peek() == UInt8(ascii: "}") } catch { throw Stop() }
        guard let node else {
            // Member names under no schema are data, and duplicates are the parser's to find.
            guard empty else { throw Stop() }
            scanner.position += 1
            return
        }
        if let types = node.types, !types.contains(.object) { throw Stop() }
        // An object compared with `enum` or `const` is left to the full path.
        guard node.enumValues == nil, node.constValue == nil else { throw Stop() }
        let table = node.propertyTable
        let nodes = table.nodes
        var present = [UInt64](repeating: 0, count: table.tokens.count <= 64 ? 0 : (table.tokens.count + 63) / 64)
        var small: UInt64 = 0
        var hint = 0
        if empty {
            scanner.position += 1
        } else {
            while true {
                let contents: Range<Int>
                do {
                    guard try scanner.peek() == UInt8(ascii: "\"") else { throw Stop() }
                    let (span, escaped) = try scanner.scanString()
                    guard !escaped else { throw Stop() }
                    contents = span
                    try scanner.expect(UInt8(ascii: ":"))
                } catch {
                    throw Stop()
                }
                let name = scanner.bytes(in: contents)
                // Only declared members: a declared name is not data, and a repeated one is
                // seen in the bits of the places already found.
                guard let place = table.find(bytes: name, hint: hint) else { throw Stop() }
                hint = place + 1
                let bit: UInt64 = 1 << UInt64(place & 63)
                if present.isEmpty {
                    guard small & bit == 0 else { throw Stop() }
                    small |= bit
                } else {
                    guard present[place >> 6] & bit == 0 else { throw Stop() }
                    present[place >> 6] |= bit
                }
                var next = active
                var scanNext = scan
                if scan, !active.isEmpty {
                    next = active.step(bytes: name)
                    scanNext = !next.isCovered
                }
                try value(nodes[place], active: next, scan: scanNext, depth: depth + 1, level: level + 1)
                let closed: Bool
                do { closed = try scanner.endOfContainer(UInt8(ascii: "}")) } catch { throw Stop() }
                if closed { break }
            }
        }
        for place in node.requiredPlaces {
            guard place >= 0 else { throw Stop() }
            let found =
                present.isEmpty
                ? small & (1 << UInt64(place)) != 0 : present[place >> 6] & (1 << UInt64(place & 63)) != 0
            guard found else { throw Stop() }
        }
        guard node.requiredPlaces.count == node.required.count else { throw Stop() }
    }

    mutating func array(
        _ node: Node?,
        active: DLPCoverage.Reached,
        scan: Bool,
        depth: Int,
        level: Int
    ) throws(Stop) {
        guard depth < limits.maxDepth else { throw Stop() }
        scanner.position += 1
        if let node {
            if let types = node.types, !types.contains(.array) { throw Stop() }
            guard node.enumValues == nil, node.constValue == nil else { throw Stop() }
        }
        var count = 0
        let empty: Bool
        do { empty = try scanner.peek() == UInt8(ascii: "]") } catch { throw Stop() }
        if empty {
            scanner.position += 1
        } else {
            while true {
                let index = count
                count += 1
                guard count <= limits.maxArrayLength else { throw Stop() }
                var child: Node?
                if let node {
                    child = index < node.prefixItems.count ? node.prefixItems[index] : node.items
                }
                var next = active
                var scanNext = scan
                if scan, !active.isEmpty {
                    next = active.step(String(index))
                    scanNext = !next.isCovered
                }
                try value(child, active: next, scan: scanNext, depth: depth + 1, level: level + 1)
                let closed: Bool
                do { closed = try scanner.endOfContainer(UInt8(ascii: "]")) } catch { throw Stop() }
                if closed { break }
            }
        }
        if let node {
            if let minItems = node.minItems, count < minItems { throw Stop() }
            if let maxItems = node.maxItems, count > maxItems { throw Stop() }
        }
    }
}
