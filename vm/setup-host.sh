#!/usr/bin/env bash
# Installs the Debian packages dmemfuzz needs on the host (idempotent; needs root or sudo).
# Kernel sources are not installed here: vm/fetch-kernel-source.sh downloads them privately.
set -euo pipefail
pkgs=(qemu-system-x86 busybox-static flex bison bc libelf-dev libssl-dev cpio ccache
      libkmod-dev libcap-dev make gcc xz-utils zstd rsync kmod dwarves python3 git)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup-host: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
  || { echo "setup-host: apt-get install failed; run: apt-get install ${missing[*]}" >&2; exit 1; }
