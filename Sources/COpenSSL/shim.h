#ifndef TSUNAGU_COPENSSL_SHIM_H
#define TSUNAGU_COPENSSL_SHIM_H

/*
 * The slice of OpenSSL 3 libcrypto that TsunaguCrypto uses.
 *
 * Swift's Clang importer skips function-like macros and macros that expand to other macros, and
 * a system-library target cannot contain .c files, so every such helper is a static inline here.
 */

#include <stddef.h>
#include <stdint.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* EVP_CTRL_GCM_* are defined in terms of EVP_CTRL_AEAD_*, which Swift does not import. */
static inline int tsunagu_gcm_set_ivlen(EVP_CIPHER_CTX *ctx, int length) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, length, NULL);
}

static inline int tsunagu_gcm_get_tag(EVP_CIPHER_CTX *ctx, unsigned char *tag, int length) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, length, tag);
}

static inline int tsunagu_gcm_set_tag(EVP_CIPHER_CTX *ctx, unsigned char *tag, int length) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, length, tag);
}

/* EVP_MD_size became a macro for EVP_MD_get_size in OpenSSL 3. */
static inline int tsunagu_md_size(const EVP_MD *md) {
    return EVP_MD_get_size(md);
}

/*
 * RFC 5869 HKDF-SHA-256 (extract then expand) through the EVP_KDF "HKDF" provider API.
 * Building the OSSL_PARAM array needs OSSL_PARAM_END and the OSSL_KDF_PARAM_* string macros,
 * so it lives on the C side. Empty salt/info are simply not passed: RFC 5869 section 2.2 treats
 * a missing salt as HashLen zero bytes, which is what OpenSSL does when no salt is set.
 * Returns 1 on success, 0 on failure.
 */
static inline int tsunagu_hkdf_sha256(const unsigned char *key, size_t key_length,
                                      const unsigned char *salt, size_t salt_length,
                                      const unsigned char *info, size_t info_length,
                                      unsigned char *out, size_t out_length) {
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    if (kdf == NULL) return 0;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (ctx == NULL) return 0;

    OSSL_PARAM params[5];
    size_t n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_length);
    if (salt_length > 0)
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_length);
    if (info_length > 0)
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_length);
    params[n] = OSSL_PARAM_construct_end();

    int ok = EVP_KDF_derive(ctx, out, out_length, params);
    EVP_KDF_CTX_free(ctx);
    return ok == 1 ? 1 : 0;
}

#endif /* TSUNAGU_COPENSSL_SHIM_H */
