// PKCS#11 (Cryptoki 2.40) from Swift: the module is loaded with dlopen at run time, so nothing
// links against an HSM vendor's library; p11-kit's header supplies the standard types.
// Each helper is one Cryptoki call sequence whose C shape (attribute templates, the function
// list's pointers) is awkward from Swift. They return CK_RV; CKR_OK (0) is success.
#ifndef STRONGROOM_CPKCS11_SHIM_H
#define STRONGROOM_CPKCS11_SHIM_H

#include <dlfcn.h>
#include <stddef.h>
#include <string.h>
#include <p11-kit-1/p11-kit/pkcs11.h>

// Loads `path` and returns its function list, or NULL (then *error holds dlerror's text or is NULL).
static inline CK_FUNCTION_LIST_PTR sr_p11_load(const char *path, void **handle, const char **error) {
    *error = NULL;
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) { *error = dlerror(); return NULL; }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR list = NULL;
    if (!get || get(&list) != CKR_OK || !list) { dlclose(lib); return NULL; }
    *handle = lib;
    return list;
}

// C_Initialize telling the module it may use the OS's locks (we call it from many threads).
static inline CK_RV sr_p11_initialize(CK_FUNCTION_LIST_PTR f) {
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = f->C_Initialize(&args);
    return rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? CKR_OK : rv;
}

// The slot whose token label (32 bytes, space-padded) is `label`; CKR_TOKEN_NOT_PRESENT if none.
static inline CK_RV sr_p11_find_token(CK_FUNCTION_LIST_PTR f, const char *label, CK_SLOT_ID *slot) {
    CK_ULONG count = 0;
    CK_RV rv = f->C_GetSlotList(CK_TRUE, NULL, &count);
    if (rv != CKR_OK) return rv;
    if (count == 0) return CKR_TOKEN_NOT_PRESENT;
    CK_SLOT_ID slots[64];
    if (count > 64) count = 64;
    rv = f->C_GetSlotList(CK_TRUE, slots, &count);
    if (rv != CKR_OK) return rv;
    char padded[32];
    size_t n = strlen(label);
    if (n > 32) return CKR_ARGUMENTS_BAD;
    memset(padded, ' ', 32);
    memcpy(padded, label, n);
    for (CK_ULONG i = 0; i < count; i++) {
        CK_TOKEN_INFO info;
        if (f->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
        if (memcmp(info.label, padded, 32) == 0) { *slot = slots[i]; return CKR_OK; }
    }
    return CKR_TOKEN_NOT_PRESENT;
}

// A read-write session logged in as the user (a login already made by another session counts).
static inline CK_RV sr_p11_open(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, const unsigned char *pin,
                                size_t pin_len, CK_SESSION_HANDLE *session) {
    CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, session);
    if (rv != CKR_OK) return rv;
    rv = f->C_Login(*session, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
    if (rv == CKR_USER_ALREADY_LOGGED_IN) rv = CKR_OK;
    if (rv != CKR_OK) f->C_CloseSession(*session);
    return rv;
}

// A new AES-256 token key that never leaves the token: sensitive, not extractable, wrap/unwrap only.
static inline CK_RV sr_p11_generate_kek(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, const char *label,
                                        const unsigned char *id, size_t id_len, CK_OBJECT_HANDLE *key) {
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type}, {CKA_VALUE_LEN, &len, sizeof len},
        {CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &no, 1},
        {CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}, {CKA_ENCRYPT, &no, 1}, {CKA_DECRYPT, &no, 1},
        {CKA_SIGN, &no, 1}, {CKA_VERIFY, &no, 1}, {CKA_MODIFIABLE, &no, 1},
        {CKA_LABEL, (void *)label, strlen(label)}, {CKA_ID, (void *)id, id_len},
    };
    return f->C_GenerateKey(s, &mech, t, sizeof t / sizeof t[0], key);
}

// The secret-key objects whose CKA_ID is `id`: *found is how many (0, 1 or 2 meaning "more than
// one"), *key the first. A session not logged in sees no private object: check the state.
static inline CK_RV sr_p11_find_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, const unsigned char *id,
                                    size_t id_len, CK_OBJECT_HANDLE *key, CK_ULONG *found) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, (void *)id, id_len}};
    *found = 0;
    CK_RV rv = f->C_FindObjectsInit(s, t, 2);
    if (rv != CKR_OK) return rv;
    CK_OBJECT_HANDLE objects[2];
    rv = f->C_FindObjects(s, objects, 2, found);
    f->C_FindObjectsFinal(s);
    if (rv == CKR_OK && *found > 0) *key = objects[0];
    return rv;
}

// Whether the session is logged in as the user (CKS_RW_USER_FUNCTIONS or CKS_RO_USER_FUNCTIONS).
static inline CK_RV sr_p11_is_user(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, int *user) {
    CK_SESSION_INFO info;
    CK_RV rv = f->C_GetSessionInfo(s, &info);
    *user = rv == CKR_OK && (info.state == CKS_RW_USER_FUNCTIONS || info.state == CKS_RO_USER_FUNCTIONS);
    return rv;
}

// Whether `key` is sensitive and not extractable (a KEK we would refuse otherwise).
static inline CK_RV sr_p11_key_is_locked(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
                                         int *locked) {
    CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_SENSITIVE, &sensitive, 1}, {CKA_EXTRACTABLE, &extractable, 1}};
    CK_RV rv = f->C_GetAttributeValue(s, key, t, 2);
    *locked = rv == CKR_OK && sensitive == CK_TRUE && extractable == CK_FALSE;
    return rv;
}

// Wraps a 32-byte data key with CKM_AES_KEY_WRAP_PAD (RFC 5649) under `kek`: the data key goes in
// as a session object (never stored on the token) that is destroyed before returning.
static inline CK_RV sr_p11_wrap(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kek,
                                const unsigned char *dek, size_t dek_len, unsigned char *out, CK_ULONG *out_len) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type}, {CKA_TOKEN, &no, 1},
        {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}, {CKA_VALUE, (void *)dek, dek_len},
    };
    CK_OBJECT_HANDLE key;
    CK_RV rv = f->C_CreateObject(s, t, sizeof t / sizeof t[0], &key);
    if (rv != CKR_OK) return rv;
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    rv = f->C_WrapKey(s, &mech, kek, key, out, out_len);
    f->C_DestroyObject(s, key);
    return rv;
}

// Unwraps with CKM_AES_KEY_WRAP_PAD under `kek` into a session object, reads its value into
// `dek` (`*dek_len` in: capacity, out: length) and destroys the object.
static inline CK_RV sr_p11_unwrap(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kek,
                                  const unsigned char *wrapped, size_t wrapped_len, unsigned char *dek,
                                  CK_ULONG *dek_len) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type}, {CKA_TOKEN, &no, 1},
        {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1},
    };
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE key;
    CK_RV rv = f->C_UnwrapKey(s, &mech, kek, (CK_BYTE_PTR)wrapped, wrapped_len, t, sizeof t / sizeof t[0], &key);
    if (rv != CKR_OK) return rv;
    CK_ATTRIBUTE value = {CKA_VALUE, dek, *dek_len};
    rv = f->C_GetAttributeValue(s, key, &value, 1);
    f->C_DestroyObject(s, key);
    if (rv == CKR_OK) *dek_len = value.ulValueLen;
    return rv;
}

static inline CK_RV sr_p11_destroy(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key) {
    return f->C_DestroyObject(s, key);
}

static inline CK_RV sr_p11_close(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s) { return f->C_CloseSession(s); }

#endif
