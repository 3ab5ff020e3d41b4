//! capplan against real third-party servers over HTTP/1.1: nginx (plain and TLS),
//! nginx as a reverse proxy in front of Gunicorn, Gunicorn with sync and gthread
//! workers, uvicorn. Each test starts its servers on free ports of 127.0.0.1 with
//! the files under tests/servers/ (README.md there says what each exercises) and
//! checks both sides: capplan's JSON and CSV reports, and what the server logged
//! about every request it received.
//!
//! A missing nginx, Gunicorn, uvicorn or openssl skips a test with a message; with
//! CI=true it fails instead (`.ci/run` installs them all).
//! HTTP/2, the upcoming TLS flags and redirects are in tests/suite/real_tls_h2.rs.
use crate::common;

use common::servers::*;

#[test]
fn nginx_http1_statuses_bodies_and_what_nginx_received() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    let nginx = Nginx::start(NginxConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let tasks = route_tasks("");
    let run = run_scenario(dir.path(), &nginx.base(), PACED, &tasks, "2s", &[]);
    check_capplan_side(&run, &tasks);
    let log = check_nginx_side(
        &nginx,
        &run,
        &tasks,
        &nginx.authority(),
        "HTTP/1.1",
        IN_FLIGHT,
    );
    // Keep-alive: nginx keeps a connection open after each of these responses except
    // a 500 (it answers `Connection: close`), so a user opens a new connection only
    // after a 500, and a 500 is always the last request on its connection.
    let errors = log.iter().filter(|l| l.status == "500").count() as u64;
    let opened = connections(&log).len() as u64;
    assert!(
        opened <= USERS + errors,
        "{opened} connections for {USERS} users and {errors} responses that closed one"
    );
    for line in log.iter().filter(|l| l.status == "500") {
        let later = log.iter().any(|l| {
            l.connection == line.connection
                && l.connection_requests.parse::<u64>().unwrap()
                    > line.connection_requests.parse::<u64>().unwrap()
        });
        assert!(!later, "a request after `Connection: close`: {line:?}");
    }
}

#[test]
fn nginx_https_http1_with_insecure() {
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
    let dir = tempfile::tempdir().unwrap();
    let tasks = route_tasks("");
    let run = run_scenario(
        dir.path(),
        &nginx.base(),
        PACED,
        &tasks,
        "2s",
        &["--insecure"],
    );
    check_capplan_side(&run, &tasks);
    let log = check_nginx_side(
        &nginx,
        &run,
        &tasks,
        &nginx.authority(),
        "HTTP/1.1",
        IN_FLIGHT,
    );
    for line in &log {
        assert!(line.tls.starts_with("TLSv1."), "TLS version: {line:?}");
        // nginx without http2 on this listener: ALPN can only agree on HTTP/1.1.
        assert_eq!(line.alpn, "http/1.1", "ALPN: {line:?}");
        // An IP address is no server name: nothing to send in SNI (RFC 6066 §3).
        assert_eq!(line.sni, "", "SNI for an IP address: {line:?}");
    }
}

