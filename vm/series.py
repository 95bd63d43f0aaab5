#!/usr/bin/env python3
"""Series intake for vm/apply-series.sh, with git's own machinery.

  series.py check SERIES...
      every SERIES contributes at least one patch; else exit 2, one line naming it
  series.py apply [--allow-fuzz] --kind KIND DEST SERIES...
      applies every patch of each SERIES, in order, to the tree DEST (not a git repository);
      appends one JSON line per patch to DEST/.dmemfuzz-applied and the paths it touches to
      DEST/.dmemfuzz-patched-files
  series.py build-error BUILD_LOG SRC TEST_PATCH_DIR [SERIES...]
      the one line vm/build-kernel.sh says when make failed: the first error's file:line and
      symbol, and when that file is one a dmemfuzz test patch adds or touches, the kernel API the
      series changed that the failing line uses and the test patch that needs it

A SERIES is a directory (its *.patch, *.diff, *.mbox, *.eml files in byte order, e.g. the output
of `git format-patch`) or a file: an mbox (`From ` lines: list archives, `b4 am`, format-patch),
a single mail (RFC 822 headers from the first line, with or without the mbox `From ` line: long
folded headers, quoted-printable or base64 bodies, CRLF line ends), or a plain diff. Mails are
split by `git mailsplit` and decoded by `git mailinfo`, as `git am` does. Skipped, and said so:
cover letters (`0/N` in the subject's [PATCH] tag), mails without a diff, replies (`Re:`).

Each patch is applied by `git apply` with its full context (offsets are fine, as for `git am`).
A patch that does not apply so is refused: exit 2, one line naming the series file, the patch's
Subject and the first failing hunk's file:line. With --allow-fuzz, `git apply -C1` may drop up to
all but one line of context on either side of a hunk (patch(1)'s fuzz 2), and every hunk that
needed it must still land inside the function its @@ line names (the text after the second @@,
looked up in the tree the way `git diff` and `git grep -p` find it: the kernel's .gitattributes
diff driver, or git's default); else the series is refused naming the patch, hunk and file:line.

Exit status: 0 ok, 2 refused or a series that contributes nothing, 1 other errors.
"""
import email.parser
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

PATCH_SUFFIXES = (".patch", ".diff", ".mbox", ".eml")
GIT_ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", LC_ALL="C", LANG="C")


class Refused(Exception):
    """Exit 2 with this one line."""


def say(msg):
    sys.stderr.write("apply-series: %s\n" % msg)


def git(args, cwd=None, stdin=None, check=False):
    p = subprocess.run(["git"] + args, cwd=cwd, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=GIT_ENV)
    if check and p.returncode != 0:
        raise RuntimeError("git %s: %s" % (" ".join(args), p.stderr.decode("utf-8", "replace").strip()))
    return p


# --- what a series is made of

def series_files(s):
    if not os.path.lexists(s):
        raise Refused("%s: no such series" % s)
    if os.path.isdir(s):
        names = sorted((n for n in os.listdir(s) if n.endswith(PATCH_SUFFIXES)
                        and os.path.isfile(os.path.join(s, n))), key=lambda n: n.encode())
        if not names:
            raise Refused("%s: a directory with no *.patch, *.diff, *.mbox or *.eml files" % s)
        return [os.path.join(s, n) for n in names]
    return [s]


HEADER = re.compile(rb"^[!-9;-~]+:")          # an RFC 822 field name and its colon
MBOX_FROM = re.compile(rb"^From \S+")         # "From <sha> Mon Sep 17 ...", "From mboxrd@z ..."


