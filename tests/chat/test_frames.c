/* tests/chat: the protocol's frames (parsing what clients and agents send, building what the
 * server sends) and the rate limits, without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kb/chat/frames.h"
#include "kb/base/ratelimit.h"

static enum kb_err parse(const char *s, struct kb_chat_frame *f, const char **why)
{
    return kb_chat_frame_parse(s, strlen(s), f, why);
}

static void parses_the_three_client_frames(void **state)
{
    (void)state;
    struct kb_chat_frame f;
    const char *why = NULL;
    assert_int_equal(parse("{\"type\":\"start\",\"lang\":\"fr\",\"resume\":\"abc\",\"after\":12,"
                           "\"page\":\"/a/slug\"}", &f, &why), KB_OK);
    assert_int_equal(f.type, KB_CHAT_START);
    assert_string_equal(f.lang, "fr");
    assert_string_equal(f.resume, "abc");
    assert_true(f.has_after);
    assert_int_equal(f.after, 12);
    assert_string_equal(f.page, "/a/slug");
    kb_chat_frame_release(&f);
    assert_int_equal(parse("{\"type\":\"start\",\"lang\":\"en\"}", &f, &why), KB_OK);
    assert_null(f.resume);
    assert_false(f.has_after);
    kb_chat_frame_release(&f);
    assert_int_equal(parse("{\"type\":\"message\",\"id\":\"c-42\",\"text\":\"  Où est ma voiture ?\\n\"}",
                           &f, &why), KB_OK);
    assert_string_equal(f.id, "c-42");
    assert_string_equal(f.text, "Où est ma voiture ?");
    kb_chat_frame_release(&f);
    assert_int_equal(parse("{\"type\":\"end\"}", &f, &why), KB_OK);
    assert_int_equal(f.type, KB_CHAT_END);
    kb_chat_frame_release(&f);
}

static void refuses_bad_frames_with_a_reason(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "nope", "[]", "\"start\"", "{}", "{\"type\":1}", "{\"type\":\"dance\"}",
        "{\"type\":\"start\"}", "{\"type\":\"start\",\"lang\":\"f\"}",
        "{\"type\":\"start\",\"lang\":\"fr\",\"after\":-1}",
        "{\"type\":\"start\",\"lang\":\"fr\",\"after\":\"3\"}",
        "{\"type\":\"start\",\"lang\":\"fr<script>\"}",
        "{\"type\":\"message\",\"id\":\"a\"}", "{\"type\":\"message\",\"text\":\"a\"}",
        "{\"type\":\"message\",\"id\":\"\",\"text\":\"a\"}",
        "{\"type\":\"message\",\"id\":\"a\",\"text\":\" \\t\\n\"}",
        "{\"type\":\"message\",\"id\":\"a\\u0000b\",\"text\":\"x\"}",
        "{\"type\":\"message\",\"id\":\"a\",\"text\":\"x\",\"type\":\"end\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kb_chat_frame f;
        const char *why = NULL;
        assert_int_equal(parse(bad[i], &f, &why), KB_EINVAL);
        assert_non_null(why);
    }
    char id[80];
    memset(id, 'x', 65);
    id[65] = 0;
    char big[200];
    snprintf(big, sizeof big, "{\"type\":\"message\",\"id\":\"%s\",\"text\":\"x\"}", id);
    struct kb_chat_frame f;
    const char *why = NULL;
    assert_int_equal(parse(big, &f, &why), KB_EINVAL);
    /* Invalid UTF-8, and a frame over 4 KiB. */
    const char inval[] = "{\"type\":\"end\",\"x\":\"\xff\"}";
    assert_int_equal(kb_chat_frame_parse(inval, sizeof inval - 1, &f, &why), KB_EINVAL);
    char *huge = malloc(KB_CHAT_FRAME_MAX + 2);
    memset(huge, ' ', KB_CHAT_FRAME_MAX + 1);
    huge[KB_CHAT_FRAME_MAX + 1] = 0;
    assert_int_equal(kb_chat_frame_parse(huge, KB_CHAT_FRAME_MAX + 1, &f, &why), KB_ETOOBIG);
    free(huge);
}

