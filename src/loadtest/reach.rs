//! Reaching the target before any traffic: the address (`--resolve` or DNS), the TLS
//! set-up, and one probe connection that shows what the server will speak.
use std::net::SocketAddr;

use crate::error::{InputError, RunError};
use crate::loadtest::client::{Failure, HttpVersion};
use crate::loadtest::connector::{Connector, TlsTarget};
use crate::loadtest::plan::Plan;
use crate::loadtest::tls;

/// How the run reaches the target, found out before any traffic: the connector, the
/// HTTP version, and a warning when the server would not speak the one asked for.
pub struct Reach {
    pub connector: Connector,
    pub version: HttpVersion,
    pub warning: Option<String>,
}

/// Build the connector (bad TLS files are exit 2) and open one connection the way the
/// run will: a target that refuses it, or whose certificate fails, is exit 3.
pub async fn reach(plan: &Plan) -> anyhow::Result<Reach> {
    let url = url::Url::parse(&plan.host)?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let https = url.scheme() == "https";
    let options = &plan.connection;
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let resolved = options
        .resolve
        .iter()
        .find(|r| r.host.eq_ignore_ascii_case(bare_host) && r.port == port);
    let addr = match resolved {
        Some(r) => SocketAddr::new(r.addr, port),
        None if !options.resolve.is_empty() => {
            return Err(InputError::flag(
                "--resolve",
                format!("no entry is for the target {host}:{port}"),
            )
            .into())
        }
        None => tokio::net::lookup_host((bare_host, port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| RunError(format!("cannot resolve the target host '{host}'")))?,
    };
    let tls = if https {
        let alpn: &[&[u8]] = if options.http2 {
            &[b"h2", b"http/1.1"]
        } else {
            &[b"http/1.1"]
        };
        Some(TlsTarget {
            connector: tokio_rustls::TlsConnector::from(tls::client_config(&options.tls, alpn)?),
            server_name: tls::server_name(&host)?,
        })
    } else {
        None
    };
    let connector = Connector {
        addr,
        tls,
        connect_timeout: options.connect_timeout,
    };
    let probe = connector.open().await.map_err(|failure| {
        let hint = match failure {
            Failure::Connect(_) => ": is the target running and listening there?",
            _ => "",
        };
        RunError(format!(
            "cannot connect to {host}:{port} ({addr}): {failure}{hint}"
        ))
    })?;
    let alpn = probe.info.negotiated.alpn;
    let (version, warning) = match (options.http2, https) {
        (false, _) => (HttpVersion::Http1, None),
        (true, false) => (HttpVersion::Http2, None),
        (true, true) if alpn == Some("h2") => (HttpVersion::Http2, None),
        (true, true) => (
            HttpVersion::Http1,
            Some(format!(
                "--http2: the server did not choose h2 by ALPN (it chose {}): the run spoke HTTP/1.1",
                alpn.unwrap_or("nothing")
            )),
        ),
    };
    Ok(Reach {
        connector,
        version,
        warning,
    })
}
