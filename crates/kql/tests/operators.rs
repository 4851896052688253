//! Every tabular operator and naming rule, with exact expected results on small tables
//! (see `common/mod.rs` for the data).
mod common;
use common::*;

#[test]
fn where_and_string_operators() {
    assert_eq!(lines("Pods | where ContainerRestartCount > 1 | project Name | sort by Name asc"), ["db-1", "web-2"]);
    assert_eq!(lines("Logs | where LogMessage has 'error' | project PodName"), ["web-1", "web-2"]);
    assert_eq!(lines("Logs | where LogMessage contains 'error' | count"), ["3"]);
    assert_eq!(lines("Logs | where LogMessage has_cs 'Error' | project PodName"), ["web-2"]);
    assert_eq!(lines("Logs | where LogMessage !has 'error' | count"), ["3"]);
    assert_eq!(lines("Logs | where LogMessage !contains 'ERROR' | project PodName"), ["web-1", "db-1"]);
    assert_eq!(lines("Logs | where LogMessage contains_cs 'Error' | count"), ["1"]);
    assert_eq!(lines("Logs | where tostring(LogMessage) startswith 'get' | project PodName"), ["web-1"]);
    assert_eq!(lines("Logs | where tostring(LogMessage) endswith 'OK' | project PodName"), ["dns-1"]);
    assert_eq!(lines("Logs | where LogMessage hasprefix 'err' | count"), ["3"]);
    assert_eq!(lines("Logs | where LogMessage hassuffix 'out' | project PodName"), ["web-1"]);
    assert_eq!(lines("Logs | where LogMessage has_any ('timeout', 'healthz') | count"), ["2"]);
    assert_eq!(lines("Logs | where LogMessage has_all ('db', 'timeout') | count"), ["1"]);
    assert_eq!(lines("Pods | where Name =~ 'WEB-1' | count"), ["2"]);
    assert_eq!(lines("Pods | where Name !~ 'WEB-1' | count"), ["3"]);
    assert_eq!(lines("Pods | where Name == 'WEB-1' | count"), ["0"]);
    assert_eq!(lines("Pods | where Name != 'web-1' | count"), ["3"]);
    assert_eq!(lines("Pods | where Name in ('web-1', 'db-1') | count"), ["3"]);
    assert_eq!(lines("Pods | where Name !in ('web-1', 'db-1') | count"), ["2"]);
    assert_eq!(lines("Pods | where Name in~ ('WEB-2', 'DB-1') | count"), ["2"]);
    assert_eq!(lines("Pods | where Name !in~ ('WEB-2', 'DB-1') | count"), ["3"]);
    assert_eq!(lines("Pods | where ContainerRestartCount between (1 .. 3) | count"), ["2"]);
    assert_eq!(lines("Pods | where ContainerRestartCount !between (1 .. 3) | count"), ["3"]);
    assert_eq!(lines("Pods | where Name matches regex @'^web-\\d$' | count"), ["3"]);
    assert_eq!(lines("Pods | where * has 'kube' | project Name"), ["dns-1"]);
    assert_eq!(lines("Pods | where * contains 'ube-sys' | project Name"), ["dns-1"]);
    assert_eq!(
        lines("Pods | where * contains 'B-' | project Name | sort by Name asc"),
        ["db-1", "web-1", "web-1", "web-2"]
    );
    assert_eq!(
        lines("Pods | where TimeGenerated between (datetime(2024-01-01 00:04) .. 10m) | project Name"),
        ["web-2", "db-1"]
    );
    assert_eq!(
        lines(
            "Pods | where TimeGenerated >= datetime(2024-01-01T01:00:00Z) and PodStatus == 'Running' or Name == 'db-1' | project Name"
        ),
        ["db-1", "web-1"]
    );
}

