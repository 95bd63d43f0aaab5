#!/usr/bin/env bash
# apply-series.sh SRC_TREE DEST_TREE [SERIES...]
# apply-series.sh --check [SERIES...]     only check that each SERIES contributes patches
#
# Makes DEST_TREE a copy of SRC_TREE (hardlinks; SRC_TREE is never modified, its .git is not
# copied), applies each SERIES in order, then the dmemfuzz test patches for the tree's version
# (vm/patches/<VERSION>.<PATCHLEVEL>/*.patch).
#
# A SERIES is one of:
#   - a directory: its *.patch / *.diff files in sorted order, each handled like a file
#   - an mbox (git format-patch output or a list archive; several mails per file are fine)
#   - a plain unified diff
#
# Files written into DEST_TREE:
#   .dmemfuzz-patched-files   every path a patch touched (relative, one per line)
#   .dmemfuzz-applied         one line per applied patch: <kind>\t<file>\t<how>\t<subject>, where
#                             <how> is "clean", or "fuzz=" and the hunks patch(1) placed with fuzz
#                             ("<path> hunk <n> at <line> fuzz <f>", ';'-separated), or "-" (skipped)
#
# Every SERIES is checked before DEST_TREE is touched: a series that contributes nothing (a missing
# path, an empty or binary file, a file with no diff in it, a directory with no patch files) is an
# error, because building without it would fuzz a kernel that is not the user's. On any error
# DEST_TREE is removed again if this script created it.
#
# Exit status: 0 ok; 2 a series contributes nothing, or a patch does not apply (one line on
# stderr naming the file, e.g.
#   apply-series: <file>: patch "<Subject>" does not apply: first rejected hunk at <path>:<line>)
# 1 other errors (one line on stderr).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "apply-series: $*" >&2; exit 1; }
bad() { echo "apply-series: $*" >&2; exit 2; }
patch_glob=(-name '*.patch' -o -name '*.diff' -o -name '*.mbox' -o -name '*.eml')

# check_file FILE: a patch file that can contribute something (exit 2 naming it otherwise)
check_file() {
  local f=$1
  [ -r "$f" ] || bad "$f: cannot read"
  [ -s "$f" ] || bad "$f: empty file, not a patch"
  LC_ALL=C grep -qI '' "$f" || bad "$f: binary file, not a patch"
  grep -qE '^(diff --git |--- |\+\+\+ )' "$f" || bad "$f: contains no diff"
}

# check_series SERIES: a file (as above) or a directory holding at least one such file
check_series() {
  local s=$1 f n=0
  [ -e "$s" ] || bad "$s: no such series"
  if [ -d "$s" ]; then
    while IFS= read -r f; do check_file "$f"; n=$((n+1)); done < <(find "$s" -maxdepth 1 -type f \( "${patch_glob[@]}" \) | LC_ALL=C sort)
    [ $n -gt 0 ] || bad "$s: a directory with no *.patch, *.diff, *.mbox or *.eml files"
  else
    check_file "$s"
  fi
}

if [ "${1:-}" = --check ]; then
  shift
  for s in "$@"; do check_series "$s"; done
  exit 0
