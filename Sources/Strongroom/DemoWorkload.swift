import Foundation

/// Loan applications with the shared bench workload's field shapes, deterministic per seed.
///
/// Customers repeat (a pool of count/10, at least 1), SSNs and dates of birth are stable per
/// customer, so erasing one customer reaches several events. The values are synthetic.
public enum DemoWorkload {
    /// One generated event and the PII it holds.
    public struct Event: Sendable {
        /// The JSON line.
        public var json: String
        /// The data subject.
        public var customerID: String
        /// Every plaintext PII value in the line (for leak scans).
        public var pii: [String]
    }

    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            // SplitMix64: reproducible, not for secrets.
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func int(_ range: ClosedRange<Int>) -> Int {
            range.lowerBound + Int(next() % UInt64(range.count))
        }
        mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
    }

    static let first = [
        "Mary", "Lukas", "Chloe", "David", "Amelia", "Noah", "Sofia", "Hiroshi", "Aisha", "Mateo", "Olivia", "Liam",
        "Emma", "Ravi", "Ingrid", "Kwame",
    ]
    static let last = [
        "Johnson", "Schmidt", "Dubois", "Muller", "Jones", "Garcia", "Rossi", "Tanaka", "Okafor", "Silva", "Brown",
        "Novak", "Larsen", "Patel", "Kowalski", "Mensah",
    ]
    static let streets = ["Main St", "High St", "Oak Ave", "Park Rd", "Elm St", "Bay St", "Mill Ln", "Lake Dr"]
    static let cities = [("New York", "US"), ("Chicago", "US"), ("Berlin", "DE"), ("Paris", "FR"), ("London", "GB")]

    /// `count` events from `seed`.
    public static func events(count: Int, seed: UInt64 = 20_250_101) -> [Event] {
        var g = Generator(state: seed)
        let customers = max(1, count / 10)
        var people:
            [(
                ssn: String, dob: String, first: String, last: String, phone: String, street: String,
                city: (String, String), postal: String
            )] = []
        for _ in 0..<customers {
            people.append(
                (
                    ssn: String(format: "%03d-%02d-%04d", g.int(100...665), g.int(10...99), g.int(1000...9999)),
                    dob: String(format: "%04d-%02d-%02d", g.int(1950...2004), g.int(1...12), g.int(1...28)),
                    first: g.pick(first),
                    last: g.pick(last),
                    phone: String(format: "+1-%03d-%03d-%04d", g.int(201...989), g.int(200...999), g.int(1000...9999)),
                    street: "\(g.int(1...9999)) \(g.pick(streets))",
                    city: g.pick(cities),
                    postal: String(format: "%05d", g.int(10000...99999))
                )
            )
        }
        var out: [Event] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let c = g.int(0...(customers - 1))
            let p = people[c]
            let customer = String(format: "CUST-%08d", c + 1)
            let email = "\(p.first.lowercased()).\(p.last.lowercased())\(c + 1)@example.com"
            let id = (0..<4).map { _ in String(format: "%08x", UInt32(truncatingIfNeeded: g.next())) }
            let uuid = "\(id[0])-\(id[1].prefix(4))-4\(id[1].suffix(3))-a\(id[2].prefix(3))-\(id[2].suffix(4))\(id[3])"
            let amount = String(format: "%d.%02d", g.int(100...49_999), g.int(0...99))
            let json =
                #"{"applicationId":"\#(uuid)","customerId":"\#(customer)","ssn":"\#(p.ssn)","dateOfBirth":"\#(p.dob)","#
                + #""fullName":"\#(p.first) \#(p.last)","email":"\#(email)","phone":"\#(p.phone)","#
                + #""address":{"street":"\#(p.street)","city":"\#(p.city.0)","postalCode":"\#(p.postal)","country":"\#(p.city.1)"},"#
                + #""amount":\#(amount),"currency":"\#(g.pick(["USD", "EUR", "GBP"]))","termMonths":\#(g.pick([6, 12, 24, 36, 60])),"#
                + #""storeId":"STORE-\#(String(format: "%04d", g.int(1...500)))","#
                + #""submittedAt":"2025-01-\#(String(format: "%02d", 1 + i % 28))T10:\#(String(format: "%02d", i % 60)):00.000Z"}"#
            out.append(
                Event(
                    json: json,
                    customerID: customer,
                    pii: [p.ssn, p.dob, "\(p.first) \(p.last)", email, p.phone, p.street]
                )
            )
        }
        return out
    }
}
