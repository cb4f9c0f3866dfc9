import Foundation
import StrongroomJSON
import StrongroomSchema
import StrongroomTestSupport
import Testing

@Suite("DLP detectors")
struct DLPDetectorTests {
    let scanner = DLPScanner()

    // Card and IBAN numbers are the networks' and banks' published test numbers; the JWT is
    // jwt.io's example; the AWS key id and secret are AWS documentation's examples.
    static let jwt =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
        + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

    static let positives: [(DLPDetector, String)] = [
        (.ssn, "123-45-6789"),
        (.ssn, "my SSN is 123-45-6789, thanks"),
        (.ssn, "ssn: 078 05 1120"),
        (.ssn, "SSN=899-99-9999."),
        (.paymentCard, "4111111111111111"),
        (.paymentCard, "please charge 4111 1111 1111 1111 today"),
        (.paymentCard, "card 4111-1111-1111-1111 exp 12/27"),
        (.paymentCard, "5555555555554444"),
        (.paymentCard, "MC 2223003122003222"),
        (.paymentCard, "amex 378282246310005"),
        (.paymentCard, "amex 3782 822463 10005."),
        (.paymentCard, "6011111111111117"),
        (.paymentCard, "jcb:3530111333300000"),
        (.paymentCard, "diners 30569309025904"),
        (.paymentCard, "unionpay 6200000000000005"),
        (.paymentCard, "visa13 4222222222222"),
        (.paymentCard, "CC-4111111111111111"),
        (.iban, "DE89370400440532013000"),
        (.iban, "IBAN DE89 3704 0044 0532 0130 00 please"),
        (.iban, "GB82WEST12345698765432"),
        (.iban, "to GB82 WEST 1234 5698 7654 32."),
        (.iban, "FR1420041010050500013M02606"),
        (.iban, "NL91ABNA0417164300"),
        (.iban, "(NO9386011117947)"),
        (.iban, "BE68539007547034"),
        (.iban, "pay to CH9300762011623852957 today"),
        (.email, "alice@example.com"),
        (.email, "Order from alice@example.com failed."),
        (.email, "first.last+tag@sub.example.co.uk"),
        (.email, "<bob_o'neil@Bank.Example.ORG>"),
        (.phone, "+1 415 555 0100"),
        (.phone, "call me at +1 415 555 0100"),
        (.phone, "+14155550100"),
        (.phone, "+44 20 7946 0958"),
        (.phone, "+44 (0)20 7946 0958"),
        (.phone, "tel:+1 (415) 555-0100"),
        (.phone, "+1-415-555-0100"),
        (.phone, "+33 1 23 45 67 89"),
        (.phone, "(415) 555-0100"),
        (.phone, "office (415)555-0100 ext 2"),
        (.phone, "415-555-0100"),
        (.phone, "415.555.0100"),
        (.phone, "ring 1-800-555-0199 now"),
        (.awsAccessKey, "AKIAIOSFODNN7EXAMPLE"),
        (.awsAccessKey, "aws_access_key_id=AKIAIOSFODNN7EXAMPLE;"),
        (.awsAccessKey, "ASIAY34FZKBOKMUTVV7A"),
        (.privateKey, "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg..."),
        (.privateKey, "key: -----BEGIN RSA PRIVATE KEY-----"),
        (.privateKey, "-----BEGIN EC PRIVATE KEY-----"),
        (.privateKey, "-----BEGIN DSA PRIVATE KEY-----"),
        (.privateKey, "-----BEGIN OPENSSH PRIVATE KEY-----"),
        (.privateKey, "-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        (.jwt, jwt),
        (.jwt, "Authorization: Bearer \(jwt)"),
        (.highEntropyToken, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        (.highEntropyToken, "secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        (.highEntropyToken, "token: 9fQ2xL7vR1bK8mZ4tW6yH3pN0sD5gJcA"),
        (.highEntropyToken, "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        (.highEntropyToken, "commit e83c5163316f89bfbde7d9ab23ca2e25604af290"),
    ]

    @Test("each detector fires on its value, alone and inside free text", arguments: positives)
    func truePositive(detector: DLPDetector, text: String) {
        #expect(scanner.detect(text).contains(detector), "\(detector)")
    }

    @Test("a scanner runs only the detectors it was given", arguments: positives)
    func onlyEnabled(detector: DLPDetector, text: String) {
        #expect(DLPScanner(detectors: [detector]).detect(text) == [detector])
        #expect(
            DLPScanner(detectors: Set(DLPDetector.allCases).subtracting([detector])).detect(text).contains(detector)
                == false
        )
    }

    @Test(
        "plain values fire only their own detector",
        arguments: [
            (DLPDetector.ssn, "123-45-6789"), (.paymentCard, "4111 1111 1111 1111"),
            (.iban, "DE89370400440532013000"), (.email, "alice@example.com"), (.phone, "+1 415 555 0100"),
            (.phone, "415-555-0100"), (.awsAccessKey, "AKIAIOSFODNN7EXAMPLE"),
        ]
    )
    func exactlyOne(detector: DLPDetector, text: String) {
        #expect(scanner.detect(text) == [detector])
    }

    static let nearMisses: [String] = [
        // Cards: Luhn fails, unknown IIN, wrong length for the brand, odd grouping.
        "4111111111111112", "4111 1111 1111 1112", "1234567812345670", "5555555555554443",
        "37828224631000", "41111111111111111", "41 11 11 11 11 11 11 11", "order 4111111111111111234",
        "05428e61-930b-4094-9312-83948b5b957a", "id-4111-1111-1111-1111-x", "x4111111111111111",
        // IBANs: checksum, country, length.
        "DE89370400440532013001", "DE89 3704 0044 0532 0130 01", "XX89370400440532013000",
        "DE8937040044053201300", "DE893704004405320130000", "de89370400440532013000",
        // SSNs: never-issued areas, groups, serials; no separators; mixed separators; id chains.
        "000-12-3456", "666-12-3456", "900-12-3456", "999-45-6789", "123-00-4567", "123-45-0000",
        "123456789", "123-45 6789", "ref 12-123-45-6789", "123-45-6789-01",
        // Ids, dates, times, amounts, UUIDs.
        "550e8400-e29b-41d4-a716-446655440000", "550E8400-E29B-41D4-A716-446655440000",
        "550e8400e29b41d4a716446655440000", "{550e8400-e29b-41d4-a716-446655440000}",
        "2025-01-01", "2025-01-01T12:34:56.789Z", "2025-01-01T12:34:56+05:30", "2025-01-01T12:34:56.123+0000",
        "20250101T123456Z", "CUST-00006653", "STORE-0248", "329.06", "+329.06", "-1234567.89", "12345678.90",
        "+12345678.90", "1,234,567.89", "+2025-01-15", "EUR 25000.00", "ORD-2025-000123",
        "192.168.100.200", "10.0.0.1", "v1.22.333",
        // Phones: too short, N11 and 1xx areas, 1xx exchanges, leading 0 country code.
        "call 555-0100", "911-555-0100", "123-456-7890", "415-155-0100", "+0 123 456 789", "+1234567",
        "(415) 155-0100", "415-555-0100-22",
        // E-mail: no dot in the domain, digit TLD, no local part.
        "user@localhost", "package@1.2.3", "@example.com", "a@b.c", "root@example.",
        // Secrets: short, wrong prefix, lower case, public material, a single JWT segment.
        "abc123XYZ", "AKIAIOSFODNN7EXAMPL", "akiaiosfodnn7example", "AKIAIOSFODNN7EXAMPLEX",
        "XKIAIOSFODNN7EXAMPLE", "-----BEGIN PUBLIC KEY-----", "-----BEGIN CERTIFICATE-----",
        "www.example.com.au", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p",
        // Words and identifiers that are long but not random.
        "LoanApplicationSubmittedV2", "loan_application_submitted_v2", "/api/v2/LoanApplications/12345/Documents",
        "Hello+World+this+is+a+Query+String+2024", "iPhone15ProMaxDeepPurple256GBUnlocked",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-fab8bd1f59b79fee396b90928c9edc18-2379478673331879-01", "X-Request-Id-For-Tracing-Purposes-2024",
        "The quick brown fox jumps over the lazy dog 42 times.", "Approved by underwriting on 2025-03-04",
        "", "a", "Müller straße 12, 10115 Berlin",
    ]

    @Test("near misses fire no detector", arguments: nearMisses)
    func nearMiss(text: String) {
        #expect(scanner.detect(text).isEmpty, "\(scanner.detect(text))")
    }

    @Test("JWT parts must decode to JSON objects, the header with alg")
    func jwtStructure() {
        // {"typ":"JWT"} (no alg) . {"sub":"1"} . sig
        let noAlg = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
        #expect(!scanner.detect(noAlg).contains(.jwt))
        // Right shape, payload not JSON.
        let notJSON = "eyJhbGciOiJIUzI1NiJ9.ZXhhbXBsZSB0ZXh0IGhlcmU.c2lnbmF0dXJl"
        #expect(!scanner.detect(notJSON).contains(.jwt))
        // A header alone is no token (its base64 is random-looking enough for highEntropyToken).
        #expect(!scanner.detect("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9").contains(.jwt))
        // alg none: empty signature still leaks the claims.
        let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        #expect(scanner.detect(unsigned).contains(.jwt))
    }
}

@Suite("DLP scanning of events")
struct DLPScanTests {
    let scanner = DLPScanner()

    static let event = """
        {"id":"550e8400-e29b-41d4-a716-446655440000","ssn":"123-45-6789","memo":"call +1 415 555 0100",
         "address":{"street":"1 Main St","notes":["card 4111111111111111"]},
         "items":[{"iban":"DE89370400440532013000","sku":"STORE-0248"},{"iban":"GB82WEST12345698765432"}],
         "a/b~c":"alice@example.com","123-45-6789":"key is not a value","amount":329.06,"ok":true,"none":null}
        """

    @Test("findings carry the RFC 6901 pointer and the detector, never the value")
    func pointers() throws {
        let event = try JSONValue(parsing: Self.event)
        let findings = scanner.scan(event) { _ in false }
        #expect(
            findings == [
                DLPFinding(pointer: "/ssn", detector: .ssn),
                DLPFinding(pointer: "/memo", detector: .phone),
                DLPFinding(pointer: "/address/notes/0", detector: .paymentCard),
                DLPFinding(pointer: "/items/0/iban", detector: .iban),
                DLPFinding(pointer: "/items/1/iban", detector: .iban),
                DLPFinding(pointer: "/a~1b~0c", detector: .email),
            ]
        )
        let secrets = [
            "123-45-6789", "415", "555", "0100", "4111", "DE89", "3704", "GB82", "alice", "example.com",
        ]
        let texts = findings.map(\.description) + [DLPError.sensitiveData(findings).description]
        for text in texts {
            for secret in secrets { #expect(!text.contains(secret), "\(text)") }
        }
        #expect(findings[0].description == "ssn at /ssn")
        #expect(String(describing: DLPError.sensitiveData(findings)).hasPrefix("sensitive data in an untagged field"))
        #expect(scanner.countStrings(in: event) { _ in false } == 10)
    }

    @Test("tagged pointers cover their subtree, and only it")
    func tagged() throws {
        let event = try JSONValue(parsing: Self.event)
        let findings = scanner.scan(event, taggedPointers: ["/ssn", "/address", "/items/*/iban", "/a~1b~0c"])
        #expect(findings == [DLPFinding(pointer: "/memo", detector: .phone)])
        // A prefix that is not a whole token covers nothing.
        let partial = scanner.scan(event, taggedPointers: ["/ss", "/addr", "/items/0/ib"])
        #expect(partial.count == 6)
        // Array elements below a tagged pointer are covered.
        let items = scanner.scan(event, taggedPointers: ["/items", "/ssn", "/memo", "/address", "/a~1b~0c"])
        #expect(items.isEmpty)
        // The root pointer covers everything.
        #expect(scanner.scan(event, taggedPointers: [""]).isEmpty)
        // The pipeline's compiled coverage (a trie walked with the event) finds the same.
        let names = Set(
            [
                "id", "ssn", "memo", "address", "street", "notes", "items", "iban", "sku", "a/b~c", "123-45-6789",
                "amount", "ok", "none",
            ].map { ExactText($0) }
        )
        for patterns in [
            ["/ssn", "/address", "/items/*/iban", "/a~1b~0c"], ["/ss", "/addr", "/items/0/ib"],
            ["/items", "/ssn", "/memo", "/address", "/a~1b~0c"], [""], ["/items/*", "/*"], [],
        ] {
            #expect(
                scanner.scan(event, coverage: DLPCoverage(patterns), declaredNames: names)
                    == scanner.scan(event, taggedPointers: patterns),
                "\(patterns)"
            )
        }
        // A closure sees every pointer before its value is visited.
        var seen: [String] = []
        _ = scanner.scan(event) { pointer in
            seen.append(pointer)
            return false
        }
        #expect(seen.contains("/address/notes/0") && seen.contains("/items/1") && seen.first == "")
    }

    @Test("per-topic action: reject by default, flag where configured; clean events pass")
    func policy() {
        let finding = DLPFinding(pointer: "/memo", detector: .phone)
        let policy = DLPPolicy(topicActions: ["support_chats": .flag])
        #expect(policy.action(forTopic: "loan_applications") == .reject)
        #expect(policy.decide([finding], topic: "loan_applications") == .reject([finding]))
        #expect(policy.decide([finding], topic: "support_chats") == .flag([finding]))
        #expect(policy.decide([], topic: "loan_applications") == .clean)
        #expect(DLPPolicy(defaultAction: .flag).action(forTopic: "x") == .flag)
        #expect(DLPError.sensitiveData([finding]) == DLPError.sensitiveData([]))
    }
}

@Suite("DLP on the shared workload")
struct DLPWorkloadTests {
    static let benchDirectory = TestSupport.packageRoot.deletingLastPathComponent().appendingPathComponent(
        "shared/bench"
    )

    @Test("zero findings in the untagged fields of 20,000 loan applications; tagged PII is found")
    func workload() throws {
        let script = Self.benchDirectory.appendingPathComponent("workload.py")
        guard FileManager.default.fileExists(atPath: script.path) else {
            print("\(Self.benchDirectory.path) not found: DLP workload measurement skipped")
            if TestSupport.isCI { Issue.record("shared/bench is required under CI") }
            return
        }
        let dir = TestSupport.scratchDirectory("dlp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("events.jsonl")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--n", "20000", "--out", out.path]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)

        let plan = try EncryptionPlan(
            contentsOf: Self.benchDirectory.appendingPathComponent("loan_application.schema.json")
        )
        let tagged = plan.fields.map(\.pattern)
        #expect(Set(tagged) == ["/ssn", "/dateOfBirth", "/fullName", "/email", "/phone", "/address"])

        let scanner = DLPScanner()
        let data = try Data(contentsOf: out)
        var events = 0
        var untaggedStrings = 0
        var falsePositives: [DLPFinding] = []
        var taggedFound: [String: Int] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            let event = try JSONValue(parsing: line)
            events += 1
            untaggedStrings += scanner.countStrings(in: event) { pointer in tagged.contains(pointer) }
            falsePositives += scanner.scan(event, taggedPointers: tagged)
            // Only the tagged fields: skip every top-level member that is not tagged.
            let onlyTagged = scanner.scan(event) { pointer in
                pointer.split(separator: "/").count == 1 && !tagged.contains(pointer)
            }
            for finding in Set(onlyTagged) { taggedFound["\(finding.pointer) \(finding.detector)", default: 0] += 1 }
        }
        print(
            "DLP workload: \(events) events, \(untaggedStrings) untagged strings scanned,",
            "\(falsePositives.count) findings"
        )
        let rates = taggedFound.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)/\(events)" }
        print("DLP tagged fields: " + rates.joined(separator: ", "))
        #expect(events == 20000)
        #expect(untaggedStrings == 5 * 20000)
        #expect(falsePositives.isEmpty, "\(falsePositives.prefix(5))")
        // Areas 666 are never issued: the workload draws them about once in 800.
        #expect(Double(taggedFound["/ssn ssn", default: 0]) >= 0.99 * Double(events))
        #expect(taggedFound["/email email", default: 0] == events)
        #expect(taggedFound["/phone phone", default: 0] == events)
    }
}
