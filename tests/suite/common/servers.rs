//! Real third-party servers for tests/suite/real_servers.rs, tests/suite/real_tls_h2.rs and
//! tests/suite/h2_faults.rs: nginx, Gunicorn, uvicorn and a fault-injecting HTTP/2 server on
//! the Python `h2` package (tests/support/h2_server.py), started on free ports of 127.0.0.1 with the config and app
//! files under tests/servers/; what they logged about each request; certificates made
//! with openssl; and capplan runs read back from their JSON and Locust CSV reports.
//!
//! A server's own log is the point: a feature checked only against servers we wrote
//! is unchecked (issue 10: nginx refused every HTTP/2 request with a 400, "client
//! sent duplicate host header", while our own servers were happy).
use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

/// Size of the large bodies (`/static/big.bin`, `/chunked/big.bin`) every server sends.
pub const BIG_SIZE: usize = 1_500_000;
/// How long a server may take to listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// tests/servers/: nginx.conf, apps.py.
pub fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers")
}

/// Something outside Rust that a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Nginx,
    Gunicorn,
    Uvicorn,
    Openssl,
    /// The Python `h2` package (hyper-h2), for tests/support/h2_server.py.
    PythonH2,
    /// The Python `jsonschema` package, the validator of tests/suite/json_schema.rs.
    PythonJsonschema,
    /// Locust itself (`locust.stats`), whose CSV columns tests/suite/locust_csv.rs reads.
    PythonLocust,
    /// The Python `junitparser` package, the reader of tests/suite/junit.rs.
    PythonJunitparser,
    /// `check-jsonschema` (PyPI) with its vendored GitHub workflow schema, and PyYAML:
    /// tests/suite/ci_example.rs.
    CheckJsonschema,
    /// Prometheus itself (Debian's `prometheus`), the scraper of tests/suite/prometheus.rs.
    Prometheus,
    /// botocore (the AWS service models) and the kubernetes client with PyYAML:
    /// tests/suite/forecast_schedule.rs.
    ScheduleConsumers,
    /// `kubernetes-validate` (PyPI), the offline validator of examples/kubernetes/:
    /// tests/suite/kubernetes_example.rs.
    KubernetesValidate,
}

