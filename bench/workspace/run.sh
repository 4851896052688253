#!/usr/bin/env bash
# Workspace benchmark: ingest rate, bytes on disk, and three queries vs DuckDB on the same
# Parquet files. Usage: bench/workspace/run.sh [LOG_RATE] (default 313 ≈ 10 M ContainerLogV2 rows)
# Needs: a release build (built here), python3 with duckdb (`pip install duckdb`).
set -euo pipefail
cd "$(dirname "$0")/../.."
LOG_RATE=${1:-313}
OUT=${BENCH_DIR:-/tmp/keelwatch-bench}
BIN=target/release/keelwatch
END=2026-11-27T00:00:00Z
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --release -p keelwatch >&2

echo "== generate NDJSON (1000 pods, 20 nodes, 24 h, log rate $LOG_RATE/container/h)"
$BIN workspace demo --export "$OUT/ndjson" --nodes 20 --pods 1000 --hours 24 --log-rate "$LOG_RATE" \
  --end $END --tables ContainerLogV2,KubePodInventory

echo "== ingest (one process, single-threaded parse/convert; fsync per 20k-row batch)"
for t in ContainerLogV2 KubePodInventory; do
  /usr/bin/time -f "$t: wall %e s, user %U s, sys %S s, max RSS %M KiB" \
    $BIN workspace ingest $t "$OUT/ndjson/$t.ndjson" --workspace "$OUT/ws"
done
$BIN workspace compact --workspace "$OUT/ws"

echo "== bytes on disk"
raw=$(stat -c %s "$OUT/ndjson/ContainerLogV2.ndjson")
pq=$(du -sb "$OUT/ws/ContainerLogV2" | cut -f1)
echo "ContainerLogV2 NDJSON: $raw bytes; Parquet: $pq bytes; ratio $(python3 -c "print(round($raw/$pq,1))")x"

echo "== queries (best of 3, warm cache)"
python3 bench/workspace/queries.py "$OUT/ws" "$BIN"
