#!/usr/bin/python3
"""report-cases.py: the hardening report (docs/hardening.md) from the integration suite's results.

    tests/report-cases.py CASES_DIR > docs/hardening.md      write the report
    tests/report-cases.py --check CASES_DIR docs/hardening.md

Each integration test that provokes a fault records one line per case with t_case (tests/lab/lib.sh)
in CASES_DIR/TEST.txt (ctest sets NACME_CASES_FILE to build/tests/cases/TEST.txt). The report is one
table per test: the case, how it was provoked, what nacme did.

--check compares the report made from CASES_DIR with the committed one, test by test, for every
test that left results (a test not run in this ctest invocation is not compared), with every run
of digits read as the same number (free space, call numbers, seconds differ between runs), and
fails when they differ or when a case recorded failed checks: the committed report cannot drift
from what the suite shows."""
import os
import re
import sys

HEAD = """# Hardening: what nacme does under each fault

Generated from the integration suite's results by `tests/report-cases.py build/tests/cases >
docs/hardening.md` after a full `ctest` run; the suite's `report_cases` check fails when this file
and the suite disagree. Do not edit by hand. `LAB` is the test's lab directory, `TOKEN` an http-01
token.
"""


def parse(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"case: (.*) \| provoked by: (.*) \| result: (.*)$", line.rstrip("\n"))
            if not m:
                sys.exit(f"{path}: not a case line: {line.rstrip()}")
            rows.append(m.groups())
    return rows


def cell(text):
    return text.replace("|", "\\|")


def sections(cases_dir):
    out = {}
    for name in sorted(os.listdir(cases_dir)):
        if name.endswith(".txt"):
            rows = parse(os.path.join(cases_dir, name))
            if rows:
                out[name[:-4]] = rows
    return out


def render(secs):
    parts = [HEAD]
    for test, rows in secs.items():
        parts.append(f"\n## {test}\n\n| case | provoked by | what nacme did |\n|---|---|---|\n")
        parts.extend(f"| {cell(a)} | {cell(b)} | {cell(c)} |\n" for a, b, c in rows)
    return "".join(parts)


def committed_sections(path):
    secs, cur = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                cur = line[3:].strip()
                secs[cur] = []
            elif cur and line.startswith("| ") and not line.startswith("| case |"):
                secs[cur].append(line.rstrip("\n"))
    return secs


def norm(text):
    return re.sub(r"[0-9]+", "N", text)


def check(cases_dir, doc):
    secs = sections(cases_dir)
    have = committed_sections(doc)
    bad = 0
    for test, rows in secs.items():
        for a, b, c in rows:
            if c.endswith("[FAILED CHECKS]"):
                print(f"{test}: case '{a}' recorded failed checks")
                bad += 1
        want = [norm(line) for line in render({test: rows}).splitlines() if line.startswith("| ")
                and not line.startswith("| case |")]
        got = [norm(line) for line in have.get(test, [])]
        if want != got:
            print(f"{doc}: section {test} differs from the suite's results; regenerate it with "
                  f"tests/report-cases.py")
            for line in sorted(set(want) - set(got))[:3]:
                print(f"  suite:     {line}")
            for line in sorted(set(got) - set(want))[:3]:
                print(f"  committed: {line}")
            bad += 1
    if not secs:
        print(f"{cases_dir}: no results (run the integration tests first)")
        bad += 1
    return 1 if bad else 0


if len(sys.argv) == 4 and sys.argv[1] == "--check":
    sys.exit(check(sys.argv[2], sys.argv[3]))
if len(sys.argv) == 2:
    sys.stdout.write(render(sections(sys.argv[1])))
    sys.exit(0)
sys.exit(__doc__)
