#!/usr/bin/env bash
# The Spring Boot interop suite (tests/spring): an application written with
# org.apache.rocketmq:rocketmq-spring-boot-starter (RocketMQTemplate, @RocketMQMessageListener,
# @RocketMQTransactionListener) against Bolide AND against the Apache RocketMQ broker (the reference,
# scripts/rocketmq-ref.sh) in one run; every scenario must pass on the reference (tests/spring/README.md).
#
#   scripts/test-spring.sh
#
# 1. Needs Java 17+, Maven and python3 (reads the Surefire reports). Without Java or Maven, or when Maven
#    cannot fetch the suite's artifacts (Maven Central unreachable and ~/.m2 empty), prints why and counts
#    the scenarios as skipped (exit 0). A suite that does not compile is a failure.
#    Builds the release binary (cargo build --release) when $BOLIDE_BIN is the default path and missing.
# 2. Starts Bolide ($BOLIDE_BIN serve, NameServer role in the same process, its own data dir) with short
#    transaction checks (transactionTimeOut, transactionCheckInterval: TransactionTest waits for a check-back),
#    runs `mvn test` against it, stops it.
# 3. Unless SPRING_SKIP_REF=1: starts the reference the same way (enablePropertyFilter=true for SqlFilterTest,
#    the same transaction settings, plus transactionOpBatchInterval: see REF_SETTINGS) and runs the suite again.
# 4. Surefire XML goes to $OUT/spring-<bolide|reference>/ (with each class's Spring and client console
#    output in <class>-output.txt), Maven's output to $OUT/spring-<broker>.log, the broker's log to
#    $OUT/spring-<broker>-broker.log, the RocketMQ client's logs to $OUT/spring-<broker>-clientlogs/. Prints
#    a table per scenario and 'spring: N passed, N failed, N skipped (T s)', and writes "p f s" to
#    $OUT/spring-counts. Exit status 0 only when nothing failed. A scenario that fails is rerun once
#    (tests/spring/pom.xml, spring.rerun); one that passes on the rerun counts as passed and is listed as
#    FLAKY with its first failure. Everything started is stopped on exit (trap).
#
# Ports: 24500-24519 only (Bolide: NameServer 24500, broker 24504 and 24502 (VIP); reference: NameServer
# 24510, broker 24514, 24512 (VIP), 24515 (HA)).
#
# Env: OUT (default ${CARGO_TARGET_DIR:-target}/test-output), BOLIDE_BIN (default
#      ${CARGO_TARGET_DIR:-target}/release/bolide), SPRING_WORK_DIR (data dirs; a real filesystem, default
#      ${CARGO_TARGET_DIR:-target}/spring-interop), SPRING_RUN_TIMEOUT (s per suite run, default 300),
#      SPRING_TEST (a Surefire -Dtest filter, e.g. 'TransactionTest'), SPRING_BOOT_VERSION (default: the
#      pom's, 2.7.18, the starter's own; e.g. 3.3.5), SPRING_SKIP_REF=1 (Bolide only), SPRING_KEEP=1 (keep
#      the work dir).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
TARGET="$(abs "${CARGO_TARGET_DIR:-target}")"
OUT="$(abs "${OUT:-$TARGET/test-output}")"
DEFAULT_BIN="$TARGET/release/bolide"
BOLIDE_BIN="$(abs "${BOLIDE_BIN:-$DEFAULT_BIN}")"
WORK="$(abs "${SPRING_WORK_DIR:-$TARGET/spring-interop}")"
RUN_TIMEOUT="${SPRING_RUN_TIMEOUT:-300}"
POM="$ROOT/tests/spring/pom.xml"
B_NS=24500; B_BR=24504; R_NS=24510; R_BR=24514
# Transactions: first check of a half message after 3 s, check rounds every 2 s (the Java broker's defaults,
# 6 s and 30 s, would make TransactionTest wait up to ~40 s).
TX_SETTINGS=(transactionTimeOut=3000 transactionCheckInterval=2000)
# The Java broker (5.x) writes the op records of decided transactions (the "this half message is done" marks
# the check reads) in batches every transactionOpBatchInterval, 3000 ms by default: with a 3 s
# transactionTimeOut its check would find a rolled-back half message still undecided and check it back.
REF_SETTINGS=(enablePropertyFilter=true "${TX_SETTINGS[@]}" transactionOpBatchInterval=500)
mkdir -p "$OUT"
rm -rf "$OUT"/spring-bolide "$OUT"/spring-reference "$OUT"/spring-*-clientlogs
rm -f "$OUT"/spring-*.log "$OUT/spring-counts"
t_start=$(date +%s)
scenarios=$(grep -rhE '^\s*@Test\b' tests/spring/src/test/java | wc -l)

