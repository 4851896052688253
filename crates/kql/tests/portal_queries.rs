//! What real Container Insights / portal queries use beyond the core subset — exact results:
//! Log Analytics' standard columns (`_ResourceId`, `Type`, `_BilledSize`, `_TimeReceived`, …),
//! quoted `datetime('…')` literals, `format_bytes`, `estimate_data_size(*)`,
//! `columnifexists`, `extractjson`, `ingestion_time()`, and `arg_max` next to other
//! aggregates. Each case is the construct a public query (Azure Monitor's query reference,
//! the portal's generated views) failed on before.
mod common;
use common::*;

#[test]
fn standard_columns_resolve_without_being_stored() {
    // No ClusterId in Pods: one empty resource id for all rows.
    assert_eq!(lines("Pods | summarize count() by _ResourceId"), ["|5"]);
    assert_eq!(
        lines("datatable(ClusterId: string, x: long)['c1', 1, 'c2', 2] | project _ResourceId, x"),
        ["c1|1", "c2|2"]
    );
    assert_eq!(
        lines("Pods | where Name == 'db-1' | project Type, _IsBillable, _SubscriptionId, TenantId"),
        ["Pods|True||"]
    );
    // datetime 8 + "db-1" 4 + "data" 4 + "Failed" 6 + int 4 + "node-a" 6 + `[{"app":"db"}]` 14
    assert_eq!(lines("Pods | where Name == 'db-1' | project _BilledSize"), ["46"]);
    assert_eq!(
        lines("Pods | where Name == 'db-1' | summarize GB = sum(_BilledSize) / 1024.0"),
        [format!("{}", 46.0 / 1024.0)]
    );
    assert_eq!(
        lines(
            "Pods | where Name == 'db-1' | project l = _TimeReceived - TimeGenerated, i = ingestion_time() - TimeGenerated"
        ),
        ["00:00:00|00:00:00"]
    );
    // A real column of the same name wins; hidden columns are not part of `*`.
    assert_eq!(lines("datatable(Type: string)['mine'] | project Type"), ["mine"]);
    assert!(!header("Pods | take 1").contains("_ResourceId"));
    // Not a table: no Type.
    assert!(err("datatable(x: long)[1] | project Type").contains("column 'Type' not found"));
}

#[test]
fn quoted_datetime_and_timespan_literals() {
    assert_eq!(lines("Pods | where TimeGenerated == datetime('2024-01-01 00:05:00') | project Name"), ["web-2"]);
    assert_eq!(lines(r#"Pods | where TimeGenerated > datetime("2024-01-01T01:00:00Z") | project Name"#), ["dns-1"]);
    assert_eq!(lines("print t = timespan('01:30:00')"), ["01:30:00"]);
    assert!(err("print d = datetime('yesterday-ish')").contains("invalid datetime literal"));
}

#[test]
fn sizes() {
    assert_eq!(
        lines(
            r#"print v1 = format_bytes(564), v2 = format_bytes(10332, 1), v3 = format_bytes(20010332), v4 = format_bytes(20010332, 2), v5 = format_bytes(20010332, 0, "KB")"#
        ),
        ["564 Bytes|10.1 KB|19 MB|19.08 MB|19541 KB"]
    );
    assert_eq!(lines("print format_bytes(long(null))"), [""]);
    assert!(err(r#"print format_bytes(1, 0, "parsecs")"#).contains("unknown unit 'parsecs'"));
    assert!(err(r#"print format_bytes("big")"#).contains("needs a number of bytes"));
    assert_eq!(
        lines(
            "Pods | where Name == 'db-1' | project a = estimate_data_size(*), b = estimate_data_size(Name, ContainerRestartCount)"
        ),
        ["46|8"]
    );
    // The portal's "billable data per namespace" shape.
    assert_eq!(
        lines(
            "Pods | summarize size = sum(estimate_data_size(*)) by Namespace | extend s = format_bytes(size) | project Namespace, s | order by Namespace asc"
        ),
        ["data|46 Bytes", "default|156 Bytes", "kube-system|43 Bytes"]
    );
}

#[test]
fn columnifexists_and_extractjson() {
    assert_eq!(
        lines(
            "Pods | where Name == 'db-1' | project r = columnifexists('PodStatus', ''), m = columnifexists('Missing', 'none')"
        ),
        ["Failed|none"]
    );
    assert_eq!(lines(r#"print v = extractjson("$.to", "{\"to\":\"a\",\"n\":[1,2]}")"#), ["a"]);
    assert_eq!(lines(r#"print v = extractjson("$.n[1]", '{"to":"a","n":[1,2]}', typeof(long)) + 1"#), ["3"]);
    assert_eq!(lines(r#"print v = extractjson("$['a b'].c", '{"a b":{"c":true}}', typeof(bool))"#), ["true"]);
    assert_eq!(lines(r#"print v = extract_json("$.missing", '{"to":"a"}')"#), [""]);
    assert_eq!(lines("Logs | where PodName == 'db-1' | project extractjson('$.tags[0]', tostring(LogMessage))"), ["a"]);
    assert!(err(r#"print extractjson("$..x", "{}")"#).contains("JSONPath '$..x' is not supported"));
}

#[test]
fn arg_max_next_to_other_aggregates() {
    let q = "Pods | summarize Start = min(TimeGenerated), arg_max(ContainerRestartCount, PodStatus) by Computer | order by Computer asc";
    assert_eq!(header(q), "Computer:string,Start:datetime,ContainerRestartCount:int,PodStatus:string");
    assert_eq!(lines(q), ["node-a|2024-01-01T00:00:00Z|5|Failed", "node-b|2024-01-01T00:05:00Z|3|Running"]);
    // Naming an arg_max names its first column, alone or not (as in the portal's crash-loop query).
    let q =
        "Pods | summarize n = count(), R = arg_min(ContainerRestartCount, Name) by Computer | order by Computer asc";
    assert_eq!(header(q), "Computer:string,n:long,R:int,Name:string");
    assert_eq!(lines(q), ["node-a|3|0|web-1", "node-b|2|0|dns-1"]);
    let q = "Pods | summarize R = arg_max(ContainerRestartCount, Name) by Computer | order by Computer asc";
    assert_eq!(lines(q), ["node-a|5|db-1", "node-b|3|web-2"]);
    assert_eq!(header(q), "Computer:string,R:int,Name:string");
}

#[test]
fn make_list_keeps_the_sorted_input_order_per_group() {
    // Enough rows for DataFusion to split the input across partitions: the lists must still
    // follow the `order by` (KQL: make_list keeps the order of a sorted input).
    let q = "range x from 1 to 30000 step 1 | extend k = x % 3 | order by x desc \
             | summarize l = make_list(x) by k | project k, first = tolong(l[0]), last = tolong(l[array_length(l) - 1]), n = array_length(l) \
             | order by k asc";
    for _ in 0..2 {
        assert_eq!(lines(q), ["0|30000|3|10000", "1|29998|1|10000", "2|29999|2|10000"]);
    }
}
