#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every test: model/trace/fuzz unit tests, the corpus
# replay on the model, and the VM tests that boot the real patched kernel under QEMU.
set -euo pipefail
cd "$(dirname "$0")"
vm/setup-host.sh
echo "== building the guest kernel (cached; ~12 min the first time on 2 cores)" >&2
vm/build-kernel.sh --kernel-version 7.3 >/dev/null
echo "== swift build" >&2
swift build 2>&1 | tail -n 3
echo "== corpus replay on the model" >&2
.build/debug/dmemfuzz replay --model-only corpora/
echo "== swift test" >&2
# The VM tests refuse to skip when the kernel is required, so a missing kernel is a failure here.
DMEMFUZZ_REQUIRE_KERNEL=1 swift test 2>&1 | tee /tmp/dmemfuzz-test.log | grep -Ev "^Test Case '.*' (started|passed)" 
