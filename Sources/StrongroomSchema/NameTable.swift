import Foundation
import StrongroomJSON

/// Values looked up by the UTF-8 bytes of a name: a schema's property names, DLP coverage tokens.
///
/// A hash is compared first, then the bytes, never Swift `String` equality. Built once, read
/// on every event without copying or hashing a `String`.
struct NameTable<Value> {
    private var hashes: [UInt64] = []
    private(set) var names: [[UInt8]] = []
    private(set) var values: [Value] = []

    init(_ entries: [ExactText: Value]) {
        self.init(ordered: Array(entries))
    }

    /// Entries in the order given (names distinct).
    init(ordered entries: [(ExactText, Value)]) {
        for (name, value) in entries {
            let bytes = Array(name.string.utf8)
            hashes.append(bytes.withUnsafeBufferPointer { Self.hash($0) })
            names.append(bytes)
            values.append(value)
        }
    }

    /// The index of `name`'s entry, if any.
    func find(_ name: String) -> Int? {
        guard !hashes.isEmpty else { return nil }
        var name = name
        return name.withUTF8 { find(bytes: $0) }
    }

    /// The index of the entry whose name is exactly `bytes`, if any, comparing the entry at
    /// `hint` first.
    func find(bytes: UnsafeBufferPointer<UInt8>, hint: Int) -> Int? {
        if hint >= 0, hint < names.count, entry(hint, is: bytes) { return hint }
        return find(bytes: bytes)
    }

    /// The index of the entry whose name is exactly `bytes`, if any.
    func find(bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !hashes.isEmpty else { return nil }
        let h = Self.hash(bytes)
        for i in hashes.indices where hashes[i] == h && entry(i, is: bytes) { return i }
        return nil
    }

    /// Whether the name of entry `i` is exactly `bytes`.
    private func entry(_ i: Int, is bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        names[i].withUnsafeBufferPointer { stored in
            guard stored.count == bytes.count else { return false }
            guard let a = stored.baseAddress, let b = bytes.baseAddress else { return stored.isEmpty }
            return memcmp(a, b, bytes.count) == 0
        }
    }

    /// The value for `name`, if any.
    subscript(name: String) -> Value? { find(name).map { values[$0] } }

    /// FNV-1a, 64-bit: a filter before the byte comparison, not a security boundary.
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}

extension NameTable: Sendable where Value: Sendable {}
