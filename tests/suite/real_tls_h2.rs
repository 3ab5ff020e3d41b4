//! capplan against real nginx, Gunicorn and uvicorn: HTTP/2, TLS beyond `--insecure`,
//! redirects, and the upcoming client flags. These tests are the spec of the client
//! rewrite (issue 10); before it, on branch real-servers, they fail, each group for
//! one known reason:
//!
//! 1. HTTP/2 (h2c with prior knowledge, h2 by ALPN over TLS): nginx refuses every
//!    request with a 400; its error log says "client sent duplicate host header"
//!    (capplan sends a `host` header besides `:authority`, and nginx 1.22 turns
//!    `:authority` into a Host header).
//! 2. Redirects over plain http: the HTTP/1.1 fast path does not follow them (it
//!    counts the 302 as a success, and the server never sees the target).
//! 3. The new flags (`--cacert`, `--cert`/`--key`, `--resolve`, `--streams`,
//!    `--connect-timeout`, `--new-connection-per-request`), the JSON `protocol`
//!    object and the new failure kinds (`TLSError`, `CertificateError`,
//!    `ProtocolError`) do not exist yet: capplan exits 2 on the flag.
//!
//! HTTP/1.1 (plain and TLS) against the same servers: tests/suite/real_servers.rs.
use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::servers::*;
use serde_json::Value;

// ---------------------------------------------------------------------------------
// 1. HTTP/2 with the flags capplan has today.

#[test]
fn nginx_h2c_with_prior_knowledge() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    // nginx 1.22: `listen ... http2` without ssl is HTTP/2 only (prior knowledge).
    let nginx = Nginx::start(NginxConfig {
        listen: " http2",
        ..NginxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let tasks = route_tasks("");
    let run = run_scenario(dir.path(), &nginx.base(), PACED, &tasks, "2s", &["--http2"]);
    // nginx's side first: its refusals say why capplan saw failures.
    check_nginx_side(
        &nginx,
        &run,
        &tasks,
        &nginx.authority(),
        "HTTP/2.0",
        IN_FLIGHT,
    );
    check_capplan_side(&run, &tasks);
}

#[test]
fn nginx_h2_by_alpn_over_tls() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx, Component::Openssl]) {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(NginxConfig {
        listen: " ssl http2",
        tls: Some(self_signed(certs.path(), "localhost")),
        ..NginxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let tasks = route_tasks("");
    // --http2 over TLS: capplan offers h2 and http/1.1 by ALPN, nginx chooses h2.
    let run = run_scenario(
        dir.path(),
        &nginx.base(),
        PACED,
        &tasks,
        "2s",
        &["--insecure", "--http2"],
    );
    let log = check_nginx_side(
        &nginx,
        &run,
        &tasks,
        &nginx.authority(),
        "HTTP/2.0",
        IN_FLIGHT,
    );
    check_capplan_side(&run, &tasks);
    for line in &log {
        assert_eq!(line.alpn, "h2", "ALPN: {line:?}");
        assert!(line.tls.starts_with("TLSv1."), "{line:?}");
    }
    // HTTP/2 multiplexes: no more connections than users.
    assert!(connections(&log).len() as u64 <= USERS, "connections");
}

#[test]
fn nginx_h2_goaway_after_keepalive_requests_is_not_a_failure() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    // Since nginx 1.19.7 `keepalive_requests` bounds the streams of an HTTP/2
    // connection too: after the 50th nginx sends GOAWAY and closes it. A client
    // opens a new connection for the next request; nothing fails.
    let nginx = Nginx::start(NginxConfig {
        listen: " http2",
        keepalive_requests: 50,
        ..NginxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let tasks = vec![
        Task::get("ok", "/ok", Expect::Ok).weight(3),
        Task::post_json("post", "/post"),
    ];
    let run = run_scenario(
        dir.path(),
        &nginx.base(),
        "constant_throughput = 100",
        &tasks,
        "2s",
        &["--http2"],
    );
    let log = check_nginx_side(
        &nginx,
        &run,
        &tasks,
        &nginx.authority(),
        "HTTP/2.0",
        IN_FLIGHT,
    );
    check_capplan_side(&run, &tasks);
    let most = log
        .iter()
        .map(|l| l.connection_requests.parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(most, 50, "the most streams nginx took on one connection");
    assert!(connections(&log).len() as u64 >= (log.len() as u64).div_ceil(50));
}

// ---------------------------------------------------------------------------------
// 2. Redirects: capplan follows same-origin redirects (up to 10) and counts one
// request under the original name; the server sees both.

/// Run `/redirect` (302 to `/ok`) alone; the server must see each request and its
/// target, with 0 failures counted under "redirect".
fn check_redirect_followed(base: &str, seen: impl Fn() -> Vec<Seen>, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let tasks = [Task::get("redirect", "/redirect", Expect::Ok)];
    let run = run_scenario(dir.path(), base, PACED, &tasks, "2s", extra);
    check_capplan_side(&run, &tasks);
    assert_eq!(
        run.json["tasks"].as_array().unwrap().len(),
        1,
        "the target is not a task of its own: {}",
        run.json["tasks"]
    );
    let counted = run.task("redirect")["requests"].as_u64().unwrap();
    let seen = seen();
    let count = |target: &str, status: u16| {
        seen.iter()
            .filter(|s| s.method == "GET" && s.target == target && s.status == status)
            .count() as u64
    };
    let (redirects, targets) = (count("/redirect", 302), count("/ok", 200));
    assert!(
        counted <= redirects && redirects <= counted + IN_FLIGHT,
        "capplan counted {counted}, the server answered {redirects} with 302"
    );
    assert!(
        counted <= targets && targets <= redirects,
        "capplan counted {counted} redirects followed, the server saw {targets} requests for /ok \
         ({redirects} redirects)"
    );
    assert_eq!(
        seen.len() as u64,
        redirects + targets,
        "requests other than /redirect and /ok: {seen:?}"
    );
}

#[test]
fn nginx_redirect_is_followed() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    let nginx = Nginx::start(NginxConfig::default());
    check_redirect_followed(
        &nginx.base(),
        || nginx.access_log().iter().map(Seen::from).collect(),
        &[],
    );
    // The followed request carries the same Host.
    for line in nginx.access_log() {
        assert_eq!(line.host, nginx.authority(), "{line:?}");
    }
}

#[test]
fn nginx_https_redirect_is_followed() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx, Component::Openssl]) {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(NginxConfig {
        listen: " ssl",
        tls: Some(self_signed(certs.path(), "localhost")),
        ..NginxConfig::default()
    });
    check_redirect_followed(
        &nginx.base(),
        || nginx.access_log().iter().map(Seen::from).collect(),
        &["--insecure"],
    );
}

#[test]
fn gunicorn_redirect_is_followed() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Gunicorn]) {
        return;
    }
    let server = PyServer::gunicorn(&["--worker-class", "gthread", "--threads", "4"]);
    check_redirect_followed(
        &server.base(),
        || server.records().iter().map(Seen::from).collect(),
        &[],
    );
}

