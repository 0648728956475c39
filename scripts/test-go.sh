#!/usr/bin/env bash
# Go interop suite (tests/go, official client github.com/apache/rocketmq-client-go/v2, pinned in go.mod).
#
# Downloads the Go modules once per machine (go mod download into the module cache; a no-op when they
# are there), then runs `go test` in tests/go twice:
#   1. against Bolide: the suite's TestMain starts Bolide itself from $BOLIDE_BIN and stops it
#      (tests/go/README.md says why);
#   2. against the reference, Apache RocketMQ's Java NameServer + broker (scripts/rocketmq-ref.sh, started
#      here on the fixed ports 24650 and 24661, in the background while run 1 goes on, with REF_SETTINGS:
#      the keys main_test.go's brokerSettings give Bolide, plus what only the reference needs), through
#      INTEROP_NAMESRV/INTEROP_BROKER. The reference is the truth: a test that passes there and fails on
#      Bolide is a Bolide bug. GO_SKIP_REF=1 skips this run.
# This script checks that the binary exists, bounds each run and stops the test process group and the
# reference if it is interrupted.
#
# Prints 'go: N passed, N failed, N skipped' (both runs added up; each run's own line before it) and writes
# "P F S" to "$OUT/go-counts". Exits non-zero if Go is missing, the modules cannot be downloaded, the build
# fails, the reference cannot start (unless GO_SKIP_REF=1) or any test fails.
#
# Env: BOLIDE_BIN (default ${CARGO_TARGET_DIR:-target}/release/bolide), OUT (default
#      ${CARGO_TARGET_DIR:-target}/test-output), GO_TEST_TIMEOUT (s per run, default 170), GO_TEST_ARGS (extra
#      arguments for go test, e.g. "-run Orderly"), GO_SKIP_REF=1 (Bolide only), GO_REF_DIR (the reference's
#      store and logs, default ${CARGO_TARGET_DIR:-target}/go-ref; kept after a failed reference run); the
#      suite's own: INTEROP_WORK_DIR, INTEROP_PORTS, INTEROP_KEEP, ROCKETMQ_GO_LOG_LEVEL, RUST_LOG.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

