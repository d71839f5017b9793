//! A throwaway PKI for TLS tests, made on the fly (nothing is checked in): a CA, a server certificate for
//! `localhost` and `127.0.0.1`, a client certificate, and a second CA that signed nothing (for "wrong CA" tests).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Result, TestingError};

/// A certificate and its key, in DER.
#[derive(Debug)]
struct Pair {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

/// A test CA and the certificates it signed, also written as PEM files in a directory of their own (removed
/// when the value is dropped).
///
/// # Examples
///
/// ```
/// let pki = autogen_kafka_testing::TestPki::new()?;
/// assert!(pki.ca_file().is_file());
/// assert!(std::fs::read_to_string(pki.server_cert_file())?.starts_with("-----BEGIN CERTIFICATE-----"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
    ca: CertificateDer<'static>,
    server: Pair,
}

/// The [`TestingError::Pki`] of a step that failed with `cause`.
fn failed<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> TestingError {
    move |cause| TestingError::Pki {
        what,
        message: cause.to_string(),
    }
}

impl TestPki {
    /// Makes the CA and certificates and writes `ca.pem`, `server.pem`, `server.key`, `client.pem`,
    /// `client.key` and `other-ca.pem` into a fresh temporary directory.
    ///
    /// # Errors
    ///
    /// [`TestingError::Pki`] when a key or certificate cannot be made or written.
    pub fn new() -> Result<Self> {
        Self::with_server_names(&["localhost", "127.0.0.1"])
    }

    /// [`new`](Self::new) with a server certificate valid for `names` only (DNS names or IP addresses), for
    /// tests of hostname verification.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_server_names(names: &[&str]) -> Result<Self> {
        let ca_key = KeyPair::generate().map_err(failed("CA key"))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed("CA"))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "autogen-kafka test CA");
        let ca =
            CertifiedIssuer::self_signed(ca_params, ca_key).map_err(failed("CA certificate"))?;

        let leaf = |names: Vec<String>, common_name: &str| -> Result<Pair> {
            let key = KeyPair::generate().map_err(failed("key"))?;
            let mut params = CertificateParams::new(names).map_err(failed("certificate"))?;
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            let cert = params.signed_by(&key, &ca).map_err(failed("certificate"))?;
            Ok(Pair {
                cert: cert.der().clone(),
                key: key.serialize_der(),
            })
        };
        let server = leaf(
            names.iter().map(|name| (*name).to_owned()).collect(),
            names.first().copied().unwrap_or("server"),
        )?;
        let client = leaf(Vec::new(), "autogen-kafka test client")?;

        let other_key = KeyPair::generate().map_err(failed("other CA key"))?;
        let mut other_params =
            CertificateParams::new(Vec::<String>::new()).map_err(failed("other CA"))?;
        other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        other_params
            .distinguished_name
            .push(DnType::CommonName, "some other CA");
        let other = other_params
            .self_signed(&other_key)
            .map_err(failed("other CA certificate"))?;

        let dir = std::env::temp_dir().join(format!("ak-pki-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(failed("directory"))?;
        let pem_key = |der: &[u8]| pem_block("PRIVATE KEY", der);
        let files = [
            ("ca.pem", ca.pem()),
            ("server.pem", pem_block("CERTIFICATE", &server.cert)),
            ("server.key", pem_key(&server.key)),
            ("client.pem", pem_block("CERTIFICATE", &client.cert)),
            ("client.key", pem_key(&client.key)),
            ("other-ca.pem", other.pem()),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).map_err(failed("PEM file"))?;
        }
        Ok(Self {
            dir,
            ca: ca.der().clone(),
            server,
        })
    }

    /// The CA certificate (PEM): what a client trusts.
    #[must_use]
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A CA that signed none of these certificates (PEM): a client trusting only it rejects the server.
    #[must_use]
    pub fn other_ca_file(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    /// The server certificate (PEM), valid for `localhost` and `127.0.0.1`.
    #[must_use]
    pub fn server_cert_file(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server's private key (PKCS#8 PEM).
    #[must_use]
    pub fn server_key_file(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// A client certificate signed by the CA (PEM), for mutual TLS.
    #[must_use]
    pub fn client_cert_file(&self) -> PathBuf {
        self.dir.join("client.pem")
    }

    /// The client's private key (PKCS#8 PEM).
    #[must_use]
    pub fn client_key_file(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    /// The directory holding the files.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A server configuration presenting the server certificate; with `require_client_certificate`, clients
    /// must present one the CA signed.
    pub(crate) fn server_config(
        &self,
        require_client_certificate: bool,
    ) -> Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(failed("TLS versions"))?;
        let builder = if require_client_certificate {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca.clone()).map_err(failed("client CA"))?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(failed("client verifier"))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server.key.clone()));
        let config = builder
            .with_single_cert(vec![self.server.cert.clone()], key)
            .map_err(failed("server certificate"))?;
        Ok(Arc::new(config))
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// DER bytes as a PEM block.
fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}
