#!/usr/bin/env bash
# Creates (or refreshes) the Python environment of the interop suite: .venv/ at the repo root with the
# pinned packages of tests/interop/requirements.txt, then proves the bundled librocketmq.so loads.
# Idempotent: a second run with unchanged requirements installs nothing and takes about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/tests/interop/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PY="${PYTHON:-python3}"

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "test-env: $PY not found (need Python 3.8+ with the venv module)" >&2
    exit 1
fi

# A venv whose interpreter vanished (e.g. Python upgraded underneath it) is rebuilt from scratch.
if [ -d "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "test-env: $VENV is broken, recreating it"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "test-env: creating $VENV"
    "$PY" -m venv "$VENV"
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    echo "test-env: installing $(grep -cv '^\s*\(#\|$\)' "$REQ") pinned packages"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$REQ"
    echo "$want" > "$STAMP"
fi

# The wheel bundles librocketmq.so; importing rocketmq.client loads it through ctypes. Check the
# symbols the suite uses beyond the wrapper's API too, so a different build fails here, not mid-test.
"$VENV/bin/python" - <<'PYEOF'
import sys
try:
    from rocketmq.client import Producer, PushConsumer, Message  # noqa: F401
    from rocketmq.ffi import dll, _DYLIB_PATH
except Exception as e:  # ImportError, OSError from dlopen
    sys.exit(f"test-env: cannot load the rocketmq client library: {e}")
for sym in ("SetProducerInstanceName", "SetProducerLogPath", "SetPushConsumerLogPath",
            "SetProducerLogLevel", "SetPushConsumerLogLevel", "SetByteMessageBody"):
    if not hasattr(dll, sym):
        sys.exit(f"test-env: {_DYLIB_PATH} lacks {sym}")
print(f"test-env: ok ({_DYLIB_PATH})")
PYEOF