target="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$target" in /*) ;; *) target="$ROOT/$target" ;; esac
OUT="${OUT:-$target/test-output}"
mkdir -p "$OUT"
rm -f "$OUT/go-counts" "$OUT/go-test-ref.log" "$OUT/go-ref-start.log"
log="$OUT/go-test.log"

fail() { echo "test-go.sh: $*" >&2; exit 1; }

echo "==> go interop tests (tests/go, official Go client rocketmq-client-go/v2)"
command -v go >/dev/null 2>&1 ||
    fail "Go is not installed (need Go >= 1.21 on PATH: https://go.dev/doc/install or apt-get install golang)"
echo "test-go.sh: $(go version), GOPROXY=$(go env GOPROXY), module cache $(go env GOMODCACHE)"

export BOLIDE_BIN="${BOLIDE_BIN:-$target/release/bolide}"
[ -x "$BOLIDE_BIN" ] || fail "no broker binary at $BOLIDE_BIN (cargo build --release, or set BOLIDE_BIN)"

cd tests/go
# Once per machine: later runs find everything in the module cache and do not touch the network.
if ! timeout 600 go mod download; then
    fail "could not download the Go modules of tests/go (is the Go proxy $(go env GOPROXY) reachable?)"
fi

# Broadcasting consumers keep their offsets in a local file, by default under $HOME/.rocketmq_client_go; the
# client reads this variable (a name bash cannot export, hence env) when the test binary starts.
offsets_dir="${INTEROP_WORK_DIR:-$target/interop-go}/client-offsets"
rm -rf "$offsets_dir"
mkdir -p "$offsets_dir"

# The reference broker's settings: the same as main_test.go's brokerSettings (keep them in step), plus
# traceTopicEnable (RocketMQ 5 creates RMQ_SYS_TRACE_TOPIC only with it and refuses to create it through
# UPDATE_AND_CREATE_TOPIC) and transactionOpBatchInterval (RocketMQ 5 writes the op records of resolved
# half messages in batches every 3 s by default; with a 1 s check-back it would check, and commit again,
# halves the producer had already resolved). enablePropertyFilter=true is among rocketmq-ref.sh's defaults.
REF_NS_PORT=24650
REF_BR_PORT=24661
REF_SETTINGS=(
    "messageDelayLevel=1s 3s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s"
    transactionTimeOut=1000
    transactionCheckInterval=1000
    transactionOpBatchInterval=100
    traceTopicEnable=true
)
REF_DIR="${GO_REF_DIR:-$target/go-ref}"
case "$REF_DIR" in /*) ;; *) REF_DIR="$ROOT/$REF_DIR" ;; esac
ref_pid=""
ref_started=""

child=""
stop_child() {
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -TERM -- "-$child" 2>/dev/null # go test and the test binary; the broker dies with the latter
        sleep 2
        kill -KILL -- "-$child" 2>/dev/null
    fi
}
stop_ref() {
    if [ -n "$ref_pid" ] && kill -0 "$ref_pid" 2>/dev/null; then
        kill -TERM "$ref_pid" 2>/dev/null # the start script; what it started is stopped below
        wait "$ref_pid" 2>/dev/null
    fi
    ref_pid=""
    if [ -n "$ref_started" ]; then
        REF_STOP_TIMEOUT=5 "$ROOT/scripts/rocketmq-ref.sh" stop "$REF_DIR" >/dev/null 2>&1
        ref_started=""
    fi
}
trap 'stop_child; stop_ref' EXIT
trap 'stop_child; stop_ref; exit 130' INT TERM

secs="${GO_TEST_TIMEOUT:-170}"
t0=$(date +%s)

# run_suite NAME LOG [ENV=VALUE...]: one go test run; sets P F S.
run_suite() {
    local name="$1" log="$2" rc
    shift 2
    # -count=1: never report a cached result (the broker binary is not an input go test knows about).
    # shellcheck disable=SC2086
    setsid env "rocketmq.client.localOffsetStoreDir=$offsets_dir" "$@" \
        go test -count=1 -v -timeout "${secs}s" ${GO_TEST_ARGS:-} ./... >"$log" 2>&1 &
    child=$!
    tail -n +1 -f --pid="$child" "$log" &
    local tailer=$!
    wait "$child"
    rc=$?
    child=""
    wait "$tailer" 2>/dev/null
    # Top-level tests only (subtests are indented).
    P=$(grep -cE '^--- PASS: ' "$log")
    F=$(grep -cE '^--- FAIL: ' "$log")
    S=$(grep -cE '^--- SKIP: ' "$log")
    if [ "$rc" -ne 0 ] && [ "$F" -eq 0 ]; then
        echo "test-go.sh: $name: go test exited $rc without a failed test (build error, broker start-up or timeout: see above)"
        F=1
    fi
    echo "test-go.sh: $name: $P passed, $F failed, $S skipped (log $log)"
}

# The JVMs take a while to boot: start the reference now, while the Bolide run goes on.
if [ "${GO_SKIP_REF:-}" != 1 ]; then
    "$ROOT/scripts/rocketmq-ref.sh" stop "$REF_DIR" >/dev/null 2>&1 # a leftover of an interrupted run
    rm -rf "$REF_DIR"
    mkdir -p "$REF_DIR"
    ref_started=1
    "$ROOT/scripts/rocketmq-ref.sh" start "$REF_DIR" "$REF_NS_PORT" "$REF_BR_PORT" "${REF_SETTINGS[@]}" \
        >"$OUT/go-ref-start.log" 2>&1 &
    ref_pid=$!
fi

echo "==> go: against Bolide ($BOLIDE_BIN)"
run_suite bolide "$log"
tp=$P tf=$F ts=$S

if [ "${GO_SKIP_REF:-}" != 1 ]; then
    echo "==> go: against the reference (Apache RocketMQ, namesrv 127.0.0.1:$REF_NS_PORT, broker 127.0.0.1:$REF_BR_PORT)"
    wait "$ref_pid"
    ref_rc=$?
    ref_pid=""
    if [ "$ref_rc" -ne 0 ]; then
        tail -30 "$OUT/go-ref-start.log"
        echo "test-go.sh: the reference broker did not start (log $OUT/go-ref-start.log; GO_SKIP_REF=1 skips this run)"
        tf=$((tf + 1))
    else
        ref_log=" and $OUT/go-test-ref.log"
        run_suite reference "$OUT/go-test-ref.log" \
            INTEROP_NAMESRV="127.0.0.1:$REF_NS_PORT" INTEROP_BROKER="127.0.0.1:$REF_BR_PORT"
        tp=$((tp + P)) tf=$((tf + F)) ts=$((ts + S))
        if [ "$F" -eq 0 ]; then
            stop_ref
            rm -rf "$REF_DIR"
        else
            stop_ref
            echo "test-go.sh: the reference's logs are kept in $REF_DIR"
        fi
    fi
fi

echo "$tp $tf $ts" >"$OUT/go-counts"
echo "go: $tp passed, $tf failed, $ts skipped ($(( $(date +%s) - t0 )) s, logs $log${ref_log:-})"
[ "$tf" -eq 0 ]
