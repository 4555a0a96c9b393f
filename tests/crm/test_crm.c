/* tests/crm: signatures (the Standard Webhooks test vector), secrets, references, and a case
 * opened with its event in one transaction, whose payload is the case JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "kb/crm/crm.h"
#include "kb/store/cases.h"
#include "kb/store/outbox.h"
#include "tests/testfs.h"

static void signs_the_standard_webhooks_vector(void **state)
{
    (void)state;
    /* The vector of the standard-webhooks libraries' own tests. */
    unsigned char key[KB_CRM_KEY_MAX];
    size_t n = 0;
    assert_int_equal(kb_crm_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &n), KB_OK);
    char sig[128];
    const char *body = "{\"test\": 2432232314}";
    assert_int_equal(kb_crm_sign(key, n, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                 strlen(body), sig, sizeof sig),
                     KB_OK);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void refuses_malformed_secrets(void **state)
{
    (void)state;
    unsigned char key[KB_CRM_KEY_MAX];
    size_t n = 0;
    assert_int_equal(kb_crm_secret_decode(NULL, key, &n), KB_EINVAL);
    assert_int_equal(kb_crm_secret_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &n), KB_EINVAL);
    assert_int_equal(kb_crm_secret_decode("whsec_c2hvcnQ=", key, &n), KB_EINVAL); /* 5 bytes */
    assert_int_equal(kb_crm_secret_decode("whsec_!!!notbase64!!!", key, &n), KB_EINVAL);
}

static void event_ids_are_distinct_and_dot_free(void **state)
{
    (void)state;
    char a[40], b[40];
    kb_crm_event_id(a, sizeof a);
    kb_crm_event_id(b, sizeof b);
    assert_int_equal(strlen(a), 26);
    assert_memory_equal(a, "msg_", 4);
    assert_null(strchr(a, '.'));
    assert_string_not_equal(a, b);
}

static void references_are_per_year_and_valid(void **state)
{
    (void)state;
    assert_true(kb_crm_ref_valid("KB-2026-000123"));
    assert_true(kb_crm_ref_valid("KB-2026-1234567"));
    assert_false(kb_crm_ref_valid("KB-2026-123"));
    assert_false(kb_crm_ref_valid("kb-2026-000123"));
    assert_false(kb_crm_ref_valid("KB-26-000123"));
    assert_false(kb_crm_ref_valid("KB-2026-000123x"));
    assert_string_equal(kb_crm_status_label("pending", "fr"), "en attente d'une réponse de votre part");
    assert_string_equal(kb_crm_status_label("solved", "en"), "solved");
    assert_string_equal(kb_crm_status_label("weird", "fr"), "unknown");
    char t[32];
    kb_crm_iso8601(0, t, sizeof t);
    assert_string_equal(t, "1970-01-01T00:00:00Z");
}

static void a_case_and_its_event_commit_together(void **state)
{
    (void)state;
    char dir[] = "/tmp/kb-test-crm-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db[256];
    snprintf(db, sizeof db, "%s/kb.db", dir);
    struct kb_store *st = NULL;
    assert_int_equal(kb_store_open(db, false, &st), KB_OK);
    char ref[KB_CRM_REF_MAX];
    int year = 0;
    int64_t number = 0;
    assert_int_equal(kb_crm_ref_next(st, ref, &year, &number), KB_OK);
    assert_true(kb_crm_ref_valid(ref));
    json_t *tr = json_pack("[{s:i, s:s, s:s, s:s}]", "seq", 1, "from", "customer", "text",
                           "Ma facture <b>est</b> fausse", "at", "2026-12-03T09:15:02Z");
    json_t *arts = json_array();
    struct kb_crm_case_new c = {.subject = "Facture", .lang = "fr", .email = "a@example.org",
                                .consent_at = 1700000000, .consent_text = "D'accord ?",
                                .transcript = tr, .articles = arts};
    /* Rolled back: neither the case nor its event remains. */
    assert_int_equal(kb_store_begin(st), KB_OK);
    assert_int_equal(kb_crm_case_create(st, ref, year, number, &c, 1700000100), KB_OK);
    kb_store_rollback(st);
    struct kb_case_row *row = NULL;
    assert_int_equal(kb_store_case_get(st, ref, &row), KB_ENOTFOUND);
    struct kb_outbox_row *ev = NULL;
    assert_int_equal(kb_store_outbox_next(st, INT64_MAX, &ev), KB_ENOTFOUND);
    /* Committed: both, and the event's data is the case JSON. */
    assert_int_equal(kb_store_begin(st), KB_OK);
    assert_int_equal(kb_crm_case_create(st, ref, year, number, &c, 1700000100), KB_OK);
    assert_int_equal(kb_store_commit(st), KB_OK);
    assert_int_equal(kb_store_case_get(st, ref, &row), KB_OK);
    assert_string_equal(row->status, "new");
    assert_string_equal(row->delivery, "pending");
    assert_int_equal(kb_store_outbox_next(st, INT64_MAX, &ev), KB_OK);
    assert_string_equal(ev->type, "case.created");
    json_t *payload = json_loads(ev->payload, 0, NULL);
    json_t *data = kb_crm_case_json(row);
    assert_true(json_equal(json_object_get(payload, "data"), data));
    assert_string_equal(json_string_value(json_object_get(payload, "type")), "case.created");
    assert_true(json_is_null(json_object_get(json_object_get(data, "contact"), "name")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(data, "consent"), "at")),
                        "2023-11-14T22:13:20Z");
    /* The next reference follows. */
    char ref2[KB_CRM_REF_MAX];
    int64_t number2 = 0;
    assert_int_equal(kb_crm_ref_next(st, ref2, &year, &number2), KB_OK);
    assert_int_equal(number2, number + 1);
    json_decref(payload);
    json_decref(data);
    json_decref(tr);
    json_decref(arts);
    kb_outbox_row_free(ev);
    kb_case_row_free(row);
    kb_store_free(st);
    testfs_rm_rf(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signs_the_standard_webhooks_vector),
        cmocka_unit_test(refuses_malformed_secrets),
        cmocka_unit_test(event_ids_are_distinct_and_dot_free),
        cmocka_unit_test(references_are_per_year_and_valid),
        cmocka_unit_test(a_case_and_its_event_commit_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
