#!/usr/bin/env bash
# build-kernel.sh [--kernel-version 7.2|7.3] [--kernel-tree DIR] [--series PATH]... [--allow-fuzz] [--config FRAGMENT]... [--sanitizer kasan|kcsan] [--verbose]
#
# Builds a dmemfuzz guest kernel: source (Debian linux-source-<ver> via fetch-kernel-source.sh, or
# a user tree that is copied, never modified) + user series + dmemfuzz test patches, config =
# tinyconfig + kvm_guest.config + vm/dmemfuzz.config + each --config fragment (a series that adds a
# Kconfig option asks for it there; every requested option is verified). The series must apply
# exactly unless --allow-fuzz (vm/apply-series.sh).
#
# Result: ${DMEMFUZZ_CACHE:-~/.cache/dmemfuzz}/build/<key>/ with bzImage, modroot/lib/modules/<rel>,
# config, System.map, build.log, src/ (the patched tree), manifest.json. The build dir is the last
# line on stdout; progress goes to stderr. A key that is already built is not rebuilt.
#
# Incremental: objects live in work/<base>/obj (one per source tree), compiled from
# work/<base>/src, a mirror of the patched tree in which only files whose content differs from the
# previous build are replaced (so they, and only they, get a new mtime); plus ccache.
#
# Exit status: 0 ok; 2 a series contributes nothing or does not apply (one line on stderr naming
# the file, from apply-series.sh; checked before any source is fetched); 1 other errors.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "build-kernel: $*" >&2; exit 1; }
log() { echo "build-kernel: $*" >&2; }
ts0=$(date +%s.%N)
lap() { log "$(printf '%6.1f' "$(echo "$(date +%s.%N) - $ts0" | bc)") s: $*"; }
version=7.3; tree=; series=(); configs=(); verbose=0; fuzz=(); sanitizer=kasan
while [ $# -gt 0 ]; do
  case $1 in
    --kernel-version) version=${2:?}; shift 2;;
    --kernel-version=*) version=${1#*=}; shift;;
    --kernel-tree) tree=${2:?}; shift 2;;
    --kernel-tree=*) tree=${1#*=}; shift;;
    --series) series+=("${2:?}"); shift 2;;
    --series=*) series+=("${1#*=}"); shift;;
    --config) configs+=("${2:?}"); shift 2;;
    --config=*) configs+=("${1#*=}"); shift;;
    --allow-fuzz) fuzz=(--allow-fuzz); shift;;
    --sanitizer) sanitizer=${2:?}; shift 2;;
    --sanitizer=*) sanitizer=${1#*=}; shift;;
    --verbose|-v) verbose=1; shift;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0;;
    *) die "unknown argument: $1";;
  esac
done
# a series that contributes nothing is an error (exit 2, one line naming the file) before any
# source is fetched or built: building without it would fuzz a kernel that is not the user's
[ ${#series[@]} -eq 0 ] || "$here/apply-series.sh" --check "${series[@]}"
cache=${DMEMFUZZ_CACHE:-$HOME/.cache/dmemfuzz}
mkdir -p "$cache/build" "$cache/work"
sha() { sha256sum | cut -c1-64; }

# --- source identity
debver=
if [ -n "$tree" ]; then
  [ -f "$tree/Makefile" ] || die "--kernel-tree $tree: not a kernel tree"
  src=$(realpath "$tree")
  if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1 && [ "$(git -C "$src" rev-parse --show-toplevel)" = "$src" ]; then
    head=$(git -C "$src" rev-parse HEAD)
    dirty=$( { git -C "$src" diff HEAD --binary; git -C "$src" ls-files -o --exclude-standard | LC_ALL=C sort | while IFS= read -r f; do echo "$f"; cat "$src/$f"; done; } | sha)
    ident="git:$head:dirty=$dirty"
  elif [ -f "$src/.dmemfuzz-debian-version" ]; then
    debver=$(cat "$src/.dmemfuzz-debian-version"); ident="debian:$debver"
  else
    ident="tree:$(cd "$src" && find . -path ./.git -prune -o -type f -printf '%P %s %T@\n' | LC_ALL=C sort | sha)"
  fi
  srcdesc="tree:$src"
else
  case $version in 7.2|7.3) ;; *) log "warning: --kernel-version $version is not one of 7.2, 7.3 (no test patches)";; esac
  ferr=$(mktemp); trap 'rm -f "$ferr"' EXIT
  src=$("$here/fetch-kernel-source.sh" "$version" 2>"$ferr") \
    || die "cannot fetch linux-source-$version: $(grep -v '^$' "$ferr" | tail -n1)"
  debver=$(cat "$src/.dmemfuzz-debian-version"); ident="debian:$debver"
  srcdesc="debian:linux-source-$version"
