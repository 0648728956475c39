#!/usr/bin/env python3
"""Reads the Surefire XML reports of the Java-based suites (scripts/test-java.sh, scripts/test-spring.sh).

    surefire.py counts OUT PREFIX    prints "passed failed skipped flaky" over OUT/PREFIX-*/TEST-*.xml
    surefire.py table OUT PREFIX     prints one row per scenario and run, then each failure's reason

A run is the report directory's name after "PREFIX-" (e.g. java-bolide-4.9.8 -> bolide-4.9.8). A scenario
that failed and then passed on Surefire's rerun counts as passed and flaky ("ok*" in the table). The
failures' reasons are printed so that a CI log that keeps only the tail still says why.
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET

FAILED = {"failure", "error"}
FLAKY = {"flakyFailure", "flakyError"}


def cases(out, prefix):
    """(run, testcase element) of every report, in path order."""
    for path in sorted(glob.glob("%s/%s-*/TEST-*.xml" % (out, prefix))):
        run = os.path.basename(os.path.dirname(path))[len(prefix) + 1:]
        for case in ET.parse(path).getroot().iter("testcase"):
            yield run, case


def name(case):
    return case.get("classname", "").split(".")[-1] + "." + case.get("name", "")


def counts(out, prefix):
    p = f = s = k = 0
    for _, case in cases(out, prefix):
        kinds = {c.tag for c in case}
        if kinds & FAILED:
            f += 1
        elif "skipped" in kinds:
            s += 1
        else:
            p += 1
            k += bool(kinds & FLAKY)
    print(p, f, s, k)


def table(out, prefix):
    rows = {}
    for run, case in cases(out, prefix):
        kinds = {x.tag for x in case}
        r = "FAIL" if kinds & FAILED else "skip" if "skipped" in kinds else "ok*" if kinds & FLAKY else "ok"
        rows.setdefault(name(case), {})[run] = (r, float(case.get("time", 0)))
    runs = sorted({r for v in rows.values() for r in v})
    width = max([len(n) for n in rows] + [40]) + 2
    print("==> %s results per scenario (%s; ok* = passed on its rerun):" % (prefix, ", ".join(runs)))
    for n in sorted(rows):
        print("    %-*s %s" % (width, n, "  ".join("%4s %5.1fs" % rows[n].get(r, ("-", 0)) for r in runs)))
    for run, case in cases(out, prefix):
        for x in case:
            if x.tag in FAILED | FLAKY:
                msg = " ".join((x.get("message") or x.text or "").split())[:400]
                what = "FAIL" if x.tag in FAILED else "FLAKY (passed on rerun)"
                print("    %s %s %s: %s" % (what, run, name(case), msg))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("counts", "table"):
        sys.exit(__doc__)
    {"counts": counts, "table": table}[sys.argv[1]](sys.argv[2], sys.argv[3])
