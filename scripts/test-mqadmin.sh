#!/usr/bin/env bash
# The operator tools across brokers (issue #14): the Java mqadmin (rocketmq-tools 5.x, MQAdminStartup) against
# Bolide AND against the Apache RocketMQ reference (scripts/rocketmq-ref.sh), and `bolide admin` against the
# reference (our tool must work with their broker). `tests/admin_cli.rs` (cargo test) covers `bolide admin`
# against Bolide.
#
#   scripts/test-mqadmin.sh            (scripts/test.sh runs it after the Java interop step)
#
# 1. Needs Java 11+, the reference jars (scripts/rocketmq-ref.sh fetch: rocketmq-tools comes with the broker)
#    and the release binary ($BOLIDE_BIN, default ${CARGO_TARGET_DIR:-target}/release/bolide).
# 2. Starts Bolide, runs tests/java/mqadmin/MqadminCheck.java against it (all mqadmin commands in one JVM:
#    one check per command, PASS/FAIL/SKIP lines), stops it; the same against the reference; then runs
#    `bolide admin` commands against the reference, on the topic and group the check left there.
# 3. Logs under $OUT/mqadmin-*.log; prints 'mqadmin: N passed, N failed, N skipped' and writes "p f s" to
#    $OUT/mqadmin-counts. Exit 0 only when nothing failed. Checks of commands whose broker side another
#    branch brings are SKIPPED (with the branch named) while the broker answers REQUEST_CODE_NOT_SUPPORTED.
#
# Env: OUT, BOLIDE_BIN, JAVA_PORT_BASE (default 24100; uses base+30..base+41, after test-java.sh is done
#      with them), MQADMIN_WORK_DIR (data dirs, a real filesystem; default ${CARGO_TARGET_DIR:-target}/mqadmin),
#      MQADMIN_SKIP_REF=1 (Bolide only), MQADMIN_VERBOSE=1 (print every command's output).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
TARGET="$(abs "${CARGO_TARGET_DIR:-target}")"
OUT="$(abs "${OUT:-$TARGET/test-output}")"
BOLIDE_BIN="$(abs "${BOLIDE_BIN:-$TARGET/release/bolide}")"
WORK="$(abs "${MQADMIN_WORK_DIR:-$TARGET/mqadmin}")"
BASE="${JAVA_PORT_BASE:-24100}"
B_NS=$((BASE + 30)); B_BROKER=$((BASE + 33)); R_NS=$((BASE + 36)); R_BROKER=$((BASE + 40))
LIB="$ROOT/tests/java/reference/target/lib"
mkdir -p "$OUT" "$WORK"
rm -f "$OUT"/mqadmin-*.log "$OUT/mqadmin-counts"
t_start=$(date +%s)
passed=0; failed=0; skipped=0

finish() {
    echo "$passed $failed $skipped" > "$OUT/mqadmin-counts"
    echo "mqadmin: $passed passed, $failed failed, $skipped skipped ($(( $(date +%s) - t_start )) s)"
    [ "$failed" -eq 0 ]
}
give_up() { echo "test-mqadmin: $*" >&2; failed=$((failed + 1)); finish; exit 1; }

command -v java >/dev/null || give_up "java not found: install a JDK 11+ (apt-get install openjdk-17-jdk-headless)"
[ -x "$BOLIDE_BIN" ] || give_up "no Bolide binary at $BOLIDE_BIN (cargo build --release, or set BOLIDE_BIN)"
case "$(stat -f -c %T "$WORK")" in tmpfs|ramfs|overlayfs|overlay) give_up "$WORK has no O_DIRECT: set MQADMIN_WORK_DIR" ;; esac
scripts/rocketmq-ref.sh fetch >"$OUT/mqadmin-fetch.log" 2>&1 \
    || give_up "could not fetch the reference jars (rocketmq-tools among them), see $OUT/mqadmin-fetch.log"
ls "$LIB"/rocketmq-tools-*.jar >/dev/null 2>&1 || give_up "no rocketmq-tools jar in $LIB"

