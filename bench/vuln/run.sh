#!/usr/bin/env bash
# keelwatch-vuln benchmarks: OSV import, cold scan vs `gzip -dc` of the same layer, peak RSS,
# warm-cache rescan. Usage: bash bench/vuln/run.sh [WORKDIR]   (from the repository root)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED="$ROOT/../shared/data"
W=${1:-$(mktemp -d /tmp/kw-vuln-bench.XXXX)}
mkdir -p "$W"
echo "workdir: $W"

# KEELWATCH_BENCH_TARGET_DIR lets the bench build outside a busy shared target dir.
TD=${KEELWATCH_BENCH_TARGET_DIR:-$ROOT/target}
CARGO_TARGET_DIR="$TD" cargo build --release -q -p keelwatch-vuln --example vulnbench
B="$TD/release/examples/vulnbench"

# Image: the real Debian 12 dpkg database plus a realistic amount of file-system content
# (host /usr/share and /usr/bin: many small files and real ELF executables), one gzip layer.
R="$W/rootfs"
rm -rf "$R" && mkdir -p "$R/usr"
cp -a "$SHARED/pkgdb/debian12/." "$R/"
cp -a /usr/share /usr/bin "$R/usr/" 2>/dev/null || true
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$R" -cf "$W/layer.tar" .
DIFF=$(sha256sum "$W/layer.tar" | cut -d' ' -f1)
gzip -1 -c "$W/layer.tar" > "$W/layer.tar.gz"
mkdir -p "$W/img/$DIFF"
mv "$W/layer.tar.gz" "$W/img/$DIFF/layer.tar"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$DIFF" > "$W/img/config.json"
CFG=$(sha256sum "$W/img/config.json" | cut -d' ' -f1); mv "$W/img/config.json" "$W/img/$CFG.json"
printf '[{"Config":"%s.json","RepoTags":["bench/deb12:latest"],"Layers":["%s/layer.tar"]}]' "$CFG" "$DIFF" > "$W/img/manifest.json"
tar -C "$W/img" -cf "$W/image.tar" .
rm -f "$W/layer.tar"
echo "layer: $(du -h "$W/img/$DIFF/layer.tar" | cut -f1) gzip, $(find "$R" | wc -l) entries"

echo "--- import of the three shared OSV zips"
rm -rf "$W/db"
"$B" import "$W/db" "$SHARED/osv/AlmaLinux-all.zip" "$SHARED/osv/Go-all.zip" "$SHARED/osv/PyPI-all.zip"

echo "--- gzip -dc of the same layer (baseline)"
s=$(date +%s.%N); gzip -dc "$W/img/$DIFF/layer.tar" > /dev/null; e=$(date +%s.%N)
echo "phase=gzip-dc seconds=$(echo "$e - $s" | bc)"

echo "--- cold scan (no cache)"
rm -rf "$W/cache"
"$B" scan "$W/db" "$W/image.tar"
echo "--- scan filling the cache, then warm rescan"
"$B" scan "$W/db" "$W/image.tar" "$W/cache" > /dev/null
"$B" scan "$W/db" "$W/image.tar" "$W/cache"
