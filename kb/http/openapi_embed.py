#!/usr/bin/env python3
"""kb/http/openapi_embed.py: turn kb/http/openapi.json into C (meson runs it at build time).

usage: openapi_embed.py INPUT.json OUTPUT.c

The document must parse as JSON (duplicate keys refused) and say "openapi": "3.1.x", or the
build fails here rather than a client later. It is written compact (the served bytes) as the
array kb_http_openapi_json declared in kb/http/openapi.h.
"""
import json
import sys


def refuse_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = argv[1], argv[2]
    try:
        with open(src, encoding="utf-8") as f:
            doc = json.load(f, object_pairs_hook=refuse_duplicates)
    except (OSError, ValueError) as e:
        print(f"{src}: {e}", file=sys.stderr)
        return 1
    version = doc.get("openapi") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith("3.1."):
        print(f"{src}: not an OpenAPI 3.1 document (openapi: {version!r})", file=sys.stderr)
        return 1
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    lines = []
    for i in range(0, len(data), 20):
        lines.append("    " + ", ".join(str(b) for b in data[i:i + 20]) + ",")
    with open(out, "w", encoding="ascii") as f:
        name = src.rsplit("/", 1)[-1]
        f.write(f"/* Generated from {name} by openapi_embed.py: do not edit. */\n")
        f.write('#include "kb/http/openapi.h"\n\n')
        f.write("const unsigned char kb_http_openapi_json[] = {\n")
        f.write("\n".join(lines))
        f.write("\n};\n")
        f.write(f"const size_t kb_http_openapi_json_len = {len(data)};\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
