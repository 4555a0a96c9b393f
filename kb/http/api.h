/* kb/http/api.h: JSON shapes shared by the HTTP API and the CLI (`kb search --json`). */
#ifndef KB_API_H
#define KB_API_H

#include <stdint.h>

#include <jansson.h>

#include "kb/base/buf.h"
#include "search/search.h"

/* The search response object:
 *   {"results":[{"slug","title","url","snippet","score","category","lang"}], "total",
 *    "facets":{"category":{"<name>":count,...}}, "did_you_mean", "corrected_query", "took_ms"}
 * plus "search_id" when search_id is not NULL (a token to pass back as ?s= when opening a
 * result, so that the click is logged). New reference; NULL when out of memory. */
json_t *kb_http_search_json(const struct search_result *r, const char *search_id);

/* How the API and the CLI print JSON: compact, and doubles (scores, took_ms) with 9
 * significant digits, not jansson's 17 ("took_ms":0.71234567890123456). */
#define KB_API_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

#endif
