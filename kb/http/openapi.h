/* kb/http/openapi.h: the OpenAPI 3.1 document of the JSON API, built into the binary.
 *
 * The source is kb/http/openapi.json; at build time openapi_embed.py checks that it is JSON
 * and an OpenAPI 3.1 document, compacts it and writes it out as this array (openapi_json.c in
 * the build folder). GET /api/v1/openapi.json serves it (api.c); the integration test
 * tests/integration/openapi.test.mjs holds it to the route table and to the real answers. */
#ifndef KB_HTTP_OPENAPI_H
#define KB_HTTP_OPENAPI_H

#include <stddef.h>

/* The document's bytes (UTF-8 JSON, not NUL-terminated) and their number; static data. */
extern const unsigned char kb_http_openapi_json[];
extern const size_t kb_http_openapi_json_len;

#endif