def file_kind(data):
    """'mbox', 'mail' (headers from the first line, no From line) or 'diff'."""
    lines = data.split(b"\n")
    if lines and MBOX_FROM.match(lines[0]) and not lines[0].startswith(b"From: "):
        return "mbox"
    # a header block: fields and their continuation lines up to the first blank line, with a
    # From: or Subject: among them (a diff never starts so: "diff --git", "---", "Index: x")
    fields = []
    for l in lines:
        l = l.rstrip(b"\r")
        if not l:
            break
        if l[:1] in (b" ", b"\t") and fields:
            continue
        if not HEADER.match(l):
            return "diff"
        fields.append(l.split(b":", 1)[0].lower())
    return "mail" if (b"from" in fields or b"subject" in fields) else "diff"


class Patch:
    def __init__(self, file, index, subject, message_id, diff, skip=None):
        self.file, self.index, self.subject, self.message_id, self.diff, self.skip = \
            file, index, subject, message_id, diff, skip


COVER = re.compile(r"^\s*\[[^\]]*\b0+/[0-9]+\s*\]")
HAS_DIFF = re.compile(rb"^(diff --git |--- |\+\+\+ |@@ |GIT binary patch)", re.M)


def patches_of(f, tmp):
    """The patches of one series file, cover letters and replies marked to skip."""
    try:
        with open(f, "rb") as fh:
            data = fh.read()
    except OSError:
        raise Refused("%s: cannot read" % f)
    if not data:
        raise Refused("%s: empty file, not a patch" % f)
    if b"\0" in data:
        raise Refused("%s: binary file, not a patch" % f)
    kind = file_kind(data)
    if kind == "diff":
        if not HAS_DIFF.search(data):
            raise Refused("%s: contains no diff" % f)
        # a diff saved with CRLF line ends everywhere (the tree has LF): git am would strip them
        if data.count(b"\r\n") == data.count(b"\n") and b"\r\n" in data:
            data = data.replace(b"\r\n", b"\n")
        return [Patch(f, None, os.path.basename(f), None, data)]
    d = tempfile.mkdtemp(dir=tmp)
    # -b: a file that does not begin with a From line is one mail; CRs of CRLF lines are removed
    p = git(["mailsplit", "-b", "-o" + d, f])
    if p.returncode != 0:
        raise Refused("%s: not a mailbox git mailsplit can split: %s" % (f, p.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]))
    out = []
    mails = sorted(os.listdir(d))
    for i, m in enumerate(mails, 1):
        with open(os.path.join(d, m), "rb") as fh:
            raw = fh.read()
        msg, patch = os.path.join(d, m + ".msg"), os.path.join(d, m + ".diff")
        p = git(["mailinfo", "-k", msg, patch], stdin=raw)
        if p.returncode != 0:
            raise Refused("%s: mail %d: git mailinfo cannot parse it: %s" % (f, i, p.stderr.decode("utf-8", "replace").strip()))
        info = p.stdout.decode("utf-8", "replace")
        subject = next((l[len("Subject: "):] for l in info.splitlines() if l.startswith("Subject: ")), "").strip()
        # the header itself (mailinfo --message-id only adds it to mails with a patch)
        mid = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw).get("Message-ID")
        mid = re.sub(r"\s+", "", str(mid)).strip("<>") or None if mid else None
        with open(patch, "rb") as fh:
            diff = fh.read()
        shown = subject or "mail %d of %s" % (i, os.path.basename(f))
        skip = None
        if COVER.match(subject):
            skip = "cover letter"
        elif re.match(r"(?i)^\s*re:", subject):
            skip = "a reply, not a patch of the series"
        elif not HAS_DIFF.search(diff):
            skip = "no diff in it"
        out.append(Patch(f, i if len(mails) > 1 else None, shown, mid, diff, skip))
    if not out:
        raise Refused("%s: no mails in it" % f)
    return out


def check_series(s, tmp):
    """The patches of a series; exit 2 when it has none to apply (a file of cover letters
    alone is fine inside a directory of patches, not as the whole series)."""
    patches = []
    for f in series_files(s):
        patches += patches_of(f, tmp)
    if all(p.skip for p in patches):
        why = [p for p in patches if p.skip != "no diff in it"]
        raise Refused("%s: contains no diff%s" % (s, " (%s)" % "; ".join('"%s": %s' % (p.subject, p.skip) for p in why[:3]) if why else ""))
    return patches