static void builds_server_frames_as_the_protocol_says(void **state)
{
    (void)state;
    char *s = kb_chat_frame_started("tok", true, 7);
    assert_string_equal(s, "{\"type\":\"started\",\"conversation\":\"tok\",\"resumed\":true,\"seq\":7}");
    free(s);
    s = kb_chat_frame_ack("c-1", 5);
    assert_string_equal(s, "{\"type\":\"ack\",\"id\":\"c-1\",\"seq\":5}");
    free(s);
    s = kb_chat_frame_reply(6, "Bonjour <b>", NULL, NULL);
    assert_string_equal(s, "{\"type\":\"reply\",\"seq\":6,\"text\":\"Bonjour <b>\","
                           "\"quick_replies\":[],\"articles\":[]}");
    free(s);
    s = kb_chat_frame_case("KB-2026-000123", 7);
    assert_string_equal(s, "{\"type\":\"case\",\"ref\":\"KB-2026-000123\",\"seq\":7}");
    free(s);
    s = kb_chat_frame_error("rate_limited", "slow down");
    assert_string_equal(s, "{\"type\":\"error\",\"code\":\"rate_limited\",\"message\":\"slow down\"}");
    free(s);
    json_t *m = json_pack("[{s:i}]", "seq", 3);
    s = kb_chat_frame_history(m);
    assert_string_equal(s, "{\"type\":\"history\",\"messages\":[{\"seq\":3}]}");
    free(s);
    json_decref(m);
}

/* The live takeover's server frames, exactly as the README's protocol table says. */
static void builds_the_takeover_frames(void **state)
{
    (void)state;
    char *s = kb_chat_frame_handoff("waiting", NULL, 8);
    assert_string_equal(s, "{\"type\":\"handoff\",\"state\":\"waiting\",\"name\":null,\"seq\":8}");
    free(s);
    s = kb_chat_frame_handoff("joined", "Marie <b>", 9);
    assert_string_equal(s, "{\"type\":\"handoff\",\"state\":\"joined\",\"name\":\"Marie <b>\","
                           "\"seq\":9}");
    free(s);
    s = kb_chat_frame_agent(10, "Bonjour", "Marie", NULL);
    assert_string_equal(s, "{\"type\":\"agent\",\"seq\":10,\"text\":\"Bonjour\",\"name\":\"Marie\","
                           "\"articles\":[]}");
    free(s);
    json_t *cards = json_pack("[{s:s}]", "slug", "garantie");
    s = kb_chat_frame_agent(11, "voici", "Marie", cards);
    assert_string_equal(s, "{\"type\":\"agent\",\"seq\":11,\"text\":\"voici\",\"name\":\"Marie\","
                           "\"articles\":[{\"slug\":\"garantie\"}]}");
    free(s);
    json_decref(cards);
}

/* What a customer's connection sends is never an agent's action: the customer parser knows
 * start, message and end only, whatever the frame claims to be. */
static void a_customer_cannot_send_agent_frames(void **state)
{
    (void)state;
    static const char *const agentish[] = {
        "{\"type\":\"take\",\"conversation\":\"conv_x\"}",
        "{\"type\":\"leave\",\"conversation\":\"conv_x\"}",
        "{\"type\":\"case\",\"conversation\":\"conv_x\",\"subject\":\"s\"}",
        "{\"type\":\"agent\",\"seq\":3,\"text\":\"x\",\"name\":\"Marie\",\"articles\":[]}",
        "{\"type\":\"handoff\",\"state\":\"joined\",\"name\":\"Marie\"}",
    };
    for (size_t i = 0; i < sizeof agentish / sizeof agentish[0]; i++) {
        struct kb_chat_frame f;
        const char *why = NULL;
        assert_int_equal(parse(agentish[i], &f, &why), KB_EINVAL);
        assert_string_equal(why, "unknown frame type");
    }
}

static enum kb_err aparse(const char *s, struct kb_chat_agent_frame *f, const char **why)
{
    return kb_chat_agent_frame_parse(s, strlen(s), f, why);
}

