// AES-256-GCM through OpenSSL 3's EVP API: one call per seal or open from Swift.
//
// A context is keyed once (sr_gcm_new) and then re-initialised with only a new IV for each
// operation, so the AES key schedule and the GHASH table are computed once per key.
#ifndef STRONGROOM_CLIBCRYPTO_SHIM_H
#define STRONGROOM_CLIBCRYPTO_SHIM_H

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/provider.h>
#include <string.h>

#if OPENSSL_VERSION_MAJOR < 3
#error "Strongroom needs OpenSSL 3 (EVP_EncryptInit_ex2)"
#endif

// The AES-256-GCM implementation EVP fetches, reached through its provider's own functions.
//
// EVP's wrappers add per call what OpenSSL 3.0 does not cache: the IV length asked of the
// provider by name on every re-initialisation, and checks that the provider repeats. Calling
// the provider's functions directly (the ones EVP calls) halves the time of a short seal or
// open. The implementation is the one EVP_CIPHER_fetch picks (same library context, same
// properties, so a FIPS provider chosen by the configuration file is used the same way),
// resolved once per process and checked on the GCM specification's test case 16 before use.
typedef struct sr_gcm_impl {
    EVP_CIPHER *cipher;  // a reference that keeps the provider loaded
    void *provctx;
    OSSL_FUNC_cipher_newctx_fn *newctx;
    OSSL_FUNC_cipher_freectx_fn *freectx;
    OSSL_FUNC_cipher_encrypt_init_fn *einit;
    OSSL_FUNC_cipher_decrypt_init_fn *dinit;
    OSSL_FUNC_cipher_update_fn *update;
    OSSL_FUNC_cipher_final_fn *final;
    OSSL_FUNC_cipher_get_ctx_params_fn *get_ctx_params;
} sr_gcm_impl;

// A keyed AES-256-GCM context: the provider's own (algctx, with impl) or an EVP one.
typedef struct sr_gcm {
    const sr_gcm_impl *impl;
    void *algctx;
    EVP_CIPHER_CTX *evp;
} sr_gcm;

// True when one of the colon-separated names is a name of alg, asked with is_a (OpenSSL's
// name map: any alias counts).
static inline int sr_names_match(const char *names, int (*is_a)(const void *, const char *), const void *alg) {
    char token[128];
    for (const char *p = names; p != NULL && *p != '\0';) {
        const char *colon = strchr(p, ':');
        size_t n = colon == NULL ? strlen(p) : (size_t)(colon - p);
        if (n > 0 && n < sizeof token) {
            memcpy(token, p, n);
            token[n] = '\0';
            if (is_a(alg, token)) return 1;
        }
        p = colon == NULL ? NULL : colon + 1;
    }
    return 0;
}

static inline int sr_cipher_is_a(const void *alg, const char *name) { return EVP_CIPHER_is_a(alg, name); }
static inline int sr_md_is_a(const void *alg, const char *name) { return EVP_MD_is_a(alg, name); }

// Hands take(impl, function id, entry) every entry of the one implementation of operation in
// prov that is named like alg, the first entry for an id only (as EVP builds an algorithm from
// a dispatch table; ids of 64 or more, none of which is used, are skipped). 1 when exactly one
// implementation matched; 0 (take not called) otherwise.
static inline int sr_provider_dispatch(const OSSL_PROVIDER *prov, int operation,
                                       int (*is_a)(const void *, const char *), const void *alg,
                                       void (*take)(void *, int, const OSSL_DISPATCH *), void *impl) {
    int no_cache = 0;
    const OSSL_ALGORITHM *algs = OSSL_PROVIDER_query_operation(prov, operation, &no_cache);
    const OSSL_DISPATCH *found = NULL;
    int matches = 0;
    for (const OSSL_ALGORITHM *a = algs; a != NULL && a->algorithm_names != NULL; a++) {
        if (sr_names_match(a->algorithm_names, is_a, alg)) {
            found = a->implementation;
            matches++;
        }
    }
    int seen[64] = {0};
    for (const OSSL_DISPATCH *d = matches == 1 ? found : NULL; d != NULL && d->function_id != 0; d++) {
        if (d->function_id > 0 && d->function_id < 64 && !seen[d->function_id]) {
            seen[d->function_id] = 1;
            take(impl, d->function_id, d);
        }
    }
    if (algs != NULL) OSSL_PROVIDER_unquery_operation(prov, operation, algs);
    return matches == 1;
}