# --- the diff's own structure

class Hunk:
    def __init__(self, n, old_start, old_count, new_start, new_count, header, lines):
        self.n, self.old_start, self.old_count, self.new_start, self.new_count = n, old_start, old_count, new_start, new_count
        self.header = header
        self.lines = lines
        self.leading = 0
        for l in lines:
            if l[:1] != b" ":
                break
            self.leading += 1
        self.trailing = 0
        for l in reversed(lines):
            if l[:1] != b" ":
                break
            self.trailing += 1


HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")


def parse_diff(diff):
    """{path: [Hunk]} of the files a diff changes (by new name), and every path it touches."""
    files, touched, hunks = {}, [], None
    lines = diff.split(b"\n")
    i = 0
    while i < len(lines):
        l = lines[i]
        m = HUNK.match(l)
        if m and hunks is not None:
            old_start, old_count = int(m.group(1)), int(m.group(2) or 1) if m.group(2) != b"0" else 0
            new_start, new_count = int(m.group(3)), int(m.group(4) or 1) if m.group(4) != b"0" else 0
            body, ro, rn = [], old_count, new_count
            i += 1
            # the hunk's own counts say where it ends ("--- x" inside it is a removed line)
            while i < len(lines) and (ro > 0 or rn > 0):
                b = lines[i]
                c = b[:1]
                if c == b" " or b == b"":
                    ro, rn = ro - 1, rn - 1
                elif c == b"-":
                    ro -= 1
                elif c == b"+":
                    rn -= 1
                elif c != b"\\":
                    break
                body.append(b or b" ")
                i += 1
            hunks.append(Hunk(len(hunks) + 1, old_start, old_count, new_start, new_count,
                              m.group(5).decode("utf-8", "replace").strip(), body))
            continue
        m = re.match(rb"^diff --git a/(\S+) b/(\S+)", l)
        mm = re.match(rb"^(---|\+\+\+) (?:[ab]/)?([^\t ]+)", l)
        if m:
            touched += [m.group(1).decode(), m.group(2).decode()]
            hunks = files.setdefault(m.group(2).decode(), [])
        elif mm and mm.group(2) != b"/dev/null":
            touched.append(mm.group(2).decode())
            if mm.group(1) == b"+++":
                hunks = files.setdefault(mm.group(2).decode(), [])
        else:
            for k in (b"rename from ", b"rename to ", b"copy from ", b"copy to "):
                if l.startswith(k):
                    touched.append(l[len(k):].decode())
        i += 1
    return files, sorted(set(p for p in touched if p and p != "/dev/null"))


# --- where a hunk landed: the function git names for it

def function_at(tree, path, line, driver):
    """The line `git diff` would put after the second @@ of a hunk starting at `line` of
    tree/path (1-based): the nearest function line above it, by `driver` ('attributes': the
    tree's .gitattributes, e.g. the kernel's `*.[ch] diff=cpp'; 'default': git's built-in rule)."""
    try:
        with open(os.path.join(tree, path), "rb") as fh:
            text = fh.read().split(b"\n")
    except OSError:
        return ""
    marker = b"DMEMFUZZ_HUNK_START_MARKER"
    d = tempfile.mkdtemp()
    try:
        copy = os.path.join(d, os.path.basename(path))
        with open(copy, "wb") as fh:
            fh.write(b"\n".join(text[:max(line - 1, 0)] + [marker] + text[max(line - 1, 0):]))
        attrs = os.path.join(tree, ".gitattributes") if driver == "attributes" else "/dev/null"
        if not os.path.exists(attrs):
            attrs = "/dev/null"
        p = git(["-c", "core.attributesFile=" + attrs, "grep", "--no-index", "-p", "-n", "-F", marker.decode(),
                 "--", os.path.basename(path)], cwd=d)
        for l in p.stdout.decode("utf-8", "replace").splitlines():
            m = re.match(r"^[^=]*=(\d+)=(.*)$", l)
            if m:
                return m.group(2)
        return ""
    finally:
        shutil.rmtree(d, ignore_errors=True)


