#!/usr/bin/env bash
# Where does the broker's CPU go per message? Starts a fresh broker, drives it with bolide-bench
# (default: 64 sync producers, 1 KiB, ASYNC_FLUSH), samples the broker with `perf record` while the
# load runs, and prints CPU µs per message (broker and load generator, from /proc) and the broker's
# samples grouped by category. Output: perf/out/profile-<stamp>/ (perf.data, report.txt, summary.txt).
#
# Usage: perf/profile.sh [bolide-bench flags...]     Env: FLUSH (async|sync), SECONDS_LOAD (default 12)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FLUSH=${FLUSH:-async}
SECONDS_LOAD=${SECONDS_LOAD:-12}
NS_PORT=${NS_PORT:-19886}
BROKER_PORT=${BROKER_PORT:-20951}
OUT=${OUT:-$ROOT/perf/out/profile-$(date -u +%Y%m%d-%H%M%S)}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ARGS=("$@")
[ ${#ARGS[@]} -eq 0 ] && ARGS=(--mode sync --clients 64 --size 1024)
mkdir -p "$OUT" "$ROOT/data"

cargo build --release --bin bolide --bin bolide-bench 2>&1 | tail -1
DATA=$(mktemp -d "$ROOT/data/profile-XXXX")
"$TARGET/release/bolide" serve --data-dir "$DATA" --namesrv-port "$NS_PORT" --broker-port "$BROKER_PORT" \
    --flush "$FLUSH" >"$OUT/broker.log" 2>&1 &
BROKER=$!
trap 'kill $BROKER 2>/dev/null; wait $BROKER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$BROKER_PORT") 2>/dev/null && break; sleep 0.1; done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
"$TARGET/release/bolide-bench" --namesrv "127.0.0.1:$NS_PORT" --topic Profile --duration "$SECONDS_LOAD" \
    --warmup 2 --json "$OUT/bench.json" "${ARGS[@]}" >"$OUT/bench.log" 2>&1 &
BENCH=$!
sleep 3
B0=$(ticks "$BROKER"); C0=$(ticks "$BENCH")
perf record -F 997 -g -p "$BROKER" -o "$OUT/perf.data" -- sleep $((SECONDS_LOAD - 4)) >/dev/null 2>&1
B1=$(ticks "$BROKER"); C1=$(ticks "$BENCH")
wait "$BENCH" || true
tail -8 "$OUT/bench.log"

perf report -i "$OUT/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null >"$OUT/report.txt"
python3 - "$OUT" "$B0" "$B1" "$C0" "$C1" "$HZ" "$((SECONDS_LOAD - 4))" <<'PY' | tee "$OUT/summary.txt"
import json, re, sys
out, b0, b1, c0, c1, hz, secs = sys.argv[1], *map(float, sys.argv[2:8])
rep = json.load(open(f"{out}/bench.json"))
rate = (rep.get("send") or {}).get("msgs_per_sec") or (rep.get("consume") or {}).get("msgs_per_sec") or 0
msgs = rate * secs
print(f"load: {rate:,.0f} msgs/s; during {secs:.0f} s of sampling the broker used {(b1-b0)/hz:.2f} CPU-s, "
      f"the load generator {(c1-c0)/hz:.2f} CPU-s")
if msgs:
    print(f"CPU per message: broker {(b1-b0)/hz/msgs*1e6:.1f} µs, load generator {(c1-c0)/hz/msgs*1e6:.1f} µs")
cats = [
    ("malloc/free (libc)", r"malloc|free|_int_|realloc|consolidate|tcache|cfree|__rdl_|__rust_alloc|__rust_dealloc"),
    ("kernel: wake-ups, scheduling", r"\[k\].*(switch|wake|schedule|futex|spin_unlock|idle|irq|ipi|tick)"),
    ("kernel: network and io_uring", r"\[k\].*(tcp|sock|skb|ip_|net|uring|io_|copy|iov|napi|loopback)"),
    ("kernel: other", r"\[k\]"),
    ("JSON header decode/encode (remoting)", r"remoting::json|serde_json|remoting::(encode|decode)|RemotingCommand|serde_core|ExtFields|HeaderVisitor|TextSeed|IntSeed"),
    ("typed headers (remoting::headers)", r"remoting::headers"),
    ("storage (commit log, consume queue, index)", r"storage::|message::|crc32"),
    ("cross-shard channels (flume/crossbeam)", r"flume|crossbeam"),
    ("glommio executor", r"glommio"),
    ("memcpy/memcmp/str", r"mem(move|cpy|cmp|set)|from_utf8|str::|memchr|trim"),
    ("broker logic", r"bolide::broker|bolide::net|bolide::shard|bolide::nameserver"),
]
tot = {c: 0.0 for c, _ in cats}; other = 0.0
for line in open(f"{out}/report.txt"):
    m = re.match(r"\s+([\d.]+)%\s+(.*)", line)
    if not m:
        continue
    pct, rest = float(m.group(1)), m.group(2)
    for c, rx in cats:
        if re.search(rx, rest):
            tot[c] += pct
            break
    else:
        other += pct
print("broker samples by category:")
for c, _ in cats:
    print(f"  {tot[c]:5.1f}%  {c}")
print(f"  {other:5.1f}%  other")
PY
echo "full report: $OUT/report.txt"
