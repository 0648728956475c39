#!/usr/bin/env bash
# The gRPC interop suite (tests/grpc-proxy): the RocketMQ 5 gRPC client (rocketmq-client-java) through Apache
# RocketMQ's own proxy (rocketmq-proxy, "cluster mode": the proxy speaks remoting to the broker) in front of
# Bolide AND in front of the Apache RocketMQ broker (the reference, scripts/rocketmq-ref.sh), in one run;
# every scenario must pass on the reference (tests/grpc-proxy/README.md).
#
#   scripts/test-grpc-proxy.sh
#
# 1. Needs Java 17+, Maven and python3 (reads the Surefire reports). Without Java or Maven, or when Maven
#    cannot fetch the proxy or the client (Maven Central unreachable and ~/.m2 empty), prints why and counts
#    the scenarios as skipped (exit 0). A suite that does not compile is a failure.
#    The proxy's jars (tests/grpc-proxy/proxy/pom.xml) are copied to tests/grpc-proxy/proxy/target/lib once
#    per pom change (stamp file .complete, as scripts/rocketmq-ref.sh does).
# 2. Per broker: starts it (short transaction checks: transactionTimeOut, transactionCheckInterval, so the
#    check-back scenario waits seconds, not a minute), then tests/grpc-proxy/proxy/Setup.java (RocketMQ's
#    admin library) checks that the broker has what the proxy needs (routes of the topics named after its
#    cluster and its broker: a clear failure if not), creates the run's typed topics (message.type) and
#    groups (consumeMessageOrderly for the FIFO ones); starts the proxy (rmq-proxy.json, cluster mode), runs
#    `mvn test` (the scenario classes run concurrently), stops the proxy and the broker.
#    Bolide first (unless GRPC_SKIP_BOLIDE=1), then the reference (unless GRPC_SKIP_REF=1).
# 3. Surefire XML goes to $OUT/grpc-<bolide|reference>/, Maven's output (the scenarios' own log lines among
#    it) to $OUT/grpc-<broker>.log, the setup's to $OUT/grpc-<broker>-setup.log, the proxy's to
#    $OUT/grpc-<broker>-proxy.log, the broker's to $OUT/grpc-<broker>-broker.log, the client's logs to
#    $OUT/grpc-<broker>-clientlogs/. Prints one 'PASS|FAIL|SKIP grpc <broker> <Class.method> ...' line per
#    scenario and run, then 'grpc-proxy: N passed, N failed, N skipped (T s)', and writes "p f s" to
#    $OUT/grpc-proxy-counts. Exit 0 only when nothing failed. A scenario that fails is rerun once
#    (GRPC_RERUN); one that passes on the rerun counts as passed and says FLAKY with its first failure.
#    A broker run that cannot reach its scenarios (broker, setup or proxy fails) counts each as failed.
#    Everything started is stopped on exit (trap).
#
# Ports: 24620-24649 only. Bolide: NameServer 24620, broker 24624 (+24622 VIP; 24625-24626 would be its
# shards' HA ports, unused by a master), its proxy gRPC 24628, remoting 24629. Reference: NameServer 24630,
# broker 24634 (+24632 VIP, 24635 HA), its proxy gRPC 24638, remoting 24639.
#
# Env: OUT (default ${CARGO_TARGET_DIR:-target}/test-output), BOLIDE_BIN (default
#      ${CARGO_TARGET_DIR:-target}/release/bolide), GRPC_WORK_DIR (data dirs; a real filesystem, default
#      ${CARGO_TARGET_DIR:-target}/grpc-proxy-interop), GRPC_RUN_TIMEOUT (s per suite run, default 300),
#      GRPC_TEST (a Surefire -Dtest filter: a class, e.g. FifoTest, or Class#method), GRPC_SKIP_REF=1,
#      GRPC_SKIP_BOLIDE=1, GRPC_RERUN (reruns of a failed scenario, default 1), GRPC_KEEP=1 (keep the work
#      dir), PROXY_HEAP (default 512m), GRPC_BATCH_ACK (the proxy's enableBatchAck, default true).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
TARGET="$(abs "${CARGO_TARGET_DIR:-target}")"
OUT="$(abs "${OUT:-$TARGET/test-output}")"
DEFAULT_BIN="$TARGET/release/bolide"
BOLIDE_BIN="$(abs "${BOLIDE_BIN:-$DEFAULT_BIN}")"
WORK="$(abs "${GRPC_WORK_DIR:-$TARGET/grpc-proxy-interop}")"
RUN_TIMEOUT="${GRPC_RUN_TIMEOUT:-300}"
SUITE="$ROOT/tests/grpc-proxy"
POM="$SUITE/pom.xml"
PROXY_POM="$SUITE/proxy/pom.xml"
PLIB="$SUITE/proxy/target/lib"
B_NS=24620; B_BR=24624; B_GRPC=24628; B_REM=24629
R_NS=24630; R_BR=24634; R_GRPC=24638; R_REM=24639
# Transactions: first check of a half message after 3 s, check rounds every 2 s (the Java broker's defaults,
# 6 s and 30 s, would make TransactionTest wait up to ~40 s). The Java broker also batches the op records of
# decided transactions every transactionOpBatchInterval (3 s by default): with a 3 s transactionTimeOut its
# check would find a rolled-back half message still undecided (see scripts/test-spring.sh).
TX_SETTINGS=(transactionTimeOut=3000 transactionCheckInterval=2000)
REF_SETTINGS=("${TX_SETTINGS[@]}" transactionOpBatchInterval=500)
# The run's topics (name:message.type) and groups (name[:orderly]); tests/grpc-proxy/.../Env.java names them
# GP_<run>_<name> and GPG_<run>_<name>.
TOPICS=(send:NORMAL simple:NORMAL civ:NORMAL push:NORMAL fifo:FIFO fifosimple:FIFO delay:DELAY tx:TRANSACTION)
GROUPS_=(send simple civ push fifo:orderly fifosimple:orderly delay tx)
RUN_ID="$(date +%s)$((RANDOM % 100))"
mkdir -p "$OUT"
rm -rf "$OUT"/grpc-bolide "$OUT"/grpc-reference "$OUT"/grpc-*-clientlogs
rm -f "$OUT"/grpc-*.log "$OUT/grpc-proxy-counts"
t_start=$(date +%s)
scenarios=$(grep -rhE '^\s*@Test\b' "$SUITE/src/test/java" | wc -l)
[ -n "${GRPC_TEST:-}" ] && scenarios=1