def fn_name(text):
    """`get_cg_pool_unlocked` of `get_cg_pool_unlocked(struct dmemcg_state *cg, ...`; the whole
    (stripped) text when there is no call-like identifier."""
    m = re.match(r"^[^(]*?([A-Za-z_][A-Za-z_0-9]*)\s*\(", text)
    return m.group(1) if m else text.strip()


def lands_in_named_function(tree, path, line, header):
    found = [function_at(tree, path, line, d) for d in ("attributes", "default")]
    for f in found:
        if not header and not f.strip():
            return True, f
        if header and (fn_name(f) == fn_name(header) or f.strip()[:80].rstrip() == header.strip()):
            return True, f
    return False, found[0]


# --- applying

class Applied:
    def __init__(self):
        self.offsets, self.fuzzed = [], []


def git_apply(dest, patchfile, context=None, check=False):
    args = ["apply", "-v", "-p1", "--whitespace=nowarn"]
    if context is not None:
        args.append("-C%d" % context)
    if check:
        args.append("--check")
    p = git(args + [patchfile], cwd=dest)
    return p.returncode == 0, p.stderr.decode("utf-8", "replace")


def parse_verbose(out, files):
    """Hunks git apply -v reports: offsets [(path, n, pos, offset)], fuzzed [(path, hunk, pos, lead, trail)]."""
    offsets, fuzzed = [], []
    path, last, nxt = None, None, {}
    for l in out.splitlines():
        m = re.match(r"^Checking patch (?:.* => )?(.*)\.\.\.$", l)
        if m:
            path, last = m.group(1), None
            continue
        m = re.match(r"^Hunk #(\d+) succeeded at (\d+) \(offset (-?\d+) lines?\)\.$", l)
        if m and path:
            last = (int(m.group(1)), int(m.group(2)))
            offsets.append((path, last[0], last[1], int(m.group(3))))
            nxt[path] = last[0]
            continue
        m = re.match(r"^Context reduced to \((\d+)/(\d+)\) to apply fragment at (\d+)$", l)
        if m and path:
            lead, trail, pos = int(m.group(1)), int(m.group(2)), int(m.group(3))
            hunks = files.get(path, [])
            if last and last[1] == pos:
                h = hunks[last[0] - 1] if last[0] - 1 < len(hunks) else None
            else:
                # no "Hunk #" line: applied where git first looked, the new start less one line per
                # leading context line it dropped
                h = next((x for x in hunks[nxt.get(path, 0):] if x.new_start - (x.leading - lead) == pos), None)
            if h is not None:
                fuzzed.append((path, h, pos, lead, trail))
                nxt[path] = h.n
            last = None
            continue
        last = None
    return offsets, fuzzed


def first_failure(out, patchfile, files):
    """`path:line` of the first hunk git apply could not place, else of the first error."""
    m = re.search(r"^error: patch failed: (.*:\d+)$", out, re.M)
    if m:
        return m.group(1), None
    m = re.search(r"^error: (.*)$", out, re.M)
    why = m.group(1) if m else "git apply failed"
    mm = re.match(r"^(\S+): (.*)$", why)
    if mm and mm.group(1) in files:
        hs = files[mm.group(1)]
        return "%s:%d" % (mm.group(1), hs[0].old_start if hs else 1), mm.group(2)
    return None, why


