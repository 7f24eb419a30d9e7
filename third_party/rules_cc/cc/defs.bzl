"""A stand-in for rules_cc that re-exports Bazel 4.2.3's native C++ rules.

Debian ships no rules_cc that matches bazel-bootstrap 4.2.3 and the build is offline, so
@bazel_tools' references to @rules_cc//cc:defs.bzl resolve here instead.
"""

cc_binary = native.cc_binary
cc_import = native.cc_import
cc_library = native.cc_library
cc_proto_library = native.cc_proto_library
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
fdo_prefetch_hints = native.fdo_prefetch_hints
fdo_profile = native.fdo_profile
objc_library = native.objc_library
objc_import = native.objc_import