#[test]
fn uvicorn_redirect_is_followed() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Uvicorn]) {
        return;
    }
    let server = PyServer::uvicorn(&[]);
    check_redirect_followed(
        &server.base(),
        || server.records().iter().map(Seen::from).collect(),
        &[],
    );
}

#[test]
fn redirect_loop_stops_after_10_and_fails() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    let nginx = Nginx::start(NginxConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/loop", nginx.base());
    let run = capplan_run(
        dir.path(),
        &["--url", &url, "--users", "1", "--duration", "1s"],
    );
    let requests = run.requests();
    assert!(requests > 0);
    assert_eq!(run.failures(), requests, "{}", run.json["errors"]);
    // Each request: the original and 10 redirects followed, then capplan gives up.
    let logged = nginx.access_log().len() as u64;
    assert!(
        11 * requests <= logged && logged <= 11 * (requests + 2),
        "{requests} requests, nginx saw {logged}: 11 each expected"
    );
}

// ---------------------------------------------------------------------------------
// 3. Upcoming flags and the JSON `protocol` object.

/// A plain load run with `--url`, 0 failures expected.
fn url_run(dir: &Path, url: &str, extra: &[&str]) -> Run {
    let users = USERS.to_string();
    let args = [
        &["--url", url, "--users", &users, "--duration", "1s"][..],
        extra,
    ]
    .concat();
    capplan_run(dir, &args)
}

