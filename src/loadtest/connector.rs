//! Opening connections to the target: the address (DNS, or `--resolve` as curl does),
//! TCP with `--connect-timeout` and TCP_NODELAY, then TLS (rustls) with SNI and ALPN.
//! Each open returns what it cost and what it negotiated, for the connection
//! histograms and the report.
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::loadtest::client::Failure;

/// A connection to the target, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What a connection negotiated: the ALPN protocol and the TLS version (none on plain TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Negotiated {
    /// `h2` or `http/1.1`, when the server chose one by ALPN.
    pub alpn: Option<&'static str>,
    /// `TLSv1.3` or `TLSv1.2`.
    pub tls_version: Option<&'static str>,
}

/// What opening one connection cost and negotiated.
#[derive(Debug, Clone, Copy)]
pub struct OpenInfo {
    /// From the start of the TCP connect to its completion.
    pub connect: Duration,
    /// The TLS handshake after it.
    pub tls_handshake: Option<Duration>,
    pub negotiated: Negotiated,
    /// The TLS session was resumed (no full handshake).
    pub resumed: bool,
}

/// A connection and its open figures.
pub struct Opened {
    pub stream: Stream,
    pub info: OpenInfo,
}

/// TLS to the target: the run's configuration and the name to verify (and send as SNI).
#[derive(Clone)]
pub struct TlsTarget {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

/// Opens connections to one target address.
#[derive(Clone)]
pub struct Connector {
    pub addr: SocketAddr,
    pub tls: Option<TlsTarget>,
    pub connect_timeout: Duration,
}

impl Connector {
    /// Open a connection: TCP, then TLS when the target is https.
    pub async fn open(&self) -> Result<Opened, Failure> {
        let began = Instant::now();
        let stream =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Err(Failure::Connect(e.kind().to_string())),
                Err(_) => {
                    return Err(Failure::Connect(format!(
                        "no connection within {:?} (--connect-timeout)",
                        self.connect_timeout
                    )))
                }
            };
        // Small requests must leave at once, not wait for Nagle.
        stream
            .set_nodelay(true)
            .map_err(|e| Failure::Connect(e.kind().to_string()))?;
        let connected = Instant::now();
        let connect = connected - began;
        // After the connect time is taken: the spin's bookkeeping is not the network's.
        crate::loadtest::idle_spin::watch(std::os::fd::AsRawFd::as_raw_fd(&stream));
        let Some(tls) = &self.tls else {
            return Ok(Opened {
                stream: Stream::Plain(stream),
                info: OpenInfo {
                    connect,
                    tls_handshake: None,
                    negotiated: Negotiated {
                        alpn: None,
                        tls_version: None,
                    },
                    resumed: false,
                },
            });
        };
        let handshake = tls.connector.connect(tls.server_name.clone(), stream);
        let remaining = self.connect_timeout.saturating_sub(connect);
        let stream = match tokio::time::timeout(remaining, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(classify_tls(e)),
            Err(_) => {
                return Err(Failure::Tls(format!(
                    "no TLS handshake within {:?} (--connect-timeout)",
                    self.connect_timeout
                )))
            }
        };
        let tls_handshake = connected.elapsed();
        let session = stream.get_ref().1;
        let negotiated = Negotiated {
            alpn: match session.alpn_protocol() {
                Some(b"h2") => Some("h2"),
                Some(b"http/1.1") => Some("http/1.1"),
                Some(_) => Some("other"),
                None => None,
            },
            tls_version: match session.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => Some("TLSv1.3"),
                Some(rustls::ProtocolVersion::TLSv1_2) => Some("TLSv1.2"),
                Some(_) => Some("other"),
                None => None,
            },
        };
        let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        Ok(Opened {
            stream: Stream::Tls(Box::new(stream)),
            info: OpenInfo {
                connect,
                tls_handshake: Some(tls_handshake),
                negotiated,
                resumed,
            },
        })
    }
}

/// A failed TLS handshake: the certificate, or the rest of TLS.
fn classify_tls(e: io::Error) -> Failure {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(why)) => {
            use rustls::CertificateError as Why;
            // Stable words, so failures group: the dated variants name the clock's second.
            let what = match why {
                Why::Expired | Why::ExpiredContext { .. } => "certificate expired".to_string(),
                Why::NotValidYet | Why::NotValidYetContext { .. } => {
                    "certificate not valid yet".to_string()
                }
                other => other.to_string(),
            };
            Failure::Certificate(format!(
                "{what} (a private CA needs --cacert FILE; --insecure skips the check)"
            ))
        }
        Some(rustls::Error::InvalidMessage(why)) => Failure::Tls(format!(
            "the server's reply is not TLS ({why:?}): is this port plain http?"
        )),
        Some(other) => Failure::Tls(other.to_string()),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            Failure::Tls("the server closed the connection during the handshake".to_string())
        }
        None => Failure::Tls(e.kind().to_string()),
    }
}
