#!/usr/bin/env bash
# The reference: Apache RocketMQ's own NameServer + broker (5.x, from Maven Central), started on loopback
# so that tests and perf runs can put Bolide and the Java broker side by side on the same machine.
#
#   scripts/rocketmq-ref.sh fetch
#       Downloads the jars once per machine (into ~/.m2, copied to tests/java/reference/target/lib).
#   scripts/rocketmq-ref.sh start DIR NAMESRV_PORT BROKER_PORT [KEY=VALUE...]
#       Starts one NameServer on NAMESRV_PORT and one broker on BROKER_PORT (which also uses BROKER_PORT-2
#       for the VIP channel and BROKER_PORT+1 for HA) with the store, logs and generated broker.conf under
#       DIR. KEY=VALUE pairs go into broker.conf after the defaults (e.g. autoCreateTopicEnable=false,
#       flushDiskType=SYNC_FLUSH). Everything binds 127.0.0.1 except the broker's HA port, which 5.x
#       binds on all interfaces with no setting to change it (nothing connects to it here). Waits until
#       the broker logged its registration with the NameServer (up to REF_START_TIMEOUT s,
#       default 90); exits non-zero with the log tail if it is not. Prints "namesrv=127.0.0.1:P".
#   scripts/rocketmq-ref.sh add-broker DIR NAMESRV_PORT BROKER_PORT [KEY=VALUE...]
#       Starts only a broker (its own DIR) that registers with the NameServer already on NAMESRV_PORT: two
#       brokers behind one NameServer make a cluster of two masters (producer fail-over tests).
#   scripts/rocketmq-ref.sh namesrv DIR NAMESRV_PORT
#       Starts only a NameServer (its own DIR): other brokers (Bolide's, for the mixed-cluster runs)
#       register with it. Waits until it listens.
#   scripts/rocketmq-ref.sh stop DIR
#       Stops the processes started with DIR (SIGTERM; SIGKILL after REF_STOP_TIMEOUT s, default 15: the
#       Java broker's graceful shutdown alone takes several seconds). Safe to call twice.
#
# Env: REF_HEAP (JVM heap of each process, default 384m), ROCKETMQ_VERSION (default: the one in
#      tests/java/reference/pom.xml), JAVA (default java), MVN (default mvn).
# Pids are kept in DIR/namesrv.pid and DIR/broker.pid; logs in DIR/namesrv.log, DIR/broker.log and
# DIR/home/logs/rocketmqlogs/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REF_POM="$ROOT/tests/java/reference/pom.xml"
LIB="$ROOT/tests/java/reference/target/lib"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
HEAP="${REF_HEAP:-384m}"

die() { echo "rocketmq-ref: $*" >&2; exit 1; }

fetch() {
    command -v "$MVN" >/dev/null || die "Maven ($MVN) not found: install it (apt-get install maven)"
    local args=(-B -q -f "$REF_POM" dependency:copy-dependencies)
    [ -n "${ROCKETMQ_VERSION:-}" ] && args+=("-Drocketmq.version=$ROCKETMQ_VERSION")
    # The copy is reused while the pom and the requested version are the same (the jars stay in ~/.m2).
    local stamp
    stamp="$(cksum < "$REF_POM") ${ROCKETMQ_VERSION:-}"
    if [ -f "$LIB/.complete" ] && [ "$(cat "$LIB/.complete")" = "$stamp" ]; then
        return 0
    fi
    rm -rf "$LIB"
    "$MVN" "${args[@]}" || die "could not fetch rocketmq-namesrv/rocketmq-broker from Maven Central"
    ls "$LIB"/rocketmq-broker-*.jar >/dev/null 2>&1 || die "no rocketmq-broker jar in $LIB after fetch"
    echo "$stamp" > "$LIB/.complete"
}

