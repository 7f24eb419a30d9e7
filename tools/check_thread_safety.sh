#!/usr/bin/env bash
# GCC ignores Abseil's thread-safety annotations (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED,
# ...), so this compiles every translation unit that uses them with clang and
# -Werror=thread-safety (syntax only: nothing is linked), against the headers Bazel generated.
# Run after `bazel build //...`; exits non-zero on the first warning clang gives.
set -uo pipefail
cd "$(dirname "$0")/.."
clang=$(command -v clang++-14 || command -v clang++) \
  || { echo "check_thread_safety: clang++ is not installed (deploy/install-deps.sh)" >&2; exit 2; }
[ -f bazel-bin/proto/nas.pb.h ] \
  || { echo "check_thread_safety: run bazel build //... first (generated headers)" >&2; exit 2; }
# Every .cc that includes (or is) a file with an annotation.
annotated=$(git grep -l -E 'ABSL_(GUARDED_BY|PT_GUARDED_BY|EXCLUSIVE_LOCKS_REQUIRED|LOCKS_EXCLUDED|SHARED_LOCKS_REQUIRED)' \
  -- '*.h' '*.cc' | grep -v '^third_party/')
units=()
for f in $annotated; do
  case $f in
    *.cc) units+=("$f") ;;
    *.h) while read -r u; do units+=("$u"); done \
           < <(git grep -l -F "#include \"$f\"" -- '*.cc' | grep -v '^third_party/') ;;
  esac
done
mapfile -t units < <(printf '%s\n' "${units[@]}" | sort -u)
failed=0
for u in "${units[@]}"; do
  if ! out=$("$clang" -std=c++17 -fsyntax-only -Wthread-safety -Werror=thread-safety \
      -Wno-unknown-warning-option -I. -Ibazel-bin -isystem /usr/include/postgresql "$u" 2>&1); then
    failed=$((failed + 1))
    echo "check_thread_safety: $u:"
    echo "$out" | grep -E 'error|warning|note' | head -n 20
  fi
done
echo "check_thread_safety: ${#units[@]} translation units, $failed with findings"
[ "$failed" -eq 0 ]