/// Every failure of the run is of this kind (`CertificateError`, ...).
fn assert_all_fail_with(run: &Run, kind: &str) {
    let requests = run.requests();
    assert!(requests > 0, "no request was made");
    assert_eq!(run.failures(), requests, "{}", run.json);
    for ((_, error), _) in run.errors() {
        assert!(
            error.starts_with(&format!("{kind}: ")),
            "failure kind {error:?}, expected {kind}"
        );
    }
}

#[test]
fn https_with_cacert() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx, Component::Openssl]) {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let own = self_signed(certs.path(), "localhost");
    let nginx = Nginx::start(NginxConfig {
        listen: " ssl",
        tls: Some(own.clone()),
        ..NginxConfig::default()
    });
    let url = format!("{}/ok", nginx.base());
    // The self-signed certificate as its own trust anchor.
    let dir = tempfile::tempdir().unwrap();
    let run = url_run(dir.path(), &url, &["--cacert", own.cert.to_str().unwrap()]);
    assert!(run.requests() > 0);
    assert_eq!(run.failures(), 0, "{}", run.json["errors"]);
    // Not trusted without it (and without --insecure): refused before any traffic.
    let dir = tempfile::tempdir().unwrap();
    let stderr = capplan_refused(dir.path(), &["--url", &url]);
    assert!(
        stderr.contains("CertificateError: UnknownIssuer"),
        "{stderr}"
    );

    // A certificate signed by a CA, trusted through the CA's certificate.
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = pki(pki_dir.path(), "localhost");
    let nginx = Nginx::start(NginxConfig {
        listen: " ssl",
        tls: Some(pki.server.clone()),
        ..NginxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/ok", nginx.base());
    let run = url_run(dir.path(), &url, &["--cacert", pki.ca.to_str().unwrap()]);
    assert!(run.requests() > 0);
    assert_eq!(run.failures(), 0, "{}", run.json["errors"]);
    // Another CA's certificate does not vouch for it.
    let dir = tempfile::tempdir().unwrap();
    let stderr = capplan_refused(
        dir.path(),
        &["--url", &url, "--cacert", own.cert.to_str().unwrap()],
    );
    assert!(stderr.contains("CertificateError"), "{stderr}");
}

#[test]
fn tls_to_a_plain_http_port_is_a_tls_error() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    let nginx = Nginx::start(NginxConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}/ok", nginx.port);
    // The start-up connection finds it: exit 3 before any traffic, naming the kind.
    let stderr = capplan_refused(dir.path(), &["--url", &url, "--insecure"]);
    assert!(
        stderr.contains("TLSError") && stderr.contains("plain http"),
        "{stderr}"
    );
}

#[test]
fn h2c_to_an_http1_only_server_is_a_protocol_error() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    // nginx without http2 reads the HTTP/2 preface as a bad HTTP/1 request.
    let nginx = Nginx::start(NginxConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let run = url_run(dir.path(), &format!("{}/ok", nginx.base()), &["--http2"]);
    assert_all_fail_with(&run, "ProtocolError");
}

#[test]
fn mtls_with_client_cert() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx, Component::Openssl]) {
        return;
    }
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = pki(pki_dir.path(), "localhost");
    let nginx = Nginx::start(NginxConfig {
        listen: " ssl",
        tls: Some(pki.server.clone()),
        tls_extra: format!(
            "        ssl_verify_client on;\n        ssl_client_certificate {};\n",
            pki.ca.display()
        ),
        ..NginxConfig::default()
    });
    let url = format!("{}/ok", nginx.base());
    let ca = pki.ca.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = url_run(
        dir.path(),
        &url,
        &[
            "--cacert",
            ca,
            "--cert",
            pki.client.cert.to_str().unwrap(),
            "--key",
            pki.client.key.to_str().unwrap(),
        ],
    );
    assert!(run.requests() > 0);
    assert_eq!(run.failures(), 0, "{}", run.json["errors"]);
    let log = nginx.access_log();
    assert!(!log.is_empty());
    for line in &log {
        assert_eq!(
            line.client_verify, "SUCCESS",
            "client certificate: {line:?}"
        );
        assert_eq!(line.status, "200", "{line:?}");
    }
    // Without a client certificate nginx answers 400 ("No required SSL certificate
    // was sent").
    let dir = tempfile::tempdir().unwrap();
    let without = url_run(dir.path(), &url, &["--cacert", ca]);
    assert_all_fail_with(&without, "HTTPError");
    assert_eq!(
        without
            .errors()
            .keys()
            .map(|(_, e)| e.as_str())
            .collect::<Vec<_>>(),
        ["HTTPError: 400 Bad Request"]
    );
    assert!(
        nginx
            .error_log()
            .contains("client sent no required SSL certificate"),
        "{}",
        nginx.error_log()
    );
}