extra_failures=0
extra_skipped=0
notes=() # PASS/FAIL/SKIP lines of scenarios that did not run

results() { # PASS/FAIL/SKIP line per scenario and run, from the Surefire reports; then "p f s k" on fd 3
    python3 - "$OUT" <<'PYEOF'
import glob, os, sys, xml.etree.ElementTree as ET
out = sys.argv[1]
rows = []
for path in sorted(glob.glob(out + "/grpc-*/TEST-*.xml")):
    run = os.path.basename(os.path.dirname(path))[len("grpc-"):]
    for c in ET.parse(path).getroot().iter("testcase"):
        kinds = {x.tag: x for x in c}
        name = c.get("classname", "").split(".")[-1] + "." + c.get("name", "")
        why = ""
        if "failure" in kinds or "error" in kinds:
            r = "FAIL"
            x = kinds.get("failure", kinds.get("error"))
            why = x.get("message") or x.text or ""
        elif "skipped" in kinds:
            r = "SKIP"
            why = kinds["skipped"].get("message") or ""
        else:
            r = "PASS"
            x = kinds.get("flakyFailure", kinds.get("flakyError"))
            if x is not None:
                why = "FLAKY, failed once: " + (x.get("message") or x.text or "")
        why = " ".join(why.split())[:400]
        rows.append((name, run, r, float(c.get("time", 0)), why))
for name, run, r, t, why in sorted(rows):
    print("%s grpc %-9s %-72s %6.1f s%s" % (r, run, name, t, ("  " + why) if why else ""))
PYEOF
}