fi
kver=$(sed -n 's/^VERSION = //p' "$src/Makefile" | head -n1).$(sed -n 's/^PATCHLEVEL = //p' "$src/Makefile" | head -n1)
tpdir=$here/patches/$kver

# --- series hashes
series_abs=(); series_sha=()
for s in "${series[@]}"; do
  [ -e "$s" ] || die "--series $s: no such file or directory"
  a=$(realpath "$s"); series_abs+=("$a")
  if [ -d "$a" ]; then
    series_sha+=("$(find "$a" -maxdepth 1 -type f \( -name '*.patch' -o -name '*.diff' -o -name '*.mbox' -o -name '*.eml' \) | LC_ALL=C sort | while IFS= read -r f; do basename "$f"; sha256sum <"$f"; done | sha)")
  else
    series_sha+=("$(sha <"$a")")
  fi
done
frag=$here/dmemfuzz.config
# --sanitizer: kasan (the default config) or kcsan (vm/sanitizers/kcsan.config on top, its own
# work tree so switching does not recompile the KASAN build's objects)
case $sanitizer in
  kasan) ;;
  kcsan) configs=("$here/sanitizers/kcsan.config" "${configs[@]}");;
  *) die "--sanitizer $sanitizer: want kasan or kcsan";;
esac
if [ ${#configs[@]} -gt 0 ]; then
  for c in "${configs[@]}"; do [ -f "$c" ] || die "--config $c: no such file"; done
  # content-addressed, so the key (and the reused config) follow what the fragments say; the
  # last assignment of an option wins (a fragment may turn off what dmemfuzz.config turns on)
  all=$(cat "$frag" "${configs[@]}" | tac | awk -F= '!/^CONFIG_/ || !seen[$1]++' | tac)
  frag=$cache/config-$(printf '%s\n' "$all" | sha | cut -c1-16).fragment
  printf '%s\n' "$all" >"$frag"
fi
frag_sha=$(sha <"$frag")
tp_sha=$( { [ -d "$tpdir" ] && find "$tpdir" -maxdepth 1 -name '*.patch' | LC_ALL=C sort | while IFS= read -r f; do basename "$f"; sha256sum <"$f"; done; cat "$here/apply-series.sh" "$here/series.py"; } | sha)
# a fuzzed build is another kernel than an exact one: --allow-fuzz is part of the key
# v2: the covered files are compiled with -g (line coverage, below)
key=$(printf 'dmemfuzz-build-v2\n%s\n%s\n%s\n%s\n%s' "$ident" "${series_sha[*]:-}" "$frag_sha" "$tp_sha" "${fuzz[*]:+fuzz\n}" | sha | cut -c1-20)
B=$cache/build/$key
if [ -f "$B/manifest.json" ] && [ -f "$B/bzImage" ]; then
  log "up to date: $B"; echo "$B"; exit 0
fi

# --- patched tree, before waiting for the build lock: a series that is refused is said at once
log "preparing source $srcdesc ($ident) + ${#series_abs[@]} series + test patches $kver"
pending=$cache/build/.pending-$key-$$
rm -rf "$pending"; mkdir -p "$pending"
trap 'rm -f "${ferr:-}"; rm -rf "$pending"' EXIT
set +e
"$here/apply-series.sh" "${fuzz[@]}" "$src" "$pending/src" "${series[@]}"   # named as given, in messages
rc=$?
set -e
if [ $rc -ne 0 ]; then exit $rc; fi
lap "patched tree ready"

# --- one build at a time (2 cores)
exec 9>"$cache/build.lock"
if ! flock -n 9; then log "waiting for another kernel build to finish"; flock 9; fi
if [ -f "$B/manifest.json" ] && [ -f "$B/bzImage" ]; then echo "$B"; exit 0; fi
t0=$(date +%s)
rm -rf "$B"; mkdir -p "$B"
mv "$pending/src" "$B/src"

# --- mirror into the persistent work tree
base=$(printf '%s\n' "$src" | sha | cut -c1-16)
[ "$sanitizer" = kasan ] || base=$base-$sanitizer
W=$cache/work/$base; mkdir -p "$W"
echo "$src" >"$W/source"
if [ ! -d "$W/src" ]; then
  log "new work tree $W"
  rm -rf "$W/src.tmp"
  if [ -n "$tree" ]; then
    # a user tree may be edited in place later: the work tree must not share its inodes
    cp -a "$B/src" "$W/src.tmp"
  else
    cp -al "$B/src" "$W/src.tmp"   # the Debian source cache is never modified
  fi
  mv "$W/src.tmp" "$W/src"
  rm -f "$W/cfg/.dmemfuzz-config-ok"
else
  list=$W/changed.list; : >"$list"
  rsync -rlt --delete -n --out-format='%i %n' --exclude=/.dmemfuzz-patched-files --exclude=/.dmemfuzz-applied \
    "$B/src/" "$W/src/" | while IFS= read -r l; do
      case $l in
        '*deleting '*) p=${l#\*deleting }; [ "${p%/}" = "$p" ] && rm -f "$W/src/$p" && echo "deleted $p" >&2;;
        '>f'*|'cL'*) echo "${l#* }" >>"$list";;
        'cd'*) mkdir -p "$W/src/${l#* }";;
      esac
    done
  # files patched now or by the previous build: compare content, whatever their mtimes
  cat "$B/src/.dmemfuzz-patched-files" "$W/src/.dmemfuzz-patched-files" 2>/dev/null | sort -u | while IFS= read -r p; do
    [ -n "$p" ] || continue
    if [ -e "$B/src/$p" ] && ! cmp -s "$B/src/$p" "$W/src/$p"; then echo "$p" >>"$list"; fi
    if [ ! -e "$B/src/$p" ] && [ -e "$W/src/$p" ]; then rm -f "$W/src/$p"; fi
  done
  n=0
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    if [ -L "$B/src/$p" ]; then rm -f "$W/src/$p"; cp -P "$B/src/$p" "$W/src/$p"
    elif cmp -s "$B/src/$p" "$W/src/$p"; then continue
    else mkdir -p "$(dirname "$W/src/$p")"; rm -f "$W/src/$p"; cp "$B/src/$p" "$W/src/$p"; n=$((n+1)); [ $verbose = 1 ] && log "changed: $p"
    fi
  done < <(sort -u "$list")
  cp -f "$B/src/.dmemfuzz-patched-files" "$W/src/.dmemfuzz-patched-files.new" && mv -f "$W/src/.dmemfuzz-patched-files.new" "$W/src/.dmemfuzz-patched-files"
  log "work tree $W: $n changed file(s)"
  # a changed Kconfig file (or defconfig fragment) invalidates the generated config
  if grep -qE '(^|/)Kconfig[^/]*$|(^|/)configs/|^scripts/kconfig/' "$list"; then rm -f "$W/cfg/.dmemfuzz-config-ok"; fi
