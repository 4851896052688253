#!/usr/bin/env bash
# Webhook latency at a fixed request rate over TLS on 127.0.0.1. See README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE="${RATE:-1000}"; DURATION="${DURATION:-30s}"; CONNS="${CONNS:-50}"; PORT="${PORT:-443}"
command -v hey >/dev/null || { echo "hey not found: apt-get install -y hey" >&2; exit 2; }
cargo build --release -p keelwatch >/dev/null
BIN="${CARGO_TARGET_DIR:-target}/release/keelwatch"
work="$(mktemp -d)"; trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/restricted.yaml" <<'YAML'
apiVersion: policy.keelwatch.dev/v1alpha1
kind: Assignment
metadata: {name: restricted}
spec: {initiative: pod-security-restricted, effect: Deny}
YAML
"$BIN" admission serve --listen "127.0.0.1:$PORT" --self-signed "$work/certs" \
  --assignment "$work/restricted.yaml" --no-watch >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sk "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sk -X POST -H 'content-type: application/json' --data @bench/admission/review.json \
  "https://127.0.0.1:$PORT/validate" | head -c 300; echo
# hey's -q is per worker: total rate = CONNS × q.
q=$(( RATE / CONNS ))
# hey 0.1.4 (Debian) sends the URL's host:port as the TLS SNI name, which rustls rightly
# refuses ("illegal parameter"); on port 443 the URL carries no port, so SNI is "localhost".
if [ "$PORT" = 443 ]; then URL="https://localhost/validate"; else URL="https://localhost:$PORT/validate"; fi
echo "== $RATE req/s ($CONNS connections × $q/s) for $DURATION"
hey -z "$DURATION" -c "$CONNS" -q "$q" -m POST -T application/json -D bench/admission/review.json \
  "$URL"
echo "== server-side histogram"
curl -sk "https://127.0.0.1:$PORT/metrics" | grep -E "keelwatch_admission_requests_total|duration_seconds_(sum|count)"
echo "== server RSS (kB): $(awk '/VmHWM/{print $2}' /proc/$pid/status)"
