#!/usr/bin/env bash
# Webhook latency at a fixed request rate over TLS on 127.0.0.1. See README.md.
# LOADGEN=wrk (default): Poisson-paced arrivals from CONNS connections (paced.lua).
# LOADGEN=hey: hey's per-worker tickers (synchronised bursts of CONNS requests).
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE="${RATE:-1000}"; DURATION="${DURATION:-30}"; CONNS="${CONNS:-50}"; LOADGEN="${LOADGEN:-wrk}"
command -v "$LOADGEN" >/dev/null || { echo "$LOADGEN not found: apt-get install -y $LOADGEN" >&2; exit 2; }
if [ -z "${KEELWATCH_BIN:-}" ]; then
  cargo build --release -p keelwatch >/dev/null
  KEELWATCH_BIN="${CARGO_TARGET_DIR:-target}/release/keelwatch"
fi
# hey 0.1.4 (Debian) sends the URL's host:port as the TLS SNI name, which rustls rightly
# refuses ("illegal parameter"); on port 443 the URL carries no port, so SNI is "localhost".
if [ "$LOADGEN" = hey ]; then PORT="${PORT:-443}"; else PORT="${PORT:-18443}"; fi
if [ "$PORT" = 443 ]; then URL="https://localhost/validate"; else URL="https://localhost:$PORT/validate"; fi
work="$(mktemp -d)"; trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/restricted.yaml" <<'YAML'
apiVersion: policy.keelwatch.dev/v1alpha1
kind: Assignment
metadata: {name: restricted}
spec: {initiative: pod-security-restricted, effect: Deny}
YAML
"$KEELWATCH_BIN" admission serve --listen "127.0.0.1:$PORT" --self-signed "$work/certs" \
  --assignment "$work/restricted.yaml" --no-watch >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sk "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sk -X POST -H 'content-type: application/json' --data @bench/admission/review.json \
  "https://127.0.0.1:$PORT/validate" | head -c 300; echo
echo "== load: $(cut -d' ' -f1-3 /proc/loadavg)"
cpu0=$(awk '{print $14+$15}' "/proc/$pid/stat")
if [ "$LOADGEN" = wrk ]; then
  # mean gap per connection so that CONNS connections offer RATE req/s (minus ~1 ms service)
  delay=$(( CONNS * 1000 / RATE - 1 ))
  echo "== $RATE req/s offered: $CONNS connections, exponential gaps of mean ${delay} ms, ${DURATION}s"
  KW_DELAY_MS=$delay wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s bench/admission/paced.lua "$URL"
else
  q=$(( RATE / CONNS ))
  echo "== $RATE req/s ($CONNS connections × $q/s, synchronised) for ${DURATION}s"
  hey -z "${DURATION}s" -c "$CONNS" -q "$q" -m POST -T application/json -D bench/admission/review.json "$URL"
fi
cpu1=$(awk '{print $14+$15}' "/proc/$pid/stat")
echo "== server CPU: $(( (cpu1 - cpu0) * 10 )) ms over the run"
echo "== server-side histogram"
curl -sk "https://127.0.0.1:$PORT/metrics" | grep -E "keelwatch_admission_requests_total|duration_seconds_(sum|count)"
echo "== server RSS (kB): $(awk '/VmHWM/{print $2}' /proc/$pid/status)"
