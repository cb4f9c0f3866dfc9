import ArgumentParser
import Foundation
import Strongroom
import StrongroomJSON
import StrongroomKeys
import StrongroomSchema

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A short walk-through: encrypt loan applications, decrypt, erase a customer, see the erased marker.",
        discussion: "Runs in a fresh temporary data directory (removed afterwards unless --keep) and needs no service."
    )

    @Flag(help: "Keep the temporary data directory and print its path.")
    var keep = false

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strongroom-demo-\(UUID().uuidString)"
        )
        defer { if !keep { try? FileManager.default.removeItem(at: directory) } }

        section("1. A data directory: a keyring (0600) and an empty key store")
        let keys = try KeyStore.initialize(dataDirectory: directory)
        print("   \(directory.path)")

        section("2. The loan_applications schema tags PII fields (examples/loan_application.schema.json)")
        let plan = try EncryptionPlan(schema: JSONValue(parsing: DemoData.schema))
        print("   encrypted fields: " + plan.fields.map(\.pattern).joined(separator: " "))
        let cipher = try EventCipher(
            plan: plan,
            keys: keys,
            options: .init(topic: "loan_applications", subjectField: "customerId", eventIDField: "applicationId")
        )

        section("3. Encrypt \(DemoData.events.count) applications at the source, each under its customer's own key")
        let encrypted = try cipher.encrypt(batch: DemoData.events.map { Array($0.utf8) }).map { try $0.get() }
        let sample = try JSONValue(parsing: encrypted[0])
        for field in ["customerId", "ssn", "address", "amount"] {
            print(
                "   \(field.padding(toLength: 11, withPad: " ", startingAt: 0)) \(abbreviate(sample[field]?.jsonText ?? "-"))"
            )
        }
        print("   Same customer, same SSN, two events: ciphertexts differ (random nonce, event id bound in).")

        section("4. Decrypt: every value comes back exactly, numbers to the last digit")
        for line in encrypted {
            let plain = try JSONValue(parsing: cipher.decrypt(line))
            print(
                "   \(plain["customerId"]?.stringValue ?? "?")  ssn \(plain["ssn"]?.stringValue ?? "?")  amount \(plain["amount"]?.jsonText ?? "?")"
            )
        }

        section("5. Customer CUST-00000001 invokes GDPR erasure: their key is destroyed (crypto-shredding)")
        let receipt = try keys.erase(subject: "CUST-00000001")
        print(
            "   receipt: key id \(receipt.keyID) (a keyed hash, not the customer id), \(receipt.versionsDeleted) key version deleted"
        )

        section("6. Replay the same immutable log: the erased customer's fields read as erased, the others decrypt")
        for line in encrypted {
            let plain = try JSONValue(parsing: cipher.decrypt(line))
            print(
                "   \(plain["customerId"]?.stringValue ?? "?")  ssn \(plain["ssn"]?.jsonText ?? "?")  fullName \(plain["fullName"]?.jsonText ?? "?")"
            )
        }

        section("7. Finalize: every KEK version forgets the erased key, so even a restored backup cannot bring it back")
        let report = try keys.finalize()
        print(
            "   finalized \(report.finalized.count) erasure(s); KEK versions punctured: \(report.kekVersions.map { "v\($0)" }.joined(separator: ", "))"
        )

        print("\nDone. Next: `strongroom init`, then `strongroom encrypt --help`. The full BFB scenario grows here.")
        if keep { print("Data directory kept: \(directory.path)") }
    }

    func section(_ title: String) { print("\n" + title) }

    func abbreviate(_ text: String) -> String { text.count > 60 ? String(text.prefix(57)) + "…\"" : text }
}

enum DemoData {
    static let schema = """
        {"type":"object","properties":{
          "applicationId":{"type":"string"},"customerId":{"type":"string"},
          "ssn":{"type":"string","confluent:tags":["PII"]},"dateOfBirth":{"type":"string","confluent:tags":["PII"]},
          "fullName":{"type":"string","confluent:tags":["PII"]},"email":{"type":"string","confluent:tags":["PII"]},
          "phone":{"type":"string","confluent:tags":["PII"]},
          "address":{"type":"object","confluent:tags":["PII"],"properties":{"street":{"type":"string"},
            "city":{"type":"string"},"postalCode":{"type":"string"},"country":{"type":"string"}}},
          "amount":{"type":"number"},"currency":{"type":"string"},"termMonths":{"type":"integer"},
          "storeId":{"type":"string"},"submittedAt":{"type":"string"}}}
        """

    static let events = [
        #"{"applicationId":"6f1c2a9e-1d4b-4c1e-9a55-0b7e3c1d2f01","customerId":"CUST-00000001","ssn":"123-45-6789","dateOfBirth":"1980-04-12","fullName":"Mary Johnson","email":"mary.johnson@example.com","phone":"+1-212-555-0101","address":{"street":"12 Main St","city":"New York","postalCode":"10001","country":"US"},"amount":12500.00,"currency":"USD","termMonths":36,"storeId":"STORE-0042","submittedAt":"2025-01-03T10:15:00.000Z"}"#,
        #"{"applicationId":"0b8e4f51-7a2c-4d8e-8f3b-5c6d7e8f9a02","customerId":"CUST-00000002","ssn":"987-65-4321","dateOfBirth":"1992-11-30","fullName":"Lukas Schmidt","email":"lukas.schmidt@example.de","phone":"+49-30-5550-0102","address":{"street":"7 Oak Ave","city":"Berlin","postalCode":"10115","country":"DE"},"amount":4999.99,"currency":"EUR","termMonths":12,"storeId":"STORE-0007","submittedAt":"2025-01-03T10:16:30.250Z"}"#,
        #"{"applicationId":"a3d9c7b2-5e1f-4a6b-9c8d-7e6f5a4b3c03","customerId":"CUST-00000003","ssn":"555-12-3434","dateOfBirth":"1975-06-01","fullName":"Chloe Dubois","email":"chloe.dubois@example.fr","phone":"+33-1-5550-0103","address":{"street":"3 High St","city":"Paris","postalCode":"75001","country":"FR"},"amount":25000,"currency":"EUR","termMonths":60,"storeId":"STORE-0011","submittedAt":"2025-01-03T10:18:02.500Z"}"#,
        #"{"applicationId":"c4e8a1f3-2b7d-4e9c-8a1b-3c5d7e9f1a04","customerId":"CUST-00000001","ssn":"123-45-6789","dateOfBirth":"1980-04-12","fullName":"Mary Johnson","email":"mary.johnson@example.com","phone":"+1-212-555-0101","address":{"street":"12 Main St","city":"New York","postalCode":"10001","country":"US"},"amount":1800.50,"currency":"USD","termMonths":6,"storeId":"STORE-0042","submittedAt":"2025-01-04T09:00:00.000Z"}"#,
    ]
}
