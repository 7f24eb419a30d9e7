#!/usr/bin/env bash
# The trainer's TorchScript export loads in python3-torch (PyTorch) and gives the outputs of
# the trained LibTorch network within 1e-4.
set -euo pipefail
dir=${TEST_TMPDIR:-$(mktemp -d)}
trainer/export_reference "$dir"
# Debian's python3 (python3-torch), not a python3 earlier on PATH.
/usr/bin/python3 - "$dir" <<'PY'
import sys
import numpy as np
import torch
d = sys.argv[1]
n, classes = map(int, open(d + "/shape.txt").read().split())
x = torch.from_numpy(np.fromfile(d + "/input.f32", dtype=np.float32).reshape(n, 1, 28, 28))
expected = np.fromfile(d + "/expected.f32", dtype=np.float32).reshape(n, classes)
model = torch.jit.load(d + "/model.pt")
with torch.no_grad():
    got = model(x).numpy()
diff = float(np.abs(got - expected).max())
print(f"PyTorch {torch.__version__}: max |difference| {diff:.2e} over {n} x {classes} logits")
if diff > 1e-4 or (got.argmax(1) != expected.argmax(1)).any():
    sys.exit("exported model does not match the trained network")
PY
