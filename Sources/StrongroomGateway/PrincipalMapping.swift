import Foundation

/// Maps a client certificate's subject DN to a principal, with rules in the syntax of Kafka's
/// `ssl.principal.mapping.rules`.
///
/// `RULE:^CN=([a-zA-Z0-9._-]+),.*$/$1/,DEFAULT`: rules are tried in order; a `RULE:pattern/
/// replacement/[L|U]` applies when its pattern matches the whole DN (RFC 4514 form, most
/// specific first: `CN=svc,OU=payments,O=Acme Bank,C=GB`), and gives the replacement with `$1`…
/// filled in, lower- or upper-cased when `L` or `U` follows; `DEFAULT` gives the DN itself. A
/// `/` inside a pattern or replacement is written `\/`. No rule matching is a refusal, as in
/// Kafka.
public struct PrincipalMapping: Sendable {
    enum Rule: @unchecked Sendable {
        case pattern(NSRegularExpression, replacement: String, caseFold: Character?)
        case `default`
    }

    let rules: [Rule]

    /// Why a rule list does not parse.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// What does not parse.
        public var description: String
    }

    /// Parses a rule list; an empty list means `DEFAULT`.
    public init(rules text: String) throws(ParseError) {
        var rules: [Rule] = []
        var rest = Substring(text)
        func skipSeparators() {
            rest = rest.drop { $0 == "," || $0.isWhitespace }
        }
        skipSeparators()
        while !rest.isEmpty {
            if rest.hasPrefix("DEFAULT") {
                rest = rest.dropFirst("DEFAULT".count)
                rules.append(.default)
            } else if rest.hasPrefix("RULE:") {
                rest = rest.dropFirst("RULE:".count)
                let pattern = try Self.part(&rest, "pattern")
                let replacement = try Self.part(&rest, "replacement")
                var fold: Character?
                if let first = rest.first, first == "L" || first == "U" {
                    fold = first
                    rest = rest.dropFirst()
                }
                let expression: NSRegularExpression
                // Java's matches(): the whole DN or nothing, whatever the quantifiers prefer.
                do { expression = try NSRegularExpression(pattern: "\\A(?:" + pattern + ")\\z") } catch {
                    throw ParseError(description: "principal mapping rule: invalid pattern \(pattern)")
                }
                rules.append(.pattern(expression, replacement: replacement, caseFold: fold))
            } else {
                throw ParseError(
                    description: "principal mapping rules: expected RULE:… or DEFAULT at \"\(rest.prefix(20))\""
                )
            }
            guard rest.isEmpty || rest.first == "," || rest.first?.isWhitespace == true else {
                throw ParseError(description: "principal mapping rules: unexpected \"\(rest.prefix(20))\" after a rule")
            }
            skipSeparators()
        }
        self.rules = rules.isEmpty ? [.default] : rules
    }

    /// Reads up to the next unescaped `/`, unescaping `\/`.
    private static func part(_ rest: inout Substring, _ what: String) throws(ParseError) -> String {
        var out = ""
        var escaped = false
        while let c = rest.first {
            rest = rest.dropFirst()
            if escaped {
                if c != "/" { out.append("\\") }
                out.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "/" {
                return out
            } else {
                out.append(c)
            }
        }
        throw ParseError(description: "principal mapping rule: the \(what) has no closing /")
    }

    /// The principal for `dn`, or nil when no rule matches.
    public func principal(for dn: String) -> String? {
        let range = NSRange(dn.startIndex..., in: dn)
        for rule in rules {
            switch rule {
            case .default:
                return dn
            case .pattern(let expression, let replacement, let fold):
                guard let match = expression.firstMatch(in: dn, range: range), match.range == range else { continue }
                let result = expression.replacementString(for: match, in: dn, offset: 0, template: replacement)
                switch fold {
                case "L": return result.lowercased()
                case "U": return result.uppercased()
                default: return result
                }
            }
        }
        return nil
    }
}