static inline sr_gcm *sr_gcm_new(const sr_gcm_impl *impl, const unsigned char *key);
static inline void sr_gcm_free(sr_gcm *ctx);
static inline int sr_gcm_seal(sr_gcm *ctx, const unsigned char *iv, const unsigned char *aad, int aad_len,
                              const unsigned char *in, int len, unsigned char *out, unsigned char *tag);
static inline int sr_gcm_open(sr_gcm *ctx, const unsigned char *iv, const unsigned char *aad, int aad_len,
                              const unsigned char *in, int len, const unsigned char *tag, unsigned char *out);

// Seals and opens the GCM specification's test case 16 through impl: 1 when it gives the
// specification's bytes, opens them, refuses them with a changed tag, ciphertext or associated
// data, and seals them again after the refusals.
static inline int sr_gcm_impl_check(const sr_gcm_impl *impl) {
    static const unsigned char key[32] = {
        0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83,
        0x08, 0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30,
        0x83, 0x08};
    static const unsigned char iv[12] = {
        0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88};
    static const unsigned char plain[60] = {
        0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26,
        0x9a, 0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31,
        0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49,
        0xa6, 0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39};
    static const unsigned char aad[20] = {
        0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe,
        0xef, 0xab, 0xad, 0xda, 0xd2};
    static const unsigned char sealed[60] = {
        0x52, 0x2d, 0xc1, 0xf0, 0x99, 0x56, 0x7d, 0x07, 0xf4, 0x7f, 0x37, 0xa3, 0x2a, 0x84, 0x42,
        0x7d, 0x64, 0x3a, 0x8c, 0xdc, 0xbf, 0xe5, 0xc0, 0xc9, 0x75, 0x98, 0xa2, 0xbd, 0x25, 0x55,
        0xd1, 0xaa, 0x8c, 0xb0, 0x8e, 0x48, 0x59, 0x0d, 0xbb, 0x3d, 0xa7, 0xb0, 0x8b, 0x10, 0x56,
        0x82, 0x88, 0x38, 0xc5, 0xf6, 0x1e, 0x63, 0x93, 0xba, 0x7a, 0x0a, 0xbc, 0xc9, 0xf6, 0x62};
    static const unsigned char tag[16] = {
        0x76, 0xfc, 0x6e, 0xce, 0x0f, 0x4e, 0x17, 0x68, 0xcd, 0xdf, 0x88, 0x53, 0xbb, 0x2d, 0x55,
        0x1b};
    unsigned char out[60], got[16], back[60], bad[60], again[60];
    int ok = 0;
    sr_gcm *ctx = sr_gcm_new(impl, key);
    if (ctx != NULL && sr_gcm_seal(ctx, iv, aad, 20, plain, 60, out, got) == 1 && CRYPTO_memcmp(out, sealed, 60) == 0
        && CRYPTO_memcmp(got, tag, 16) == 0 && sr_gcm_open(ctx, iv, aad, 20, sealed, 60, tag, back) == 1
        && CRYPTO_memcmp(back, plain, 60) == 0) {
        // Refused: the tag's first and last bytes, a ciphertext bit, an associated-data bit.
        unsigned char badtag[16], badaad[20];
        memcpy(badtag, tag, 16);
        badtag[0] ^= 1;
        ok = sr_gcm_open(ctx, iv, aad, 20, sealed, 60, badtag, back) == 0;
        badtag[0] ^= 1;
        badtag[15] ^= 0x80;
        ok = ok && sr_gcm_open(ctx, iv, aad, 20, sealed, 60, badtag, back) == 0;
        memcpy(bad, sealed, 60);
        bad[31] ^= 4;
        ok = ok && sr_gcm_open(ctx, iv, aad, 20, bad, 60, tag, back) == 0;
        memcpy(badaad, aad, 20);
        badaad[19] ^= 1;
        ok = ok && sr_gcm_open(ctx, iv, badaad, 20, sealed, 60, tag, back) == 0;
        // After the refusals the context seals the same bytes again.
        ok = ok && sr_gcm_seal(ctx, iv, aad, 20, plain, 60, again, got) == 1 && CRYPTO_memcmp(again, sealed, 60) == 0
             && CRYPTO_memcmp(got, tag, 16) == 0;
    }
    sr_gcm_free(ctx);
    return ok;
}

