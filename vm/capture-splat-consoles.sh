#!/usr/bin/env bash
# capture-splat-consoles.sh KERNEL_BUILD_DIR OUTDIR [CASE...]
#
# Real kernel reports for the splat parser's testdata (Tests/SplatTests/testdata/): for each LKDTM
# crash type, boots (or restores) a guest of KERNEL_BUILD_DIR with `dmemfuzz shell`, triggers it
# with `echo CASE > /sys/kernel/debug/provoke-crash/DIRECT` (CONFIG_LKDTM=y, vm/dmemfuzz.config),
# waits for the report, and saves the guest's console as OUTDIR/lkdtm-CASE.console. One guest per
# case, so each console holds one report (and a PANIC or a wedged CPU takes no other case with it).
#
# Beside each console: lkdtm-CASE.title.parsed (the SPLAT lines `dmemfuzz shell` printed, i.e. what
# the parser says today: a starting point for the .title, not the answer) and lkdtm-CASE.log
# (dmemfuzz's stderr and the guest shell's output). A case the kernel's LKDTM does not have is
# skipped with a line on stderr (lkdtm-CASE.missing).
#
# CASE defaults to the list below. Environment: DMEMFUZZ (the dmemfuzz binary; default
# .build/debug/dmemfuzz, built if missing), DMEMFUZZ_ARGS (extra `dmemfuzz shell` options, e.g.
# "--accel tcg --no-snapshot"), CASE_TIMEOUT (seconds per case, default 600).
#
# Then: look at each console, copy the ones worth keeping into Tests/SplatTests/testdata/ as
# NAME.console with NAME.title (the titles, one a line; empty for no report); no code change.
set -euo pipefail
die() { echo "capture-splat-consoles: $*" >&2; exit 1; }
log() { echo "capture-splat-consoles: $*" >&2; }

[ $# -ge 2 ] || die "usage: capture-splat-consoles.sh KERNEL_BUILD_DIR OUTDIR [CASE...]"
kb=$1 out=$2; shift 2
[ -f "$kb/bzImage" ] || die "$kb: no bzImage (want a vm/build-kernel.sh build directory)"
root=$(cd "$(dirname "$0")/.." && pwd)
dmemfuzz=${DMEMFUZZ:-$root/.build/debug/dmemfuzz}
if [ ! -x "$dmemfuzz" ]; then
    [ -z "${DMEMFUZZ:-}" ] || die "$dmemfuzz: not executable"
    log "building dmemfuzz"; (cd "$root" && swift build >&2)
fi
read -r -a extra <<<"${DMEMFUZZ_ARGS:-}"
mkdir -p "$out"

# Reports the parser knows, one case (or more) each. LKDTM has no use-after-free named
# SLAB_USE_AFTER_FREE: READ_AFTER_FREE / WRITE_AFTER_FREE are KASAN's slab-use-after-free.
# SPINLOCKUP takes a spinlock twice: lockdep's "possible recursive locking detected" (PROVE_LOCKING).
if [ $# -gt 0 ]; then cases=("$@"); else cases=(
    WARNING WARNING_MESSAGE BUG EXCEPTION PANIC
    READ_AFTER_FREE WRITE_AFTER_FREE SLAB_LINEAR_OVERFLOW SLAB_FREE_DOUBLE
    REFCOUNT_DEC_ZERO REFCOUNT_DEC_NEGATIVE REFCOUNT_SUB_AND_TEST_NEGATIVE REFCOUNT_ADD_ZERO REFCOUNT_INC_OVERFLOW
    CORRUPT_LIST_ADD CORRUPT_LIST_DEL ARRAY_BOUNDS
    SPINLOCKUP HUNG_TASK SOFTLOCKUP
); fi

direct=/sys/kernel/debug/provoke-crash/DIRECT
for c in "${cases[@]}"; do
    case $c in *[!A-Z0-9_]*|'') die "$c: not an LKDTM crash type";; esac
    # Reading DIRECT lists this kernel's LKDTM crash types; the trigger runs only if it has this one.
    check="grep -qx '$c' $direct || echo 'lkdtm-missing:' $c"
    trigger="grep -qx '$c' $direct && echo $c > $direct"
    wait=5
    case $c in
        # These never return (a task in D state, a CPU spinning): in the background, and wait
        # for the detector (hung_task_timeout_secs lowered; soft lockup after 2 * watchdog_thresh).
        HUNG_TASK) pre="echo 5 > /proc/sys/kernel/hung_task_timeout_secs"; bg=1; wait=30;;
        SOFTLOCKUP|SPINLOCKUP) pre="echo 5 > /proc/sys/kernel/watchdog_thresh"; bg=1; wait=40;;
        *) pre=":"; bg=0;;
    esac
    if [ $bg = 1 ]; then trigger="sh -c \"$trigger\" </dev/null >/dev/null 2>&1 &"; fi
    log "$c"
    rm -f "$out/lkdtm-$c".{console,title.parsed,log,missing}
    set +e
    printf '%s\n' "$check" "$pre" "$trigger" "sleep $wait" "dmesg | tail -n 3" exit |
        timeout -k 30 "${CASE_TIMEOUT:-600}" "$dmemfuzz" shell --kernel "$kb" --timeout $((wait + 60)) "${extra[@]}" \
        >"$out/lkdtm-$c.log" 2>&1
    status=$?
    set -e
    if grep -qx "lkdtm-missing: $c" "$out/lkdtm-$c.log"; then
        log "$c: this kernel's LKDTM has no such crash type, skipped"; mv "$out/lkdtm-$c.log" "$out/lkdtm-$c.missing"; continue
    fi
    # The console log's path: in the "ready" line, or in the error that says the guest went away.
    console=$(grep -oE '/[^ ]*dmemfuzz-vm-[0-9]+-[0-9]+/console\.log' "$out/lkdtm-$c.log" | tail -n 1 || true)
    if [ -z "$console" ] || [ ! -f "$console" ]; then
        log "$c: no console log found (dmemfuzz exit $status), see $out/lkdtm-$c.log"; continue
    fi
    cp "$console" "$out/lkdtm-$c.console"
    sed -n 's/.*SPLAT \[[a-zA-Z]*\] //p' "$out/lkdtm-$c.log" >"$out/lkdtm-$c.title.parsed"
    log "$c: $out/lkdtm-$c.console ($(wc -l <"$out/lkdtm-$c.title.parsed") report(s) parsed, dmemfuzz exit $status)"
    rm -rf "$(dirname "$console")"
done
