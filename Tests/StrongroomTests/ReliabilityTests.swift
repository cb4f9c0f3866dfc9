import Crypto
import Foundation
import Strongroom
import StrongroomCrypto
import StrongroomJSON
import StrongroomKeys
import StrongroomSchema
import StrongroomTestSupport
import Synchronization
import Testing

/// The real keyring, with outages switched on and off: a KMS that goes away and comes back.
final class FlakyKeyring: KeyEncryptionKeyProvider {
    let real: LocalKeyring
    let down = Atomic<Bool>(false)
    let calls = Atomic<Int>(0)
    struct Outage: Error {}

    init(_ real: LocalKeyring) { self.real = real }

    func gate() throws {
        calls.add(1, ordering: .relaxed)
        if down.load(ordering: .relaxed) { throw Outage() }
    }
    func activeVersion() throws -> UInt32 {
        try gate()
        return try real.activeVersion()
    }
    func wrap(_ key: SymmetricKey, family: KeyID) throws -> WrappedKey {
        try gate()
        return try real.wrap(key, family: family)
    }
    func unwrap(_ wrapped: WrappedKey, family: KeyID) throws -> SymmetricKey {
        try gate()
        return try real.unwrap(wrapped, family: family)
    }
    func familyID(for descriptor: [UInt8]) throws -> KeyID {
        try gate()
        return try real.familyID(for: descriptor)
    }
    func rotate() throws -> UInt32 {
        try gate()
        return try real.rotate()
    }
    func puncture(_ families: [KeyID]) throws {
        try gate()
        try real.puncture(families)
    }
    func destroy(version: UInt32) throws {
        try gate()
        try real.destroy(version: version)
    }
    func versions() throws -> [KEKVersionInfo] { try real.versions() }
    func reload() throws { try real.reload() }
}

@Suite("Reliability")
struct ReliabilityTests {
    struct Transient: Error {}
    struct Fatal: Error {}

