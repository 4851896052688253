//! `lookup`, `search`, `make-series`, `mv-apply`, `evaluate bag_unpack` and user-defined
//! (parameterised) `let` functions, with exact expected results on the small tables of
//! `common/mod.rs` (Pods, Logs, Nodes, N).
mod common;
use common::*;

#[test]
fn lookup_keeps_left_rows_and_one_copy_of_keys() {
    assert_eq!(
        lines(
            "Pods | lookup (Nodes | project Computer, Status) on Computer | project Name, Computer, Status | sort by Name asc"
        ),
        [
            "db-1|node-a|Ready",
            "dns-1|node-b|NotReady",
            "web-1|node-a|Ready",
            "web-1|node-a|Ready",
            "web-2|node-b|NotReady"
        ]
    );
    // right key columns are not repeated; other clashing names get the join suffix `1`
    assert_eq!(
        header("Pods | lookup Nodes on Computer"),
        "TimeGenerated:datetime,Name:string,Namespace:string,PodStatus:string,ContainerRestartCount:int,\
         Computer:string,PodLabel:string,TimeGenerated1:datetime,Status:string,Name1:string"
    );
    // default kind=leftouter keeps unmatched left rows (with nulls); kind=inner drops them
    assert_eq!(
        lines(
            "Pods | lookup (Nodes | where Status == 'Ready' | project Computer, Status) on Computer \
             | where isempty(Status) | project Name | sort by Name asc"
        ),
        ["dns-1", "web-2"]
    );
    assert_eq!(
        lines(
            "Pods | lookup kind=inner (Nodes | where Status == 'Ready' | project Computer, Status) on Computer | count"
        ),
        ["3"]
    );
    // $left.A == $right.B: the right key B is dropped
    assert_eq!(
        header("Logs | lookup (Pods | distinct Name, Namespace) on $left.PodName == $right.Name"),
        "TimeGenerated:datetime,PodName:string,PodNamespace:string,LogMessage:dynamic,LogLevel:string,Namespace:string"
    );
    assert_eq!(
        lines(
            "Logs | lookup (Pods | distinct Name, Namespace) on $left.PodName == $right.Name \
             | project PodName, Namespace | sort by PodName asc"
        ),
        ["db-1|data", "dns-1|kube-system", "web-1|default", "web-1|default", "web-2|default"]
    );
    assert!(err("Pods | lookup kind=fullouter Nodes on Computer").contains("unknown lookup kind 'fullouter'"));
    assert!(err("Pods | lookup Nodes on Computr").contains("did you mean 'Computer'"));
}

#[test]
fn user_defined_functions() {
    assert_eq!(
        lines("let double = (v:long) { v * 2 }; N | where isnotnull(x) | project d = double(x)"),
        ["2", "4", "6", "8"]
    );
    assert_eq!(lines("let f = (a:long, b:long = 10) { a + b }; print r = f(1), s = f(1, 2)"), ["11|3"]);
    assert_eq!(header("let f = (a:long, b:long = 10) { a + b }; print r = f(1)"), "r:long");
    // tabular body, scalar parameter
    assert_eq!(lines("let podsIn = (ns:string) { Pods | where Namespace == ns }; podsIn('default') | count"), ["3"]);
    // let statements inside the body
    assert_eq!(
        lines(
            "let byStatus = (st:string) { let p = Pods | where PodStatus == st; p | summarize n = count() }; \
             byStatus('Running')"
        ),
        ["3"]
    );
    // tabular parameter
    assert_eq!(lines("let cnt = (T:(*)) { T | count }; cnt(Pods | where Namespace == 'default')"), ["3"]);
    // parameterless function with a let body, called with and without parentheses
    assert_eq!(lines("let v = () { let t = Pods; t | where Name == 'db-1' }; v | project Name"), ["db-1"]);
    assert_eq!(lines("let v = () { let t = Pods; t | where Name == 'db-1' }; v() | project Name"), ["db-1"]);
    // functions calling functions; arguments converted to the declared type
    assert_eq!(lines("let inc = (n:long) { n + 1 }; let twice = (n:long) { inc(inc(n)) }; print twice(40)"), ["42"]);
    assert_eq!(header("let half = (n:real) { n / 2 }; print h = half(3)"), "h:real");
    assert_eq!(lines("let half = (n:real) { n / 2 }; print h = half(3)"), ["1.5"]);
    // errors
    assert!(err("let f = (a:long) { a }; print f(1, 2)").contains("takes 1 argument(s), got 2"));
    assert!(err("let f = (a:long) { a }; print f()").contains("needs a value for parameter 'a'"));
    assert!(err("let f = (T:(*)) { T | count }; f(1)").contains("parameter 'T' of 'f' is tabular"));
    assert!(err("let f = (a:long) { a }; f(1) | count").contains("returns a scalar"));
    assert!(err("let f = (a:long) { a }; print f").contains("is a function"));
    assert!(err("let f = (a:long) { f(a) }; print f(1)").contains("f"));
    assert!(err("let f = (a:long, a:long) { a }; print f(1, 2)").contains("appears twice"));
}