def fuzz_placement(dest, files, fuzzed):
    """For each hunk git placed with less context: (path, hunk, line in the unpatched tree, fuzz,
    where it landed per git, ok)."""
    res = []
    for path, h, pos, lead, trail in fuzzed:
        start = pos - (h.leading - lead)    # where the full-context hunk would begin, as applied
        start -= sum(x.new_count - x.old_count for x in files.get(path, []) if x.n < h.n)
        ok, found = lands_in_named_function(dest, path, start, h.header)
        res.append((path, h, start, max(h.leading - lead, h.trailing - trail), found.strip(), ok))
    return res


def describe(path, h):
    return "hunk %d (%s:%d%s)" % (h.n, path, h.old_start, ", " + fn_name(h.header) if h.header else "")


def apply_patch(dest, p, kind, allow_fuzz, tmp):
    label = '%s: patch "%s"' % (p.file, p.subject) if p.index is None else '%s: mail %d, patch "%s"' % (p.file, p.index, p.subject)
    files, touched = parse_diff(p.diff)
    pf = os.path.join(tmp, "current.patch")
    with open(pf, "wb") as fh:
        fh.write(p.diff)
    rec = {"kind": kind, "file": os.path.abspath(p.file), "mail": p.index, "subject": p.subject,
           "message_id": p.message_id, "how": "exact", "offset_hunks": [], "fuzzed_hunks": [],
           "paths": sorted(touched)}
    ok, out = git_apply(dest, pf, check=True)
    context = None
    if not ok:
        where, why = first_failure(out, pf, files)
        at = "first failing hunk at %s" % where if where else why
        if where and why:
            at += " (%s)" % why
        fz_ok, fz_out = git_apply(dest, pf, context=1, check=True)
        placed = fuzz_placement(dest, files, parse_verbose(fz_out, files)[1]) if fz_ok else []
        wrong = [x for x in placed if not x[5]]
        if kind == "test":
            raise Refused(test_patch_conflict(dest, p, where or why))
        if not allow_fuzz:
            hint = ""
            if fz_ok and wrong:
                path, h, start, f, found, _ = wrong[0]
                hint = "; with fuzz, %s would land at %s:%d in %s" % (describe(path, h), path, start, fn_name(found) or "no function")
            elif fz_ok:
                hint = "; it applies with fuzz (--allow-fuzz)"
            raise Refused("%s does not apply exactly: %s%s" % (label, at, hint))
        if not fz_ok:
            where2, why2 = first_failure(fz_out, pf, files)
            raise Refused("%s does not apply, even with fuzz: first failing hunk at %s" % (label, where2 or why2))
        if wrong:
            path, h, start, f, found, _ = wrong[0]
            raise Refused("%s: %s lands at %s:%d with fuzz %d, in %s, not in %s: refused" % (
                label, describe(path, h), path, start, f, fn_name(found) or "no function", fn_name(h.header) or "the top of the file"))
        context = 1
        rec["how"] = "fuzz"
        rec["fuzzed_hunks"] = ["%s hunk %d at %d fuzz %d in %s" % (path, h.n, start, f, fn_name(found) or "-")
                               for path, h, start, f, found, _ in placed]
    # break hardlinks so that applying never writes into the source tree's inodes
    with open(os.path.join(dest, ".dmemfuzz-patched-files"), "a") as fh:
        for t in touched:
            fh.write(t + "\n")
            full = os.path.join(dest, t)
            if os.path.isfile(full) and not os.path.islink(full):
                shutil.copy2(full, full + ".dmemfuzz-unshare")
                os.replace(full + ".dmemfuzz-unshare", full)
    ok, out = git_apply(dest, pf, context=context)
    if not ok:
        raise RuntimeError("%s: git apply failed after its check passed: %s" % (label, out.strip().splitlines()[-1:]))
    offsets, fuzzed = parse_verbose(out, files)
    # git reports a fuzzed hunk's reduced context as an offset too: those are in fuzzed_hunks
    refuzzed = set((path, h.n) for path, h, _, _, _ in fuzzed)
    rec["offset_hunks"] = ["%s hunk %d at %d offset %d" % o for o in offsets if (o[0], o[1]) not in refuzzed]
    if rec["how"] == "fuzz":
        say('%s: "%s" applied with fuzz (%s)' % (p.file, p.subject, "; ".join(rec["fuzzed_hunks"])))
    return rec


