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
#    Then mqadmin 4.9.8's ACL 1.0 commands (which 5.x's dropped) against a Bolide with aclEnable (Bolide only).
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

# --- mqadmin 4.9's ACL 1.0 commands against Bolide with aclEnable ------------------------------------------
# 5.x's mqadmin dropped them (ACL 2.0 replaced ACL 1.0), so they run from rocketmq-tools 4.9.8
# (tests/java/tools-4.9). The reference is 5.x and does not serve them: Bolide only. Each tool run signs
# with the account in its home's conf/tools.yml, as RocketMQ's mqadmin does.
acl_checks() {
    local lib="$ROOT/tests/java/tools-4.9/target/lib" acl="$WORK/acl"
    local stamp; stamp="$(cksum < tests/java/tools-4.9/pom.xml)"
    if ! { [ -f "$lib/.complete" ] && [ "$(cat "$lib/.complete")" = "$stamp" ]; }; then
        rm -rf "$lib"
        if ! mvn -B -q -f tests/java/tools-4.9/pom.xml dependency:copy-dependencies >"$OUT/mqadmin-acl-fetch.log" 2>&1; then
            echo "FAIL mqadmin 4.9 ACL: could not fetch rocketmq-tools 4.9.8, see $OUT/mqadmin-acl-fetch.log"
            failed=$((failed + 1)); return
        fi
        echo "$stamp" > "$lib/.complete"
    fi
    rm -rf "$acl"; mkdir -p "$acl"
    printf 'accounts:\n  - accessKey: mqaAdmin01\n    secretKey: mqaAdminSK01\n    admin: true\n  - accessKey: mqaPlain01\n    secretKey: mqaPlainSK01\n    defaultTopicPerm: PUB\n' >"$acl/plain_acl.yml"
    local who
    for who in "mqaAdmin01 mqaAdminSK01" "mqaPlain01 mqaPlainSK01" "mqaUser01 mqaUserSK01"; do
        set -- $who
        mkdir -p "$acl/$1/conf"
        printf 'accessKey: %s\nsecretKey: %s\n' "$1" "$2" >"$acl/$1/conf/tools.yml"
        echo '<configuration><root level="OFF"/></configuration>' >"$acl/$1/conf/logback_tools.xml"
    done
    cmd=("$BOLIDE_BIN" serve --data-dir "$acl/data" --namesrv-port "$B_NS" --broker-port "$B_BROKER"
        --listen-ip 127.0.0.1 --broker-ip 127.0.0.1 --shards 2 --segment-size $((64 << 20))
        --set aclEnable=true --set "aclFile=$acl/plain_acl.yml")
    command -v setpriv >/dev/null && cmd=(setpriv --pdeathsig KILL -- "${cmd[@]}")
    "${cmd[@]}" >"$OUT/mqadmin-acl-broker.log" 2>&1 &
    BOLIDE_PID=$!
    for _ in $(seq 1 300); do port_open "$B_BROKER" && port_open "$B_NS" && break; sleep 0.2; done
    port_open "$B_BROKER" || { echo "FAIL mqadmin 4.9 ACL: Bolide with ACL did not start, see $OUT/mqadmin-acl-broker.log"; failed=$((failed + 1)); return; }
    local log="$OUT/mqadmin-acl.log"; : >"$log"
    local B="127.0.0.1:$B_BROKER"
    tool() { # AS ARGS...: mqadmin 4.9.8 signed as account AS; prints its output
        local home="$acl/$1"; shift
        (cd "$acl" && timeout -k 5 120 java -Xmx256m -Drocketmq.home.dir="$home" -Duser.home="$home" \
            -cp "$lib/*" org.apache.rocketmq.tools.command.MQAdminStartup "$@" -n "127.0.0.1:$B_NS" 2>&1) \
            | tee -a "$log"
    }
    check() { # NAME OK-IF-TRUE DETAIL
        if [ "$2" = 1 ]; then echo "PASS mqadmin 4.9 $1"; passed=$((passed + 1));
        else echo "FAIL mqadmin 4.9 $1: $3"; failed=$((failed + 1)); fi
    }
    has() { [[ "$1" == *"$2"* ]] && echo 1 || echo 0; }
    local out file
    tool mqaAdmin01 updateTopic -b "$B" -t MqaAclT >/dev/null
    tool mqaAdmin01 updateTopic -b "$B" -t MqaAclDenied >/dev/null

    out="$(tool mqaAdmin01 updateAclConfig -b "$B" -a mqaUser01 -s mqaUserSK01 -i PUB -t 'MqaAclDenied=DENY')"
    file="$(cat "$acl/plain_acl.yml")"
    check "updateAclConfig (new account)" "$(( $(has "$out" "config to $B success") && $(has "$file" "MqaAclDenied=DENY") ))" "$(echo "$out" | tail -3 | tr '\n' '|')"
    out="$(tool mqaUser01 sendMessage -t MqaAclT -p acl-admin)"
    check "sendMessage as the new account" "$(has "$out" SEND_OK)" "$(echo "$out" | tail -3 | tr '\n' '|')"
    out="$(tool mqaUser01 sendMessage -t MqaAclDenied -p acl-admin)"
    check "sendMessage to the account's DENY topic refused" "$(( ! $(has "$out" SEND_OK) && $(has "$out" "No permission for topic:MqaAclDenied") ))" "$(echo "$out" | tail -3 | tr '\n' '|')"
    out="$(tool mqaAdmin01 clusterAclConfigVersion -c DefaultCluster)"
    check "clusterAclConfigVersion" "$(( $(has "$out" "$acl/plain_acl.yml") && $(has "$out" "version success") ))" "$(echo "$out" | tail -3 | tr '\n' '|')"
    out="$(tool mqaPlain01 updateAclConfig -b "$B" -a mqaPlain01 -s mqaPlainSK01 -m true)"
    file="$(cat "$acl/plain_acl.yml")"
    check "updateAclConfig by a non-admin account refused" "$(( $(has "$out" "Need admin permission for request code=50") && ! $(has "$file" "counter: 2") ))" "$(echo "$out" | grep -m1 DESC)"
    out="$(tool mqaAdmin01 updateGlobalWhiteAddr -b "$B" -g '10.10.10.*,192.168.0.1')"
    file="$(cat "$acl/plain_acl.yml")"
    check "updateGlobalWhiteAddr" "$(( $(has "$out" "addresses to $B success") && $(has "$file" "10.10.10.*") ))" "$(echo "$out" | tail -3 | tr '\n' '|')"
    out="$(tool mqaAdmin01 deleteAclConfig -c DefaultCluster -a mqaUser01)"
    file="$(cat "$acl/plain_acl.yml")"
    check "deleteAclConfig" "$(( $(has "$out" "account from $B success") && ! $(has "$file" mqaUser01) ))" "$(echo "$out" | tail -3 | tr '\n' '|')"
    out="$(tool mqaUser01 sendMessage -t MqaAclT -p acl-admin)"
    check "sendMessage as the deleted account refused" "$(( ! $(has "$out" SEND_OK) && $(has "$out" "No acl config for mqaUser01") ))" "$(echo "$out" | tail -3 | tr '\n' '|')"
    cleanup
}
acl_checks

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
