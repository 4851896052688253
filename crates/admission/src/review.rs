//! AdmissionReview in, AdmissionReview out: decoding, the allow/deny/warn decision and the
//! response shape Gatekeeper sends.

use keelwatch_policy::{Action, Violation};
use serde_json::{Value, json};

use crate::evaluator::{EvalFailure, FailurePolicy};

/// The decision recorded for one request (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied,
    /// No verdict (deadline, overload, evaluation error): answered by the failure policy.
    Failed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
            Decision::Failed => "error",
        }
    }
}

/// A decoded AdmissionReview request.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// `admission.k8s.io/v1` or `admission.k8s.io/v1beta1`, echoed in the response.
    pub api_version: String,
    pub uid: String,
    /// The `request` object, given to the policy engine unchanged.
    pub request: Value,
}

impl Incoming {
    fn str_at(&self, pointer: &str) -> &str {
        self.request.pointer(pointer).and_then(Value::as_str).unwrap_or("")
    }
    pub fn kind(&self) -> &str {
        self.str_at("/kind/kind")
    }
    pub fn namespace(&self) -> &str {
        self.str_at("/namespace")
    }
    pub fn operation(&self) -> &str {
        self.str_at("/operation")
    }
    /// Request name, falling back to the object's name (generateName objects have none yet).
    pub fn name(&self) -> &str {
        let n = self.str_at("/name");
        if n.is_empty() { self.str_at("/object/metadata/name") } else { n }
    }
}

/// Decodes an AdmissionReview body. Errors say what is wrong, for an HTTP 400 answer.
pub fn decode(body: &[u8]) -> Result<Incoming, String> {
    let review: Value = serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
    let api_version = review.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if api_version != "admission.k8s.io/v1" && api_version != "admission.k8s.io/v1beta1" {
        return Err(format!(
            "apiVersion is {:?}; expected admission.k8s.io/v1 or admission.k8s.io/v1beta1",
            api_version
        ));
    }
    if review.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
        return Err("kind must be AdmissionReview".into());
    }
    let Some(request) = review.get("request").filter(|r| r.is_object()) else {
        return Err("missing request object".into());
    };
    let Some(uid) = request.get("uid").and_then(Value::as_str) else {
        return Err("request.uid is missing or not a string".into());
    };
    if request.pointer("/kind/kind").and_then(Value::as_str).is_none() {
        return Err("request.kind.kind is missing".into());
    }
    Ok(Incoming { api_version: api_version.to_string(), uid: uid.to_string(), request: request.clone() })
}

/// The outcome of one review: the response body plus what to log and count.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub decision: Decision,
    pub response: Value,
    /// Constraint names that produced violations (any action).
    pub constraints: Vec<String>,
}

/// Builds the response for evaluated violations (Gatekeeper's semantics).
pub fn respond(incoming: &Incoming, violations: &[Violation]) -> Outcome {
    let mut deny = Vec::new();
    let mut warn = Vec::new();
    let mut constraints: Vec<String> = Vec::new();
    for v in violations {
        let line = format!("[{}] {}", v.constraint_name, v.msg);
        match v.action {
            Action::Deny => deny.push(line),
            Action::Warn => warn.push(line),
            Action::Dryrun => {}
        }
        if !constraints.contains(&v.constraint_name) {
            constraints.push(v.constraint_name.clone());
        }
    }
    let mut response = json!({"uid": incoming.uid, "allowed": deny.is_empty()});
    if !deny.is_empty() {
        response["status"] = json!({"code": 403, "reason": "Forbidden", "message": deny.join("\n")});
    }
    if !warn.is_empty() {
        response["warnings"] = json!(warn);
    }
    let decision = if deny.is_empty() { Decision::Allowed } else { Decision::Denied };
    Outcome { decision, response: wrap(&incoming.api_version, response), constraints }
}

/// Builds the response when no verdict could be reached.
pub fn respond_failure(incoming: &Incoming, failure: &EvalFailure, policy: FailurePolicy) -> Outcome {
    let text = format!("keelwatch admission: {failure}");
    let response = match policy {
        FailurePolicy::Open => json!({
            "uid": incoming.uid,
            "allowed": true,
            "warnings": [format!("{text}; admitted unchecked (failure policy: open)")],
        }),
        FailurePolicy::Closed => json!({
            "uid": incoming.uid,
            "allowed": false,
            "status": {"code": 500, "reason": "InternalError", "message": format!("{text}; rejected (failure policy: closed)")},
        }),
    };
    Outcome { decision: Decision::Failed, response: wrap(&incoming.api_version, response), constraints: vec![] }
}

fn wrap(api_version: &str, response: Value) -> Value {
    json!({"apiVersion": api_version, "kind": "AdmissionReview", "response": response})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(api: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": api, "kind": "AdmissionReview",
            "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "namespace": "default", "operation": "CREATE", "object": {"metadata": {"name": "p"}}}
        }))
        .unwrap()
    }

    fn violation(name: &str, action: Action, msg: &str) -> Violation {
        Violation {
            constraint_kind: "K".into(),
            constraint_name: name.into(),
            action,
            msg: msg.into(),
            details: Value::Null,
        }
    }

    #[test]
    fn decodes_both_versions_and_rejects_garbage() {
        let inc = decode(&review("admission.k8s.io/v1beta1")).unwrap();
        assert_eq!((inc.uid.as_str(), inc.kind(), inc.name()), ("u-1", "Pod", "p"));
        assert!(decode(b"{").unwrap_err().contains("not valid JSON"));
        assert!(decode(&review("v1")).unwrap_err().contains("apiVersion"));
        assert!(
            decode(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#)
                .unwrap_err()
                .contains("missing request")
        );
    }

    #[test]
    fn deny_warn_dryrun() {
        let inc = decode(&review("admission.k8s.io/v1")).unwrap();
        let out = respond(
            &inc,
            &[
                violation("c1", Action::Deny, "no"),
                violation("c2", Action::Warn, "careful"),
                violation("c3", Action::Dryrun, "noted"),
                violation("c1", Action::Deny, "again"),
            ],
        );
        assert_eq!(out.decision, Decision::Denied);
        let r = &out.response["response"];
        assert_eq!(r["uid"], "u-1");
        assert_eq!(r["allowed"], false);
        assert_eq!(r["status"]["code"], 403);
        assert_eq!(r["status"]["message"], "[c1] no\n[c1] again");
        assert_eq!(r["warnings"], json!(["[c2] careful"]));
        assert_eq!(out.constraints, vec!["c1", "c2", "c3"]);
        let allowed = respond(&inc, &[violation("c3", Action::Dryrun, "noted")]);
        assert_eq!(allowed.response["response"]["allowed"], true);
        assert!(allowed.response["response"].get("status").is_none());
    }

    #[test]
    fn failure_policies() {
        let inc = decode(&review("admission.k8s.io/v1")).unwrap();
        let open =
            respond_failure(&inc, &EvalFailure::Timeout(std::time::Duration::from_millis(5)), FailurePolicy::Open);
        assert_eq!(open.response["response"]["allowed"], true);
        assert!(open.response["response"]["warnings"][0].as_str().unwrap().contains("within 5 ms"));
        let closed = respond_failure(&inc, &EvalFailure::Overloaded, FailurePolicy::Closed);
        assert_eq!(closed.response["response"]["allowed"], false);
        assert_eq!(closed.response["response"]["status"]["code"], 500);
    }
}