def test_patch_conflict(dest, p, where):
    """The line for a dmemfuzz test patch that no longer applies once the user's series is in:
    the file it fails in, the series patch that changed that file (the kernel API the test patch
    edits or calls moved), and that the test patch needs a version for the series."""
    path = where.split(":")[0] if where else ""
    by = []
    try:
        with open(os.path.join(dest, ".dmemfuzz-applied")) as fh:
            for l in fh:
                r = json.loads(l)
                if r.get("kind") == "series" and path in r.get("paths", []):
                    by.append('"%s"' % r.get("subject"))
    except OSError:
        pass
    changed = ("which the series changed (patch %s)" % ", ".join(by)) if by else "which the series did not change"
    return ("dmemfuzz test patch %s does not apply on top of the series: first failing hunk at %s, %s; "
            "the test patch needs a version for the series' API (vm/patches/README.md), or the series must bring its own "
            "driver glue" % (os.path.basename(p.file), where or "?", changed))


# --- a failed build after a series

GCC_ERROR = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?:\d+:)? (?:fatal )?error: (?P<msg>.*)$")
MODPOST = re.compile(r'^ERROR: modpost: "(?P<sym>[^"]+)" \[(?P<file>[^\]]+)\] undefined!')
QUOTED = re.compile(r"[\u2018'`]([A-Za-z_][A-Za-z_0-9]*)[\u2019']")
IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
DECL_START = re.compile(r"^[A-Za-z_][^=;{}()]*?\b([A-Za-z_][A-Za-z_0-9]*)\s*\(")


def changed_prototypes(patches):
    """{function: (path, patch subject)} for every top-level declaration or definition line group
    (a line at column 0 naming `f(`, up to the line that closes its parentheses) that a series
    hunk changes; a hunk that starts inside one is attributed to the function its @@ line names."""
    out = {}
    for p in patches:
        files, _ = parse_diff(p.diff)
        for path, hunks in files.items():
            if not path.endswith((".h", ".c")):
                continue
            for h in hunks:
                name, depth, changed = None, 0, False
                # a header's hunk may begin inside a prototype that spans lines (in a .c file
                # it begins in the body of the function the @@ line names, far more likely)
                if path.endswith(".h") and h.header and DECL_START.match(h.header) and h.header.count("(") > h.header.count(")"):
                    name, depth = fn_name(h.header), h.header.count("(") - h.header.count(")")
                for raw in h.lines:
                    kind, text = raw[:1], raw[1:].decode("utf-8", "replace")
                    # kernel style: a declaration starts in column 0, its continuation lines do not
                    if name is None or depth <= 0 or DECL_START.match(text):
                        if name and changed:
                            out.setdefault(name, (path, p.subject))
                        name, depth, changed = None, 0, False
                        m = DECL_START.match(text)
                        if m and not text.startswith("#"):
                            name = m.group(1)
                        else:
                            continue
                    depth += text.count("(") - text.count(")")
                    changed = changed or kind in (b"+", b"-")
                if name and changed:
                    out.setdefault(name, (path, p.subject))
    return out


