/// Base64url without padding (RFC 4648 §5), strict on input.
///
/// Decoding refuses padding, characters outside the alphabet and non-zero trailing
/// bits, so every byte string has exactly one accepted text form.
public enum Base64URL {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    static let zeros = [UInt8](repeating: 0, count: 1024)

    /// Appends the encoding of `bytes` to `out`.
    public static func encode(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let full = bytes.count / 3 * 3
        let tail = bytes.count - full
        let count = full / 3 * 4 + (tail == 0 ? 0 : tail + 1)
        guard count > 0 else { return }
        // Encoded on the stack, then appended at once (the array grows geometrically).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer in
            alphabet.withUnsafeBufferPointer { a in
                var o = 0
                var i = 0
                while i < full {
                    let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                    buffer[o] = a[Int(v >> 18 & 63)]
                    buffer[o + 1] = a[Int(v >> 12 & 63)]
                    buffer[o + 2] = a[Int(v >> 6 & 63)]
                    buffer[o + 3] = a[Int(v & 63)]
                    i += 3
                    o += 4
                }
                if tail > 0 {
                    let v = UInt32(bytes[i]) << 16 | (tail == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
                    buffer[o] = a[Int(v >> 18 & 63)]
                    buffer[o + 1] = a[Int(v >> 12 & 63)]
                    if tail == 2 { buffer[o + 2] = a[Int(v >> 6 & 63)] }
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(buffer))
        }
    }

    /// The encoding of `bytes` as a string.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        Array(bytes).withUnsafeBytes { encode($0, into: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `text`; nil if it is not canonical unpadded base64url.
    public static func decode(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        return decode(text, into: &out) ? out : nil
    }

    /// Decodes `text` into `out`, replacing what it held and keeping its storage when large
    /// enough (a caller decoding many values reuses one array); false, with `out` emptied, if
    /// `text` is not canonical unpadded base64url.
    public static func decode(_ text: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        let remainder = text.count % 4
        guard remainder != 1 else {
            out.removeAll(keepingCapacity: true)
            return false
        }
        let full = text.count - remainder
        let count = full / 4 * 3 + (remainder == 0 ? 0 : remainder - 1)
        // Sized first, then written in place: no new array when `out` has room. Bytes it
        // already holds are kept until overwritten (every byte below `count` is written before
        // success is returned), so only growth is zero-filled, in blocks.
        if out.count > count { out.removeLast(out.count - count) }
        var left = count - out.count
        while left > 0 {
            let n = min(left, zeros.count)
            out.append(contentsOf: zeros[..<n])
            left -= n
        }
        let valid = reverse.withUnsafeBufferPointer { r in
            out.withUnsafeMutableBufferPointer { buffer in
                var i = 0
                var o = 0
                var bad: UInt8 = 0
                while i < full {
                    let a = r[Int(text[i])]
                    let b = r[Int(text[i + 1])]
                    let c = r[Int(text[i + 2])]
                    let d = r[Int(text[i + 3])]
                    bad |= a | b | c | d
                    let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    buffer[o] = UInt8(truncatingIfNeeded: v >> 16)
                    buffer[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    buffer[o + 2] = UInt8(truncatingIfNeeded: v)
                    i += 4
                    o += 3
                }
                if remainder >= 2 {
                    let a = r[Int(text[i])]
                    let b = r[Int(text[i + 1])]
                    let c = remainder == 3 ? r[Int(text[i + 2])] : 0
                    bad |= a | b | c
                    let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                    buffer[o] = UInt8(truncatingIfNeeded: v >> 16)
                    if remainder == 3 {
                        // Trailing bits must be zero: one text per byte string.
                        if v & 0xFF != 0 { bad |= 0xC0 }
                        buffer[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    } else if v & 0xFFFF != 0 {
                        bad |= 0xC0
                    }
                }
                // Invalid characters map to 0xFF, so any of them sets the top bits.
                return bad & 0xC0 == 0
            }
        }
        if !valid { out.removeAll(keepingCapacity: true) }
        return valid
    }

    /// Decodes `text`; nil if it is not canonical unpadded base64url.
    public static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode($0) }
    }
}
