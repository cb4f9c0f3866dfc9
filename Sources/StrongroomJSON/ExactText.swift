#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A string that equals another only when their UTF-8 bytes are equal.
///
/// Swift's `String` compares and hashes by Unicode canonical equivalence: `"\u{212A}AT-1"`
/// (KELVIN SIGN) equals `"KAT-1"`, and NFC `"Zoë"` equals NFD `"Zoe\u{308}"`. Identities —
/// subject ids, tenants, principals, JSON pointers, batch ids — must never merge that way,
/// because keys, associated data and tombstones are derived from the bytes. Every set or
/// dictionary keyed by an identity uses this type; `scripts/lint-identity` refuses a
/// `String`-keyed one in the security modules unless the line says why it is safe.
public struct ExactText: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The text.
    public let string: String

    /// Wraps `string`; nothing is normalized.
    public init(_ string: String) { self.string = string }

    /// Wraps a literal.
    public init(stringLiteral value: String) { self.string = value }

    /// Equal when the UTF-8 bytes are.
    public static func == (lhs: ExactText, rhs: ExactText) -> Bool {
        lhs.string.hasSameBytes(as: rhs.string)
    }

    /// Hashes the UTF-8 bytes and their count.
    public func hash(into hasher: inout Hasher) {
        let utf8 = string.utf8
        hasher.combine(utf8.count)
        let done: Void? = utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { for byte in utf8 { hasher.combine(byte) } }
    }

    /// Orders by UTF-8 bytes (the order of code points), never by locale or normalization.
    public static func < (lhs: ExactText, rhs: ExactText) -> Bool {
        let ordered: Bool?? = lhs.string.utf8.withContiguousStorageIfAvailable { a in
            rhs.string.utf8.withContiguousStorageIfAvailable { b in
                let n = min(a.count, b.count)
                if n > 0, let x = a.baseAddress, let y = b.baseAddress {
                    let c = memcmp(x, y, n)
                    if c != 0 { return c < 0 }
                }
                return a.count < b.count
            }
        }
        if let ordered, let ordered { return ordered }
        return lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// The text.
    public var description: String { string }
}

extension String {
    /// True when both strings have the same UTF-8 bytes (`==` on `String` also accepts
    /// canonically equivalent spellings, which identities must not).
    public func hasSameBytes(as other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        let compared: Bool?? = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in sameBytes(a, b) }
        }
        if let compared, let compared { return compared }
        return utf8.elementsEqual(other.utf8)
    }
}