static void parses_the_agents_frames(void **state)
{
    (void)state;
    struct kb_chat_agent_frame f;
    const char *why = NULL;
    assert_int_equal(aparse("{\"type\":\"take\",\"conversation\":\"conv_Ab-9_\"}", &f, &why), KB_OK);
    assert_int_equal(f.type, KB_AGENT_TAKE);
    assert_string_equal(f.conversation, "conv_Ab-9_");
    kb_chat_agent_frame_release(&f);
    assert_int_equal(aparse("{\"type\":\"message\",\"conversation\":\"conv_a\",\"id\":\"a-1\","
                            "\"text\":\"  Bonjour <b>\\n\",\"articles\":[\"garantie\",\"x-y_z\"]}",
                            &f, &why), KB_OK);
    assert_int_equal(f.type, KB_AGENT_MESSAGE);
    assert_string_equal(f.id, "a-1");
    assert_string_equal(f.text, "Bonjour <b>");
    assert_int_equal(f.nslugs, 2);
    assert_string_equal(f.slugs[0], "garantie");
    assert_string_equal(f.slugs[1], "x-y_z");
    kb_chat_agent_frame_release(&f);
    assert_int_equal(aparse("{\"type\":\"message\",\"conversation\":\"conv_a\",\"id\":\"a\","
                            "\"text\":\"x\",\"articles\":null}", &f, &why), KB_OK);
    assert_int_equal(f.nslugs, 0);
    kb_chat_agent_frame_release(&f);
    assert_int_equal(aparse("{\"type\":\"leave\",\"conversation\":\"conv_a\"}", &f, &why), KB_OK);
    assert_int_equal(f.type, KB_AGENT_LEAVE);
    kb_chat_agent_frame_release(&f);
    assert_int_equal(aparse("{\"type\":\"end\",\"conversation\":\"conv_a\"}", &f, &why), KB_OK);
    assert_int_equal(f.type, KB_AGENT_END);
    kb_chat_agent_frame_release(&f);
    assert_int_equal(aparse("{\"type\":\"case\",\"conversation\":\"conv_a\",\"subject\":\" Siège \"}",
                            &f, &why), KB_OK);
    assert_int_equal(f.type, KB_AGENT_CASE);
    assert_string_equal(f.subject, "Siège");
    kb_chat_agent_frame_release(&f);
}

