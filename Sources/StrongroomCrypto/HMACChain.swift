import Crypto

#if OpenSSL
import CLibCrypto
#endif

/// HMAC-SHA256 for key-derivation chains (the keyring's key tree, family ids): many MACs
/// under different keys in a row.
///
/// With the `OpenSSL` trait, one OpenSSL `EVP_MAC` context re-keyed for each MAC (about
/// half a microsecond each, six times swift-crypto's generic `HMAC<SHA256>` here); OpenSSL
/// clears it when the chain is freed. Without the trait, swift-crypto's `HMAC<SHA256>`.
/// Both give the same bytes (RFC 2104), checked against RFC 4231 and Wycheproof vectors.
public final class HMACChain {
    #if OpenSSL
    private let context: OpaquePointer
    #endif

    /// A chain for one derivation; use it from one thread.
    public init() throws(CipherError) {
        #if OpenSSL
        guard let context = sr_hmac_sha256_new() else {
            throw CipherError(.invalidKey, "OpenSSL has no HMAC-SHA256")
        }
        self.context = context
        #endif
    }

    deinit {
        #if OpenSSL
        sr_hmac_free(context)
        #endif
    }

    /// HMAC-SHA256 of `message` under `key`: 32 bytes.
    public func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        #if OpenSSL
        var out = [UInt8](repeating: 0, count: 32)
        // OpenSSL keeps the previous key when given a NULL one: an empty key gets a real
        // pointer (its length stays 0).
        let keyBytes = key.isEmpty ? [UInt8(0)] : key
        let ok = keyBytes.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBytes { o in
                    sr_hmac_sha256(
                        context,
                        k.bindMemory(to: UInt8.self).baseAddress,
                        key.count,
                        m.bindMemory(to: UInt8.self).baseAddress,
                        m.count,
                        o.bindMemory(to: UInt8.self).baseAddress
                    )
                }
            }
        }
        // Keys and messages are plain byte arrays: only memory exhaustion fails here.
        precondition(ok == 1, "OpenSSL HMAC-SHA256 failed")
        return out
        #else
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
        #endif
    }

    /// A walk down a key tree: the key becomes `mac(key, [step])` for each step in turn, and
    /// the result is `mac(key, last)`.
    ///
    /// The same bytes as those calls one by one. With OpenSSL it is one call, and the keys
    /// met on the way stay on C's stack, cleared before it returns.
    public func walk(key: [UInt8], steps: [UInt8], last: [UInt8]) -> [UInt8] {
        #if OpenSSL
        var out = [UInt8](repeating: 0, count: 32)
        // Real pointers for empty inputs, as in `mac` (their lengths stay 0).
        let keyBytes = key.isEmpty ? [UInt8(0)] : key
        let lastBytes = last.isEmpty ? [UInt8(0)] : last
        let ok = keyBytes.withUnsafeBufferPointer { k in
            steps.withUnsafeBufferPointer { s in
                lastBytes.withUnsafeBufferPointer { l in
                    out.withUnsafeMutableBufferPointer { o in
                        sr_hmac_sha256_walk(
                            context,
                            k.baseAddress,
                            key.count,
                            s.baseAddress,
                            s.count,
                            l.baseAddress,
                            last.count,
                            o.baseAddress
                        )
                    }
                }
            }
        }
        precondition(ok == 1, "OpenSSL HMAC-SHA256 failed")
        return out
        #else
        var node = key
        for step in steps { node = mac(key: node, message: [step]) }
        return mac(key: node, message: last)
        #endif
    }
}
