#!/usr/bin/env bash
# Audit throughput of the release `keelwatch policy audit` (loading YAML included) on N
# generated pods (default 100,000; every 10th privileged) against `pod-security-restricted`.
# The pods are written outside the repository (default /tmp/keelwatch-audit-pods).
# Usage: bench/policy/audit.sh [PODS] [DIR]   (RUST_LIB_BACKTRACE=0 is recommended, see README)
set -euo pipefail
cd "$(dirname "$0")/../.."
PODS="${1:-100000}"
DIR="${2:-/tmp/keelwatch-audit-pods}"
# KEELWATCH_BIN overrides the binary (e.g. a debug build to check the script quickly).
if [ -z "${KEELWATCH_BIN:-}" ]; then
  cargo build --release -p keelwatch >/dev/null
fi
BIN="${KEELWATCH_BIN:-${CARGO_TARGET_DIR:-target}/release/keelwatch}"
python3 - "$PODS" "$DIR" <<'PY'
import os, sys
pods, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
for f in os.listdir(out):
    if f.startswith("pods-") and f.endswith(".yaml"):
        os.remove(os.path.join(out, f))
container = """  - name: {name}
    image: registry.example.com/shop/{name}:2.4.1
    ports: [{{containerPort: 8080, protocol: TCP}}]
    env: [{{name: LOG_LEVEL, value: info}}]
    resources: {{requests: {{cpu: 100m, memory: 128Mi}}, limits: {{cpu: 500m, memory: 256Mi}}}}
    readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 10}}
    securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}{extra}}}
    volumeMounts: [{{name: tmp, mountPath: /tmp}}]
"""
per_file = 10000
for start in range(0, pods, per_file):
    with open(os.path.join(out, f"pods-{start // per_file:03d}.yaml"), "w") as f:
        for i in range(start, min(pods, start + per_file)):
            extra = ", privileged: true" if i % 10 == 0 else ""
            f.write(f"""---
apiVersion: v1
kind: Pod
metadata:
  name: web-{i:06d}
  namespace: shop
  labels: {{app: web}}
spec:
  automountServiceAccountToken: false
  securityContext: {{runAsNonRoot: true, runAsUser: 10001, seccompProfile: {{type: RuntimeDefault}}}}
  initContainers:
""" + container.format(name="migrate", extra="") + "  containers:\n"
                    + container.format(name="web", extra=extra) + container.format(name="proxy", extra="")
                    + "  volumes: [{name: tmp, emptyDir: {}}]\n")
PY
ASSIGNMENT="${DIR%/}-restricted.yaml"
cat > "$ASSIGNMENT" <<'YAML'
apiVersion: policy.keelwatch.dev/v1alpha1
kind: Assignment
metadata: {name: restricted}
spec: {initiative: pod-security-restricted, effect: Deny}
YAML
echo "== $(uptime)"
start=$(date +%s.%N)
set +e
"$BIN" policy audit "$DIR" --assignment "$ASSIGNMENT" -o json >"${DIR%/}-report.json"
rc=$?
set -e
end=$(date +%s.%N)
python3 - "${DIR%/}-report.json" "$PODS" "$rc" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
pods, rc, secs = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[5]) - float(sys.argv[4])
want = (pods + 9) // 10
got = len(r["findings"])
print(f"audit: {r['objects']} objects in {secs:.2f} s = {r['objects'] / secs:,.0f} objects/s; "
      f"{got} findings (want {want}), {len(r['errors'])} errors, exit {rc}")
assert got == want, "every privileged pod must be reported"
assert all(f["violation"]["msg"].startswith("Privileged container is not allowed: web") if "violation" in f
           else f["msg"].startswith("Privileged container is not allowed: web") for f in r["findings"])
assert rc == 1, "deny-level violations exit 1"
PY
echo "== $(uptime)"