static void refuses_bad_agent_frames(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "[]", "{}", "{\"type\":\"take\"}", "{\"type\":\"start\",\"lang\":\"fr\"}",
        "{\"type\":\"take\",\"conversation\":\"\"}",
        "{\"type\":\"take\",\"conversation\":\"conv x\"}",
        "{\"type\":\"take\",\"conversation\":\"conv_<script>\"}",
        "{\"type\":\"take\",\"conversation\":\"conv_0123456789012345678901234567890123456\"}",
        "{\"type\":\"take\",\"conversation\":3}",
        "{\"type\":\"message\",\"conversation\":\"conv_a\",\"text\":\"x\"}",
        "{\"type\":\"message\",\"conversation\":\"conv_a\",\"id\":\"\",\"text\":\"x\"}",
        "{\"type\":\"message\",\"conversation\":\"conv_a\",\"id\":\"a\",\"text\":\"  \"}",
        "{\"type\":\"message\",\"conversation\":\"conv_a\",\"id\":\"a\",\"text\":\"x\","
        "\"articles\":[\"a\",\"b\",\"c\",\"d\"]}",
        "{\"type\":\"message\",\"conversation\":\"conv_a\",\"id\":\"a\",\"text\":\"x\","
        "\"articles\":[\"../etc\"]}",
        "{\"type\":\"message\",\"conversation\":\"conv_a\",\"id\":\"a\",\"text\":\"x\","
        "\"articles\":\"garantie\"}",
        "{\"type\":\"message\",\"conversation\":\"conv_a\",\"id\":\"a\",\"text\":\"x\","
        "\"articles\":[1]}",
        "{\"type\":\"case\",\"conversation\":\"conv_a\"}",
        "{\"type\":\"case\",\"conversation\":\"conv_a\",\"subject\":\" \"}",
        "{\"type\":\"take\",\"conversation\":\"conv_a\",\"type\":\"end\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kb_chat_agent_frame f;
        const char *why = NULL;
        assert_int_equal(aparse(bad[i], &f, &why), KB_EINVAL);
        assert_non_null(why);
        assert_null(f.conversation); /* nothing left to free */
    }
    /* A text over 4000 bytes, a subject over 300, a frame over 8 KiB. */
    char *big = malloc(KB_CHAT_AGENT_FRAME_MAX + 2);
    char *text = malloc(KB_CHAT_AGENT_TEXT_MAX + 2);
    assert_non_null(big);
    assert_non_null(text);
    if (!big || !text)
        return;
    memset(text, 'x', KB_CHAT_AGENT_TEXT_MAX + 1);
    text[KB_CHAT_AGENT_TEXT_MAX + 1] = 0;
    snprintf(big, KB_CHAT_AGENT_FRAME_MAX + 2,
             "{\"type\":\"message\",\"conversation\":\"conv_a\",\"id\":\"a\",\"text\":\"%s\"}", text);
    struct kb_chat_agent_frame f;
    const char *why = NULL;
    assert_int_equal(aparse(big, &f, &why), KB_EINVAL);
    text[KB_CHAT_SUBJECT_MAX + 1] = 0;
    snprintf(big, KB_CHAT_AGENT_FRAME_MAX + 2,
             "{\"type\":\"case\",\"conversation\":\"conv_a\",\"subject\":\"%s\"}", text);
    assert_int_equal(aparse(big, &f, &why), KB_EINVAL);
    memset(big, ' ', KB_CHAT_AGENT_FRAME_MAX + 1);
    assert_int_equal(kb_chat_agent_frame_parse(big, KB_CHAT_AGENT_FRAME_MAX + 1, &f, &why),
                     KB_ETOOBIG);
    free(big);
    free(text);
}

static void buckets_allow_bursts_then_the_rate(void **state)
{
    (void)state;
    struct kb_rate_bucket b = {0};
    int ok = 0;
    for (int i = 0; i < 30; i++)
        ok += kb_rate_take(&b, 5, 20, 1000);
    assert_int_equal(ok, 20);
    assert_false(kb_rate_take(&b, 5, 20, 1100)); /* 0.5 token */
    assert_true(kb_rate_take(&b, 5, 20, 1200));  /* 1 token after 200 ms */
    assert_true(kb_rate_take(&b, 5, 20, 100000));
}

static void addresses_are_counted_and_forgotten(void **state)
{
    (void)state;
    struct kb_rate_addrs *t = NULL;
    assert_int_equal(kb_rate_addrs_new(&t), KB_OK);
    char name[48];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "10.0.%d.%d", i / 256, i % 256);
        struct kb_rate_addr *a = kb_rate_addrs_get(t, name, i < 2500 ? 1000 : 4000);
        assert_non_null(a);
        assert_string_equal(a->addr, name);
        a->conns = i % 2;
    }
    assert_int_equal(kb_rate_addrs_count(t), 5000);
    assert_ptr_equal(kb_rate_addrs_get(t, "10.0.9.1", 4000), kb_rate_addrs_get(t, "10.0.9.1", 4000));
    /* Idle for 2 s at 5000: the first half without a connection goes (1,250 addresses). */
    kb_rate_addrs_sweep(t, 2000, 5000);
    assert_int_equal(kb_rate_addrs_count(t), 3750);
    kb_rate_addrs_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_three_client_frames),
        cmocka_unit_test(refuses_bad_frames_with_a_reason),
        cmocka_unit_test(builds_server_frames_as_the_protocol_says),
        cmocka_unit_test(builds_the_takeover_frames),
        cmocka_unit_test(a_customer_cannot_send_agent_frames),
        cmocka_unit_test(parses_the_agents_frames),
        cmocka_unit_test(refuses_bad_agent_frames),
        cmocka_unit_test(buckets_allow_bursts_then_the_rate),
        cmocka_unit_test(addresses_are_counted_and_forgotten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
