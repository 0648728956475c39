#!/usr/bin/env bash
# The Java interop suite (tests/java, issue #8): the official Java client against Bolide AND against the
# Apache RocketMQ broker (the reference, scripts/rocketmq-ref.sh) in one run, so that every difference shows.
#
#   scripts/test-java.sh            (scripts/test.sh runs it after the C++ interop step)
#
# 1. Checks for Java 11+ and Maven and downloads what the suite needs (both client versions, JUnit, the
#    reference broker's jars) into ~/.m2 once per machine. Missing tools or an unreachable registry are a
#    failure with the reason printed, never a silent pass.
# 2. Starts two Bolide processes from the release binary ($BOLIDE_BIN, default
#    ${CARGO_TARGET_DIR:-target}/release/bolide): one as configured by default, one with
#    autoCreateTopicEnable=false (and messageDelayLevel="1s 2s 3s"), plus a third with the NameServer
#    role off registered with the second one's NameServer (two masters under one NameServer, for the
#    fail-over test; restarted for each run), and one with aclEnable (AclTest); runs the suite with
#    each client version in JAVA_CLIENTS. For ReplicationTest (issue #13), also a `bolide namesrv` with two
#    SYNC_MASTER + slave pairs registered with it (brokerName repl-a and repl-b; the test kills a process
#    of each), started for each run unless JAVA_TEST leaves ReplicationTest out.
# 3. Stops them and starts the reference the same way (NameServer + broker, and NameServer + broker with
#    auto-create off, plus a second broker on that NameServer for the fail-over test, and the two
#    SYNC_MASTER + slave pairs on a NameServer of their own); runs the suite with each version in
#    JAVA_REF_CLIENTS.
# 3b. Mixed clusters (issue #13), with the client version JAVA_MIXED_CLIENT (default 5.5.0) and the scenarios
#    JAVA_MIXED_TEST (default SendTest,PushConsumerTest,LitePullTest,TagTest): a Bolide broker registered
#    with the Java NameServer (run "javans+bolide"), then a Java broker registered with `bolide namesrv`
#    (run "bolidens+reference"), then a second Java broker there that re-registers only when asked
#    (tests/java/mqadmin/NamesrvNoticeCheck.java). Skipped with JAVA_SKIP_REF=1, JAVA_SKIP_MIXED=1 or
#    JAVA_SKIP_BOLIDE=1.
# 4. Surefire XML goes to $OUT/java-<bolide|reference>-<client version>/, Maven's output to
#    $OUT/java-<broker>-<version>.log, client logs under the work dir. Prints
#    'java: N passed, N failed, N skipped' and writes "p f s" to $OUT/java-counts. Exit status 0 only when
#    nothing failed. A scenario that fails is rerun once (tests/java/pom.xml, java.rerun); one that passes
#    on the rerun counts as passed and is listed as FLAKY with its first failure.
#    Everything started is stopped on exit (trap).
#
# Env: OUT (default ${CARGO_TARGET_DIR:-target}/test-output), BOLIDE_BIN,
#      JAVA_CLIENTS (default "4.9.8 5.5.0"), JAVA_REF_CLIENTS (default "5.5.0 4.9.8"),
#      JAVA_WORK_DIR (data dirs; a real filesystem, default ${CARGO_TARGET_DIR:-target}/java-interop),
#      JAVA_PORT_BASE (default 24100; uses base..base+89), JAVA_RUN_TIMEOUT (s per suite run, default 600),
#      JAVA_TEST (a Surefire -Dtest filter, e.g. 'SendTest'), JAVA_KEEP=1 (keep work dirs),
#      JAVA_SKIP_REF=1 (Bolide only), JAVA_SKIP_BOLIDE=1 (the reference only: no Bolide binary needed, e.g.
#      to check a new scenario against the Java broker before Bolide serves it).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
TARGET="$(abs "${CARGO_TARGET_DIR:-target}")"
OUT="$(abs "${OUT:-$TARGET/test-output}")"
BOLIDE_BIN="$(abs "${BOLIDE_BIN:-$TARGET/release/bolide}")"
WORK="$(abs "${JAVA_WORK_DIR:-$TARGET/java-interop}")"
CLIENTS="${JAVA_CLIENTS:-4.9.8 5.5.0}"
REF_CLIENTS="${JAVA_REF_CLIENTS:-5.5.0 4.9.8}"
BASE="${JAVA_PORT_BASE:-24100}"
RUN_TIMEOUT="${JAVA_RUN_TIMEOUT:-600}"
POM="$ROOT/tests/java/pom.xml"
MVN=(mvn -B -q -f "$POM")
MVN_LOUD=(mvn -B -f "$POM")
mkdir -p "$OUT" "$WORK"
rm -rf "$OUT"/java-bolide-* "$OUT"/java-reference-* "$OUT"/java-javans+* "$OUT"/java-bolidens+* "$OUT/java-counts"
t_start=$(date +%s)

