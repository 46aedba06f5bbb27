//! TLS setup (CA file, Docker-style `certs.d`, client certificates, insecure mode) and the
//! diagnosis of a failed handshake: the server's chain with subjects, SANs and dates, so the
//! operator learns *why* the registry is not trusted (skopeo#2054 shows how opaque a bare
//! "x509: certificate signed by unknown authority" is).

use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::RegistryError;

/// How to reach the registry over TLS. The defaults verify against the system trust store.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// A PEM file with the registry's CA certificate(s), added to the system roots.
    pub ca_file: Option<PathBuf>,
    /// A Docker-style `certs.d` directory: `<dir>/<host:port>/` (or `<dir>` itself, as
    /// skopeo's `--cert-dir`) holding `*.crt` CA files and a `client.cert`/`client.key` pair.
    pub certs_dir: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Do not verify the server certificate. Shown to the operator as a warning.
    pub insecure: bool,
    /// Talk plain HTTP. Shown to the operator as a warning.
    pub plain_http: bool,
    /// Leave out the system trust store (tests use it to prove that the CA option is needed).
    pub no_system_roots: bool,
}

impl TlsOptions {
    /// Texts the caller must show the operator for the risky choices.
    pub fn warnings(&self, authority: &str) -> Vec<String> {
        let mut w = Vec::new();
        if self.plain_http {
            w.push(format!(
                "Plain HTTP to {authority}: images and credentials travel unencrypted, and Juju \
                 and containerd will refuse to pull from this registry unless each node is \
                 configured to allow it as an insecure registry."
            ));
        } else if self.insecure {
            w.push(format!(
                "TLS verification for {authority} is switched off: this tool will talk to any \
                 server answering at that address. containerd in the cluster still verifies the \
                 certificate, so pulls will fail unless the nodes trust the registry's CA."
            ));
        }
        w
    }
}

/// One certificate of the chain the server presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
}

/// The chain the server presented, for error messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertSummary(pub Vec<CertInfo>);

impl fmt::Display for CertSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(the server presented no certificate)");
        }
        f.write_str("Certificate chain presented by the server:")?;
        for (i, c) in self.0.iter().enumerate() {
            let sans = if c.sans.is_empty() {
                "none".to_string()
            } else {
                c.sans.join(", ")
            };
            write!(
                f,
                "\n  [{i}] subject: {}; issuer: {}; SANs: {}; valid {} until {}",
                c.subject, c.issuer, sans, c.not_before, c.not_after
            )?;
        }
        Ok(())
    }
}

impl CertSummary {
    fn from_chain(chain: &[CertificateDer<'_>]) -> CertSummary {
        CertSummary(chain.iter().filter_map(|c| describe(c.as_ref())).collect())
    }

    fn leaf_sans(&self) -> String {
        match self.0.first() {
            Some(c) if !c.sans.is_empty() => c.sans.join(", "),
            Some(c) => format!("no subject alternative names (subject {})", c.subject),
            None => "unknown names".into(),
        }
    }
}

fn describe(der: &[u8]) -> Option<CertInfo> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b)
                            .map(|a| std::net::IpAddr::from(a).to_string())
                            .ok(),
                        16 => <[u8; 16]>::try_from(*b)
                            .map(|a| std::net::IpAddr::from(a).to_string())
                            .ok(),
                        _ => None,
                    };
                    sans.push(format!("IP:{}", ip.unwrap_or_else(|| hex::encode(b))));
                }
                other => sans.push(other.to_string()),
            }
        }
    }
    // Certificates' times are UTC (RFC 5280); shown as an operator reads them, not as
    // `16:34:58.0 +00:00:00`.
    let time = |t: &x509_parser::time::ASN1Time| {
        let d = t.to_datetime();
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    };
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: time(&cert.validity().not_before),
        not_after: time(&cert.validity().not_after),
    })
}

/// Everything needed to make TLS connections to one registry.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    insecure: bool,
}

