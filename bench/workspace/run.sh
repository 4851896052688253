#!/usr/bin/env bash
# Workspace benchmark: ingest rate, bytes on disk, and three queries vs DuckDB on the same
# Parquet files, all in one run. Usage: bench/workspace/run.sh [LOG_RATE]
# (default 313 ≈ 10 M ContainerLogV2 rows; 30 ≈ 1 M).
# Needs: a release build (built here unless KEELWATCH_BIN is set), python3 with duckdb.
# Env: BENCH_DIR (default /tmp/keelwatch-bench; needs ~10 GB for 10 M rows while the NDJSON
# exists), KEEP_NDJSON=1 to keep the generated NDJSON, RUNS (default 3), NDJSON_DIR (default
# $BENCH_DIR/ndjson; e.g. a tmpfs when the disk is short: the NDJSON is ~7.6 GB at 10 M rows).
set -euo pipefail
cd "$(dirname "$0")/../.."
LOG_RATE=${1:-313}
OUT=${BENCH_DIR:-/tmp/keelwatch-bench}
RUNS=${RUNS:-3}
END=2026-11-27T00:00:00Z
if [ -z "${KEELWATCH_BIN:-}" ]; then
  cargo build --release -p keelwatch >&2
  KEELWATCH_BIN=target/release/keelwatch
fi
BIN=$KEELWATCH_BIN
NDJ=${NDJSON_DIR:-$OUT/ndjson}
rm -rf "$OUT" "$NDJ" && mkdir -p "$OUT"

echo "== machine"
echo "date: $(date -u +%FT%TZ)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== generate NDJSON (1000 pods, 20 nodes, 24 h, log rate $LOG_RATE/container/h)"
$BIN workspace demo --export "$NDJ" --nodes 20 --pods 1000 --hours 24 --log-rate "$LOG_RATE" \
  --end $END --tables ContainerLogV2,KubePodInventory

echo "== ingest (one process; parse, schema check, Arrow, WAL with fsync per 20k-row batch, Parquet zstd)"
for t in ContainerLogV2 KubePodInventory; do
  /usr/bin/time -o "$OUT/time-$t" -f "%e %U %S %M" \
    $BIN workspace ingest $t "$NDJ/$t.ndjson" --workspace "$OUT/ws" | tee "$OUT/ingest-$t"
  read -r wall user sys rss < "$OUT/time-$t"
  rows=$(grep -o 'ingested [0-9]*' "$OUT/ingest-$t" | cut -d' ' -f2)
  python3 -c "
rows, wall, cpu = $rows, $wall, $user + $sys
print(f'$t: {rows} rows, wall {wall:.1f} s, cpu (user+sys) {cpu:.1f} s, max RSS $rss KiB')
print(f'$t: {rows / wall:,.0f} rows/s wall, {rows / cpu:,.0f} rows/s per core (rows / cpu seconds)')"
done
/usr/bin/time -f "compact: wall %e s" $BIN workspace compact --workspace "$OUT/ws"

echo "== bytes on disk"
raw=$(stat -c %s "$NDJ/ContainerLogV2.ndjson")
pq=$(du -sb "$OUT/ws/ContainerLogV2" | cut -f1)
files=$(find "$OUT/ws/ContainerLogV2" -name '*.parquet' | wc -l)
echo "ContainerLogV2 NDJSON: $raw bytes; Parquet: $pq bytes in $files files; ratio $(python3 -c "print(round($raw/$pq,1))")x"
if [ -z "${KEEP_NDJSON:-}" ]; then rm -rf "$NDJ"; fi

echo "== queries (best of $RUNS, warm cache)"
python3 bench/workspace/queries.py "$OUT/ws" "$BIN" "$RUNS"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