    @Test("retries transient failures with growing, jittered, capped backoff; a fatal error is not retried")
    func retries() throws {
        let sleeps = Mutex<[Duration]>([])
        var policy = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(10), maxDelay: .milliseconds(35)) {
            $0 is Transient
        }
        policy.sleep = { duration in sleeps.withLock { $0.append(duration) } }
        policy.random = { $0 }
        var attempts = 0
        let value = try policy.run {
            attempts += 1
            if attempts < 4 { throw Transient() }
            return 42
        }
        #expect(value == 42 && attempts == 4)
        #expect(sleeps.withLock { $0 } == [.milliseconds(10), .milliseconds(20), .milliseconds(35)])
        attempts = 0
        #expect(throws: Fatal.self) {
            try policy.run {
                attempts += 1
                throw Fatal()
            }
        }
        #expect(attempts == 1)
        attempts = 0
        #expect(throws: Transient.self) {
            try policy.run {
                attempts += 1
                throw Transient()
            }
        }
        #expect(attempts == 5)
        // Full jitter: every wait lies in [0, ceiling].
        sleeps.withLock { $0 = [] }
        policy.random = { Double.random(in: 0...$0) }
        _ = try? policy.run { throw Transient() }
        let waits = sleeps.withLock { $0 }
        #expect(waits.count == 4)
        #expect(zip(waits, 1...).allSatisfy { $0 >= .zero && $0 <= policy.ceiling(after: $1) })
    }

    @Test("the breaker opens after repeated failures, fails fast, half-opens after the timeout, closes on success")
    func breaker() throws {
        let clock = Mutex(ContinuousClock.now)
        let breaker = CircuitBreaker(failureThreshold: 3, resetTimeout: .seconds(30)) { clock.withLock { $0 } }
        var calls = 0
        for _ in 0..<3 {
            #expect(throws: Transient.self) {
                try breaker.call {
                    calls += 1
                    throw Transient()
                }
            }
        }
        #expect(throws: CircuitOpenError.self) { try breaker.call { calls += 1 } }
        #expect(calls == 3)
        clock.withLock { $0 = $0 + .seconds(31) }
        #expect(throws: Transient.self) {
            try breaker.call {
                calls += 1
                throw Transient()
            }
        }
        #expect(throws: CircuitOpenError.self) { try breaker.call { calls += 1 } }
        clock.withLock { $0 = $0 + .seconds(31) }
        try breaker.call { calls += 1 }
        #expect(breaker.state == .closed)
        try breaker.call { calls += 1 }
        #expect(calls == 6)
    }

    @Test("a KEK outage behind the breaker: the key store fails fast, then recovers with the provider")
    func guardedProvider() throws {
        let directory = TestSupport.scratchDirectory("breaker")
        _ = try KeyStore.initialize(dataDirectory: directory)
        let flaky = FlakyKeyring(try LocalKeyring(url: directory.appendingPathComponent(KeyStore.keyringFileName)))
        let clock = Mutex(ContinuousClock.now)
        let guarded = GuardedKEKProvider(
            flaky,
            breaker: CircuitBreaker(failureThreshold: 2, resetTimeout: .seconds(10)) {
                clock.withLock { $0 }
            }
        )
        let keys = try KeyStore(directory: directory, provider: guarded)
        _ = try keys.encryptionKey(for: .subject("CUST-1", tenant: ""))
        flaky.down.store(true, ordering: .relaxed)
        for i in 0..<2 {
            #expect(throws: KeyStoreError.self, "\(i)") {
                try keys.encryptionKey(for: .subject("CUST-\(i + 2)", tenant: ""))
            }
        }
        let before = flaky.calls.load(ordering: .relaxed)
        #expect(throws: KeyStoreError.self) { try keys.encryptionKey(for: .subject("CUST-9", tenant: "")) }
        #expect(flaky.calls.load(ordering: .relaxed) == before, "an open breaker does not call the provider")
        flaky.down.store(false, ordering: .relaxed)
        clock.withLock { $0 = $0 + .seconds(11) }
        _ = try keys.encryptionKey(for: .subject("CUST-9", tenant: ""))
        #expect(guarded.breaker.state == .closed)
    }

    @Test(
        "a KMS outage refuses only the events that need a new key: a batch's events under held keys are sealed, in order, on one core or every core"
    )
    func outageSparesHeldKeys() throws {
        for threads in [1, nil] as [Int?] {
            let directory = TestSupport.scratchDirectory("outage-batch")
            _ = try KeyStore.initialize(dataDirectory: directory)
            let flaky = FlakyKeyring(try LocalKeyring(url: directory.appendingPathComponent(KeyStore.keyringFileName)))
            let keys = try KeyStore(directory: directory, provider: flaky)
            let cipher = try EventCipher(
                plan: EncryptionPlan(schema: JSONValue(parsing: loanSchema)),
                keys: keys,
                options: .init(
                    topic: "loan_applications",
                    tenant: "",
                    subjectField: "customerId",
                    eventIDField: "applicationId",
                    threads: threads
                )
            )
            let held = try cipher.seal(batch: (0..<20).map { event("HELD-\($0)", id: "a\($0)") }).map { try $0.get() }
            let families = try keys.list().count
            flaky.down.store(true, ordering: .relaxed)
            let batch = (0..<300).map { i in
                i % 3 == 0 ? event("NEW-\(i)", id: "b\(i)") : event("HELD-\(i % 20)", id: "b\(i)")
            }
            let results = cipher.seal(batch: batch)
            flaky.down.store(false, ordering: .relaxed)
            #expect(results.count == batch.count)
            for (i, result) in results.enumerated() {
                if i % 3 == 0 {
                    #expect(throws: EventCipherError(.keyUnavailable, ""), "event \(i)") { try result.get() }
                } else {
                    let sealed = try result.get()
                    #expect(sealed.key == held[i % 20].key, "event \(i)")
                    #expect(try cipher.decrypt(sealed.value) == batch[i], "event \(i)")
                }
            }
            #expect(try keys.list().count == families, "no key was made for a subject refused")
        }
    }
}

#if PKCS11 || KMS
/// A real provider this test can take away and bring back, keeping its keys.
struct OutageProvider: CustomTestStringConvertible, Sendable {
    let name: String
    var testDescription: String { name }

    /// A service reference, and the switches that take the provider down and back up.
    struct Setup {
        let reference: String
        let down: () -> Void
        let up: () throws -> Void
    }

    let setUp: @Sendable () throws -> Setup

