public import Crypto
import CryptoExtras

/// AES key wrap (RFC 3394) of data-encryption keys under a key-encryption key.
public enum KeyWrap {
    /// Wraps a 256-bit `key` under `kek`: 40 bytes out.
    public static func wrap(_ key: SymmetricKey, using kek: SymmetricKey) throws(CipherError) -> [UInt8] {
        do {
            return Array(try AES.KeyWrap.wrap(key, using: kek))
        } catch {
            throw CipherError(.invalidKey, "key wrap")
        }
    }

    /// Unwraps `wrapped`; a wrong KEK or altered bytes fail authentication.
    public static func unwrap(
        _ wrapped: some Collection<UInt8>,
        using kek: SymmetricKey
    ) throws(CipherError)
        -> SymmetricKey
    {
        guard wrapped.count >= 24, wrapped.count % 8 == 0 else { throw CipherError(.malformed, "wrapped key length") }
        do {
            return try AES.KeyWrap.unwrap(Array(wrapped), using: kek)
        } catch {
            throw CipherError(.authenticationFailure)
        }
    }
}

/// Deterministic authenticated encryption: AES-256-GCM-SIV (RFC 8452) behind our own type.
///
/// The same key, nonce, associated data and plaintext always give the same ciphertext,
/// which is what makes equality search possible and also what it leaks.
public enum DeterministicAEAD {
    /// Seals: returns ciphertext ‖ tag.
    public static func seal(
        _ plaintext: some Collection<UInt8>,
        using key: SymmetricKey,
        nonce: some Collection<UInt8>,
        authenticating aad: some Collection<UInt8>
    ) throws(CipherError) -> [UInt8] {
        do {
            let box = try AES.GCM._SIV.seal(
                Array(plaintext),
                using: key,
                nonce: AES.GCM._SIV.Nonce(data: Array(nonce)),
                authenticating: Array(aad)
            )
            return Array(box.ciphertext) + Array(box.tag)
        } catch {
            throw CipherError(.invalidKey, "GCM-SIV")
        }
    }

    /// Opens ciphertext ‖ tag.
    public static func open(
        _ sealed: some Collection<UInt8>,
        using key: SymmetricKey,
        nonce: some Collection<UInt8>,
        authenticating aad: some Collection<UInt8>
    ) throws(CipherError) -> [UInt8] {
        let bytes = Array(sealed)
        guard bytes.count >= 16 else { throw CipherError(.malformed, "truncated") }
        do {
            let box = try AES.GCM._SIV.SealedBox(
                nonce: AES.GCM._SIV.Nonce(data: Array(nonce)),
                ciphertext: bytes[..<(bytes.count - 16)],
                tag: bytes[(bytes.count - 16)...]
            )
            return Array(try AES.GCM._SIV.open(box, using: key, authenticating: Array(aad)))
        } catch {
            throw CipherError(.authenticationFailure)
        }
    }
}
