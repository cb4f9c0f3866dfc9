import Crypto

#if OpenSSL
import CLibCrypto
#endif

/// HMAC-SHA256 for key-derivation chains (the keyring's key tree, family ids): many MACs
/// under different keys in a row.
///
/// With the `OpenSSL` trait, RFC 2104's construction on one SHA-256 context of OpenSSL's
/// provider, its functions called directly and started over for each hash (about 190 ns a MAC
/// here; through `EVP_MD_CTX`, the fallback, 250–320 ns; `EVP_MAC` 380 ns; swift-crypto's
/// generic `HMAC<SHA256>` six times that); OpenSSL clears the context when the chain is freed.
/// Without the trait, swift-crypto's `HMAC<SHA256>`. Both give the same bytes, checked against
/// RFC 4231 and Wycheproof vectors.
public final class HMACChain {
    #if OpenSSL
    private let context: UnsafeMutablePointer<sr_sha256>

    /// The provider's SHA-256 functions, resolved once per process; nil when they cannot be
    /// (then every chain goes through EVP).
    private struct ProviderSHA256: @unchecked Sendable {
        /// Written once, before any reader can see it; never freed (it pins the provider).
        let functions: UnsafePointer<sr_sha256_impl>?

        static let shared: ProviderSHA256 = {
            let impl = UnsafeMutablePointer<sr_sha256_impl>.allocate(capacity: 1)
            guard sr_sha256_impl_load(impl) == 1 else {
                impl.deallocate()
                return ProviderSHA256(functions: nil)
            }
            return ProviderSHA256(functions: UnsafePointer(impl))
        }()
    }

    /// True when the provider's SHA-256 functions resolved and passed their check (chains then
    /// call them directly; otherwise they go through EVP).
    static var providerRoute: Bool { ProviderSHA256.shared.functions != nil }
    #endif

    /// A chain for one derivation; use it from one thread.
    public convenience init() throws(CipherError) { try self.init(route: .provider) }

    /// A chain on `route` (tests compare the two; without the trait there is one).
    init(route: FieldKeys.OpenSSLRoute) throws(CipherError) {
        #if OpenSSL
        let functions = route == .provider ? ProviderSHA256.shared.functions : nil
        guard let context = sr_sha256_new(functions) else {
            throw CipherError(.invalidKey, "OpenSSL has no SHA-256")
        }
        self.context = context
        #endif
    }

    deinit {
        #if OpenSSL
        sr_sha256_free(context)
        #endif
    }

    /// HKDF-SHA256 (RFC 5869) with no salt: `out.count` bytes (at most 8,160) from `key` and
    /// `info` (at most 256 bytes).
    public func hkdf(
        key: UnsafeRawBufferPointer,
        info: [UInt8],
        into out: UnsafeMutableRawBufferPointer
    ) {
        #if OpenSSL
        let ok = info.withUnsafeBufferPointer { i in
            sr_hkdf_sha256(
                context,
                key.bindMemory(to: UInt8.self).baseAddress,
                key.count,
                i.baseAddress,
                i.count,
                out.bindMemory(to: UInt8.self).baseAddress,
                out.count
            )
        }
        precondition(ok == 1, "OpenSSL HKDF-SHA256 failed")
        #else
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: key),
            info: info,
            outputByteCount: out.count
        )
        derived.withUnsafeBytes { out.copyMemory(from: $0) }
        #endif
    }

    /// HMAC-SHA256 of `message` under `key`: 32 bytes.
    public func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        #if OpenSSL
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBytes { k in
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
        let ok = key.withUnsafeBufferPointer { k in
            steps.withUnsafeBufferPointer { s in
                last.withUnsafeBufferPointer { l in
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