// Keeps one entry of the AES-256-GCM dispatch table in impl (an sr_gcm_impl).
static inline void sr_gcm_take(void *target, int id, const OSSL_DISPATCH *d) {
    sr_gcm_impl *impl = target;
    switch (id) {
    case OSSL_FUNC_CIPHER_NEWCTX: impl->newctx = OSSL_FUNC_cipher_newctx(d); break;
    case OSSL_FUNC_CIPHER_FREECTX: impl->freectx = OSSL_FUNC_cipher_freectx(d); break;
    case OSSL_FUNC_CIPHER_ENCRYPT_INIT: impl->einit = OSSL_FUNC_cipher_encrypt_init(d); break;
    case OSSL_FUNC_CIPHER_DECRYPT_INIT: impl->dinit = OSSL_FUNC_cipher_decrypt_init(d); break;
    case OSSL_FUNC_CIPHER_UPDATE: impl->update = OSSL_FUNC_cipher_update(d); break;
    case OSSL_FUNC_CIPHER_FINAL: impl->final = OSSL_FUNC_cipher_final(d); break;
    case OSSL_FUNC_CIPHER_GET_CTX_PARAMS: impl->get_ctx_params = OSSL_FUNC_cipher_get_ctx_params(d); break;
    default: break;
    }
}

// Fills impl with the provider functions behind EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL).
// 1 on success; 0 (impl cleared) when they cannot be resolved unambiguously or fail the check,
// and then contexts go through EVP.
static inline int sr_gcm_impl_load(sr_gcm_impl *impl) {
    memset(impl, 0, sizeof *impl);
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    const OSSL_PROVIDER *prov = cipher == NULL ? NULL : EVP_CIPHER_get0_provider(cipher);
    if (prov == NULL || !sr_provider_dispatch(prov, OSSL_OP_CIPHER, sr_cipher_is_a, cipher, sr_gcm_take, impl))
        goto fail;
    impl->provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
    impl->cipher = cipher;
    if (impl->newctx == NULL || impl->freectx == NULL || impl->einit == NULL || impl->dinit == NULL
        || impl->update == NULL || impl->final == NULL || impl->get_ctx_params == NULL || !sr_gcm_impl_check(impl))
        goto fail;
    return 1;
fail:
    EVP_CIPHER_free(cipher);
    memset(impl, 0, sizeof *impl);
    ERR_clear_error();
    return 0;
}

// A context keyed with the 32-byte key, or NULL: through impl's functions, or EVP when impl is
// NULL.
static inline sr_gcm *sr_gcm_new(const sr_gcm_impl *impl, const unsigned char *key) {
    sr_gcm *ctx = OPENSSL_zalloc(sizeof *ctx);
    if (ctx == NULL) return NULL;
    if (impl != NULL) {
        ctx->impl = impl;
        ctx->algctx = impl->newctx(impl->provctx);
        if (ctx->algctx == NULL || impl->einit(ctx->algctx, key, 32, NULL, 0, NULL) != 1) goto fail;
        return ctx;
    }
    ctx->evp = EVP_CIPHER_CTX_new();
    // A provider's implementation only: the tag goes in and out as parameters, which an
    // engine-backed cipher would not take.
    if (ctx->evp == NULL || EVP_EncryptInit_ex2(ctx->evp, EVP_aes_256_gcm(), key, NULL, NULL) != 1
        || EVP_CIPHER_get0_provider(EVP_CIPHER_CTX_get0_cipher(ctx->evp)) == NULL
        || EVP_CIPHER_CTX_get_key_length(ctx->evp) != 32 || EVP_CIPHER_CTX_get_iv_length(ctx->evp) != 12)
        goto fail;
    return ctx;
fail:
    sr_gcm_free(ctx);
    ERR_clear_error();
    return NULL;
}

