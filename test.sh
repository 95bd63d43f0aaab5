#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs the tests: model/trace/fuzz unit tests, the corpus
# replay on the model, splat-detection and initramfs tests. The real-kernel boot tests need the
# patched kernel (~12 min build) and run with DMEMFUZZ_BOOT_TESTS=1 (see README).
set -euo pipefail
cd "$(dirname "$0")"
vm/setup-host.sh
echo "== swift build" >&2
swift build 2>&1 | tail -n 1
echo "== corpus replay on the model" >&2
.build/debug/dmemfuzz replay --model-only corpora/
if [ "${DMEMFUZZ_BOOT_TESTS:-0}" = 1 ]; then
  echo "== building the guest kernel (cached; ~12 min the first time on 2 cores)" >&2
  vm/build-kernel.sh --kernel-version 7.3 >/dev/null
  echo "== swift test (with real-kernel boot tests)" >&2
  DMEMFUZZ_REQUIRE_KERNEL=1 swift test
else
  echo "== swift test (without real-kernel boot tests)" >&2
  swift test --skip BootTests
fi