extra_failures=0
finish() { # prints and writes the counts from all reports, plus extra_failures
    local p f s k
    read -r p f s k < <(python3 "$ROOT/scripts/surefire.py" counts "$OUT" java)
    f=$((${f:-0} + extra_failures))
    echo "${p:-0} $f ${s:-0}" > "$OUT/java-counts"
    echo "java: ${p:-0} passed, $f failed, ${s:-0} skipped ($(( $(date +%s) - t_start )) s)"
    [ "${k:-0}" -eq 0 ] || echo "java: ${k} of the passed scenarios failed once and passed on their rerun (FLAKY lines above)"
    [ "$f" -eq 0 ]
}
give_up() { echo "test-java: $*" >&2; extra_failures=$((extra_failures + 1)); finish; exit 1; }

# --- tools and downloads -----------------------------------------------------------------------------
command -v java >/dev/null || give_up "java not found: install a JDK 11+ (Debian: apt-get install openjdk-17-jdk-headless)"
command -v mvn >/dev/null || give_up "mvn not found: install Maven (Debian: apt-get install maven)"
command -v python3 >/dev/null || give_up "python3 not found (reads the Surefire reports)"
jv="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
[ "${jv%%.*}" -ge 11 ] 2>/dev/null || give_up "Java $jv is too old: the suite needs 11+"
[ "${JAVA_SKIP_BOLIDE:-0}" = 1 ] || [ -x "$BOLIDE_BIN" ] || give_up "no Bolide binary at $BOLIDE_BIN (cargo build --release, or set BOLIDE_BIN)"
[ "${JAVA_SKIP_BOLIDE:-0}" = 1 ] && [ "${JAVA_SKIP_REF:-0}" = 1 ] && give_up "JAVA_SKIP_BOLIDE=1 and JAVA_SKIP_REF=1: nothing to run"
fstype="$(stat -f -c %T "$WORK")"
case "$fstype" in tmpfs|ramfs|overlayfs|overlay) give_up "$WORK is on $fstype (no O_DIRECT): set JAVA_WORK_DIR to ext4/xfs" ;; esac

echo "==> java: fetching the suite's dependencies (once per machine, into ~/.m2)"
t0=$(date +%s)
for v in $CLIENTS $REF_CLIENTS; do
    # test-compile resolves the client, JUnit and the build plugins; the Surefire JUnit provider comes with
    # the first test run.
    "${MVN[@]}" test-compile "-Drocketmq.client.version=$v" >"$OUT/java-fetch-$v.log" 2>&1 \
        || { tail -20 "$OUT/java-fetch-$v.log"; give_up "could not fetch/compile the suite for rocketmq-client $v (Maven Central unreachable?), see $OUT/java-fetch-$v.log"; }
done
if [ "${JAVA_SKIP_REF:-0}" != 1 ]; then
    scripts/rocketmq-ref.sh fetch >"$OUT/java-fetch-ref.log" 2>&1 \
        || { tail -20 "$OUT/java-fetch-ref.log"; give_up "could not fetch the reference broker (rocketmq-broker/namesrv), see $OUT/java-fetch-ref.log"; }