#[test]
fn project_family_and_naming() {
    assert_eq!(header("Pods | project Name, R = ContainerRestartCount * 2"), "Name:string,R:long");
    assert_eq!(
        header("Logs | project LogMessage.level, LogMessage['code']"),
        "LogMessage_level:dynamic,LogMessage_code:dynamic"
    );
    assert_eq!(header("Pods | project Name, strlen(Name)"), "Name:string,Column1:long");
    assert_eq!(
        header("Pods | project-away PodLabel, Time*"),
        "Name:string,Namespace:string,PodStatus:string,ContainerRestartCount:int,Computer:string"
    );
    assert_eq!(header("Pods | project-keep Name*"), "Name:string,Namespace:string");
    assert_eq!(
        header("Pods | project-reorder Computer, Name"),
        "Computer:string,Name:string,TimeGenerated:datetime,Namespace:string,PodStatus:string,ContainerRestartCount:int,PodLabel:string"
    );
    assert_eq!(
        header("Nodes | project-rename Node = Computer, State = Status"),
        "TimeGenerated:datetime,Node:string,State:string,Name:string"
    );
    // extend replaces in place (position kept, type may change)
    assert_eq!(
        header("Nodes | extend Status = Status == 'Ready'"),
        "TimeGenerated:datetime,Computer:string,Status:bool,Name:string"
    );
    assert_eq!(lines("Nodes | extend Status = Status == 'Ready' | project Status"), ["true", "false", "true"]);
    assert_eq!(lines("Nodes | extend a = 1, b = a + 1 | project b | take 1"), ["2"]);
    assert_eq!(header("Nodes | extend strlen(Name) | project-keep Column1"), "Column1:long");
    assert!(err("Nodes | project-away Nmae").contains("column 'Nmae' not found in Nodes (did you mean 'Name'?)"));
}

