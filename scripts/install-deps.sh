#!/usr/bin/env bash
# Installs the Debian 12 packages hashwatt needs to build, test and run its demo: only those
# missing, with one `apt-get update` when anything is missing. Safe to run again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev sqlite3 libzstd-dev libssl-dev libcrypt-dev prometheus-cpp-dev libtomlplusplus-dev libcli11-dev doctest-dev
  prometheus prometheus-alertmanager
  libyaml-cpp-dev            # the compose consistency test reads YAML
  dpkg-dev systemd           # make package: dpkg-shlibdeps; the tests' systemd-analyze verify
  tzdata  # time zone rules read by policies/prices (TOU schedules, ERCOT files)
  clang-14 libclang-rt-14-dev llvm-14  # make fuzz: libFuzzer, sanitizers, llvm-symbolizer
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing missing Debian packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  sudo=sudo
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
else
  sudo=
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Debian starts the prometheus services on install; hashwatt's tests run their own instances on
# free loopback ports, so the packaged ones are not needed and policy-rc.d keeps them from starting.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy && -z "$sudo" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
fi
trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
