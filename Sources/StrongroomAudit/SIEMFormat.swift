import Foundation

/// Audit entries as lines a SIEM ingests: ArcSight CEF and RFC 5424 syslog.
public enum SIEMFormat {
    /// `CEF:0|Strongroom|strongroom|1|<action>|<action> <decision>|<severity>|<extensions>`.
    ///
    /// Header fields escape `\\` and `|`; extension values escape `\\`, `=` and line breaks.
    public static func cef(_ entry: AuditEntry) -> String {
        func header(_ s: String) -> String {
            singleLine(s).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "|", with: "\\|")
        }
        func value(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "=", with: "\\=")
                .replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
                .unicodeScalars.map { isLineBreakOrControl($0) ? "?" : String($0) }.joined()
        }
        let severity = entry.decision == .deny ? 6 : (entry.action == "Erase" ? 5 : 3)
        var ext: [(String, String)] = [
            ("rt", String(Int64((entry.time.timeIntervalSince1970 * 1000).rounded(.down)))),
            ("externalId", String(entry.index)),
            ("suser", entry.principal),
            ("act", entry.action),
            ("outcome", entry.decision.rawValue),
            ("cnt", String(entry.count)),
            ("cs1Label", "resource"), ("cs1", entry.resource),
        ]
        if !entry.fields.isEmpty { ext += [("cs2Label", "fields"), ("cs2", entry.fields.joined(separator: ","))] }
        if let purpose = entry.purpose { ext += [("cs3Label", "purpose"), ("cs3", purpose)] }
        if !entry.rules.isEmpty { ext += [("cs4Label", "rules"), ("cs4", entry.rules.joined(separator: ","))] }
        if let correlation = entry.correlationID { ext += [("cs5Label", "correlationId"), ("cs5", correlation)] }
        if let subject = entry.subjectKey { ext += [("cs6Label", "subjectKey"), ("cs6", subject)] }
        if let reason = entry.reason { ext.append(("reason", reason)) }
        let extensions = ext.map { "\($0.0)=\(value($0.1))" }.joined(separator: " ")
        return
            "CEF:0|Strongroom|strongroom|1|\(header(entry.action))|\(header("\(entry.action) \(entry.decision.rawValue)"))|"
            + "\(severity)|\(extensions)"
    }

    /// An RFC 5424 line: facility log audit (13), severity informational or warning for a
    /// denial, structured data `[audit@32473 …]`, and the canonical entry as the UTF-8 message.
    ///
    /// 32473 is the enterprise number RFC 5612 reserves for documentation: set your own
    /// with `enterpriseNumber`.
    public static func syslog(_ entry: AuditEntry, hostname: String, enterpriseNumber: Int = 32473) -> String {
        let severity = entry.decision == .deny ? 4 : 6
        let pri = 13 * 8 + severity
        func token(_ s: String, max: Int) -> String {
            let cleaned = String(
                String.UnicodeScalarView(s.unicodeScalars.map { $0.value > 32 && $0.value < 127 ? $0 : "_" })
            )
            return cleaned.isEmpty ? "-" : String(cleaned.prefix(max))
        }
        func param(_ s: String) -> String {
            singleLine(s).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "]", with: "\\]")
        }
        var params: [(String, String)] = [
            ("index", String(entry.index)), ("principal", entry.principal), ("action", entry.action),
            ("resource", entry.resource), ("decision", entry.decision.rawValue), ("count", String(entry.count)),
        ]
        if let purpose = entry.purpose { params.append(("purpose", purpose)) }
        if let subject = entry.subjectKey { params.append(("subjectKey", subject)) }
        let sd =
            "[audit@\(enterpriseNumber) " + params.map { "\($0.0)=\"\(param($0.1))\"" }.joined(separator: " ") + "]"
        // JSON escapes C0 controls already; the Unicode line breaks it may keep are escaped too
        // (still valid JSON, inside strings only), so a line-framed feed sees one record.
        let message = String(decoding: entry.canonicalBytes(), as: UTF8.self).unicodeScalars.map { scalar in
            isLineBreakOrControl(scalar) ? String(format: "\\u%04x", scalar.value) : String(scalar)
        }.joined()
        return "<\(pri)>1 \(AuditEntry.timestamp(entry.time)) \(token(hostname, max: 255)) strongroom - "
            + "\(token(entry.action, max: 32)) \(sd) \u{FEFF}\(message)"
    }

    /// Line breaks and control characters could start a forged record in a line-framed
    /// feed: they never pass through.
    static func isLineBreakOrControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
            || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    static func singleLine(_ s: String) -> String {
        s.unicodeScalars.map { isLineBreakOrControl($0) ? "?" : String($0) }.joined()
    }
}
