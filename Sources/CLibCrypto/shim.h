// AES-256-GCM through OpenSSL 3's EVP API: one call per seal or open from Swift.
//
// A context is keyed once (sr_gcm_new) and then re-initialised with only a new IV for each
// operation, so the AES key schedule and the GHASH table are computed once per key.
#ifndef STRONGROOM_CLIBCRYPTO_SHIM_H
#define STRONGROOM_CLIBCRYPTO_SHIM_H

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/opensslv.h>

#if OPENSSL_VERSION_MAJOR < 3
#error "Strongroom needs OpenSSL 3 (EVP_EncryptInit_ex2)"
#endif

// A context keyed with the 32-byte key, or NULL.
static inline EVP_CIPHER_CTX *sr_gcm_new(const unsigned char *key) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) return NULL;
    // A provider's implementation only: the tag goes in and out as parameters, which an
    // engine-backed cipher would not take.
    if (EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, NULL, NULL) != 1
        || EVP_CIPHER_get0_provider(EVP_CIPHER_CTX_get0_cipher(ctx)) == NULL
        || EVP_CIPHER_CTX_get_key_length(ctx) != 32 || EVP_CIPHER_CTX_get_iv_length(ctx) != 12) {
        EVP_CIPHER_CTX_free(ctx);
        ERR_clear_error();
        return NULL;
    }
    return ctx;
}

// Frees the context; OpenSSL clears the key schedule it held.
static inline void sr_gcm_free(EVP_CIPHER_CTX *ctx) { EVP_CIPHER_CTX_free(ctx); }

// Seals: out receives len bytes of ciphertext, tag 16 bytes. 1 on success.
static inline int sr_gcm_seal(EVP_CIPHER_CTX *ctx, const unsigned char *iv, const unsigned char *aad, int aad_len,
                              const unsigned char *in, int len, unsigned char *out, unsigned char *tag) {
    int n = 0;
    int total = 0;
    // The tag as a parameter: what EVP_CTRL_GCM_GET_TAG becomes in OpenSSL 3, without the
    // control call's translation.
    OSSL_PARAM got[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, 16),
                         OSSL_PARAM_construct_end()};
    if (EVP_EncryptInit_ex2(ctx, NULL, NULL, iv, NULL) != 1) goto fail;
    if (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, aad_len) != 1) goto fail;
    if (len > 0) {
        if (EVP_EncryptUpdate(ctx, out, &n, in, len) != 1) goto fail;
        total = n;
    }
    if (EVP_EncryptFinal_ex(ctx, out + total, &n) != 1) goto fail;
    total += n;
    if (total != len) goto fail;
    if (EVP_CIPHER_CTX_get_params(ctx, got) != 1) goto fail;
    return 1;
fail:
    ERR_clear_error();
    return 0;
}

// Opens: out receives len bytes of plaintext when the tag verifies (OpenSSL compares it in
// constant time). 1 on success, 0 on any failure; out must then be discarded.
static inline int sr_gcm_open(EVP_CIPHER_CTX *ctx, const unsigned char *iv, const unsigned char *aad, int aad_len,
                              const unsigned char *in, int len, const unsigned char *tag, unsigned char *out) {
    int n = 0;
    int total = 0;
    // The expected tag goes in with the IV: the provider sets it after re-initialising (as
    // EVP_CTRL_GCM_SET_TAG would, without the control call's translation); the final call
    // compares it.
    OSSL_PARAM expected[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, 16),
                              OSSL_PARAM_construct_end()};
    if (EVP_DecryptInit_ex2(ctx, NULL, NULL, iv, expected) != 1) goto fail;
    if (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, aad_len) != 1) goto fail;
    if (len > 0) {
        if (EVP_DecryptUpdate(ctx, out, &n, in, len) != 1) goto fail;
        total = n;
    }
    if (EVP_DecryptFinal_ex(ctx, out + total, &n) != 1) goto fail;
    total += n;
    if (total != len) goto fail;
    return 1;
fail:
    ERR_clear_error();
    return 0;
}

// An HMAC-SHA256 context, re-keyed for every MAC (sr_hmac_sha256), or NULL.
static inline EVP_MAC_CTX *sr_hmac_sha256_new(void) {
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        ERR_clear_error();
        return NULL;
    }
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);  // holds its own reference to mac
    EVP_MAC_free(mac);
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                            OSSL_PARAM_construct_end()};
    if (ctx == NULL || EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ERR_clear_error();
        return NULL;
    }
    return ctx;
}

// Frees the context; OpenSSL clears the digest states it held.
static inline void sr_hmac_free(EVP_MAC_CTX *ctx) { EVP_MAC_CTX_free(ctx); }

// HMAC-SHA256(key, message) into out (32 bytes). 1 on success.
static inline int sr_hmac_sha256(EVP_MAC_CTX *ctx, const unsigned char *key, size_t key_len,
                                 const unsigned char *message, size_t len, unsigned char *out) {
    size_t n = 0;
    // A NULL key would make EVP_MAC_init keep the previous one.
    if (key == NULL) return 0;
    if (EVP_MAC_init(ctx, key, key_len, NULL) != 1 || EVP_MAC_update(ctx, message, len) != 1
        || EVP_MAC_final(ctx, out, &n, 32) != 1 || n != 32) {
        ERR_clear_error();
        return 0;
    }
    return 1;
}

// A walk down a key chain: k = HMAC-SHA256(k, steps[i]) for each one-byte step, then
// out = HMAC-SHA256(k, last). The intermediate keys stay on this stack frame and are cleared.
// 1 on success.
static inline int sr_hmac_sha256_walk(EVP_MAC_CTX *ctx, const unsigned char *key, size_t key_len,
                                      const unsigned char *steps, size_t step_count, const unsigned char *last,
                                      size_t last_len, unsigned char *out) {
    unsigned char node[32];
    int ok = 1;
    for (size_t i = 0; ok && i < step_count; i++) {
        ok = sr_hmac_sha256(ctx, i == 0 ? key : node, i == 0 ? key_len : 32, steps + i, 1, node);
    }
    if (ok) ok = sr_hmac_sha256(ctx, step_count == 0 ? key : node, step_count == 0 ? key_len : 32, last, last_len, out);
    OPENSSL_cleanse(node, sizeof node);
    return ok;
}

// OpenSSL's HKDF, fetched once and shared (contexts are made per derivation), or NULL.
static inline EVP_KDF *sr_hkdf_fetch(void) {
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) ERR_clear_error();
    return kdf;
}

// HKDF-SHA256 (RFC 5869), no salt: out_len bytes of OKM from ikm and info. 1 on success.
static inline int sr_hkdf_sha256(EVP_KDF *kdf, const unsigned char *ikm, size_t ikm_len,
                                 const unsigned char *info, size_t info_len, unsigned char *out, size_t out_len) {
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    if (ctx == NULL) {
        ERR_clear_error();
        return 0;
    }
    OSSL_PARAM params[4] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
                            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
                            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
                            OSSL_PARAM_construct_end()};
    int ok = EVP_KDF_derive(ctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(ctx);  // clears the key material it held
    if (!ok) ERR_clear_error();
    return ok;
}

// The version OpenSSL reports at run time, e.g. "OpenSSL 3.0.19 27 Jan 2026".
static inline const char *sr_openssl_version(void) { return OpenSSL_version(OPENSSL_VERSION); }

#endif
