#!/bin/sh
# //deploy/oci:oci_bazel_image_test: oci_image_test.py on the relay image
# Bazel built (//deploy/oci:relay_image), with the Bazel-built collector and
# hwcastctl outside the container (laid out as a build directory).
# Args: relay_image.tar hwcast-relay hwcast-collector hwcastctl
# oci_image_test.py collector_image.tar actuator_image.tar (runfiles
# paths). Root only (skips otherwise).
set -eu
build="${TEST_TMPDIR:?}/build"
mkdir -p "$build/services/relay" "$build/services/collector" "$build/tools/hwcastctl"
ln -sf "$PWD/$2" "$build/services/relay/hwcast-relay"
ln -sf "$PWD/$3" "$build/services/collector/hwcast-collector"
ln -sf "$PWD/$4" "$build/tools/hwcastctl/hwcastctl"
HWCAST_OCI_IMAGE_TAR="$PWD/$1" \
  HWCAST_OCI_OTHER_TARS="collector=$PWD/$6,actuator=$PWD/$7" \
  PYTHONDONTWRITEBYTECODE=1 \
  exec /usr/bin/python3 "$PWD/$5" "$build" -v