extra_failures=0
extra_skipped=0
finish() { # prints and writes the counts from all reports, plus extra_failures / extra_skipped
    local p=0 f=0 s=0 k=0
    if command -v python3 >/dev/null; then
        read -r p f s k < <(python3 "$ROOT/scripts/surefire.py" counts "$OUT" spring) || { echo "test-spring: could not read the Surefire reports under $OUT"; extra_failures=$((extra_failures + 1)); }
    fi
    p=${p:-0}; f=${f:-0}; s=${s:-0}; k=${k:-0}
    f=$((f + extra_failures)); s=$((s + extra_skipped))
    echo "$p $f $s" > "$OUT/spring-counts"
    echo "spring: $p passed, $f failed, $s skipped ($(( $(date +%s) - t_start )) s)"
    [ "$k" -eq 0 ] || echo "spring: $k of the passed scenarios failed once and passed on their rerun (FLAKY lines above)"
    [ "$f" -eq 0 ]
}
skip_all() { # the whole suite cannot run here: say why, count its scenarios as skipped, exit 0
    echo "test-spring: SKIPPED: $*"
    local runs=2
    [ "${SPRING_SKIP_REF:-0}" != 1 ] || runs=1
    extra_skipped=$((extra_skipped + scenarios * runs))
    finish
    exit 0
}
give_up() { echo "test-spring: $*" >&2; extra_failures=$((extra_failures + 1)); finish || true; exit 1; }

# --- tools and downloads -----------------------------------------------------------------------------
command -v java >/dev/null || skip_all "java not found: install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless)"
command -v mvn >/dev/null || skip_all "mvn not found: install Maven (Debian: apt-get install maven)"
command -v python3 >/dev/null || give_up "python3 not found (reads the Surefire reports)"
jv="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
[ "${jv%%.*}" -ge 17 ] 2>/dev/null || skip_all "Java $jv is too old: the suite needs 17+ (and Spring Boot 3 does)"
if [ ! -x "$BOLIDE_BIN" ] && [ "$BOLIDE_BIN" = "$DEFAULT_BIN" ] && command -v cargo >/dev/null; then
    echo "==> spring: no broker binary at $BOLIDE_BIN: cargo build --release"
    cargo build --release >"$OUT/spring-cargo-build.log" 2>&1 || { tail -20 "$OUT/spring-cargo-build.log"; give_up "cargo build --release failed, see $OUT/spring-cargo-build.log"; }
fi
[ -x "$BOLIDE_BIN" ] || give_up "no Bolide binary at $BOLIDE_BIN (cargo build --release, or set BOLIDE_BIN)"
mkdir -p "$WORK"
fstype="$(stat -f -c %T "$WORK")"
case "$fstype" in tmpfs|ramfs|overlayfs|overlay) give_up "$WORK is on $fstype (no O_DIRECT): set SPRING_WORK_DIR to ext4/xfs" ;; esac

MVN_PROPS=()
[ -n "${SPRING_BOOT_VERSION:-}" ] && MVN_PROPS+=("-Dspring-boot.version=$SPRING_BOOT_VERSION")
echo "==> spring: fetching and compiling the suite (dependencies once per machine, into ~/.m2)"
t0=$(date +%s)
if ! mvn -B -q -f "$POM" test-compile "${MVN_PROPS[@]}" >"$OUT/spring-fetch.log" 2>&1; then
    if grep -qE "Could not resolve dependencies|Could not transfer artifact|Non-resolvable|Failed to read artifact descriptor|Plugin .* could not be resolved|Could not find artifact" "$OUT/spring-fetch.log"; then
        grep -m3 -E "ERROR" "$OUT/spring-fetch.log" | sed 's/^/    /' || true
        skip_all "Maven could not fetch the suite's artifacts (rocketmq-spring-boot-starter, Spring Boot; Maven Central unreachable?), see $OUT/spring-fetch.log"
    fi
    tail -30 "$OUT/spring-fetch.log"
    give_up "tests/spring does not compile, see $OUT/spring-fetch.log"
fi
ref=1
if [ "${SPRING_SKIP_REF:-0}" = 1 ]; then
    ref=0
