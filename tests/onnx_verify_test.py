#!/usr/bin/python3
"""The ONNX files a worker writes compute what the worker reports, run by code that is not ours.

trainer/onnx_reference trains, quantizes and exports random candidates of both built-in spaces
as a worker does (the same library calls), and writes what a worker would report. For each:
  - both ONNX files pass python3-onnx's checker;
  - the int8 file's size is within 10% of the int8 model bytes the cost model (and so every
    int8 profile) gives the candidate;
  - the int8 QDQ file, run by tools/onnx_reference_eval.py (numpy, written from the ONNX
    operator definitions; no Debian runtime reads QDQ graphs), classifies the test images with
    the int8 accuracy the worker reported, within 0.2 points;
  - the fp32 file gives the accuracy of the TorchScript file (loaded by python3-torch) within
    0.1 points, run by OpenCV's DNN module where it reads the graph (it rejects opset-13 Clip,
    i.e. ReLU6, and broadcasts squeeze-excite gates wrongly) and by the reference evaluator.

ONNX_VERIFY_COUNT candidates (default 6; the issue's 30 are
`ONNX_VERIFY_COUNT=30 bazel-bin/tests/onnx_verify_test` after a build, about 40 minutes, as
docs/int8.md records), on ONNX_VERIFY_IMAGES test images (default 1000).
"""
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import onnx_reference_eval as ore  # noqa: E402


def report(path):
    out = {}
    for line in open(path):
        key, value = line.split()
        out[key] = value if key == "space" else float(value)
    return out


def torchscript_accuracy(path, images, labels):
    model = torch.jit.load(path)
    with torch.no_grad():
        logits = model(torch.from_numpy(images.astype(np.float32) / 255))
    return float((logits.argmax(1).numpy() == labels).mean())


def opencv_accuracy(path, images, labels):
    """None when OpenCV's DNN module cannot read or run the graph."""
    try:
        net = cv2.dnn.readNetFromONNX(path)
        net.setInput(images.astype(np.float32) / 255)
        logits = net.forward()
    except cv2.error:
        return None
    if logits.shape != (len(labels), 10):
        return None
    return float((logits.argmax(1) == labels).mean())


def main():
    count = int(os.environ.get("ONNX_VERIFY_COUNT", "6"))
    n_images = int(os.environ.get("ONNX_VERIFY_IMAGES", "1000"))
    out = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
    tool = os.path.join(HERE, "..", "trainer", "onnx_reference")
    subprocess.run([tool, out, str(count), "29", str(n_images)], check=True)
    images = np.fromfile(os.path.join(out, "test_images.u8"), np.uint8).reshape(-1, 1, 28, 28)
    labels = np.fromfile(os.path.join(out, "test_labels.u8"), np.uint8).astype(np.int64)
    failures = []
    opencv_read = 0
    print(f"{'#':>3} {'space':<12} {'int8 B':>8} {'model B':>8} {'fp32 TS':>8} {'fp32 ONNX':>9} "
          f"{'OpenCV':>7} {'int8 rep':>8} {'int8 ONNX':>9} {'PTQ drop':>8}")
    for i in range(count):
        d = os.path.join(out, f"{i:02d}")
        r = report(os.path.join(d, "report.txt"))
        fp32_path, int8_path = os.path.join(d, "model.onnx"), os.path.join(d, "model.int8.onnx")
        fp32, int8 = onnx.load(fp32_path), onnx.load(int8_path)
        for name, m in (("fp32", fp32), ("int8", int8)):
            try:
                onnx.checker.check_model(m)
            except onnx.checker.ValidationError as e:
                failures.append(f"{d}: the {name} file fails python3-onnx's checker: {e}")
        if int8.opset_import[0].version < 13:
            failures.append(f"{d}: opset {int8.opset_import[0].version} < 13")
        int8_weights = [t for t in int8.graph.initializer if t.data_type == onnx.TensorProto.INT8
                        and len(t.dims) > 1]
        if not int8_weights:
            failures.append(f"{d}: the int8 file has no int8 weights")
        size = os.path.getsize(int8_path)
        if abs(size / r["int8_model_bytes"] - 1) > 0.10:
            failures.append(f"{d}: int8 file {size} B is not within 10% of the modelled "
                            f"{int(r['int8_model_bytes'])} B")
        ts = torchscript_accuracy(os.path.join(d, "model.pt"), images, labels)
        ref_fp32 = ore.accuracy(fp32, images, labels)
        ref_int8 = ore.accuracy(int8, images, labels)
        cv = opencv_accuracy(fp32_path, images, labels)
        if abs(ts - r["fp32_test"]) > 0.001:
            failures.append(f"{d}: TorchScript {ts:.4f} != reported fp32 {r['fp32_test']:.4f}")
        if abs(ref_fp32 - ts) > 0.001:
            failures.append(f"{d}: fp32 ONNX (reference) {ref_fp32:.4f} != TorchScript {ts:.4f}")
        if cv is not None:
            opencv_read += 1
            if abs(cv - ts) > 0.001:
                failures.append(f"{d}: fp32 ONNX (OpenCV) {cv:.4f} != TorchScript {ts:.4f}")
        if abs(ref_int8 - r["int8_test"]) > 0.002:
            failures.append(f"{d}: int8 ONNX (reference) {ref_int8:.4f} != reported int8 "
                            f"{r['int8_test']:.4f}")
        print(f"{i:>3} {r['space']:<12} {size:>8} {int(r['int8_model_bytes']):>8} {ts:>8.4f} "
              f"{ref_fp32:>9.4f} {('-' if cv is None else f'{cv:.4f}'):>7} "
              f"{r['int8_test']:>8.4f} {ref_int8:>9.4f} "
              f"{r['fp32_val'] - r['post_training_val']:>8.4f}", flush=True)
    resnets = sum(1 for i in range(count)
                  if report(os.path.join(out, f"{i:02d}", "report.txt"))["space"] == "resnet")
    if resnets and opencv_read == 0:
        failures.append("OpenCV read none of the fp32 files (it reads the ResNet-space graphs)")
    print(f"{count} candidates; OpenCV's DNN module read {opencv_read} fp32 files")
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
