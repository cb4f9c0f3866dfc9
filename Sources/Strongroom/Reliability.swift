public import Crypto
public import Foundation
public import StrongroomCrypto
public import StrongroomKeys
import Synchronization

/// Retries with exponential backoff and full jitter, for failures that may pass.
///
/// Attempt n (from 1) waits a random time in [0, min(maxDelay, baseDelay · 2^(n−1))] before
/// the next try ("full jitter": many clients retrying together spread out instead of
/// hammering a recovering dependency in step).
public struct RetryPolicy: Sendable {
    /// Tries in all, the first included.
    public var maxAttempts: Int
    /// The first backoff's ceiling.
    public var baseDelay: Duration
    /// The largest backoff ceiling.
    public var maxDelay: Duration
    /// Which failures may pass and are worth another try.
    public var isTransient: @Sendable (any Error) -> Bool
    /// Waits (tests record instead).
    public var sleep: @Sendable (Duration) -> Void = { duration in
        let c = duration.components
        Thread.sleep(forTimeInterval: Double(c.seconds) + Double(c.attoseconds) / 1e18)
    }
    /// A uniform random value in [0, ceiling] (tests fix it).
    public var random: @Sendable (Double) -> Double = { Double.random(in: 0...$0) }

    /// A policy; the defaults suit a local database or a KMS call.
    public init(
        maxAttempts: Int = 5,
        baseDelay: Duration = .milliseconds(20),
        maxDelay: Duration = .seconds(2),
        isTransient: @escaping @Sendable (any Error) -> Bool
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.isTransient = isTransient
    }

    /// The backoff ceiling after attempt `attempt` (from 1).
    public func ceiling(after attempt: Int) -> Duration {
        let factor = 1 << min(max(attempt - 1, 0), 30)
        let delay = baseDelay * factor
        return delay < maxDelay ? delay : maxDelay
    }

    /// Runs `body` until it succeeds, fails with an error ``isTransient`` rejects, or the
    /// attempts are spent (the last error is thrown).
    public func run<T>(_ body: () throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try body()
            } catch {
                guard attempt < maxAttempts, isTransient(error) else { throw error }
                let ceiling = ceiling(after: attempt)
                let seconds = Double(ceiling.components.seconds) + Double(ceiling.components.attoseconds) / 1e18
                sleep(.nanoseconds(Int64(random(seconds) * 1e9)))
                attempt += 1
            }
        }
    }
}

/// Stops calling a failing dependency for a while, then lets one trial call through.
///
/// Closed: calls pass; `failureThreshold` consecutive failures open it. Open: calls fail at
/// once with ``CircuitOpenError`` until `resetTimeout` passes. Half-open: one call passes; its
/// success closes the breaker, its failure opens it again.
public final class CircuitBreaker: Sendable {
    /// The breaker's state.
    public enum State: Sendable, Equatable {
        /// Calls pass.
        case closed
        /// Calls fail fast until the given time.
        case open(until: ContinuousClock.Instant)
        /// One trial call is allowed.
        case halfOpen
    }

    struct Inner {
        var state: State = .closed
        var failures = 0
        var trialInFlight = false
    }

    /// Consecutive failures that open the breaker.
    public let failureThreshold: Int
    /// How long it stays open.
    public let resetTimeout: Duration
    let now: @Sendable () -> ContinuousClock.Instant
    let inner = Mutex(Inner())

    /// A breaker; `now` is the clock (tests pass their own).
    public init(
        failureThreshold: Int = 5,
        resetTimeout: Duration = .seconds(30),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.failureThreshold = max(1, failureThreshold)
        self.resetTimeout = resetTimeout
        self.now = now
    }

    /// The current state.
    public var state: State { inner.withLock { $0.state } }

    /// Calls `body` unless the breaker is open, without letting a success close or reset it.
    ///
    /// For calls answered from local state (a provider's family ids): their successes say nothing
    /// of the service behind it and must not reset the count of its consecutive failures; their
    /// failures still count, and an open breaker still refuses them.
    public func callWithoutClosing<T>(_ body: () throws -> T) throws -> T {
        let instant = now()
        try inner.withLock { inner throws(CircuitOpenError) in
            if case .open(let until) = inner.state, instant < until { throw CircuitOpenError() }
        }
        do {
            return try body()
        } catch {
            let until = now() + resetTimeout
            inner.withLock { inner in
                guard case .closed = inner.state else { return }
                inner.failures += 1
                if inner.failures >= failureThreshold { inner.state = .open(until: until) }
            }
            throw error
        }
    }

