//! Fault-injecting proxies in front of the real registry.
//!
//! - [`TcpProxy`]: byte-level passthrough (works with TLS); counts client→server bytes and can
//!   freeze one connection once a byte threshold is crossed (a stalled upload).
//! - [`HttpProxy`]: HTTP/1.1-aware (registry on plain HTTP behind it); answers chosen requests
//!   with an injected status such as 429 + `Retry-After`, and with [`BodyRules`] behaves like a
//!   reverse proxy in front of a registry: a body-size limit (413), no chunked request bodies
//!   (411), or a connection cut part-way through an upload body. Like nginx by default, it
//!   reads a whole `PATCH` body before passing it on, so a cut body never reaches the registry.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct TcpShared {
    up_bytes: AtomicU64,
    down_bytes: AtomicU64,
    // Total client→server byte count at which one connection freezes; consumed when it fires.
    stall_at: Mutex<Option<u64>>,
    // The same for server→client bytes (a stalled download).
    down_stall_at: Mutex<Option<u64>>,
    stalled: Mutex<bool>,
    stalled_cv: Condvar,
    shutdown: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

pub struct TcpProxy {
    pub port: u16,
    shared: Arc<TcpShared>,
}

impl TcpProxy {
    pub fn start(upstream_port: u16) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(TcpShared::default());
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.shutdown.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    continue;
                };
                if let (Ok(c), Ok(sv)) = (client.try_clone(), server.try_clone()) {
                    s.conns.lock().unwrap().extend([c, sv]);
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let sh = s.clone();
                std::thread::spawn(move || pump(client, server, &sh, true));
                let sh = s.clone();
                std::thread::spawn(move || pump(s2, c2, &sh, false));
            }
        });
        TcpProxy { port, shared }
    }

    /// Freezes the connection on which `bytes` more client→server bytes have passed (once).
    pub fn stall_once_after(&self, bytes: u64) {
        let now = self.shared.up_bytes.load(Ordering::SeqCst);
        *self.shared.stall_at.lock().unwrap() = Some(now + bytes);
    }

    /// Freezes the connection on which `bytes` more server→client bytes have passed (once).
    pub fn stall_download_once_after(&self, bytes: u64) {
        let now = self.shared.down_bytes.load(Ordering::SeqCst);
        *self.shared.down_stall_at.lock().unwrap() = Some(now + bytes);
    }

    /// Waits (with a deadline) until a connection has frozen.
    pub fn wait_stalled(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut g = self.shared.stalled.lock().unwrap();
        while !*g {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self.shared.stalled_cv.wait_timeout(g, left).unwrap().0;
        }
        true
    }

    pub fn up_bytes(&self) -> u64 {
        self.shared.up_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.stalled_cv.notify_all();
        for c in self.shared.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, s: &TcpShared, upstream: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let (counter, threshold) = if upstream {
                (&s.up_bytes, &s.stall_at)
            } else {
                (&s.down_bytes, &s.down_stall_at)
            };
            let total = counter.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            let fire = {
                let mut at = threshold.lock().unwrap();
                match *at {
                    Some(t) if total >= t => {
                        *at = None;
                        true
                    }
                    _ => false,
                }
            };
            if fire {
                *s.stalled.lock().unwrap() = true;
                s.stalled_cv.notify_all();
                // Frozen: nothing more is read or forwarded on this connection, so the
                // sender's buffer fills and its bytes stop moving. Ends when the proxy is
                // dropped.
                while !s.shutdown.load(Ordering::SeqCst) {
                    let g = s.stalled.lock().unwrap();
                    let _ = s
                        .stalled_cv
                        .wait_timeout(g, Duration::from_millis(200))
                        .unwrap();
                }
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// An injected answer for matching requests.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: &'static str,
    pub path_contains: &'static str,
    pub status: u16,
    pub retry_after: Option<u32>,
    pub body: &'static str,
    pub times: u32,
}

/// Makes the proxy a Bearer-token front: clients must get a token from `/token` (Basic auth
/// with `user:pass`) and the proxy swaps the token for Basic credentials upstream.
#[derive(Clone, Debug)]
pub struct BearerFront {
    pub user: &'static str,
    pub pass: &'static str,
}

const TOKEN: &str = "test-token-1";

/// Reverse-proxy behaviour for request bodies.
#[derive(Clone, Debug, Default)]
pub struct BodyRules {
    /// Bodies larger than this are answered 413 (nginx's `client_max_body_size`).
    pub max_body: Option<u64>,
    /// Chunked transfer encoding is answered 411 Length Required.
    pub refuse_chunked: bool,
    /// Once this many more `PATCH` body bytes have arrived, the connection carrying them is
    /// cut (once) before the body is passed on.
    pub cut_patch_after: Option<u64>,
    /// A chunked-encoded body is dropped with the connection, unanswered, once it passes this
    /// many bytes (proxies that give up on an unbounded body instead of answering 413).
    pub drop_streamed_over: Option<u64>,
}

/// One `PATCH` as the proxy saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchSeen {
    pub chunked: bool,
    /// Body bytes received from the client (all of them, or up to the cut).
    pub received: u64,
    /// Answered by the proxy itself (413/411) or cut: the registry never saw it.
    pub refused: Option<u16>,
}

