//! End-to-end tests: start the real binary on a free port and talk raw HTTP/1.1 to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running demo-origin process, killed on drop.
struct Origin {
    child: Child,
    port: u16,
}

impl Origin {
    fn start(args: &[&str]) -> Origin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo-origin"))
            .args(["--port", "0"])
            .args(args)
            .env_remove("DEMO_ORIGIN_FLAVOUR")
            .env_remove("DEMO_ORIGIN_PORT")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn demo-origin");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read banner");
        let line = line.trim_end();
        let flavour = args
            .windows(2)
            .find(|w| w[0] == "--flavour")
            .map_or("stable", |w| w[1]);
        let prefix = format!("demo-origin {flavour} listening on http://127.0.0.1:");
        let port = line
            .strip_prefix(&prefix)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected banner {line:?}"));
        Origin { child, port }
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Resp, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        Resp::parse(&raw)
    }

    fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], "")
    }

    fn post(&self, path: &str, body: &str) -> Resp {
        self.send("POST", path, &[], body)
    }

    fn stats(&self) -> Value {
        self.get("/__origin/stats").json()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn parse(raw: &[u8]) -> Result<Resp, String> {
        if raw.is_empty() {
            return Err("connection closed without a response".into());
        }
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Resp {
            status,
            headers,
            body: body.to_string(),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("status {} body {:?}: {e}", self.status, self.body))
    }
}

fn attr<'a>(list: &'a Value, code: &str) -> &'a Value {
    list.as_array()
        .expect("data array")
        .iter()
        .find(|a| a["code"] == code)
        .unwrap_or_else(|| panic!("attribute {code}"))
}

#[test]
fn v2_attributes_envelope_and_language() {
    let o = Origin::start(&[]);
    let sr = o.get("/api/v2/marketplace/categories/10101/attributes");
    assert_eq!(sr.status, 200);
    assert_eq!(
        sr.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(sr.header("content-language"), Some("sr"));
    assert_eq!(sr.header("x-origin-flavour"), Some("stable"));
    assert!(sr.header("date").is_some());
    assert!(sr.header("cache-control").is_none() && sr.header("vary").is_none());
    let body = sr.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "success.getAttributes");
    assert!(body.get("flavour").is_none(), "stable adds no field");
    let year = attr(&body["data"], "year");
    assert_eq!(year["id"], 86);
    assert_eq!(year["name"], "Godište");
    assert_eq!(year["display_name"], "Godište");
    assert_eq!(year["is_required"], true);
    assert_eq!(year["validation_rules"]["min"], 1950);
    assert_eq!(year["translations"]["ru"], "Год выпуска");
    assert_eq!(
        attr(&body["data"], "fuel_type")["options"][1]["label"],
        "Dizel"
    );

    let en = o.get("/api/v2/marketplace/categories/10101/attributes?lang=en");
    assert_eq!(en.header("content-language"), Some("en"));
    let en_body = en.json();
    assert_eq!(attr(&en_body["data"], "year")["name"], "Year");
    assert_eq!(
        attr(&en_body["data"], "fuel_type")["options"][1]["label"],
        "Diesel"
    );
    assert_ne!(sr.header("etag"), en.header("etag"));

    let by_header = o.send(
        "GET",
        "/api/v2/marketplace/categories/10101/attributes",
        &[
            ("Accept-Language", "en-US,en;q=0.9"),
            ("Cookie", "locale=ru"),
        ],
        "",
    );
    assert_eq!(by_header.header("content-language"), Some("en"));
    assert_eq!(by_header.header("etag"), en.header("etag"));
    let by_cookie = o.send(
        "GET",
        "/api/v2/marketplace/categories/10101/attributes?lang=de",
        &[("Accept-Language", "fr-FR"), ("Cookie", "a=1; locale=RU")],
        "",
    );
    assert_eq!(by_cookie.header("content-language"), Some("ru"));
    assert_eq!(
        attr(&by_cookie.json()["data"], "year")["name"],
        "Год выпуска"
    );

    let unified = o.get("/api/v1/unified-attributes/category/10101?locale=en");
    assert_eq!(unified.body, en.body);
}