fi
[ $# -ge 2 ] || die "usage: apply-series.sh SRC_TREE DEST_TREE [SERIES...]"
src=$(realpath "$1"); dest=$2; shift 2
[ -f "$src/Makefile" ] || die "$src: not a kernel tree (no Makefile)"
if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then die "$dest: exists and is not empty"; fi
# the series first: nothing is created for a series that cannot be applied
series=()
for s in "$@"; do check_series "$s"; series+=("$(realpath "$s")"); done

created=
[ -e "$dest" ] || created=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/apply-series.XXXXXX")
trap 'rc=$?; rm -rf "$tmp"; if [ $rc -ne 0 ] && [ -n "$created" ]; then rm -rf "$dest"; fi' EXIT
mkdir -p "$dest"; dest=$(realpath "$dest")
case "$dest/" in "$src"/*) die "$dest is inside $src";; esac
export GIT_CEILING_DIRECTORIES=$(dirname "$dest")

# --- copy: hardlinks, everything but .git
(cd "$src" && for e in * .[!.]* ..?*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  [ "$e" = .git ] && continue
  # hardlinks; a real copy if SRC_TREE is on another file system
  cp -al "$e" "$dest/" 2>/dev/null || { rm -rf "${dest:?}/$e"; cp -a "$e" "$dest/"; }
done)
: >"$dest/.dmemfuzz-patched-files"
: >"$dest/.dmemfuzz-applied"

# paths touched by a patch file (relative to the tree, -p1)
touched_paths() {
  sed -n -e 's#^diff --git a/\([^ ]*\) b/\(.*\)$#\1\n\2#p' \
         -e 's#^--- a/\([^\t ]*\).*#\1#p' -e 's#^+++ b/\([^\t ]*\).*#\1#p' "$1" | sort -u
}

# break hardlinks so that applying never writes into SRC_TREE's inodes
unshare_paths() {
  local p
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    echo "$p" >>"$dest/.dmemfuzz-patched-files"
    if [ -f "$dest/$p" ] && [ ! -L "$dest/$p" ]; then
      cp -p "$dest/$p" "$dest/$p.dmemfuzz-unshare" && mv -f "$dest/$p.dmemfuzz-unshare" "$dest/$p"
    fi
  done
}

# apply_one LABEL_FILE SUBJECT PATCHFILE KIND
apply_one() {
  local file=$1 subject=$2 patch=$3 kind=$4 err where how=clean out
  if ! grep -qE '^(diff --git |--- |\+\+\+ )' "$patch"; then
    # a mail of an mbox that has diffs in other mails (a cover letter): nothing to apply
    echo "apply-series: $file: \"$subject\" contains no diff, skipped" >&2
    return 0
  fi
  touched_paths "$patch" | unshare_paths
  if err=$(cd "$dest" && git apply -p1 --whitespace=nowarn "$patch" 2>&1); then
    :
  elif (cd "$dest" && patch -p1 -F2 -s -f --dry-run --no-backup-if-mismatch <"$patch" >/dev/null 2>&1); then
    out=$(cd "$dest" && patch -p1 -F2 -f --no-backup-if-mismatch <"$patch") \
      || { echo "apply-series: $file: patch \"$subject\" does not apply: first rejected hunk at unknown:0" >&2; exit 2; }
    # "patching file P" then "Hunk #N succeeded at L with fuzz F ...": the hunks to look at
    how=fuzz=$(printf '%s\n' "$out" | awk '
      /^patching file / { p = $3 }
      /^Hunk #[0-9]+ succeeded at [0-9]+ with fuzz [0-9]+/ { n = $2; sub(/^#/, "", n); f = $8; sub(/[^0-9].*/, "", f); h = h s p " hunk " n " at " $5 " fuzz " f; s = ";" }
      END { print h }')
    echo "apply-series: $file: \"$subject\" applied with fuzz (${how#fuzz=})" >&2
  else
    where=$(printf '%s\n' "$err" | sed -n 's/^error: patch failed: \(.*:[0-9]*\)$/\1/p' | head -n1)
    if [ -z "$where" ]; then
      # missing file / already exists etc.: name the path, line of its first hunk
      local path
      path=$(printf '%s\n' "$err" | sed -n 's/^error: \([^:]*\): .*/\1/p' | head -n1)
      [ -n "$path" ] || path=$(touched_paths "$patch" | head -n1)
      local line
      line=$(awk -v p="$path" '$0 ~ "^\\+\\+\\+ b/"p"$" {f=1; next} f && /^@@/ {sub(/^@@ -/,""); sub(/[, ].*/,""); print; exit}' "$patch")
      where="$path:${line:-1}"
    fi
    echo "apply-series: $file: patch \"$subject\" does not apply: first rejected hunk at $where" >&2
    exit 2
  fi
  printf '%s\t%s\t%s\t%s\n' "$kind" "$file" "$how" "$subject" >>"$dest/.dmemfuzz-applied"
}

