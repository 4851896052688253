//! Alert outputs: JSON lines, a human table, and webhook payloads (generic JSON and the
//! Prometheus Alertmanager v2 `POST /api/v2/alerts` format). Payload building is pure; the
//! HTTP sender lives behind the `webhook` feature ([`WebhookSink`]).

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::alert::SecurityAlert;

/// Writes one alert as one JSON line.
pub fn write_json_line<W: Write + ?Sized>(out: &mut W, alert: &SecurityAlert) -> io::Result<()> {
    serde_json::to_writer(&mut *out, alert)?;
    out.write_all(b"\n")
}

/// Renders alerts as an aligned text table (one row per alert).
pub fn table(alerts: &[SecurityAlert]) -> String {
    let header = ["TIME", "SEVERITY", "TYPE", "COUNT", "ENTITY", "MESSAGE"];
    let rows: Vec<[String; 6]> = alerts
        .iter()
        .map(|a| {
            [
                a.start_time.clone(),
                a.alert_severity.clone(),
                a.alert_type.clone(),
                a.count.to_string(),
                a.compromised_entity.clone(),
                a.extended_properties
                    .get("Message")
                    .and_then(Value::as_str)
                    .unwrap_or(&a.alert_name)
                    .replace(['\n', '\r', '\t'], " "),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()).take(5) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    let line = |cells: [&str; 6], s: &mut String| {
        for (i, c) in cells.iter().enumerate() {
            if i == 5 {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        s.push('\n');
    };
    line(header, &mut s);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]], &mut s);
    }
    s
}

/// Webhook body formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// `{"alerts": [SecurityAlert, ...]}`.
    Generic,
    /// Alertmanager v2: a JSON array of `{labels, annotations, startsAt, endsAt, generatorURL}`.
    Alertmanager,
    /// The keelwatch workspace ingestion API: a JSON array of SecurityAlert rows posted to
    /// `<url>/api/ingest/SecurityAlert`.
    WorkspaceIngest,
}

/// Builds a webhook body for a batch of alerts.
pub fn webhook_body(format: WebhookFormat, alerts: &[SecurityAlert]) -> Value {
    match format {
        WebhookFormat::Generic => json!({ "alerts": alerts }),
        WebhookFormat::Alertmanager => Value::Array(alerts.iter().map(alertmanager_alert).collect()),
        WebhookFormat::WorkspaceIngest => json!(alerts),
    }
}

fn alertmanager_alert(a: &SecurityAlert) -> Value {
    let ext = &a.extended_properties;
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), json!(a.alert_type));
    labels.insert("severity".into(), json!(a.alert_severity.to_lowercase()));
    labels.insert("provider".into(), json!(a.provider_name));
    labels.insert("entity".into(), json!(a.compromised_entity));
    labels.insert("system_alert_id".into(), json!(a.system_alert_id));
    for (label, key) in [("namespace", "Namespace"), ("cluster", "Cluster"), ("node", "Node")] {
        if let Some(v) = ext.get(key).and_then(Value::as_str) {
            labels.insert(label.into(), json!(v));
        }
    }
    json!({
        "labels": labels,
        "annotations": {
            "summary": a.alert_name,
            "description": a.description,
            "message": ext.get("Message").cloned().unwrap_or(Value::Null),
            "tactics": a.tactics,
            "techniques": a.techniques,
            "count": a.count.to_string(),
            "remediation": a.remediation_steps.join("\n"),
        },
        "startsAt": a.start_time,
        "generatorURL": "https://keelwatch.invalid/alerts/".to_string() + &a.system_alert_id,
    })
}

#[cfg(feature = "webhook")]
pub use sink::{WebhookError, WebhookSink};

#[cfg(feature = "webhook")]
mod sink {
    use std::time::Duration;

    use super::{WebhookFormat, webhook_body};
    use crate::alert::SecurityAlert;

    /// A webhook delivery failure.
    #[derive(Debug, thiserror::Error)]
    pub enum WebhookError {
        #[error("webhook {url}: {source}")]
        Http { url: String, source: reqwest::Error },
        #[error("webhook {url}: HTTP status {status}: {body}")]
        Status { url: String, status: u16, body: String },
    }

    /// Posts alert batches to a URL (blocking; call from a blocking thread in async code).
    #[derive(Debug, Clone)]
    pub struct WebhookSink {
        url: String,
        format: WebhookFormat,
        bearer: Option<String>,
        client: reqwest::blocking::Client,
    }

    impl WebhookSink {
        /// A sink for `url`. For Alertmanager, `/api/v2/alerts` is appended when the URL does
        /// not already end with it; for the workspace, `/api/ingest/SecurityAlert`.
        pub fn new(url: &str, format: WebhookFormat, bearer: Option<String>) -> Result<WebhookSink, WebhookError> {
            let mut url = url.trim_end_matches('/').to_string();
            if format == WebhookFormat::Alertmanager && !url.ends_with("/api/v2/alerts") {
                url.push_str("/api/v2/alerts");
            }
            if format == WebhookFormat::WorkspaceIngest && !url.ends_with("/api/ingest/SecurityAlert") {
                url.push_str("/api/ingest/SecurityAlert");
            }
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|source| WebhookError::Http { url: url.clone(), source })?;
            Ok(WebhookSink { url, format, bearer, client })
        }

        /// The URL posted to.
        pub fn url(&self) -> &str {
            &self.url
        }

        /// Posts one batch; an empty batch is not sent.
        pub fn send(&self, alerts: &[SecurityAlert]) -> Result<(), WebhookError> {
            if alerts.is_empty() {
                return Ok(());
            }
            let mut req = self.client.post(&self.url).json(&webhook_body(self.format, alerts));
            if let Some(t) = &self.bearer {
                req = req.bearer_auth(t);
            }
            let resp = req.send().map_err(|source| WebhookError::Http { url: self.url.clone(), source })?;
            let status = resp.status();
            if !status.is_success() {
                let body: String = resp.text().unwrap_or_default().chars().take(300).collect();
                return Err(WebhookError::Status { url: self.url.clone(), status: status.as_u16(), body });
            }
            Ok(())
        }
    }
}
