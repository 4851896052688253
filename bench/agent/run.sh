#!/usr/bin/env bash
# Agent resource benchmark: RSS and CPU with 100 cgroups (each holding a sleeping process)
# and 1,000 log lines/s over 10 containers, at 60 s and 10 s metrics intervals.
# Needs root and cgroup v1 controllers at /sys/fs/cgroup/{cpuacct,memory} (or set
# CGROUP_ROOT to a v2 mount). Usage: sudo bench/agent/run.sh [seconds-per-run]
# Env: SKIP_BUILD=1 reuses the built example; CARGO_TARGET_DIR picks the build directory;
# LOG_POLL (default 1) is the log poll period in seconds; PERF=1 also records a perf profile
# of the agent for each run (perf-<interval>.data in the current directory).
set -euo pipefail
SECS=${1:-90}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CGROUP_ROOT=${CGROUP_ROOT:-/sys/fs/cgroup}
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# The benchmark drives host mode: the kubernetes feature (kube-rs) is not needed.
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p keelwatch-agent --no-default-features --example bench_agent >&2
BIN="$TARGET_DIR/release/examples/bench_agent"
WORK=$(mktemp -d /tmp/kw-agent-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for i in $(seq 1 100); do
    for c in cpuacct memory cpu unified; do rmdir "$CGROUP_ROOT/$c/kw-bench-$i" 2>/dev/null || true; done
    rmdir "$CGROUP_ROOT/kw-bench-$i" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# 100 cgroups, each with one sleeping process.
for i in $(seq 1 100); do
  sleep 100000 & sp=$!; PIDS+=("$sp")
  if [ -f "$CGROUP_ROOT/cgroup.controllers" ]; then
    mkdir -p "$CGROUP_ROOT/kw-bench-$i"; echo "$sp" > "$CGROUP_ROOT/kw-bench-$i/cgroup.procs"
  else
    for c in cpuacct memory; do mkdir -p "$CGROUP_ROOT/$c/kw-bench-$i"; echo "$sp" > "$CGROUP_ROOT/$c/kw-bench-$i/cgroup.procs"; done
  fi
done

measure() { # interval label
  local interval=$1 state="$WORK/state-$1" pods="$WORK/pods-$1"
  mkdir -p "$pods"
  cat > "$WORK/cfg-$interval.json" <<JSON
{"mode":"host","proc_root":"/proc","cgroup_root":"$CGROUP_ROOT","log_dir":"$pods",
 "interval":{"secs":$interval,"nanos":0},"log_poll":{"secs":${LOG_POLL:-1},"nanos":0},"once":false,
 "once_window":{"secs":1,"nanos":0},"output":{"file":"$WORK/out-$interval.ndjson"},
 "token_file":null,"ca_file":null,"state_dir":"$state","buffer_dir":null,"buffer_max_bytes":268435456,
 "node_name":"bench","cluster_id":"bench","filter":{"include":[],"exclude":[]},"log_rate_limit":0,
 "metrics":true,"process_source":"off","process_poll":{"secs":0,"nanos":100000000},
 "process_output":null,"metrics_listen":null,"max_backoff":{"secs":30,"nanos":0},
 "drain_timeout":{"secs":30,"nanos":0}}
JSON
  "$BIN" writer "$pods" 10 1000 "$((SECS + 5))" 2>/dev/null & local w=$!; PIDS+=("$w")
  "$BIN" agent "$WORK/cfg-$interval.json" & local a=$!; PIDS+=("$a")
  sleep 5  # warm-up: first metrics round, existing lines
  local t0 c0; t0=$(date +%s.%N); c0=$(awk '{print $14+$15}' /proc/$a/stat)
  if [ -n "${PERF:-}" ]; then
    perf record -F 999 -g -o "perf-$interval.data" -p "$a" -- sleep "$SECS" >/dev/null 2>&1
  else
    sleep "$SECS"
  fi
  local t1 c1; t1=$(date +%s.%N); c1=$(awk '{print $14+$15}' /proc/$a/stat)
  local rss hwm; rss=$(awk '/VmRSS/{print $2}' /proc/$a/status); hwm=$(awk '/VmHWM/{print $2}' /proc/$a/status)
  local tck; tck=$(getconf CLK_TCK)
  kill "$a" "$w" 2>/dev/null || true; wait "$a" 2>/dev/null || true
  local logs perf
  logs=$(grep -c '"Type":"ContainerLogV2"' "$WORK/out-$interval.ndjson" || true)
  perf=$(grep -c '"Type":"Perf"' "$WORK/out-$interval.ndjson" || true)
  awk -v i="$interval" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v tck="$tck" -v rss="$rss" -v hwm="$hwm" -v logs="$logs" -v perf="$perf" \
    'BEGIN { printf "interval=%ss cpu=%.2f%% of one core rss=%.1fMiB peak_rss=%.1fMiB log_rows=%d perf_rows=%d\n", i, (c1-c0)/tck/(t1-t0)*100, rss/1024, hwm/1024, logs, perf }'
  echo "load: $(uptime)"
}

measure 60
measure 10
