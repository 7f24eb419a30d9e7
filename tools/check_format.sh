#!/usr/bin/env bash
# The repository's own .clang-format (Google style, 100 columns), checked on every C++ file git
# tracks: prints each file that clang-format would change, with the first lines of its diff,
# and exits non-zero if there is any. Fix them with:
#
#   git ls-files '*.cc' '*.h' | grep -v '^third_party/' | xargs clang-format -i
set -uo pipefail
cd "$(dirname "$0")/.."
format=$(command -v clang-format-14 || command -v clang-format) \
  || { echo "check_format: clang-format is not installed (deploy/install-deps.sh)" >&2; exit 2; }
bad=0
checked=0
while read -r f; do
  checked=$((checked + 1))
  if ! "$format" --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad=$((bad + 1))
    echo "check_format: $f is not formatted:"
    "$format" "$f" | diff -u "$f" - | sed -n '3,14p'
  fi
done < <(git ls-files '*.cc' '*.h' | grep -v '^third_party/')
echo "check_format: $checked files, $bad not formatted"
[ "$bad" -eq 0 ]
