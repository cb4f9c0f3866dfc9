import Foundation
import Synchronization

/// Token buckets by key (a tenant, a source address): `rate` requests a second on average,
/// bursts up to `burst`.
public final class RateLimiter: Sendable {
    let rate: Double
    let burst: Double
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])
    /// Beyond this many keys, buckets that have filled up again are forgotten (a full bucket
    /// is what a new key gets anyway), so many addresses cannot grow the table without end.
    public static let keptKeys = 65_536

    /// Limits with these values.
    public init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = Double(burst)
    }

    /// Takes one token for `key`: nil if allowed, else the seconds until one is available.
    public func take(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            if buckets.count >= Self.keptKeys {
                buckets = buckets.filter { refilled($0.value, now) < burst }
            }
            var bucket = buckets[key] ?? (burst, now)
            bucket.tokens = refilled(bucket, now)
            bucket.at = now
            defer { buckets[key] = bucket }
            guard bucket.tokens >= 1 else { return wait(bucket.tokens) }
            bucket.tokens -= 1
            return nil
        }
    }

    /// How many keys have a bucket.
    public var count: Int { buckets.withLock { $0.count } }

    /// The seconds until `key` has a token again, without taking one; nil when it has one now.
    public func waiting(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            guard let bucket = buckets[key] else { return nil }
            let tokens = refilled(bucket, now)
            return tokens >= 1 ? nil : wait(tokens)
        }
    }

    private func refilled(
        _ bucket: (tokens: Double, at: ContinuousClock.Instant),
        _ now: ContinuousClock.Instant
    )
        -> Double
    {
        let elapsed = bucket.at.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return min(burst, bucket.tokens + max(0, seconds) * rate)
    }

    private func wait(_ tokens: Double) -> Int { max(1, Int(((1 - tokens) / rate).rounded(.up))) }
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
