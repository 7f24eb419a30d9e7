"""Classifies the Fashion-MNIST test set with a fetched ONNX model, outside our C++ code: the file
is read with python3-onnx and run by tools/onnx_reference_eval.py, a numpy evaluator written
from the ONNX operator definitions (Debian packages no ONNX runtime that reads int8 QDQ graphs).
The input contract is the model's metadata: float images in [0, 1] at the dataset's size.

    python3 deploy/check_onnx.py MODEL.int8.onnx [MODEL.onnx ...]

For each file, prints its size and the test accuracy computed here next to the one the worker
reported (int8_test_accuracy for an onnx-int8 file, test_accuracy otherwise, from the metadata
nasctl fetch wrote beside it, FILE.json). Exits 1 if they differ by more than 0.002.
"""
import json
import os
import sys
import time

import numpy as np
import onnx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import onnx_reference_eval as ore  # noqa: E402
from check_model import DATA, read_idx  # noqa: E402


def main():
    images = read_idx(DATA + "/t10k-images-idx3-ubyte.gz", 3)[:, None, :, :]
    labels = read_idx(DATA + "/t10k-labels-idx1-ubyte.gz", 1).astype(np.int64)
    failed = False
    for path in sys.argv[1:]:
        with open(path + ".json") as f:
            meta = json.load(f)
        int8 = meta.get("format") == "onnx-int8"
        reported = meta.get("metrics", {}).get("int8_test_accuracy" if int8 else "test_accuracy", -1)
        start = time.time()
        accuracy = ore.accuracy(onnx.load(path), images, labels)
        print(f"{path}: {meta.get('format')}, {os.path.getsize(path)} bytes: test accuracy "
              f"{accuracy:.4f} by the reference ONNX evaluator ({len(labels)} images, "
              f"{time.time() - start:.0f} s); the worker reported {reported:.4f}", flush=True)
        if reported >= 0 and abs(accuracy - reported) > 0.002:
            print("check_onnx: the accuracies differ", file=sys.stderr)
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