#[test]
fn catalog_routes_and_errors() {
    let o = Origin::start(&[]);
    let cats = o.get("/api/v1/marketplace/categories?lang=en").json();
    assert_eq!(cats["success"], true);
    let list = cats["data"].as_array().unwrap();
    assert!(list
        .iter()
        .any(|c| c["id"] == 10101 && c["name"] == "Zastava Vehicles"));
    let popular = o.get("/api/v1/marketplace/popular-categories").json();
    let ids: Vec<i64> = popular["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 7);
    assert_eq!(&ids[..5], &[10101, 10102, 10103, 10110, 10120]);
    assert_eq!(
        o.get("/api/v1/marketplace/popular-categories?limit=21")
            .status,
        400
    );
    let tree = o.get("/api/v1/marketplace/category-tree").json();
    assert!(tree["data"].as_array().unwrap().len() >= 5);
    let v1 = o
        .get("/api/v1/marketplace/categories/1301/attributes")
        .json();
    assert_eq!(v1["success"], true);
    assert_eq!(v1["data"].as_array().unwrap().len(), 10);
    let ranges = o
        .get("/api/v2/marketplace/categories/10101/attribute-ranges")
        .json();
    assert_eq!(ranges["data"]["year"]["min"], 1979);

    let bad = o.get("/api/v2/marketplace/categories/abc/attributes");
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json(),
        serde_json::json!({"success": false, "error": "errors.invalidCategoryId"})
    );
    let missing = o.get("/api/v1/marketplace/categories/424242/attributes");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "errors.categoryNotFound");
    let unknown = o.get("/api/v3/nothing");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json(), serde_json::json!({"error": "not found"}));
    let write = o.send(
        "PUT",
        "/api/v2/marketplace/listings/5001/attributes",
        &[],
        r#"{"attributes":[{"code":"year","value":2016}]}"#,
    );
    assert_eq!(
        (write.status, write.json()["success"].clone()),
        (200, Value::Bool(true))
    );
    let golf = o
        .get("/api/v1/marketplace/search?q=golf+comfortline")
        .json();
    assert_eq!(attr(&golf["data"][0]["attributes"], "year")["value"], 2016);
}

#[test]
fn search_get_and_post() {
    let o = Origin::start(&[]);
    let r = o.get(
        "/api/v1/marketplace/search?category_id=1301&sort_by=price&sort_order=asc&limit=5&page=2",
    );
    assert_eq!(r.status, 200);
    let body = r.json();
    assert!(body.get("success").is_none());
    let meta = &body["meta"];
    assert_eq!(meta["total"], 12);
    assert_eq!(meta["page"], 2);
    assert_eq!(meta["size"], 5);
    assert_eq!(meta["total_pages"], 3);
    assert_eq!(meta["has_more"], true);
    for key in ["facets", "suggestions", "spelling_suggestion", "took_ms"] {
        assert!(meta.get(key).is_some(), "meta.{key}");
    }
    let prices: Vec<i64> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["price"].as_i64().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]));

    let posted = o
        .post(
            "/api/v1/marketplace/search",
            r#"{"query":"zastava","category_id":10101,"price_max":150000,"attr_fuel_type":"petrol"}"#,
        )
        .json();
    assert_eq!(posted["meta"]["total"], 2);
    let filtered = o
        .get("/api/v1/marketplace/search?attr_fuel_type=lpg")
        .json();
    assert_eq!(filtered["meta"]["total"], 2);
    assert_eq!(o.get("/api/v1/marketplace/search?page=x").status, 400);
}

#[test]
fn etag_and_conditional_requests() {
    let o = Origin::start(&[]);
    let path = "/api/v1/marketplace/categories";
    let first = o.get(path);
    let tag = first.header("etag").expect("etag").to_string();
    assert!(tag.starts_with('"') && tag.ends_with('"'));
    assert_eq!(
        o.get(path).header("etag"),
        Some(tag.as_str()),
        "stable across requests"
    );

    let not_modified = o.send(
        "GET",
        path,
        &[("If-None-Match", &format!("\"x\", W/{tag}"))],
        "",
    );
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(tag.as_str()));
    assert_eq!(
        o.send("GET", path, &[("If-None-Match", "*")], "").status,
        304
    );
    assert_eq!(
        o.send("GET", path, &[("If-None-Match", "\"other\"")], "")
            .status,
        200
    );

    let head = o.send("HEAD", path, &[], "");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("etag"), Some(tag.as_str()));
    assert_eq!(
        head.header("content-length"),
        Some(first.body.len().to_string().as_str())
    );

    o.post("/__origin/etag", r#"{"enabled": false}"#);
    let plain = o.send("GET", path, &[("If-None-Match", &tag)], "");
    assert_eq!(plain.status, 200);
    assert!(plain.header("etag").is_none());
    o.post("/__origin/reset", "");
    assert!(
        o.get(path).header("etag").is_some(),
        "reset re-enables ETag"
    );

    let no_etag = Origin::start(&["--no-etag"]);
    assert!(no_etag.get(path).header("etag").is_none());
    no_etag.post("/__origin/reset", "");
    assert!(no_etag.get(path).header("etag").is_none());
}

