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

    /// Appends the encoding of `bytes` to `out`.
    public static func encode(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let full = bytes.count / 3 * 3
        out.reserveCapacity(out.count + (bytes.count * 4 + 2) / 3)
        alphabet.withUnsafeBufferPointer { a in
            var i = 0
            while i < full {
                let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                out.append(a[Int(v >> 18 & 63)])
                out.append(a[Int(v >> 12 & 63)])
                out.append(a[Int(v >> 6 & 63)])
                out.append(a[Int(v & 63)])
                i += 3
            }
            switch bytes.count - full {
            case 1:
                let v = UInt32(bytes[i]) << 16
                out.append(a[Int(v >> 18 & 63)])
                out.append(a[Int(v >> 12 & 63)])
            case 2:
                let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
                out.append(a[Int(v >> 18 & 63)])
                out.append(a[Int(v >> 12 & 63)])
                out.append(a[Int(v >> 6 & 63)])
            default: break
            }
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
        let remainder = text.count % 4
        guard remainder != 1 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(text.count * 3 / 4)
        return reverse.withUnsafeBufferPointer { r -> [UInt8]? in
            let full = text.count - remainder
            var i = 0
            while i < full {
                let a = r[Int(text[i])]
                let b = r[Int(text[i + 1])]
                let c = r[Int(text[i + 2])]
                let d = r[Int(text[i + 3])]
                guard (a | b | c | d) & 0xC0 == 0 else { return nil }
                let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                out.append(UInt8(v >> 16 & 0xFF))
                out.append(UInt8(v >> 8 & 0xFF))
                out.append(UInt8(v & 0xFF))
                i += 4
            }
            if remainder >= 2 {
                let a = r[Int(text[i])]
                let b = r[Int(text[i + 1])]
                let c = remainder == 3 ? r[Int(text[i + 2])] : 0
                guard (a | b | c) & 0xC0 == 0 else { return nil }
                let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                out.append(UInt8(v >> 16 & 0xFF))
                if remainder == 3 {
                    guard v & 0xFF == 0 else { return nil }
                    out.append(UInt8(v >> 8 & 0xFF))
                } else {
                    guard v & 0xFFFF == 0 else { return nil }
                }
            }
            return out
        }
    }

    /// Decodes `text`; nil if it is not canonical unpadded base64url.
    public static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode($0) }
    }
}
