import Crypto
import CryptoExtras
import Foundation
import Synchronization

#if OpenSSL
import CLibCrypto
#endif

/// The two AEAD subkeys of one data-encryption key, and what makes them fast.
///
/// AES-256-GCM goes through OpenSSL 3 when the `OpenSSL` trait is on (the default): a
/// context is keyed once and reused with a fresh IV for every seal and open, one context per
/// concurrent caller. The context is the provider's own, called through the functions EVP
/// calls (``OpenSSLRoute``). With the trait off, swift-crypto does the same job.
/// Both write the same bytes for the same key, nonce, associated data and plaintext.
/// AES-256-GCM-SIV is always swift-crypto (OpenSSL 3.0 has none).
///
/// ``discard()`` frees the contexts (OpenSSL clears their key schedules) and the subkeys,
/// and refuses every later use: the key store calls it when a key's family is erased.
final class FieldKeys: Sendable {
    private struct State: ~Copyable {
        var gcm: SymmetricKey?
        var siv: SymmetricKey?
        /// The data key the SIV subkey is derived from on first use (most keys never need it).
        var sivSource: SymmetricKey?
        #if OpenSSL
        /// One idle context held in place: a single caller takes and returns it without
        /// touching the array's storage (a cache miss per event when keys are many).
        var spare: Context?
        var idle: [Context] = []

        /// Frees every idle context (OpenSSL clears their key schedules).
        mutating func freeContexts() {
            if let spare { sr_gcm_free(spare.pointer) }
            spare = nil
            for context in idle { sr_gcm_free(context.pointer) }
            idle = []
        }
        #endif

        var discarded: Bool { gcm == nil }
    }

    /// The data key the subkeys come from (its bytes live as long as this object).
    let root: SymmetricKey
    private let state: Mutex<State>
    /// Set by ``discard()``: a lease begun before refuses its next seal or open.
    let discarded = Atomic<Bool>(false)
    /// Contexts kept idle at most; more concurrent callers create and free their own.
    static let idleLimit = 16

    /// Which OpenSSL entry points this key's contexts use (ignored without the `OpenSSL` trait).
    let route: OpenSSLRoute

    /// Subkeys given directly (the backend tests); no data key derives them, so ``root`` is
    /// the GCM subkey.
    init(gcm: SymmetricKey, siv: SymmetricKey, route: OpenSSLRoute = .provider) {
        root = gcm
        state = Mutex(State(gcm: gcm, siv: siv))
        self.route = route
    }

    /// Subkeys of `key`: the GCM one now, the SIV one when first used.
    init(deriving key: SymmetricKey) {
        root = key
        state = Mutex(
            State(gcm: DataEncryptionKey.subkey(key, .aes256GCM), siv: nil, sivSource: key)
        )
        route = .provider
    }

    /// How a context reaches OpenSSL's AES-256-GCM.
    enum OpenSSLRoute: Sendable, CaseIterable {
        /// The provider's functions that EVP would call, called directly: about 60% of the time
        /// of a short seal or open through EVP in OpenSSL 3.0. Resolved at first use, once per
        /// process, from the implementation `EVP_CIPHER_fetch` picks (so a FIPS provider must be
        /// chosen by the configuration file, not switched on later in the process) and checked on
        /// a known answer; when that fails, contexts go through EVP.
        case provider
        /// The EVP API (`EVP_EncryptInit_ex2` and its kin): the fallback, and the reference the
        /// provider route is compared with.
        case evp
    }

    deinit {
        #if OpenSSL
        state.withLock { $0.freeContexts() }
        #endif
    }

    /// Frees the contexts and subkeys; every later seal or open throws ``CipherError/Code/invalidKey``.
    func discard() {
        discarded.store(true, ordering: .releasing)
        state.withLock { state in
            #if OpenSSL
            state.freeContexts()
            #endif
            state.gcm = nil
            state.siv = nil
            state.sivSource = nil
        }
    }

    /// True after ``discard()``.
    var isDiscarded: Bool { state.withLock { $0.discarded } }

    static let discardedError = CipherError(.invalidKey, "key discarded (its family was erased)")

    // MARK: AES-256-GCM

    /// Seals `plaintext`: writes its ciphertext then the 16-byte tag to `out`
    /// (`plaintext.count + 16` bytes).
    func sealGCM(
        nonce: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) throws(CipherError) {
        try lease().sealGCM(nonce: nonce, aad: aad, plaintext: plaintext, into: out)
    }