impl TlsSetup {
    pub(crate) fn new(opts: &TlsOptions, authority: &str) -> Result<TlsSetup, RegistryError> {
        let mut roots = RootCertStore::empty();
        if !opts.no_system_roots
            && let Some(bundle) = system_bundle()
            && let Ok(certs) = read_certs(&bundle)
        {
            roots.add_parsable_certificates(certs);
        }
        let mut client_cert = opts.client_cert.clone();
        let mut client_key = opts.client_key.clone();
        if let Some(ca) = &opts.ca_file {
            let certs = read_certs(ca).map_err(|detail| RegistryError::TlsFile {
                what: "the CA file",
                path: ca.clone(),
                detail,
            })?;
            add_cas(&mut roots, certs, ca)?;
        }
        if let Some(dir) = &opts.certs_dir {
            let host_dir = dir.join(authority);
            let dir = if host_dir.is_dir() {
                host_dir
            } else {
                dir.clone()
            };
            let entries = std::fs::read_dir(&dir).map_err(|e| RegistryError::TlsFile {
                what: "the certificate directory",
                path: dir.clone(),
                detail: e.to_string(),
            })?;
            let mut names: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            names.sort();
            for p in names {
                match p.extension().and_then(|e| e.to_str()) {
                    Some("crt") => {
                        let certs = read_certs(&p).map_err(|detail| RegistryError::TlsFile {
                            what: "the CA file",
                            path: p.clone(),
                            detail,
                        })?;
                        add_cas(&mut roots, certs, &p)?;
                    }
                    Some("cert") if client_cert.is_none() => {
                        let key = p.with_extension("key");
                        if key.is_file() {
                            client_cert = Some(p.clone());
                            client_key = Some(key);
                        }
                    }
                    _ => {}
                }
            }
        }
        let client_auth = match (client_cert, client_key) {
            (Some(c), Some(k)) => {
                let certs = read_certs(&c).map_err(|detail| RegistryError::TlsFile {
                    what: "the client certificate",
                    path: c.clone(),
                    detail,
                })?;
                let key = read_key(&k).map_err(|detail| RegistryError::TlsFile {
                    what: "the client key",
                    path: k.clone(),
                    detail,
                })?;
                Some((certs, Arc::new(key)))
            }
            (Some(c), None) | (None, Some(c)) => {
                return Err(RegistryError::TlsFile {
                    what: "a client certificate without its key (or a key without its certificate):",
                    path: c,
                    detail: "give both the client certificate and the client key".into(),
                });
            }
            (None, None) => None,
        };
        Ok(TlsSetup {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            roots: Arc::new(roots),
            client_auth,
            insecure: opts.insecure,
        })
    }

    fn verifier(&self) -> Result<Arc<dyn ServerCertVerifier>, String> {
        if self.insecure {
            return Ok(Arc::new(NoVerify(self.provider.clone())));
        }
        let v: Arc<dyn ServerCertVerifier> =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
                .build()
                .map_err(|e| {
                    format!("no usable CA certificate (system store empty and no CA given): {e}")
                })?;
        Ok(v)
    }