elif ! scripts/rocketmq-ref.sh fetch >"$OUT/spring-fetch-ref.log" 2>&1; then
    tail -5 "$OUT/spring-fetch-ref.log" | sed 's/^/    /'
    echo "==> spring: SKIPPED the reference broker: could not fetch its jars (scripts/rocketmq-ref.sh fetch), see $OUT/spring-fetch-ref.log"
    ref=0
    extra_skipped=$((extra_skipped + scenarios))
fi
echo "==> spring: ready ($(( $(date +%s) - t0 )) s)"

# --- processes -----------------------------------------------------------------------------------------
# port_open, stop_pid, start_bolide
. "$ROOT/scripts/interop-lib.sh"
BOLIDE_PID=""
REF_DIR=""
save_logs() {
    [ -f "$WORK/bolide/bolide.log" ] && cp "$WORK/bolide/bolide.log" "$OUT/spring-bolide-broker.log"
    [ -f "$WORK/ref/home/logs/rocketmqlogs/broker.log" ] && cp "$WORK/ref/home/logs/rocketmqlogs/broker.log" "$OUT/spring-reference-broker.log"
    return 0
}
cleanup() {
    if [ -n "$BOLIDE_PID" ]; then stop_pid "$BOLIDE_PID" 5; BOLIDE_PID=""; fi
    if [ -n "$REF_DIR" ]; then
        REF_STOP_TIMEOUT=5 scripts/rocketmq-ref.sh stop "$REF_DIR" >/dev/null 2>&1 || true
        REF_DIR=""
    fi
    save_logs
}
trap 'cleanup; [ "${SPRING_KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM


run_suite() { # BROKER_KIND NAMESRV
    local kind="$1" ns="$2" rc=0
    local reports="$OUT/spring-$kind" log="$OUT/spring-$kind.log" t0
    t0=$(date +%s)
    mkdir -p "$reports"
    local args=(test "-Drocketmq.name-server=$ns" "-Dbroker.kind=$kind" "-Dspring.reports=$reports"
        "-Dspring.clientlogs=$OUT/spring-$kind-clientlogs" -Dmaven.test.failure.ignore=true "${MVN_PROPS[@]}")
    [ -n "${SPRING_TEST:-}" ] && args+=("-Dtest=$SPRING_TEST")
    timeout -k 15 "$RUN_TIMEOUT" mvn -B -f "$POM" "${args[@]}" >"$log" 2>&1 || rc=$?
    { grep -E "Tests run:|FAIL|ERROR\]" "$log" || true; } | grep -v "^\[ERROR\] *$" | sed -n '1,40p' | sed 's/^/    /'
    if ! ls "$reports"/TEST-*.xml >/dev/null 2>&1; then
        echo "==> spring $kind: no Surefire report (exit $rc), see $log"
        extra_failures=$((extra_failures + 1))
    elif [ "$rc" -ne 0 ]; then
        echo "==> spring $kind: Maven exit $rc (timeout after $RUN_TIMEOUT s or build error), see $log"
        extra_failures=$((extra_failures + 1))
    fi
    echo "==> spring $kind: $(( $(date +%s) - t0 )) s"
}

# --- Bolide ----------------------------------------------------------------------------------------------
echo "==> spring: Bolide ($BOLIDE_BIN)"
if start_bolide; then
    run_suite bolide "127.0.0.1:$B_NS"
else
    echo "==> spring: Bolide did not start, see $OUT/spring-bolide-broker.log"
    extra_failures=$((extra_failures + 1))
fi
cleanup

# --- the reference -------------------------------------------------------------------------------------
if [ "$ref" = 1 ]; then
    echo "==> spring: reference (Apache RocketMQ $(ls tests/java/reference/target/lib/rocketmq-broker-*.jar | sed 's/.*broker-//; s/\.jar//'))"
    t0=$(date +%s)
    rm -rf "$WORK/ref"
    REF_DIR="$WORK/ref"
    if scripts/rocketmq-ref.sh start "$REF_DIR" "$R_NS" "$R_BR" "${REF_SETTINGS[@]}" >"$OUT/spring-ref-start.log" 2>&1; then
        echo "==> spring: reference up ($(( $(date +%s) - t0 )) s)"
        run_suite reference "127.0.0.1:$R_NS"
    else
        tail -30 "$OUT/spring-ref-start.log"
        echo "==> spring: the reference did not start"
        extra_failures=$((extra_failures + 1))
    fi
    cleanup
fi

python3 "$ROOT/scripts/surefire.py" table "$OUT" spring
finish
