/* kb/crm/webhook.c: Standard Webhooks 1.0 signatures (spec: standard-webhooks, "Signature
 * scheme"): the content signed is "{id}.{timestamp}.{body}", HMAC-SHA256 with the secret's
 * bytes (the base64 after "whsec_"), sent as "v1," + base64 of the MAC in webhook-signature.
 * libsodium does the MAC, the base64 and the random ids. */
#include "kb/crm/crm.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

enum kb_err kb_crm_secret_decode(const char *secret, unsigned char key[KB_CRM_KEY_MAX], size_t *n)
{
    *n = 0;
    if (!secret || strncmp(secret, "whsec_", 6) != 0)
        return KB_EINVAL;
    const char *b64 = secret + 6;
    size_t len = strlen(b64);
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(key, KB_CRM_KEY_MAX, b64, len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + len || got < 24)
        return KB_EINVAL;
    *n = got;
    return KB_OK;
}

enum kb_err kb_crm_sign(const unsigned char *key, size_t keylen, const char *id, int64_t timestamp,
                        const char *body, size_t body_len, char *out, size_t n)
{
    char ts[24];
    int tn = snprintf(ts, sizeof ts, "%lld", (long long)timestamp);
    if (tn <= 0 || n < 3 + sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,
                                                     sodium_base64_VARIANT_ORIGINAL))
        return KB_EINVAL;
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, strlen(id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (size_t)tn);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "v1,", 3);
    sodium_bin2base64(out + 3, n - 3, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(&st, sizeof st);
    return KB_OK;
}

void kb_crm_event_id(char *out, size_t n)
{
    unsigned char r[16];
    randombytes_buf(r, sizeof r);
    char b64[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, r, sizeof r, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, n, "msg_%s", b64);
}
