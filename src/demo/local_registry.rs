//! A throwaway registry for the demo: Debian's `docker-registry` (CNCF distribution) on
//! 127.0.0.1 with TLS from a CA made for this run and htpasswd authentication, stopped when the
//! demo ends. The TLS material and the htpasswd file are made in process; only the registry
//! binary comes from the machine, installed with apt-get first when it is missing and we are root.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Context, Result, bail, eyre};

pub const USER: &str = "demo";

pub struct LocalRegistry {
    pub address: String,
    pub ca_file: PathBuf,
    pub password_file: PathBuf,
    child: Child,
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A CA and a server certificate for 127.0.0.1 and localhost, valid for two days, made in
/// process so the demo needs no `openssl` on the machine.
fn write_tls(ca_file: &Path, crt: &Path, key: &Path) -> Result<()> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let now = time::OffsetDateTime::now_utc();
    let (not_before, not_after) = (
        now - time::Duration::hours(1),
        now + time::Duration::days(2),
    );
    let mut ca = CertificateParams::new(Vec::new()).wrap_err("CA parameters")?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ckf-airgap demo CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (ca.not_before, ca.not_after) = (not_before, not_after);
    let ca_key = KeyPair::generate().wrap_err("cannot make the demo CA key")?;
    let ca_cert = ca
        .self_signed(&ca_key)
        .wrap_err("cannot make the demo CA")?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .wrap_err("server certificate parameters")?;
    server
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    (server.not_before, server.not_after) = (not_before, not_after);
    let server_key = KeyPair::generate().wrap_err("cannot make the demo server key")?;
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .wrap_err("cannot sign the demo server certificate")?;

    crate::durable::write_file(ca_file, ca_cert.pem().as_bytes())?;
    crate::durable::write_file(crt, server_cert.pem().as_bytes())?;
    crate::durable::write_file(key, server_key.serialize_pem().as_bytes())?;
    Ok(())
}

/// The registry command, installed first when it is missing and this is a Debian or Ubuntu
/// machine where we run as root; otherwise the one command that installs it.
fn registry_program() -> Result<&'static str> {
    let find = || {
        ["docker-registry", "registry"]
            .into_iter()
            .find(|p| Command::new(p).arg("--version").output().is_ok())
    };
    if let Some(program) = find() {
        return Ok(program);
    }
    const INSTALL: &str = "apt-get update && apt-get install -y docker-registry";
    let root = rustix::process::geteuid().is_root();
    let apt = Command::new("apt-get").arg("--version").output().is_ok();
    if !(root && apt) {
        bail!(
            "the demo needs Debian's docker-registry and it is not installed: run `sudo sh -c '{INSTALL}'` (Debian or Ubuntu), or put a CNCF distribution `registry` binary on PATH"
        );
    }
    eprintln!(
        "docker-registry is not installed: installing it with `{INSTALL}` (Debian/Ubuntu, as root)"
    );
    let status = Command::new("sh")
        .args(["-c", INSTALL])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .wrap_err("cannot run apt-get")?;
    if !status.success() {
        bail!("`{INSTALL}` failed ({status}): run it yourself and see its output");
    }
    find().ok_or_else(|| eyre!("docker-registry is still not on PATH after `{INSTALL}`"))
}

/// Starts the registry under `dir` with htpasswd authentication and waits until it listens.
pub fn start(dir: &Path) -> Result<LocalRegistry> {
    start_with(dir, true)
}

/// As [`start`], but anonymous, as the public registries are to a pull: the demo's upstream.
pub fn start_open(dir: &Path) -> Result<LocalRegistry> {
    start_with(dir, false)
}

fn start_with(dir: &Path, authenticated: bool) -> Result<LocalRegistry> {
    std::fs::create_dir_all(dir)?;
    let ca_file = dir.join("ca.crt");
    let key = dir.join("server.key");
    let crt = dir.join("server.crt");
    write_tls(&ca_file, &crt, &key)?;
    let password = format!("demo-{:x}", std::process::id() ^ 0x5eed);
    let password_file = dir.join("password");
    crate::durable::write_file(&password_file, password.as_bytes())?;
    let htpasswd = dir.join("htpasswd");
    // The registry's htpasswd accepts bcrypt only; cost 5 keeps each login fast for a demo.
    let hash = bcrypt::hash(&password, 5).wrap_err("cannot hash the demo password")?;
    crate::durable::write_file(&htpasswd, format!("{USER}:{hash}\n").as_bytes())?;
    let port = free_port()?;
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage)?;
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n{}",
            storage.display(),
            crt.display(),
            key.display(),
            if authenticated {
                format!(
                    "auth:\n  htpasswd:\n    realm: ckf-airgap-demo\n    path: {}\n",
                    htpasswd.display()
                )
            } else {
                String::new()
            }
        ),
    )?;
    let program = registry_program()?;
    let mut child = Command::new(program)
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .wrap_err("cannot start docker-registry")?;
    // The registry says when it listens; read its log instead of guessing a delay.
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| eyre!("no registry log"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("listening on") => break,
            Some(Ok(_)) if Instant::now() < deadline => {}
            _ => {
                let _ = child.kill();
                bail!("docker-registry did not start on 127.0.0.1:{port}");
            }
        }
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(LocalRegistry {
        address: format!("127.0.0.1:{port}"),
        ca_file,
        password_file,
        child,
    })
}
