//! Compatibility views, defined as DataFusion plans over the stored tables' providers.
//!
//! - `ContainerLog` (legacy): ContainerLogV2 with `ContainerId → ContainerID`,
//!   `ContainerName → Name`, `LogMessage` as text → `LogEntry` (a JSON string value loses its
//!   quotes; JSON objects stay JSON text), `LogSource → LogEntrySource`,
//!   `SourceSystem = "Container"`, and `Image`/`ImageTag`/`Repository` empty, as current
//!   agents leave them in Azure (queries join ContainerInventory for them).
//! - `AzureDiagnostics` (legacy resource logs): AKSAudit (`Category = "kube-audit"`),
//!   AKSAuditAdmin (`"kube-audit-admin"`) with the audit event rebuilt as `audit.k8s.io/v1`
//!   Event JSON in `log_s`, plus AKSControlPlane (its own Category, `Message → log_s`,
//!   `Stream → stream_s`); `pod_s = PodName`, `ResourceProvider = "MICROSOFT.CONTAINERSERVICE"`,
//!   `ResourceType = "MANAGEDCLUSTERS"`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, TimestampNanosecondType};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility, ident, lit,
};
use serde_json::{Map, Value};

use crate::error::Result;

fn scan(providers: &HashMap<&'static str, Arc<dyn TableProvider>>, name: &str) -> Result<LogicalPlanBuilder> {
    let p = providers
        .get(name)
        .cloned()
        .ok_or_else(|| DataFusionError::Plan(format!("view source table {name} is not registered")))?;
    Ok(LogicalPlanBuilder::scan(TableReference::bare(name), provider_as_source(p), None)?)
}

/// Builds the compatibility views over the given table providers.
pub fn build(
    providers: &HashMap<&'static str, Arc<dyn TableProvider>>,
) -> Result<Vec<(&'static str, Arc<dyn TableProvider>)>> {
    let json_text = Arc::new(ScalarUDF::from(JsonToText::new()));
    let audit_json = Arc::new(ScalarUDF::from(AuditEventJson::new()));

    let container_log = scan(providers, "ContainerLogV2")?
        .project(vec![
            ident("TimeGenerated"),
            ident("Computer"),
            ident("ContainerId").alias("ContainerID"),
            ident("ContainerName").alias("Name"),
            json_text.call(vec![ident("LogMessage")]).alias("LogEntry"),
            ident("LogSource").alias("LogEntrySource"),
            lit("Container").alias("SourceSystem"),
            lit("").alias("Image"),
            lit("").alias("ImageTag"),
            lit("").alias("Repository"),
        ])?
        .build()?;

    let audit = |table: &str, category: &str| -> Result<LogicalPlan> {
        let args: Vec<Expr> = AUDIT_FIELDS.iter().map(|(c, _)| ident(*c)).collect();
        Ok(scan(providers, table)?
            .project(vec![
                ident("TimeGenerated"),
                lit(category.to_string()).alias("Category"),
                lit("MICROSOFT.CONTAINERSERVICE").alias("ResourceProvider"),
                lit("MANAGEDCLUSTERS").alias("ResourceType"),
                audit_json.call(args).alias("log_s"),
                ident("PodName").alias("pod_s"),
                lit("").alias("stream_s"),
            ])?
            .build()?)
    };
    let control_plane = scan(providers, "AKSControlPlane")?
        .project(vec![
            ident("TimeGenerated"),
            ident("Category"),
            lit("MICROSOFT.CONTAINERSERVICE").alias("ResourceProvider"),
            lit("MANAGEDCLUSTERS").alias("ResourceType"),
            ident("Message").alias("log_s"),
            ident("PodName").alias("pod_s"),
            ident("Stream").alias("stream_s"),
        ])?
        .build()?;
    let azure_diagnostics = LogicalPlanBuilder::from(audit("AKSAudit", "kube-audit")?)
        .union(audit("AKSAuditAdmin", "kube-audit-admin")?)?
        .union(control_plane)?
        .build()?;

    Ok(vec![
        ("ContainerLog", Arc::new(ViewTable::new(container_log, None)) as Arc<dyn TableProvider>),
        ("AzureDiagnostics", Arc::new(ViewTable::new(azure_diagnostics, None))),
    ])
}

/// Dynamic JSON text → plain text: a JSON string loses its quotes, anything else is kept.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonToText {
    signature: Signature,
}

impl JsonToText {
    fn new() -> Self {
        JsonToText { signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for JsonToText {
    fn name(&self) -> &str {
        "keelwatch_json_to_text"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = arrays[0].as_string::<i32>();
        let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
        for v in input.iter() {
            match v {
                None => out.append_null(),
                Some(s) if s.starts_with('"') => match serde_json::from_str::<String>(s) {
                    Ok(t) => out.append_value(t),
                    Err(_) => out.append_value(s),
                },
                Some(s) => out.append_value(s),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

/// AKSAudit column → audit.k8s.io/v1 Event key. Dynamic columns are embedded as JSON values.
const AUDIT_FIELDS: &[(&str, &str)] = &[
    ("Level", "level"),
    ("AuditId", "auditID"),
    ("Stage", "stage"),
    ("RequestUri", "requestURI"),
    ("Verb", "verb"),
    ("User", "user"),
    ("SourceIps", "sourceIPs"),
    ("UserAgent", "userAgent"),
    ("ObjectRef", "objectRef"),
    ("ResponseStatus", "responseStatus"),
    ("RequestObject", "requestObject"),
    ("ResponseObject", "responseObject"),
    ("RequestReceivedTime", "requestReceivedTimestamp"),
    ("StageReceivedTime", "stageTimestamp"),
    ("Annotations", "annotations"),
];

const AUDIT_DYNAMIC: &[&str] =
    &["User", "SourceIps", "ObjectRef", "ResponseStatus", "RequestObject", "ResponseObject", "Annotations"];

/// Rebuilds an audit Event as JSON text from the AKSAudit columns.
#[derive(Debug, PartialEq, Eq, Hash)]
struct AuditEventJson {
    signature: Signature,
}

impl AuditEventJson {
    fn new() -> Self {
        let ts = DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, Some("UTC".into()));
        let types =
            AUDIT_FIELDS.iter().map(|(c, _)| if c.ends_with("Time") { ts.clone() } else { DataType::Utf8 }).collect();
        AuditEventJson { signature: Signature::exact(types, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for AuditEventJson {
    fn name(&self) -> &str {
        "keelwatch_audit_event_json"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let n = args.number_rows;
        let mut out = StringBuilder::with_capacity(n, n * 256);
        for row in 0..n {
            let mut m = Map::new();
            m.insert("kind".into(), Value::String("Event".into()));
            m.insert("apiVersion".into(), Value::String("audit.k8s.io/v1".into()));
            for (i, (column, key)) in AUDIT_FIELDS.iter().enumerate() {
                let a = &arrays[i];
                if a.is_null(row) {
                    continue;
                }
                let v = if let Some(t) = a.as_primitive_opt::<TimestampNanosecondType>() {
                    Value::String(
                        chrono::DateTime::from_timestamp_nanos(t.value(row))
                            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    )
                } else if let Some(s) = a.as_string_opt::<i32>() {
                    let s = s.value(row);
                    if AUDIT_DYNAMIC.contains(column) {
                        serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
                    } else {
                        Value::String(s.to_string())
                    }
                } else {
                    continue;
                };
                m.insert((*key).to_string(), v);
            }
            out.append_value(Value::Object(m).to_string());
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}