# apply_file FILE KIND: an mbox (one or more mails) or a plain diff
apply_file() {
  local f=$1 kind=$2 n=0 m subj
  if head -n 20 "$f" | grep -qE '^(From [0-9a-f]{40} |From: |Subject: )'; then
    rm -rf "$tmp/mails"; mkdir -p "$tmp/mails"
    git mailsplit -o"$tmp/mails" "$f" >/dev/null || die "$f: cannot split mbox"
    for m in "$tmp/mails"/*; do
      [ -e "$m" ] || continue
      git mailinfo -k "$tmp/msg" "$tmp/patch" <"$m" >"$tmp/info" || die "$f: cannot parse mail"
      subj=$(sed -n 's/^Subject: //p' "$tmp/info" | head -n1)
      subj=$(printf '%s' "$subj" | sed -E 's/^(\[[^]]*\] *)+//')
      [ -n "$subj" ] || subj=$(basename "$f")
      apply_one "$f" "$subj" "$tmp/patch" "$kind"
      n=$((n+1))
    done
    [ $n -gt 0 ] || die "$f: no mails found"
  else
    subj=$(basename "$f")
    apply_one "$f" "$subj" "$f" "$kind"
  fi
}

apply_series() {
  local s=$1 kind=$2 f
  if [ -d "$s" ]; then
    while IFS= read -r f; do apply_file "$f" "$kind"; done < <(find "$s" -maxdepth 1 -type f \( "${patch_glob[@]}" \) | LC_ALL=C sort)
  else
    apply_file "$s" "$kind"
  fi
}

# A series file whose message (before its first diff) has the line
#   Dmemfuzz-Apply: after-test-patches
# is applied after the test patches instead of before: a mutant of code only a test patch adds
# (vm/mutants/30-*: dmem_cgroup_transfer_charge() of the vgem test patch).
after_test() { [ -f "$1" ] && sed -n '/^diff --git /q;p' "$1" | grep -qx 'Dmemfuzz-Apply: after-test-patches'; }
late=()
for s in "${series[@]}"; do
  if after_test "$s"; then late+=("$s"); else apply_series "$s" series; fi
done

# --- test patches for this version
ver=$(sed -n 's/^VERSION = //p' "$dest/Makefile" | head -n1)
pl=$(sed -n 's/^PATCHLEVEL = //p' "$dest/Makefile" | head -n1)
tdir=$here/patches/$ver.$pl
if [ -d "$tdir" ]; then
  while IFS= read -r f; do
    # skip a test patch whose driver already does dmem accounting (added by a user series)
    skip=
    for d in $(touched_paths "$f" | sed -n 's#^\(drivers/gpu/drm/[^/]*\)/.*#\1#p' | sort -u); do
      if grep -rqs dmem_cgroup_register_region "$dest/$d"; then skip=$d; fi
    done
    if [ -n "$skip" ]; then
      echo "apply-series: $(basename "$f"): skipped, $skip already registers a dmem region" >&2
      printf 'skipped\t%s\t-\t%s\n' "$f" "$skip already registers a dmem region" >>"$dest/.dmemfuzz-applied"
      continue
    fi
    apply_file "$f" test
  done < <(find "$tdir" -maxdepth 1 -type f -name '*.patch' | LC_ALL=C sort)
else
  echo "apply-series: no test patches for $ver.$pl ($tdir)" >&2
fi
for s in "${late[@]}"; do apply_series "$s" series; done
sort -u -o "$dest/.dmemfuzz-patched-files" "$dest/.dmemfuzz-patched-files"
