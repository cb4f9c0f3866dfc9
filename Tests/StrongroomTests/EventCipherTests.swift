import Foundation
import StrongroomCrypto
import StrongroomJSON
import StrongroomKeys
import StrongroomSchema
import StrongroomTestSupport
import Testing

@testable import Strongroom

let loanSchema = """
    {"type":"object","properties":{
      "applicationId":{"type":"string"},"customerId":{"type":"string"},
      "ssn":{"type":"string","confluent:tags":["PII"]},"dateOfBirth":{"type":"string","confluent:tags":["PII"]},
      "email":{"type":"string","confluent:tags":["PII"],"strongroom:encryption":"deterministic"},
      "address":{"type":"object","confluent:tags":["PII"],"properties":{"city":{"type":"string"}}},
      "phones":{"type":"array","items":{"$ref":"#/$defs/phone"}},
      "income":{"type":"number","confluent:tags":["PII"]},
      "amount":{"type":"number"}},
     "$defs":{"phone":{"type":"string","confluent:tags":["PII"]}}}
    """

func event(_ customer: String, id: String, ssn: String = "123-45-6789") -> [UInt8] {
    Array(
        #"{"applicationId":"\#(id)","customerId":"\#(customer)","ssn":"\#(ssn)","dateOfBirth":"1980-04-12","email":"m@example.com","address":{"city":"New York","geo":[40.7,-74.0]},"phones":["+1-212-555-0101","+1-212-555-0102"],"income":123456789012345678901234567890.10,"amount":12500.00, "note":"keeps \u00e9 and spacing"}"#
            .utf8
    )
}

func makeCipher(
    _ dir: URL? = nil,
    topic: String = "loan_applications",
    tenant: String = "",
    threads: Int? = nil
) throws -> EventCipher {
    let directory = dir ?? TestSupport.scratchDirectory("cipher")
    let keys: KeyStore
    if let existing = try? KeyStore.open(dataDirectory: directory) {
        keys = existing
    } else {
        keys = try KeyStore.initialize(dataDirectory: directory)
    }
    return try EventCipher(
        plan: EncryptionPlan(schema: JSONValue(parsing: loanSchema)),
        keys: keys,
        options: .init(
            topic: topic,
            tenant: tenant,
            subjectField: "customerId",
            eventIDField: "applicationId",
            threads: threads
        )
    )
}