#[test]
fn search_as_source_and_filter() {
    // every table; `has` term semantics (kube-system has the term "kube")
    assert_eq!(lines("search 'kube' | summarize n = count() by $table | sort by $table asc"), ["Logs|1", "Pods|1"]);
    assert_eq!(
        header("search in (Nodes) 'Ready'"),
        "$table:string,TimeGenerated:datetime,Computer:string,Status:string,Name:string"
    );
    // "NotReady" is one term: no match
    assert_eq!(lines("search in (Nodes) 'Ready' | project Computer"), ["node-a", "node-c"]);
    // wildcards: prefix, suffix, substring
    assert_eq!(lines("search in (Pods) 'web*' | count"), ["3"]);
    assert_eq!(lines("search in (Nodes) '*Ready' | count"), ["3"]);
    assert_eq!(lines("search in (Pods) '*ubernet*' | count"), ["0"]);
    assert_eq!(lines("search in (Pods) '*ube-syst*' | project Name"), ["dns-1"]);
    // case sensitivity
    assert_eq!(lines("search in (Logs) 'error' | count"), ["2"]);
    assert_eq!(lines("search kind=case_sensitive in (Logs) 'Error' | project PodName"), ["web-2"]);
    // combined with ordinary predicates
    assert_eq!(lines("search in (Logs) 'error' and PodName == 'web-1' | project PodName"), ["web-1"]);
    assert_eq!(lines("search in (P*) 'Failed' or 'Pending' | project Name | sort by Name asc"), ["db-1", "dns-1"]);
    // after a pipe it is a filter that keeps the columns
    assert_eq!(lines("Pods | search 'Failed' | project Name"), ["db-1"]);
    assert_eq!(header("Pods | search 'Failed' | project-away PodLabel"), header("Pods | project-away PodLabel"));
    assert!(err("search in (Podz) 'x'").contains("did you mean 'Pods'"));
    assert!(err("Pods | search in (Pods) 'x'").contains("only allowed when search is the first operator"));
}

