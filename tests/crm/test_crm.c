/* tests/crm: signatures (the Standard Webhooks test vector), secrets, references, a case
 * opened with its event in one transaction, whose payload is the case JSON, and the case state
 * machine with the agents' changes (history rows and case.updated events). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "kb/crm/crm.h"
#include "kb/store/accounts.h"
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

static void the_state_machine_is_the_diagram(void **state)
{
    (void)state;
    static const char *const st[] = {"new", "open", "pending", "solved", "closed"};
    /* allowed[from][to], as case.c's diagram draws it */
    static const int allowed[5][5] = {
        {0, 1, 1, 1, 1}, /* new */
        {0, 0, 1, 1, 1}, /* open */
        {0, 1, 0, 1, 1}, /* pending */
        {0, 1, 0, 0, 1}, /* solved */
        {0, 1, 0, 0, 0}, /* closed */
    };
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            assert_int_equal(kb_crm_case_move_ok(st[i], st[j]), allowed[i][j]);
    assert_false(kb_crm_case_move_ok("weird", "open"));
    assert_false(kb_crm_case_move_ok("new", "weird"));
    assert_null(kb_crm_case_moves("weird")[0]);
    assert_string_equal(kb_crm_case_moves("closed")[0], "open");
    assert_null(kb_crm_case_moves("closed")[1]);
    assert_true(kb_crm_status_valid("pending"));
    assert_false(kb_crm_status_valid("Pending"));
}

/* The last event queued (the outbox has every event of the test's single case). */
static json_t *last_event(struct kb_store *st, int64_t case_id, size_t *count)
{
    struct kb_outbox_row **rows = NULL;
    size_t n = 0;
    assert_int_equal(kb_store_outbox_for_case(st, case_id, &rows, &n), KB_OK);
    assert_true(n > 0);
    json_t *ev = json_loads(rows[n - 1]->payload, 0, NULL);
    *count = n;
    kb_outbox_rows_free(rows, n);
    assert_non_null(ev);
    return ev;
}