// Frees the context; OpenSSL clears the key schedule it held.
static inline void sr_gcm_free(sr_gcm *ctx) {
    if (ctx == NULL) return;
    if (ctx->algctx != NULL) ctx->impl->freectx(ctx->algctx);
    EVP_CIPHER_CTX_free(ctx->evp);
    OPENSSL_free(ctx);
}

// Seals: out receives len bytes of ciphertext, tag 16 bytes. 1 on success.
static inline int sr_gcm_seal(sr_gcm *ctx, const unsigned char *iv, const unsigned char *aad, int aad_len,
                              const unsigned char *in, int len, unsigned char *out, unsigned char *tag) {
    int n = 0;
    int total = 0;
    size_t done = 0;
    // The tag as a parameter: what EVP_CTRL_GCM_GET_TAG becomes in OpenSSL 3, without the
    // control call's translation.
    OSSL_PARAM got[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, 16),
                         OSSL_PARAM_construct_end()};
    if (aad_len < 0 || len < 0) goto fail;
    if (ctx->algctx != NULL) {
        // The calls EVP makes, with the sizes it passes (GCM's block size is 1).
        const sr_gcm_impl *f = ctx->impl;
        if (f->einit(ctx->algctx, NULL, 0, iv, 12, NULL) != 1) goto fail;
        if (aad_len > 0 && f->update(ctx->algctx, NULL, &done, (size_t)aad_len, aad, (size_t)aad_len) != 1) goto fail;
        if (len > 0) {
            if (f->update(ctx->algctx, out, &done, (size_t)len, in, (size_t)len) != 1 || done != (size_t)len) goto fail;
        }
        // No pointer arithmetic on a NULL out (an empty plaintext may have none).
        if (f->final(ctx->algctx, len > 0 ? out + len : out, &done, 0) != 1 || done != 0) goto fail;
        if (f->get_ctx_params(ctx->algctx, got) != 1) goto fail;
        return 1;
    }
    if (EVP_EncryptInit_ex2(ctx->evp, NULL, NULL, iv, NULL) != 1) goto fail;
    if (aad_len > 0 && EVP_EncryptUpdate(ctx->evp, NULL, &n, aad, aad_len) != 1) goto fail;
    if (len > 0) {
        if (EVP_EncryptUpdate(ctx->evp, out, &n, in, len) != 1) goto fail;
        total = n;
    }
    if (EVP_EncryptFinal_ex(ctx->evp, total > 0 ? out + total : out, &n) != 1) goto fail;
    total += n;
    if (total != len) goto fail;
    if (EVP_CIPHER_CTX_get_params(ctx->evp, got) != 1) goto fail;
    return 1;
fail:
    ERR_clear_error();
    return 0;
}

// Opens: out receives len bytes of plaintext when the tag verifies (OpenSSL compares it in
// constant time). 1 on success, 0 on any failure; out must then be discarded.
static inline int sr_gcm_open(sr_gcm *ctx, const unsigned char *iv, const unsigned char *aad, int aad_len,
                              const unsigned char *in, int len, const unsigned char *tag, unsigned char *out) {
    int n = 0;
    int total = 0;
    size_t done = 0;
    // The expected tag goes in with the IV: the provider sets it after re-initialising (as
    // EVP_CTRL_GCM_SET_TAG would, without the control call's translation); the final call
    // compares it.
    OSSL_PARAM expected[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, 16),
                              OSSL_PARAM_construct_end()};
    if (aad_len < 0 || len < 0) goto fail;
    if (ctx->algctx != NULL) {
        const sr_gcm_impl *f = ctx->impl;
        if (f->dinit(ctx->algctx, NULL, 0, iv, 12, expected) != 1) goto fail;
        if (aad_len > 0 && f->update(ctx->algctx, NULL, &done, (size_t)aad_len, aad, (size_t)aad_len) != 1) goto fail;
        if (len > 0) {
            if (f->update(ctx->algctx, out, &done, (size_t)len, in, (size_t)len) != 1 || done != (size_t)len) goto fail;
        }
        if (f->final(ctx->algctx, len > 0 ? out + len : out, &done, 0) != 1 || done != 0) goto fail;
        return 1;
    }
    if (EVP_DecryptInit_ex2(ctx->evp, NULL, NULL, iv, expected) != 1) goto fail;
    if (aad_len > 0 && EVP_DecryptUpdate(ctx->evp, NULL, &n, aad, aad_len) != 1) goto fail;
    if (len > 0) {
        if (EVP_DecryptUpdate(ctx->evp, out, &n, in, len) != 1) goto fail;
        total = n;
    }
    if (EVP_DecryptFinal_ex(ctx->evp, total > 0 ? out + total : out, &n) != 1) goto fail;
    total += n;
    if (total != len) goto fail;
    return 1;