impl Component {
    fn present(self) -> bool {
        let quiet = |cmd: &mut Command| {
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        match self {
            Component::Nginx => quiet(Command::new(nginx_bin()).arg("-v")),
            Component::Gunicorn => quiet(Command::new("python3").args(["-c", "import gunicorn"])),
            Component::Uvicorn => quiet(Command::new("python3").args(["-c", "import uvicorn"])),
            Component::Openssl => quiet(Command::new("openssl").arg("version")),
            Component::PythonH2 => quiet(Command::new("python3").args(["-c", "import h2"])),
            Component::PythonJsonschema => {
                quiet(Command::new("python3").args(["-c", "import jsonschema"]))
            }
            Component::PythonLocust => {
                quiet(Command::new("python3").args(["-c", "import locust.stats"]))
            }
            Component::PythonJunitparser => {
                quiet(Command::new("python3").args(["-c", "import junitparser"]))
            }
            Component::CheckJsonschema => {
                quiet(Command::new("check-jsonschema").arg("--version"))
                    && quiet(Command::new("python3").args(["-c", "import yaml"]))
            }
            Component::Prometheus => quiet(Command::new("prometheus").arg("--version")),
            Component::ScheduleConsumers => quiet(
                Command::new("python3")
                    .args(["-c", "import botocore.validate, kubernetes.client, yaml"]),
            ),
            Component::KubernetesValidate => {
                quiet(Command::new("kubernetes-validate").arg("--version"))
            }
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Component::Nginx => "nginx is not installed (apt-get install nginx-light)",
            Component::Gunicorn => "python3 cannot import gunicorn (pip install gunicorn)",
            Component::Uvicorn => "python3 cannot import uvicorn (pip install uvicorn)",
            Component::Openssl => "openssl is not installed (apt-get install openssl)",
            Component::PythonH2 => "python3 cannot import h2 (pip install h2)",
            Component::PythonJsonschema => {
                "python3 cannot import jsonschema (pip install jsonschema)"
            }
            Component::PythonLocust => "python3 cannot import locust.stats (pip install locust)",
            Component::PythonJunitparser => {
                "python3 cannot import junitparser (pip install junitparser)"
            }
            Component::CheckJsonschema => {
                "check-jsonschema or PyYAML is missing (pip install check-jsonschema pyyaml)"
            }
            Component::Prometheus => "prometheus is not installed (apt-get install prometheus)",
            Component::ScheduleConsumers => {
                "python3 cannot import botocore, kubernetes or yaml (pip install botocore kubernetes pyyaml)"
            }
            Component::KubernetesValidate => {
                "kubernetes-validate is not installed (pip install kubernetes-validate==1.37.0)"
            }
        }
    }
}

/// Whether every component is installed. When one is not, the caller returns at
/// once: outside CI the test prints "skipped: <why>", with CI=true it fails.
pub fn require(components: &[Component]) -> bool {
    match components.iter().find(|c| !c.present()) {
        None => true,
        Some(missing) => {
            super::skip(missing.install_hint());
            false
        }
    }
}

/// Debian puts nginx in /usr/sbin, which a non-root PATH often lacks.
fn nginx_bin() -> PathBuf {
    let sbin = Path::new("/usr/sbin/nginx");
    if sbin.is_file() {
        sbin.to_path_buf()
    } else {
        PathBuf::from("nginx")
    }
}

/// A port nobody listens on right now (the server binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

/// A server process in its own process group, stopped (the whole group) on drop.
pub struct Process {
    child: Child,
    output: PathBuf,
}

impl Process {
    /// Spawn `cmd` with stdout and stderr into `output`, and wait until `port` accepts.
    /// `Err` (with what it printed) when it exited first: typically the port was taken.
    fn spawn(name: &str, cmd: &mut Command, port: u16, output: PathBuf) -> Result<Process, String> {
        let log = std::fs::File::create(&output).expect("creating the server's output file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut process = Process { child, output };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                return Err(format!("{name} exited ({status}): {}", process.output()));
            }
            if Instant::now() > deadline {
                panic!(
                    "{name} did not listen on port {port} within {STARTUP_TIMEOUT:?}: {}",
                    process.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(process)
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Start with a fresh free port until one is not taken by someone else meanwhile.
    fn start_on_free_port(
        name: &str,
        mut command: impl FnMut(u16) -> Command,
        output: PathBuf,
    ) -> (Process, u16) {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            match Process::spawn(name, &mut command(port), port, output.clone()) {
                Ok(process) => return (process, port),
                Err(why) => last = why,
            }
        }
        panic!("{name} did not start: {last}")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SIGINT to the leader: nginx, Gunicorn and uvicorn all stop quickly on it
        // (and stop their workers); then SIGKILL whatever of its group is left.
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: kill(2) on the process group the child leads (process_group(0)).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A certificate and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct Cert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed server certificate for `name` (a DNS name) and 127.0.0.1, as
/// `openssl req -x509 -subj /CN=NAME -addext subjectAltName=...` makes it; marked
/// as no CA, so that it can be its own trust anchor (`--cacert cert.pem`).
pub fn self_signed(dir: &Path, name: &str) -> Cert {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            &format!("subjectAltName=DNS:{name},IP:127.0.0.1"),
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    );
    Cert { cert, key }
}

/// A test CA, a server certificate for `server_name` and a client certificate, both
/// signed by it (mutual TLS).
pub struct Pki {
    pub ca: PathBuf,
    pub server: Cert,
    pub client: Cert,
}

pub fn pki(dir: &Path, server_name: &str) -> Pki {
    let ext = dir.join("ext.cnf");
    std::fs::write(
        &ext,
        format!(
            "[server]\nbasicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:{server_name}, IP:127.0.0.1\n\
             [client]\nbasicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n"
        ),
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-keyout", "ca.key", "-out", "ca.pem"],
            &["-subj", "/CN=capplan test CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    );
    for (who, subject) in [("server", server_name), ("client", "capplan client")] {
        openssl(
            dir,
            &[
                &["req", "-new"][..],
                &ec,
                &[
                    "-keyout",
                    &format!("{who}.key"),
                    "-out",
                    &format!("{who}.csr"),
                ],
                &["-subj", &format!("/CN={subject}")],
            ]
            .concat(),
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-extensions",
                who,
                "-out",
                &format!("{who}.pem"),
            ],
        );
    }
    let cert = |who: &str| Cert {
        cert: dir.join(format!("{who}.pem")),
        key: dir.join(format!("{who}.key")),
    };
    Pki {
        ca: dir.join("ca.pem"),
        server: cert("server"),
        client: cert("client"),
    }
}

/// How to configure tests/servers/nginx.conf.
#[derive(Debug, Clone)]
pub struct NginxConfig {
    /// Parameters after the listen address: "", " ssl", " http2", " ssl http2".
    pub listen: &'static str,
    /// Server certificate: TLS on (`listen` must say ssl).
    pub tls: Option<Cert>,
    /// More directives for the TLS server (client certificates).
    pub tls_extra: String,
    pub server_name: String,
    pub keepalive_timeout: &'static str,
    pub keepalive_requests: u32,
    /// Where `/app/` proxies to (a Gunicorn).
    pub upstream_port: Option<u16>,
}

impl Default for NginxConfig {
    fn default() -> Self {
        NginxConfig {
            listen: "",
            tls: None,
            tls_extra: String::new(),
            server_name: "localhost".to_string(),
            keepalive_timeout: "75s",
            keepalive_requests: 1000,
            upstream_port: None,
        }
    }
}

impl NginxConfig {
    /// h2c with prior knowledge whose connections last the run (no GOAWAY after
    /// `keepalive_requests`): for tests that count connections or sleeps.
    pub fn h2c_lasting() -> Self {
        NginxConfig {
            listen: " http2",
            keepalive_requests: 1_000_000,
            ..NginxConfig::default()
        }
    }
}

/// One access-log line (log_format `capplan` in nginx.conf); nginx writes "" or
/// "-" for a value it does not have.
#[derive(Debug, Clone, Deserialize)]
pub struct NginxLine {
    pub host: String,
    pub request_length: String,
    pub protocol: String,
    pub method: String,
    pub uri: String,
    pub status: String,
    pub user_agent: String,
    pub content_length: String,
    pub connection: String,
    pub connection_requests: String,
    pub body_bytes_sent: String,
    pub sni: String,
    pub tls: String,
    pub alpn: String,
    pub tls_reused: String,
    pub client_verify: String,
}

/// A running nginx with its own prefix directory (config, logs, files it serves).
pub struct Nginx {
    process: Process,
    dir: tempfile::TempDir,
    pub port: u16,
    pub scheme: &'static str,
}

/// The body of `/static/big.bin` (and `BIG` of apps.py): not all one byte.
pub fn big_body() -> Vec<u8> {
    b"0123456789abcdef"
        .iter()
        .copied()
        .cycle()
        .take(BIG_SIZE)
        .collect()
}

impl Nginx {
    pub fn start(config: NginxConfig) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("html/static")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::write(root.join("html/static/big.bin"), big_body()).unwrap();
        let template = std::fs::read_to_string(servers_dir().join("nginx.conf")).unwrap();
        // Workers of a root master run as `nobody`, who may not enter the test's
        // private temporary directory; without root the directive would be ignored.
        // SAFETY: geteuid(2) has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;"
        } else {
            ""
        };
        let tls = match &config.tls {
            None => String::new(),
            Some(cert) => format!(
                "        ssl_certificate {};\n        ssl_certificate_key {};\n\
                 \x20       ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache shared:tls:1m;\n{}",
                cert.cert.display(),
                cert.key.display(),
                config.tls_extra
            ),
        };
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let output = root.join("stderr.log");
        let (process, port) = Process::start_on_free_port(
            "nginx",
            |port| {
                let conf = template
                    .replace("{{DIR}}", root.to_str().unwrap())
                    .replace("{{USER}}", user)
                    .replace("{{PORT}}", &port.to_string())
                    .replace("{{LISTEN_FLAGS}}", config.listen)
                    .replace("{{SERVER_NAME}}", &config.server_name)
                    .replace("{{TLS}}", &tls)
                    .replace("{{KEEPALIVE_TIMEOUT}}", config.keepalive_timeout)
                    .replace(
                        "{{KEEPALIVE_REQUESTS}}",
                        &config.keepalive_requests.to_string(),
                    )
                    // Nothing listens on port 9 of the loopback: /app/ is then a 502.
                    .replace(
                        "{{UPSTREAM_PORT}}",
                        &config.upstream_port.unwrap_or(9).to_string(),
                    );
                assert!(!conf.contains("{{"), "unfilled placeholder in {conf}");
                std::fs::write(root.join("nginx.conf"), conf).unwrap();
                let mut cmd = Command::new(nginx_bin());
                cmd.arg("-p")
                    .arg(root)
                    .arg("-c")
                    .arg(root.join("nginx.conf"))
                    .arg("-e")
                    .arg(root.join("error.log"));
                cmd
            },
            output,
        );
        Nginx {
            process,
            dir,
            port,
            scheme,
        }
    }

    /// `SCHEME://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// `Host` capplan must send: `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The access log, once nginx has written the last requests (a request in
    /// flight when capplan stopped is logged as it ends).
    pub fn access_log(&self) -> Vec<NginxLine> {
        let text = settled(&self.dir.path().join("access.log"));
        text.lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("access log {line:?}: {e}"))
            })
            .collect()
    }

