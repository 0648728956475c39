# Shell functions shared by the interop scripts that start one Bolide next to a Java reference broker
# (scripts/test-spring.sh, scripts/test-grpc-proxy.sh). Sourced, not run. The caller sets WORK,
# BOLIDE_BIN, B_NS, B_BR (Bolide's NameServer and broker ports) and TX_SETTINGS (--set pairs), and owns
# BOLIDE_PID.

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_pid() { # PID SECONDS: SIGTERM, SIGKILL after SECONDS
    local pid="$1" n=$(( $2 * 10 ))
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 "$n"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

start_bolide() { # sets BOLIDE_PID; returns 1 (log tail printed) if it is not up within 30 s
    local dir="$WORK/bolide" s
    rm -rf "$dir"; mkdir -p "$dir"
    local cmd=("$BOLIDE_BIN" serve --data-dir "$dir/data" --namesrv-port "$B_NS" --broker-port "$B_BR"
        --listen-ip 127.0.0.1 --broker-ip 127.0.0.1 --shards 2 --segment-size $((64 << 20)))
    for s in "${TX_SETTINGS[@]}"; do cmd+=(--set "$s"); done
    command -v setpriv >/dev/null && cmd=(setpriv --pdeathsig KILL -- "${cmd[@]}")
    NO_COLOR=1 "${cmd[@]}" >"$dir/bolide.log" 2>&1 </dev/null &
    BOLIDE_PID=$!
    local deadline=$(( $(date +%s) + 30 ))
    until grep -q "bolide ready" "$dir/bolide.log" && port_open "$B_NS" && port_open "$B_BR"; do
        kill -0 "$BOLIDE_PID" 2>/dev/null || { tail -20 "$dir/bolide.log"; return 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { tail -20 "$dir/bolide.log"; return 1; }
        sleep 0.1
    done
}