fail:
    ERR_clear_error();
    return 0;
}

// SHA-256 for HMAC and HKDF: the provider's own digest functions on one context.
//
// EVP_MAC's HMAC copies digest contexts (an allocation and a clear each) and looks its
// parameters up by name on every re-keying: ~380 ns a MAC here. OpenSSL 3.0's EVP_DigestInit
// frees and makes the provider's context on every call. The HMAC construction (RFC 2104) on
// the provider's SHA-256 functions, called directly on one context as for AES-GCM above, takes
// ~190 ns; EVP_MD_CTX is the fallback (250-320 ns). The implementation is the one EVP_MD_fetch
// picks, checked on known digests before use; the bytes are the same (RFC 4231, Wycheproof,
// the key tree's known answer).
typedef struct sr_sha256_impl {
    EVP_MD *md;  // a reference that keeps the provider loaded
    void *provctx;
    OSSL_FUNC_digest_newctx_fn *newctx;
    OSSL_FUNC_digest_freectx_fn *freectx;
    OSSL_FUNC_digest_init_fn *init;
    OSSL_FUNC_digest_update_fn *update;
    OSSL_FUNC_digest_final_fn *final;
} sr_sha256_impl;

// A SHA-256 context: the provider's own (algctx, with impl) or an EVP one.
typedef struct sr_sha256 {
    const sr_sha256_impl *impl;
    void *algctx;
    EVP_MD_CTX *evp;
} sr_sha256;

// SHA-256 of a ‖ b into out (32 bytes), the context started over first. 1 on success.
static inline int sr_sha256_two(sr_sha256 *ctx, const unsigned char *a, size_t a_len, const unsigned char *b,
                                size_t b_len, unsigned char *out) {
    if (ctx->impl != NULL) {
        size_t n = 0;
        return ctx->impl->init(ctx->algctx, NULL) == 1 && (a_len == 0 || ctx->impl->update(ctx->algctx, a, a_len) == 1)
               && (b_len == 0 || ctx->impl->update(ctx->algctx, b, b_len) == 1)
               && ctx->impl->final(ctx->algctx, out, &n, 32) == 1 && n == 32;
    }
    unsigned int n = 0;
    return EVP_DigestInit_ex2(ctx->evp, NULL, NULL) == 1 && (a_len == 0 || EVP_DigestUpdate(ctx->evp, a, a_len) == 1)
           && (b_len == 0 || EVP_DigestUpdate(ctx->evp, b, b_len) == 1) && EVP_DigestFinal_ex(ctx->evp, out, &n) == 1
           && n == 32;
}

// Starts the context over, so that it holds nothing of the last input. 1 on success.
static inline int sr_sha256_reset(sr_sha256 *ctx) {
    return ctx->impl != NULL ? ctx->impl->init(ctx->algctx, NULL) == 1 : EVP_DigestInit_ex2(ctx->evp, NULL, NULL) == 1;
}

// Frees the context; OpenSSL's SHA-256 clears the state it held.
static inline void sr_sha256_free(sr_sha256 *ctx) {
    if (ctx == NULL) return;
    if (ctx->impl != NULL && ctx->algctx != NULL) ctx->impl->freectx(ctx->algctx);
    EVP_MD_CTX_free(ctx->evp);
    OPENSSL_free(ctx);
}

