//! The upstream Falco k8saudit rules file must load, compile and evaluate without error.
//! The file is not vendored (licence/ownership): run with
//! `KEELWATCH_FALCO_RULES=/path/to/k8s_audit_rules.yaml cargo test -p keelwatch-detect --test upstream_falco -- --ignored`.

use keelwatch_detect::Detector;
use keelwatch_detect::decode::Event;
use keelwatch_detect::rules::load_rules;

#[test]
#[ignore = "needs KEELWATCH_FALCO_RULES pointing at falcosecurity/plugins k8s_audit_rules.yaml"]
fn upstream_k8s_audit_rules_load_and_evaluate() {
    let path =
        std::env::var("KEELWATCH_FALCO_RULES").expect("set KEELWATCH_FALCO_RULES to the upstream k8s_audit_rules.yaml");
    let text = std::fs::read_to_string(&path).expect("read rules file");
    let rules = match load_rules(false, &[(path.clone(), text)]) {
        Ok(r) => r,
        Err(errs) => panic!("upstream rules failed: {:#?}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>()),
    };
    let n = rules.rules().len();
    assert!(n >= 40, "only {n} rules compiled");
    let mut det = Detector::new(rules, "c");
    let events = [
        serde_json::json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"u1","stage":"ResponseComplete",
            "requestURI":"/api/v1/namespaces/default/pods","verb":"create","user":{"username":"mallory","groups":["system:authenticated"]},
            "sourceIPs":["10.1.1.1"],"objectRef":{"resource":"pods","namespace":"default","name":"p","apiVersion":"v1"},
            "responseStatus":{"code":201},"requestObject":{"kind":"Pod","spec":{"hostNetwork":true,"volumes":[{"name":"r","hostPath":{"path":"/"}}],
            "containers":[{"name":"c","image":"evil/img:1","securityContext":{"privileged":true}}]}},
            "responseObject":{"metadata":{"name":"p"}},"stageTimestamp":"2026-11-27T09:00:00Z"}),
        serde_json::json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"u2","stage":"ResponseStarted",
            "requestURI":"/api/v1/namespaces/default/pods/p/exec?command=sh&stdin=true","verb":"create","user":{"username":"mallory"},
            "objectRef":{"resource":"pods","namespace":"default","name":"p","subresource":"exec"},"responseStatus":{"code":101}}),
    ];
    let mut names = Vec::new();
    for e in events {
        let ev = Event::Audit(Box::new(keelwatch_detect::audit::AuditEvent::from_value(e).unwrap()));
        for a in det.process(&ev) {
            names.push(a.extended_properties["RuleName"].as_str().unwrap().to_string());
        }
    }
    eprintln!("{n} rules compiled; fired: {names:?}");
    for expected in [
        "Create Privileged Pod",
        "Create Sensitive Mount Pod",
        "Create HostNetwork Pod",
        "Attach/Exec Pod",
        "Disallowed K8s User",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} did not fire: {names:?}");
    }
}