    /// The error log (level info: why nginx refused a request).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
            + &self.process.output()
    }

    /// A few lines of the error log about refused requests, for assertion messages.
    pub fn refusals(&self) -> String {
        let log = self.error_log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("client sent") || l.contains("[error]") || l.contains("SSL"))
            .take(5)
            .collect();
        if lines.is_empty() {
            "(no refusal in nginx's error log)".to_string()
        } else {
            lines.join("\n")
        }
    }
}

/// A file's text once it stopped growing for 300 ms (at most 5 s).
fn settled(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = None;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let len = std::fs::metadata(path).map(|m| m.len()).ok();
        if len == last || Instant::now() > deadline {
            return std::fs::read_to_string(path).unwrap_or_default();
        }
        last = len;
    }
}

/// What apps.py recorded about one request.
#[derive(Debug, Clone, Deserialize)]
pub struct AppRecord {
    pub server: String,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub raw_headers: bool,
    pub body_length: u64,
    pub body: String,
    pub sha256: String,
    pub client_port: Option<u16>,
    pub status: u16,
}

impl AppRecord {
    /// Values of header `name` (lowercase) as the app saw them.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Gunicorn or uvicorn serving tests/servers/apps.py.
pub struct PyServer {
    process: Process,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PyServer {
    /// `gunicorn ARGS apps:wsgi_app`, e.g. `--worker-class gthread --threads 4`.
    pub fn gunicorn(args: &[&str]) -> PyServer {
        Self::start("gunicorn", |port, cmd| {
            cmd.args(["-m", "gunicorn", "--chdir"])
                .arg(servers_dir())
                .args(["--bind", &format!("127.0.0.1:{port}")])
                .args(["--log-level", "warning"])
                .args(args)
                .arg("apps:wsgi_app");
        })
    }

    /// `uvicorn ARGS apps:asgi_app` (HTTP/1.1).
    pub fn uvicorn(args: &[&str]) -> PyServer {
        Self::start("uvicorn", |port, cmd| {
            cmd.args(["-m", "uvicorn", "--app-dir"])
                .arg(servers_dir())
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--log-level", "warning", "--no-access-log"])
                .args(args)
                .arg("apps:asgi_app");
        })
    }

    fn start(name: &str, build: impl Fn(u16, &mut Command)) -> PyServer {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let (process, port) = Process::start_on_free_port(
            name,
            |port| {
                let mut cmd = Command::new("python3");
                build(port, &mut cmd);
                cmd.env("REQUEST_LOG", &log)
                    .env("BIG_SIZE", BIG_SIZE.to_string())
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                cmd
            },
            dir.path().join("output.log"),
        );
        PyServer { process, dir, port }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request the app saw, in order.
    pub fn records(&self) -> Vec<AppRecord> {
        settled(&self.dir.path().join("requests.jsonl"))
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
            .collect()
    }

    /// What the server printed (tracebacks).
    pub fn output(&self) -> String {
        self.process.output()
    }
}

/// What a route must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// 200 with a small body.
    Ok,
    /// 200 with `BIG_SIZE` bytes.
    Big,
    /// This 4xx or 5xx status.
    Status(u16),
}

impl Expect {
    pub fn status(self) -> u16 {
        match self {
            Expect::Ok | Expect::Big => 200,
            Expect::Status(s) => s,
        }
    }
}

/// One `[[task]]` of a scenario, and what the server must answer to it.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    pub method: &'static str,
    /// Origin-form target, path and query, exactly as sent.
    pub target: String,
    pub weight: u32,
    /// `json = ...` as TOML, and the same value as JSON.
    pub json: Option<(&'static str, Value)>,
    pub expect: Expect,
}

impl Task {
    pub fn get(name: &str, target: &str, expect: Expect) -> Task {
        Task {
            name: name.to_string(),
            method: "GET",
            target: target.to_string(),
            weight: 1,
            json: None,
            expect,
        }
    }