fi

lap "work tree synced"

# --- config
O=$W/obj; mkdir -p "$O"
export CCACHE_DIR=$cache/ccache CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-15G} CCACHE_BASEDIR=$W CCACHE_COMPILERCHECK=content
export KBUILD_BUILD_USER=dmemfuzz KBUILD_BUILD_HOST=dmemfuzz KBUILD_BUILD_TIMESTAMP="${KBUILD_BUILD_TIMESTAMP:-2026-01-01}"
mk=(make -C "$W/src" O="$O" CC="ccache gcc" HOSTCC=gcc)
C=$W/cfg; mkdir -p "$C"
if [ -f "$C/.config" ] && [ "$(cat "$C/.dmemfuzz-config-ok" 2>/dev/null)" = "$frag_sha" ]; then
  echo "config reused: same fragment, no Kconfig change" >"$B/config.log"
else
  rm -f "$C/.config" "$C/.config.old" "$C/.dmemfuzz-config-ok"   # keeps the built kconfig tools
  {
    make -C "$W/src" O="$C" tinyconfig && make -C "$W/src" O="$C" kvm_guest.config &&
    "$W/src/scripts/kconfig/merge_config.sh" -m -O "$C" "$C/.config" "$frag" &&
    make -C "$W/src" O="$C" olddefconfig
  } >"$B/config.log" 2>&1 || die "config generation failed (see $B/config.log)"