static void agents_changes_write_history_and_events(void **state)
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
    json_t *tr = json_array(), *arts = json_array();
    struct kb_crm_case_new c = {.subject = "Facture", .lang = "fr", .name = "Jean",
                                .email = "a@example.org", .transcript = tr, .articles = arts};
    assert_int_equal(kb_store_begin(st), KB_OK);
    assert_int_equal(kb_crm_case_create(st, ref, year, number, &c, 1700000100), KB_OK);
    assert_int_equal(kb_store_user_add(st, "alice", "Alice", "agent", "x", 1, NULL), KB_OK);
    assert_int_equal(kb_store_user_add(st, "gone", "Gone", "agent", "x", 1, NULL), KB_OK);
    assert_int_equal(kb_store_user_set_disabled(st, "gone", true, 1), KB_OK);
    assert_int_equal(kb_store_commit(st), KB_OK);
    struct kb_case_row *row = NULL;
    assert_int_equal(kb_store_case_get(st, ref, &row), KB_OK);
    int64_t id = row->id;
    kb_case_row_free(row);
    bool done = false;
    size_t n = 0;

    /* new -> open: the status, a history row, a case.updated event describing the change. */
    assert_int_equal(kb_crm_case_move(st, ref, "open", "alice", 1700000200, &done), KB_OK);
    assert_true(done);
    json_t *ev = last_event(st, id, &n);
    assert_int_equal(n, 2);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "case.updated");
    json_t *data = json_object_get(ev, "data");
    assert_string_equal(json_string_value(json_object_get(data, "status")), "open");
    assert_true(json_is_null(json_object_get(data, "assignee")));
    json_t *ch = json_object_get(data, "change");
    assert_string_equal(json_string_value(json_object_get(ch, "field")), "status");
    assert_string_equal(json_string_value(json_object_get(ch, "from")), "new");
    assert_string_equal(json_string_value(json_object_get(ch, "to")), "open");
    json_decref(ev);
    /* The same status is no change; open -> new is refused and writes nothing. */
    assert_int_equal(kb_crm_case_move(st, ref, "open", "alice", 1700000201, &done), KB_OK);
    assert_false(done);
    assert_int_equal(kb_crm_case_move(st, ref, "new", "alice", 1700000201, &done), KB_EDENIED);
    assert_int_equal(kb_crm_case_move(st, ref, "lost", "alice", 1700000201, &done), KB_EINVAL);
    assert_int_equal(kb_crm_case_move(st, "KB-2000-000001", "open", "a", 1, &done), KB_ENOTFOUND);
    json_decref(last_event(st, id, &n));
    assert_int_equal(n, 2);

    /* Assign: an unknown or disabled login is refused; a login, case aside, is the user's. */
    assert_int_equal(kb_crm_case_assign(st, ref, "nobody", "alice", 1700000300, &done), KB_EINVAL);
    assert_int_equal(kb_crm_case_assign(st, ref, "gone", "alice", 1700000300, &done), KB_EINVAL);
    assert_int_equal(kb_crm_case_assign(st, ref, "ALICE", "alice", 1700000300, &done), KB_OK);
    assert_true(done);
    assert_int_equal(kb_store_case_get(st, ref, &row), KB_OK);
    assert_string_equal(row->assignee, "alice");
    kb_case_row_free(row);
    ev = last_event(st, id, &n);
    data = json_object_get(ev, "data");
    assert_string_equal(json_string_value(json_object_get(data, "assignee")), "alice");
    ch = json_object_get(data, "change");
    assert_true(json_is_null(json_object_get(ch, "from")));
    assert_string_equal(json_string_value(json_object_get(ch, "to")), "alice");
    json_decref(ev);

    /* Notes: bounded, valid UTF-8; the text travels in the change. */
    assert_int_equal(kb_crm_case_note(st, ref, "", "alice", 1700000400), KB_EINVAL);
    char big[KB_CRM_NOTE_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(kb_crm_case_note(st, ref, big, "alice", 1700000400), KB_EINVAL);
    assert_int_equal(kb_crm_case_note(st, ref, "bad \xff utf-8", "alice", 1700000400), KB_EINVAL);
    assert_int_equal(kb_crm_case_note(st, ref, "Rappelé <b>lundi</b>", "alice", 1700000400),
                     KB_OK);
    ev = last_event(st, id, &n);
    ch = json_object_get(json_object_get(ev, "data"), "change");
    assert_string_equal(json_string_value(json_object_get(ch, "field")), "note");
    assert_string_equal(json_string_value(json_object_get(ch, "to")), "Rappelé <b>lundi</b>");
    json_decref(ev);
    /* No such article. */
    assert_int_equal(kb_crm_case_link(st, ref, "nothing-here", "alice", 1700000500, &done),
                     KB_EINVAL);

    /* The case for agents: assignee, notes, history (created, status, assignee, note). */
    assert_int_equal(kb_store_case_get(st, ref, &row), KB_OK);
    json_t *o = NULL;
    assert_int_equal(kb_crm_case_agent_json(st, row, &o), KB_OK);
    assert_string_equal(json_string_value(json_object_get(o, "assignee")), "alice");
    json_t *notes = json_object_get(o, "notes");
    assert_int_equal(json_array_size(notes), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(notes, 0), "author")),
                        "alice");
    json_t *h = json_object_get(o, "history");
    assert_int_equal(json_array_size(h), 4);
    static const char *const changes[] = {"created", "status", "assignee", "note"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(h, i), "change")),
                            changes[i]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "actor")), "chat");
    assert_int_equal(json_array_size(json_object_get(o, "linked_articles")), 0);
    json_decref(o);
    kb_case_row_free(row);

    /* The inbox: filters, the trigram search, short searches, totals. */
    struct kb_case_filter f = {.status = "open"};
    struct kb_case_item *items = NULL;
    int64_t total = 0;
    assert_int_equal(kb_store_cases_inbox(st, &f, 10, 0, &items, &n, &total), KB_OK);
    assert_int_equal(total, 1);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].assignee, "alice");
    assert_string_equal(items[0].name, "Jean");
    kb_case_items_free(items, n);
    const char *const found[] = {"EXAMPLE", "factur", ref + 8, "je", "a@", NULL};
    for (size_t i = 0; found[i]; i++) {
        f = (struct kb_case_filter){.q = found[i]};
        assert_int_equal(kb_store_cases_inbox(st, &f, 10, 0, &items, &n, &total), KB_OK);
        assert_int_equal(total, 1);
        kb_case_items_free(items, n);
    }
    static const char *const missed[] = {"zzz", "%", "_", "\"", "a\"b", NULL};
    for (size_t i = 0; missed[i]; i++) {
        f = (struct kb_case_filter){.q = missed[i]};
        assert_int_equal(kb_store_cases_inbox(st, &f, 10, 0, &items, &n, &total), KB_OK);
        assert_int_equal(total, 0);
        kb_case_items_free(items, n);
    }
    f = (struct kb_case_filter){.assigned = KB_ASSIGNED_NOBODY};
    assert_int_equal(kb_store_cases_inbox(st, &f, 10, 0, &items, &n, &total), KB_OK);
    assert_int_equal(total, 0);
    kb_case_items_free(items, n);
    assert_int_equal(kb_store_cases_inbox(st, &f, 0, 0, &items, &n, &total), KB_EINVAL);

    json_decref(tr);
    json_decref(arts);
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
        cmocka_unit_test(the_state_machine_is_the_diagram),
        cmocka_unit_test(agents_changes_write_history_and_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
