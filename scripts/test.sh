#!/usr/bin/env bash
# THE test command of the project (README and .ci/run call exactly this):
#   cargo fmt --check; cargo clippy --all-targets -- -D warnings; cargo test; cargo build --release;
#   scripts/test-env.sh (Python venv with the official C++ client); pytest tests/interop;
#   scripts/test-go.sh (tests/go, official Go client);
#   scripts/test-java.sh (official Java client vs Bolide and the Apache RocketMQ broker);
#   scripts/test-mqadmin.sh (the Java mqadmin vs Bolide and the reference, bolide admin vs the reference).
#   scripts/test-spring.sh (a Spring Boot application, rocketmq-spring-boot-starter, vs Bolide and the reference).
#   scripts/test-grpc-proxy.sh (the RocketMQ 5 gRPC client through Apache's rocketmq-proxy, vs Bolide and the
#   reference).
# Every step runs even when an earlier one failed (one run shows everything that is wrong), except the
# interop tests, which need the release binary. Exits non-zero if anything failed, and ends with the plain
# line 'summary: N passed, N failed, N skipped' (Rust tests + interop tests; a failed step counts as one
# failure).
#
# Options:  --interop-only   skip the cargo steps (uses the existing release binary)
#           -- ARGS...       extra arguments for pytest (e.g. -- -k orderly)
# Env:      CARGO_TARGET_DIR (respected), INTEROP_FILE_TIMEOUT (s, per test file, default 420),
#           INTEROP_KEEP=1 (keep work dirs of passing tests under target/interop/)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

interop_only=0
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --interop-only) interop_only=1 ;;
        --) shift; pytest_args=("$@"); break ;;
        *) echo "test.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done

passed=0
failed=0
skipped=0
failures=()
t_start=$(date +%s)
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/test-output"
mkdir -p "$OUT"

note_failure() { failed=$((failed + 1)); failures+=("$1"); }

run_step() { # name, command...
    local name="$1"; shift
    local t0=$(date +%s)
    echo "==> $name: $*"
    if "$@"; then
        echo "==> $name: ok ($(( $(date +%s) - t0 )) s)"
        return 0
    fi
    echo "==> $name: FAILED ($(( $(date +%s) - t0 )) s)"
    note_failure "$name"
    return 1
}

release_ok=1
if [ "$interop_only" = 0 ]; then
    run_step "cargo fmt" cargo fmt --check
    run_step "cargo clippy" cargo clippy --all-targets -- -D warnings

    # cargo test: count the individual tests from its 'test result:' lines.
    echo "==> cargo test"
    t0=$(date +%s)
    cargo test 2>&1 | tee "$OUT/cargo-test.log"
    rc=${PIPESTATUS[0]}
    read -r p f i < <(awk '/^test result:/ {
            for (k = 1; k <= NF; k++) {
                if ($(k) ~ /^passed;?$/) p += $(k-1);
                if ($(k) ~ /^failed;?$/) f += $(k-1);
                if ($(k) ~ /^ignored;?$/) i += $(k-1);
            } } END { print p+0, f+0, i+0 }' "$OUT/cargo-test.log")
    passed=$((passed + p)); skipped=$((skipped + i))
    if [ "$f" -gt 0 ]; then
        failed=$((failed + f)); failures+=("cargo test: $f failed")
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        note_failure "cargo test (exit $rc without a failed test: build error?)"
    fi
    echo "==> cargo test: exit $rc, $p passed, $f failed, $i ignored ($(( $(date +%s) - t0 )) s)"

    run_step "cargo build --release" cargo build --release || release_ok=0
fi

env_ok=1
run_step "test env" scripts/test-env.sh || env_ok=0

if [ "$release_ok" = 1 ] && [ "$env_ok" = 1 ]; then
    # One pytest process per test file: the C++ client keeps native threads and global state per process,
    # so a hang or crash inside it costs only that file. Each file is bounded by INTEROP_FILE_TIMEOUT.
    echo "==> interop tests (tests/interop, official C++ client via PyPI rocketmq 0.4.4)"
    t0=$(date +%s)
    per_file="${INTEROP_FILE_TIMEOUT:-420}"
    rm -f "$OUT"/interop-*.xml
    for f in tests/interop/test_*.py; do
        base="$(basename "$f" .py)"
        xml="$OUT/interop-$base.xml"
        timeout -k 15 "$per_file" .venv/bin/python -m pytest "$f" -q --junitxml="$xml" "${pytest_args[@]}"
        rc=$?
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            echo "==> $f: killed after $per_file s"
            rm -f "$xml"
        fi
        if [ ! -s "$xml" ] && [ "$rc" -ne 5 ]; then
            note_failure "$f: pytest exit $rc without a report (timeout or crash)"
        fi
    done
    read -r p f s < <(.venv/bin/python - "$OUT" <<'PYEOF'
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/interop-*.xml"):
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = {c.tag for c in case}
        if kinds & {"failure", "error"}:
            f += 1
        elif "skipped" in kinds:
            s += 1
        else:
            p += 1
print(p, f, s)
PYEOF
)
    .venv/bin/python - "$OUT" <<'PYEOF'