#[test]
fn resolve_sends_sni_and_host() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx, Component::Openssl]) {
        return;
    }
    let name = "staging.example.test";
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = pki(pki_dir.path(), name);
    for tls in [true, false] {
        let nginx = Nginx::start(NginxConfig {
            listen: if tls { " ssl" } else { "" },
            tls: tls.then(|| pki.server.clone()),
            server_name: name.to_string(),
            ..NginxConfig::default()
        });
        let authority = format!("{name}:{}", nginx.port);
        let url = format!("{}://{authority}/ok", nginx.scheme);
        let resolve = format!("{authority}:127.0.0.1");
        let dir = tempfile::tempdir().unwrap();
        let ca = pki.ca.to_str().unwrap();
        let mut extra = vec!["--resolve", &resolve];
        if tls {
            extra.extend(["--cacert", ca]);
        }
        let run = url_run(dir.path(), &url, &extra);
        assert!(run.requests() > 0);
        assert_eq!(run.failures(), 0, "{}", run.json["errors"]);
        let log = nginx.access_log();
        assert!(!log.is_empty());
        for line in &log {
            assert_eq!(line.host, authority, "Host: {line:?}");
            assert_eq!(line.sni, if tls { name } else { "" }, "SNI: {line:?}");
        }
    }
}