    #if PKCS11
    // SoftHSM2 runs in this process: there is no network to cut. A private copy of the module
    // is finalized under the provider (every call then fails as with an HSM whose client lost
    // it) and initialized again, with the tokens and keys unchanged.
    static let pkcs11 = OutageProvider(name: "PKCS#11 (SoftHSM2)") {
        let module = try SoftHSM.privateModule()
        return Setup(
            reference: try SoftHSM.uri(object: "outage-\(UUID().uuidString.prefix(8))", module: module),
            down: { _ = SoftHSM.setRunning(false, module: module) },
            up: { try #require(SoftHSM.setRunning(true, module: module) == 0) }
        )
    }
    #endif

    #if KMS
    // The HTTP providers are reached through a relay that is cut: connections refused, open ones
    // reset, the server and its keys untouched.
    static let kms = OutageProvider(name: "AWS KMS (moto)") {
        let endpoint = try #require(Moto.endpoint)
        let key = try AWSKMSKeyService(reference: "aws-kms:bootstrap?region=eu-central-1&endpoint=\(endpoint)")
            .createKey(purpose: "outage")
        let relay = try TCPRelay(to: endpoint)
        return Setup(
            reference: "aws-kms:\(key)?region=eu-central-1&endpoint=\(relay.address)",
            down: relay.cut,
            up: relay.restore
        )
    }

    static let vault = OutageProvider(name: "Vault Transit (test server)") {
        let address = try #require(VaultTransitServer.address)
        let key = try VaultTransitKeyService(reference: "vault-transit:transit/bootstrap?addr=\(address)")
            .createKey(purpose: "outage")
        let relay = try TCPRelay(to: address)
        return Setup(
            reference: "vault-transit:transit/\(key)?addr=\(relay.address)",
            down: relay.cut,
            up: relay.restore
        )
    }
    #endif

    static var all: [OutageProvider] {
        var kinds: [OutageProvider] = []
        #if PKCS11
        if SoftHSM.isInstalled || TestSupport.isCI { kinds.append(.pkcs11) }
        #endif
        #if KMS
        if Moto.endpoint != nil || TestSupport.isCI { kinds.append(.kms) }
        if VaultTransitServer.address != nil || TestSupport.isCI { kinds.append(.vault) }
        #endif
        return kinds
    }
}

@Suite("A key provider that goes down and comes back")
struct ProviderOutageTests {
    @Test(
        "calls fail with a typed error, the circuit opens and fails fast, and closes when the provider returns",
        arguments: OutageProvider.all
    )
    func outageAndRecovery(provider: OutageProvider) throws {
        let setup = try provider.setUp()
        let dir = TestSupport.scratchDirectory("outage")
        try? FileManager.default.removeItem(at: dir)
        _ = try KeyStore.initialize(dataDirectory: dir, kek: setup.reference)
        let breaker = CircuitBreaker(failureThreshold: 2, resetTimeout: .milliseconds(400))
        let envelope = try EnvelopeKeyring(
            url: dir.appendingPathComponent(EnvelopeKeyring.fileName),
            service: try RootKeyServices.service(for: setup.reference)
        )
        let store = try KeyStore(directory: dir, provider: GuardedKEKProvider(envelope, breaker: breaker))
        let before = try store.encryptionKey(for: .subject("CUST-1"))

        setup.down()
        for subject in ["CUST-2", "CUST-3"] {
            #expect(throws: KeyStoreError(.providerUnavailable)) { try store.encryptionKey(for: .subject(subject)) }
        }
        #expect(breaker.state != .closed)
        let clock = ContinuousClock()
        let fast = clock.measure {
            #expect(throws: KeyStoreError.self) { try store.encryptionKey(for: .subject("CUST-4")) }
        }
        #expect(fast < .milliseconds(100), "an open circuit does not call the provider")
        // Keys already unwrapped stay usable from the cache while the provider is down.
        guard case .key(let cached) = try store.decryptionKey(before.reference) else {
            Issue.record("a cached key was not served")
            return
        }
        #expect(cached == before)

        try setup.up()
        Thread.sleep(forTimeInterval: 0.5)
        let after = try store.encryptionKey(for: .subject("CUST-5"))
        #expect(breaker.state == .closed)
        guard case .key(let reopened) = try KeyStore.open(dataDirectory: dir).decryptionKey(after.reference) else {
            Issue.record("the key made after recovery does not open")
            return
        }
        #expect(reopened == after)
    }
}

#endif
