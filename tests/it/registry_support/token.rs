//! A small token issuer for the registry's `auth: token` mode, as Docker Hub, Harbor and GHCR
//! work: `GET /token?service=…&scope=…` with Basic credentials answers a JWT (RS256, the
//! signing certificate in its `x5c` header) granting the scopes asked for; the registry
//! trusts the certificate through its `rootcertbundle`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

pub const SERVICE: &str = "test-registry";
pub const ISSUER: &str = "test-issuer";

pub struct TokenIssuer {
    pub port: u16,
    /// The signing certificate: the registry's `rootcertbundle`.
    pub cert: PathBuf,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl TokenIssuer {
    pub fn start(dir: &Path, user: &'static str, pass: &'static str) -> TokenIssuer {
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=test-token-issuer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pkcs8 = PrivatePkcs8KeyDer::from_pem_file(&key).unwrap();
        let pair = Arc::new(RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()).unwrap());
        let cert_der = CertificateDer::from_pem_file(&cert).unwrap();
        let x5c = STANDARD.encode(cert_der.as_ref());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let basic = format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
        std::thread::spawn(move || {
            for stream in listener.incoming().take(10_000) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut authorized = false;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h
                        .strip_prefix("Authorization: ")
                        .or_else(|| h.strip_prefix("authorization: "))
                    {
                        authorized = v.trim() == basic;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                seen.lock().unwrap().push(path.clone());
                let (status, body) = if authorized {
                    ("200 OK", token_body(&path, &pair, &x5c, user))
                } else {
                    ("401 Unauthorized", String::new())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenIssuer {
            port,
            cert,
            requests,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let h: String = [bytes.next(), bytes.next()]
                    .iter()
                    .flatten()
                    .map(|b| *b as char)
                    .collect();
                out.push(u8::from_str_radix(&h, 16).unwrap_or(b'?') as char);
            }
            b'+' => out.push(' '),
            b => out.push(b as char),
        }
    }
    out
}

/// A JWT granting every scope the query asks for.
fn token_body(path: &str, pair: &RsaKeyPair, x5c: &str, user: &str) -> String {
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
    let access: Vec<serde_json::Value> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(unescape)
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let kind = parts.next()?.to_owned();
            let name = parts.next()?.to_owned();
            let actions: Vec<String> = parts.next()?.split(',').map(str::to_owned).collect();
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": user, "aud": SERVICE,
        "exp": now + 600, "nbf": now - 60, "iat": now,
        "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig));
    serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 600}).to_string()
}
