/* kb/api.h: JSON shapes shared by the HTTP API and the CLI (`kb search --json`). */
#ifndef KB_API_H
#define KB_API_H

#include <stdint.h>

#include <jansson.h>

#include "kb/buf.h"
#include "search/search.h"

/* The search response object:
 *   {"results":[{"slug","title","url","snippet","score","category","lang"}], "total",
 *    "facets":{"category":{"<name>":count,...}}, "did_you_mean", "took_ms"}
 * plus "search_id" when search_id is not 0 (pass it back as ?s= when opening a result so
 * the click is logged). New reference; NULL when out of memory. */
json_t *kb_api_search_json(const struct search_result *r, int64_t search_id);

#endif
