# tests/fuzz/common.sh: sourced by the run-*-fuzz.sh scripts. From the repository root, with
# clang installed; fuzzers and their corpora go to $out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v clang >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null
out=build-fuzz
