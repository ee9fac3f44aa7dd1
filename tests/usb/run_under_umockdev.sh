#!/bin/sh
# Runs a test binary under umockdev-wrapper (LD_PRELOAD of umockdev's
# preload library, which fakes /sys and /dev/bus/usb for libusb).
# Args: BINARY [ARGS...]
set -eu
if ! command -v umockdev-wrapper >/dev/null 2>&1; then
  echo "umockdev-wrapper not installed (Debian package umockdev)" >&2
  exit 1
fi
exec umockdev-wrapper "$@"