finish() { # prints and writes the counts from all reports, plus extra_failures / extra_skipped
    local p=0 f=0 s=0 k=0
    if command -v python3 >/dev/null; then
        results
        read -r p f s k < <(python3 "$ROOT/scripts/surefire.py" counts "$OUT" grpc) || { echo "test-grpc-proxy: could not read the Surefire reports under $OUT"; extra_failures=$((extra_failures + 1)); }
    fi
    local x
    for x in "${notes[@]}"; do echo "$x"; done
    p=${p:-0}; f=${f:-0}; s=${s:-0}; k=${k:-0}
    f=$((f + extra_failures)); s=$((s + extra_skipped))
    echo "$p $f $s" > "$OUT/grpc-proxy-counts"
    echo "grpc-proxy: $p passed, $f failed, $s skipped ($(( $(date +%s) - t_start )) s)"
    [ "$k" -eq 0 ] || echo "grpc-proxy: $k of the passed scenarios failed once and passed on their rerun (FLAKY above)"
    [ "$f" -eq 0 ]
}
skip_all() { # the whole suite cannot run here: say why, count its scenarios as skipped, exit 0
    echo "test-grpc-proxy: SKIPPED: $*"
    local runs=0
    [ "${GRPC_SKIP_BOLIDE:-0}" = 1 ] || runs=$((runs + 1))
    [ "${GRPC_SKIP_REF:-0}" = 1 ] || runs=$((runs + 1))
    extra_skipped=$((extra_skipped + scenarios * runs))
    notes+=("SKIP grpc (all scenarios, $runs broker runs): $*")
    finish
    exit 0
}
give_up() { echo "test-grpc-proxy: $*" >&2; extra_failures=$((extra_failures + 1)); finish || true; exit 1; }
not_run() { # KIND REASON: the run's scenarios could not run; each counts as failed
    echo "==> grpc $1: FAILED: $2"
    extra_failures=$((extra_failures + scenarios))
    notes+=("FAIL grpc $1 (all $scenarios scenarios not run): $2")
}

# --- tools and downloads -----------------------------------------------------------------------------
command -v java >/dev/null || skip_all "java not found: install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless)"
command -v mvn >/dev/null || skip_all "mvn not found: install Maven (Debian: apt-get install maven)"
command -v python3 >/dev/null || give_up "python3 not found (reads the Surefire reports)"
jv="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
[ "${jv%%.*}" -ge 17 ] 2>/dev/null || skip_all "Java $jv is too old: the suite needs 17+"
bolide=1
[ "${GRPC_SKIP_BOLIDE:-0}" = 1 ] && bolide=0
if [ "$bolide" = 1 ]; then
    if [ ! -x "$BOLIDE_BIN" ] && [ "$BOLIDE_BIN" = "$DEFAULT_BIN" ] && command -v cargo >/dev/null; then
        echo "==> grpc: no broker binary at $BOLIDE_BIN: cargo build --release"
        cargo build --release >"$OUT/grpc-cargo-build.log" 2>&1 || { tail -20 "$OUT/grpc-cargo-build.log"; give_up "cargo build --release failed, see $OUT/grpc-cargo-build.log"; }
    fi
    [ -x "$BOLIDE_BIN" ] || give_up "no Bolide binary at $BOLIDE_BIN (cargo build --release, or set BOLIDE_BIN)"
fi
mkdir -p "$WORK"
case "$(stat -f -c %T "$WORK")" in tmpfs|ramfs|overlayfs|overlay) give_up "$WORK has no O_DIRECT: set GRPC_WORK_DIR to ext4/xfs" ;; esac

fetch_failed() { grep -qE "Could not resolve dependencies|Could not transfer artifact|Non-resolvable|Failed to read artifact descriptor|Plugin .* could not be resolved|Could not find artifact" "$1"; }
echo "==> grpc: fetching the proxy and compiling the suite (dependencies once per machine, into ~/.m2)"
t0=$(date +%s)
stamp="$(cksum < "$PROXY_POM")"
if ! { [ -f "$PLIB/.complete" ] && [ "$(cat "$PLIB/.complete")" = "$stamp" ]; }; then
    rm -rf "$PLIB"
    if ! mvn -B -q -f "$PROXY_POM" dependency:copy-dependencies >"$OUT/grpc-fetch-proxy.log" 2>&1; then
        grep -m3 -E "ERROR" "$OUT/grpc-fetch-proxy.log" | sed 's/^/    /' || true
        fetch_failed "$OUT/grpc-fetch-proxy.log" && skip_all "Maven could not fetch rocketmq-proxy (Maven Central unreachable?), see $OUT/grpc-fetch-proxy.log"
        give_up "could not copy the proxy's jars, see $OUT/grpc-fetch-proxy.log"
    fi
    ls "$PLIB"/rocketmq-proxy-*.jar >/dev/null 2>&1 || give_up "no rocketmq-proxy jar in $PLIB after the fetch"
    echo "$stamp" > "$PLIB/.complete"