#[derive(Default)]
struct HttpShared {
    rules: BodyRules,
    cut_at: Mutex<Option<u64>>,
    patch_bytes: AtomicU64,
    patches: Mutex<Vec<PatchSeen>>,
    bearer: Option<BearerFront>,
    token_requests: Mutex<Vec<String>>,
    port: u16,
    faults: Mutex<Vec<Fault>>,
    injected: Mutex<Vec<String>>,
    requests: Mutex<Vec<String>>,
}

pub struct HttpProxy {
    pub port: u16,
    shared: Arc<HttpShared>,
}

impl HttpProxy {
    pub fn start(upstream_port: u16, faults: Vec<Fault>) -> HttpProxy {
        HttpProxy::start_with(upstream_port, faults, None)
    }

    pub fn start_with(
        upstream_port: u16,
        faults: Vec<Fault>,
        bearer: Option<BearerFront>,
    ) -> HttpProxy {
        HttpProxy::start_full(upstream_port, faults, bearer, BodyRules::default())
    }

    /// A reverse proxy with body rules in front of the registry.
    pub fn start_rules(upstream_port: u16, rules: BodyRules) -> HttpProxy {
        HttpProxy::start_full(upstream_port, Vec::new(), None, rules)
    }

    pub fn start_full(
        upstream_port: u16,
        faults: Vec<Fault>,
        bearer: Option<BearerFront>,
        rules: BodyRules,
    ) -> HttpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(HttpShared {
            cut_at: Mutex::new(rules.cut_patch_after),
            rules,
            bearer,
            port,
            faults: Mutex::new(faults),
            ..Default::default()
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve_http(client, upstream_port, &s);
                });
            }
        });
        HttpProxy { port, shared }
    }

    /// "METHOD path → status" for every injected answer.
    pub fn injected(&self) -> Vec<String> {
        self.shared.injected.lock().unwrap().clone()
    }

    /// The query of every token request, in order.
    pub fn token_requests(&self) -> Vec<String> {
        self.shared.token_requests.lock().unwrap().clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Every `PATCH`, in order of arrival.
    pub fn patches(&self) -> Vec<PatchSeen> {
        self.shared.patches.lock().unwrap().clone()
    }
}

/// Collects a body while counting `PATCH` bytes; fails once the cut threshold is crossed.
struct BodyCollector<'a> {
    shared: &'a HttpShared,
    patch: bool,
    drop_over: Option<u64>,
    data: Vec<u8>,
    cut: bool,
}

