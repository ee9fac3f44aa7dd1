#!/usr/bin/env bash
# Installs everything hwcast needs to build, test and run its demo on Debian 12
# (bookworm), from Debian's archive only. Idempotent: installs only what is
# missing, so a second run is instant. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # toolchain and builds
  g++ cmake ninja-build pkg-config bazel-bootstrap clang-format
  # libraries
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  libabsl-dev prometheus-cpp-dev libyaml-cpp-dev libusb-1.0-0-dev
  libgtest-dev libgmock-dev libbenchmark-dev grpc-proto libsodium-dev
  # the relay's allocator: gperftools' thread-caching malloc
  libgoogle-perftools-dev
  # fuzzing the datagram parser (libFuzzer + sanitizers); clang also runs
  # the thread-safety analysis (scripts/thread_safety.sh)
  clang libclang-rt-14-dev
  # multi-host LAN tests: network namespaces, veth, bridge, packet loss
  iproute2 nftables
  # integration tests: gRPC and reflection clients, promtool
  python3 python3-grpcio python3-grpc-tools python3-protobuf prometheus
  python3-nacl python3-yaml
  # alerts end to end: the real Alertmanager delivering to a test webhook
  prometheus-alertmanager
  # UPS source tests: NUT's real upsd and dummy-ups driver (upsc comes with
  # it through nut-client); upsd's TLS certificate goes into an NSS database
  # (Debian builds NUT with NSS): certutil, pk12util
  nut-server libnss3-tools
  # the nut source's STARTTLS (OpenSSL); the hwmon source reads chips through
  # lm-sensors' libsensors, its tests compare with the `sensors` command
  libssl-dev libsensors-dev lm-sensors
  # USB devices emulated for libusb (umockdev-run and its library for
  # scripted control transfers); disk inventory (libblkid) probed on
  # filesystem images made with mkfs
  umockdev libumockdev-dev libblkid-dev e2fsprogs dosfstools
  # entropy: rngtest (FIPS 140-2) cross-checks our health tests; openssl
  # makes the TLS certificates the entropy tests use
  rng-tools5 openssl
  # systemd: systemd-analyze verifies the shipped units (sd_notify needs no
  # libsystemd: lib/service_manager.cc speaks the protocol)
  systemd
  # last-resort fencing tests: ClusterLabs' fence agents (fence_ipmilan)
  # against OpenIPMI's simulated BMC (ipmi_sim); ipmitool reads its power
  fence-agents openipmi ipmitool
  # deploy/ansible (site.yml, ansible-lint; python3-cryptography for the
  # community.crypto modules that make the site CA and host certificates)
  # and deploy/oci (umoci builds the images; podman with runc runs them in
  # the test)
  ansible ansible-lint python3-cryptography umoci podman runc
  # the .deb installed into a pristine Debian root (tests/deb_install_test.py)
  mmdebstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# A temporary policy-rc.d keeps packages (prometheus and its alertmanager, which
# tests start themselves) from starting services on this machine.
added_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  added_policy=1
fi
cleanup() { [ "$added_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d; true; }
trap cleanup EXIT
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
