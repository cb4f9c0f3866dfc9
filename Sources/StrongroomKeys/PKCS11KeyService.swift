#if PKCS11
import CPKCS11
import Foundation
import Synchronization

/// Root keys in a PKCS#11 token (an HSM, or SoftHSM2 for tests), reached through the vendor's
/// module loaded with `dlopen`.
///
/// Each root key is an AES-256 token object generated inside the token, sensitive and not
/// extractable, usable only to wrap and unwrap; data keys are wrapped with
/// `CKM_AES_KEY_WRAP_PAD` (RFC 5649). A handle is the hex of the object's random `CKA_ID`.
/// Sessions are pooled: any number of threads may call at once. The PIN comes from the URI's
/// `pin-source=file:…` or the environment variable named by ``pinVariable``, never from an
/// argument (a `pin-value` in the URI is refused).
public final class PKCS11KeyService: RootKeyService {
    /// The environment variable read for the PIN (``PKCS11URI/pinVariable``).
    public static let pinVariable = PKCS11URI.pinVariable
    /// The environment variable read for the module path (``PKCS11URI/moduleVariable``).
    public static let moduleVariable = PKCS11URI.moduleVariable
    /// The environment variable naming a PIN file (``PKCS11URI/pinFileVariable``).
    public static let pinFileVariable = PKCS11URI.pinFileVariable

    /// `pkcs11:token=…;object=…`: what `kek.json` records (no module path, no PIN source).
    public let reference: String
    private let uri: PKCS11URI
    // The module's function table never changes, and it was initialized for OS locking.
    nonisolated(unsafe) private let functions: CK_FUNCTION_LIST_PTR
    private let pin: [UInt8]
    private let sessions: Mutex<Pool>

    private struct Pool: ~Copyable {
        var slot: CK_SLOT_ID?
        var idle: [CK_SESSION_HANDLE] = []
    }

    /// Modules already initialized in this process.
    private static let initialized = Mutex(Set<String>())

    /// Token objects are made and destroyed alone in a process, other calls side by side.
    ///
    /// SoftHSM2 2.6's file store answers CKR_GENERAL_ERROR to a token object created while other
    /// sessions use the token (seen in tests). Both are rare: rotation and finalize.
    private static let objectLock = ReadWriteLock()

    /// Sessions kept idle at most; more concurrent callers open and close their own.
    static let idleLimit = 8

