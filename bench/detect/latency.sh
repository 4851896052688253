#!/usr/bin/env bash
# POST /audit latency of the real `keelwatch detect serve` under load on 127.0.0.1, measured
# with `hey` (https client, keep-alive, N concurrent workers for a fixed duration).
#
# Each request is an EventList of 50 audit events as the API server's webhook backend sends
# them (kubelet/controller/user chatter plus one K8S_TestAlert event). Alerts are produced
# and queued to the writer before the response is sent, so the POST latency bounds "webhook
# POST -> alert emitted" (the writer appends to --alerts-out right after; the precise
# POST -> alert-line figure comes from `cargo bench -p keelwatch-detect --bench latency`).
#
# Usage: bench/detect/latency.sh            (DURATION=20s CONCURRENCY=8 by default)
# Needs: hey (apt-get install hey), curl. Bounded in time; talks only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-20s}
CONCURRENCY=${CONCURRENCY:-8}
command -v hey >/dev/null || { echo "hey is not installed (apt-get install hey)" >&2; exit 2; }

cargo build --release -q -p keelwatch --bin keelwatch
BIN=target/release/keelwatch
WORK=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then kill -INT "$SERVER"; wait "$SERVER" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "bench-token" > "$WORK/token"
"$BIN" detect serve --listen 127.0.0.1:0 --self-signed "$WORK/tls" --token-file "$WORK/token" \
  --alerts-out "$WORK/alerts.jsonl" 2> "$WORK/serve.log" &
SERVER=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$WORK/serve.log" 2>/dev/null && break
  sleep 0.1
done
URL=$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' "$WORK/serve.log" | head -1)
[ -n "$URL" ] || { echo "server did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }

# One EventList body of 50 events.
{
  printf '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":['
  for i in $(seq 0 49); do
    [ "$i" -gt 0 ] && printf ','
    case $((i % 5)) in
      0) verb=update; res=leases; ns=kube-node-lease; user=system:node:aks-nodepool1-0 ;;
      1) verb=get; res=configmaps; ns=kube-system; user=system:node:aks-nodepool1-0 ;;
      2) verb=watch; res=pods; ns=shop; user=system:kube-controller-manager ;;
      3) verb=list; res=pods; ns=shop; user=alice@contoso.com ;;
      4) verb=create; res=events; ns=shop; user=system:node:aks-nodepool1-0 ;;
    esac
    [ "$i" -eq 25 ] && { verb=get; res=pods; ns=asc-alerttest-662jfi039n; user=alice@contoso.com; }
    printf '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"hey-%d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/%s/%s","verb":"%s","user":{"username":"%s","groups":["system:authenticated"]},"sourceIPs":["10.224.0.4"],"userAgent":"kubectl/v1.29.2","objectRef":{"resource":"%s","namespace":"%s","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-27T09:00:00.100000Z","stageTimestamp":"2026-11-27T09:00:00.120000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}' \
      "$i" "$ns" "$res" "$verb" "$user" "$res" "$ns"
  done
  printf ']}'
} > "$WORK/body.json"

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "server: $URL; body: EventList of 50 events ($(wc -c < "$WORK/body.json") bytes); hey -z $DURATION -c $CONCURRENCY"
hey -z "$DURATION" -c "$CONCURRENCY" -m POST -T application/json \
  -H "Authorization: Bearer bench-token" -D "$WORK/body.json" "$URL" | \
  sed -n '/Summary/,/Status code distribution/p'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
METRICS=${URL%/audit}/metrics
curl -sk "$METRICS" | grep -E '^keelwatch_detect_(requests|events|alerts|malformed)_total'
