/// An ECMA-262 regular expression matched in linear time (a Pike VM over Unicode scalars).
///
/// JSON Schema's `pattern` is ECMA-262, unanchored, without flags. A backtracking engine
/// can take exponential time (`^([A-Za-z]+ ?)*$` on a 21-character value took 37 s), so one
/// event could stop a pipeline. This engine runs every pattern in O(value length × program
/// size) and never backtracks. What needs backtracking — backreferences (`\1`, `\k<n>`) and
/// lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`) — is refused at compile time, as is `\p{…}`.
///
/// Semantics are ECMA-262's: `\d` is `[0-9]`, `\w` is `[A-Za-z0-9_]`, `\s` is ECMA white
/// space and line terminators, `.` is any scalar but a line terminator, `^`/`$` are the
/// input's ends, `\b` uses `\w`. Matching works on Unicode scalars (the `u` flag's code
/// points), never on grapheme clusters. Annex B leniencies kept: a `{` that does not start a
/// quantifier, and lone `]` or `}`, are literals.
struct LinearRegex: Sendable {
    /// Why a pattern was refused.
    struct CompileError: Error, Sendable {
        let message: String
    }

    /// Largest compiled program accepted (counted repetition expands).
    static let maxProgramSize = 20_000

    let program: [Instruction]

    enum Instruction: Sendable {
        case scalar(ScalarSet)
        case split(Int, Int)
        case jump(Int)
        case lineStart
        case lineEnd
        case wordBoundary(Bool)
        case match
    }

    /// A set of scalars: sorted inclusive ranges, possibly negated.
    struct ScalarSet: Sendable {
        var ranges: [ClosedRange<UInt32>]
        var negated = false

        func contains(_ v: UInt32) -> Bool {
            var lo = 0
            var hi = ranges.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if ranges[mid].upperBound < v {
                    lo = mid + 1
                } else if ranges[mid].lowerBound > v {
                    hi = mid
                } else {
                    return !negated
                }
            }
            return negated
        }