#[test]
fn new_connection_per_request() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx, Component::Openssl]) {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let cert = self_signed(certs.path(), "localhost");
    for tls in [false, true] {
        let nginx = Nginx::start(NginxConfig {
            listen: if tls { " ssl" } else { "" },
            tls: tls.then(|| cert.clone()),
            ..NginxConfig::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let url = format!("{}/ok", nginx.base());
        let mut extra = vec!["--new-connection-per-request"];
        if tls {
            extra.extend(["--cacert", cert.cert.to_str().unwrap()]);
        }
        let run = url_run(dir.path(), &url, &extra);
        assert!(run.requests() > 0);
        assert_eq!(run.failures(), 0, "{}", run.json["errors"]);
        let tasks = [Task::get("/ok", "/ok", Expect::Ok)];
        let log = check_nginx_side(
            &nginx,
            &run,
            &tasks,
            &nginx.authority(),
            "HTTP/1.1",
            IN_FLIGHT,
        );
        assert_one_request_per_connection(&log, "--new-connection-per-request");
        let p = run.protocol();
        let opened = p["connections_opened"].as_u64().unwrap();
        let logged = log.len() as u64;
        assert!(
            run.requests() <= opened && opened <= logged + IN_FLIGHT,
            "connections_opened {opened}: {} requests, nginx saw {logged} connections",
            run.requests()
        );
        if tls {
            // Resumed handshakes as nginx saw them ($ssl_session_reused).
            let resumed = log.iter().filter(|l| l.tls_reused == "r").count() as u64;
            let claimed = p["tls_resumed"].as_u64().unwrap();
            assert!(
                claimed <= opened && claimed.abs_diff(resumed) <= IN_FLIGHT,
                "tls_resumed {claimed}, nginx saw {resumed} resumed sessions"
            );
        }
    }
}

#[test]
fn http2_streams_share_connections() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    let users: u64 = 20;
    let mut distinct = BTreeMap::new();
    for streams in [1u64, 10] {
        // No GOAWAY during the run: each connection lasts it.
        let nginx = Nginx::start(NginxConfig::h2c_lasting());
        let dir = tempfile::tempdir().unwrap();
        let url = format!("{}/ok", nginx.base());
        let run = capplan_run(
            dir.path(),
            &[
                "--url",
                &url,
                "--http2",
                "--streams",
                &streams.to_string(),
                "--users",
                &users.to_string(),
                "--duration",
                "1s",
            ],
        );
        assert!(run.requests() > 0);
        assert_eq!(run.failures(), 0, "{}", run.json["errors"]);
        let log = nginx.access_log();
        assert!(log.iter().all(|l| l.protocol == "HTTP/2.0"));
        let conns = connections(&log).len() as u64;
        // `users` concurrent requests, `streams` of them per connection.
        assert!(
            conns <= users.div_ceil(streams),
            "--streams {streams}: {users} users on {conns} connections"
        );
        assert_eq!(
            run.protocol()["connections_opened"].as_u64().unwrap(),
            conns,
            "connections_opened"
        );
        distinct.insert(streams, conns);
    }
    assert!(distinct[&10] < distinct[&1], "{distinct:?}");
}

/// The `protocol` object's latency summaries: every statistic, ordered.
fn assert_latency_summary(v: &Value, what: &str) {
    for key in ["p50", "p90", "p95", "p99", "max", "mean"] {
        assert!(
            v[key].as_f64().is_some_and(|x| x >= 0.0),
            "{what}.{key}: {v}"
        );
    }
    assert!(v["p50"].as_f64() <= v["max"].as_f64(), "{what}: {v}");
}

#[test]
fn protocol_fields_in_json() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx, Component::Openssl]) {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let cert = self_signed(certs.path(), "localhost");
    // (listen, TLS, extra flags, http, alpn): without --http2 capplan offers only
    // http/1.1; with it, h2 first, and HTTP/1.1 when the server does not take h2.
    let cases: [(&'static str, bool, &[&str], &str, Value); 6] = [
        ("", false, &[], "HTTP/1.1", Value::Null),
        (" http2", false, &["--http2"], "HTTP/2", Value::Null),
        (" ssl", true, &[], "HTTP/1.1", "http/1.1".into()),
        (" ssl", true, &["--http2"], "HTTP/1.1", "http/1.1".into()),
        (" ssl http2", true, &[], "HTTP/1.1", "http/1.1".into()),
        (" ssl http2", true, &["--http2"], "HTTP/2", "h2".into()),
    ];
    for (listen, tls, flags, http, alpn) in cases {
        let nginx = Nginx::start(NginxConfig {
            listen,
            tls: tls.then(|| cert.clone()),
            ..NginxConfig::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let mut extra = flags.to_vec();
        extra.extend(["--connect-timeout", "2s"]);
        if tls {
            extra.extend(["--cacert", cert.cert.to_str().unwrap()]);
        }
        let run = url_run(dir.path(), &format!("{}/ok", nginx.base()), &extra);
        assert_eq!(run.failures(), 0, "{listen}: {}", run.json["errors"]);
        let log = nginx.access_log();
        let p = run.protocol();
        assert_eq!(p["http"], http, "{listen}: {p}");
        assert_eq!(p["alpn"], alpn, "{listen}: {p}");
        let conns = connections(&log).len() as u64;
        let opened = p["connections_opened"].as_u64().unwrap();
        assert!(
            conns <= opened && opened <= conns + IN_FLIGHT,
            "{listen}: connections_opened {opened}, nginx saw {conns}"
        );
        assert_latency_summary(&p["connect_ms"], "connect_ms");
        if tls {
            // The version nginx negotiated ($ssl_protocol: TLSv1.2 or TLSv1.3).
            assert_eq!(p["tls_version"], log[0].tls.as_str(), "{listen}: {p}");
            assert_latency_summary(&p["tls_handshake_ms"], "tls_handshake_ms");
            assert!(
                p["tls_resumed"].as_u64().is_some_and(|r| r <= opened),
                "{p}"
            );
        } else {
            assert_eq!(p["tls_version"], Value::Null, "{listen}: {p}");
            assert_eq!(p["tls_handshake_ms"], Value::Null, "{listen}: {p}");
            assert_eq!(p["tls_resumed"], 0, "{listen}: {p}");
        }
    }
}

/// A listening socket that never accepts, with the smallest accept queue: once one
/// connection waits in it, the kernel drops further SYNs and a connect hangs.
struct Unanswered {
    fd: libc::c_int,
    port: u16,
}

impl Unanswered {
    fn new() -> Unanswered {
        // SAFETY: plain socket(2)/bind(2)/listen(2)/getsockname(2) on our own fd with
        // correctly sized sockaddr_in buffers.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(fd >= 0);
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            assert_eq!(
                libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len),
                0
            );
            assert_eq!(libc::listen(fd, 0), 0);
            let mut bound: libc::sockaddr_in = std::mem::zeroed();
            let mut bound_len = len;
            libc::getsockname(
                fd,
                &mut bound as *mut _ as *mut libc::sockaddr,
                &mut bound_len,
            );
            Unanswered {
                fd,
                port: u16::from_be(bound.sin_port),
            }
        }
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        // SAFETY: closing the fd we opened.
        unsafe { libc::close(self.fd) };
    }
}

#[test]
fn connect_timeout_bounds_a_connect_that_hangs() {
    let _machine = crate::common::machine::shared();
    // capplan's start-up probe takes the one place in the queue; every connect of the
    // run after it hangs.
    let silent = Unanswered::new();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/", silent.port);
    let out = common::capplan()
        .args([
            "loadtest",
            "--url",
            &url,
            "--users",
            "1",
            "--duration",
            "2s",
        ])
        .args(["--connect-timeout", "300ms", "--timeout", "10s", "--quiet"])
        .arg("--json")
        .arg(dir.path().join("run.json"))
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("unexpected argument"),
        "--connect-timeout is not implemented: {stderr}"
    );
    assert!(out.status.success(), "{stderr}");
    let run: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run.json")).unwrap()).unwrap();
    let requests = run["requests"].as_u64().unwrap();
    assert!(requests >= 2, "{run}");
    assert_eq!(run["failures"], requests, "{run}");
    let p50 = run["latency_ms"]["p50"].as_f64().unwrap();
    assert!(
        (250.0..=1500.0).contains(&p50),
        "a failed connect took {p50} ms, --connect-timeout is 300ms"
    );
}

