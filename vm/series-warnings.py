#!/usr/bin/env python3
"""series-warnings.py WORK_SRC OBJ PRISTINE_SRC TPDIR -- MAKE...

Build warnings in a series' files, as the 0-day bot reports them (issue 9): every C file the
series changed is compiled with W=1, once as patched and once as the base tree has it (the
pristine source plus the dmemfuzz test patches), with the same gcc command line; a warning the
patched file has and the base file does not is the series'. Warnings are compared by their text
and flag, not their line (the series moves lines).

A series-changed file: listed in WORK_SRC/.dmemfuzz-patched-files, a .c file, and different from
what the test patches alone make of the pristine file.

Prints one line per new warning, `path:line:col: warning: text [-Wflag] (in function)`, and
nothing when there are none. Exit 0 (also when a file cannot be compiled on its own: said on
stderr, as `series-warnings: <path>: ...`); 1 on a usage error.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

WARN = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): warning: (?P<text>.*?)(?: \[(?P<flag>-W[^\]]+)\])?$")
FUNC = re.compile(r"^(?P<file>[^:\s]+): In function ['\u2018](?P<fn>[^'\u2019]+)['\u2019]:$")


def say(msg):
    sys.stderr.write("series-warnings: " + msg + "\n")


def warnings(output, name):
    """(text, flag, function, line:col) of each warning gcc printed for the file named `name`."""
    out, fn = [], None
    for l in output.splitlines():
        m = FUNC.match(l)
        if m:
            fn = m.group("fn") if m.group("file").endswith(name) else None
            continue
        if l.endswith(": At top level:"):
            fn = None
            continue
        m = WARN.match(l)
        if m and m.group("file").endswith(name):
            out.append((m.group("text"), m.group("flag") or "", fn or "", m.group("line") + ":" + m.group("col")))
    return out


def base_content(pristine, tpdir, path, tmp):
    """The file as the base kernel has it: pristine + the test patches that touch it."""
    d = os.path.join(tmp, "base")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, os.path.dirname(path)), exist_ok=True)
    src = os.path.join(pristine, path)
    if os.path.exists(src):
        shutil.copy(src, os.path.join(d, path))
    patches = sorted(os.path.join(tpdir, p) for p in os.listdir(tpdir) if p.endswith(".patch")) if os.path.isdir(tpdir) else []
    for p in patches:
        subprocess.run(["git", "apply", "--include=" + path, p], cwd=d, capture_output=True)
    if not os.path.exists(os.path.join(d, path)):
        return None  # a file the series adds (no test patch creates it): all of it is the series'
    with open(os.path.join(d, path), "rb") as f:
        return f.read()


def main(argv):
    if "--" not in argv or len(argv[:argv.index("--")]) != 4:
        sys.stderr.write(__doc__)
        return 1
    work, obj, pristine, tpdir = argv[:4]
    make = argv[argv.index("--") + 1:]
    try:
        with open(os.path.join(work, ".dmemfuzz-patched-files")) as f:
            paths = [l.strip() for l in f if l.strip().endswith(".c")]
    except OSError:
        return 0
    tmp = tempfile.mkdtemp(prefix="dmemfuzz-w1.")
    try:
        for path in sorted(set(paths)):
            full = os.path.join(work, path)
            if not os.path.exists(full):
                continue
            with open(full, "rb") as f:
                patched = f.read()
            base = base_content(pristine, tpdir, path, tmp)
            if base == patched:
                continue  # only the test patches changed it
            target = path[:-2] + ".s"
            try:
                os.remove(os.path.join(obj, target))
            except OSError:
                pass
            r = subprocess.run(make + ["W=1", "V=1", target], capture_output=True, text=True)
            if r.returncode != 0:
                say("%s: does not compile on its own with W=1 (%s)" % (path, (r.stderr.strip().splitlines() or ["?"])[-1]))
                continue
            name = os.path.basename(path)
            new = warnings(r.stderr, name)
            known = []
            if base is not None and new:
                # the same gcc command, on the base content in the same directory (relative
                # includes resolve the same), output thrown away
                cmd = next((l for l in r.stdout.splitlines() if " -S " in l and l.rstrip().endswith(path)), None)
                if cmd is None:
                    say("%s: no compile command in make's output; all its warnings are listed" % path)
                else:
                    basefile = os.path.join(os.path.dirname(full), ".dmemfuzz-base-" + name)
                    with open(basefile, "wb") as f:
                        f.write(base)
                    try:
                        words = shlex.split(cmd.strip())
                        words = [basefile if w.endswith(path) and w == words[-1] else w for w in words]
                        if "-o" in words:
                            words[words.index("-o") + 1] = "/dev/null"
                        b = subprocess.run(words, cwd=obj, capture_output=True, text=True)
                        known = warnings(b.stderr, ".dmemfuzz-base-" + name)
                    finally:
                        os.remove(basefile)
            pool = [(t, fl, fn) for t, fl, fn, _ in known]
            for t, fl, fn, at in new:
                if (t, fl, fn) in pool:
                    pool.remove((t, fl, fn))
                    continue
                print("%s:%s: warning: %s%s%s" % (path, at, t, " [%s]" % fl if fl else "", " (in %s)" % fn if fn else ""))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