    fn config_with(&self, verifier: Arc<dyn ServerCertVerifier>) -> Result<ClientConfig, String> {
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut cfg = match &self.client_auth {
            Some((certs, key)) => builder
                .with_client_auth_cert(certs.clone(), key.clone_key())
                .map_err(|e| format!("client certificate and key do not match: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        // HTTP/1.1 only: one connection per concurrent blob spreads TLS work over the cores and
        // a stalled connection stalls one transfer, not all of them.
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }

    pub(crate) fn client_config(&self) -> Result<ClientConfig, String> {
        self.config_with(self.verifier()?)
    }

    /// The chain the server presents, from a handshake of its own (for the operator's record
    /// of what was trusted). Blocking: call it from `spawn_blocking`.
    pub(crate) fn server_chain(&self, host: &str, port: u16) -> Option<CertSummary> {
        let recorder = Arc::new(Recorder {
            inner: self.verifier().ok()?,
            seen: Mutex::new(None),
        });
        let cfg = Arc::new(self.config_with(recorder.clone()).ok()?);
        let name = ServerName::try_from(host.to_string()).ok()?;
        let mut tcp = connect(host, port).ok()?;
        let mut conn = rustls::ClientConnection::new(cfg, name).ok()?;
        while conn.is_handshaking() {
            if conn.complete_io(&mut tcp).is_err() {
                break;
            }
        }
        let (chain, _) = recorder.seen.lock().ok()?.take()?;
        Some(CertSummary::from_chain(&chain))
    }

    /// Re-does the handshake outside the HTTP client to learn what exactly failed. Blocking:
    /// call it from `spawn_blocking`.
    pub(crate) fn diagnose(
        &self,
        host: &str,
        port: u16,
        authority: &str,
        original: &str,
    ) -> RegistryError {
        let generic = |detail: String| RegistryError::Tls {
            host: authority.to_string(),
            detail,
        };
        let inner = match self.verifier() {
            Ok(v) => v,
            Err(e) => return generic(e),
        };
        let recorder = Arc::new(Recorder {
            inner,
            seen: Mutex::new(None),
        });
        let cfg = match self.config_with(recorder.clone()) {
            Ok(c) => Arc::new(c),
            Err(e) => return generic(e),
        };
        let name = match ServerName::try_from(host.to_string()) {
            Ok(n) => n,
            Err(e) => return generic(format!("{host} is not a valid TLS server name: {e}")),
        };
        let mut tcp = match connect(host, port) {
            Ok(t) => t,
            Err(e) => return generic(format!("{original} (diagnosis could not reconnect: {e})")),
        };
        let mut conn = match rustls::ClientConnection::new(cfg, name) {
            Ok(c) => c,
            Err(e) => return generic(e.to_string()),
        };
        let mut handshake = Ok(());
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut tcp) {
                handshake = Err(e);
                break;
            }
        }
        let seen = recorder.seen.lock().ok().and_then(|mut g| g.take());
        if let Some((chain, Some(err))) = seen {
            let summary = CertSummary::from_chain(&chain);
            return classify(err, summary, authority);
        }
        match handshake {
            Ok(()) => generic(original.to_string()),
            Err(e) => {
                let rustls_err = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .cloned();
                if matches!(
                    rustls_err,
                    Some(rustls::Error::InvalidMessage(_))
                        | Some(rustls::Error::InappropriateMessage { .. })
                ) && speaks_plain_http(host, port)
                {
                    return RegistryError::PlainHttpServer {
                        host: authority.to_string(),
                    };
                }
                generic(format!("{e}"))
            }
        }
    }
}

fn classify(err: rustls::Error, chain: CertSummary, authority: &str) -> RegistryError {
    let host = authority.to_string();
    let first = chain.0.first().cloned();
    match err {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                let issuer = chain
                    .0
                    .last()
                    .map(|c| c.issuer.clone())
                    .unwrap_or_else(|| "an unknown issuer".into());
                RegistryError::CertNotTrusted {
                    host,
                    authority: authority.to_string(),
                    issuer,
                    chain,
                }
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                let sans = chain.leaf_sans();
                RegistryError::CertNameMismatch {
                    host: host_only(authority),
                    sans,
                    chain,
                }
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => RegistryError::CertExpired {
                host,
                not_before: first
                    .as_ref()
                    .map(|c| c.not_before.clone())
                    .unwrap_or_default(),
                not_after: first.map(|c| c.not_after).unwrap_or_default(),
                chain,
            },
            other => RegistryError::Tls {
                host,
                detail: format!("the certificate was rejected ({other:?}).\n{chain}"),
            },
        },
        other => RegistryError::Tls {
            host,
            detail: format!("{other}.\n{chain}"),
        },
    }
}

fn host_only(authority: &str) -> String {
    match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => {
            h.trim_start_matches('[').trim_end_matches(']').to_string()
        }
        _ => authority.to_string(),
    }
}

fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::other("no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                s.set_write_timeout(Some(Duration::from_secs(5)))?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn speaks_plain_http(host: &str, port: u16) -> bool {
    let Ok(mut s) = connect(host, port) else {
        return false;
    };
    if s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).is_ok() && &buf == b"HTTP/"
}

#[derive(Debug)]
struct Recorder {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Mutex<Option<(Vec<CertificateDer<'static>>, Option<rustls::Error>)>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut g) = self.seen.lock() {
            *g = Some((chain, result.as_ref().err().cloned()));
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The explicit insecure mode: any certificate, but handshake signatures are still checked so
/// the connection is at least consistent.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn system_bundle() -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("SSL_CERT_FILE") {
        return Some(PathBuf::from(f));
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<_, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err("it holds no PEM certificate".into());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => "it holds no PEM private key".into(),
        other => pem_error(other),
    })
}

fn pem_error(e: pem::Error) -> String {
    match e {
        pem::Error::Io(io) => io.to_string(),
        other => format!("it is not valid PEM: {other}"),
    }
}

fn add_cas(
    roots: &mut RootCertStore,
    certs: Vec<CertificateDer<'static>>,
    path: &Path,
) -> Result<(), RegistryError> {
    for c in certs {
        roots.add(c).map_err(|e| RegistryError::TlsFile {
            what: "the CA file",
            path: path.to_path_buf(),
            detail: format!("a certificate in it is not usable as a CA: {e}"),
        })?;
    }
    Ok(())
}
