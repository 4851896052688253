"""Times the three benchmark queries: KQL through `keelwatch query` (the whole process: start,
open the workspace, plan, run, print JSON) and the equivalent SQL in DuckDB (in-process, same
thread count), both on the workspace's Parquet files. Best of N runs each (warm page cache).
Also checks that both engines return the same answer (row count and a value checksum).

Usage: queries.py WORKSPACE_DIR KEELWATCH_BINARY [RUNS]"""
import json
import os
import subprocess
import sys
import time

ws, binary = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
threads = os.cpu_count() or 2
log = f"{ws}/ContainerLogV2/*/*/*.parquet"
kpi = f"{ws}/KubePodInventory/*/*/*.parquet"

# (name, KQL, SQL, checksum(rows) -> comparable value)
QUERIES = [
    (
        "count by 5m bin and namespace",
        "ContainerLogV2 | summarize count() by bin(TimeGenerated, 5m), PodNamespace",
        f"SELECT time_bucket(INTERVAL 5 MINUTE, TimeGenerated) AS TimeGenerated, PodNamespace, count(*) AS count_ "
        f"FROM read_parquet('{log}') GROUP BY ALL",
        lambda rows: (len(rows), sum(int(r[-1]) for r in rows)),
    ),
    (
        'has "error" | count',
        'ContainerLogV2 | where LogMessage has "error" | count',
        # `has` is a whole-term, case-insensitive match: the closest SQL is a case-insensitive
        # regex with word boundaries.
        f"SELECT count(*) FROM read_parquet('{log}') WHERE regexp_matches(LogMessage, '\\berror\\b', 'i')",
        lambda rows: (len(rows), int(rows[0][0])),
    ),
    (
        "join KubePodInventory",
        "KubePodInventory | distinct PodUid, Namespace, ControllerName "
        "| join kind=inner (ContainerLogV2 | summarize n = count() by PodUid = tostring(KubernetesMetadata.podUid)) on PodUid "
        "| summarize sum(n) by ControllerName",
        f"WITH p AS (SELECT DISTINCT PodUid, Namespace, ControllerName FROM read_parquet('{kpi}')), "
        f"l AS (SELECT json_extract_string(KubernetesMetadata, '$.podUid') AS PodUid, count(*) AS n "
        f"FROM read_parquet('{log}') GROUP BY 1) "
        f"SELECT ControllerName, sum(n) AS sum_n FROM p JOIN l USING (PodUid) GROUP BY ControllerName",
        lambda rows: (len(rows), sum(int(r[-1]) for r in rows)),
    ),
]


def best(f, n):
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


import duckdb  # noqa: E402

con = duckdb.connect()
con.execute(f"SET threads TO {threads}")
con.execute("SET TimeZone = 'UTC'")
print(f"DuckDB {duckdb.__version__}, {threads} threads; best of {runs}")
print(f"{'query':32} {'keelwatch s':>12} {'duckdb s':>9} {'ratio':>6}  check (rows, sum) keelwatch / duckdb")
failed = False
for name, kql, sql, check in QUERIES:
    d, drows = best(lambda: con.execute(sql).fetchall(), runs)

    def run():
        r = subprocess.run([binary, "query", "--workspace", ws, "-o", "json", kql], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"keelwatch query failed: {r.stderr}")
        return r.stdout

    k, kout = best(run, runs)
    krows = json.loads(kout)["tables"][0]["rows"]
    kc, dc = check(krows), check(drows)
    same = "same" if kc == dc else "DIFFERENT"
    failed |= kc != dc
    print(f"{name:32} {k:12.3f} {d:9.3f} {k / d:6.2f}  {kc} / {dc} {same}")
sys.exit(1 if failed else 0)
