#!/usr/bin/python3
"""Generates the Python gRPC stubs of the NAS API from proto/ into nas_client/proto/.

Run by the Bazel build (//clients/python:stubs) and by `pip install` (setup.py), never by
hand: the stubs are not committed. Uses Debian's protoc and grpc_python_plugin (the versions
that match python3-protobuf and python3-grpcio), and rewrites the imports protoc writes for
proto/ ("from proto import nas_pb2") to the package's ("from nas_client.proto import ...").

  gen_stubs.py --proto_root=REPO --out=DIR   writes DIR/proto/*.py
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

PROTOS = ["proto/nas.proto", "proto/nas_service.proto", "proto/health.proto"]


def generate(proto_root, out):
    plugin = shutil.which("grpc_python_plugin")
    protoc = shutil.which("protoc")
    if not plugin or not protoc:
        raise SystemExit("gen_stubs: needs protoc and grpc_python_plugin "
                         "(Debian: protobuf-compiler, protobuf-compiler-grpc)")
    os.makedirs(os.path.join(out, "proto"), exist_ok=True)
    subprocess.run([protoc, f"-I{proto_root}", f"--python_out={out}", f"--grpc_out={out}",
                    f"--plugin=protoc-gen-grpc={plugin}"] + PROTOS, check=True)
    for name in os.listdir(os.path.join(out, "proto")):
        path = os.path.join(out, "proto", name)
        if not name.endswith(".py"):
            continue
        with open(path) as f:
            text = f.read()
        text = re.sub(r"^from proto import", "from nas_client.proto import", text, flags=re.M)
        with open(path, "w") as f:
            f.write(text)
    with open(os.path.join(out, "proto", "__init__.py"), "w") as f:
        f.write('"""Generated from proto/ by gen_stubs.py; do not edit."""\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto_root", required=True, help="the directory holding proto/")
    parser.add_argument("--out", required=True, help="the nas_client package directory")
    args = parser.parse_args()
    generate(args.proto_root, args.out)


if __name__ == "__main__":
    sys.exit(main())