BOLIDE_PID=""
REF_DIR=""
cleanup() {
    if [ -n "$BOLIDE_PID" ]; then kill "$BOLIDE_PID" 2>/dev/null; wait "$BOLIDE_PID" 2>/dev/null; BOLIDE_PID=""; fi
    if [ -n "$REF_DIR" ]; then REF_STOP_TIMEOUT=5 scripts/rocketmq-ref.sh stop "$REF_DIR" >/dev/null 2>&1; REF_DIR=""; fi
}
trap 'cleanup; rm -rf "$WORK" "$WORK/home"' EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Adds one MqadminCheck run's counts (its last line) to the totals.
run_check() { # NAMESRV BROKER CLUSTER LABEL
    local log="$OUT/mqadmin-$4.log"
    echo "==> mqadmin against $4 ($1)"
    # From a scratch directory: mqadmin consumerStatus writes its files into the working directory.
    mkdir -p "$WORK/cwd"
    (cd "$WORK/cwd" && timeout -k 10 900 java -Xmx384m -Duser.home="$WORK/home" \
        -Drocketmq.client.logUseSlf4j=false -cp "$LIB/*" "$ROOT/tests/java/mqadmin/MqadminCheck.java" \
        "$1" "$2" "$3" "$4" "$BOLIDE_BIN") >"$log" 2>&1
    local rc=$?
    grep -E '^(PASS|FAIL|SKIP) ' "$log"
    local line p f s
    line="$(grep -E "^mqadmin $4: " "$log" | tail -1)"
    if [ -z "$line" ]; then
        echo "==> mqadmin against $4: no summary (exit $rc), see $log"; tail -20 "$log"
        failed=$((failed + 1)); return
    fi
    read -r p f s < <(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

# --- Bolide ---------------------------------------------------------------------------------------------
rm -rf "$WORK/bolide"; mkdir -p "$WORK/bolide"
cmd=("$BOLIDE_BIN" serve --data-dir "$WORK/bolide/data" --namesrv-port "$B_NS" --broker-port "$B_BROKER"
    --listen-ip 127.0.0.1 --broker-ip 127.0.0.1 --shards 2 --segment-size $((64 << 20)))
command -v setpriv >/dev/null && cmd=(setpriv --pdeathsig KILL -- "${cmd[@]}")
"${cmd[@]}" >"$OUT/mqadmin-bolide-broker.log" 2>&1 &
BOLIDE_PID=$!
for _ in $(seq 1 300); do port_open "$B_BROKER" && port_open "$B_NS" && break; sleep 0.2; done
port_open "$B_BROKER" || give_up "Bolide did not start, see $OUT/mqadmin-bolide-broker.log"
run_check "127.0.0.1:$B_NS" "127.0.0.1:$B_BROKER" DefaultCluster bolide
cleanup

# --- the reference ----------------------------------------------------------------------------------------
if [ "${MQADMIN_SKIP_REF:-0}" = 1 ]; then finish; exit $?; fi
REF_DIR="$WORK/ref"
rm -rf "$REF_DIR"
scripts/rocketmq-ref.sh start "$REF_DIR" "$R_NS" "$R_BROKER" >"$OUT/mqadmin-ref-start.log" 2>&1 \
    || give_up "the reference did not start, see $OUT/mqadmin-ref-start.log"
run_check "127.0.0.1:$R_NS" "127.0.0.1:$R_BROKER" RefCluster reference

# --- bolide admin against the reference ----------------------------------------------------------------------
echo "==> bolide admin against the reference"
topic="$(grep -o 'MqaT_[a-z0-9]*' "$OUT/mqadmin-reference.log" | head -1)"
group="${topic/MqaT_/MqaG_}"
admin_check() { # NAME EXPECT ARGS... : the command succeeds and prints EXPECT
    local name="$1" want="$2"; shift 2
    local out rc
    out="$("$BOLIDE_BIN" admin -n "127.0.0.1:$R_NS" "$@" 2>&1)"; rc=$?
    [ -n "${MQADMIN_VERBOSE:-}" ] && echo "$out"
    if [ "$rc" -eq 0 ] && [[ "$out" == *"$want"* ]]; then
        echo "PASS bolide admin $name"; passed=$((passed + 1))
    else
        echo "FAIL bolide admin $name (exit $rc, wanted '$want'): $(echo "$out" | head -5 | tr '\n' '|')"
        failed=$((failed + 1))
    fi
}
admin_fails() { # NAME EXPECT ARGS... : the command fails and says EXPECT
    local name="$1" want="$2"; shift 2
    local out rc
    out="$("$BOLIDE_BIN" admin -n "127.0.0.1:$R_NS" "$@" 2>&1)"; rc=$?
    if [ "$rc" -ne 0 ] && [[ "$out" == *"$want"* ]]; then
        echo "PASS bolide admin $name"; passed=$((passed + 1))
    else
        echo "FAIL bolide admin $name (exit $rc, wanted a failure saying '$want'): $(echo "$out" | head -5 | tr '\n' '|')"
        failed=$((failed + 1))
    fi
}
if [ -z "$topic" ]; then
    echo "FAIL bolide admin: the reference check left no topic to look at"; failed=$((failed + 1))
else
    RB="127.0.0.1:$R_BROKER"
    admin_check clusterList "RefCluster" clusterList
    admin_check "clusterList --json" '"addr"' clusterList --json
    admin_check updateTopic "success" updateTopic -t "${topic}_b" -c RefCluster -r 2 -w 2
    admin_check topicList "$topic" topicList
    admin_check "topicList -c" "$group" topicList -c
    admin_check topicRoute "ref-broker-$R_BROKER" topicRoute -t "$topic"
    admin_check topicStatus "#Max Offset" topicStatus -t "$topic"
    admin_check "topicStatus --json" '"maxOffset"' topicStatus -t "$topic" --json
    admin_check consumerProgress "Consume Diff Total" consumerProgress -g "$group"
    admin_check "consumerProgress (all)" "$group" consumerProgress
    admin_check "queryMsgByKey" "key-3" queryMsgByKey -t "$topic" -k key-3 --json
    uniq="$("$BOLIDE_BIN" admin -n "127.0.0.1:$R_NS" queryMsgByKey -t "$topic" -k key-4 --json 2>/dev/null \
        | python3 -c 'import json,sys; m=json.load(sys.stdin)["messages"]; print(m[0]["msgId"], m[0]["offsetMsgId"])' 2>/dev/null)"
    admin_check queryMsgByUniqueKey "body-4" queryMsgByUniqueKey -t "$topic" -i "${uniq%% *}"
    admin_check queryMsgById "body-4" queryMsgById -i "${uniq##* }"
    admin_check "queryMsgById (unique key, -t)" "body-4" queryMsgById -t "$topic" -i "${uniq%% *}"
    admin_check queryMsgTraceById "Pub" queryMsgTraceById -i "${uniq%% *}"
    admin_check resetOffsetByTime "#Offset" resetOffsetByTime -g "$group" -t "$topic" -s now
    admin_check updateSubGroup "success" updateSubGroup -g "${group}_s" -c RefCluster
    admin_check deleteSubGroup "success" deleteSubGroup -g "${group}_s" -c RefCluster
    admin_check brokerStatus "msgPutTotalTodayNow" brokerStatus -b "$RB"
    admin_check getBrokerConfig "brokerClusterName" getBrokerConfig -c RefCluster
    admin_check updateBrokerConfig "success" updateBrokerConfig -b "$RB" -k maxMessageSize -v 4194304
    admin_check deleteTopic "success" deleteTopic -t "${topic}_b" -c RefCluster
    admin_fails "topicRoute of a deleted topic" "does not exist" topicRoute -t "${topic}_b"
    admin_fails "consumerStatus (group offline)" "no consumer online" consumerStatus -g "$group"
    admin_fails "consumerConnection (group offline)" "no consumer online" consumerConnection -g "$group"
    admin_fails "consumerProgress of an unknown group" "is not known" consumerProgress -g NoSuchGroup_x
    admin_fails "dlqList without dead letters" "no dead-letter topic" dlqList -g "$group"
fi
cleanup
rm -rf /tmp/rocketmq/msgbodys 2>/dev/null # mqadmin queryMsgById writes message bodies there
finish