#[test]
fn summarize_naming_and_aggregates() {
    assert_eq!(run("Pods | summarize count()").0, ["count_:long"]);
    assert_eq!(lines("Pods | summarize count()"), ["5"]);
    assert_eq!(
        header(
            "Pods | summarize sum(ContainerRestartCount), avg(ContainerRestartCount), min(ContainerRestartCount), max(ContainerRestartCount), dcount(Namespace), make_list(Name), make_set(Computer)"
        ),
        "sum_ContainerRestartCount:long,avg_ContainerRestartCount:real,min_ContainerRestartCount:int,max_ContainerRestartCount:int,dcount_Namespace:long,list_Name:dynamic,set_Computer:dynamic"
    );
    assert_eq!(
        lines(
            "Pods | summarize sum(ContainerRestartCount), avg(ContainerRestartCount), min(ContainerRestartCount), max(ContainerRestartCount), dcount(Namespace), make_list(Name), array_length(make_set(Computer))"
        ),
        [r#"9|1.8|0|5|3|["web-1","web-2","db-1","web-1","dns-1"]|2"#]
    );
    assert_eq!(
        header("Pods | summarize makelist(Name), makeset(Name), countif(PodStatus == 'Running')"),
        "list_Name:dynamic,set_Name:dynamic,countif_:long"
    );
    assert_eq!(
        lines(
            "Pods | summarize countif(PodStatus == 'Running'), sumif(ContainerRestartCount, Computer == 'node-a'), avgif(ContainerRestartCount, Computer == 'node-b')"
        ),
        ["3|6|1.5"]
    );
    assert_eq!(lines("Pods | summarize make_list(Name, 2)"), [r#"["web-1","web-2"]"#]);
    assert_eq!(header("Pods | summarize make_bag(pack(Name, ContainerRestartCount))"), "bag_:dynamic");
    assert_eq!(
        lines("Pods | where Computer == 'node-b' | summarize b = make_bag(pack(Name, ContainerRestartCount))"),
        [r#"{"web-2":3,"dns-1":0}"#]
    );
    assert_eq!(lines("Pods | summarize make_list_if(Name, Computer == 'node-b')"), [r#"["web-2","dns-1"]"#]);
    assert_eq!(header("Pods | summarize count() by bin(TimeGenerated, 1h)"), "TimeGenerated:datetime,count_:long");
    assert_eq!(
        lines("Pods | summarize count() by bin(TimeGenerated, 1h) | sort by TimeGenerated asc"),
        ["2024-01-01T00:00:00Z|3", "2024-01-01T01:00:00Z|2"]
    );
    assert_eq!(
        lines("Pods | summarize Total = count() by Cluster = toupper(Namespace) | sort by Cluster asc"),
        ["DATA|1", "DEFAULT|3", "KUBE-SYSTEM|1"]
    );
    assert_eq!(lines("Pods | summarize Pct = round(100.0 * countif(PodStatus == 'Running') / count(), 1)"), ["60"]);
    assert_eq!(lines("Pods | summarize by Computer | sort by Computer asc"), ["node-a", "node-b"]);
    assert_eq!(
        header("N | summarize percentile(y, 50), percentiles(y, 25, 75), stdev(y)"),
        "percentile_y_50:real,percentile_y_25:real,percentile_y_75:real,stdev_y:real"
    );
    assert_eq!(lines("N | summarize percentile(y, 50)"), ["1.5"]);
    assert_eq!(
        lines("N | summarize dcount(s), count(), sum(x), min(t), max(t)"),
        ["3|5|10|00:00:00.0000000|1.00:00:00"].map(|s| s.replace(".0000000", ""))
    );
    // any(): some value of the group (here each group has one distinct value)
    assert_eq!(header("Pods | summarize any(Namespace) by Computer"), "Computer:string,any_Namespace:string");
    assert_eq!(
        lines(
            "Pods | where Name startswith 'web' | summarize any(Namespace), any(PodStatus) by Name | sort by Name asc"
        ),
        ["web-1|default|Running", "web-2|default|Running"]
    );
    // empty input: a single row with zero counts when there are no keys
    assert_eq!(lines("Pods | where Name == 'none' | summarize count(), countif(true)"), ["0|0"]);
    assert_eq!(lines("Pods | where Name == 'none' | summarize count() by Name"), Vec::<String>::new());
}

#[test]
fn arg_max_and_arg_min_keep_original_names() {
    assert_eq!(
        header("Pods | summarize arg_max(TimeGenerated, *) by Name"),
        "Name:string,TimeGenerated:datetime,Namespace:string,PodStatus:string,ContainerRestartCount:int,Computer:string,PodLabel:string"
    );
    assert_eq!(
        lines(
            "Pods | summarize arg_max(TimeGenerated, *) by Name | project Name, TimeGenerated, ContainerRestartCount | sort by Name asc"
        ),
        [
            "db-1|2024-01-01T00:10:00Z|5",
            "dns-1|2024-01-01T01:30:00Z|0",
            "web-1|2024-01-01T01:00:00Z|1",
            "web-2|2024-01-01T00:05:00Z|3"
        ]
    );
    assert_eq!(
        header("Pods | summarize arg_min(TimeGenerated, PodStatus) by Computer"),
        "Computer:string,TimeGenerated:datetime,PodStatus:string"
    );
    assert_eq!(
        lines("Pods | summarize arg_min(TimeGenerated, PodStatus, Name) by Computer | sort by Computer asc"),
        ["node-a|2024-01-01T00:00:00Z|Running|web-1", "node-b|2024-01-01T00:05:00Z|Running|web-2"]
    );
    assert_eq!(lines("Pods | summarize arg_max(ContainerRestartCount, Name)"), ["5|db-1"]);
}

#[test]
fn sort_top_take_distinct_count() {
    assert_eq!(lines("Pods | top 2 by ContainerRestartCount | project Name"), ["db-1", "web-2"]);
    assert_eq!(lines("Pods | top 1 by ContainerRestartCount asc | project ContainerRestartCount"), ["0"]);
    assert_eq!(
        lines("Pods | sort by Name asc, TimeGenerated desc | project Name, ContainerRestartCount"),
        ["db-1|5", "dns-1|0", "web-1|1", "web-1|0", "web-2|3"]
    );
    assert_eq!(lines("N | sort by x asc | project x"), ["", "1", "2", "3", "4"]);
    // a null string is "" in KQL: `!=`, `!in` and `== ""` keep it
    assert_eq!(lines("N | where s != 'a' | project x"), ["2", "4", ""]);
    assert_eq!(lines("N | where s !in ('a', 'B') | project x"), ["4", ""]);
    assert_eq!(lines("N | where s == '' | project y"), ["0"]);
    assert_eq!(lines("N | order by x | project x"), ["4", "3", "2", "1", ""]);
    assert_eq!(lines("N | sort by x asc nulls last | project x"), ["1", "2", "3", "4", ""]);
    assert_eq!(lines("Pods | take 3 | count"), ["3"]);
    assert_eq!(lines("Pods | limit 1 | count"), ["1"]);
    assert_eq!(lines("Pods | distinct Computer | sort by Computer asc"), ["node-a", "node-b"]);
    assert_eq!(lines("Pods | distinct Namespace, Computer | count"), ["4"]);
    assert_eq!(lines("Pods | project Computer | distinct * | count"), ["2"]);
    assert_eq!(run("Pods | count").0, ["Count:long"]);
}

#[test]
fn joins_all_kinds_and_suffixes() {
    assert_eq!(
        header("Pods | join kind=inner (Nodes) on Computer"),
        "TimeGenerated:datetime,Name:string,Namespace:string,PodStatus:string,ContainerRestartCount:int,Computer:string,PodLabel:string,TimeGenerated1:datetime,Computer1:string,Status:string,Name1:string"
    );
    assert_eq!(lines("Pods | join kind=inner (Nodes) on Computer | count"), ["5"]);
    // innerunique (the default): one left row per key
    assert_eq!(lines("Pods | join (Nodes) on Computer | count"), ["2"]);
    assert_eq!(lines("Pods | join kind=innerunique (Nodes) on $left.Computer == $right.Computer | count"), ["2"]);
    assert_eq!(
        lines(
            "Nodes | join kind=leftouter (Pods | summarize n = count() by Computer) on Computer | project Computer, n | sort by Computer asc"
        ),
        ["node-a|3", "node-b|2", "node-c|"]
    );
    assert_eq!(
        lines(
            "Pods | summarize n = count() by Computer | join kind=rightouter (Nodes) on Computer | project Computer1, n | sort by Computer1 asc"
        ),
        ["node-a|3", "node-b|2", "node-c|"]
    );
    assert_eq!(
        lines(
            "datatable(k:long)[1, 2] | join kind=fullouter (datatable(k:long, v:string)[2, 'b', 3, 'c']) on k | sort by k1 asc nulls first"
        ),
        ["1||", "2|2|b", "|3|c"]
    );
    assert_eq!(lines("Nodes | join kind=leftanti (Pods) on Computer | project Computer"), ["node-c"]);
    assert_eq!(
        lines("Nodes | join kind=leftsemi (Pods) on Computer | project Computer | sort by Computer asc"),
        ["node-a", "node-b"]
    );
    assert_eq!(
        header("Pods | join kind=rightanti (Nodes) on Computer"),
        "TimeGenerated:datetime,Computer:string,Status:string,Name:string"
    );
    assert_eq!(lines("Pods | join kind=rightanti (Nodes) on Computer | project Computer"), ["node-c"]);
    assert_eq!(lines("Pods | join kind=rightsemi (Nodes) on Computer | count"), ["2"]);
    assert_eq!(
        lines(
            "Pods | join kind=inner hint.strategy=broadcast (Nodes | project Node = Computer, Status) on $left.Computer == $right.Node | where Status == 'Ready' | count"
        ),
        ["3"]
    );
    assert!(
        err("Pods | join (Nodes) on Computr")
            .contains("1:24: join key 'Computr' not found in the left side (Pods) (did you mean 'Computer'?)")
    );
}

#[test]
fn unions() {
    assert_eq!(lines("union Pods, Nodes | count"), ["8"]);
    assert_eq!(lines("Pods | union Nodes | count"), ["8"]);
    assert_eq!(
        lines("union withsource=SourceTable Pods, Nodes | summarize count() by SourceTable | sort by SourceTable asc"),
        ["Nodes|3", "Pods|5"]
    );
    assert_eq!(header("union (datatable(v:long)[1]), (datatable(v:real)[2.5])"), "v_long:long,v_real:real");
    assert_eq!(
        lines("union (datatable(v:long)[1]), (datatable(v:real)[2.5]) | sort by v_long asc nulls last"),
        ["1|", "|2.5"]
    );
    assert_eq!(header("union kind=inner Pods, Nodes"), "TimeGenerated:datetime,Name:string,Computer:string");
    assert_eq!(lines("union N* | count"), ["8"]);
}

#[test]
fn mv_expand_parse_serialize() {
    assert_eq!(header("N | where x == 1 | mv-expand a = d.arr to typeof(long) | project x, a"), "x:long,a:long");
    assert_eq!(lines("N | where x == 1 | mv-expand a = d.arr to typeof(long) | project x, a"), ["1|10", "1|20"]);
    assert_eq!(
        lines(
            "datatable(k:string, arr:dynamic)['a', dynamic([1, 2]), 'b', dynamic([3]), 'c', dynamic([])] | mv-expand arr"
        ),
        ["a|1", "a|2", "b|3"]
    );
    assert_eq!(lines("print d = dynamic({'x': 1, 'y': 2}) | mvexpand d"), [r#"{"x":1}"#, r#"{"y":2}"#]);
    assert_eq!(
        lines(
            "Logs | where PodName == 'web-1' and LogLevel == 'INFO' | parse LogMessage with 'GET ' Path ' ' Code:long | project Path, Code"
        ),
        ["/healthz|200"]
    );
    assert_eq!(
        header("Logs | parse LogMessage with 'GET ' Path ' ' Code:long | project Path, Code"),
        "Path:string,Code:long"
    );
    assert_eq!(
        lines("Logs | parse kind=regex LogMessage with @'errors=' N:long | where isnotnull(N) | project N"),
        ["0"]
    );
    assert_eq!(
        lines("print s = 'user=bob id=42' | parse s with * 'user=' User ' id=' Id:int | project User, Id"),
        ["bob|42"]
    );
    assert_eq!(
        lines(
            "Pods | sort by TimeGenerated asc | extend rn = row_number(), p = prev(Name), n = next(Name) | project rn, p, Name, n"
        ),
        ["1||web-1|web-2", "2|web-1|web-2|db-1", "3|web-2|db-1|web-1", "4|db-1|web-1|dns-1", "5|web-1|dns-1|"]
    );
    assert_eq!(
        lines("Pods | serialize | extend p = prev(Name, 2, 'none') | project p | take 3"),
        ["none", "none", "web-1"]
    );
    assert_eq!(
        lines(
            "Pods | sort by TimeGenerated asc | extend gap = TimeGenerated - prev(TimeGenerated) | project gap | take 3"
        ),
        ["", "00:05:00", "00:05:00"]
    );
}

#[test]
fn lets_views_subqueries_render_getschema() {
    assert_eq!(
        lines(
            "let n = 2; let names = dynamic(['web-1', 'db-1']); Pods | where ContainerRestartCount > n and Name in (names) | project Name"
        ),
        ["db-1"]
    );
    assert_eq!(lines("let failed = () { Pods | where PodStatus == 'Failed' }; failed | project Name"), ["db-1"]);
    assert_eq!(
        lines("let failed = Pods | where PodStatus == 'Failed' | project Name; Pods | where Name in (failed) | count"),
        ["1"]
    );
    assert_eq!(
        lines(
            "let total = toscalar(Pods | count); Pods | summarize n = count() by Computer | extend pct = 100 * n / total | project Computer, pct | sort by Computer asc"
        ),
        ["node-a|60", "node-b|40"]
    );
    assert_eq!(
        lines("let T = materialize(Nodes | where Status == 'Ready'); T | join kind=inner (T) on Computer | count"),
        ["2"]
    );
    let r = exec("Pods | summarize count() by bin(TimeGenerated, 1h) | render timechart").unwrap();
    assert_eq!(r.render.as_deref(), Some("timechart"));
    assert_eq!(
        lines("Nodes | getschema | project ColumnName, ColumnType"),
        ["TimeGenerated|datetime", "Computer|string", "Status|string", "Name|string"]
    );
    assert_eq!(lines("range i from 1 to 3 step 1 | summarize sum(i)"), ["6"]);
    assert_eq!(lines("print x = 1, 'lit', y = 2.5"), ["1|lit|2.5"]);
    assert_eq!(header("print x = 1, 'lit'"), "x:long,print_1:string");
}
