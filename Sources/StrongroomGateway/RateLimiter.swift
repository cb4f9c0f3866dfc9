import Foundation
import Synchronization

/// Per-tenant token buckets: `rate` requests a second on average, bursts up to `burst`.
public final class RateLimiter: Sendable {
    let rate: Double
    let burst: Double
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    /// Limits with these values.
    public init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = Double(burst)
    }

    /// Takes one token for `tenant`: nil if allowed, else the seconds until one is available.
    public func take(_ tenant: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            var bucket = buckets[tenant] ?? (burst, now)
            let elapsed = bucket.at.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + max(0, seconds) * rate)
            bucket.at = now
            defer { buckets[tenant] = bucket }
            guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up))) }
            bucket.tokens -= 1
            return nil
        }
    }
}

/// Per-tenant limits on requests in flight.
public final class ConcurrencyLimiter: Sendable {
    let limit: Int
    private let inFlight = Mutex<[String: Int]>([:])

    /// Limits with these values.
    public init(limit: Int) { self.limit = limit }

    /// Takes a slot for `tenant`; false when all are taken.
    public func enter(_ tenant: String) -> Bool {
        inFlight.withLock { counts in
            guard counts[tenant, default: 0] < limit else { return false }
            counts[tenant, default: 0] += 1
            return true
        }
    }

    /// Gives back a slot taken with ``enter(_:)``.
    public func leave(_ tenant: String) {
        inFlight.withLock { counts in
            counts[tenant, default: 1] -= 1
            if counts[tenant] == 0 { counts[tenant] = nil }
        }
    }
}