@Suite("Event cipher")
struct EventCipherTests {
    @Test("the plan follows tags, objects, array items and local $ref")
    func plan() throws {
        let plan = try EncryptionPlan(schema: JSONValue(parsing: loanSchema))
        #expect(plan.fields.map(\.pattern) == ["/ssn", "/dateOfBirth", "/email", "/address", "/phones/*", "/income"])
        #expect(plan.fields.map(\.deterministic) == [false, false, true, false, false, false])
        #expect(throws: SchemaError.self) {
            try EncryptionPlan(schema: JSONValue(parsing: #"{"properties":{"a":{"$ref":"http://x/y"}}}"#))
        }
    }

    @Test("round trip restores the exact bytes: numbers to the last digit, spacing, escapes")
    func roundTrip() throws {
        let cipher = try makeCipher()
        let plain = event("CUST-1", id: "e1")
        let sealed = try cipher.encrypt(plain)
        let text = String(decoding: sealed, as: UTF8.self)
        for secret in [
            "CUST-1", "123-45-6789", "1980-04-12", "m@example.com", "New York", "555-0101",
            "123456789012345678901234567890",
        ] {
            #expect(!text.contains(secret))
        }
        #expect(text.contains(#""amount":12500.00, "note":"keeps \u00e9 and spacing""#))
        #expect(try cipher.decrypt(sealed) == plain)
    }

    @Test("deterministic fields repeat across events of a subject; randomized ones never do")
    func determinism() throws {
        let cipher = try makeCipher()
        let a = try JSONValue(parsing: cipher.encrypt(event("CUST-1", id: "e1")))
        let b = try JSONValue(parsing: cipher.encrypt(event("CUST-1", id: "e2")))
        #expect(a["email"] == b["email"])
        #expect(a["ssn"] != b["ssn"])
    }

    @Test("a batch's results are reserved at their exact size: sr1 text of every length, both algorithms")
    func sealedSize() throws {
        let cipher = try makeCipher()
        var events: [[UInt8]] = []
        // Plaintexts of 1 to 40 bytes cover every base64 remainder of both algorithms' lengths.
        for n in 0..<40 {
            let ssn = String(repeating: "9", count: n)
            events.append(event("CUST-\(n % 3)", id: "e\(n)", ssn: ssn))
            events.append(Array(#"{"applicationId":"x\#(n)","customerId":"C\#(n)","email":"\#(ssn)@b"}"#.utf8))
        }
        let sealed = cipher.seal(batch: events)
        #expect(sealed.count == events.count)
        for (plain, result) in zip(events, sealed) {
            let value = try result.get().value
            let scan = try plain.withUnsafeBufferPointer { try cipher.scan($0) }
            #expect(cipher.sealedCount(plain.count, scan: scan) == value.count)
        }
    }

    @Test("a ciphertext pasted into another field, event, subject, topic or tenant fails authentication")
    func pasteAttacks() throws {
        let dir = TestSupport.scratchDirectory("paste")
        let cipher = try makeCipher(dir)
        let source = try JSONValue(parsing: cipher.encrypt(event("CUST-1", id: "e1")))
        guard let ssn = source["ssn"] else {
            Issue.record("no ssn")
            return
        }

        func paste(into target: [UInt8], field: String, with cipher: EventCipher) throws -> [UInt8] {
            guard case .object(var members) = try JSONValue(parsing: target) else { return [] }
            for i in members.indices where members[i].key == field { members[i].value = ssn }
            var out: [UInt8] = []
            JSONValue.object(members).write(to: &out)
            return out
        }
        let otherEvent = try cipher.encrypt(event("CUST-1", id: "e2"))
        let otherSubject = try cipher.encrypt(event("CUST-2", id: "e3"))
        let cases: [(String, [UInt8], EventCipher)] = [
            ("another event", try paste(into: otherEvent, field: "ssn", with: cipher), cipher),
            (
                "another field",
                try paste(into: try cipher.encrypt(event("CUST-1", id: "e1")), field: "dateOfBirth", with: cipher),
                cipher
            ),
            ("another subject", try paste(into: otherSubject, field: "ssn", with: cipher), cipher),
        ]
        // The subject field is itself a ciphertext under the subject's key, bound to its event:
        // swapping it for another subject's (or another event's) makes the event fail as a whole.
        func withSubject(of donor: [UInt8], in target: [UInt8]) throws -> [UInt8] {
            let id = try JSONValue(parsing: donor)["customerId"]
            guard case .object(var members) = try JSONValue(parsing: target), let id else { return [] }
            for i in members.indices where members[i].key == "customerId" { members[i].value = id }
            var out: [UInt8] = []
            JSONValue.object(members).write(to: &out)
            return out
        }
        let mine = try cipher.encrypt(event("CUST-1", id: "e1"))
        let swapped: [(String, [UInt8], EventCipher)] = [
            ("another subject's id", try withSubject(of: otherSubject, in: mine), cipher),
            ("another event's id", try withSubject(of: otherEvent, in: mine), cipher),
        ]
        for (label, tampered, c) in cases + swapped {
            #expect(throws: EventCipherError.self, "\(label)") { try c.decrypt(tampered) }
        }
        // Same bytes read as another topic or tenant: same keys, other context.
        let original = try cipher.encrypt(event("CUST-1", id: "e1"))
        for other in [try makeCipher(dir, topic: "customer_360"), try makeCipher(dir, tenant: "other-bank")] {
            do {
                _ = try other.decrypt(original)
                Issue.record("decrypted in a foreign context")
            } catch {
                #expect([.authenticationFailure, .keyUnavailable].contains(error.code))
            }
        }
        #expect(try cipher.decrypt(original) == event("CUST-1", id: "e1"))
    }

    @Test("an erased subject's fields read as the erased marker; others still decrypt; no new data for it")
    func erasure() throws {
        let cipher = try makeCipher()
        let a = try cipher.encrypt(event("CUST-1", id: "e1"))
        let b = try cipher.encrypt(event("CUST-2", id: "e2"))
        try cipher.keys.erase(subject: "CUST-1")
        let erased = try JSONValue(parsing: cipher.decrypt(a))
        for field in ["customerId", "ssn", "dateOfBirth", "email", "address", "income"] {
            #expect(erased[field] == .object([.init("$erased", .bool(true))]), "\(field)")
        }
        #expect(erased["amount"] == .number("12500.00"))
        #expect(try cipher.decrypt(b) == event("CUST-2", id: "e2"))
        #expect(throws: EventCipherError(.subjectErased, "")) { try cipher.encrypt(event("CUST-1", id: "e9")) }
    }

    @Test("an erasure while an event is being read: its later fields read as erased, never as tampered")
    func erasureDuringRead() throws {
        let cipher = try makeCipher()
        let sealed = try cipher.encrypt(event("CUST-1", id: "e1"))
        var out: [UInt8] = []
        var asked = 0
        let outcome = try sealed.withUnsafeBufferPointer { buffer in
            try cipher.reveal(buffer, into: &out) { _, _ in
                asked += 1
                // The third field is the date of birth: the subject's key is in use by then.
                if asked == 3 { _ = try? cipher.keys.erase(subject: "CUST-1") }
                return .decrypt
            }
        }
        let read = try JSONValue(parsing: out)
        #expect(read["ssn"] == .string("123-45-6789"))
        for field in ["dateOfBirth", "email", "address", "income"] {
            #expect(read[field] == .object([.init("$erased", .bool(true))]), "\(field)")
        }
        #expect(outcome.decrypted == 2 && outcome.erased >= 4)
    }

    @Test("a batch sealed on the caller's thread or on every core gives the same events, in order")
    func batchThreads() throws {
        let directory = TestSupport.scratchDirectory("cipher-threads")
        var batch = (0..<300).map { event("CUST-\($0 % 40)", id: "e\($0)") }
        batch[150] = Array(#"{"applicationId":"bad","ssn":"123-45-6789"}"#.utf8)
        var warm: EventCipher?
        for threads in [1, nil] as [Int?] {
            let cipher = try makeCipher(directory, threads: threads)
            let results = cipher.encrypt(batch: batch)
            #expect(results.count == batch.count)
            for (i, result) in results.enumerated() {
                if i == 150 {
                    #expect(throws: EventCipherError(.missingSubject, "")) { try result.get() }
                } else {
                    #expect(try cipher.decrypt(try result.get()) == batch[i])
                }
            }
            warm = cipher
        }
        // Every subject's active key is cached in `warm` now. An erasure made through another
        // store on the same directory (as another process would) must reach its next batch at once.
        let cipher = try #require(warm)
        #expect(cipher.keys.cachedKeyCount >= 40)
        _ = try KeyStore.open(dataDirectory: directory).erase(subject: "CUST-1")
        let after = cipher.encrypt(batch: batch)
        for (i, result) in after.enumerated() where i != 150 {
            if i % 40 == 1 {
                #expect(throws: EventCipherError(.subjectErased, "")) { try result.get() }
            } else {
                #expect(try cipher.decrypt(try result.get()) == batch[i])
            }
        }
    }

    @Test(
        "a batch of held keys, new subjects, an erased subject and a bad event: each event gets its own answer, in order"
    )
    func batchHeldAndNewKeys() throws {
        let cipher = try makeCipher()
        let first = cipher.seal(batch: (0..<200).map { event("CUST-\($0 % 20)", id: "a\($0)") })
        var keyOf: [String: KeyReference] = [:]
        for (i, result) in first.enumerated() { keyOf["CUST-\(i % 20)"] = try result.get().key }
        try cipher.keys.erase(subject: "CUST-3")
        // Held keys (sealed on the other cores first), new subjects and the erased one, mixed.
        var batch: [[UInt8]] = (0..<400).map { i in
            switch i % 4 {
            case 0: event("CUST-\(i % 20)", id: "b\(i)")
            case 1: event("NEW-\(i % 50)", id: "b\(i)")
            case 2: event("CUST-3", id: "b\(i)")
            default: event("CUST-\((i / 4) % 20)", id: "b\(i)")
            }
        }
        batch[77] = Array(#"{"applicationId":"bad","ssn":"123-45-6789"}"#.utf8)
        let results = cipher.seal(batch: batch)
        #expect(results.count == batch.count)
        var fresh: [String: KeyReference] = [:]
        for (i, result) in results.enumerated() {
            let subject = try JSONValue(parsing: batch[i])["customerId"]?.stringValue
            if i == 77 {
                #expect(throws: EventCipherError(.missingSubject, "")) { try result.get() }
            } else if subject == "CUST-3" {
                #expect(throws: EventCipherError(.subjectErased, "")) { try result.get() }
            } else {
                let sealed = try result.get()
                #expect(try cipher.decrypt(sealed.value) == batch[i], "event \(i)")
                let name = try #require(subject)
                if let before = keyOf[name] {
                    #expect(sealed.key == before, "event \(i): the key held from the first batch")
                } else {
                    #expect(fresh[name] == nil || fresh[name] == sealed.key, "one new key per new subject")
                    fresh[name] = sealed.key
                }
            }
        }
        let newSubjects = Set((0..<400).filter { $0 % 4 == 1 }.map { "NEW-\($0 % 50)" })
        #expect(Set(fresh.keys) == newSubjects && Set(fresh.values).count == newSubjects.count)
    }

    @Test("bad events get typed errors that carry no values; the batch keeps the good ones")
    func badEvents() throws {
        let cipher = try makeCipher()
        let batch: [[UInt8]] = [
            event("CUST-1", id: "e1"),
            Array(#"{"customerId":"CUST-1","ssn":"123-45-6789""#.utf8),
            Array(#"{"applicationId":"e3","ssn":"123-45-6789"}"#.utf8),
            Array(#"{"applicationId":"e4","customerId":42,"ssn":"123-45-6789"}"#.utf8),
            Array(#"{"applicationId":"e5","customerId":"C","ssn":"123-45-6789","ssn":"x"}"#.utf8),
            event("CUST-2", id: "e6"),
        ]
        let results = cipher.encrypt(batch: batch)
        let codes = results.map { r -> EventCipherError.Code? in if case .failure(let e) = r { e.code } else { nil } }
        #expect(codes == [nil, .invalidJSON, .missingSubject, .invalidSubject, .invalidJSON, nil])
        for case .failure(let error) in results { #expect(!"\(error)".contains("123-45")) }
        // A forged sr1 value in a tagged field is a typed error too.
        let forged = Array(#"{"applicationId":"e","customerId":"C","ssn":"sr1:AAAA"}"#.utf8)
        #expect(throws: EventCipherError(.malformedCiphertext, "")) { try cipher.decrypt(forged) }
        // A subject field that looks like a ciphertext but is not one is never taken as a subject id:
        // no key is made for it, and decrypting names it as broken.
        let bogus = Array(#"{"applicationId":"e","customerId":"sr1:not-a-ciphertext","ssn":"x"}"#.utf8)
        let before = try cipher.keys.list().count
        #expect(throws: EventCipherError(.malformedCiphertext, "")) { try cipher.encrypt(bogus) }
        #expect(throws: EventCipherError(.malformedCiphertext, "")) { try cipher.decrypt(bogus) }
        #expect(try cipher.keys.list().count == before)
    }
}
