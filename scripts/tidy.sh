#!/usr/bin/env bash
# clang-tidy (checks in .clang-tidy) over our C++ files, with the compile commands of a build
# tree. ctest runs it as clang_tidy_check (label lint).
#
#   scripts/tidy.sh [BUILD_DIR]            # the .cc files changed since the merge-base with
#                                          # origin/main (else main), plus the .cc beside each
#                                          # changed header; every file when there is no such base
#   TIDY_ALL=1 scripts/tidy.sh [BUILD_DIR] # every file of compile_commands.json
#   JOBS=2 ...                             # parallel clang-tidy runs (default 2)
#
# Generated sources (protobuf, the embedded OpenAPI) are never checked. Exits non-zero when
# clang-tidy reports anything, and says which files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${BUILD_DIR:-$root/build}}
[[ $build = /* ]] || build=$root/$build
db=$build/compile_commands.json
[[ -f $db ]] || { echo "tidy: $db is missing: configure the build first" >&2; exit 2; }
tidy=${CLANG_TIDY:-$(command -v clang-tidy || true)}
[[ -n $tidy ]] || { echo "tidy: clang-tidy not found (apt-get install clang-tidy)" >&2; exit 2; }

# Our translation units in the build: under the checkout, not generated into the build tree.
mapfile -t all < <(/usr/bin/python3 - "$db" "$root" "$build" <<'PY'
import json, os, sys
db, root, build = sys.argv[1:4]
seen = set()
for entry in json.load(open(db)):
    path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
    if path.startswith(root + "/") and not path.startswith(os.path.realpath(build) + "/"):
        seen.add(os.path.relpath(path, root))
print("\n".join(sorted(seen)))
PY
)

files=()
base=""
if [[ ${TIDY_ALL:-0} != 1 ]] && git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  for ref in origin/main main; do
    if base=$(git -C "$root" merge-base HEAD "$ref" 2>/dev/null); then break; fi
    base=""
  done
fi
if [[ -n $base ]]; then
  declare -A wanted=()
  while IFS= read -r f; do
    case $f in
      *.cc) wanted[$f]=1 ;;
      *.h) [[ -f $root/${f%.h}.cc ]] && wanted[${f%.h}.cc]=1 ;;
    esac
  done < <(git -C "$root" diff --name-only --diff-filter=d "$base" -- '*.cc' '*.h')
  for f in "${all[@]}"; do [[ -n ${wanted[$f]:-} ]] && files+=("$f"); done
  echo "tidy: ${#files[@]} changed file(s) since $(git -C "$root" rev-parse --short "$base")"
else
  files=("${all[@]}")
  echo "tidy: all ${#files[@]} files"
fi
((${#files[@]})) || exit 0

start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
(cd "$root" && printf '%s\0' "${files[@]}" |
  xargs -0 -n 1 -P "${JOBS:-2}" "$tidy" -p "$build" --quiet) >"$log" 2>&1 || status=$?
grep -E '(warning|error): ' "$log" | grep -v 'warnings generated' || true
echo "tidy: ${#files[@]} file(s) in $(($(date +%s) - start)) s"
if ((status != 0)); then
  echo "tidy: clang-tidy reported problems in: $(grep -E '(warning|error): ' "$log" | grep -oE '^/[^:]+' | sort -u | tr '\n' ' ')" >&2
  exit 1
fi
