#!/usr/bin/env python3
"""series-lines.py WORK_SRC PRISTINE_SRC TPDIR

The lines a series added, for patch coverage (issue 9): every file the series changed (listed in
WORK_SRC/.dmemfuzz-patched-files and different from what the test patches alone make of the
pristine file, as series-warnings.py decides) is compared line by line with that base version;
each line of the patched file that the base does not have is printed as `path line`. Decoded,
applied patches are compared, not patch text, so mbox, quoted-printable and offsets do not
matter, and the numbers are those of the tree that was built.
"""
import difflib
import importlib.util
import os
import sys
import tempfile
import shutil

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("series_warnings", os.path.join(here, "series-warnings.py"))
sw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sw)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 1
    work, pristine, tpdir = argv
    try:
        with open(os.path.join(work, ".dmemfuzz-patched-files")) as f:
            paths = sorted({l.strip() for l in f if l.strip()})
    except OSError:
        return 0
    tmp = tempfile.mkdtemp(prefix="dmemfuzz-lines.")
    try:
        for path in paths:
            full = os.path.join(work, path)
            if not os.path.isfile(full):
                continue
            with open(full, "rb") as f:
                patched = f.read()
            base = sw.base_content(pristine, tpdir, path, tmp)
            if base == patched:
                continue
            new = patched.decode("utf-8", "replace").split("\n")
            old = [] if base is None else base.decode("utf-8", "replace").split("\n")
            for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
                if tag in ("replace", "insert"):
                    for j in range(j1, j2):
                        print("%s %d" % (path, j + 1))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