#[test]
fn stats_and_request_log() {
    let o = Origin::start(&[]);
    o.get("/api/v1/marketplace/categories?lang=en");
    o.get("/api/v1/marketplace/categories");
    o.send(
        "POST",
        "/api/v1/marketplace/categories",
        &[
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("X-Forwarded-For", "203.0.113.7"),
        ],
        "{\"x\":1}",
    );
    o.get("/__origin/requests");
    let stats = o.stats();
    assert_eq!(stats["flavour"], "stable");
    assert_eq!(stats["requests"]["/api/v1/marketplace/categories"], 3);
    assert_eq!(stats["total"], 3, "control requests are not counted");

    let log = o
        .get("/__origin/requests?path=/api/v1/marketplace/categories&limit=2")
        .json();
    let reqs = log["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["method"], "POST", "newest first");
    assert_eq!(
        reqs[0]["headers"]["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(reqs[0]["headers"]["x-forwarded-for"], "203.0.113.7");
    assert_eq!(reqs[0]["body"], "{\"x\":1}");
    assert_eq!(reqs[1]["query"], "");
    assert_eq!(
        o.get("/__origin/requests?limit=10").json()["requests"][2]["query"],
        "lang=en"
    );

    let bad = o.post("/__origin/slow", "{not json");
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].is_string() && bad.json()["detail"].is_string());
}

#[test]
fn slow_fail_and_reset_controls() {
    let o = Origin::start(&[]);
    let path = "/api/v1/marketplace/categories";
    assert_eq!(
        o.post(
            "/__origin/slow",
            r#"{"delay_ms": 400, "path_prefix": "/api/"}"#
        )
        .status,
        200
    );
    let t = Instant::now();
    assert_eq!(o.get(path).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400), "delayed");
    assert_eq!(o.get("/health/live").status, 200);
    o.post("/__origin/slow", r#"{"delay_ms": 0}"#);
    let t = Instant::now();
    o.get(path);
    assert!(t.elapsed() < Duration::from_millis(400), "cleared");

    o.post(
        "/__origin/fail",
        r#"{"mode": "status", "status": 503, "path_prefix": "/api/"}"#,
    );
    o.post(
        "/__origin/fail",
        r#"{"mode": "reset", "path_prefix": "/api/v2/"}"#,
    );
    let failed = o.get(path);
    assert_eq!(failed.status, 503);
    assert_eq!(
        failed.json(),
        serde_json::json!({"error": "injected failure"})
    );
    let reset = o.try_send(
        "GET",
        "/api/v2/marketplace/categories/1301/attributes",
        &[],
        "",
    );
    assert!(
        reset.is_err(),
        "connection must close without a response: {reset:?}"
    );
    assert_eq!(o.get("/health/live").status, 200);
    assert_eq!(
        o.stats()["requests"]["/api/v2/marketplace/categories/1301/attributes"],
        1
    );

    o.post(
        "/__origin/fail",
        r#"{"mode": "status", "path_prefix": "/health/ready"}"#,
    );
    let ready = o.get("/health/ready");
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["status"], "unhealthy");

    o.post(
        "/__origin/fail",
        r#"{"mode": "off", "path_prefix": "/api/v2/"}"#,
    );
    assert_eq!(
        o.get("/api/v2/marketplace/categories/1301/attributes")
            .status,
        503
    );

    assert_eq!(o.post("/__origin/reset", "").status, 200);
    assert_eq!(o.get(path).status, 200);
    let ready = o.get("/health/ready").json();
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["checks"]["opensearch"], "ok");
    let stats = o.stats();
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["requests"][path], 1);
}

