//! Scanner throughput on ContainerLogV2-shaped NDJSON lines (the ingestion path) and member
//! access on stored dynamic text (the query path). `cargo bench -p keelwatch-jsonscan`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keelwatch_jsonscan::{Field, Step, Trust, member_text, scan_object};

/// 1,000 lines shaped like `keelwatch workspace demo`'s ContainerLogV2 export: short strings,
/// a plain-text or JSON log message and the nested KubernetesMetadata object.
fn lines() -> Vec<String> {
    (0..1000)
        .map(|i| {
            let msg = if i % 3 == 0 {
                format!(r#"{{"level":"info","msg":"request served","path":"/api/cart/{i}","status":200,"ms":{}}}"#, i % 97)
            } else {
                format!(r#""10.244.0.{} - - [26/Nov/2026:00:00:07 +0000] \"GET /api/cart HTTP/1.1\" 200 440 \"-\" \"kube-probe/1.29\"""#, i % 250)
            };
            format!(
                r#"{{"TimeGenerated":"2026-11-26T00:00:{:02}.166Z","Computer":"aks-nodepool1-31415926-vmss00000{}","ContainerId":"a67456322b76df099a371b75761521c1cf34a631f8dbd9b5ce5f53dbe9beb0a7","ContainerName":"frontend","PodName":"frontend-27f40c51b-a880f","PodNamespace":"web","LogMessage":{msg},"LogSource":"stdout","LogLevel":"UNKNOWN","KubernetesMetadata":{{"podLabels":{{"app":"frontend"}},"podAnnotations":{{}},"podUid":"c3d58bd3-67ff-407f-a734-bcbb2e0dba78","image":"docker.io/library/nginx:1.25.3","imageID":"sha256:51a88579567f1e799d93769d17d9247e8921d3c531b8671efac807f6d6ded68b","imageRepo":"docker.io/library/nginx","imageTag":"1.25.3"}}}}"#,
                i % 60,
                i % 8
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let lines = lines();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut g = c.benchmark_group("jsonscan");
    g.throughput(Throughput::Bytes(bytes as u64));
    let mut fields: Vec<Field> = Vec::with_capacity(16);
    g.bench_function("scan_object/1000 lines", |b| {
        b.iter(|| {
            let mut n = 0;
            for l in &lines {
                fields.clear();
                scan_object(l.as_bytes(), &mut fields).expect("valid line");
                n += fields.len();
            }
            n
        })
    });
    let meta: Vec<&str> =
        lines.iter().map(|l| &l[l.find(r#""KubernetesMetadata":"#).unwrap() + 21..l.len() - 1]).collect();
    let path = [Step::Key("imageTag")];
    g.bench_function("member_text trusted/1000 values", |b| {
        b.iter(|| meta.iter().filter(|m| member_text(m, &path, Trust::Valid).is_some_and(|v| v.is_some())).count())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