// A context on impl's functions, or on EVP's SHA-256 when impl is NULL; NULL on failure.
static inline sr_sha256 *sr_sha256_new(const sr_sha256_impl *impl) {
    sr_sha256 *ctx = OPENSSL_zalloc(sizeof *ctx);
    if (ctx == NULL) return NULL;
    if (impl != NULL) {
        ctx->impl = impl;
        ctx->algctx = impl->newctx(impl->provctx);
        if (ctx->algctx == NULL || impl->init(ctx->algctx, NULL) != 1) goto fail;
        return ctx;
    }
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    ctx->evp = md == NULL ? NULL : EVP_MD_CTX_new();
    // The context keeps its own reference to md.
    int ok = ctx->evp != NULL && EVP_DigestInit_ex2(ctx->evp, md, NULL) == 1;
    EVP_MD_free(md);
    if (ok) return ctx;
fail:
    sr_sha256_free(ctx);
    ERR_clear_error();
    return NULL;
}

// SHA-256 of "abc" (FIPS 180-2 appendix B.1), of 1,000 bytes of 'a' (several blocks, one
// update), and of "abc" again after them, through impl: 1 when all are right.
static inline int sr_sha256_impl_check(const sr_sha256_impl *impl) {
    static const unsigned char abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    static const unsigned char thousand[32] = {
        0x41, 0xed, 0xec, 0xe4, 0x2d, 0x63, 0xe8, 0xd9, 0xbf, 0x51, 0x5a, 0x9b, 0xa6, 0x93, 0x2e, 0x1c,
        0x20, 0xcb, 0xc9, 0xf5, 0xa5, 0xd1, 0x34, 0x64, 0x5a, 0xdb, 0x5d, 0xb1, 0xb9, 0x73, 0x7e, 0xa3};
    unsigned char as[1000], out[32];
    memset(as, 'a', sizeof as);
    sr_sha256 *ctx = sr_sha256_new(impl);
    int ok = ctx != NULL && sr_sha256_two(ctx, (const unsigned char *)"ab", 2, (const unsigned char *)"c", 1, out) == 1
             && CRYPTO_memcmp(out, abc, 32) == 0 && sr_sha256_two(ctx, as, sizeof as, NULL, 0, out) == 1
             && CRYPTO_memcmp(out, thousand, 32) == 0
             && sr_sha256_two(ctx, (const unsigned char *)"abc", 3, NULL, 0, out) == 1 && CRYPTO_memcmp(out, abc, 32) == 0;
    sr_sha256_free(ctx);
    return ok;
}

// Keeps one entry of the SHA-256 dispatch table in impl (an sr_sha256_impl).
static inline void sr_sha256_take(void *target, int id, const OSSL_DISPATCH *d) {
    sr_sha256_impl *impl = target;
    switch (id) {
    case OSSL_FUNC_DIGEST_NEWCTX: impl->newctx = OSSL_FUNC_digest_newctx(d); break;
    case OSSL_FUNC_DIGEST_FREECTX: impl->freectx = OSSL_FUNC_digest_freectx(d); break;
    case OSSL_FUNC_DIGEST_INIT: impl->init = OSSL_FUNC_digest_init(d); break;
    case OSSL_FUNC_DIGEST_UPDATE: impl->update = OSSL_FUNC_digest_update(d); break;
    case OSSL_FUNC_DIGEST_FINAL: impl->final = OSSL_FUNC_digest_final(d); break;
    default: break;
    }
}