import glob, sys, xml.etree.ElementTree as ET
cases = []
for path in glob.glob(sys.argv[1] + "/interop-*.xml"):
    for c in ET.parse(path).getroot().iter("testcase"):
        cases.append((float(c.get("time", 0)), c.get("classname", "").split(".")[-1] + "::" + c.get("name", "")))
print("==> slowest interop tests:")
for t, name in sorted(cases, reverse=True)[:8]:
    print("    %6.1f s  %s" % (t, name))
PYEOF
    passed=$((passed + p)); skipped=$((skipped + s))
    if [ "$f" -gt 0 ]; then
        failed=$((failed + f)); failures+=("interop: $f failed")
    fi
    echo "==> interop tests: $p passed, $f failed, $s skipped ($(( $(date +%s) - t0 )) s)"
else
    note_failure "interop tests not run (release build or test env failed)"
fi

if [ "$release_ok" = 1 ]; then # Go client suite (tests/go); its TestMain starts the release binary
    rm -f "$OUT/go-counts"
    OUT="$OUT" scripts/test-go.sh; rc=$?
    read -r gp gf gs 2>/dev/null < "$OUT/go-counts" || { gp=0; gf=0; gs=0; }
    passed=$((passed + gp)); skipped=$((skipped + gs))
    if [ "$gf" -gt 0 ]; then failed=$((failed + gf)); failures+=("go interop: $gf failed"); fi
    if [ "$rc" -ne 0 ] && [ "$gf" -eq 0 ]; then note_failure "scripts/test-go.sh (exit $rc)"; fi
else
    note_failure "go interop tests not run (release build failed)"
fi
if [ "$release_ok" = 1 ]; then
    echo "==> java interop (tests/java, official Java client against Bolide and the Java broker)"
    rm -f "$OUT/java-counts"
    OUT="$OUT" scripts/test-java.sh
    rc=$?
    if read -r p f s < "$OUT/java-counts" 2>/dev/null; then
        passed=$((passed + p)); skipped=$((skipped + s))
        [ "$f" -gt 0 ] && { failed=$((failed + f)); failures+=("java interop: $f failed"); }
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && note_failure "java interop: exit $rc"
    else
        note_failure "java interop: exit $rc without counts"
    fi
else
    note_failure "java interop not run (release build failed)"
fi
if [ "$release_ok" = 1 ]; then
    echo "==> mqadmin (tests/java/mqadmin: the Java admin tool against Bolide and the Java broker)"
    rm -f "$OUT/mqadmin-counts"
    OUT="$OUT" scripts/test-mqadmin.sh
    rc=$?
    if read -r p f s < "$OUT/mqadmin-counts" 2>/dev/null; then
        passed=$((passed + p)); skipped=$((skipped + s))
        [ "$f" -gt 0 ] && { failed=$((failed + f)); failures+=("mqadmin: $f failed"); }
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && note_failure "mqadmin: exit $rc"
    else
        note_failure "mqadmin: exit $rc without counts"
    fi
else
    note_failure "mqadmin not run (release build failed)"
fi
if [ "$release_ok" = 1 ]; then
    echo "==> spring (tests/spring: a Spring Boot application with rocketmq-spring-boot-starter against Bolide and the Java broker)"
    rm -f "$OUT/spring-counts"
    OUT="$OUT" scripts/test-spring.sh
    rc=$?
    if read -r p f s < "$OUT/spring-counts" 2>/dev/null; then
        passed=$((passed + p)); skipped=$((skipped + s))
        [ "$f" -gt 0 ] && { failed=$((failed + f)); failures+=("spring: $f failed"); }
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && note_failure "spring: exit $rc"
    else
        note_failure "spring: exit $rc without counts"
    fi
else
    note_failure "spring not run (release build failed)"
fi
if [ "$release_ok" = 1 ]; then
    echo "==> grpc-proxy (tests/grpc-proxy: the RocketMQ 5 gRPC client through rocketmq-proxy against Bolide and the Java broker)"
    rm -f "$OUT/grpc-proxy-counts"
    OUT="$OUT" scripts/test-grpc-proxy.sh
    rc=$?
    if read -r p f s < "$OUT/grpc-proxy-counts" 2>/dev/null; then
        passed=$((passed + p)); skipped=$((skipped + s))
        [ "$f" -gt 0 ] && { failed=$((failed + f)); failures+=("grpc-proxy: $f failed"); }
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && note_failure "grpc-proxy: exit $rc"
    else
        note_failure "grpc-proxy: exit $rc without counts"
    fi
else
    note_failure "grpc-proxy not run (release build failed)"
fi

echo
echo "==> total time $(( $(date +%s) - t_start )) s"
for x in "${failures[@]}"; do echo "    FAILED: $x"; done
echo "summary: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