fi
if ! mvn -B -q -f "$POM" test-compile >"$OUT/grpc-fetch.log" 2>&1; then
    if fetch_failed "$OUT/grpc-fetch.log"; then
        grep -m3 -E "ERROR" "$OUT/grpc-fetch.log" | sed 's/^/    /' || true
        skip_all "Maven could not fetch the suite's artifacts (rocketmq-client-java, JUnit; Maven Central unreachable?), see $OUT/grpc-fetch.log"
    fi
    tail -30 "$OUT/grpc-fetch.log"
    give_up "tests/grpc-proxy does not compile, see $OUT/grpc-fetch.log"
fi
ref=1
if [ "${GRPC_SKIP_REF:-0}" = 1 ]; then
    ref=0
elif ! scripts/rocketmq-ref.sh fetch >"$OUT/grpc-fetch-ref.log" 2>&1; then
    tail -5 "$OUT/grpc-fetch-ref.log" | sed 's/^/    /'
    echo "==> grpc: SKIPPED the reference broker: could not fetch its jars (scripts/rocketmq-ref.sh fetch), see $OUT/grpc-fetch-ref.log"
    ref=0
    extra_skipped=$((extra_skipped + scenarios))
    notes+=("SKIP grpc reference (all $scenarios scenarios): could not fetch the reference's jars")
fi
echo "==> grpc: ready ($(( $(date +%s) - t0 )) s), run $RUN_ID"

# --- processes -----------------------------------------------------------------------------------------
# port_open, stop_pid, start_bolide
. "$ROOT/scripts/interop-lib.sh"
BOLIDE_PID=""
REF_DIR=""
PROXY_PID=""
PROXY_DIR=""
save_logs() { # KIND
    local kind="$1"
    if [ -n "$PROXY_DIR" ]; then
        { cat "$PROXY_DIR/proxy.out" 2>/dev/null; echo "---- home/logs/rocketmqlogs/proxy.log"; cat "$PROXY_DIR/home/logs/rocketmqlogs/proxy.log" 2>/dev/null; } >"$OUT/grpc-$kind-proxy.log"
    fi
    [ -f "$WORK/bolide/bolide.log" ] && [ "$kind" = bolide ] && cp "$WORK/bolide/bolide.log" "$OUT/grpc-bolide-broker.log"
    [ -f "$WORK/ref/home/logs/rocketmqlogs/broker.log" ] && [ "$kind" = reference ] && cp "$WORK/ref/home/logs/rocketmqlogs/broker.log" "$OUT/grpc-reference-broker.log"
    return 0
}
cleanup() { # [KIND]
    [ -n "${1:-}" ] && save_logs "$1"
    if [ -n "$PROXY_PID" ]; then stop_pid "$PROXY_PID" 3; PROXY_PID=""; fi
    PROXY_DIR=""
    if [ -n "$BOLIDE_PID" ]; then stop_pid "$BOLIDE_PID" 5; BOLIDE_PID=""; fi
    if [ -n "$REF_DIR" ]; then
        REF_STOP_TIMEOUT=5 scripts/rocketmq-ref.sh stop "$REF_DIR" >/dev/null 2>&1 || true
        REF_DIR=""
    fi
}
CURRENT=""
trap 'cleanup "$CURRENT"; [ "${GRPC_KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM


setup_broker() { # KIND NAMESRV CLUSTER: checks what the proxy needs, creates the run's topics and groups
    local kind="$1" ns="$2" cluster="$3" specs=() x rc=0
    for x in "${TOPICS[@]}"; do specs+=("t:GP_${RUN_ID}_${x%%:*}:${x#*:}"); done
    for x in "${GROUPS_[@]}"; do
        case "$x" in *:orderly) specs+=("g:GPG_${RUN_ID}_${x%%:*}:orderly") ;; *) specs+=("g:GPG_${RUN_ID}_$x") ;; esac
    done
    mkdir -p "$WORK/setup-home"
    timeout -k 5 120 java -Xmx256m -Duser.home="$WORK/setup-home" -Drocketmq.client.logUseSlf4j=false \
        -cp "$PLIB/*" "$SUITE/proxy/Setup.java" "$ns" "$cluster" "${specs[@]}" >"$OUT/grpc-$kind-setup.log" 2>&1 || rc=$?
    grep -E "^setup: .*(FAILED|WARNING)" "$OUT/grpc-$kind-setup.log" | sed 's/^/    /'
    if [ "$rc" -ne 0 ]; then
        grep -qE "^setup: FAILED" "$OUT/grpc-$kind-setup.log" || tail -20 "$OUT/grpc-$kind-setup.log"
        SETUP_WHY="$(grep -m1 -E "^setup: FAILED" "$OUT/grpc-$kind-setup.log" | sed -E 's/^setup: FAILED: //; s/ \[[0-9]+ ms\]$//')"
        SETUP_WHY="${SETUP_WHY:-setup exited with $rc, see $OUT/grpc-$kind-setup.log}"
        return 1
    fi
}