/// One closed-model run against `url` with `--idle-spin spin`: (requests, the times the
/// generator went to sleep: voluntary context switches, from wait4's rusage).
fn sleeps_per_run(dir: &Path, url: &str, spin: &str) -> (u64, u64) {
    let json = dir.join(format!("spin-{spin}.json"));
    // Reaped by wait4 below, which std's wait cannot replace (it drops the rusage).
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("capplan"))
        .args([
            "loadtest",
            "--url",
            url,
            "--http2",
            "--users",
            "1",
            "--threads",
            "1",
        ])
        .args(["--duration", "1s", "--idle-spin", spin, "--quiet", "--json"])
        .arg(&json)
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: all-zero is a valid rusage; wait4 fills it and the status.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // Polled, so that a hung run fails the test instead of hanging it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        // SAFETY: the pointers outlive the call; the pid is our own child, reaped here.
        let pid = unsafe { libc::wait4(child.id() as i32, &mut status, libc::WNOHANG, &mut usage) };
        if pid == child.id() as i32 {
            break;
        }
        assert_eq!(pid, 0, "wait4: {}", std::io::Error::last_os_error());
        if std::time::Instant::now() > deadline {
            // SAFETY: our own child, not yet reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            panic!("capplan --idle-spin {spin} did not end within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let run: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let requests = run["requests"].as_u64().unwrap();
    assert_eq!(run["failures"].as_u64(), Some(0), "{}", run["errors"]);
    (requests, usage.ru_nvcsw as u64)
}

/// `--idle-spin` (on by default in the closed model): a generator that spins until the
/// answer comes sleeps less per request than one that never spins, so the server need
/// not wake it (docs/BENCHMARKS.md, "Idle spin"). One user, so that the generator (a
/// debug build here) waits for nginx rather than nginx for it; 200 µs, so that the spin
/// outlasts nginx's answer on a busy machine too.
#[test]
fn idle_spin_spares_the_server_wakeups() {
    // Counts sleeps: nothing else may take the cores meanwhile.
    let _machine = crate::common::machine::alone();
    if !require(&[Component::Nginx]) {
        return;
    }
    let nginx = Nginx::start(NginxConfig::h2c_lasting());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/ok", nginx.base());
    let (never_requests, never_sleeps) = sleeps_per_run(dir.path(), &url, "0us");
    let (spin_requests, spin_sleeps) = sleeps_per_run(dir.path(), &url, "200us");
    let never = never_sleeps as f64 / never_requests as f64;
    let spin = spin_sleeps as f64 / spin_requests as f64;
    eprintln!(
        "sleeps per request: {never:.4} never spinning ({never_requests} requests), \
         {spin:.4} spinning ({spin_requests} requests)"
    );
    assert!(
        spin < 0.5 * never,
        "spinning slept {spin:.4} times a request, never spinning {never:.4}"
    );
}
