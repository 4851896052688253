//! The ValidatingWebhookConfiguration that points a cluster at the webhook.

use base64::Engine as _;
use serde_json::{Value, json};

/// Options for the printed configuration.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Service as `NAME.NAMESPACE`.
    pub service: String,
    pub path: String,
    pub port: u16,
    /// `Ignore` (fail-open, Gatekeeper's default) or `Fail`.
    pub failure_policy: String,
    pub timeout_seconds: u32,
    /// Namespaces never sent to the webhook (the webhook's own, to avoid locking itself out).
    pub exempt_namespaces: Vec<String>,
}

/// Builds the configuration; `ca_pem` is the CA certificate that signed the serving cert.
pub fn validating_webhook_configuration(ca_pem: &str, opts: &WebhookOptions) -> Result<Value, String> {
    let (name, namespace) = opts
        .service
        .split_once('.')
        .filter(|(n, ns)| !n.is_empty() && !ns.is_empty() && !ns.contains('.'))
        .ok_or_else(|| format!("--service must be NAME.NAMESPACE, got {:?}", opts.service))?;
    if !ca_pem.contains("BEGIN CERTIFICATE") {
        return Err("the CA file holds no PEM certificate".into());
    }
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    Ok(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "keelwatch-validating-webhook", "labels": {"app.kubernetes.io/name": "keelwatch"}},
        "webhooks": [{
            "name": "validation.keelwatch.dev",
            "admissionReviewVersions": ["v1", "v1beta1"],
            "sideEffects": "None",
            "failurePolicy": opts.failure_policy,
            "timeoutSeconds": opts.timeout_seconds,
            "matchPolicy": "Exact",
            "clientConfig": {
                "caBundle": ca_bundle,
                "service": {"name": name, "namespace": namespace, "path": opts.path, "port": opts.port}
            },
            "namespaceSelector": {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": opts.exempt_namespaces},
                {"key": "admission.keelwatch.dev/ignore", "operator": "DoesNotExist"}
            ]},
            "rules": [{
                "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                "resources": ["*"], "scope": "*"
            }]
        }]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(service: &str) -> WebhookOptions {
        WebhookOptions {
            service: service.into(),
            path: "/validate".into(),
            port: 443,
            failure_policy: "Ignore".into(),
            timeout_seconds: 3,
            exempt_namespaces: vec!["keelwatch-system".into()],
        }
    }

    #[test]
    fn builds_and_validates_service() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let v = validating_webhook_configuration(pem, &opts("keelwatch.keelwatch-system")).unwrap();
        let hook = &v["webhooks"][0];
        assert_eq!(hook["clientConfig"]["service"]["name"], "keelwatch");
        assert_eq!(hook["clientConfig"]["service"]["namespace"], "keelwatch-system");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(hook["clientConfig"]["caBundle"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, pem.as_bytes());
        assert!(validating_webhook_configuration(pem, &opts("nonamespace")).is_err());
        assert!(validating_webhook_configuration("junk", &opts("a.b")).is_err());
    }
}