def build_error(log, src, tpdir, series):
    with open(log, "rb") as fh:
        lines = fh.read().decode("utf-8", "replace").splitlines()
    first = None
    for l in lines:
        m = GCC_ERROR.match(l)
        if m:
            first = (m.group("file"), int(m.group("line")), m.group("msg"), None)
            break
        m = MODPOST.match(l)
        if m:
            first = (m.group("file"), 0, 'undefined symbol "%s"' % m.group("sym"), m.group("sym"))
            break
    if first is None:
        e = next((l for l in lines if re.search(r"error:|Error \d+", l)), lines[-1] if lines else "no output")
        return "make failed: %s" % e.strip()
    path, line, msg, sym = first
    # gcc names the file as make gave it (absolute in an O= build, or ../src/...): the path
    # relative to the tree is the longest tail of it that the tree has
    parts = [c for c in path.split("/") if c not in ("", ".")]
    rel = next(("/".join(parts[i:]) for i in range(len(parts)) if os.path.isfile(os.path.join(src, *parts[i:]))), path)
    if sym is None:
        q = QUOTED.search(msg)
        sym = q.group(1) if q else None
    where = "%s:%d" % (rel, line) if line else rel
    text = "make failed: %s: error: %s" % (where, msg)
    if sym:
        text += " (symbol %s)" % sym
    # the test patch that adds or touches the failing file (a .ko names its directory)
    tmp = tempfile.mkdtemp()
    try:
        tps = []
        if os.path.isdir(tpdir):
            for n in sorted(os.listdir(tpdir)):
                if n.endswith(".patch"):
                    for p in patches_of(os.path.join(tpdir, n), tmp):
                        _, touched = parse_diff(p.diff)
                        tps.append((n, touched))
        d = os.path.dirname(rel) + "/"
        tp = next((n for n, touched in tps if rel in touched or (rel.endswith(".ko") and any(t.startswith(d) for t in touched))), None)
        if tp is None:
            return text
        patches = []
        for s in series:
            patches += [p for p in check_series(s, tmp) if not p.skip]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    changed = changed_prototypes(patches)
    used = []
    if sym:
        used.append(sym)
    try:
        with open(os.path.join(src, rel), "rb") as fh:
            src_line = fh.read().decode("utf-8", "replace").split("\n")[line - 1] if line else ""
        used += IDENT.findall(src_line)
    except (OSError, IndexError):
        pass
    api = next((u for u in used if u in changed), None)
    if api is None:
        return text + "; %s is in dmemfuzz test patch %s, and the series changes no function that line uses" % (rel, tp)
    cpath, subject = changed[api]
    return text + "; the series changed %s() (%s, patch \"%s\"), which dmemfuzz test patch %s calls there: it needs a version for the new API" % (
        api, cpath, subject, tp)


def record(dest, rec):
    with open(os.path.join(dest, ".dmemfuzz-applied"), "a") as fh:
        fh.write(json.dumps(rec, sort_keys=True) + "\n")


def main(argv):
    if not argv or argv[0] not in ("check", "apply", "build-error"):
        sys.stderr.write(__doc__)
        return 1
    tmp = tempfile.mkdtemp(prefix="dmemfuzz-series.")
    try:
        if argv[0] == "build-error":
            print(build_error(argv[1], argv[2], argv[3], argv[4:]))
            return 0
        if argv[0] == "check":
            for s in argv[1:]:
                check_series(s, tmp)
            return 0
        args, allow_fuzz, kind = argv[1:], False, "series"
        while args and args[0].startswith("--"):
            if args[0] == "--allow-fuzz":
                allow_fuzz = True; args = args[1:]
            elif args[0] == "--kind":
                kind = args[1]; args = args[2:]
            else:
                raise RuntimeError("unknown option " + args[0])
        dest, series = args[0], args[1:]
        for s in series:
            for p in check_series(s, tmp):
                if p.skip:
                    say('%s: "%s": %s, skipped' % (p.file, p.subject, p.skip))
                    record(dest, {"kind": "skipped", "file": os.path.abspath(p.file), "mail": p.index, "subject": p.subject,
                                  "message_id": p.message_id, "how": "skipped", "reason": p.skip,
                                  "offset_hunks": [], "fuzzed_hunks": []})
                    continue
                record(dest, apply_patch(dest, p, kind, allow_fuzz, tmp))
        return 0
    except Refused as e:
        say(str(e))
        return 2
    except (RuntimeError, OSError) as e:
        say(str(e))
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