    /// Opens a GCM ciphertext: writes `ciphertext.count` bytes of plaintext to `out` when the
    /// tag verifies; on failure `out` holds no plaintext.
    func openGCM(
        nonce: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        tag: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) throws(CipherError) {
        try lease().openGCM(nonce: nonce, aad: aad, ciphertext: ciphertext, tag: tag, into: out)
    }

    /// The GCM key held for a run of seals and opens (one event's fields): with OpenSSL, a
    /// context checked out of the pool once and returned when the lease ends.
    func lease() throws(CipherError) -> Lease {
        #if OpenSSL
        Lease(keys: self, context: try checkOut())
        #else
        Lease(keys: self, key: try gcmKey())
        #endif
    }

    /// A GCM key ready for use by one caller: a ``discard()`` during the lease refuses its next
    /// seal or open, and its context is freed, not pooled, when the lease ends.
    struct Lease: ~Copyable {
        let keys: FieldKeys
        #if OpenSSL
        let context: Context

        deinit { keys.checkIn(context) }
        #else
        let key: SymmetricKey
        #endif

        func sealGCM(
            nonce: UnsafeRawBufferPointer,
            aad: UnsafeRawBufferPointer,
            plaintext: UnsafeRawBufferPointer,
            into out: UnsafeMutableRawBufferPointer
        ) throws(CipherError) {
            guard nonce.count == 12, out.count == plaintext.count + 16, plaintext.count < Int32.max,
                aad.count < Int32.max
            else { throw CipherError(.invalidArgument) }
            guard !keys.discarded.load(ordering: .acquiring) else { throw FieldKeys.discardedError }
            #if OpenSSL
            let ok = sr_gcm_seal(
                context.pointer,
                nonce.baseAddress,
                aad.baseAddress,
                Int32(aad.count),
                plaintext.baseAddress,
                Int32(plaintext.count),
                out.baseAddress,
                out.baseAddress.map { $0 + plaintext.count }
            )
            guard ok == 1 else { throw CipherError(.invalidKey, "OpenSSL refused to seal") }
            #else
            try FieldKeys.swiftCryptoSeal(key: key, nonce: nonce, aad: aad, plaintext: plaintext, into: out)
            #endif
        }

        func openGCM(
            nonce: UnsafeRawBufferPointer,
            aad: UnsafeRawBufferPointer,
            ciphertext: UnsafeRawBufferPointer,
            tag: UnsafeRawBufferPointer,
            into out: UnsafeMutableRawBufferPointer
        ) throws(CipherError) {
            guard nonce.count == 12, tag.count == 16, out.count == ciphertext.count, ciphertext.count < Int32.max,
                aad.count < Int32.max
            else { throw CipherError(.invalidArgument) }
            guard !keys.discarded.load(ordering: .acquiring) else { throw FieldKeys.discardedError }
            #if OpenSSL
            let ok = sr_gcm_open(
                context.pointer,
                nonce.baseAddress,
                aad.baseAddress,
                Int32(aad.count),
                ciphertext.baseAddress,
                Int32(ciphertext.count),
                tag.baseAddress,
                out.baseAddress
            )
            guard ok == 1 else {
                out.initializeMemory(as: UInt8.self, repeating: 0)
                throw CipherError(.authenticationFailure)
            }
            #else
            try FieldKeys.swiftCryptoOpen(key: key, nonce: nonce, aad: aad, ciphertext: ciphertext, tag: tag, into: out)
            #endif
        }
    }

    func gcmKey() throws(CipherError) -> SymmetricKey {
        guard let key = state.withLock({ $0.gcm }) else { throw Self.discardedError }
        // swift-crypto would take a 128- or 192-bit key as AES-128/192-GCM: same refusal as OpenSSL's.
        guard key.bitCount == 256 else { throw CipherError(.invalidKey, "AES-256-GCM needs a 256-bit key") }
        return key
    }

    func sivKey() throws(CipherError) -> SymmetricKey {
        let key: SymmetricKey? = state.withLock { state in
            guard state.gcm != nil else { return nil }
            if let siv = state.siv { return siv }
            guard let source = state.sivSource else { return nil }
            let siv = DataEncryptionKey.subkey(source, .aes256GCMSIVDeterministic)
            state.siv = siv
            return siv
        }
        guard let key else { throw Self.discardedError }
        return key
    }

