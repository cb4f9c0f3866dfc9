// AES-256-GCM through OpenSSL 3's EVP API: one call per seal or open from Swift.
//
// A context is keyed once (sr_gcm_new) and then re-initialised with only a new IV for each
// operation, so the AES key schedule and the GHASH table are computed once per key.
#ifndef STRONGROOM_CLIBCRYPTO_SHIM_H
#define STRONGROOM_CLIBCRYPTO_SHIM_H

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#if OPENSSL_VERSION_MAJOR < 3
#error "Strongroom needs OpenSSL 3 (EVP_EncryptInit_ex2)"
#endif

// A context keyed with the 32-byte key, or NULL.
static inline EVP_CIPHER_CTX *sr_gcm_new(const unsigned char *key) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) return NULL;
    if (EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, NULL, NULL) != 1
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
    if (EVP_EncryptInit_ex2(ctx, NULL, NULL, iv, NULL) != 1) goto fail;
    if (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, aad_len) != 1) goto fail;
    if (len > 0) {
        if (EVP_EncryptUpdate(ctx, out, &n, in, len) != 1) goto fail;
        total = n;
    }
    if (EVP_EncryptFinal_ex(ctx, out + total, &n) != 1) goto fail;
    total += n;
    if (total != len) goto fail;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) goto fail;
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
    if (EVP_DecryptInit_ex2(ctx, NULL, NULL, iv, NULL) != 1) goto fail;
    if (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, aad_len) != 1) goto fail;
    if (len > 0) {
        if (EVP_DecryptUpdate(ctx, out, &n, in, len) != 1) goto fail;
        total = n;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag) != 1) goto fail;
    if (EVP_DecryptFinal_ex(ctx, out + total, &n) != 1) goto fail;
    total += n;
    if (total != len) goto fail;
    return 1;
fail:
    ERR_clear_error();
    return 0;
}

// The version OpenSSL reports at run time, e.g. "OpenSSL 3.0.19 27 Jan 2026".
static inline const char *sr_openssl_version(void) { return OpenSSL_version(OPENSSL_VERSION); }

#endif
