"""hwcast_cc_grpc_library: C++ messages and gRPC stubs from .proto files.

Mirrors proto/CMakeLists.txt: one protoc run (Debian's /usr/bin/protoc with
/usr/bin/grpc_cpp_plugin) generates <name>.pb.{h,cc} and <name>.grpc.pb.{h,cc}
for every proto, wrapped in a cc_library. Generated files keep the proto's
import path under the package's output directory, and the library exports that
directory as an include root, so code includes "hwcast/v1/reading.pb.h" or
"grpc/health/v1/health.grpc.pb.h" exactly as with CMake. Well-known types
(google/protobuf/timestamp.proto) resolve from /usr/include, protoc's default
import path, and their C++ code is in @system//:protobuf.
"""

_PROTOC = "@system//:bin/protoc"
_GRPC_PLUGIN = "@system//:bin/grpc_cpp_plugin"

def _strip_ext(path):
    if not path.endswith(".proto"):
        fail("expected a .proto file, got " + path)
    return path[:-len(".proto")]

def hwcast_cc_grpc_library(
        name,
        protos,
        srcs = None,
        proto_path = None,
        deps = [],
        visibility = None):
    """Generates and compiles C++ code for `protos`.

    Args:
      name: the cc_library.
      protos: import paths of the .proto files ("hwcast/v1/reading.proto");
        they name the generated files.
      srcs: labels of the same files, in the same order. Default: `protos`,
        as files of this package.
      proto_path: the import root, relative to the execution root. Default:
        this package's directory (protos are relative to the package).
      deps: cc_library targets of protos these import (other than
        well-known types).
      visibility: of the cc_library.
    """
    if srcs == None:
        srcs = protos
    if len(srcs) != len(protos):
        fail("srcs and protos must list the same files")
    if proto_path == None:
        proto_path = native.package_name() or "."
    bases = [_strip_ext(p) for p in protos]
    hdrs = [b + ".pb.h" for b in bases] + [b + ".grpc.pb.h" for b in bases]
    ccs = [b + ".pb.cc" for b in bases] + [b + ".grpc.pb.cc" for b in bases]

    native.genrule(
        name = name + "_codegen",
        srcs = srcs,
        outs = hdrs + ccs,
        tools = [_PROTOC, _GRPC_PLUGIN],
        cmd = " ".join([
            "$(execpath %s)" % _PROTOC,
            "--proto_path=%s" % proto_path,
            "--cpp_out=$(RULEDIR)",
            "--grpc_out=$(RULEDIR)",
            "--plugin=protoc-gen-grpc=$(execpath %s)" % _GRPC_PLUGIN,
        ] + ["%s/%s" % (proto_path, p) for p in protos]),
        message = "protoc %s" % " ".join(protos),
        visibility = ["//visibility:private"],
    )

    native.cc_library(
        name = name,
        srcs = ccs,
        hdrs = hdrs,
        # The package's output directory is the include root of the generated
        # headers ("hwcast/v1/reading.pb.h").
        includes = ["."],
        # Generated code is not ours to warn about (CMake: -w).
        copts = ["-w"],
        deps = deps + [
            "@system//:grpc++",
            "@system//:protobuf",
        ],
        visibility = visibility,
    )