    /// Calls `body` unless the breaker is open.
    public func call<T>(_ body: () throws -> T) throws -> T {
        let instant = now()
        try inner.withLock { inner throws(CircuitOpenError) in
            switch inner.state {
            case .closed:
                break
            case .open(let until):
                guard instant >= until else { throw CircuitOpenError() }
                inner.state = .halfOpen
                inner.trialInFlight = true
            case .halfOpen:
                guard !inner.trialInFlight else { throw CircuitOpenError() }
                inner.trialInFlight = true
            }
        }
        do {
            let value = try body()
            inner.withLock { inner in
                inner.state = .closed
                inner.failures = 0
                inner.trialInFlight = false
            }
            return value
        } catch {
            let until = now() + resetTimeout
            inner.withLock { inner in
                inner.trialInFlight = false
                if case .halfOpen = inner.state {
                    inner.state = .open(until: until)
                    return
                }
                inner.failures += 1
                if inner.failures >= failureThreshold { inner.state = .open(until: until) }
            }
            throw error
        }
    }
}

/// The dependency behind a circuit breaker is failing; the call was not attempted.
public struct CircuitOpenError: Error, Sendable, CustomStringConvertible {
    /// A description.
    public var description: String { "circuit open: the key-encryption-key provider is failing; not called" }
}

/// A key-encryption-key provider behind retries and a circuit breaker: a briefly unreachable
/// KMS or HSM is retried with jittered backoff, a failing one is not hammered, and callers fail
/// fast with a clear error instead of waiting on every call.
///
/// Only outages count against the breaker (``KeyStoreError/Code/providerUnavailable``, storage
/// errors, anything untyped); a provider's answer (a punctured leaf, a wrong PIN, a destroyed
/// KEK, a wrap that does not authenticate) passes through untouched.
public final class GuardedKEKProvider: KeyEncryptionKeyProvider {
    /// The provider guarded.
    public let base: any KeyEncryptionKeyProvider
    /// The breaker.
    public let breaker: CircuitBreaker
    /// Retries of one call before it counts as one failure.
    public let retry: RetryPolicy

    /// Guards `base` with `breaker` and `retry`.
    public init(
        _ base: any KeyEncryptionKeyProvider,
        breaker: CircuitBreaker = CircuitBreaker(),
        retry: RetryPolicy = GuardedKEKProvider.defaultRetry
    ) {
        self.base = base
        self.breaker = breaker
        self.retry = retry
    }

    /// Three tries, 50 ms then 100 ms ceilings, on outages only.
    public static let defaultRetry = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(50)) { isOutage($0) }

    /// True for a failure to reach the provider, not an answer from it.
    public static func isOutage(_ error: any Error) -> Bool {
        guard let error = error as? KeyStoreError else { return !(error is CircuitOpenError) }
        return error.code == .providerUnavailable || error.code == .storage
    }

    private func guarded<R>(_ body: () throws -> R) throws -> R {
        try breaker.call { () throws -> Result<R, any Error> in
            do { return .success(try retry.run(body)) } catch  where !Self.isOutage(error) { return .failure(error) }
        }.get()
    }

    // The active version, family ids and the version list are answered from the provider's state
    // in this process: their successes must not reset the breaker's count of the service's
    // consecutive failures (wrap, unwrap), so they go through it without closing it.
    private func local<R>(_ body: () throws -> R) throws -> R {
        try breaker.callWithoutClosing { () throws -> Result<R, any Error> in
            do { return .success(try body()) } catch  where !Self.isOutage(error) { return .failure(error) }
        }.get()
    }

    /// The active KEK version.
    public func activeVersion() throws -> UInt32 { try local { try base.activeVersion() } }
    /// Wraps a DEK.
    public func wrap(_ key: SymmetricKey, family: KeyID) throws -> WrappedKey {
        try guarded { try base.wrap(key, family: family) }
    }
    /// Unwraps a DEK.
    public func unwrap(_ wrapped: WrappedKey, family: KeyID) throws -> SymmetricKey {
        try guarded { try base.unwrap(wrapped, family: family) }
    }
    /// The keyed family id.
    public func familyID(for descriptor: [UInt8]) throws -> KeyID { try local { try base.familyID(for: descriptor) } }
    /// Rotates the KEK.
    public func rotate() throws -> UInt32 { try guarded { try base.rotate() } }
    /// Punctures erased families.
    public func puncture(_ families: [KeyID]) throws { try guarded { try base.puncture(families) } }
    /// Destroys a KEK version.
    public func destroy(version: UInt32) throws { try guarded { try base.destroy(version: version) } }
    /// The KEK versions.
    public func versions() throws -> [KEKVersionInfo] { try local { try base.versions() } }
    /// Reloads the provider's state.
    public func reload() throws { try guarded { try base.reload() } }
    /// The guarded provider's reference.
    public var reference: String { base.reference }
}

extension KeyStore {
    /// Opens the key store of `dataDirectory` with its KEK provider behind a circuit breaker.
    public static func openGuarded(
        dataDirectory: URL,
        breaker: CircuitBreaker = CircuitBreaker()
    ) throws(KeyStoreError) -> KeyStore {
        let provider = try KeyStore.provider(of: dataDirectory)
        return try KeyStore(directory: dataDirectory, provider: GuardedKEKProvider(provider, breaker: breaker))
    }
}
