#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs dmemfuzz's main job: build Debian's linux-source-7.3
# with the vgem/vkms test patches, boot it under QEMU, and fuzz it in lockstep with the model for
# 10 minutes (findings in findings/, the campaign in campaigns/default/). Extra arguments go to
# `dmemfuzz fuzz` (e.g. --series DIR, --kernel-tree DIR, --duration 1h, --resume).
set -euo pipefail
cd "$(dirname "$0")"
vm/setup-host.sh
swift build -c release 2>&1 | tail -n 1
exec .build/release/dmemfuzz fuzz --duration 10m "$@"