#[test]
fn echo_by_query_and_by_program() {
    let o = Origin::start(&[]);
    let q = o.get("/echo/plain?status=201&h=Cache-Control:max-age%3D60&h=Set-Cookie:a=b&h=Set-Cookie:c=d&body=hello+there");
    assert_eq!(q.status, 201);
    assert_eq!(q.header("cache-control"), Some("max-age=60"));
    assert_eq!(q.all("set-cookie"), vec!["a=b", "c=d"]);
    assert_eq!(q.body, "hello there");
    assert!(q.header("etag").is_none(), "no automatic ETag on echo");
    let default = o.get("/echo/dflt");
    assert_eq!(default.status, 200);
    assert_eq!(default.json(), serde_json::json!({"echo": "dflt"}));
    assert_eq!(
        default.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    let program = r#"{"status":200,"headers":[["Cache-Control","max-age=60"],["ETag","\"v1\""],["Last-Modified","Tue, 15 Nov 1994 12:45:26 GMT"],["Content-Type","text/plain"]],"body":"text"}"#;
    assert_eq!(o.post("/__origin/echo/rev", program).status, 200);
    let r = o.send("PUT", "/echo/rev?status=500", &[], "x");
    assert_eq!((r.status, r.body.as_str()), (200, "text"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let inm = o.send("GET", "/echo/rev", &[("If-None-Match", "\"v1\"")], "");
    assert_eq!(inm.status, 304);
    assert!(inm.body.is_empty());
    assert_eq!(inm.header("cache-control"), Some("max-age=60"));
    assert_eq!(inm.header("etag"), Some("\"v1\""));
    let ims = o.send(
        "GET",
        "/echo/rev",
        &[("If-Modified-Since", "Wed, 16 Nov 1994 08:00:00 GMT")],
        "",
    );
    assert_eq!(ims.status, 304);
    let older = o.send(
        "GET",
        "/echo/rev",
        &[("If-Modified-Since", "Mon, 14 Nov 1994 08:00:00 GMT")],
        "",
    );
    assert_eq!(older.status, 200);
    assert_eq!(o.stats()["requests"]["/echo/rev"], 4);

    o.post("/__origin/reset", "");
    assert_eq!(
        o.get("/echo/rev").json(),
        serde_json::json!({"echo": "rev"})
    );
}

#[test]
fn echo_generates_bodies_of_any_size_with_or_without_content_length() {
    let o = Origin::start(&[]);
    let expected: String = (0..100_000u64)
        .map(|i| char::from(demo_origin::bulk::byte_at(i)))
        .collect();
    let sized = o.get("/echo/big?bytes=100000&h=Cache-Control:max-age%3D60");
    assert_eq!(sized.status, 200);
    assert_eq!(sized.header("content-length"), Some("100000"));
    assert_eq!(sized.header("cache-control"), Some("max-age=60"));
    assert!(sized.body == expected, "the pattern, whole");
    let chunked = o.get("/echo/big?bytes=100000&chunked=1");
    assert_eq!(chunked.header("content-length"), None);
    assert_eq!(chunked.header("transfer-encoding"), Some("chunked"));
    // Chunk framing ("10000\r\n…") around the same bytes.
    let unframed: String = chunked
        .body
        .split("\r\n")
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, part)| part)
        .collect();
    assert!(unframed == expected, "the pattern, chunked");
    let program = r#"{"headers":[["Cache-Control","max-age=60"]],"bytes":10,"chunked":true}"#;
    assert_eq!(o.post("/__origin/echo/gen", program).status, 200);
    let r = o.get("/echo/gen");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.body.contains("abcdefghij"));
    assert_eq!(o.get("/echo/big?bytes=lots").status, 400);
}

#[test]
fn canary_flavour_marks_bodies() {
    let o = Origin::start(&["--flavour", "canary"]);
    let r = o.get("/api/v2/marketplace/categories/10101/attributes");
    assert_eq!(r.header("x-origin-flavour"), Some("canary"));
    let body = r.json();
    assert_eq!(body["flavour"], "canary");
    assert_eq!(body["success"], true);
    assert_eq!(o.get("/health/live").json()["flavour"], "canary");
    assert_eq!(o.get("/nope").json()["flavour"], "canary");
    assert_eq!(o.get("/echo/x").json()["flavour"], "canary");
    assert_eq!(o.stats()["flavour"], "canary");
}

#[cfg(unix)]
#[test]
fn exits_cleanly_on_sigterm() {
    let mut o = Origin::start(&[]);
    o.get("/health/live");
    let pid = o.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(code) = o.child.try_wait().expect("wait") {
            assert!(code.success(), "exit status {code:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_arguments_exit_2() {
    for args in [&["--flavour", "blue"][..], &["--port", "x"], &["--what"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_demo-origin"))
            .args(args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
        assert!(out.stdout.is_empty());
    }
}
