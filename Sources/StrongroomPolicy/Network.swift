#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address, for network conditions.
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) are read as the IPv4 address they carry,
/// so a dual-stack listener cannot slip past an IPv4 CIDR.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// True for IPv4.
    public let isIPv4: Bool
    // Both families in 128 bits: IPv4 in the low 32 bits of `low`.
    let high: UInt64
    let low: UInt64

    /// Parses dotted IPv4 (`10.1.2.3`) or RFC 4291 IPv6 text (`2001:db8::1`); nil otherwise.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.isIPv4 = true
            self.high = 0
            self.low = UInt64(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
        if high == 0, low >> 32 == 0xFFFF {
            self.isIPv4 = true
            self.high = 0
            self.low = low & 0xFFFF_FFFF
        } else {
            self.isIPv4 = false
            self.high = high
            self.low = low
        }
    }

    /// The address as text (IPv4 dotted, IPv6 in RFC 5952 form).
    public var description: String {
        if isIPv4 {
            return "\(low >> 24 & 0xFF).\(low >> 16 & 0xFF).\(low >> 8 & 0xFF).\(low & 0xFF)"
        }
        var v6 = in6_addr()
        withUnsafeMutableBytes(of: &v6) { raw in
            for i in 0..<8 { raw[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i))) }
            for i in 0..<8 { raw[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i))) }
        }
        var buffer = [CChar](repeating: 0, count: 64)
        guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A network block (`10.0.0.0/8`, `2001:db8::/32`).
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    /// The network address (host bits are refused when parsing).
    public let address: IPAddress
    /// The prefix length: 0-32 for IPv4, 0-128 for IPv6.
    public let prefixLength: Int

    /// Parses `ADDRESS/LENGTH`; a bare address is a single host (/32 or /128).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        let maximum = address.isIPv4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= maximum, parts[1].allSatisfy(\.isASCII) else { return nil }
            length = n
        }
        self.address = address
        self.prefixLength = length
        // Host bits set (10.1.2.3/8) usually means a typo in the length: refuse it.
        guard contains(address), CIDR.masked(address, length) == (address.high, address.low) else { return nil }
    }

    /// True when `candidate` is in this block (families must agree).
    public func contains(_ candidate: IPAddress) -> Bool {
        guard candidate.isIPv4 == address.isIPv4 else { return false }
        return CIDR.masked(candidate, prefixLength) == (address.high, address.low)
    }

    static func masked(_ a: IPAddress, _ length: Int) -> (UInt64, UInt64) {
        // IPv4 lives in the low 32 bits: shift its length into the 128-bit space.
        let bits = a.isIPv4 ? length + 96 : length
        let highMask: UInt64 = bits >= 64 ? ~0 : (bits == 0 ? 0 : ~0 << (64 - UInt64(bits)))
        let lowBits = bits - 64
        let lowMask: UInt64 = lowBits <= 0 ? 0 : (lowBits >= 64 ? ~0 : ~0 << (64 - UInt64(lowBits)))
        return (a.high & highMask, a.low & lowMask)
    }

    /// `ADDRESS/LENGTH`.
    public var description: String { "\(address)/\(prefixLength)" }
}