    #if OpenSSL
    /// A keyed OpenSSL GCM context: idle in the pool, or used by exactly one caller between
    /// ``checkOut()`` and ``checkIn(_:)``, never both.
    struct Context: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<sr_gcm>
    }

    /// The provider's AES-256-GCM functions, resolved once per process; nil when they cannot
    /// be (then every context goes through EVP).
    struct ProviderGCM: @unchecked Sendable {
        /// Written once, before any reader can see it; never freed (it pins the provider).
        let functions: UnsafePointer<sr_gcm_impl>?

        static let shared: ProviderGCM = {
            let impl = UnsafeMutablePointer<sr_gcm_impl>.allocate(capacity: 1)
            guard sr_gcm_impl_load(impl) == 1 else {
                impl.deallocate()
                return ProviderGCM(functions: nil)
            }
            return ProviderGCM(functions: UnsafePointer(impl))
        }()
    }

    fileprivate func checkOut() throws(CipherError) -> Context {
        enum Taken {
            case context(Context)
            case key(SymmetricKey)
            case discarded
        }
        let taken: Taken = state.withLock { state in
            if let context = state.spare {
                state.spare = nil
                return .context(context)
            }
            if let context = state.idle.popLast() { return .context(context) }
            guard let key = state.gcm else { return .discarded }
            return .key(key)
        }
        switch taken {
        case .context(let context): return context
        case .discarded: throw Self.discardedError
        case .key(let key):
            // OpenSSL reads 32 bytes from the key's pointer.
            guard key.bitCount == 256 else { throw CipherError(.invalidKey, "AES-256-GCM needs a 256-bit key") }
            let functions = route == .provider ? ProviderGCM.shared.functions : nil
            let context = key.withUnsafeBytes { sr_gcm_new(functions, $0.bindMemory(to: UInt8.self).baseAddress) }
            guard let context else { throw CipherError(.invalidKey, "OpenSSL could not key AES-256-GCM") }
            return Context(pointer: context)
        }
    }

    fileprivate func checkIn(_ context: Context) {
        let keep = state.withLock { state in
            guard !state.discarded else { return false }
            if state.spare == nil {
                state.spare = context
                return true
            }
            // The spare and the array together hold at most `idleLimit`.
            guard state.idle.count < Self.idleLimit - 1 else { return false }
            state.idle.append(context)
            return true
        }
        if !keep { sr_gcm_free(context.pointer) }
    }
    #endif

    // MARK: swift-crypto

    /// AES-256-GCM through swift-crypto: the backend without the `OpenSSL` trait, and the
    /// reference the OpenSSL backend is compared with byte for byte.
    static func swiftCryptoSeal(
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) throws(CipherError) {
        do {
            let box = try AES.GCM.seal(
                plaintext,
                using: key,
                nonce: try AES.GCM.Nonce(data: nonce),
                authenticating: aad
            )
            box.ciphertext.withUnsafeBytes { out.copyMemory(from: $0) }
            box.tag.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: out[plaintext.count...]).copyMemory(from: $0)
            }
        } catch {
            throw CipherError(.invalidKey)
        }
    }

    static func swiftCryptoOpen(
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        tag: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) throws(CipherError) {
        do {
            let box = try AES.GCM.SealedBox(nonce: try AES.GCM.Nonce(data: nonce), ciphertext: ciphertext, tag: tag)
            let plain = try AES.GCM.open(box, using: key, authenticating: aad)
            plain.withUnsafeBytes { out.copyMemory(from: $0) }
        } catch {
            throw CipherError(.authenticationFailure)
        }
    }

    /// True when contexts on the ``OpenSSLRoute/provider`` route reach the provider's functions
    /// (false without the `OpenSSL` trait, or when they could not be resolved and EVP is used).
    static var providerRouteActive: Bool {
        #if OpenSSL
        ProviderGCM.shared.functions != nil
        #else
        false
        #endif
    }

    /// Which library seals and opens AES-256-GCM fields in this build.
    static var gcmBackend: String {
        #if OpenSSL
        "OpenSSL (\(String(cString: sr_openssl_version())); "
            + (ProviderGCM.shared.functions == nil ? "through EVP" : "the provider's AES-256-GCM called directly") + ")"
        #else
        "swift-crypto"
        #endif
    }
}

@available(*, unavailable)
extension FieldKeys.Lease: Sendable {}