#[test]
fn make_series_bounds_from_the_data() {
    // no from/to: from the bin (aligned as bin() aligns) of the smallest axis value to the end
    // of the bin of the largest one, over the whole input: one axis for every series
    let q = "Pods | make-series n = count() on TimeGenerated step 1h by Namespace | sort by Namespace asc";
    assert_eq!(header(q), "Namespace:string,n:dynamic,TimeGenerated:dynamic");
    assert_eq!(
        lines(q),
        [
            r#"data|[1,0]|["2024-01-01T00:00:00Z","2024-01-01T01:00:00Z"]"#,
            r#"default|[2,1]|["2024-01-01T00:00:00Z","2024-01-01T01:00:00Z"]"#,
            r#"kube-system|[0,1]|["2024-01-01T00:00:00Z","2024-01-01T01:00:00Z"]"#,
        ]
    );
    assert_eq!(
        lines("Pods | make-series n = count() on TimeGenerated step 20m"),
        [
            r#"[3,0,0,1,1]|["2024-01-01T00:00:00Z","2024-01-01T00:20:00Z","2024-01-01T00:40:00Z","2024-01-01T01:00:00Z","2024-01-01T01:20:00Z"]"#
        ]
    );
    // the first value is not on a bin boundary: the series still starts on one
    assert_eq!(
        lines(
            "Pods | where TimeGenerated > datetime(2024-01-01 00:03) | make-series n = count() on TimeGenerated step 1h"
        ),
        [r#"[2,2]|["2024-01-01T00:00:00Z","2024-01-01T01:00:00Z"]"#]
    );
    // only `from`: bins start there; rows before it are left out; the end follows the data
    assert_eq!(
        lines("Pods | make-series n = count() on TimeGenerated from datetime(2024-01-01 00:30) step 1h"),
        [r#"[1,1]|["2024-01-01T00:30:00Z","2024-01-01T01:30:00Z"]"#]
    );
    // only `to` (exclusive): the start follows the data
    assert_eq!(
        lines("Pods | make-series n = count() on TimeGenerated to datetime(2024-01-01 01:00) step 30m"),
        [r#"[3,0]|["2024-01-01T00:00:00Z","2024-01-01T00:30:00Z"]"#]
    );
    // a long axis (nulls are not on the axis), with default=
    assert_eq!(lines("N | make-series sum(y) on x step 2"), ["[1.5,2.0,10.0]|[0,2,4]"]);
    assert_eq!(lines("N | make-series sum(y) default = -1 on x step 1 | project sum_y"), ["[1.5,2.5,-0.5,10.0]"]);
    assert_eq!(
        lines("N | where x != 2 | make-series sum(y) default = -1 on x step 1 | project sum_y"),
        ["[1.5,-1.0,-0.5,10.0]"]
    );
    // empty input: no series
    assert!(lines("Pods | where Name == 'none' | make-series count() on TimeGenerated step 1h").is_empty());
}

#[test]
fn make_series_dense_arrays_with_defaults() {
    let q = "Pods | make-series n = count() on TimeGenerated from datetime(2024-01-01) to datetime(2024-01-01 02:00) \
             step 1h by Namespace | sort by Namespace asc";
    assert_eq!(header(q), "Namespace:string,n:dynamic,TimeGenerated:dynamic");
    assert_eq!(
        lines(q),
        [
            r#"data|[1,0]|["2024-01-01T00:00:00Z","2024-01-01T01:00:00Z"]"#,
            r#"default|[2,1]|["2024-01-01T00:00:00Z","2024-01-01T01:00:00Z"]"#,
            r#"kube-system|[0,1]|["2024-01-01T00:00:00Z","2024-01-01T01:00:00Z"]"#,
        ]
    );
    // unnamed aggregate follows summarize naming; default= fills empty bins; `to` is exclusive
    let q = "Pods | make-series avg(ContainerRestartCount) default = -1 on TimeGenerated \
             from datetime(2024-01-01) to datetime(2024-01-01 01:00) step 30m";
    assert_eq!(header(q), "avg_ContainerRestartCount:dynamic,TimeGenerated:dynamic");
    assert_eq!(lines(q), [r#"[2.6666666666666665,-1.0]|["2024-01-01T00:00:00Z","2024-01-01T00:30:00Z"]"#]);
    // `in range(start, stop, step)`; a last partial bin still counts
    assert_eq!(
        lines(
            "Pods | make-series sum(ContainerRestartCount) on TimeGenerated \
             in range(datetime(2024-01-01), datetime(2024-01-01 02:30), 1h) | project sum_ContainerRestartCount"
        ),
        ["[8,1,0]"]
    );
    // the usual follow-up: mv-expand the series back into rows
    assert_eq!(
        lines(
            "Pods | make-series n = count() on TimeGenerated from datetime(2024-01-01) to datetime(2024-01-01 02:00) step 1h \
             | mv-expand n to typeof(long), TimeGenerated to typeof(datetime) | project TimeGenerated, n"
        ),
        ["2024-01-01T00:00:00Z|3", "2024-01-01T01:00:00Z|2"]
    );
    assert!(err("Pods | make-series count() on Name from 0 to 10 step 1").contains("axis must be"));
    assert!(err("Pods | make-series count() on TimeGenrated from ago(1d) to now() step 1h").contains("did you mean"));
}

#[test]
fn mv_apply_runs_the_subquery_per_row() {
    assert_eq!(
        lines(
            "N | where isnotnull(x) | extend arr = pack_array(x, x * 10) \
             | mv-apply v = arr to typeof(long) on (summarize total = sum(v)) | project x, total | sort by x asc"
        ),
        ["1|11", "2|22", "3|33", "4|44"]
    );
    let base = "Pods | summarize restarts = make_list(ContainerRestartCount) by Computer";
    assert_eq!(
        lines(&format!(
            "{base} | mv-apply r = restarts to typeof(long) on (top 1 by r desc) | project Computer, r | sort by Computer asc"
        )),
        ["node-a|5", "node-b|3"]
    );
    // rows whose subquery returns nothing are dropped
    assert_eq!(
        lines(&format!("{base} | mv-apply r = restarts to typeof(long) on (where r > 3) | project Computer, r")),
        ["node-a|5"]
    );
    assert_eq!(lines(&format!("{base} | mv-apply r = restarts to typeof(long) on (take 1) | count")), ["2"]);
    // extend inside sees the row's other columns; output keeps the input columns first
    assert_eq!(
        lines(
            "N | where x == 2 | extend arr = dynamic([1, 2, 3]) \
             | mv-apply e = arr to typeof(long) on (extend e2 = e * x) | project x, e, e2 | sort by e asc"
        ),
        ["2|1|2", "2|2|4", "2|3|6"]
    );
    assert_eq!(
        header(&format!("{base} | mv-apply r = restarts to typeof(long) on (summarize m = max(r))")),
        "Computer:string,restarts:dynamic,m:long"
    );
    assert!(
        err(&format!("{base} | mv-apply r = restarts on (join (Nodes) on Computer)"))
            .contains("not supported inside mv-apply")
    );
}

#[test]
fn bag_unpack_with_output_schema() {
    // a schema gives exactly its columns; `*` keeps the input's columns too
    assert_eq!(header("Logs | evaluate bag_unpack(LogMessage) : (level:string, code:long)"), "level:string,code:long");
    assert_eq!(
        header("Logs | evaluate bag_unpack(LogMessage) : (*, level:string, code:long)"),
        "TimeGenerated:datetime,PodName:string,PodNamespace:string,LogLevel:string,level:string,code:long"
    );
    assert_eq!(
        lines(
            "Logs | where PodName == 'web-1' | evaluate bag_unpack(LogMessage) : (*, level:string, code:long) \
             | project level, code | sort by level asc"
        ),
        ["|", "error|500"]
    );
    // schema names are keys, or output names when they carry the prefix
    assert_eq!(
        lines("Logs | where PodName == 'db-1' | evaluate bag_unpack(LogMessage, 'm_') : (msg:string) | project m_msg"),
        ["checkpoint"]
    );
    assert_eq!(
        lines("Logs | where PodName == 'db-1' | evaluate bag_unpack(LogMessage, 'm_') : (m_msg:string)"),
        ["checkpoint"]
    );
    assert!(err("Logs | evaluate pivot(LogLevel)").contains("not supported"));
    assert!(
        err("Logs | evaluate bag_unpack(LogMessage, 'p', 'overwrite')").contains("unknown bag_unpack columnsConflict")
    );
    assert!(err("Logs | evaluate bag_unpack(LogMessage, 'p', 'error', 'tags')").contains("dynamic array of strings"));
}

#[test]
fn bag_unpack_columns_from_the_data() {
    // no schema: one column per key of the data, in key order, typed by the values
    let q = "Logs | evaluate bag_unpack(LogMessage)";
    assert_eq!(
        header(q),
        "TimeGenerated:datetime,PodName:string,PodNamespace:string,LogLevel:string,\
         code:long,level:string,msg:string,tags:dynamic"
    );
    assert_eq!(
        lines(&format!(
            "{q} | where isnotempty(level) | project PodName, code, level, msg, tags | sort by PodName asc"
        )),
        [r#"db-1||info|checkpoint|["a","b"]"#, "web-1|500|error|db timeout|"]
    );
    // rows whose value is not a property bag get nulls
    assert_eq!(lines(&format!("{q} | where PodName == 'dns-1' | project code, level, msg, tags")), ["|||"]);
    assert_eq!(
        header("Logs | evaluate bag_unpack(LogMessage, 'm_') | project-away TimeGenerated"),
        "PodName:string,PodNamespace:string,LogLevel:string,m_code:long,m_level:string,m_msg:string,m_tags:dynamic"
    );
    // mixed value types make a dynamic column; a slot that is only null is dynamic too
    let q = r#"datatable(d:dynamic, n:long)[dynamic({"a":1,"b":"x"}), 1, dynamic({"a":"two","c":null}), 2]
               | evaluate bag_unpack(d) | sort by n asc"#;
    assert_eq!(header(q), "n:long,a:dynamic,b:string,c:dynamic");
    assert_eq!(lines(q), ["1|1|x|", r#"2|"two"||"#]);
    // ignoredProperties
    assert_eq!(
        header(
            "Logs | evaluate bag_unpack(LogMessage, 'p_', 'error', dynamic(['tags', 'msg'])) | project-away TimeGenerated"
        ),
        "PodName:string,PodNamespace:string,LogLevel:string,p_code:long,p_level:string"
    );
    // a key naming an existing column: an error by default, or replace/keep the source column
    let e = err("Logs | extend level = 'x' | evaluate bag_unpack(LogMessage)");
    assert!(e.contains("key 'level'") && e.contains("columnsConflict"), "{e}");
    let q =
        "Logs | extend level = 'x' | evaluate bag_unpack(LogMessage, '', 'replace_source') | where PodName == 'db-1'";
    assert_eq!(
        header(q),
        "TimeGenerated:datetime,PodName:string,PodNamespace:string,LogLevel:string,level:string,code:long,msg:string,tags:dynamic"
    );
    assert_eq!(lines(&format!("{q} | project level")), ["info"]);
    let q = "Logs | extend level = 'x' | evaluate bag_unpack(LogMessage, '', 'keep_source') | where PodName == 'db-1'";
    assert_eq!(lines(&format!("{q} | project level, msg")), ["x|checkpoint"]);
    // later operators see the columns; a let and a bag_unpack after a summarize work too
    assert_eq!(
        lines("let L = Logs | evaluate bag_unpack(LogMessage); L | where code == 500 | project PodName, msg"),
        ["web-1|db timeout"]
    );
    assert_eq!(lines("Logs | summarize b = make_bag(pack(PodName, 1)) | evaluate bag_unpack(b)"), ["1|1|1|1"]);
    // bounded: too many keys is an error pointing at the operator
    let e = err("range i from 1 to 1100 step 1 | extend d = bag_pack(strcat('k', i), i) | evaluate bag_unpack(d)");
    assert!(e.contains("more than 1024 columns") && e.starts_with("1:"), "{e}");
}

#[test]
fn bag_unpack_explain_reads_keys_only_with_data() {
    let q = "Logs | evaluate bag_unpack(LogMessage) | project level";
    let catalog = common::rt().block_on(keelwatch_kql::catalog_from_context(&ctx())).unwrap();
    let e = keelwatch_kql::explain(q, &catalog).unwrap_err();
    assert!(e.message.starts_with(keelwatch_kql::bind::bagunpack::NEEDS_DATA), "{e}");
    assert!(e.to_string().starts_with("1:8:"), "{e}");
    let plan = common::rt().block_on(keelwatch_kql::explain_with_data(q, &ctx())).unwrap();
    assert!(plan.starts_with("columns:\n  level: string\n"), "{plan}");
}

#[test]
fn top_nested_levels_naming_and_others() {
    let q = "Pods | top-nested 2 of Namespace by sum(ContainerRestartCount) | sort by Namespace asc";
    assert_eq!(header(q), "Namespace:string,aggregated_Namespace:long");
    assert_eq!(lines(q), ["data|5", "default|4"]);
    // the second level keeps its top values inside each kept value of the first
    let q = "Pods | top-nested 2 of Namespace by sum(ContainerRestartCount), top-nested 1 of Name by count() \
             | sort by Namespace asc";
    assert_eq!(header(q), "Namespace:string,aggregated_Namespace:long,Name:string,aggregated_Name:long");
    assert_eq!(lines(q), ["data|5|db-1|1", "default|4|web-1|2"]);
    // `with others`: one more row per parent with the aggregate over the values not kept;
    // its deeper levels are empty; named aggregates
    let q = "Pods | top-nested 1 of Namespace with others = 'Other' by n = count(), \
             top-nested 1 of Computer with others = 'rest' by sum(ContainerRestartCount) \
             | sort by Namespace asc, Computer asc";
    assert_eq!(header(q), "Namespace:string,n:long,Computer:string,aggregated_Computer:long");
    assert_eq!(lines(q), ["Other|2||", "default|3|node-b|3", "default|3|rest|1"]);
    // asc picks the smallest; without N every value is kept (and `others` adds nothing)
    assert_eq!(lines("Pods | top-nested 1 of Computer by max(ContainerRestartCount) asc"), ["node-b|3"]);
    assert_eq!(
        lines("Pods | top-nested of Computer with others = 'x' by count() | sort by Computer asc"),
        ["node-a|3", "node-b|2"]
    );
    // a named value expression; a null value is a group of its own
    assert_eq!(header("Pods | top-nested 1 of ns = toupper(Namespace) by count()"), "ns:string,aggregated_ns:long");
    assert_eq!(lines("N | top-nested 5 of x by count() | count"), ["5"]);
    // bin() keeps the column's name, as in summarize; other expressions are ColumnN
    assert_eq!(lines("Pods | top-nested 1 of bin(TimeGenerated, 1h) by count()"), ["2024-01-01T00:00:00Z|3"]);
    assert_eq!(
        header("Pods | top-nested 1 of bin(TimeGenerated, 1h) by count()"),
        "TimeGenerated:datetime,aggregated_TimeGenerated:long"
    );
    assert_eq!(header("Pods | top-nested 1 of strlen(Name) + 1 by count()"), "Column1:long,aggregated_Column1:long");
    // nothing left out: no `others` row
    assert_eq!(lines("Pods | top-nested 5 of Namespace with others = 'x' by count() | count"), ["3"]);
    assert_eq!(lines("N | where isnull(x) | top-nested 1 of x by sum(y)"), ["|0"]);
    assert!(err("Pods | top-nested 1.5 of Name by count()").contains("top-nested count must be"));
    assert!(err("Pods | top-nested 2 of Name by count(), top-nested 1 of Nam by count()").contains("did you mean"));
}
