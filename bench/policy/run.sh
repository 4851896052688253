#!/usr/bin/env bash
# Policy engine benchmarks (release builds): criterion decision latency for the restricted
# initiative on a typical Deployment pod, then the timing harness (decision p50/p99 and audit
# throughput on N pods, default 100,000). Usage: bench/policy/run.sh [PODS] [DECISIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
PODS="${1:-100000}"
DECISIONS="${2:-20000}"
cargo bench -p keelwatch-policy --bench decision -- --noplot
cargo bench -p keelwatch-policy --bench throughput -- "$PODS" "$DECISIONS"
bench/policy/audit.sh "$PODS"
