//! A stand-in for the Kubernetes API server on 127.0.0.1: serves recorded list documents
//! (path → `*List`), split into pages of `page` items with `metadata.continue` so kube-rs'
//! paging runs, answers other paths with the API's 404 `Status`, and records each request
//! (path, decoded query, Authorization header) for the tests to check.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// One request the API stand-in received: path, decoded query pairs, Authorization header.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub auth: String,
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves recorded lists (path → list document), `page` items per response.
pub struct ApiServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<ApiRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    pub fn start(podlist: Value, page: usize) -> ApiServer {
        let services: Value =
            serde_json::from_str(include_str!("../data/servicelist.json")).expect("the recorded ServiceList is JSON");
        ApiServer::with_lists(vec![("/api/v1/pods", podlist), ("/api/v1/services", services)], page)
    }

    pub fn with_lists(lists: Vec<(&'static str, Value)>, page: usize) -> ApiServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        let requests: Arc<Mutex<Vec<ApiRequest>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r2, s2) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let _ = serve_one(c, &lists, page, &r2);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        ApiServer { url, requests, stop, thread: Some(thread) }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(
    mut c: std::net::TcpStream,
    lists: &[(&'static str, Value)],
    page: usize,
    requests: &Mutex<Vec<ApiRequest>>,
) -> std::io::Result<()> {
    let head = super::read_head(&mut c)?;
    let (len, auth) = (head.content_length(), head.header("authorization"));
    let (mut r, request_line) = (head.reader, head.request_line);
    let mut body = vec![0u8; len.min(1 << 20)];
    r.read_exact(&mut body)?;
    let target = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (path, qs) = target.split_once('?').unwrap_or((&target, ""));
    let query: BTreeMap<String, String> = qs
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    requests.lock().unwrap().push(ApiRequest { path: path.to_string(), query: query.clone(), auth });
    let (status, body) = if let Some((_, list)) = lists.iter().find(|(p, _)| *p == path) {
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let start: usize = query.get("continue").and_then(|c| c.strip_prefix("page-")?.parse().ok()).unwrap_or(0);
        let end = (start + page).min(items.len());
        let mut doc = list.clone();
        doc["items"] = Value::Array(items[start..end].to_vec());
        if end < items.len() {
            doc["metadata"]["continue"] = Value::String(format!("page-{end}"));
            doc["metadata"]["remainingItemCount"] = Value::from(items.len() - end);
        }
        ("200 OK", doc.to_string())
    } else {
        (
            "404 Not Found",
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}"#
                .to_string(),
        )
    };
    write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nAudit-Id: 0c4e1f9a-test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    c.flush()
}