fi
echo "==> java: dependencies ready ($(( $(date +%s) - t0 )) s)"

# --- processes -----------------------------------------------------------------------------------------
BOLIDE_PIDS=()
REF_DIRS=()
cleanup() {
    for pid in "${BOLIDE_PIDS[@]}"; do
        kill "$pid" 2>/dev/null && { for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; kill -9 "$pid" 2>/dev/null; }
    done
    BOLIDE_PIDS=()
    # In parallel, and without waiting long for the graceful shutdown: the data is thrown away.
    for d in "${REF_DIRS[@]}"; do REF_STOP_TIMEOUT=5 scripts/rocketmq-ref.sh stop "$d" >/dev/null 2>&1 & done
    wait
    REF_DIRS=()
}
trap 'cleanup; [ "${JAVA_KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_bolide() { # NAME NAMESRV_PORT|- BROKER_PORT [--set K=V...]   (-: NameServer role off); sets LAST_PID
    local name="$1" nport="$2" bport="$3"; shift 3
    local dir="$WORK/$name"
    rm -rf "$dir"; mkdir -p "$dir"
    local cmd=("$BOLIDE_BIN" serve --data-dir "$dir/data" --broker-port "$bport"
        --listen-ip 127.0.0.1 --broker-ip 127.0.0.1 --shards 2 --segment-size $((64 << 20)))
    if [ "$nport" = - ]; then cmd+=(--namesrv-role off); else cmd+=(--namesrv-port "$nport"); fi
    cmd+=("$@")
    command -v setpriv >/dev/null && cmd=(setpriv --pdeathsig KILL -- "${cmd[@]}")
    NO_COLOR=1 "${cmd[@]}" >"$dir/bolide.log" 2>&1 </dev/null &
    local pid=$!
    BOLIDE_PIDS+=("$pid")
    LAST_PID=$pid
    local deadline=$(( $(date +%s) + 30 ))
    until grep -q "bolide ready" "$dir/bolide.log" && { [ "$nport" = - ] || port_open "$nport"; } && port_open "$bport"; do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/bolide.log"; return 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { tail -20 "$dir/bolide.log"; return 1; }
        sleep 0.1
    done
    # A broker that registers with NameServers is up once it registered (routes name it).
    case " $* " in
        *" --namesrv-addr "*)
            until grep -q "registered with the NameServer" "$dir/bolide.log"; do
                kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/bolide.log"; return 1; }
                [ "$(date +%s)" -lt "$deadline" ] || { tail -20 "$dir/bolide.log"; return 1; }
                sleep 0.1
            done ;;
    esac
}

