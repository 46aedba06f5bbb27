//! A throwaway registry for the demo: Debian's `docker-registry` (CNCF distribution) on
//! 127.0.0.1 with TLS from a CA made for this run and htpasswd authentication, stopped when the
//! demo ends. It needs the `docker-registry`, `openssl` and `htpasswd` (apache2-utils) commands.

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

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().wrap_err_with(|| {
        format!(
            "cannot run {what}: install it (apt-get install docker-registry apache2-utils openssl)"
        )
    })?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts the registry under `dir` and waits until it listens.
pub fn start(dir: &Path) -> Result<LocalRegistry> {
    std::fs::create_dir_all(dir)?;
    let ca_key = dir.join("ca.key");
    let ca_file = dir.join("ca.crt");
    run(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
            ])
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca_file)
            .args([
                "-subj",
                "/CN=ckf-airgap demo CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ]),
        "openssl (CA)",
    )?;
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let crt = dir.join("server.crt");
    run(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr),
        "openssl (server key)",
    )?;
    let ext = dir.join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )?;
    run(
        Command::new("openssl")
            .args(["x509", "-req", "-sha256", "-days", "2", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&ca_file)
            .arg("-CAkey")
            .arg(&ca_key)
            .args(["-CAcreateserial", "-extfile"])
            .arg(&ext)
            .arg("-out")
            .arg(&crt),
        "openssl (server certificate)",
    )?;
    let password = format!("demo-{:x}", std::process::id() ^ 0x5eed);
    let password_file = dir.join("password");
    crate::durable::write_file(&password_file, password.as_bytes())?;
    let htpasswd = dir.join("htpasswd");
    run(
        Command::new("htpasswd")
            .arg("-Bbc")
            .arg(&htpasswd)
            .arg(USER)
            .arg(&password),
        "htpasswd",
    )?;
    let port = free_port()?;
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage)?;
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n\
             auth:\n  htpasswd:\n    realm: ckf-airgap-demo\n    path: {}\n",
            storage.display(),
            crt.display(),
            key.display(),
            htpasswd.display()
        ),
    )?;
    let program = ["docker-registry", "registry"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok())
        .ok_or_else(|| eyre!("no docker-registry command: apt-get install docker-registry"))?;
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
