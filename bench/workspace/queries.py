"""Times the three benchmark queries: KQL through `keelwatch query` (if the binary has it) and
the equivalent SQL in DuckDB, both on the workspace's Parquet files. Best of 3 runs each."""
import subprocess, sys, time, shutil

ws, binary = sys.argv[1], sys.argv[2]
log = f"{ws}/ContainerLogV2/*/*/*.parquet"
kpi = f"{ws}/KubePodInventory/*/*/*.parquet"

QUERIES = [
    ("count by 5m bin and namespace",
     "ContainerLogV2 | summarize count() by bin(TimeGenerated, 5m), PodNamespace",
     f"SELECT time_bucket(INTERVAL 5 MINUTE, TimeGenerated) AS TimeGenerated, PodNamespace, count(*) AS count_ "
     f"FROM read_parquet('{log}') GROUP BY ALL"),
    ("has \"error\" | count",
     'ContainerLogV2 | where LogMessage has "error" | count',
     # `has` is a whole-term, case-insensitive match: the closest SQL is a case-insensitive
     # regex with word boundaries.
     f"SELECT count(*) FROM read_parquet('{log}') WHERE regexp_matches(LogMessage, '\\berror\\b', 'i')"),
    ("join KubePodInventory",
     "KubePodInventory | distinct PodUid, Namespace, ControllerName "
     "| join kind=inner (ContainerLogV2 | summarize n = count() by PodUid = tostring(KubernetesMetadata.podUid)) on PodUid "
     "| summarize sum(n) by ControllerName",
     f"WITH p AS (SELECT DISTINCT PodUid, Namespace, ControllerName FROM read_parquet('{kpi}')), "
     f"l AS (SELECT json_extract_string(KubernetesMetadata, '$.podUid') AS PodUid, count(*) AS n FROM read_parquet('{log}') GROUP BY 1) "
     f"SELECT ControllerName, sum(n) AS sum_n FROM p JOIN l USING (PodUid) GROUP BY ControllerName"),
]

def best(f, n=3):
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter(); out = f(); times.append(time.perf_counter() - t)
    return min(times), out

import duckdb
con = duckdb.connect()
con.execute("SET threads TO 2")
has_query = subprocess.run([binary, "query", "--help"], capture_output=True).returncode == 0
print(f"{'query':34} {'keelwatch s':>12} {'duckdb s':>9} {'ratio':>6}  rows(kw/duckdb)")
for name, kql, sql in QUERIES:
    d, drows = best(lambda: con.execute(sql).fetchall())
    if has_query:
        def run():
            r = subprocess.run([binary, "query", "--workspace", ws, "-o", "json", kql], capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"keelwatch query failed: {r.stderr}")
            return r.stdout
        k, kout = best(run)
        import json
        try:
            parsed = json.loads(kout)
            krows = len(parsed["tables"][0]["rows"]) if isinstance(parsed, dict) else len(parsed)
        except Exception:
            krows = "?"
        print(f"{name:34} {k:12.3f} {d:9.3f} {k/d:6.2f}  {krows}/{len(drows)}")
    else:
        print(f"{name:34} {'n/a':>12} {d:9.3f} {'-':>6}  -/{len(drows)}")