impl Write for BodyCollector<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.patch {
            let total = self
                .shared
                .patch_bytes
                .fetch_add(buf.len() as u64, Ordering::SeqCst)
                + buf.len() as u64;
            let mut at = self.shared.cut_at.lock().unwrap();
            if at.is_some_and(|t| total >= t) {
                *at = None;
                self.cut = true;
                self.data.extend_from_slice(buf);
                return Err(std::io::Error::other("cut by the proxy"));
            }
        }
        self.data.extend_from_slice(buf);
        if self.drop_over.is_some_and(|m| self.data.len() as u64 > m) {
            self.cut = true;
            return Err(std::io::Error::other("dropped by the proxy"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Payload bytes of a collected body (chunked framing removed from the count).
fn payload_len(head: &Head, raw: &[u8]) -> u64 {
    if !head.chunked {
        return raw.len() as u64;
    }
    let mut n = 0u64;
    let mut rest = raw;
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return n;
        };
        let line = String::from_utf8_lossy(&rest[..eol]).to_string();
        let size =
            u64::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if size == 0 {
            return n;
        }
        n += size;
        let skip = eol + 2 + size as usize + 2;
        if skip >= rest.len() {
            return n;
        }
        rest = &rest[skip..];
    }
}

/// Applies the body rules to a request; `Ok(Some(body))` to pass it on, `Ok(None)` when the
/// proxy answered it (and the connection ends), `Err` when it cut the connection.
fn apply_rules(
    cr: &mut BufReader<TcpStream>,
    cw: &mut TcpStream,
    head: &Head,
    method: &str,
    s: &HttpShared,
) -> std::io::Result<Option<Vec<u8>>> {
    let patch = method == "PATCH";
    let mut body = BodyCollector {
        shared: s,
        patch,
        drop_over: s.rules.drop_streamed_over.filter(|_| head.chunked),
        data: Vec::new(),
        cut: false,
    };
    let copied = copy_body(cr, &mut body, head);
    let received = payload_len(head, &body.data);
    let mut seen = PatchSeen {
        chunked: head.chunked,
        received,
        refused: None,
    };
    if body.cut {
        seen.refused = Some(0);
        s.patches.lock().unwrap().push(seen);
        let _ = cw.shutdown(Shutdown::Both);
        return Err(std::io::Error::other("cut"));
    }
    copied?;
    let refuse = if s.rules.refuse_chunked && head.chunked {
        Some((411, "Length Required"))
    } else if s.rules.max_body.is_some_and(|m| received > m) {
        Some((413, "Request Entity Too Large"))
    } else {
        None
    };
    if patch {
        seen.refused = refuse.map(|(c, _)| c);
        s.patches.lock().unwrap().push(seen);
    }
    if let Some((code, text)) = refuse {
        let body = format!("<html><body><h1>{code} {text}</h1>nginx</body></html>");
        write!(
            cw,
            "HTTP/1.1 {code} {text}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        cw.flush()?;
        return Ok(None);
    }
    Ok(Some(body.data))
}

struct Head {
    raw: Vec<u8>,
    authorization: Option<String>,
    first: String,
    content_length: Option<u64>,
    chunked: bool,
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut first = String::new();
    let mut content_length = None;
    let mut chunked = false;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(line.as_bytes());
        let t = line.trim_end();
        if first.is_empty() {
            first = t.to_string();
            continue;
        }
        if t.is_empty() {
            break;
        }
        if let Some((k, v)) = t.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "authorization" {
                authorization = Some(v.to_string());
            }
            if k == "content-length" {
                content_length = v.parse().ok();
            }
            if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
    }
    Ok(Some(Head {
        raw,
        authorization,
        first,
        content_length,
        chunked,
    }))
}

/// Copies a body framed by Content-Length or chunked encoding (`sink` may discard it).
fn copy_body(r: &mut impl BufRead, w: &mut impl Write, head: &Head) -> std::io::Result<()> {
    if head.chunked {
        loop {
            let mut line = String::new();
            r.read_line(&mut line)?;
            w.write_all(line.as_bytes())?;
            let size =
                u64::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                loop {
                    let mut t = String::new();
                    r.read_line(&mut t)?;
                    w.write_all(t.as_bytes())?;
                    if t.trim().is_empty() {
                        return Ok(());
                    }
                }
            }
            std::io::copy(&mut r.by_ref().take(size + 2), w)?;
        }
    } else if let Some(n) = head.content_length {
        std::io::copy(&mut r.by_ref().take(n), w)?;
    }
    Ok(())
}

