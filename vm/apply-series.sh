#!/usr/bin/env bash
# apply-series.sh [--allow-fuzz] SRC_TREE DEST_TREE [SERIES...]
# apply-series.sh --check [SERIES...]     only check that each SERIES contributes patches
#
# Makes DEST_TREE a copy of SRC_TREE (hardlinks; SRC_TREE is never modified, its .git is not
# copied), applies each SERIES in order, then the dmemfuzz test patches for the tree's version
# (vm/patches/<VERSION>.<PATCHLEVEL>/*.patch). The series are read and applied by vm/series.py
# with git's own machinery (git mailsplit, git mailinfo, git apply):
#
# A SERIES is one of:
#   - a directory: its *.patch / *.diff / *.mbox / *.eml files in byte order (git format-patch -o)
#   - an mbox: list archives, b4 am, git format-patch --stdout; several mails per file are fine
#   - a single mail, with or without the mbox "From " line (archived mails start "Return-Path:"),
#     folded headers, quoted-printable or base64 bodies, CRLF line ends
#   - a plain unified diff
# Cover letters (0/N), mails without a diff and replies ("Re:") are skipped, and said so.
#
# Exact by default: every hunk must apply with its whole context (at an offset is fine, as for
# git am). --allow-fuzz lets git apply -C1 drop context (patch(1)'s fuzz 2), and each hunk that
# needed it must still land inside the function its @@ line names.
#
# Files written into DEST_TREE:
#   .dmemfuzz-patched-files   every path a patch touched (relative, one per line)
#   .dmemfuzz-applied         one JSON object per line and patch: kind (series, test, skipped),
#                             file, mail (its number in an mbox, or null), subject, message_id,
#                             how (exact, fuzz, skipped), offset_hunks, fuzzed_hunks
#                             ("<path> hunk <n> at <line> fuzz <f> in <function>"), reason (skipped)
#
# Every SERIES is checked before DEST_TREE is touched: a series that contributes nothing (a missing
# path, an empty or binary file, a file with no diff in it, a directory with no patch files) is an
# error, because building without it would fuzz a kernel that is not the user's. On any error
# DEST_TREE is removed again if this script created it.
#
# Exit status: 0 ok; 2 a series contributes nothing, or a patch is refused (one line on stderr
# naming the series file, the patch's Subject and the first failing hunk's file:line, e.g.
#   apply-series: <file>: patch "<Subject>" does not apply exactly: first failing hunk at <path>:<line>)
# 1 other errors (one line on stderr).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "apply-series: $*" >&2; exit 1; }

if [ "${1:-}" = --check ]; then
  shift
  [ $# -eq 0 ] || exec python3 "$here/series.py" check "$@"
  exit 0
fi
fuzz=()
if [ "${1:-}" = --allow-fuzz ]; then fuzz=(--allow-fuzz); shift; fi
[ $# -ge 2 ] || die "usage: apply-series.sh [--allow-fuzz] SRC_TREE DEST_TREE [SERIES...]"
src=$(realpath "$1"); dest=$2; shift 2
[ -f "$src/Makefile" ] || die "$src: not a kernel tree (no Makefile)"
if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then die "$dest: exists and is not empty"; fi
# the series first: nothing is created for a series that cannot be applied
series=("$@")
[ ${#series[@]} -eq 0 ] || python3 "$here/series.py" check "${series[@]}"

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

# A series file whose message (before its first diff) has the line
#   Dmemfuzz-Apply: after-test-patches
# is applied after the test patches instead of before: a mutant of code only a test patch adds
# (vm/mutants/30-*: dmem_cgroup_transfer_charge() of the vgem test patch).
after_test() { [ -f "$1" ] && sed -n '/^diff --git /q;p' "$1" | grep -qx 'Dmemfuzz-Apply: after-test-patches'; }
early=(); late=()
for s in "${series[@]}"; do
  if after_test "$s"; then late+=("$s"); else early+=("$s"); fi
done
[ ${#early[@]} -eq 0 ] || python3 "$here/series.py" apply "${fuzz[@]}" --kind series "$dest" "${early[@]}"

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
      python3 -c 'import json, sys; print(json.dumps({"kind": "skipped", "file": sys.argv[1], "mail": None, "subject": sys.argv[2], "message_id": None, "how": "skipped", "reason": sys.argv[2], "offset_hunks": [], "fuzzed_hunks": []}, sort_keys=True))' \
        "$f" "$skip already registers a dmem region" >>"$dest/.dmemfuzz-applied"
      continue
    fi
    # the test patches are ours: exact, whatever --allow-fuzz says about the user's series
    python3 "$here/series.py" apply --kind test "$dest" "$f"
  done < <(find "$tdir" -maxdepth 1 -type f -name '*.patch' | LC_ALL=C sort)
else
  echo "apply-series: no test patches for $ver.$pl ($tdir)" >&2
fi
[ ${#late[@]} -eq 0 ] || python3 "$here/series.py" apply "${fuzz[@]}" --kind series "$dest" "${late[@]}"
sort -u -o "$dest/.dmemfuzz-patched-files" "$dest/.dmemfuzz-patched-files"
