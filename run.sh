#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs dmemfuzz's main job as far as it exists today: build
# the patched kernel, boot it under QEMU with the guest agent, show the dmem regions it registered,
# then run the reference model on a generated campaign. Extra arguments go to `dmemfuzz model`.
set -euo pipefail
cd "$(dirname "$0")"
vm/setup-host.sh
vm/build-kernel.sh --kernel-version 7.3 >/dev/null
swift build -c release 2>&1 | tail -n 1
.build/release/dmemfuzz boot
.build/release/dmemfuzz model --seed 1 --ops 5000 "$@"
