//! The scenario language through the real binary: dynamic values, feeders, sequences,
//! captures and checks, against `capplan target` and against a recording server that
//! shows what went on the wire.
use crate::common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use common::machine::shared;
use common::Target;
use serde_json::Value;

fn loadtest(args: &[&str]) -> Output {
    Command::cargo_bin("capplan")
        .unwrap()
        .arg("loadtest")
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A request as the recording server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: String,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that records every request. `POST /login`
/// answers `{"token":"tok-N"}` with `X-Session: s-N`; anything else `{"ok":true}`.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let logins = Arc::new(Mutex::new(0u32));
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = Arc::clone(&record);
                let logins = Arc::clone(&logins);
                std::thread::spawn(move || serve(stream, &record, &logins));
            }
        });
        Recorder { port, seen }
    }

    fn host(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, record: &Mutex<Vec<Seen>>, logins: &Mutex<u32>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = match (parts.next(), parts.next()) {
            (Some(m), Some(t)) => (m.to_string(), t.to_string()),
            _ => return,
        };
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (reply, extra) = if method == "POST" && target == "/login" {
            let mut n = logins.lock().unwrap();
            *n += 1;
            (
                format!("{{\"token\":\"tok-{n}\"}}"),
                format!("X-Session: s-{n}\r\n"),
            )
        } else {
            ("{\"ok\":true}".to_string(), String::new())
        };
        record.lock().unwrap().push(Seen {
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Write a scenario and its feeder files into a temporary directory.
fn scenario_dir(toml: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), toml).unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    dir
}

fn scenario_path(dir: &tempfile::TempDir) -> String {
    dir.path().join("s.toml").to_str().unwrap().to_string()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `errors` rows of a JSON report whose error starts with `kind`.
fn errors_of(run: &Value, kind: &str) -> Vec<Value> {
    run["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["error"].as_str().unwrap().starts_with(kind))
        .cloned()
        .collect()
}

#[test]
fn dynamic_values_feeder_rows_and_captures_go_on_the_wire() {
    let _guard = shared();
    let server = Recorder::start();
    let accounts = "email,password\nann@x.org,1\n\"q\"\"uote@x.org\",2\ncy@x.org,3\n";
    let dir = scenario_dir(
        &format!(
            r#"
host = "{}"
[headers]
Authorization = "Bearer {{{{token}}}}"
[[feeder]]
name = "accounts"
file = "accounts.csv"
order = "unique"
[[feeder]]
name = "terms"
file = "terms.csv"
order = "sequential"
per = "iteration"
[wait_time]
constant = "20ms"
[[on_start]]
name = "login"
method = "POST"
path = "/login"
json = {{ email = "{{{{accounts.email}}}}", user = "{{{{user}}}}" }}
capture = [{{ name = "token", json = "$.token" }}, {{ name = "sid", header = "x-session" }}]
[[task]]
name = "item"
path = "/items/{{{{random_int(1, 5)}}}}?it={{{{iteration}}}}&q={{{{terms.q}}}}&id={{{{uuid}}}}"
headers = {{ X-Sid = "{{{{sid}}}}", X-At = "{{{{now}}}}" }}
"#,
            server.host()
        ),
        &[("accounts.csv", accounts), ("terms.csv", "q\na b\nc/d\n")],
    );
    let out = loadtest(&[
        "--scenario",
        &scenario_path(&dir),
        "--users",
        "3",
        "--spawn-rate",
        "100",
        "--duration",
        "2s",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = server.seen();
    let logins: Vec<&Seen> = seen.iter().filter(|s| s.target == "/login").collect();
    assert_eq!(logins.len(), 3, "{seen:#?}");
    // Unique rows: each account to one user; the JSON body escapes the quote.
    let mut emails = BTreeSet::new();
    let mut users = BTreeSet::new();
    for login in &logins {
        assert!(
            !login.headers.contains_key("authorization"),
            "a header whose capture is not made yet is left out: {login:?}"
        );
        let body: Value = serde_json::from_str(&login.body).unwrap();
        emails.insert(body["email"].as_str().unwrap().to_string());
        users.insert(body["user"].as_str().unwrap().to_string());
        assert_eq!(login.headers["content-type"], "application/json");
    }
    let want: BTreeSet<String> = ["ann@x.org", "q\"uote@x.org", "cy@x.org"]
        .map(String::from)
        .into();
    assert_eq!(emails, want);
    assert_eq!(users, ["0", "1", "2"].map(String::from).into());

    let items: Vec<&Seen> = seen.iter().filter(|s| s.method == "GET").collect();
    assert!(items.len() >= 6, "{} item requests", items.len());
    let tokens: BTreeSet<&str> = items
        .iter()
        .map(|s| s.headers["authorization"].as_str())
        .collect();
    assert_eq!(
        tokens,
        ["Bearer tok-1", "Bearer tok-2", "Bearer tok-3"].into(),
        "each user carries the token its own login captured"
    );
    let sessions: BTreeSet<&str> = items.iter().map(|s| s.headers["x-sid"].as_str()).collect();
    assert_eq!(sessions, ["s-1", "s-2", "s-3"].into());
    // Each user's token goes with its own session id (captures are per user).
    for item in &items {
        let token = &item.headers["authorization"]["Bearer tok-".len()..];
        assert_eq!(item.headers["x-sid"], format!("s-{token}"));
        assert!(item.headers["x-at"].ends_with('Z'), "{:?}", item.headers);
        chrono::DateTime::parse_from_rfc3339(&item.headers["x-at"]).unwrap();
    }
    let mut iterations = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut terms = BTreeSet::new();
    for item in &items {
        let (path, query) = item.target.split_once('?').unwrap();
        let id: u32 = path.strip_prefix("/items/").unwrap().parse().unwrap();
        assert!((1..=5).contains(&id), "{}", item.target);
        let q: HashMap<&str, &str> = query.split('&').filter_map(|p| p.split_once('=')).collect();
        iterations.insert(q["it"].parse::<u32>().unwrap());
        terms.insert(q["q"].to_string());
        let uuid = q["id"];
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(&uuid[14..15], "4", "a version 4 UUID: {uuid}");
        ids.insert(uuid.to_string());
    }
    assert!(
        iterations.contains(&0) && iterations.contains(&1),
        "{iterations:?}"
    );
    assert_eq!(ids.len(), items.len(), "every uuid is new");
    // Values in a path are percent-encoded.
    assert_eq!(terms, ["a%20b", "c%2Fd"].map(String::from).into());
}

/// A scenario against the target whose requests fail in each of the new ways.
fn failing_scenario(host: &str) -> String {
    format!(
        r#"
host = "{host}"
[[feeder]]
name = "accounts"
file = "accounts.csv"
order = "unique"
[wait_time]
constant = "10ms"
[[on_start]]
name = "login"
method = "POST"
path = "/api/login"
json = {{ username = "{{{{accounts.username}}}}", password = "pw" }}
capture = [{{ name = "token", json = "$.token" }}]
expect = {{ status = 200, json_exists = "$.token" }}
[[task]]
name = "item"
path = "/api/items/{{{{random_int(1, 10000)}}}}"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
expect = {{ status = 200, json_exists = "$.id" }}
[[task]]
name = "checkout"
[[task.sequence]]
name = "order"
method = "POST"
path = "/api/orders"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
capture = [{{ name = "order", json = "$.order_number" }}]
[[task.sequence]]
name = "order status"
path = "/api/status?order={{{{order}}}}"
[[task]]
name = "status"
path = "/api/status"
expect = {{ json_equals = {{ "$.status" = "ok" }} }}
[[task]]
name = "missing"
path = "/nope"
expect = {{ status = 404 }}
"#
    )
}

#[test]
fn checks_and_captures_fail_with_their_own_kinds_in_every_report() {
    let _guard = shared();
    let target = Target::start(&["--workers", "8", "--service-time", "1ms"]);
    for http2 in [false, true] {
        let dir = scenario_dir(
            &failing_scenario(&target.url),
            &[("accounts.csv", "username\nann\nbob\n")],
        );
        let out_dir = tempfile::tempdir().unwrap();
        let json = out_dir.path().join("run.json");
        let html = out_dir.path().join("run.html");
        let csv = out_dir.path().join("run");
        let mut args = vec![
            "--scenario".to_string(),
            scenario_path(&dir),
            "--users".into(),
            "3".into(),
            "--spawn-rate".into(),
            "100".into(),
            "--duration".into(),
            "2s".into(),
            "--json".into(),
            json.to_str().unwrap().into(),
            "--html".into(),
            html.to_str().unwrap().into(),
            "--csv".into(),
            csv.to_str().unwrap().into(),
        ];
        if http2 {
            args.push("--http2".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = loadtest(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let run = read_json(&json);
        let protocol = if http2 { "HTTP/2" } else { "HTTP/1.1" };
        assert_eq!(run["protocol"]["http"], protocol);
        let endpoint = |name: &str| {
            run["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .unwrap_or_else(|| panic!("no task {name}: {run}"))
                .clone()
        };
        // The captured token opens the item route (401 without it).
        let item = endpoint("item");
        assert!(item["requests"].as_u64().unwrap() > 5, "{item}");
        assert_eq!(item["failures"], 0, "{protocol}: {}", run["errors"]);
        assert_eq!(endpoint("login")["requests"], 3);
        // A 404 that the check expects is a success.
        assert_eq!(endpoint("missing")["failures"], 0);
        assert!(endpoint("missing")["requests"].as_u64().unwrap() > 0);
        // 200 with an error body: a failed check.
        let status = endpoint("status");
        assert_eq!(status["failures"], status["requests"]);
        let checks = errors_of(&run, "CheckFailed");
        assert_eq!(checks.len(), 1, "{}", run["errors"]);
        assert_eq!(checks[0]["name"], "status");
        assert_eq!(checks[0]["error"], "CheckFailed: $.status is not \"ok\"");
        let captures = errors_of(&run, "CaptureFailed");
        assert_eq!(
            captures[0]["error"],
            "CaptureFailed: order: found no $.order_number in the JSON body"
        );
        assert_eq!(captures[0]["name"], "order");
        let templates = errors_of(&run, "TemplateError");
        assert_eq!(templates[0]["name"], "order status");
        assert!(
            templates[0]["error"]
                .as_str()
                .unwrap()
                .contains("{{order}} has no value"),
            "{}",
            templates[0]
        );
        // Two accounts for three users: the third stops at once.
        let dry = errors_of(&run, "FeederExhausted");
        assert_eq!(dry.len(), 1, "{}", run["errors"]);
        assert_eq!(dry[0]["occurrences"], 1);
        assert_eq!(dry[0]["name"], "login");
        assert!(
            !text(&out.stderr).contains("got no answer"),
            "the stopped user is not a silent one: {}",
            text(&out.stderr)
        );
        for error in run["errors"].as_array().unwrap() {
            let kind = error["kind"].as_str().unwrap();
            assert!(error["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{kind}: ")));
        }
        // The checks and captures, with how often they held.
        let check = |name: &str, kind: &str| {
            run["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name && c["kind"] == kind)
                .unwrap_or_else(|| panic!("no {kind} of {name}: {}", run["checks"]))
                .clone()
        };
        let status_check = check("status", "check");
        assert_eq!(status_check["what"], "status < 400, $.status = \"ok\"");
        assert_eq!(status_check["passed"], 0);
        assert_eq!(status_check["failed"], status["requests"]);
        let item_check = check("item", "check");
        assert_eq!(item_check["what"], "status 200, $.id exists");
        assert_eq!(item_check["passed"], item["requests"]);
        assert_eq!(check("login", "capture")["passed"], 2);
        let order = check("order", "capture");
        assert_eq!(order["what"], "order: $.order_number in the JSON body");
        assert_eq!(order["passed"], 0);
        assert!(order["failed"].as_u64().unwrap() > 0);
        // Every report shows them.
        let table = text(&out.stdout);
        assert!(table.contains("check: status 200, $.id exists"), "{table}");
        let failures_csv =
            std::fs::read_to_string(format!("{}_failures.csv", csv.display())).unwrap();
        let html = std::fs::read_to_string(&html).unwrap();
        for kind in [
            "CheckFailed",
            "CaptureFailed",
            "TemplateError",
            "FeederExhausted",
        ] {
            assert!(table.contains(kind), "table lacks {kind}: {table}");
            assert!(
                failures_csv.contains(kind),
                "CSV lacks {kind}: {failures_csv}"
            );
            assert!(html.contains(kind), "HTML lacks {kind}");
        }
        assert!(html.contains("Checks and captures") && html.contains("$.id exists"));
    }
}

#[test]
fn the_shop_example_runs_against_the_target() {
    let _guard = shared();
    let target = Target::start(&["--workers", "8", "--service-time", "1ms"]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let example = std::fs::read_to_string(root.join("shop.toml")).unwrap();
    let example = example.replace("http://127.0.0.1:8080", &target.url);
    assert!(example.contains(&target.url));
    let accounts = std::fs::read_to_string(root.join("accounts.csv")).unwrap();
    let dir = scenario_dir(&example, &[("accounts.csv", &accounts)]);
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("run.json");
    let out = loadtest(&[
        "--scenario",
        &scenario_path(&dir),
        "--users",
        "4",
        "--spawn-rate",
        "100",
        "--duration",
        "3s",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = read_json(&json);
    let names: Vec<&str> = run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in ["login", "browse item", "place order", "backend status"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    // Only the degraded backend's status fails, by its check.
    for error in run["errors"].as_array().unwrap() {
        assert_eq!(error["name"], "backend status", "{error}");
        assert_eq!(error["error"], "CheckFailed: $.status is not \"ok\"");
    }
    assert!(!run["errors"].as_array().unwrap().is_empty());
}

#[test]
fn the_open_model_runs_sequences_with_captures() {
    let _guard = shared();
    let target = Target::start(&["--workers", "8", "--service-time", "1ms"]);
    let dir = scenario_dir(
        &format!(
            r#"
host = "{}"
[[task]]
name = "flow"
[[task.sequence]]
name = "login"
method = "POST"
path = "/api/login"
json = {{ username = "u{{{{user}}}}", password = "pw" }}
capture = [{{ name = "token", regex = '"token":"([0-9a-f]+)"' }}]
[[task.sequence]]
name = "item"
path = "/api/items/{{{{random_int(1, 10000)}}}}"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
expect = {{ status = [200], contains = "in_stock" }}
"#,
            target.url
        ),
        &[],
    );
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("run.json");
    let out = loadtest(&[
        "--scenario",
        &scenario_path(&dir),
        "--rate",
        "40",
        "--connections",
        "4",
        "--duration",
        "2s",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = read_json(&json);
    assert_eq!(run["failures"], 0, "{}", run["errors"]);
    let tasks = run["tasks"].as_array().unwrap();
    let item = tasks.iter().find(|t| t["name"] == "item").unwrap();
    assert!(item["requests"].as_u64().unwrap() >= 40, "{item}");
}

#[test]
fn scenario_errors_exit_2_before_any_traffic() {
    let _guard = shared();
    let server = Recorder::start();
    let host = server.host();
    let cases: [(&str, &str, &str); 5] = [
        (
            "[[task]]\npath = \"/{{tokn}}\"\n",
            "s.toml:4: task[0].path:",
            "neither a built-in",
        ),
        (
            "[[feeder]]\nname = \"a\"\nfile = \"a.csv\"\n[[task]]\npath = \"/{{a.mail}}\"\n",
            "s.toml:7: task[0].path:",
            "no column 'mail'",
        ),
        (
            "[[feeder]]\nname = \"a\"\nfile = \"bad.csv\"\n[[task]]\npath = \"/\"\n",
            "bad.csv:3: row:",
            "1 fields where the header names 2",
        ),
        (
            "[[task]]\npath = \"/\"\ncapture = [{ name = \"t\", json = \"$.a[*]\" }]\n",
            "s.toml:5: task[0].capture[0].json:",
            "not a simple JSONPath",
        ),
        (
            "[[task]]\npath = \"/\"\nexpect = { status = \"ok\" }\n",
            "s.toml:5: task[0].expect.status:",
            "expected a status",
        ),
    ];
    for (body, place, why) in cases {
        let dir = scenario_dir(
            &format!("host = \"{host}\"\n\n{body}"),
            &[("a.csv", "email\nx\n"), ("bad.csv", "a,b\n1,2\n3\n")],
        );
        let out = loadtest(&["--scenario", &scenario_path(&dir), "--duration", "1s"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        let stderr = stderr.replace(&format!("{}/", dir.path().display()), "");
        assert!(
            stderr.contains(place) && stderr.contains(why),
            "{body}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(server.seen().is_empty(), "{:?}", server.seen());
}