start_proxy() { # KIND NAMESRV CLUSTER GRPC_PORT REMOTING_PORT: sets PROXY_PID, PROXY_DIR
    local kind="$1" ns="$2" cluster="$3" gport="$4" rport="$5"
    PROXY_DIR="$WORK/proxy-$kind"
    rm -rf "$PROXY_DIR"; mkdir -p "$PROXY_DIR/home/conf"
    # transactionHeartbeatPeriodSecond: the proxy tells the brokers about its transactional producer groups
    # this often (default 20 s); until it has, a broker has nobody to send a check-back to.
    # minInvisibleTimeMillsForRecv (default 10 s): the scenarios receive with shorter invisible durations.
    # enableBatchAck (default false): acks reach the brokers as BATCH_ACK_MESSAGE (200151) instead of
    # one ACK_MESSAGE each; the single ack is what the Java suite's PopConsumeTest sends.
    cat >"$PROXY_DIR/rmq-proxy.json" <<JSON
{
  "rocketMQClusterName": "$cluster",
  "namesrvAddr": "$ns",
  "proxyMode": "cluster",
  "grpcServerPort": $gport,
  "remotingListenPort": $rport,
  "transactionHeartbeatPeriodSecond": 2,
  "minInvisibleTimeMillsForRecv": 1000,
  "enableBatchAck": ${GRPC_BATCH_ACK:-true}
}
JSON
    local cmd=(java -Xms256m "-Xmx${PROXY_HEAP:-512m}" -XX:+UseG1GC -Duser.home="$PROXY_DIR/home"
        -Drocketmq.home.dir="$PROXY_DIR/home" -Drocketmq.client.logUseSlf4j=false -cp "$PLIB/*"
        org.apache.rocketmq.proxy.ProxyStartup -pc "$PROXY_DIR/rmq-proxy.json" -pm cluster)
    command -v setpriv >/dev/null && cmd=(setpriv --pdeathsig KILL -- "${cmd[@]}")
    ROCKETMQ_HOME="$PROXY_DIR/home" RMQ_PROXY_HOME="$PROXY_DIR/home" "${cmd[@]}" >"$PROXY_DIR/proxy.out" 2>&1 </dev/null &
    PROXY_PID=$!
    local deadline=$(( $(date +%s) + 90 ))
    until port_open "$gport"; do
        kill -0 "$PROXY_PID" 2>/dev/null || { tail -30 "$PROXY_DIR/proxy.out"; return 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { tail -30 "$PROXY_DIR/proxy.out"; return 1; }
        sleep 0.2
    done
}

run_suite() { # KIND GRPC_ENDPOINT
    local kind="$1" ep="$2" rc=0
    local reports="$OUT/grpc-$kind" log="$OUT/grpc-$kind.log" t0
    t0=$(date +%s)
    mkdir -p "$reports"
    local args=(test "-Dgrpc.endpoint=$ep" "-Dgrpc.run=$RUN_ID" "-Dbroker.kind=$kind" "-Dgrpc.reports=$reports"
        "-Dgrpc.clientlogs=$OUT/grpc-$kind-clientlogs" "-Dgrpc.rerun=${GRPC_RERUN:-1}" -Dmaven.test.failure.ignore=true)
    [ -n "${GRPC_TEST:-}" ] && args+=("-Dtest=$GRPC_TEST")
    timeout -k 15 "$RUN_TIMEOUT" mvn -B -f "$POM" "${args[@]}" >"$log" 2>&1 || rc=$?
    if ! ls "$reports"/TEST-*.xml >/dev/null 2>&1; then
        grep -E "ERROR|BUILD" "$log" | head -20 | sed 's/^/    /'
        not_run "$kind" "no Surefire report (Maven exit $rc), see $log"
    elif [ "$rc" -ne 0 ]; then
        echo "==> grpc $kind: Maven exit $rc (timeout after $RUN_TIMEOUT s or build error), see $log"
        extra_failures=$((extra_failures + 1))
        notes+=("FAIL grpc $kind: Maven exit $rc (timeout after $RUN_TIMEOUT s?), see $log")
    fi
    echo "==> grpc $kind: scenarios $(( $(date +%s) - t0 )) s"
}

run_broker() { # KIND NAMESRV CLUSTER GRPC_PORT REMOTING_PORT (the broker is up)
    local kind="$1" ns="$2" cluster="$3" gport="$4" rport="$5" t0
    t0=$(date +%s)
    SETUP_WHY=""
    if ! setup_broker "$kind" "$ns" "$cluster"; then
        not_run "$kind" "$SETUP_WHY"
        return
    fi
    echo "==> grpc $kind: topics and groups of run $RUN_ID created ($(( $(date +%s) - t0 )) s)"
    t0=$(date +%s)
    if ! start_proxy "$kind" "$ns" "$cluster" "$gport" "$rport"; then
        not_run "$kind" "rocketmq-proxy did not start, see $OUT/grpc-$kind-proxy.log"
        return
    fi
    echo "==> grpc $kind: proxy up on 127.0.0.1:$gport ($(( $(date +%s) - t0 )) s)"
    run_suite "$kind" "127.0.0.1:$gport"
}

# --- Bolide ----------------------------------------------------------------------------------------------
if [ "$bolide" = 1 ]; then
    echo "==> grpc: Bolide ($BOLIDE_BIN)"
    t0=$(date +%s)
    CURRENT=bolide
    if start_bolide; then
        run_broker bolide "127.0.0.1:$B_NS" DefaultCluster "$B_GRPC" "$B_REM"
    else
        not_run bolide "Bolide did not start, see $OUT/grpc-bolide-broker.log"
    fi
    cleanup bolide
    CURRENT=""
    echo "==> grpc bolide: $(( $(date +%s) - t0 )) s in all"
fi

# --- the reference -------------------------------------------------------------------------------------
if [ "$ref" = 1 ]; then
    echo "==> grpc: reference (Apache RocketMQ $(ls tests/java/reference/target/lib/rocketmq-broker-*.jar | sed 's/.*broker-//; s/\.jar//'))"
    t0=$(date +%s)
    rm -rf "$WORK/ref"
    REF_DIR="$WORK/ref"
    CURRENT=reference
    if scripts/rocketmq-ref.sh start "$REF_DIR" "$R_NS" "$R_BR" "${REF_SETTINGS[@]}" >"$OUT/grpc-ref-start.log" 2>&1; then
        echo "==> grpc: reference up ($(( $(date +%s) - t0 )) s)"
        run_broker reference "127.0.0.1:$R_NS" RefCluster "$R_GRPC" "$R_REM"
    else
        tail -30 "$OUT/grpc-ref-start.log"
        not_run reference "the reference did not start, see $OUT/grpc-ref-start.log"
    fi
    cleanup reference
    CURRENT=""
    echo "==> grpc reference: $(( $(date +%s) - t0 )) s in all"
fi

finish
