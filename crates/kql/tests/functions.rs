//! Scalar functions, literals, dynamic access, datetime/timespan arithmetic — exact results.
mod common;
use common::*;

fn one(expr: &str) -> String {
    let l = lines(&format!("print v = {expr}"));
    assert_eq!(l.len(), 1, "{expr}");
    l[0].clone()
}

#[test]
fn conversions() {
    assert_eq!(one("tostring(123)"), "123");
    assert_eq!(one("tostring(long(null))"), "");
    assert_eq!(one("isempty(tostring(long(null)))"), "true");
    assert_eq!(one("toint('42')"), "42");
    assert_eq!(one("tolong('x')"), "");
    assert_eq!(one("todouble('1.5') + 1"), "2.5");
    assert_eq!(one("toreal(2)"), "2");
    assert_eq!(one("todatetime('2024-01-01')"), "2024-01-01T00:00:00Z");
    assert_eq!(one("totimespan('01:30:00')"), "01:30:00");
    assert_eq!(one("tobool('true')"), "true");
    assert_eq!(one("tostring(dynamic({'a': 1}))"), r#"{"a":1}"#);
    assert_eq!(one("tostring(dynamic('s'))"), "s");
    assert_eq!(one("tolong(datetime(1970-01-01 00:00:01))"), "10000000");
    assert_eq!(one("gettype(dynamic([1]))"), "array");
}

#[test]
fn strings() {
    assert_eq!(one("strcat('a', 1, 'b', 2.5)"), "a1b2.5");
    assert_eq!(one("strcat_delim('-', 'a', 'b')"), "a-b");
    assert_eq!(one("tolower('AbC')"), "abc");
    assert_eq!(one("toupper('AbC')"), "ABC");
    assert_eq!(one("strlen('héllo')"), "5");
    assert_eq!(one("string_size('héllo')"), "6");
    assert_eq!(one("substring('abcdef', 2, 3)"), "cde");
    assert_eq!(one("substring('abcdef', 4)"), "ef");
    assert_eq!(one("indexof('abcdef', 'cd')"), "2");
    assert_eq!(one("indexof('abcdef', 'zz')"), "-1");
    assert_eq!(one("replace_string('aXbX', 'X', '-')"), "a-b-");
    assert_eq!(one("replace_regex('a1b22', @'\\d+', '#')"), "a#b#");
    assert_eq!(one("replace(@'(\\w+)@', @'\\1 at ', 'me@')"), "me at ");
    assert_eq!(one("trim(@'\\s+', '  x  ')"), "x");
    assert_eq!(one("trim_start('x', 'xxaxx')"), "axx");
    assert_eq!(one("trim_end('x', 'xxaxx')"), "xxa");
    assert_eq!(one("reverse('abc')"), "cba");
    assert_eq!(one("split('a,b,c', ',')"), r#"["a","b","c"]"#);
    assert_eq!(one("split('a,b,c', ',', 1)"), r#"["b"]"#);
    assert_eq!(one("split('a,b,c', ',')[2]"), r#""c""#);
    assert_eq!(one("tostring(split('a,b,c', ',')[2])"), "c");
    assert_eq!(one("extract(@'(\\d+)ms', 1, 'took 250ms')"), "250");
    assert_eq!(one("extract(@'(\\d+)ms', 1, 'took 250ms', typeof(long)) + 1"), "251");
    assert_eq!(one("extract(@'(\\d+)ms', 1, 'none')"), "");
    assert_eq!(one("extractall(@'(\\w)=(\\d)', 'a=1 b=2')"), r#"[["a","1"],["b","2"]]"#);
    assert_eq!(one("countof('abcabc', 'bc')"), "2");
    assert_eq!(one("url_decode('a%20b+c%2F')"), "a b c/");
    assert_eq!(one("base64_encode_tostring('kube')"), "a3ViZQ==");
    assert_eq!(one("base64_decode_tostring('a3ViZQ==')"), "kube");
    assert_eq!(one("base64_decode_tostring('%%%')"), "");
    assert_eq!(one("'abc' has 'ABC'"), "true");
    assert_eq!(one("'a-b' contains 'A-B'"), "true");
    assert_eq!(one("isempty('')"), "true");
    assert_eq!(one("isnotempty(' ')"), "true");
    assert_eq!(one("isnull(long(null))"), "true");
    assert_eq!(one("isnotnull(1)"), "true");
    assert_eq!(one("coalesce('', 'x')"), "x");
    assert_eq!(one("coalesce(long(null), 5)"), "5");
    assert_eq!(one("h'hidden' == 'hidden'"), "true");
    assert_eq!(one("@'C:\\dir'"), "C:\\dir");
    assert_eq!(one("'line\\tTab'"), "line Tab".replace(' ', "\t"));
}

#[test]
fn conditionals_and_math() {
    assert_eq!(one("iff(1 > 2, 'y', 'n')"), "n");
    assert_eq!(one("iif(true, 1, 2.5)"), "1");
    assert_eq!(one("case(1 > 2, 'a', 2 > 1, 'b', 'c')"), "b");
    assert_eq!(one("case(false, 'a', 'c')"), "c");
    assert_eq!(one("not(1 == 1)"), "false");
    assert_eq!(one("round(2.567, 2)"), "2.57");
    assert_eq!(one("round(2.5)"), "3");
    assert_eq!(one("abs(-3)"), "3");
    assert_eq!(one("floor(2.7)"), "2");
    assert_eq!(one("ceiling(2.1)"), "3");
    assert_eq!(one("sqrt(16)"), "4");
    assert_eq!(one("pow(2, 10)"), "1024");
    assert_eq!(one("log10(1000)"), "3");
    assert_eq!(one("7 / 2"), "3");
    assert_eq!(one("7 / 2.0"), "3.5");
    assert_eq!(one("7 % 3"), "1");
    assert_eq!(one("max_of(1, 5, 3)"), "5");
    assert_eq!(one("min_of(4, 2.5)"), "2.5");
    assert_eq!(one("bin(7, 5)"), "5");
    assert_eq!(one("bin(-3, 5)"), "-5");
    assert_eq!(one("bin(7.5, 2.0)"), "6");
    assert_eq!(one("floor(17, 5)"), "15");
    assert_eq!(one("bin_at(7, 5, 1)"), "6");
    assert_eq!(one("isnan(real(nan))"), "true");
}

#[test]
fn datetimes_and_timespans() {
    assert_eq!(one("datetime(2024-01-02) - datetime(2024-01-01)"), "1.00:00:00");
    assert_eq!(one("datetime(2024-01-01) + 1h"), "2024-01-01T01:00:00Z");
    assert_eq!(one("datetime(2024-01-01) - 30m"), "2023-12-31T23:30:00Z");
    assert_eq!(one("2h / 30m"), "4");
    assert_eq!(one("1h + 30m"), "01:30:00");
    assert_eq!(one("2 * 1d"), "2.00:00:00");
    assert_eq!(one("1h / 2"), "00:30:00");
    assert_eq!(one("-5m"), "-00:05:00");
    assert_eq!(one("100ms"), "00:00:00.1000000");
    assert_eq!(one("7d"), "7.00:00:00");
    assert_eq!(one("30m + 30s"), "00:30:30");
    assert_eq!(one("timespan(1.02:03:04)"), "1.02:03:04");
    assert_eq!(one("5m > 1m"), "true");
    assert_eq!(one("bin(datetime(2024-01-01 10:17:00), 15m)"), "2024-01-01T10:15:00Z");
    assert_eq!(one("floor(datetime(2024-01-01 10:17:00), 1h)"), "2024-01-01T10:00:00Z");
    assert_eq!(one("bin(datetime(1969-12-31 23:59:30), 1m)"), "1969-12-31T23:59:00Z");
    assert_eq!(one("datetime_diff('day', datetime(2024-03-01), datetime(2024-02-01))"), "29");
    assert_eq!(one("datetime_diff('month', datetime(2024-03-01), datetime(2023-12-31))"), "3");
    assert_eq!(one("datetime_add('month', 1, datetime(2024-01-31))"), "2024-02-29T00:00:00Z");
    assert_eq!(one("datetime_add('hour', -2, datetime(2024-01-01))"), "2023-12-31T22:00:00Z");
    assert_eq!(one("startofday(datetime(2024-05-15 10:00))"), "2024-05-15T00:00:00Z");
    assert_eq!(one("startofday(datetime(2024-05-15 10:00), -1)"), "2024-05-14T00:00:00Z");
    assert_eq!(one("startofweek(datetime(2024-05-15 10:00))"), "2024-05-12T00:00:00Z");
    assert_eq!(one("startofmonth(datetime(2024-05-15 10:00))"), "2024-05-01T00:00:00Z");
    assert_eq!(one("startofyear(datetime(2024-05-15 10:00))"), "2024-01-01T00:00:00Z");
    assert_eq!(
        one("format_datetime(endofday(datetime(2024-05-15 10:00)), 'yyyy-MM-dd HH:mm:ss')"),
        "2024-05-15 23:59:59"
    );
    assert_eq!(one("format_datetime(endofmonth(datetime(2024-02-10)), 'yyyy-MM-dd')"), "2024-02-29");
    assert_eq!(
        one("format_datetime(datetime(2024-05-15 10:04:05.123), 'yyyy-MM-dd HH:mm:ss.fff')"),
        "2024-05-15 10:04:05.123"
    );
    assert_eq!(one("format_timespan(1d + 2h + 3m, 'd.hh:mm')"), "1.02:03");
    assert_eq!(one("getyear(datetime(2024-05-15))"), "2024");
    assert_eq!(one("getmonth(datetime(2024-05-15))"), "5");
    assert_eq!(one("dayofmonth(datetime(2024-05-15))"), "15");
    assert_eq!(one("hourofday(datetime(2024-05-15 13:00))"), "13");
    assert_eq!(one("dayofweek(datetime(2024-05-15))"), "3.00:00:00");
    assert_eq!(one("datetime_part('minute', datetime(2024-05-15 13:45))"), "45");
    assert_eq!(one("make_datetime(2024, 5, 15, 10, 30, 0)"), "2024-05-15T10:30:00Z");
    assert_eq!(one("unixtime_seconds_todatetime(1704067200)"), "2024-01-01T00:00:00Z");
    assert_eq!(one("unixtime_milliseconds_todatetime(1704067200500)"), "2024-01-01T00:00:00.500Z");
    assert_eq!(one("ago(1h) < now()"), "true");
    assert_eq!(one("now() - ago(2d)"), "2.00:00:00");
    assert_eq!(one("datetime(now) == now()"), "true");
    assert_eq!(one("datetime(2024-01-01) between (datetime(2023-12-31) .. 1d)"), "true");
    assert_eq!(one("datetime(null)"), "");
}

#[test]
fn dynamic_values() {
    assert_eq!(
        lines(
            "print d = dynamic({'a': {'b': [10, 20]}}) | project v = d.a.b[1], w = d['a']['b'][0], z = d.a.b[-1], m = d.missing"
        ),
        ["20|10|20|"]
    );
    assert_eq!(one("parse_json('{\"x\": 5}').x + 1"), "6");
    assert_eq!(one("todynamic('[1,2]')[0] == 1"), "true");
    assert_eq!(one("parse_json('not json')"), r#""not json""#);
    assert_eq!(one("array_length(dynamic([1, 2, 3]))"), "3");
    assert_eq!(one("array_length(dynamic({}))"), "");
    assert_eq!(one("pack('a', 1, 'b', 'x')"), r#"{"a":1,"b":"x"}"#);
    assert_eq!(one("bag_pack('k', dynamic([1]))"), r#"{"k":[1]}"#);
    assert_eq!(one("pack_array(1, 'a')"), r#"[1,"a"]"#);
    assert_eq!(one("strcat_array(dynamic(['a', 'b']), '-')"), "a-b");
    assert_eq!(one("bag_keys(dynamic({'a': 1, 'b': 2}))"), r#"["a","b"]"#);
    assert_eq!(one("set_has_element(dynamic(['a', 'b']), 'b')"), "true");
    assert_eq!(one("array_index_of(dynamic(['a', 'b']), 'b')"), "1");
    assert_eq!(lines("Logs | where LogMessage.level == 'error' | project PodName"), ["web-1"]);
    assert_eq!(lines("Logs | where toint(LogMessage.code) >= 500 | project PodName"), ["web-1"]);
    assert_eq!(lines("Logs | where LogMessage.code > 400 | project PodName"), ["web-1"]);
    assert_eq!(
        lines("Logs | extend tags = LogMessage.tags | where array_length(tags) == 2 | project tostring(tags[1])"),
        ["b"]
    );
    assert_eq!(lines("N | where isnotempty(d.k) | project x, k = tolong(d.k)"), ["1|1", "2|2"]);
    assert_eq!(
        lines("Pods | extend app = tostring(parse_json(PodLabel)[0].app) | summarize count() by app | sort by app asc"),
        ["|1", "db|1", "web|3"]
    );
    assert_eq!(one("column_ifexists('nope', 'dflt')"), "dflt");
    assert_eq!(lines("Pods | project c = column_ifexists('Name', '') | take 1"), ["web-1"]);
    assert_eq!(one("toscalar(Pods | summarize max(ContainerRestartCount))"), "5");
    assert_eq!(
        lines("Pods | where Name in (Pods | where PodStatus == 'Failed' | project Name) | project Name"),
        ["db-1"]
    );
}
