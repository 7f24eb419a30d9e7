#!/usr/bin/env bash
# fp32 against int8 accuracy of the finished models of one real search: the post-training int8
# model, and the int8 model after quantization-aware fine-tuning (docs/int8.md).
#
#   tests/benchmarks/int8_benchmark.sh            # about 15 minutes on 2 cores
#
# Runs deploy/quickstart.sh with tests/benchmarks/int8_search.textproto (embedded PostgreSQL,
# the controller, two trainer workers), then fetches every finished model's int8 ONNX file with
# its metadata and prints a Markdown table. NAS_STATE_DIR keeps the state (default: a new
# temporary directory); NAS_PORT (default 50151).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/benchmarks/search_on_quickstart.sh
source tests/benchmarks/search_on_quickstart.sh
echo "int8_benchmark: running the search (log: $state/quickstart.log)" >&2
run_search_on_quickstart tests/benchmarks/int8_search.textproto 50151
mkdir -p "$state/models"
for id in $("$nasctl" candidates "$search" --state=evaluated --json \
            | sed -n 's/^{"id":"\{0,1\}\([0-9]*\).*/\1/p'); do
  "$nasctl" fetch "$id" --format=onnx-int8 --out="$state/models/$id.int8.onnx" >/dev/null
done
/usr/bin/python3 - "$state/models" "$search" <<'PY'
import glob, json, os, sys
rows = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.int8.onnx.json"))):
    meta = json.load(open(path))
    m, q = meta["metrics"], meta.get("quantization", {})
    rows.append((int(meta["candidate_id"]), m.get("params", 0), m["val_accuracy"],
                 q.get("post_training_val_accuracy", 0), m.get("int8_val_accuracy", 0),
                 m.get("test_accuracy", -1), q.get("post_training_test_accuracy", -1),
                 m.get("int8_test_accuracy", -1), q.get("fine_tuned", False),
                 os.path.getsize(path[:-5])))
print(f"Search {sys.argv[2]}: {len(rows)} finished models\n")
print("| candidate | params | fp32 val | int8 PTQ val | int8 final val | fp32 test "
      "| int8 PTQ test | int8 final test | fine-tuned | int8 ONNX bytes |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {int(r[1])} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.4f} "
          f"| {r[6]:.4f} | {r[7]:.4f} | {'yes' if r[8] else 'no'} | {r[9]} |")
if rows:
    n = len(rows)
    mean = lambda i: sum(r[i] for r in rows) / n
    print(f"\nMean test accuracy: fp32 {mean(5):.4f}, int8 post-training {mean(6):.4f} "
          f"({100 * (mean(6) - mean(5)):+.2f} points), int8 final {mean(7):.4f} "
          f"({100 * (mean(7) - mean(5)):+.2f} points)")
PY
