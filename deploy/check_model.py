"""Loads an exported model in PyTorch and classifies the Fashion-MNIST test set with it, the way
a user of the model would: float images in [0, 1] at the dataset's size; the model normalises
and resizes them itself.

    python3 deploy/check_model.py MODEL.pt [MODEL.pt.json]

Prints the test accuracy measured here and, from the metadata nasctl fetch wrote beside the
model, the test accuracy the worker reported. Exits 1 if they differ by more than 0.002.
"""
import gzip
import json
import struct
import sys

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path, dims):
    with gzip.open(path, "rb") as f:
        data = f.read()
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    model_path = sys.argv[1]
    meta_path = sys.argv[2] if len(sys.argv) > 2 else model_path + ".json"
    images = read_idx(DATA + "/t10k-images-idx3-ubyte.gz", 3)
    labels = torch.from_numpy(read_idx(DATA + "/t10k-labels-idx1-ubyte.gz", 1).astype(np.int64))
    x = torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1)
    model = torch.jit.load(model_path)
    model.eval()
    with torch.no_grad():
        # Batches of 100 keep activations under glibc's 32 MB mmap threshold (larger blocks are
        # page-faulted in afresh on every call); the quickstart also preloads tcmalloc.
        predicted = torch.cat([model(x[i:i + 100]).argmax(1) for i in range(0, len(x), 100)])
    accuracy = (predicted == labels).double().mean().item()
    with open(meta_path) as f:
        reported = json.load(f).get("metrics", {}).get("test_accuracy", -1)
    print(f"{model_path}: test accuracy {accuracy:.4f} in python3-torch "
          f"({len(labels)} Fashion-MNIST test images); the worker reported {reported:.4f}")
    if reported >= 0 and abs(accuracy - reported) > 0.002:
        print("check_model: the accuracies differ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
