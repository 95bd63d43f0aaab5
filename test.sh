#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs the tests: unit tests (model, trace language, fuzz
# machinery, splat detection, initramfs), the corpus on the model, then on the real patched kernel
# under QEMU: the boot tests and `dmemfuzz check` (corpus replay in lockstep + a timed campaign).
# DMEMFUZZ_CHECK_DURATION sets the campaign length (default 3m).
set -euo pipefail
cd "$(dirname "$0")"
vm/setup-host.sh
echo "== building the guest kernel (cached; 15-30 min the first time on 2 cores)" >&2
kernel=$(vm/build-kernel.sh --kernel-version 7.3 | tail -n 1)
echo "== swift build" >&2
swift build 2>&1 | tail -n 1
echo "== corpus on the model" >&2
.build/debug/dmemfuzz replay --model-only corpora/
echo "== swift test (boot tests use the real kernel and may not skip)" >&2
DMEMFUZZ_KERNEL="$kernel" DMEMFUZZ_REQUIRE_KERNEL=1 swift test
echo "== dmemfuzz check on $kernel" >&2
.build/debug/dmemfuzz check --kernel "$kernel" --duration "${DMEMFUZZ_CHECK_DURATION:-3m}" --junit .build/check-junit.xml --coverage-html .build/check-coverage.html
