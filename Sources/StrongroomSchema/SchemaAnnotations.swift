public import StrongroomJSON

/// How a consumer without decrypt rights sees a tagged value.
public enum MaskStyle: String, Sendable, Hashable, CaseIterable, Codable {
    /// A fixed redaction: `"***"`.
    case full
    /// All but the last four characters hidden: `"***-**-6789"` (separators kept).
    case lastFour = "last4"
    /// A keyed hash, so equal values can still be grouped without being read.
    case hash
}

/// Data classification, lowest to highest.
public enum Classification: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
    /// Anyone may read.
    case publicData = "PUBLIC"
    /// Staff only.
    case internalData = "INTERNAL"
    /// Need to know.
    case confidential = "CONFIDENTIAL"
    /// Regulated personal or financial data.
    case restricted = "RESTRICTED"

    /// Ordered by sensitivity.
    public static func < (a: Classification, b: Classification) -> Bool {
        allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
    }
}

/// Strongroom's own schema annotations, beside `confluent:tags`.
///
/// | annotation | where | value |
/// | --- | --- | --- |
/// | `strongroom:subject` | one top-level property | `true`: the data-subject id (keys, erasure) |
/// | `strongroom:mask` | a PII-tagged property | `full`, `last4` or `hash` |
/// | `strongroom:encryption` | a PII-tagged property | `deterministic` (see ``EncryptionPlan``) |
/// | `strongroom:classification` | the root | `PUBLIC`, `INTERNAL`, `CONFIDENTIAL`, `RESTRICTED` |
/// | `strongroom:retentionDays` | the root | positive integer: how long events are kept |
public struct SchemaAnnotations: Sendable, Hashable {
    /// The top-level member holding the data-subject id.
    public var subjectField: String?
    /// Mask style by JSON pointer pattern of a tagged value (`*` for array elements).
    public var masks: [String: MaskStyle]
    /// The event's classification.
    public var classification: Classification?
    /// Days events are kept.
    public var retentionDays: Int?

    /// Reads the annotations of `schema`.
    ///
    /// - Throws: ``SchemaError`` for an unknown mask style or classification, a mask on an
    ///   untagged value, two subject fields, a subject field that is itself tagged PII (it
    ///   must stay readable to find the key), or a retention that is not a positive integer.
    public init(schema: JSONValue) throws(SchemaError) {
        let plan = try EncryptionPlan(schema: schema)
        var subject: String? = nil
        var masks: [String: MaskStyle] = [:]
        for member in schema["properties"]?.objectMembers ?? [] {
            let at = "/properties/" + JSONPathSet.escapePointerToken(member.key)
            if let flag = member.value["strongroom:subject"] {
                guard flag == .bool(true) else { throw SchemaError("strongroom:subject must be true", at: at) }
                guard subject == nil else { throw SchemaError("only one property may be the data subject", at: at) }
                guard member.value["type"]?.stringValue == "string" else {
                    throw SchemaError("the data-subject property must be of type string", at: at)
                }
                if plan.fields.contains(where: { $0.steps.first == .member(member.key) }) {
                    throw SchemaError("the data-subject property cannot be tagged PII: it locates the key", at: at)
                }
                subject = member.key
            }
        }
        for field in plan.fields {
            if let style = try Self.mask(at: field.steps, in: schema, pattern: field.pattern) {
                masks[field.pattern] = style
            }
        }
        var classification: Classification? = nil
        if let value = schema["strongroom:classification"] {
            guard let text = value.stringValue, let c = Classification(rawValue: text) else {
                throw SchemaError(
                    "strongroom:classification must be one of \(Classification.allCases.map(\.rawValue).joined(separator: ", "))",
                    at: "/strongroom:classification"
                )
            }
            classification = c
        }
        var retention: Int? = nil
        if let value = schema["strongroom:retentionDays"] {
            guard case .number(let text) = value, let days = Int(text), days > 0 else {
                throw SchemaError(
                    "strongroom:retentionDays must be a positive integer",
                    at: "/strongroom:retentionDays"
                )
            }
            retention = days
        }
        try Self.refuseStrayMasks(schema, tagged: Set(plan.fields.map(\.pattern)), pointer: "", pattern: "")
        self.subjectField = subject
        self.masks = masks
        self.classification = classification
        self.retentionDays = retention
    }

    /// The mask style of the schema node at `steps` (properties and items only).
    static func mask(
        at steps: [JSONPathSet.Step],
        in schema: JSONValue,
        pattern: String
    ) throws(SchemaError) -> MaskStyle? {
        var node = schema
        for step in steps {
            switch step {
            case .member(let name): node = node["properties"]?[name] ?? .null
            case .anyElement: node = node["items"] ?? .null
            }
        }
        guard let value = node["strongroom:mask"] else { return nil }
        guard let text = value.stringValue, let style = MaskStyle(rawValue: text) else {
            throw SchemaError("strongroom:mask must be full, last4 or hash", at: pattern)
        }
        return style
    }

    /// A mask on a value that is not encrypted would promise a protection that is not there.
    static func refuseStrayMasks(
        _ node: JSONValue,
        tagged: Set<String>,
        pointer: String,
        pattern: String
    ) throws(SchemaError) {
        if node["strongroom:mask"] != nil, !tagged.contains(pattern) {
            throw SchemaError("strongroom:mask on a value not tagged PII", at: pointer)
        }
        for member in node["properties"]?.objectMembers ?? [] {
            let token = JSONPathSet.escapePointerToken(member.key)
            try refuseStrayMasks(
                member.value,
                tagged: tagged,
                pointer: pointer + "/properties/" + token,
                pattern: pattern + "/" + token
            )
        }
        if let items = node["items"], case .object = items {
            try refuseStrayMasks(items, tagged: tagged, pointer: pointer + "/items", pattern: pattern + "/*")
        }
    }

    /// `value` masked as `style` (a JSON string), for consumers without decrypt rights.
    ///
    /// `last4` keeps ASCII punctuation and spaces and the last four letters or digits (of any
    /// script) of a string value; every other scalar becomes `*` — Arabic-Indic or Devanagari
    /// digits, combining marks and look-alike separators included. Anything else (numbers,
    /// objects, strings with four letters or digits or fewer) is fully redacted. `hash` needs a
    /// key the caller supplies, so it is done by the pipeline, not here.
    public static func mask(_ text: String, style: MaskStyle) -> String {
        switch style {
        case .full, .hash:
            return "***"
        case .lastFour:
            let scalars = Array(text.unicodeScalars)
            func isLetterOrDigit(_ s: Unicode.Scalar) -> Bool {
                s.properties.isAlphabetic || s.properties.numericType != nil
            }
            func isKeptSeparator(_ s: Unicode.Scalar) -> Bool {
                s.isASCII && (s == " " || (s.properties.generalCategory.isPunctuationOrSymbol))
            }
            guard scalars.filter(isLetterOrDigit).count > 4 else { return "***" }
            var keep = 4
            var out = String.UnicodeScalarView()
            for scalar in scalars.reversed() {
                if keep > 0, isLetterOrDigit(scalar) {
                    out.append(scalar)
                    keep -= 1
                } else if isKeptSeparator(scalar) {
                    out.append(scalar)
                } else {
                    out.append("*")
                }
            }
            return String(String.UnicodeScalarView(out.reversed()))
        }
    }
}

extension Unicode.GeneralCategory {
    var isPunctuationOrSymbol: Bool {
        switch self {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            true
        default: false
        }
    }
}
