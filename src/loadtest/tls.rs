//! The TLS client configuration of a run, built once from the flags: trust roots
//! (Mozilla's, or `--cacert`), an optional client certificate (`--cert`/`--key`),
//! `--insecure`, and the ALPN protocols to offer. One `Arc<ClientConfig>` serves every
//! connection of the run, so its session cache lets reconnects resume (RFC 8446 §2.2).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::{ring, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::InputError;

/// The TLS flags of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOptions {
    /// `--insecure`: accept any certificate.
    pub insecure: bool,
    /// `--cacert`: trust these CAs instead of the built-in Mozilla roots (as curl does).
    pub cacert: Option<PathBuf>,
    /// `--cert` and `--key`: a client certificate chain and its key (mutual TLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Build the client configuration; every problem names its flag and file (exit 2).
pub fn client_config(
    options: &TlsOptions,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, InputError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| InputError::flag("--insecure", format!("TLS set-up failed: {e}")))?;
    let builder = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
    } else if let Some(path) = &options.cacert {
        let listed = read_certificates("--cacert", path)?;
        let mut store = RootCertStore::empty();
        for cert in &listed {
            store.add(cert.clone()).map_err(|e| {
                InputError::flag(
                    "--cacert",
                    format!("{}: a certificate is not a usable CA: {e}", path.display()),
                )
            })?;
        }
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(&provider))
                .build()
                .map_err(|e| InputError::flag("--cacert", format!("{}: {e}", path.display())))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CaFileVerifier { webpki, listed }))
    } else {
        let mut store = RootCertStore::empty();
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(store)
    };
    let mut config = match &options.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = read_certificates("--cert", cert)?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                InputError::flag(
                    "--key",
                    format!("{}: not a PEM private key: {e}", key.display()),
                )
            })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                InputError::flag(
                    "--key",
                    format!(
                        "{} does not go with the certificate in {}: {e}",
                        key.display(),
                        cert.display()
                    ),
                )
            })?
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Every certificate of a PEM file; a missing, unreadable or empty file is an error.
fn read_certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::flag(flag, format!("cannot read {}: {e}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            InputError::flag(
                flag,
                format!("{}: not PEM certificates: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(InputError::flag(
            flag,
            format!(
                "{}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        ));
    }
    Ok(certs)
}

/// The server name to verify and send as SNI: a DNS name or an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, InputError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|_| InputError::flag("--url", format!("'{host}' is not a valid TLS server name")))
}

/// `--cacert FILE`: chains to the file's CAs, as webpki checks them; and, as curl
/// does, a self-signed server certificate listed in the file itself (webpki never
/// takes an end-entity certificate as its own anchor), checked for the host name.
#[derive(Debug)]
struct CaFileVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    listed: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chained = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match chained {
            Err(_)
                if self
                    .listed
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                let parsed = ParsedCertificate::try_from(end_entity)?;
                verify_server_name(&parsed, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `--insecure`: any certificate is accepted, but the handshake's signatures are still
/// checked, so the connection is a real TLS connection to whoever holds the key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