start_bolide_namesrv() { # NAME PORT; sets LAST_PID
    local name="$1" port="$2" dir="$WORK/$1"
    rm -rf "$dir"; mkdir -p "$dir"
    local cmd=("$BOLIDE_BIN" namesrv --listen-ip 127.0.0.1 --port "$port")
    command -v setpriv >/dev/null && cmd=(setpriv --pdeathsig KILL -- "${cmd[@]}")
    NO_COLOR=1 "${cmd[@]}" >"$dir/bolide.log" 2>&1 </dev/null &
    LAST_PID=$!
    BOLIDE_PIDS+=("$LAST_PID")
    local deadline=$(( $(date +%s) + 30 ))
    until port_open "$port"; do
        kill -0 "$LAST_PID" 2>/dev/null || { tail -20 "$dir/bolide.log"; return 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { tail -20 "$dir/bolide.log"; return 1; }
        sleep 0.1
    done
}

run_suite() { # BROKER_KIND CLIENT_VERSION -Dkey=value...
    local kind="$1" v="$2"; shift 2
    local reports="$OUT/java-$kind-$v" log="$OUT/java-$kind-$v.log" t0=$(date +%s)
    mkdir -p "$reports"
    local args=(test "-Drocketmq.client.version=$v" "-Dbroker.kind=$kind" "-Djava.reports=$reports"
        "-Djava.clientlogs=$WORK/client-logs-$kind-$v" -Dmaven.test.failure.ignore=true "$@")
    [ -n "${JAVA_TEST:-}" ] && args+=("-Dtest=$JAVA_TEST")
    timeout -k 15 "$RUN_TIMEOUT" "${MVN_LOUD[@]}" "${args[@]}" >"$log" 2>&1
    local rc=$?
    grep -E "Tests run:|FAIL|ERROR\]" "$log" | grep -v "^\[ERROR\] *$" | sed -n '1,40p' | sed 's/^/    /'
    if ! ls "$reports"/TEST-*.xml >/dev/null 2>&1; then
        echo "==> java $kind $v: no Surefire report (exit $rc), see $log"
        extra_failures=$((extra_failures + 1))
    elif [ "$rc" -ne 0 ]; then
        echo "==> java $kind $v: Maven exit $rc (timeout after $RUN_TIMEOUT s or build error), see $log"
        extra_failures=$((extra_failures + 1))
    fi
    echo "==> java $kind $v: $(( $(date +%s) - t0 )) s"
}

# --- replication pairs (ReplicationTest) ----------------------------------------------------------------
# One NameServer and two SYNC_MASTER + slave pairs on base+60..base+89 (a Bolide master also listens on
# port+1 and port+2, its shards' HA ports; the Java one on port+1; both on port-2 for VIP). Both sides run
# slaveReadEnable=true: a Java 5.x slave refuses every pull without it; the Java master also inSyncReplicas=2:
# without it a 5.x SYNC_MASTER confirms sends without waiting for its slave. Sets REPL (the -D arguments).
REPL_PIDS=()
RNSR=$((BASE + 60)); REPL_PORTS=("a $((BASE + 64)) $((BASE + 69))" "b $((BASE + 74)) $((BASE + 79))")
repl_wanted() { [ -z "${JAVA_TEST:-}" ] || [[ "$JAVA_TEST" == *ReplicationTest* ]]; }
start_repl_bolide() {
    REPL=()
    repl_wanted || return 0
    local args=("-Drepl.namesrv=127.0.0.1:$RNSR") pair mport sport
    start_bolide_namesrv bolide-repl-ns "$RNSR" || { echo "==> java: replication NameServer did not start"; return 1; }
    REPL_PIDS+=("$LAST_PID")
    for row in "${REPL_PORTS[@]}"; do
        read -r pair mport sport <<<"$row"
        start_bolide "bolide-repl-$pair-m" - "$mport" --namesrv-addr "127.0.0.1:$RNSR" --set "brokerName=repl-$pair" \
            --set brokerRole=SYNC_MASTER --set slaveReadEnable=true || { echo "==> java: repl-$pair master did not start"; return 1; }
        REPL_PIDS+=("$LAST_PID")
        args+=("-Drepl.$pair.master=127.0.0.1:$mport" "-Drepl.$pair.master.pid=$LAST_PID")
        start_bolide "bolide-repl-$pair-s" - "$sport" --namesrv-addr "127.0.0.1:$RNSR" --set "brokerName=repl-$pair" \
            --set brokerId=1 --set brokerRole=SLAVE --set slaveReadEnable=true || { echo "==> java: repl-$pair slave did not start"; return 1; }
        REPL_PIDS+=("$LAST_PID")
        args+=("-Drepl.$pair.slave=127.0.0.1:$sport" "-Drepl.$pair.slave.pid=$LAST_PID")
    done
    REPL=("${args[@]}")
}
stop_repl_bolide() { # before the next run (they are in BOLIDE_PIDS too, for cleanup)
    local pid
    for pid in "${REPL_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    for pid in "${REPL_PIDS[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
    REPL_PIDS=()
}
start_repl_ref() {
    REPL=()
    repl_wanted || return 0
    local args=("-Drepl.namesrv=127.0.0.1:$RNSR") pair mport sport d
    rm -rf "$WORK/ref-repl-ns"; REF_DIRS+=("$WORK/ref-repl-ns")
    REF_HEAP=256m scripts/rocketmq-ref.sh namesrv "$WORK/ref-repl-ns" "$RNSR" >"$OUT/java-ref-repl-start.log" 2>&1 \
        || { tail -20 "$OUT/java-ref-repl-start.log"; echo "==> java: reference replication NameServer did not start"; return 1; }
    for row in "${REPL_PORTS[@]}"; do
        read -r pair mport sport <<<"$row"
        for role in m s; do
            d="$WORK/ref-repl-$pair-$role"
            rm -rf "$d"; REF_DIRS+=("$d")
        done
        REF_HEAP=256m scripts/rocketmq-ref.sh add-broker "$WORK/ref-repl-$pair-m" "$RNSR" "$mport" "brokerName=repl-$pair" \
            brokerRole=SYNC_MASTER slaveReadEnable=true inSyncReplicas=2 >>"$OUT/java-ref-repl-start.log" 2>&1 \
            || { tail -20 "$OUT/java-ref-repl-start.log"; echo "==> java: reference repl-$pair master did not start"; return 1; }
        args+=("-Drepl.$pair.master=127.0.0.1:$mport" "-Drepl.$pair.master.pid=$(cat "$WORK/ref-repl-$pair-m/broker.pid")")
        REF_HEAP=256m scripts/rocketmq-ref.sh add-broker "$WORK/ref-repl-$pair-s" "$RNSR" "$sport" "brokerName=repl-$pair" \
            brokerId=1 brokerRole=SLAVE slaveReadEnable=true >>"$OUT/java-ref-repl-start.log" 2>&1 \
            || { tail -20 "$OUT/java-ref-repl-start.log"; echo "==> java: reference repl-$pair slave did not start"; return 1; }
        args+=("-Drepl.$pair.slave=127.0.0.1:$sport" "-Drepl.$pair.slave.pid=$(cat "$WORK/ref-repl-$pair-s/broker.pid")")
    done
    REPL=("${args[@]}")
}
stop_repl_ref() {
    local d pids=()
    for d in "$WORK"/ref-repl-*; do
        [ -d "$d" ] || continue
        REF_STOP_TIMEOUT=5 scripts/rocketmq-ref.sh stop "$d" >/dev/null 2>&1 &
        pids+=($!)
    done
    for d in "${pids[@]}"; do wait "$d"; done
}

# --- Bolide ----------------------------------------------------------------------------------------------
# The auto-create-off brokers also run with a short delay table (DelayTest: a level above the last is the last).
NOAUTO_DELAY_LEVELS="1s 2s 3s"
NS=$BASE; BR=$((BASE + 4)); NS2=$((BASE + 10)); BR2=$((BASE + 14)); BR3=$((BASE + 18))
NSA=$((BASE + 6)); BRA=$((BASE + 9)) # the ACL broker (its VIP port is BRA - 2)
if [ "${JAVA_SKIP_BOLIDE:-0}" = 1 ]; then
    echo "==> java: Bolide skipped (JAVA_SKIP_BOLIDE=1)"
elif echo "==> java: Bolide ($BOLIDE_BIN)" && start_bolide bolide "$NS" "$BR" && start_bolide bolide-noauto "$NS2" "$BR2" --set autoCreateTopicEnable=false --set "messageDelayLevel=$NOAUTO_DELAY_LEVELS" \
    && start_bolide bolide-acl "$NSA" "$BRA" --set aclEnable=true --set "aclFile=$ROOT/tests/java/acl/plain_acl.yml"; then
    second_pid=""
    for v in $CLIENTS; do
        # The fail-over test kills the second broker (a master registered with NS2): (re)start it for each run.
        [ -n "$second_pid" ] && kill -9 "$second_pid" 2>/dev/null
        second=()
        if start_bolide bolide-second - "$BR3" --namesrv-addr "127.0.0.1:$NS2" \
            --set brokerName=bolide-second --set autoCreateTopicEnable=false --set "messageDelayLevel=$NOAUTO_DELAY_LEVELS"; then
            second_pid=$LAST_PID
            second=("-Dbroker.second=127.0.0.1:$BR3" "-Dbroker.second.pid=$second_pid")
        else
            echo "==> java: second Bolide broker did not start (fail-over test will skip), see $WORK/bolide-second/bolide.log"
            extra_failures=$((extra_failures + 1))
        fi
        stop_repl_bolide
        start_repl_bolide || { REPL=(); extra_failures=$((extra_failures + 1)); }
        run_suite bolide "$v" "-Dnamesrv=127.0.0.1:$NS" "-Dbroker.addr=127.0.0.1:$BR" \
            "-Dnamesrv.noauto=127.0.0.1:$NS2" "-Dbroker.noauto=127.0.0.1:$BR2" "-Dnamesrv.acl=127.0.0.1:$NSA" "${second[@]}" \
            "${REPL[@]}"
    done
else
    echo "==> java: Bolide did not start"
    extra_failures=$((extra_failures + 1))
fi
cleanup

# --- the reference -------------------------------------------------------------------------------------
if [ "${JAVA_SKIP_REF:-0}" != 1 ]; then
    RNS=$((BASE + 20)); RBR=$((BASE + 24)); RNS2=$((BASE + 30)); RBR2=$((BASE + 34)); RBR3=$((BASE + 44))
    echo "==> java: reference (Apache RocketMQ $(ls tests/java/reference/target/lib/rocketmq-broker-*.jar | sed 's/.*broker-//; s/\.jar//'))"
    t0=$(date +%s)
    rm -rf "$WORK/ref" "$WORK/ref-noauto" "$WORK/ref-second"
    REF_DIRS+=("$WORK/ref" "$WORK/ref-noauto" "$WORK/ref-second")
    scripts/rocketmq-ref.sh start "$WORK/ref" "$RNS" "$RBR" >"$OUT/java-ref-start.log" 2>&1 &
    a=$!
    scripts/rocketmq-ref.sh start "$WORK/ref-noauto" "$RNS2" "$RBR2" autoCreateTopicEnable=false "messageDelayLevel=$NOAUTO_DELAY_LEVELS" >"$OUT/java-ref-noauto-start.log" 2>&1 &
    b=$!
    if wait "$a" && wait "$b"; then
        echo "==> java: reference up ($(( $(date +%s) - t0 )) s)"
        for v in $REF_CLIENTS; do
            # The fail-over test stops the second broker: (re)start it for each run.
            scripts/rocketmq-ref.sh stop "$WORK/ref-second" >/dev/null 2>&1
            second=()
            if scripts/rocketmq-ref.sh add-broker "$WORK/ref-second" "$RNS2" "$RBR3" autoCreateTopicEnable=false >"$OUT/java-ref-second-start.log" 2>&1; then
                second=("-Dbroker.second=127.0.0.1:$RBR3" "-Dbroker.second.pid=$(cat "$WORK/ref-second/broker.pid")")
            else
                echo "==> java: second reference broker did not start (fail-over test will skip), see $OUT/java-ref-second-start.log"
                extra_failures=$((extra_failures + 1))
            fi
            stop_repl_ref
            start_repl_ref || { REPL=(); extra_failures=$((extra_failures + 1)); }
            run_suite reference "$v" "-Dnamesrv=127.0.0.1:$RNS" "-Dbroker.addr=127.0.0.1:$RBR" \
                "-Dnamesrv.noauto=127.0.0.1:$RNS2" "-Dbroker.noauto=127.0.0.1:$RBR2" "${second[@]}" "${REPL[@]}"
        done
        stop_repl_ref
    else
        cat "$OUT"/java-ref-*start.log | tail -30
        echo "==> java: the reference did not start"
        extra_failures=$((extra_failures + 1))
    fi
    cleanup
fi

# --- mixed clusters --------------------------------------------------------------------------------------
if [ "${JAVA_SKIP_REF:-0}" != 1 ] && [ "${JAVA_SKIP_MIXED:-0}" != 1 ] && [ "${JAVA_SKIP_BOLIDE:-0}" != 1 ]; then
    MV="${JAVA_MIXED_CLIENT:-5.5.0}"
    MTEST="${JAVA_MIXED_TEST:-SendTest,PushConsumerTest,LitePullTest,TagTest}"
    MNS=$((BASE + 50)); MBR=$((BASE + 54)); MNS2=$((BASE + 51)); MBR2=$((BASE + 57))
    echo "==> java: mixed cluster 1: a Bolide broker registered with the Java NameServer"
    rm -rf "$WORK/mixed-javans"
    REF_DIRS+=("$WORK/mixed-javans")
    if scripts/rocketmq-ref.sh namesrv "$WORK/mixed-javans" "$MNS" >"$OUT/java-mixed-javans-start.log" 2>&1 \
        && start_bolide bolide-javans - "$MBR" --namesrv-addr "127.0.0.1:$MNS"; then
        JAVA_TEST="$MTEST" run_suite javans+bolide "$MV" "-Dnamesrv=127.0.0.1:$MNS" "-Dbroker.addr=127.0.0.1:$MBR"
    else
        tail -20 "$OUT/java-mixed-javans-start.log"
        echo "==> java: mixed cluster 1 did not start"
        extra_failures=$((extra_failures + 1))
    fi
    cleanup
    echo "==> java: mixed cluster 2: a Java broker registered with bolide namesrv"
    rm -rf "$WORK/mixed-bolidens"
    REF_DIRS+=("$WORK/mixed-bolidens")
    # add-broker waits until the Java broker logged its registration with the NameServer (ours).
    if start_bolide_namesrv bolide-namesrv "$MNS2" \
        && scripts/rocketmq-ref.sh add-broker "$WORK/mixed-bolidens" "$MNS2" "$MBR2" >"$OUT/java-mixed-bolidens-start.log" 2>&1; then
        JAVA_TEST="$MTEST" run_suite bolidens+reference "$MV" "-Dnamesrv=127.0.0.1:$MNS2" "-Dbroker.addr=127.0.0.1:$MBR2"
        # A second Java broker on the same bolide namesrv that never re-registers unasked: it announces new
        # topics alone (217) and stays alive by QUERY_DATA_VERSION (322); tests/java/mqadmin/NamesrvNoticeCheck.java.
        MBR3=$((BASE + 47))
        echo "==> java: mixed cluster 2: a Java broker with forceRegister=false, enableSingleTopicRegister=true"
        rm -rf "$WORK/mixed-bolidens-notice"
        REF_DIRS+=("$WORK/mixed-bolidens-notice")
        if scripts/rocketmq-ref.sh add-broker "$WORK/mixed-bolidens-notice" "$MNS2" "$MBR3" forceRegister=false \
            enableSingleTopicRegister=true enableSlaveActingMaster=true registerNameServerPeriod=60000 \
            >"$OUT/java-mixed-notice-start.log" 2>&1; then
            java -cp "tests/java/reference/target/lib/*" tests/java/mqadmin/NamesrvNoticeCheck.java \
                "127.0.0.1:$MNS2" "127.0.0.1:$MBR3" >"$OUT/java-mixed-notice.log" 2>&1
            notice_rc=$?
            grep -E "^(PASS|FAIL|namesrv notices)" "$OUT/java-mixed-notice.log" | sed 's/^/    /'
            [ "$notice_rc" -eq 0 ] || { echo "==> java: namesrv notices failed, see $OUT/java-mixed-notice.log"; extra_failures=$((extra_failures + 1)); }
        else
            tail -20 "$OUT/java-mixed-notice-start.log"
            echo "==> java: the second Java broker of mixed cluster 2 did not start"
            extra_failures=$((extra_failures + 1))
        fi
    else
        tail -20 "$OUT/java-mixed-bolidens-start.log"
        echo "==> java: mixed cluster 2 did not start"
        extra_failures=$((extra_failures + 1))
    fi
    cleanup
fi

python3 "$ROOT/scripts/surefire.py" table "$OUT" java
finish
