/* kb/store/feedback.c: "was this helpful?" (see feedback.h).
 *
 *   feedback(id, article_id, helpful, comment, at), and the counters
 *   articles.helpful_yes / helpful_no */
#include "kb/store/feedback.h"

#include <time.h>

#include <sqlite3.h>

#include "kb/store/store_int.h"

static const char SQL_FEEDBACK_ROW[] =
    "INSERT INTO feedback(article_id, helpful, comment, at) "
    "VALUES (?1, ?2, ?3, ?4)";

static const char SQL_FEEDBACK_YES[] =
    "UPDATE articles SET helpful_yes = helpful_yes + 1 WHERE id = ?1";

static const char SQL_FEEDBACK_NO[] =
    "UPDATE articles SET helpful_no = helpful_no + 1 WHERE id = ?1";

enum kb_err kb_store_feedback(struct kb_store *st, int64_t id, bool helpful, const char *comment)
{
    sqlite3_stmt *s = kb_store_stmt(st, SQL_FEEDBACK_ROW);
    if (!s)
        return KB_EDB;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, helpful);
    if (comment && *comment)
        sqlite3_bind_text(s, 3, comment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
    enum kb_err err = sqlite3_step(s) == SQLITE_DONE ? KB_OK : kb_store_fail(st, "feedback");
    sqlite3_reset(s);
    if (!err)
        err = kb_store_step_id(st, helpful ? SQL_FEEDBACK_YES : SQL_FEEDBACK_NO, id,
                               "feedback count");
    return err;
}
