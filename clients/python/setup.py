"""Builds nas_client with its gRPC stubs generated from the repository's proto/ (see
pyproject.toml for the metadata and gen_stubs.py for the generation). The stubs are generated
before setuptools looks at the package, so that every build step sees nas_client.proto."""
import os
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

sys.path.insert(0, HERE)
import gen_stubs  # noqa: E402

if os.path.exists(os.path.join(PROTO_ROOT, "proto", "nas.proto")):
    gen_stubs.generate(PROTO_ROOT, os.path.join(HERE, "nas_client"))
elif not os.path.exists(os.path.join(HERE, "nas_client", "proto", "nas_pb2.py")):
    raise SystemExit("nas_client: neither ../../proto nor generated stubs found")

setup()
