#!/bin/sh
echo "hwcast: bazel coverage is not available offline (remote_coverage_tools is a stand-in)" >&2
exit 1
