#!/usr/bin/env bash
# Go interop suite (tests/go, official client github.com/apache/rocketmq-client-go/v2, pinned in go.mod).
#
# Downloads the Go modules once per machine (go mod download into the module cache; a no-op when they
# are there), then runs `go test` in tests/go. The suite's TestMain starts Bolide itself from $BOLIDE_BIN
# and stops it (tests/go/README.md says why); this script only checks that the binary exists, bounds the
# run and stops the test process group if it is interrupted.
#
# Prints 'go: N passed, N failed, N skipped' and writes "P F S" to "$OUT/go-counts". Exits non-zero if Go
# is missing, the modules cannot be downloaded, the build fails or any test fails.
#
# Env: BOLIDE_BIN (default ${CARGO_TARGET_DIR:-target}/release/bolide), OUT (default
#      ${CARGO_TARGET_DIR:-target}/test-output), GO_TEST_TIMEOUT (s, default 170), GO_TEST_ARGS (extra
#      arguments for go test, e.g. "-run Orderly"); the suite's own: INTEROP_WORK_DIR, INTEROP_PORTS,
#      INTEROP_KEEP, ROCKETMQ_GO_LOG_LEVEL, RUST_LOG.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

target="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$target" in /*) ;; *) target="$ROOT/$target" ;; esac
OUT="${OUT:-$target/test-output}"
mkdir -p "$OUT"
rm -f "$OUT/go-counts"
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

child=""
stop_child() {
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -TERM -- "-$child" 2>/dev/null # go test and the test binary; the broker dies with the latter
        sleep 2
        kill -KILL -- "-$child" 2>/dev/null
    fi
}
trap 'stop_child' EXIT
trap 'stop_child; exit 130' INT TERM

secs="${GO_TEST_TIMEOUT:-170}"
t0=$(date +%s)
# -count=1: never report a cached result (the broker binary is not an input go test knows about).
# shellcheck disable=SC2086
setsid go test -count=1 -v -timeout "${secs}s" ${GO_TEST_ARGS:-} ./... >"$log" 2>&1 &
child=$!
tail -n +1 -f --pid="$child" "$log" &
tailer=$!
wait "$child"
rc=$?
child=""
wait "$tailer" 2>/dev/null

# Top-level tests only (subtests are indented).
p=$(grep -cE '^--- PASS: ' "$log")
f=$(grep -cE '^--- FAIL: ' "$log")
s=$(grep -cE '^--- SKIP: ' "$log")
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "test-go.sh: go test exited $rc without a failed test (build error, broker start-up or timeout: see above)"
    f=1
fi
echo "$p $f $s" >"$OUT/go-counts"
echo "go: $p passed, $f failed, $s skipped ($(( $(date +%s) - t0 )) s, log $log)"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