        static func of(_ ranges: [ClosedRange<UInt32>], negated: Bool = false) -> ScalarSet {
            let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
            var merged: [ClosedRange<UInt32>] = []
            for r in sorted {
                if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                    merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
                } else {
                    merged.append(r)
                }
            }
            return ScalarSet(ranges: merged, negated: negated)
        }

        static let digit: [ClosedRange<UInt32>] = [0x30...0x39]
        static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
        static let space: [ClosedRange<UInt32>] = [
            0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029,
            0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF,
        ]
        static let lineTerminators: [ClosedRange<UInt32>] = [0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029]
    }

    /// Longest pattern accepted, in code points, and deepest group nesting.
    static let maxPatternLength = 4096
    static let maxNesting = 64
    /// Most syntax-tree visits while compiling (an empty group repeated inside repeats emits
    /// nothing, so the program size alone would not bound the work).
    static let maxCompileSteps = 200_000

    /// Compiles `pattern`.
    init(_ pattern: String) throws(CompileError) {
        let scalars = Array(pattern.unicodeScalars).map(\.value)
        guard scalars.count <= Self.maxPatternLength else {
            throw CompileError(message: "pattern longer than \(Self.maxPatternLength) characters")
        }
        var parser = Parser(scalars)
        let tree = try parser.parseAlternation()
        guard parser.atEnd else { throw CompileError(message: "unbalanced ')'") }
        var program: [Instruction] = []
        var steps = 0
        try Self.emit(tree, into: &program, steps: &steps)
        program.append(.match)
        self.program = program
    }

    // MARK: Syntax tree

    indirect enum Node: Sendable {
        case empty
        case set(ScalarSet)
        case concat([Node])
        case alternation([Node])
        case repeatRange(Node, min: Int, max: Int?)
        case lineStart
        case lineEnd
        case wordBoundary(Bool)
    }

    struct Parser {
        let s: [UInt32]
        var i = 0
        var depth = 0

        init(_ s: [UInt32]) { self.s = s }

        var atEnd: Bool { i >= s.count }
        func peek(_ offset: Int = 0) -> UInt32? { i + offset < s.count ? s[i + offset] : nil }
        static func c(_ ch: Unicode.Scalar) -> UInt32 { ch.value }

        mutating func parseAlternation() throws(CompileError) -> Node {
            var branches = [try parseConcat()]
            while peek() == Self.c("|") {
                i += 1
                branches.append(try parseConcat())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func parseConcat() throws(CompileError) -> Node {
            var items: [Node] = []
            while let ch = peek(), ch != Self.c("|"), ch != Self.c(")") {
                var (atom, quantifiable) = try parseAtom()
                if let q = try parseQuantifier() {
                    guard quantifiable else { throw CompileError(message: "nothing to repeat") }
                    atom = .repeatRange(atom, min: q.min, max: q.max)
                }
                items.append(atom)
            }
            return items.count == 1 ? items[0] : .concat(items)
        }

        mutating func parseQuantifier() throws(CompileError) -> (min: Int, max: Int?)? {
            guard let ch = peek() else { return nil }
            var result: (min: Int, max: Int?)
            switch ch {
            case Self.c("*"):
                result = (0, nil)
                i += 1
            case Self.c("+"):
                result = (1, nil)
                i += 1
            case Self.c("?"):
                result = (0, 1)
                i += 1
            case Self.c("{"):
                guard let braced = bracedQuantifier() else { return nil }
                result = braced
            default: return nil
            }
            if peek() == Self.c("?") { i += 1 }  // lazy: the same language
            if let max = result.max, max < result.min { throw CompileError(message: "numbers out of order in {}") }
            if result.min > 1000 || (result.max ?? 0) > 1000 {
                throw CompileError(message: "repetition count above 1000")
            }
            return result
        }

        /// `{n}`, `{n,}`, `{n,m}`; anything else leaves `{` a literal (Annex B).
        mutating func bracedQuantifier() -> (min: Int, max: Int?)? {
            var j = i + 1
            func number() -> Int? {
                var n: Int? = nil
                while j < s.count, s[j] >= 0x30, s[j] <= 0x39 {
                    n = min((n ?? 0) * 10 + Int(s[j] - 0x30), 100_000)
                    j += 1
                }
                return n
            }
            guard let low = number() else { return nil }
            var high: Int? = low
            if j < s.count, s[j] == Self.c(",") {
                j += 1
                high = number()
            }
            guard j < s.count, s[j] == Self.c("}") else { return nil }
            i = j + 1
            return (low, high)
        }

        mutating func parseAtom() throws(CompileError) -> (Node, Bool) {
            guard let ch = peek() else { return (.empty, false) }
            i += 1
            switch ch {
            case Self.c("^"): return (.lineStart, false)
            case Self.c("$"): return (.lineEnd, false)
            case Self.c("."): return (.set(.of(ScalarSet.lineTerminators, negated: true)), true)
            case Self.c("("):
                if peek() == Self.c("?") {
                    if peek(1) == Self.c(":") {
                        i += 2
                    } else if peek(1) == Self.c("<"), let n = peek(2), n != Self.c("="), n != Self.c("!") {
                        // Named group: skip the name.
                        i += 2
                        let nameStart = i
                        while let c = peek(), c != Self.c(">") {
                            let isNameChar =
                                (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || c == 0x5F || c == 0x24
                                || (i > nameStart && (0x30...0x39).contains(c))
                            guard isNameChar else { throw CompileError(message: "invalid group name") }
                            i += 1
                        }
                        guard peek() == Self.c(">"), i > nameStart else {
                            throw CompileError(message: "unterminated or empty group name")
                        }
                        i += 1
                    } else {
                        throw CompileError(message: "lookaround is not supported (it needs backtracking)")
                    }
                }
                depth += 1
                guard depth <= LinearRegex.maxNesting else { throw CompileError(message: "groups nested too deeply") }
                let inner = try parseAlternation()
                depth -= 1
                guard peek() == Self.c(")") else { throw CompileError(message: "missing ')'") }
                i += 1
                return (inner, true)
            case Self.c("["): return (.set(try parseClass()), true)
            case Self.c("*"), Self.c("+"), Self.c("?"): throw CompileError(message: "nothing to repeat")
            case Self.c("{"):
                i -= 1
                if bracedQuantifier() != nil { throw CompileError(message: "nothing to repeat") }
                i += 1
                return (.set(.of([ch...ch])), true)
            case Self.c("\\"):
                return try parseEscape()
            default:
                return (.set(.of([ch...ch])), true)
            }
        }

        mutating func parseEscape() throws(CompileError) -> (Node, Bool) {
            guard let e = peek() else { throw CompileError(message: "\\ at end of pattern") }
            switch e {
            case Self.c("b"):
                i += 1
                return (.wordBoundary(true), false)
            case Self.c("B"):
                i += 1
                return (.wordBoundary(false), false)
            case Self.c("1")...Self.c("9"), Self.c("k"):
                throw CompileError(message: "backreferences are not supported (they need backtracking)")
            default:
                return (.set(try classEscape(inClass: false)), true)
            }
        }

        /// An escape after `\`: a class (`\d`…) or one scalar.
        mutating func classEscape(inClass: Bool) throws(CompileError) -> ScalarSet {
            guard let e = peek() else { throw CompileError(message: "\\ at end of pattern") }
            i += 1
            switch e {
            case Self.c("d"): return .of(ScalarSet.digit)
            case Self.c("D"): return .of(ScalarSet.digit, negated: true)
            case Self.c("w"): return .of(ScalarSet.word)
            case Self.c("W"): return .of(ScalarSet.word, negated: true)
            case Self.c("s"): return .of(ScalarSet.space)
            case Self.c("S"): return .of(ScalarSet.space, negated: true)
            case Self.c("p"), Self.c("P"):
                throw CompileError(message: "Unicode property escapes are not supported")
            default:
                let v = try scalarEscape(e, inClass: inClass)
                return .of([v...v])
            }
        }

        /// The scalar of an escape whose letter `e` was consumed.
        mutating func scalarEscape(_ e: UInt32, inClass: Bool) throws(CompileError) -> UInt32 {
            switch e {
            case Self.c("t"): return 0x09
            case Self.c("n"): return 0x0A
            case Self.c("v"): return 0x0B
            case Self.c("f"): return 0x0C
            case Self.c("r"): return 0x0D
            case Self.c("0"):
                guard !(peek().map { $0 >= 0x30 && $0 <= 0x39 } ?? false) else {
                    throw CompileError(message: "octal escapes are not supported")
                }
                return 0
            case Self.c("b") where inClass: return 0x08
            case Self.c("c"):
                guard let l = peek(), (0x41...0x5A).contains(l) || (0x61...0x7A).contains(l) else {
                    throw CompileError(message: "invalid \\c escape")
                }
                i += 1
                return l % 32
            case Self.c("x"):
                guard let v = hex(count: 2) else { throw CompileError(message: "invalid \\x escape") }
                return v
            case Self.c("u"):
                if peek() == Self.c("{") {
                    i += 1
                    var v: UInt32 = 0
                    var digits = 0
                    while let h = peek(), let d = Self.hexValue(h) {
                        v = v &* 16 &+ d
                        digits += 1
                        i += 1
                        guard v <= 0x10FFFF else { throw CompileError(message: "code point above U+10FFFF") }
                    }
                    guard digits > 0, peek() == Self.c("}") else { throw CompileError(message: "invalid \\u{} escape") }
                    i += 1
                    return v
                }
                guard let v = hex(count: 4) else { throw CompileError(message: "invalid \\u escape") }
                // A surrogate pair spelled as two escapes is one code point.
                if (0xD800...0xDBFF).contains(v), peek() == Self.c("\\"), peek(1) == Self.c("u") {
                    let save = i
                    i += 2
                    if let low = hex(count: 4), (0xDC00...0xDFFF).contains(low) {
                        return 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    }
                    i = save
                }
                return v
            case Self.c("-") where inClass: return e
            default:
                // Identity escapes: syntax characters and `/`.
                let syntax = "^$\\.*+?()[]{}|/".unicodeScalars.map(\.value)
                guard syntax.contains(e) else {
                    throw CompileError(message: "unknown escape \\\(Unicode.Scalar(e).map { String($0) } ?? "?")")
                }
                return e
            }
        }

        static func hexValue(_ h: UInt32) -> UInt32? {
            switch h {
            case 0x30...0x39: h - 0x30
            case 0x41...0x46: h - 0x41 + 10
            case 0x61...0x66: h - 0x61 + 10
            default: nil
            }
        }

        mutating func hex(count: Int) -> UInt32? {
            var v: UInt32 = 0
            for k in 0..<count {
                guard let h = peek(k), let d = Self.hexValue(h) else { return nil }
                v = v * 16 + d
            }
            i += count
            return v
        }

        mutating func parseClass() throws(CompileError) -> ScalarSet {
            var negated = false
            if peek() == Self.c("^") {
                negated = true
                i += 1
            }
            var ranges: [ClosedRange<UInt32>] = []
            var negatedParts: [ScalarSet] = []
            while true {
                guard let ch = peek() else { throw CompileError(message: "missing ']'") }
                if ch == Self.c("]") {
                    i += 1
                    break
                }
                // One class atom: a scalar or a class escape.
                func atom(_ p: inout Parser) throws(CompileError) -> ScalarSet {
                    guard let c = p.peek() else { throw CompileError(message: "missing ']'") }
                    p.i += 1
                    if c == Self.c("\\") { return try p.classEscape(inClass: true) }
                    return .of([c...c])
                }
                let first = try atom(&self)
                if peek() == Self.c("-"), let next = peek(1), next != Self.c("]") {
                    i += 1
                    let second = try atom(&self)
                    guard first.ranges.count == 1, first.ranges[0].count == 1, !first.negated,
                        second.ranges.count == 1, second.ranges[0].count == 1, !second.negated
                    else { throw CompileError(message: "a class escape cannot bound a range") }
                    let low = first.ranges[0].lowerBound
                    let high = second.ranges[0].lowerBound
                    guard low <= high else { throw CompileError(message: "range out of order in character class") }
                    ranges.append(low...high)
                } else if first.negated {
                    negatedParts.append(first)
                } else {
                    ranges += first.ranges
                }
            }
            // `[\D]`, `[^\W]`: a negated escape inside a class is its complement's ranges.
            for part in negatedParts { ranges += Self.complement(part.ranges) }
            return .of(ranges, negated: negated)
        }

        static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
            var out: [ClosedRange<UInt32>] = []
            var next: UInt32 = 0
            for r in ScalarSet.of(ranges).ranges {
                if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
                next = r.upperBound &+ 1
            }
            if next <= 0x10FFFF { out.append(next...0x10FFFF) }
            return out
        }
    }

    // MARK: Program

    static func emit(_ node: Node, into p: inout [Instruction], steps: inout Int) throws(CompileError) {
        steps += 1
        guard p.count < maxProgramSize, steps <= maxCompileSteps else {
            throw CompileError(message: "pattern too large")
        }
        switch node {
        case .empty: break
        case .set(let set): p.append(.scalar(set))
        case .lineStart: p.append(.lineStart)
        case .lineEnd: p.append(.lineEnd)
        case .wordBoundary(let b): p.append(.wordBoundary(b))
        case .concat(let items): for item in items { try emit(item, into: &p, steps: &steps) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for (k, branch) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = p.count
                    p.append(.split(split + 1, -1))
                    try emit(branch, into: &p, steps: &steps)
                    jumps.append(p.count)
                    p.append(.jump(-1))
                    p[split] = .split(split + 1, p.count)
                } else {
                    try emit(branch, into: &p, steps: &steps)
                }
            }
            for j in jumps { p[j] = .jump(p.count) }
        case .repeatRange(let inner, let low, let high):
            for _ in 0..<low { try emit(inner, into: &p, steps: &steps) }
            if let high {
                var splits: [Int] = []
                for _ in low..<high {
                    splits.append(p.count)
                    p.append(.split(p.count + 1, -1))
                    try emit(inner, into: &p, steps: &steps)
                }
                for s in splits { p[s] = .split(s + 1, p.count) }
            } else {
                let split = p.count
                p.append(.split(split + 1, -1))
                try emit(inner, into: &p, steps: &steps)
                p.append(.jump(split))
                p[split] = .split(split + 1, p.count)
            }
        }
        guard p.count <= maxProgramSize else { throw CompileError(message: "pattern too large") }
    }

    // MARK: Matching

    /// True when the pattern matches somewhere in `text` (JSON Schema's unanchored search).
    func firstMatch(in text: String) -> Bool {
        let input = text.unicodeScalars.map(\.value)
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        for position in 0...input.count {
            // A new attempt at every position: the search is unanchored.
            if add(0, at: position, input, to: &current) { return true }
            guard position < input.count, !current.isEmpty else {
                if position < input.count {
                    current.clear()
                    continue
                }
                break
            }
            let v = input[position]
            next.clear()
            for pc in current.items {
                if case .scalar(let set) = program[pc], set.contains(v) {
                    if add(pc + 1, at: position + 1, input, to: &next) { return true }
                }
            }
            swap(&current, &next)
        }
        return false
    }

    /// Adds the thread at `pc` and every thread its empty moves reach; true on a match.
    func add(_ start: Int, at position: Int, _ input: [UInt32], to list: inout ThreadList) -> Bool {
        var stack = [start]
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch program[pc] {
            case .match: return true
            case .jump(let to): stack.append(to)
            case .split(let a, let b):
                stack.append(b)
                stack.append(a)
            case .lineStart: if position == 0 { stack.append(pc + 1) }
            case .lineEnd: if position == input.count { stack.append(pc + 1) }
            case .wordBoundary(let wanted):
                func isWord(_ k: Int) -> Bool { k >= 0 && k < input.count && Self.wordSet.contains(input[k]) }
                if (isWord(position - 1) != isWord(position)) == wanted { stack.append(pc + 1) }
            case .scalar: list.items.append(pc)
            }
        }
        return false
    }

    static let wordSet = ScalarSet.of(ScalarSet.word)

    /// A sparse set of program counters, cleared in O(1) between steps.
    struct ThreadList {
        var seen: [Int]
        var stamp = 1
        var items: [Int] = []

        init(capacity: Int) { seen = Array(repeating: 0, count: capacity) }

        var isEmpty: Bool { items.isEmpty }

        mutating func insert(_ pc: Int) -> Bool {
            if seen[pc] == stamp { return false }
            seen[pc] = stamp
            return true
        }

        mutating func clear() {
            stamp += 1
            items.removeAll(keepingCapacity: true)
        }
    }
}