#[test]
fn nginx_keepalive_timeout_shorter_than_the_wait_is_not_a_failure() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    let nginx = Nginx::start(NginxConfig {
        keepalive_timeout: "1s",
        ..NginxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let tasks = vec![
        Task::get("ok", "/ok", Expect::Ok),
        Task::post_json("post", "/post"),
    ];
    // Each user waits 1.4 s after each response: nginx has closed the idle connection
    // 0.4 s before the next request, which must go out on a new one.
    let run = run_scenario(
        dir.path(),
        &nginx.base(),
        "constant = \"1.4s\"",
        &tasks,
        "3s",
        &[],
    );
    check_capplan_side(&run, &tasks);
    assert!(
        run.requests() > USERS,
        "{} requests: each user should send 2-3",
        run.requests()
    );
    let log = check_nginx_side(
        &nginx,
        &run,
        &tasks,
        &nginx.authority(),
        "HTTP/1.1",
        IN_FLIGHT,
    );
    assert_one_request_per_connection(&log, "nginx closes a connection idle for 1 s");
}

#[test]
fn nginx_keepalive_timeout_0_closes_every_connection() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    // `keepalive_timeout 0`: every response says `Connection: close` and nginx closes.
    let nginx = Nginx::start(NginxConfig {
        keepalive_timeout: "0",
        ..NginxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let tasks = route_tasks("");
    let run = run_scenario(dir.path(), &nginx.base(), PACED, &tasks, "2s", &[]);
    check_capplan_side(&run, &tasks);
    let log = check_nginx_side(
        &nginx,
        &run,
        &tasks,
        &nginx.authority(),
        "HTTP/1.1",
        IN_FLIGHT,
    );
    assert_one_request_per_connection(&log, "keepalive_timeout 0");
}

#[test]
fn request_saying_connection_close_gets_a_new_connection_each_time() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    let nginx = Nginx::start(NginxConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/ok", nginx.base());
    let users = USERS.to_string();
    let run = capplan_run(
        dir.path(),
        &[
            "--url",
            &url,
            "-H",
            "Connection: close",
            "--users",
            &users,
            "--duration",
            "1s",
        ],
    );
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
    // nginx would keep the connection; the request's own `Connection: close` ends it.
    assert_one_request_per_connection(&log, "the request says Connection: close");
}

#[test]
fn nginx_closing_after_100_requests_is_not_a_failure() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx]) {
        return;
    }
    // After the 100th request on a connection nginx answers with `Connection: close`
    // and closes it, GET or POST.
    let nginx = Nginx::start(NginxConfig {
        keepalive_requests: 100,
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
        "constant_throughput = 200",
        &tasks,
        "2s",
        &[],
    );
    check_capplan_side(&run, &tasks);
    let log = check_nginx_side(
        &nginx,
        &run,
        &tasks,
        &nginx.authority(),
        "HTTP/1.1",
        IN_FLIGHT,
    );
    let most = log
        .iter()
        .map(|l| l.connection_requests.parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(most, 100, "the most requests nginx took on one connection");
    let needed = (log.len() as u64).div_ceil(100);
    assert!(
        connections(&log).len() as u64 >= needed,
        "{} requests on {} connections",
        log.len(),
        connections(&log).len()
    );
}

#[test]
fn nginx_reverse_proxy_in_front_of_gunicorn() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Nginx, Component::Gunicorn]) {
        return;
    }
    let gunicorn = PyServer::gunicorn(&["--worker-class", "gthread", "--threads", "4"]);
    let nginx = Nginx::start(NginxConfig {
        upstream_port: Some(gunicorn.port),
        ..NginxConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    // The same routes, as capplan sends them (/app/...) and as Gunicorn gets them
    // from nginx (the prefix stripped by `proxy_pass http://app/`).
    let app_tasks: Vec<Task> = route_tasks("").into_iter().chain(echo_tasks()).collect();
    let tasks: Vec<Task> = app_tasks
        .iter()
        .map(|t| Task {
            target: format!("/app{}", t.target),
            ..t.clone()
        })
        .collect();
    let run = run_scenario(dir.path(), &nginx.base(), PACED, &tasks, "2s", &[]);
    check_capplan_side(&run, &tasks);
    check_nginx_side(
        &nginx,
        &run,
        &tasks,
        &nginx.authority(),
        "HTTP/1.1",
        IN_FLIGHT,
    );
    // nginx forwards the client's Host (`proxy_set_header Host $http_host`).
    check_app_side(&gunicorn, &run, &app_tasks, &nginx.authority(), IN_FLIGHT);
}

/// The route and echo runs against a Python server, checked on both sides.
fn python_routes(server: &PyServer) -> (Run, Vec<AppRecord>) {
    let dir = tempfile::tempdir().unwrap();
    let tasks: Vec<Task> = route_tasks("").into_iter().chain(echo_tasks()).collect();
    let run = run_scenario(dir.path(), &server.base(), PACED, &tasks, "2s", &[]);
    check_capplan_side(&run, &tasks);
    let records = check_app_side(server, &run, &tasks, &server.authority(), IN_FLIGHT);
    (run, records)
}

#[test]
fn gunicorn_sync_workers() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Gunicorn]) {
        return;
    }
    let server = PyServer::gunicorn(&["--worker-class", "sync", "--workers", "2"]);
    let (_, records) = python_routes(&server);
    // Sync workers answer `Connection: close`: a new connection for every request
    // (a port may come round again, rarely).
    let ports = client_ports(&records).len();
    assert!(
        ports * 10 >= records.len() * 9,
        "{} requests on {ports} connections: sync workers close each one",
        records.len()
    );
}

#[test]
fn gunicorn_gthread_workers() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Gunicorn]) {
        return;
    }
    let server = PyServer::gunicorn(&["--worker-class", "gthread", "--threads", "4"]);
    let (_, records) = python_routes(&server);
    // gthread keeps connections alive (2 s by default): one per user.
    assert_eq!(client_ports(&records).len() as u64, USERS, "connections");
}

#[test]
fn uvicorn_asgi_app() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Uvicorn]) {
        return;
    }
    let server = PyServer::uvicorn(&[]);
    let (_, records) = python_routes(&server);
    assert!(records.iter().all(|r| r.raw_headers), "uvicorn's raw list");
    assert_eq!(client_ports(&records).len() as u64, USERS, "connections");
}

/// A server that closes idle connections after 1 s, users that wait longer: every
/// request goes out on a new connection, and none fails (the POST included).
fn keepalive_shorter_than_wait(server: &PyServer, wait: &str, duration: &str) {
    let dir = tempfile::tempdir().unwrap();
    let tasks = echo_tasks();
    let run = run_scenario(dir.path(), &server.base(), wait, &tasks, duration, &[]);
    check_capplan_side(&run, &tasks);
    // At least one user came back to its closed connection.
    assert!(run.requests() > USERS, "{} requests", run.requests());
    let records = check_app_side(server, &run, &tasks, &server.authority(), IN_FLIGHT);
    assert_eq!(
        client_ports(&records).len(),
        records.len(),
        "the server closed each idle connection: one request on each"
    );
}

#[test]
fn gunicorn_keep_alive_1s_shorter_than_the_wait() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Gunicorn]) {
        return;
    }
    let server = PyServer::gunicorn(&[
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--keep-alive",
        "1",
    ]);
    // gthread looks for expired connections once a second: an idle one is closed
    // 1-2 s after its last response. A 2.5 s wait is always after that.
    keepalive_shorter_than_wait(&server, "constant = \"2.5s\"", "3s");
}

#[test]
fn uvicorn_keep_alive_1s_shorter_than_the_wait() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Uvicorn]) {
        return;
    }
    let server = PyServer::uvicorn(&["--timeout-keep-alive", "1"]);
    keepalive_shorter_than_wait(&server, "constant = \"1.4s\"", "3s");
}