    /// Loads the module and logs in to the token `uri` names.
    ///
    /// - Throws: ``KeyStoreError/Code/invalidArgument`` for a URI or module that cannot be used,
    ///   ``KeyStoreError/Code/providerDenied`` for a wrong or locked PIN,
    ///   ``KeyStoreError/Code/providerUnavailable`` when the token is absent.
    public init(
        uri: PKCS11URI,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(KeyStoreError) {
        self.uri = uri
        guard let module = uri.modulePath ?? environment[Self.moduleVariable] else {
            throw KeyStoreError(
                .invalidArgument,
                "no PKCS#11 module: add module-path=… to the URI or set \(Self.moduleVariable)"
            )
        }
        var handle: UnsafeMutableRawPointer?
        var loadError: UnsafePointer<CChar>?
        guard let functions = sr_p11_load(module, &handle, &loadError) else {
            let why = loadError.map { String(cString: $0) } ?? "no C_GetFunctionList"
            throw KeyStoreError(.invalidArgument, "cannot load PKCS#11 module \(module): \(why)")
        }
        self.functions = functions
        self.pin = try uri.readPIN(environment: environment)
        // Only the token and object are recorded: which library is loaded and where the PIN is read
        // from come from the caller or this host's environment, never from the data directory.
        var canonical = uri
        canonical.modulePath = nil
        canonical.pinSource = nil
        self.reference = canonical.description
        self.sessions = Mutex(Pool())
        // Once per module and process, never two at once: a module initialized twice concurrently
        // (SoftHSM2 does this) rebuilds its state under the sessions of the first.
        let rv = Self.initialized.withLock { modules in
            if modules.contains(module) { return CK_RV(CKR_OK) }
            let rv = sr_p11_initialize(functions)
            if rv == CKR_OK { modules.insert(module) }
            return rv
        }
        try check(rv, "C_Initialize")
        // Log in now: a wrong PIN or an absent token shows at open, not at the first key.
        let session = try checkOut()
        checkIn(session)
    }

    deinit {
        sessions.withLock { pool in
            for session in pool.idle { _ = sr_p11_close(functions, session) }
            pool.idle = []
        }
    }

    // MARK: RootKeyService

    /// Generates a sensitive, non-extractable AES-256 token key labelled `<object>/<purpose>/<id>`.
    public func createKey(purpose: String) throws -> String {
        let id = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let hex = id.map { String(format: "%02x", $0) }.joined()
        let label = "\(uri.object)/\(purpose)/\(hex.prefix(8))"
        try withSession { session throws(KeyStoreError) in
            var key = CK_OBJECT_HANDLE(0)
            let rv = Self.objectLock.writing { sr_p11_generate_kek(functions, session, label, id, id.count, &key) }
            try check(rv, "C_GenerateKey")
        }
        return hex
    }

    /// `CKM_AES_KEY_WRAP_PAD` of `key` under the root key (the token binds no context).
    public func wrap(_ key: [UInt8], under handle: String, context: [UInt8]) throws -> [UInt8] {
        try withSession { session throws(KeyStoreError) in
            let kek = try find(handle, session)
            var out = [UInt8](repeating: 0, count: key.count + 16)
            var length = CK_ULONG(out.count)
            try check(sr_p11_wrap(functions, session, kek, key, key.count, &out, &length), "C_WrapKey")
            return Array(out.prefix(Int(length)))
        }
    }

    /// Unwraps with `CKM_AES_KEY_WRAP_PAD` under the root key.
    public func unwrap(_ wrapped: [UInt8], under handle: String, context: [UInt8]) throws -> [UInt8] {
        try withSession { session throws(KeyStoreError) in
            let kek = try find(handle, session)
            var out = [UInt8](repeating: 0, count: max(wrapped.count, 64))
            var length = CK_ULONG(out.count)
            try check(sr_p11_unwrap(functions, session, kek, wrapped, wrapped.count, &out, &length), "C_UnwrapKey")
            defer { out.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
            return Array(out.prefix(Int(length)))
        }
    }

    /// `C_DestroyObject` on the root key; a key already gone counts as destroyed.
    public func destroyKey(_ handle: String) throws {
        try withSession { session throws(KeyStoreError) in
            let kek: CK_OBJECT_HANDLE
            do throws(KeyStoreError) { kek = try find(handle, session) } catch  where error.code == .kekUnavailable {
                return
            }
            try check(Self.objectLock.writing { sr_p11_destroy(functions, session, kek) }, "C_DestroyObject")
        }
    }

    /// True when the root key exists and is sensitive and not extractable.
    public func isLocked(_ handle: String) throws(KeyStoreError) -> Bool {
        try withSession { session throws(KeyStoreError) in
            let key = try find(handle, session)
            var locked: Int32 = 0
            try check(sr_p11_key_is_locked(functions, session, key, &locked), "C_GetAttributeValue")
            return locked == 1
        }
    }

    // MARK: Sessions

    private func find(_ handle: String, _ session: CK_SESSION_HANDLE) throws(KeyStoreError) -> CK_OBJECT_HANDLE {
        guard let id = Self.bytes(hex: handle) else { throw KeyStoreError(.keyringCorrupt, "root key handle") }
        var key = CK_OBJECT_HANDLE(0)
        var found = CK_ULONG(0)
        try check(sr_p11_find_key(functions, session, id, id.count, &key, &found), "C_FindObjects")
        switch found {
        case 1: return key
        case 0:
            // Private objects are invisible to a session that lost its login: that is not absence.
            var user: Int32 = 0
            try check(sr_p11_is_user(functions, session, &user), "C_GetSessionInfo")
            guard user == 1 else {
                throw KeyStoreError(.providerUnavailable, "session on token \(uri.token) is not logged in")
            }
            throw KeyStoreError(.kekUnavailable, "root key \(handle.prefix(8)) not on token \(uri.token)")
        default:
            throw KeyStoreError(
                .keyringCorrupt,
                "more than one key on token \(uri.token) has the id \(handle.prefix(8))"
            )
        }
    }

    private func withSession<R>(_ body: (CK_SESSION_HANDLE) throws(KeyStoreError) -> R) throws(KeyStoreError) -> R {
        Self.objectLock.lockRead()
        defer { Self.objectLock.unlockRead() }
        let session = try checkOut()
        do {
            let result = try body(session)
            checkIn(session)
            return result
        } catch {
            // A session that saw the token go away is not reused.
            if error.code == .providerUnavailable {
                _ = sr_p11_close(functions, session)
                dropIdle()
            } else {
                checkIn(session)
            }
            throw error
        }
    }

    private func checkOut() throws(KeyStoreError) -> CK_SESSION_HANDLE {
        let (idle, known) = sessions.withLock { pool in (pool.idle.popLast(), pool.slot) }
        if let idle { return idle }
        var slot = CK_SLOT_ID(0)
        if let known {
            slot = known
        } else {
            try check(sr_p11_find_token(functions, uri.token, &slot), "token \(uri.token)")
            sessions.withLock { $0.slot = slot }
        }
        var session = CK_SESSION_HANDLE(0)
        let rv = pin.withUnsafeBufferPointer { sr_p11_open(functions, slot, $0.baseAddress, $0.count, &session) }
        if rv == CKR_SLOT_ID_INVALID || rv == CKR_TOKEN_NOT_PRESENT { sessions.withLock { $0.slot = nil } }
        try check(rv, "C_OpenSession/C_Login")
        return session
    }

    private func checkIn(_ session: CK_SESSION_HANDLE) {
        let kept = sessions.withLock { pool in
            guard pool.idle.count < Self.idleLimit else { return false }
            pool.idle.append(session)
            return true
        }
        if !kept { _ = sr_p11_close(functions, session) }
    }

    private func dropIdle() {
        let idle = sessions.withLock { pool in
            defer {
                pool.idle = []
                pool.slot = nil
            }
            return pool.idle
        }
        for session in idle { _ = sr_p11_close(functions, session) }
    }

    private func check(_ rv: CK_RV, _ what: String) throws(KeyStoreError) {
        guard rv != CKR_OK else { return }
        let name = Self.name(rv)
        switch rv {
        case CKR_PIN_INCORRECT, CKR_PIN_INVALID, CKR_PIN_LEN_RANGE, CKR_PIN_LOCKED, CKR_PIN_EXPIRED,
            CKR_USER_PIN_NOT_INITIALIZED:
            throw KeyStoreError(.providerDenied, "\(what) on token \(uri.token): \(name)")
        case CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED, CKR_DEVICE_ERROR, CKR_DEVICE_MEMORY, CKR_SESSION_CLOSED,
            CKR_SESSION_HANDLE_INVALID, CKR_SLOT_ID_INVALID, CKR_TOKEN_NOT_RECOGNIZED, CKR_USER_NOT_LOGGED_IN,
            CKR_CRYPTOKI_NOT_INITIALIZED, CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED:
            throw KeyStoreError(.providerUnavailable, "\(what) on token \(uri.token): \(name)")
        case CKR_WRAPPED_KEY_INVALID, CKR_WRAPPED_KEY_LEN_RANGE, CKR_ENCRYPTED_DATA_INVALID:
            throw KeyStoreError(.unwrapFailed, "\(what): \(name)")
        case CKR_KEY_HANDLE_INVALID, CKR_OBJECT_HANDLE_INVALID, CKR_UNWRAPPING_KEY_HANDLE_INVALID,
            CKR_WRAPPING_KEY_HANDLE_INVALID:
            throw KeyStoreError(.kekUnavailable, "\(what): \(name)")
        default:
            throw KeyStoreError(.invalidArgument, "\(what) on token \(uri.token): \(name)")
        }
    }

    static func name(_ rv: CK_RV) -> String {
        let names: [CK_RV: String] = [
            CK_RV(CKR_PIN_INCORRECT): "CKR_PIN_INCORRECT", CK_RV(CKR_PIN_LOCKED): "CKR_PIN_LOCKED",
            CK_RV(CKR_TOKEN_NOT_PRESENT): "CKR_TOKEN_NOT_PRESENT", CK_RV(CKR_DEVICE_REMOVED): "CKR_DEVICE_REMOVED",
            CK_RV(CKR_SLOT_ID_INVALID): "CKR_SLOT_ID_INVALID", CK_RV(CKR_KEY_HANDLE_INVALID): "CKR_KEY_HANDLE_INVALID",
            CK_RV(CKR_MECHANISM_INVALID): "CKR_MECHANISM_INVALID",
            CK_RV(CKR_WRAPPED_KEY_INVALID): "CKR_WRAPPED_KEY_INVALID",
            CK_RV(CKR_ENCRYPTED_DATA_INVALID): "CKR_ENCRYPTED_DATA_INVALID",
            CK_RV(CKR_USER_NOT_LOGGED_IN): "CKR_USER_NOT_LOGGED_IN", CK_RV(CKR_GENERAL_ERROR): "CKR_GENERAL_ERROR",
            CK_RV(CKR_SESSION_HANDLE_INVALID): "CKR_SESSION_HANDLE_INVALID",
        ]
        return names[rv] ?? "CKR 0x" + String(rv, radix: 16)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count == 32 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }
}

/// A process-wide readers-writer lock (pthread's).
final class ReadWriteLock: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    init() { pthread_rwlock_init(lock, nil) }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func lockRead() { pthread_rwlock_rdlock(lock) }
    func unlockRead() { pthread_rwlock_unlock(lock) }

    /// Runs `body` with no reader inside; a reader calling it steps out first and back in after.
    func writing<R>(_ body: () -> R) -> R {
        pthread_rwlock_unlock(lock)
        pthread_rwlock_wrlock(lock)
        defer {
            pthread_rwlock_unlock(lock)
            pthread_rwlock_rdlock(lock)
        }
        return body()
    }
}
#endif