// Fills impl with the provider functions behind EVP_MD_fetch(NULL, "SHA256", NULL). 1 on
// success; 0 (impl cleared) when they cannot be resolved unambiguously or fail the check, and
// then contexts go through EVP.
static inline int sr_sha256_impl_load(sr_sha256_impl *impl) {
    memset(impl, 0, sizeof *impl);
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    const OSSL_PROVIDER *prov = md == NULL ? NULL : EVP_MD_get0_provider(md);
    if (prov == NULL || !sr_provider_dispatch(prov, OSSL_OP_DIGEST, sr_md_is_a, md, sr_sha256_take, impl)) goto fail;
    impl->provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
    impl->md = md;
    if (impl->newctx == NULL || impl->freectx == NULL || impl->init == NULL || impl->update == NULL
        || impl->final == NULL || !sr_sha256_impl_check(impl))
        goto fail;
    return 1;
fail:
    EVP_MD_free(md);
    memset(impl, 0, sizeof *impl);
    ERR_clear_error();
    return 0;
}

// HMAC-SHA256(key, message) into out (32 bytes): H((K ^ opad) ‖ H((K ^ ipad) ‖ message)),
// K the key zero-padded to 64 bytes (hashed first when longer). out may alias key or
// message. The padded keys and the inner hash are cleared. 1 on success.
static inline int sr_hmac_sha256(sr_sha256 *ctx, const unsigned char *key, size_t key_len,
                                 const unsigned char *message, size_t len, unsigned char *out) {
    unsigned char block[64], pad[64], inner[32];
    int ok = 1;
    memset(block, 0, sizeof block);
    if (key_len > sizeof block) {
        ok = sr_sha256_two(ctx, key, key_len, NULL, 0, block);
    } else if (key_len > 0) {
        memcpy(block, key, key_len);
    }
    for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x36;
    ok = ok && sr_sha256_two(ctx, pad, sizeof pad, message, len, inner);
    for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x5c;
    ok = ok && sr_sha256_two(ctx, pad, sizeof pad, inner, sizeof inner, out);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    // The context's state after the last hash is the MAC itself: start it over.
    ok = sr_sha256_reset(ctx) == 1 && ok;
    if (!ok) ERR_clear_error();
    return ok;
}

// A walk down a key chain: k = HMAC-SHA256(k, steps[i]) for each one-byte step, then
// out = HMAC-SHA256(k, last). The intermediate keys stay on this stack frame and are cleared.
// 1 on success.
static inline int sr_hmac_sha256_walk(sr_sha256 *ctx, const unsigned char *key, size_t key_len,
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

// HKDF-SHA256 (RFC 5869) with no salt, on ctx: PRK = HMAC(zeros, ikm), then out_len bytes
// (at most 255 * 32) of T(1) ‖ T(2) ‖ …, T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i). EVP_KDF's HKDF
// (a context made and its digest fetched by name per derivation) took ~2.2 µs for 32 bytes
// here; this takes two MACs. info_len at most 256; out must not overlap info. 1 on success.
static inline int sr_hkdf_sha256(sr_sha256 *ctx, const unsigned char *ikm, size_t ikm_len,
                                 const unsigned char *info, size_t info_len, unsigned char *out, size_t out_len) {
    unsigned char prk[32], t[32], message[32 + 256 + 1];
    if (out_len > 255 * 32 || info_len > 256) return 0;
    // No salt is HashLen zero bytes, which pads to the same block as an empty key.
    int ok = sr_hmac_sha256(ctx, NULL, 0, ikm, ikm_len, prk);
    size_t done = 0, previous = 0;
    for (unsigned int i = 1; ok && done < out_len; i++) {
        memcpy(message, t, previous);
        if (info_len > 0) memcpy(message + previous, info, info_len);
        message[previous + info_len] = (unsigned char)i;
        ok = sr_hmac_sha256(ctx, prk, sizeof prk, message, previous + info_len + 1, t);
        size_t n = out_len - done < sizeof t ? out_len - done : sizeof t;
        if (ok) memcpy(out + done, t, n);
        done += n;
        previous = sizeof t;
    }
    OPENSSL_cleanse(prk, sizeof prk);
    OPENSSL_cleanse(t, sizeof t);
    OPENSSL_cleanse(message, sizeof message);
    return ok;
}

// The version OpenSSL reports at run time, e.g. "OpenSSL 3.0.19 27 Jan 2026".
static inline const char *sr_openssl_version(void) { return OpenSSL_version(OPENSSL_VERSION); }

#endif