    pub fn post_json(name: &str, target: &str) -> Task {
        Task {
            method: "POST",
            json: Some((
                r#"{ item = "widget", qty = 3, price = 9.5, tags = ["a", "b"] }"#,
                serde_json::json!({"item": "widget", "qty": 3, "price": 9.5, "tags": ["a", "b"]}),
            )),
            ..Task::get(name, target, Expect::Ok)
        }
    }

    pub fn weight(mut self, weight: u32) -> Task {
        self.weight = weight;
        self
    }

    /// Bytes of the JSON body (serialization may order keys differently, not size them).
    pub fn body_length(&self) -> usize {
        self.json
            .as_ref()
            .map_or(0, |(_, v)| serde_json::to_vec(v).unwrap().len())
    }
}

/// The routes every server has (nginx.conf, apps.py), under `prefix` ("" or "/app").
pub fn route_tasks(prefix: &str) -> Vec<Task> {
    let p = |path: &str| format!("{prefix}{path}");
    vec![
        Task::get("ok", &p("/ok"), Expect::Ok).weight(10),
        // The query exactly as written, percent-escapes included.
        Task::get("ok with query", &p("/ok?a=1&b=%2Fx%20y"), Expect::Ok).weight(2),
        Task::get("missing", &p("/missing"), Expect::Status(404)).weight(2),
        Task::get("error", &p("/error"), Expect::Status(500)).weight(2),
        Task::get("big", &p("/static/big.bin"), Expect::Big),
        Task::get("chunked", &p("/chunked/big.bin"), Expect::Big),
        Task::post_json("post", &p("/post")).weight(2),
    ]
}

/// A scenario file in `dir` for `host` with these tasks; `wait` is the body of its
/// `[wait_time]` table (e.g. `constant_throughput = 50`).
pub fn write_scenario(dir: &Path, host: &str, wait: &str, tasks: &[Task]) -> PathBuf {
    let mut toml = format!("host = \"{host}\"\n\n[wait_time]\n{wait}\n");
    for task in tasks {
        toml += &format!(
            "\n[[task]]\nname = \"{}\"\nmethod = \"{}\"\npath = \"{}\"\nweight = {}\n",
            task.name, task.method, task.target, task.weight
        );
        if let Some((json, _)) = &task.json {
            toml += &format!("json = {json}\n");
        }
    }
    let path = dir.join("scenario.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// A finished capplan run and its reports.
pub struct Run {
    pub json: Value,
    /// PREFIX_stats.csv, parsed: rows by Name.
    pub stats_csv: BTreeMap<String, BTreeMap<String, String>>,
    pub stderr: String,
}

/// `capplan loadtest ARGS --quiet --json DIR/run.json --csv DIR/run`, which must exit 0
/// within a minute.
/// A `capplan loadtest` that must stop before any traffic: exit 3, no report written.
/// Returns its stderr.
pub fn capplan_refused(dir: &Path, args: &[&str]) -> String {
    let json = dir.join("run.json");
    let out = super::capplan()
        .arg("loadtest")
        .args(args)
        .args(["--duration", "1s", "--quiet", "--json"])
        .arg(&json)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(3),
        "capplan loadtest {args:?}: {stderr}"
    );
    assert!(!json.exists(), "a report of a run that did not start");
    stderr
}

pub fn capplan_run(dir: &Path, args: &[&str]) -> Run {
    let json = dir.join("run.json");
    let csv = dir.join("run");
    let out = super::capplan()
        .arg("loadtest")
        .args(args)
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .arg("--csv")
        .arg(&csv)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "capplan loadtest {args:?} exited with {}: {stderr}",
        out.status
    );
    let json: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let mut reader = csv::Reader::from_path(dir.join("run_stats.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let stats_csv = reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            let fields: BTreeMap<String, String> = headers
                .iter()
                .zip(row.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            (fields["Name"].clone(), fields)
        })
        .collect();
    Run {
        json,
        stats_csv,
        stderr,
    }
}

impl Run {
    pub fn requests(&self) -> u64 {
        self.json["requests"].as_u64().unwrap()
    }

    pub fn failures(&self) -> u64 {
        self.json["failures"].as_u64().unwrap()
    }

    /// The JSON row of task `name`.
    pub fn task(&self, name: &str) -> &Value {
        self.json["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no task {name:?} in {}", self.json["tasks"]))
    }

    /// Failure rows as (name, error) -> occurrences.
    pub fn errors(&self) -> BTreeMap<(String, String), u64> {
        self.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    (
                        e["name"].as_str().unwrap().to_string(),
                        e["error"].as_str().unwrap().to_string(),
                    ),
                    e["occurrences"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// The JSON `protocol` object (upcoming; see tests/suite/real_tls_h2.rs).
    pub fn protocol(&self) -> &Value {
        let p = &self.json["protocol"];
        assert!(p.is_object(), "no protocol object in the JSON summary");
        p
    }
}

/// The reason phrase capplan puts after a status in `HTTPError: CODE REASON`.
pub fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => panic!("no reason phrase listed for {status}"),
    }
}

/// What capplan itself says about each task: healthy routes without a failure, error
/// routes failing exactly with `HTTPError: CODE REASON`, large bodies counted in
/// full (JSON mean content size and the Locust CSV's Average Content Size).
pub fn check_capplan_side(run: &Run, tasks: &[Task]) {
    let mut expected_errors = BTreeMap::new();
    for task in tasks {
        let row = run.task(&task.name);
        let requests = row["requests"].as_u64().unwrap();
        let failures = row["failures"].as_u64().unwrap();
        assert!(
            requests > 0,
            "task {:?} was never sent: {}",
            task.name,
            run.json
        );
        match task.expect {
            Expect::Ok | Expect::Big => assert_eq!(
                failures, 0,
                "task {:?}: {failures} of {requests} failed: {}",
                task.name, run.json["errors"]
            ),
            Expect::Status(status) => {
                assert_eq!(failures, requests, "task {:?}: {}", task.name, run.json);
                expected_errors.insert(
                    (
                        task.name.clone(),
                        format!("HTTPError: {status} {}", reason(status)),
                    ),
                    requests,
                );
            }
        }
        if task.expect == Expect::Big {
            assert_eq!(
                row["avg_content_bytes"].as_f64().unwrap(),
                BIG_SIZE as f64,
                "task {:?}: mean content size",
                task.name
            );
            assert_eq!(
                run.stats_csv[&task.name]["Average Content Size"],
                BIG_SIZE.to_string(),
                "task {:?}: Locust CSV Average Content Size",
                task.name
            );
        }
    }
    assert_eq!(run.errors(), expected_errors, "failures by kind");
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub status: u16,
}

impl From<&NginxLine> for Seen {
    fn from(line: &NginxLine) -> Seen {
        Seen {
            method: line.method.clone(),
            target: line.uri.clone(),
            status: line.status.parse().unwrap_or(0),
        }
    }
}

impl From<&AppRecord> for Seen {
    fn from(record: &AppRecord) -> Seen {
        Seen {
            method: record.method.clone(),
            target: record.target.clone(),
            status: record.status,
        }
    }
}

/// The server's count of each task against capplan's. capplan counts the requests that
/// completed before the end of the run (engine.rs: the last tick is at the deadline,
/// then the users are aborted). What a user does between that tick and its abort
/// reaches the server but not the statistics: a request that completes after the
/// deadline, and the next one it sends. So a server sees at most two requests per
/// user more than capplan counts, per task and in total:
/// `capplan <= server <= capplan + in_flight` with `in_flight` = 2 x users. The server saw nothing else; its
/// status for each request is the route's, except for a request capplan abandoned at
/// the end (nginx logs 499 when it could not answer before the close).
pub fn check_counts(run: &Run, tasks: &[Task], seen: &[Seen], in_flight: u64) {
    let targets: BTreeSet<(&str, &str)> = tasks
        .iter()
        .map(|t| (t.method, t.target.as_str()))
        .collect();
    let strays: Vec<&Seen> = seen
        .iter()
        .filter(|s| !targets.contains(&(s.method.as_str(), s.target.as_str())))
        .collect();
    assert!(
        strays.is_empty(),
        "the server saw requests no task sends (path rewritten?): {:?}",
        &strays[..strays.len().min(5)]
    );
    let mut abandoned = 0;
    for task in tasks {
        let mine: Vec<&Seen> = seen
            .iter()
            .filter(|s| s.method == task.method && s.target == task.target)
            .collect();
        let counted = run.task(&task.name)["requests"].as_u64().unwrap();
        let logged = mine.len() as u64;
        assert!(
            counted <= logged && logged <= counted + in_flight,
            "task {:?}: capplan counted {counted}, the server saw {logged} (at most {in_flight} in flight)",
            task.name
        );
        for s in mine {
            if s.status == 499 {
                abandoned += 1;
            } else {
                assert_eq!(
                    s.status,
                    task.expect.status(),
                    "task {:?}: the server answered {s:?}",
                    task.name
                );
            }
        }
    }
    assert!(abandoned <= in_flight, "{abandoned} requests abandoned");
    let total = run.requests();
    let logged = seen.len() as u64;
    assert!(
        total <= logged && logged <= total + in_flight,
        "capplan counted {total} requests, the server saw {logged}"
    );
}

/// nginx's view of a run: every request came with `Host: host` (exactly once: nginx
/// refuses a second one with a 400, and there is none), in `protocol`, with capplan's
/// User-Agent, the method and target as given, a JSON body of the stated length.
pub fn check_nginx_side(
    nginx: &Nginx,
    run: &Run,
    tasks: &[Task],
    host: &str,
    protocol: &str,
    in_flight: u64,
) -> Vec<NginxLine> {
    let log = nginx.access_log();
    assert!(!log.is_empty(), "nginx logged no request");
    let refused: Vec<&NginxLine> = log.iter().filter(|l| l.status == "400").collect();
    assert!(
        refused.is_empty(),
        "nginx refused {} requests with 400, e.g. {:?}; error log:\n{}",
        refused.len(),
        refused[0],
        nginx.refusals()
    );
    for line in &log {
        assert_eq!(line.host, host, "Host header: {line:?}");
        assert_eq!(line.protocol, protocol, "protocol: {line:?}");
        assert!(
            line.user_agent.starts_with("capplan/"),
            "User-Agent: {line:?}"
        );
        let task = tasks
            .iter()
            .find(|t| t.method == line.method && t.target == line.uri);
        if let Some(task) = task.filter(|t| t.json.is_some()) {
            assert_eq!(
                line.content_length,
                task.body_length().to_string(),
                "Content-Length of {:?}: {line:?}",
                task.name
            );
            // nginx read the whole body ($request_length: request line, headers, body;
            // over HTTP/2 nginx counts the compressed header block and no DATA).
            if line.protocol == "HTTP/1.1" {
                let read: usize = line.request_length.parse().unwrap();
                assert!(read > task.body_length(), "request length: {line:?}");
            }
        }
    }
    let seen: Vec<Seen> = log.iter().map(Seen::from).collect();
    check_counts(run, tasks, &seen, in_flight);
    log
}

/// The app's view of a run: each header at most once and the ones capplan sends
/// exactly once (Host, User-Agent; Content-Length and Content-Type with a body), the
/// method and target as given, the JSON body intact.
pub fn check_app_side(
    server: &PyServer,
    run: &Run,
    tasks: &[Task],
    host: &str,
    in_flight: u64,
) -> Vec<AppRecord> {
    let records = server.records();
    assert!(
        !records.is_empty(),
        "the app recorded no request: {}",
        server.output()
    );
    for record in &records {
        let mut names: Vec<&str> = record.headers.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a repeated header: {record:?}");
        // WSGI joins a repeated header's values with ",": none of these has one.
        for (name, value) in [("host", host), ("user-agent", "")] {
            let values = record.header(name);
            assert_eq!(values.len(), 1, "{name} header: {record:?}");
            assert!(!values[0].contains(','), "{name} sent twice: {record:?}");
            if !value.is_empty() {
                assert_eq!(values[0], value, "{name} header: {record:?}");
            }
        }
        assert!(
            record.header("user-agent")[0].starts_with("capplan/"),
            "User-Agent: {record:?}"
        );
        let task = tasks
            .iter()
            .find(|t| t.method == record.method && t.target == record.target);
        match task.and_then(|t| t.json.as_ref().map(|j| (t, j))) {
            Some((task, (_, value))) => {
                assert_eq!(
                    record.header("content-length"),
                    [task.body_length().to_string().as_str()],
                    "{record:?}"
                );
                assert_eq!(
                    record.header("content-type"),
                    ["application/json"],
                    "{record:?}"
                );
                assert_eq!(
                    record.body_length as usize,
                    task.body_length(),
                    "{record:?}"
                );
                let body: Value = serde_json::from_str(&record.body)
                    .unwrap_or_else(|e| panic!("body is not JSON ({e}): {record:?}"));
                assert_eq!(&body, value, "JSON body: {record:?}");
            }
            None => {
                assert_eq!(record.body_length, 0, "a body on a GET: {record:?}");
                assert!(record.header("transfer-encoding").is_empty(), "{record:?}");
            }
        }
    }
    let seen: Vec<Seen> = records.iter().map(Seen::from).collect();
    check_counts(run, tasks, &seen, in_flight);
    records
}

/// Virtual users of each run.
pub const USERS: u64 = 4;
/// Requests a server may see beyond capplan's count: two per user (see
/// `check_counts`).
pub const IN_FLIGHT: u64 = 2 * USERS;
/// Pacing of the route runs: 4 users x 40 tasks/s, enough for every route and light
/// on a busy machine.
pub const PACED: &str = "constant_throughput = 40";

/// `capplan loadtest --scenario ... --users USERS --duration DURATION [extra]`.
pub fn run_scenario(
    dir: &Path,
    host: &str,
    wait: &str,
    tasks: &[Task],
    duration: &str,
    extra: &[&str],
) -> Run {
    let scenario = write_scenario(dir, host, wait, tasks);
    let users = USERS.to_string();
    let args = [
        &[
            "--scenario",
            scenario.to_str().unwrap(),
            "--users",
            &users,
            "--spawn-rate",
            "100",
            "--duration",
            duration,
        ][..],
        extra,
    ]
    .concat();
    capplan_run(dir, &args)
}

/// Distinct connections in nginx's log.
pub fn connections(log: &[NginxLine]) -> BTreeSet<&str> {
    log.iter().map(|l| l.connection.as_str()).collect()
}

/// Every logged request was the first on its connection: the connection was not reused.
pub fn assert_one_request_per_connection(log: &[NginxLine], why: &str) {
    for line in log {
        assert_eq!(line.connection_requests, "1", "{why}: {line:?}");
    }
    assert_eq!(connections(log).len(), log.len(), "{why}");
}

pub fn echo_tasks() -> Vec<Task> {
    vec![
        Task::get("echo", "/echo?x=1&y=%20z&x=2", Expect::Ok).weight(3),
        Task::post_json("echo post", "/echo").weight(3),
    ]
}

/// Distinct client ports in the app's records: its connections.
pub fn client_ports(records: &[AppRecord]) -> BTreeSet<u16> {
    records
        .iter()
        .map(|r| r.client_port.expect("the server tells the client port"))
        .collect()
}

/// tests/support/h2_server.py: plain h2c on a port of 127.0.0.1 it chose itself, with
/// the faults of `args` (see its docstring and tests/servers/README.md).
pub struct H2FaultServer {
    process: Process,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl H2FaultServer {
    pub fn start(args: &[&str]) -> H2FaultServer {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output.log");
        let log = std::fs::File::create(&output).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/h2_server.py");
        let child = Command::new("python3")
            .arg(script)
            .arg("--log")
            .arg(dir.path().join("events.jsonl"))
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("starting python3 h2_server.py");
        let mut process = Process { child, output };
        // It prints "listening on PORT" once bound (port 0: no probe connection, which
        // would show in its log).
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let port = loop {
            let printed = process.output();
            if let Some(port) = printed
                .lines()
                .find_map(|l| l.strip_prefix("listening on "))
                .and_then(|p| p.trim().parse().ok())
            {
                break port;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("h2_server.py exited ({status}): {printed}");
            }
            assert!(
                Instant::now() < deadline,
                "h2_server.py did not listen within {STARTUP_TIMEOUT:?}: {printed}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        H2FaultServer { process, dir, port }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every event it logged, in order, once the log stopped growing.
    pub fn events(&self) -> Vec<Value> {
        settled(&self.dir.path().join("events.jsonl"))
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
            .collect()
    }

    /// What it printed (a traceback, if it broke).
    pub fn output(&self) -> String {
        self.process.output()
    }
}

/// A Prometheus server of the test's own (config and TSDB in a temporary
/// directory): scraping a target, or serving a TSDB the test backfilled.
pub struct Prometheus {
    _process: Process,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scraping `target` (host:port) every second; returns once it has scraped.
    pub fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let prometheus = Prometheus::launch(
            dir,
            &data,
            &format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: capplan\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        );
        // It listens before its scrape loop runs: wait for the first scrape (of a
        // target that is down until the test starts it, so `up` is 0).
        prometheus.wait_for("up");
        prometheus
    }

    /// Serving the TSDB in `data` (blocks from `promtool tsdb create-blocks-from`),
    /// kept whatever their age.
    pub fn start_on_data(data: &Path) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let prometheus = Prometheus::launch(dir, data, "global:\n  scrape_interval: 1m\n");
        prometheus.wait_for("vector(1)");
        prometheus
    }

    fn launch(dir: tempfile::TempDir, data: &Path, config_text: &str) -> Prometheus {
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_text).unwrap();
        let (process, port) = Process::start_on_free_port(
            "prometheus",
            |port| {
                let mut cmd = Command::new("prometheus");
                cmd.arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.tsdb.path={}", data.display()))
                    .arg("--storage.tsdb.retention.time=100y")
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"));
                cmd
            },
            dir.path().join("prometheus.log"),
        );
        Prometheus {
            _process: process,
            port,
            _dir: dir,
        }
    }

    /// Wait until a query of `expr` returns something (the server is up and ready).
    fn wait_for(&self, expr: &str) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if self
                .try_query_at(expr, unix_now())
                .is_some_and(|r| !r.is_empty())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready: {}",
                self._process.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Its base URL.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An instant query through the HTTP API (`/api/v1/query`) evaluated at `time`
    /// (Unix seconds): its `data.result`. A scraped target that went away is stale
    /// from its next failed scrape on, so queries of a finished run name a time
    /// when it was up.
    pub fn query_at(&self, expr: &str, time: f64) -> Vec<Value> {
        self.try_query_at(expr, time)
            .unwrap_or_else(|| panic!("query {expr} failed: {}", self._process.output()))
    }

    /// [`Self::query_at`], `None` when the server does not answer it (yet).
    fn try_query_at(&self, expr: &str, time: f64) -> Option<Vec<Value>> {
        let script = "import sys, urllib.parse, urllib.request\n\
                      q = urllib.parse.urlencode({'query': sys.argv[2], 'time': sys.argv[3]})\n\
                      url = 'http://127.0.0.1:%s/api/v1/query?%s' % (sys.argv[1], q)\n\
                      print(urllib.request.urlopen(url, timeout=10).read().decode())";
        let out = Command::new("python3")
            .args([
                "-c",
                script,
                &self.port.to_string(),
                expr,
                &format!("{time:.3}"),
            ])
            .output()
            .unwrap();
        if !out.status.success() {
            return None;
        }
        let body: Value = serde_json::from_slice(&out.stdout).ok()?;
        (body["status"] == "success").then(|| {
            body["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
    }

    /// The single value of a query that returns one series, at `time`.
    pub fn value_at(&self, expr: &str, time: f64) -> f64 {
        let result = self.query_at(expr, time);
        assert_eq!(result.len(), 1, "{expr}: {result:?}");
        result[0]["value"][1].as_str().unwrap().parse().unwrap()
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