fi
optional=$(sed -n 's/^# dmemfuzz-optional://p' "$frag" | tr ' ' '\n')
lost=()
while IFS='=' read -r k v; do
  printf '%s\n' "$optional" | grep -qx "$k" && continue
  if [ "$v" = n ]; then grep -q "^$k=" "$C/.config" && lost+=("$k=n(got $(grep "^$k=" "$C/.config" | cut -d= -f2))")
  else got=$(sed -n "s/^$k=//p" "$C/.config"); [ "$got" = "$v" ] || lost+=("$k=$v(got ${got:-unset})")
  fi
done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=' "$frag")
if [ ${#lost[@]} -gt 0 ]; then die "config: requested options lost after olddefconfig: ${lost[*]}"; fi
if ! cmp -s "$C/.config" "$O/.config"; then cp "$C/.config" "$O/.config"; log "config updated"; fi
cp "$C/.config" "$B/config"
echo "$frag_sha" >"$C/.dmemfuzz-config-ok"
lap "config verified"

# --- build
# Line coverage (Sources/Kernel/LineCoverage.swift maps KCOV PCs to lines with addr2line): the
# files KCOV counts (kernel/cgroup/dmem.c, mm/page_counter.c) and every C file a patch touched
# get -g, through kbuild's per-object CFLAGS_<stem>.o. -g does not change the code gcc emits.
while IFS= read -r p; do
  case "$p" in *.c) mk+=("CFLAGS_$(basename "$p" .c).o=-g");; esac
done < <( { printf '%s\n' kernel/cgroup/dmem.c mm/page_counter.c; cat "$W/src/.dmemfuzz-patched-files" 2>/dev/null; } | sort -u)
log "make bzImage modules in $O (log: $B/build.log)"
ts=$(date +%s)
if [ $verbose = 1 ]; then
  "${mk[@]}" -j"$(nproc)" bzImage modules 2>&1 | tee "$B/build.log" >&2; rc=${PIPESTATUS[0]}
else
  set +e; "${mk[@]}" -j"$(nproc)" bzImage modules >"$B/build.log" 2>&1; rc=$?; set -e
fi
if [ $rc -ne 0 ]; then
  # the first error's file:line and symbol; in a file of a dmemfuzz test patch, which kernel API
  # the series changed that the line uses, and which test patch needs it
  e=$(python3 "$here/series.py" build-error "$B/build.log" "$W/src" "$tpdir" "${series[@]}" 2>/dev/null) \
    || e="make failed: $(grep -m1 -E 'error:|Error [0-9]' "$B/build.log" || tail -n1 "$B/build.log")"
  die "$e (log: $B/build.log)"
fi
tm=$(( $(date +%s) - ts ))
lap "make done"
grep -E 'warning:' "$B/build.log" | sed 's/^/build-kernel: /' >&2 || true
# warnings in the series' own C files under W=1 that the base tree's versions do not have (the
# 0-day bot's report): $B/series-warnings.txt, the manifest's series_warnings, progress here
: >"$B/series-warnings.txt"
if [ ${#series[@]} -gt 0 ]; then
  python3 "$here/series-warnings.py" "$W/src" "$O" "$src" "$tpdir" -- "${mk[@]}" >"$B/series-warnings.txt" 2>>"$B/build.log" \
    || log "series warnings: not computed (see $B/build.log)"
  n=$(grep -c . "$B/series-warnings.txt" || true)
  log "series warnings (W=1, not in the base tree): $n"
  sed 's/^/build-kernel: series warning: /' "$B/series-warnings.txt" >&2
  lap "series W=1 warnings"
  # the lines the series added, for the coverage page (`path line`)
  python3 "$here/series-lines.py" "$W/src" "$src" "$tpdir" >"$B/series-lines.txt" 2>>"$B/build.log" \
    || log "series lines: not computed (see $B/build.log)"
fi
"${mk[@]}" -s modules_install INSTALL_MOD_PATH="$B/modroot" INSTALL_MOD_STRIP=1 >"$B/modules_install.log" 2>&1 \
  || die "modules_install failed (log: $B/modules_install.log)"
rel=$(cat "$O/include/config/kernel.release")
rm -f "$B/modroot/lib/modules/$rel/build" "$B/modroot/lib/modules/$rel/source"   # point into work/
depmod -b "$B/modroot" "$rel" 2>>"$B/modules_install.log" || die "depmod failed"
cp "$O/arch/x86/boot/bzImage" "$B/bzImage"
cp "$O/System.map" "$B/System.map"
cp "$O/vmlinux" "$B/vmlinux"
t1=$(date +%s)

# --- manifest
export M_REL=$rel M_SRC=$srcdesc M_SRCPATH=$src M_IDENT=$ident M_DEB=$debver M_KVER=$kver M_FRAG=$frag_sha M_KEY=$key \
  M_TIME=$((t1 - t0)) M_MAKE=$tm M_B=$B M_W=$W M_TPDIR=$tpdir
python3 - "${#series_abs[@]}" "${series_abs[@]}" "${series_sha[@]}" <<'PY'
import json, os, sys, hashlib, glob
n = int(sys.argv[1]); paths = sys.argv[2:2+n]; shas = sys.argv[2+n:2+2*n]
e = os.environ
applied = []
with open(os.path.join(e["M_B"], "src/.dmemfuzz-applied")) as f:
    for l in f:
        if l.strip():
            applied.append(json.loads(l))
tps = []
for p in sorted(glob.glob(os.path.join(e["M_TPDIR"], "*.patch"))):
    tps.append({"file": os.path.basename(p), "sha256": hashlib.sha256(open(p, "rb").read()).hexdigest(),
                "applied": any(a["kind"] == "test" and a["file"] == p for a in applied)})
m = {
    "key": e["M_KEY"],
    "kernel_release": e["M_REL"],
    "kernel_version": e["M_KVER"],
    "source": e["M_SRC"], "source_path": e["M_SRCPATH"], "source_identity": e["M_IDENT"],
    "debian_version": e["M_DEB"] or None,
    "series": [{"path": p, "sha256": s} for p, s in zip(paths, shas)],
    "applied_patches": applied,
    "config_fragment_sha256": e["M_FRAG"],
    "series_warnings": [l.rstrip("\n") for l in open(os.path.join(e["M_B"], "series-warnings.txt")) if l.strip()]
                       if os.path.exists(os.path.join(e["M_B"], "series-warnings.txt")) else [],
    "test_patches": tps,
    "build_time_seconds": int(e["M_TIME"]), "make_time_seconds": int(e["M_MAKE"]),
    "bzImage": os.path.join(e["M_B"], "bzImage"),
    "modroot": os.path.join(e["M_B"], "modroot"),
    "modules_dir": os.path.join(e["M_B"], "modroot/lib/modules", e["M_REL"]),
    "vmlinux": os.path.join(e["M_B"], "vmlinux"),
    "work_dir": e["M_W"],
}
tmp = os.path.join(e["M_B"], "manifest.json.tmp")
with open(tmp, "w") as f: json.dump(m, f, indent=2); f.write("\n")
os.rename(tmp, os.path.join(e["M_B"], "manifest.json"))
PY
log "done in $((t1 - t0)) s (make $tm s): kernel $rel"
echo "$B"