fn serve_http(client: TcpStream, upstream_port: u16, s: &HttpShared) -> std::io::Result<()> {
    let server = TcpStream::connect(("127.0.0.1", upstream_port))?;
    let mut cr = BufReader::new(client.try_clone()?);
    let mut cw = client;
    let mut sr = BufReader::new(server.try_clone()?);
    let mut sw = server;
    while let Some(req) = read_head(&mut cr)? {
        let mut parts = req.first.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        s.requests.lock().unwrap().push(format!("{method} {path}"));
        // A fault fires on a request the registry would otherwise answer (behind a Bearer
        // front: one that carries its token), so an authentication round trip never uses it up.
        let take_fault = || {
            let mut faults = s.faults.lock().unwrap();
            faults
                .iter_mut()
                .find(|f| f.times > 0 && f.method == method && path.contains(f.path_contains))
                .map(|f| {
                    f.times -= 1;
                    f.clone()
                })
        };
        let inject = |cr: &mut BufReader<TcpStream>,
                      cw: &mut TcpStream,
                      f: Fault|
         -> std::io::Result<()> {
            copy_body(cr, &mut std::io::sink(), &req)?;
            s.injected
                .lock()
                .unwrap()
                .push(format!("{method} {path} -> {}", f.status));
            let mut retry = f
                .retry_after
                .map(|r| format!("Retry-After: {r}\r\n"))
                .unwrap_or_default();
            if matches!(f.status, 307 | 308) {
                // A redirect to the same place: the client must send the request again.
                retry.push_str(&format!("Location: {path}\r\n"));
            }
            write!(
                cw,
                "HTTP/1.1 {} Injected\r\n{retry}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                f.status,
                f.body.len(),
                f.body
            )?;
            cw.flush()
        };
        if let Some(b) = &s.bearer {
            use base64::Engine;
            let basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", b.user, b.pass))
            );
            if let Some(query) = path.strip_prefix("/token") {
                copy_body(&mut cr, &mut std::io::sink(), &req)?;
                s.token_requests.lock().unwrap().push(query.to_string());
                let (status, body) = if req.authorization.as_deref() == Some(basic.as_str()) {
                    ("200 OK", format!(r#"{{"token":"{TOKEN}"}}"#))
                } else {
                    ("401 Unauthorized", String::new())
                };
                write!(
                    cw,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )?;
                cw.flush()?;
                continue;
            }
            if req.authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
                copy_body(&mut cr, &mut std::io::sink(), &req)?;
                write!(
                    cw,
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{}/token\",service=\"test-registry\"\r\nContent-Length: 0\r\n\r\n",
                    s.port
                )?;
                cw.flush()?;
                continue;
            }
            if let Some(f) = take_fault() {
                return inject(&mut cr, &mut cw, f);
            }
            // Swap the token for the registry's own Basic credentials.
            let head = String::from_utf8_lossy(&req.raw).to_string();
            let rewritten: String = head
                .split_inclusive("\r\n")
                .map(|line| {
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        format!("Authorization: {basic}\r\n")
                    } else {
                        line.to_string()
                    }
                })
                .collect();
            sw.write_all(rewritten.as_bytes())?;
            copy_body(&mut cr, &mut sw, &req)?;
            sw.flush()?;
            if !relay_response(&mut sr, &mut cw, &method)? {
                return Ok(());
            }
            continue;
        }
        if let Some(f) = take_fault() {
            return inject(&mut cr, &mut cw, f);
        }
        let rules = &s.rules;
        if rules.max_body.is_some()
            || rules.refuse_chunked
            || rules.cut_patch_after.is_some()
            || rules.drop_streamed_over.is_some()
        {
            let Some(body) = apply_rules(&mut cr, &mut cw, &req, &method, s)? else {
                return Ok(());
            };
            sw.write_all(&req.raw)?;
            sw.write_all(&body)?;
        } else {
            if method == "PATCH" {
                s.patches.lock().unwrap().push(PatchSeen {
                    chunked: req.chunked,
                    received: req.content_length.unwrap_or(0),
                    refused: None,
                });
            }
            sw.write_all(&req.raw)?;
            copy_body(&mut cr, &mut sw, &req)?;
        }
        sw.flush()?;
        if !relay_response(&mut sr, &mut cw, &method)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Relays one response; false when the connection must end (body delimited by close).
fn relay_response(
    sr: &mut impl BufRead,
    cw: &mut TcpStream,
    method: &str,
) -> std::io::Result<bool> {
    let Some(resp) = read_head(sr)? else {
        return Ok(false);
    };
    cw.write_all(&resp.raw)?;
    let status: u16 = resp
        .first
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if method != "HEAD" && status != 204 && status != 304 && !(100..200).contains(&status) {
        if resp.chunked || resp.content_length.is_some() {
            copy_body(sr, cw, &resp)?;
        } else {
            std::io::copy(sr, cw)?;
            return Ok(false);
        }
    }
    cw.flush()?;
    Ok(true)
}
