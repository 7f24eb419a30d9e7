"""Protobuf and gRPC C++ code generated with the system protoc and grpc_cpp_plugin.

Bazel 4.2.3's proto_library wants to build protoc from source, which an offline build cannot,
so a genrule runs Debian's compilers instead.

  cc_grpc_proto_library(name = "nas", srcs = ["nas.proto", ...])

defines `nas_cc_proto` (messages) and `nas_cc_grpc` (messages plus service stubs).
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def cc_grpc_proto_library(name, srcs, visibility = None):
    pkg = native.package_name()
    bases = [s[:-len(".proto")] for s in srcs]
    pb = [b + ".pb.h" for b in bases] + [b + ".pb.cc" for b in bases]
    grpc = [b + ".grpc.pb.h" for b in bases] + [b + ".grpc.pb.cc" for b in bases]
    native.genrule(
        name = name + "_codegen",
        srcs = srcs,
        outs = pb + grpc,
        cmd = ("/usr/bin/protoc -I. --cpp_out=$(GENDIR) --grpc_out=$(GENDIR) " +
               "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin " +
               " ".join(["%s/%s" % (pkg, s) for s in srcs])),
    )
    cc_library(
        name = name + "_cc_proto",
        srcs = [f for f in pb if f.endswith(".cc")],
        hdrs = [f for f in pb if f.endswith(".h")],
        deps = ["//third_party:protobuf"],
        visibility = visibility,
    )
    cc_library(
        name = name + "_cc_grpc",
        srcs = [f for f in grpc if f.endswith(".cc")],
        hdrs = [f for f in grpc if f.endswith(".h")],
        deps = [":" + name + "_cc_proto", "//third_party:grpc"],
        visibility = visibility,
    )
