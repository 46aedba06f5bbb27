//! A real registry for tests: Debian's `docker-registry` (CNCF distribution) on 127.0.0.1 with
//! a per-run CA (openssl CLI), bcrypt htpasswd auth and storage in a tempdir. Stopped on Drop.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const USER: &str = "tester";
pub const PASS: &str = "s3cret-pass";

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA made with the openssl CLI (EC P-256: fast to generate).
pub struct Ca {
    pub crt: PathBuf,
    pub key: PathBuf,
}

pub fn make_ca(dir: &Path, name: &str) -> Ca {
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-sha256",
            "-days",
            "2",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args(["-subj", &format!("/CN={name} test CA")])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
    Ca { crt, key }
}

/// A server certificate signed by `ca` for the given SAN list (e.g. `IP:127.0.0.1`).
pub fn make_server_cert(dir: &Path, ca: &Ca, name: &str, sans: &str) -> (PathBuf, PathBuf) {
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName={sans}\n"
        ),
    )
    .unwrap();
    run(Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-sha256",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(["-subj", &format!("/CN={name}")]));
    run(Command::new("openssl")
        .args(["x509", "-req", "-sha256", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca.crt)
        .arg("-CAkey")
        .arg(&ca.key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&crt));
    (crt, key)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct RegistryOptions {
    /// Subject alternative names of the server certificate; `None` serves plain HTTP.
    pub sans: Option<String>,
    /// Bearer tokens from a token issuer of the tests (`auth: token`) instead of htpasswd.
    pub token_auth: bool,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            sans: Some("IP:127.0.0.1".into()),
            token_auth: false,
        }
    }
}

pub struct TestRegistry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// A directory holding only `ca.crt` (skopeo `--cert-dir`, our `certs_dir`).
    pub cert_dir: PathBuf,
    pub ca_file: PathBuf,
    pub tls: bool,
    config: PathBuf,
    child: Arc<Mutex<Option<Child>>>,
    log: PathBuf,
    /// The token issuer in front, when the registry asks for Bearer tokens.
    pub token: Option<super::token::TokenIssuer>,
}

impl TestRegistry {
    pub fn start() -> TestRegistry {
        TestRegistry::start_with(RegistryOptions::default())
    }

    pub fn start_with(opts: RegistryOptions) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        let ca = make_ca(d, "ca");
        let cert_dir = d.join("certs");
        std::fs::create_dir_all(&cert_dir).unwrap();
        std::fs::copy(&ca.crt, cert_dir.join("ca.crt")).unwrap();
        let tls_block = match &opts.sans {
            Some(sans) => {
                let (crt, key) = make_server_cert(d, &ca, "server", sans);
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    crt.display(),
                    key.display()
                )
            }
            None => String::new(),
        };
        let htpasswd = d.join("htpasswd");
        run(Command::new("htpasswd")
            .arg("-Bbc")
            .arg(&htpasswd)
            .arg(USER)
            .arg(PASS));
        let token = opts
            .token_auth
            .then(|| super::token::TokenIssuer::start(d, USER, PASS));
        let auth_block = match &token {
            Some(t) => format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                t.realm(),
                super::token::SERVICE,
                super::token::ISSUER,
                t.cert.display()
            ),
            None => format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                htpasswd.display()
            ),
        };
        let storage = d.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let config = d.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: fixed-test-secret\n{tls_block}{auth_block}",
                storage.display(),
            ),
        )
        .unwrap();
        let mut r = TestRegistry {
            log: d.join("registry.log"),
            ca_file: ca.crt.clone(),
            tls: opts.sans.is_some(),
            dir,
            port,
            cert_dir,
            config,
            child: Arc::new(Mutex::new(None)),
            token,
        };
        r.start_again();
        r
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Starts the registry (again) on the same port and storage; waits for its "listening on"
    /// log line.
    pub fn start_again(&mut self) {
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker-registry must be installed (apt-get install docker-registry)");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap();
            // Keeps draining after readiness so the registry never blocks on a full pipe.
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(file, "{line}");
                let _ = tx.send(line);
            }
        });
        *self.child.lock().unwrap() = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("listening on") => break,
                Ok(_) => continue,
                Err(e) => panic!(
                    "registry did not start ({e}); log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ),
            }
        }
    }

    /// Kills the registry and starts it again on the same port and storage with another
    /// `http.secret`, as a registry without a fixed secret does at every start: the state
    /// tokens of the uploads it had begun no longer verify, so it answers 404 to each.
    pub fn restart_forgetting_uploads(&mut self) {
        self.stop();
        let config = std::fs::read_to_string(&self.config).unwrap();
        let (head, rest) = config.split_once("  secret: ").unwrap();
        let (_, tail) = rest.split_once('\n').unwrap();
        let secret = format!("secret-{}", std::process::id() ^ self.port as u32);
        std::fs::write(&self.config, format!("{head}  secret: {secret}\n{tail}")).unwrap();
        self.start_again();
    }

    /// SIGKILL, like a crash or a pulled plug.
    pub fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A handle other threads (e.g. a progress callback) can use to kill the registry.
    pub fn killer(&self) -> impl Fn() + Send + Sync + 'static {
        let child = self.child.clone();
        move || {
            if let Some(mut c) = child.lock().unwrap().take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}
