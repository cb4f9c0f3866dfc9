/// IBAN lengths per country, from the SWIFT IBAN Registry (ISO 13616), 2024–2025 releases.
///
/// Only registry countries: "IBAN-like" formats some banks use elsewhere (Algeria, Angola,
/// …) are not IBANs by the standard and are not detected. Partial members with their own
/// codes (French overseas territories use FR, Åland uses FI) are covered by the parent code.
enum IBANRegistry {
    static let lengths: [(String, Int)] = [
        ("AD", 24), ("AE", 23), ("AL", 28), ("AT", 20), ("AZ", 28), ("BA", 20), ("BE", 16), ("BG", 22),
        ("BH", 22), ("BI", 27), ("BR", 29), ("BY", 28), ("CH", 21), ("CR", 22), ("CY", 28), ("CZ", 24),
        ("DE", 22), ("DJ", 27), ("DK", 18), ("DO", 28), ("EE", 20), ("EG", 29), ("ES", 24), ("FI", 18),
        ("FK", 18), ("FO", 18), ("FR", 27), ("GB", 22), ("GE", 22), ("GI", 23), ("GL", 18), ("GR", 27),
        ("GT", 28), ("HN", 28), ("HR", 21), ("HU", 28), ("IE", 22), ("IL", 23), ("IQ", 23), ("IS", 26),
        ("IT", 27), ("JO", 30), ("KW", 30), ("KZ", 20), ("LB", 28), ("LC", 32), ("LI", 21), ("LT", 20),
        ("LU", 20), ("LV", 21), ("LY", 25), ("MC", 27), ("MD", 24), ("ME", 22), ("MK", 19), ("MN", 20),
        ("MR", 27), ("MT", 31), ("MU", 30), ("NI", 28), ("NL", 18), ("NO", 15), ("OM", 23), ("PK", 24),
        ("PL", 28), ("PS", 29), ("PT", 25), ("QA", 29), ("RO", 24), ("RS", 22), ("RU", 33), ("SA", 24),
        ("SC", 31), ("SD", 18), ("SE", 24), ("SI", 19), ("SK", 24), ("SM", 27), ("SO", 23), ("ST", 25),
        ("SV", 28), ("TL", 23), ("TN", 24), ("TR", 26), ("UA", 29), ("VA", 22), ("VG", 24), ("XK", 20),
        ("YE", 30),
    ]

    /// Lengths indexed by `(first - "A") * 26 + (second - "A")`; 0 for no IBAN country.
    static let table: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 26 * 26)
        for (code, length) in lengths {
            let bytes = Array(code.utf8)
            table[Int(bytes[0] - 65) * 26 + Int(bytes[1] - 65)] = UInt8(length)
        }
        return table
    }()

    /// The IBAN length of the country whose upper-case code is `first`, `second`.
    static func length(_ first: UInt8, _ second: UInt8) -> Int? {
        guard first &- 65 < 26, second &- 65 < 26 else { return nil }
        let length = table[Int(first &- 65) * 26 + Int(second &- 65)]
        return length == 0 ? nil : Int(length)
    }
}