jvm() { # DIR NAME MAIN ARGS...
    local dir="$1" name="$2" main="$3"; shift 3
    # ROCKETMQ_HOME: the broker and namesrv write their logs and default paths under it.
    ROCKETMQ_HOME="$dir/home" nohup "$JAVA" -server "-Xms$HEAP" "-Xmx$HEAP" -XX:+UseG1GC \
        -XX:MaxDirectMemorySize=512m -Duser.home="$dir/home" -Drocketmq.home.dir="$dir/home" \
        -Drocketmq.client.logUseSlf4j=false \
        -cp "$LIB/*" "$main" "$@" >"$dir/$name.log" 2>&1 </dev/null &
    echo $! > "$dir/$name.pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() { # with_namesrv DIR NAMESRV_PORT BROKER_PORT [KEY=VALUE...]
    local with_namesrv="$1"; shift
    [ $# -ge 3 ] || die "usage: $0 start|add-broker DIR NAMESRV_PORT BROKER_PORT [KEY=VALUE...]"
    local dir="$1" nport="$2" bport="$3"; shift 3
    command -v "$JAVA" >/dev/null || die "Java ($JAVA) not found: install a JDK 11+ (apt-get install openjdk-17-jdk-headless)"
    fetch
    mkdir -p "$dir/home/conf" "$dir/store"
    dir="$(cd "$dir" && pwd)"
    local conf="$dir/broker.conf"
    {
        echo "brokerClusterName=RefCluster"
        echo "brokerName=ref-broker-$bport"
        echo "brokerId=0"
        echo "brokerRole=ASYNC_MASTER"
        echo "flushDiskType=ASYNC_FLUSH"
        echo "namesrvAddr=127.0.0.1:$nport"
        echo "brokerIP1=127.0.0.1"
        echo "brokerIP2=127.0.0.1"
        echo "bindAddress=127.0.0.1"
        echo "listenPort=$bport"
        echo "haListenPort=$((bport + 1))"
        echo "storePathRootDir=$dir/store"
        echo "storePathCommitLog=$dir/store/commitlog"
        echo "autoCreateTopicEnable=true"
        echo "autoCreateSubscriptionGroup=true"
        # Small files: tests write little; the default 1 GiB commit log file would be pre-allocated.
        echo "mappedFileSizeCommitLog=268435456"
        echo "mappedFileSizeConsumeQueue=600000"
        echo "diskMaxUsedSpaceRatio=95"
        echo "enablePropertyFilter=true"
        # Keep the JVM small: fewer service threads than the defaults (sized for big machines).
        echo "sendMessageThreadPoolNums=4"
        echo "pullMessageThreadPoolNums=8"
        echo "transientStorePoolEnable=false"
        # On a loaded 2-core CI box a send can wait in the broker's queue longer than the defaults (200 ms
        # in the send queue, 1 s holding the commit-log lock) and the Java broker then answers SYSTEM_BUSY
        # ("[TIMEOUT_CLEAN_QUEUE]broker busy", "[PC_SYNCHRONIZED]"): a flake of the machine, not a behaviour.
        echo "waitTimeMillsInSendQueue=3000"
        echo "osPageCacheBusyTimeOutMills=5000"
        for kv in "$@"; do echo "$kv"; done
    } > "$conf"
    local deadline=$(( $(date +%s) + ${REF_START_TIMEOUT:-180} ))
    if [ "$with_namesrv" = 1 ]; then
        # -c takes a properties file; bindAddress keeps the NameServer on loopback (its default is 0.0.0.0).
        printf 'listenPort=%s\nbindAddress=127.0.0.1\n' "$nport" > "$dir/namesrv.conf"
        jvm "$dir" namesrv org.apache.rocketmq.namesrv.NamesrvStartup -c "$dir/namesrv.conf"
    fi
    until port_open "$nport"; do
        [ "$with_namesrv" = 0 ] || kill -0 "$(cat "$dir/namesrv.pid")" 2>/dev/null || { tail -30 "$dir/namesrv.log" >&2; die "namesrv exited"; }
        [ "$(date +%s)" -lt "$deadline" ] || { tail -30 "$dir/namesrv.log" >&2; die "namesrv not listening on $nport"; }
        sleep 0.2
    done
    jvm "$dir" broker org.apache.rocketmq.broker.BrokerStartup -c "$conf"
    # Up = booted, listening, and registered with the NameServer (so that routes name it).
    until grep -q "boot success" "$dir/broker.log" 2>/dev/null && port_open "$bport" \
        && grep -qs "Registering current broker to name server completed. TargetHost=127.0.0.1:$nport" \
            "$dir/home/logs/rocketmqlogs/broker.log"; do
        kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null || { tail -30 "$dir/broker.log" >&2; die "broker exited"; }
        [ "$(date +%s)" -lt "$deadline" ] || { tail -30 "$dir/broker.log" >&2; die "broker not up on $bport"; }
        sleep 0.2
    done
    echo "namesrv=127.0.0.1:$nport"
}

start_namesrv() { # DIR NAMESRV_PORT
    [ $# -ge 2 ] || die "usage: $0 namesrv DIR NAMESRV_PORT"
    local dir="$1" nport="$2"
    command -v "$JAVA" >/dev/null || die "Java ($JAVA) not found: install a JDK 11+ (apt-get install openjdk-17-jdk-headless)"
    fetch
    mkdir -p "$dir/home"
    dir="$(cd "$dir" && pwd)"
    local deadline=$(( $(date +%s) + ${REF_START_TIMEOUT:-180} ))
    printf 'listenPort=%s\nbindAddress=127.0.0.1\n' "$nport" > "$dir/namesrv.conf"
    jvm "$dir" namesrv org.apache.rocketmq.namesrv.NamesrvStartup -c "$dir/namesrv.conf"
    until port_open "$nport"; do
        kill -0 "$(cat "$dir/namesrv.pid")" 2>/dev/null || { tail -30 "$dir/namesrv.log" >&2; die "namesrv exited"; }
        [ "$(date +%s)" -lt "$deadline" ] || { tail -30 "$dir/namesrv.log" >&2; die "namesrv not listening on $nport"; }
        sleep 0.2
    done
    echo "namesrv=127.0.0.1:$nport"
}

stop_one() { # PIDFILE
    local f="$1" pid
    [ -f "$f" ] || return 0
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 $(( ${REF_STOP_TIMEOUT:-15} * 5 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

stop() {
    [ $# -ge 1 ] || die "usage: $0 stop DIR"
    stop_one "$1/broker.pid"
    stop_one "$1/namesrv.pid"
}

cmd="${1:-}"; shift || true
case "$cmd" in
    fetch) fetch ;;
    start) start 1 "$@" ;;
    add-broker) start 0 "$@" ;;
    namesrv) start_namesrv "$@" ;;
    stop) stop "$@" ;;
    *) die "usage: $0 fetch | start|add-broker DIR NAMESRV_PORT BROKER_PORT [KEY=VALUE...] | namesrv DIR NAMESRV_PORT | stop DIR" ;;
esac
