//! The distribution-API client: authentication (Basic, Bearer token with per-scope cache),
//! retries with back-off, error classification and the preflight.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};

use super::credentials::{Credentials, ResolvedCredentials};
use super::error::RegistryError;
use super::payload::Payload;
use super::target::RegistryTarget;
use super::tls::{TlsOptions, TlsSetup};

/// Exponential back-off: `base * 2^(attempt-1)` capped at `cap`, at most `max_attempts` tries
/// in all. A `Retry-After` from the server replaces the computed delay (capped at `cap` too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_attempts: 6,
        }
    }
}

impl RetryPolicy {
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.cap);
        }
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// Everything needed to talk to one registry.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    pub target: RegistryTarget,
    pub tls: TlsOptions,
    pub credentials: Credentials,
    pub connect_timeout: Duration,
    /// No byte moved for this long aborts a transfer (and a small request that long unanswered
    /// times out); the transfer is then retried.
    pub stall_timeout: Duration,
    pub retry: RetryPolicy,
}

impl RegistryConfig {
    pub fn new(target: RegistryTarget) -> RegistryConfig {
        RegistryConfig {
            target,
            tls: TlsOptions::default(),
            credentials: Credentials::Anonymous,
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AuthScheme {
    Unknown,
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// What the preflight learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreflightReport {
    /// `Docker-Distribution-Api-Version`, when the registry sends it.
    pub api_version: Option<String>,
    /// "anonymous", "basic" or "bearer".
    pub auth: String,
    /// The repository the push permission was checked on.
    pub checked_repository: String,
}

/// A client for one registry target. Cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    target: RegistryTarget,
    authority: String,
    tls: Option<TlsSetup>,
    creds: Option<ResolvedCredentials>,
    scheme: Mutex<AuthScheme>,
    tokens: Mutex<HashMap<String, String>>,
    stall: Duration,
    retry: RetryPolicy,
    warnings: Vec<String>,
    uploads: Mutex<Option<Arc<dyn UploadJournal>>>,
}

/// Where the upload sessions a push opens are kept until they are committed or cancelled, so
/// that a run killed mid-upload can cancel them when it resumes: a registry keeps an abandoned
/// upload's bytes until its purge runs (days, by default).
pub trait UploadJournal: Send + Sync {
    /// An upload is open at `location` (called again when the registry moves it on).
    fn opened(&self, repo: &str, location: &str);
    /// The upload at `location` is committed, cancelled or unknown to the registry.
    fn closed(&self, location: &str);
}

pub(crate) enum MountOutcome {
    Mounted,
    NotMounted,
}

impl RegistryClient {
    /// Builds the client (reads CA and key files, resolves credentials; no network yet).
    pub fn new(config: RegistryConfig) -> Result<RegistryClient, RegistryError> {
        let authority = config.target.authority();
        let setup_err = |detail: String| RegistryError::ClientSetup {
            host: authority.clone(),
            detail,
        };
        let creds = config.credentials.resolve(&authority)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("ckf-airgap/", env!("CARGO_PKG_VERSION")));
        let (tls, scheme) = if config.tls.plain_http {
            (None, "http")
        } else {
            let setup = TlsSetup::new(&config.tls, &authority)?;
            builder = builder.use_preconfigured_tls(setup.client_config().map_err(setup_err)?);
            (Some(setup), "https")
        };
        let http = builder
            .http1_only()
            .build()
            .map_err(|e| setup_err(e.to_string()))?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                http,
                base: format!("{scheme}://{authority}"),
                warnings: config.tls.warnings(&authority),
                target: config.target,
                authority,
                tls,
                creds,
                scheme: Mutex::new(AuthScheme::Unknown),
                tokens: Mutex::new(HashMap::new()),
                stall: config.stall_timeout,
                retry: config.retry,
                uploads: Mutex::new(None),
            }),
        })
    }

    /// Keeps every upload this client opens in `journal` until it is committed or cancelled.
    pub fn with_upload_journal(self, journal: Arc<dyn UploadJournal>) -> RegistryClient {
        if let Ok(mut j) = self.inner.uploads.lock() {
            *j = Some(journal);
        }
        self
    }

    fn journal(&self) -> Option<Arc<dyn UploadJournal>> {
        self.inner.uploads.lock().ok().and_then(|j| j.clone())
    }

    /// The registry moved an upload on to `location` (a new `_state` after a chunk).
    pub(crate) fn upload_moved(&self, repo: &str, location: &str) {
        if let Some(j) = self.journal() {
            j.opened(repo, location);
        }
    }

    pub(crate) fn upload_closed(&self, location: &str) {
        if let Some(j) = self.journal() {
            j.closed(location);
        }
    }

    /// A plain HTTPS client with this module's trust roots (system bundle, a CA file,
    /// `certs.d`), for other services on the same network paths (Charmhub or its proxy).
    pub fn https_client(
        tls: &TlsOptions,
        authority: &str,
    ) -> Result<reqwest::Client, RegistryError> {
        let setup_err = |detail: String| RegistryError::ClientSetup {
            host: authority.to_owned(),
            detail,
        };
        let setup = TlsSetup::new(tls, authority)?;
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("ckf-airgap/", env!("CARGO_PKG_VERSION")))
            .use_preconfigured_tls(setup.client_config().map_err(setup_err)?)
            .build()
            .map_err(|e| setup_err(e.to_string()))
    }

    /// The server's certificate as this client sees it (subject, issuer, validity); None over
    /// plain HTTP or when the handshake cannot be repeated.
    pub async fn server_certificate(&self) -> Option<super::tls::CertInfo> {
        let tls = self.inner.tls.clone()?;
        let (host, port) = (
            self.inner.target.host().to_owned(),
            self.inner.target.port().unwrap_or(443),
        );
        tokio::task::spawn_blocking(move || tls.server_chain(&host, port))
            .await
            .ok()
            .flatten()
            .and_then(|chain| chain.0.into_iter().next())
    }

    /// Warnings the caller must show (insecure TLS, plain HTTP).
    pub fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    pub fn target(&self) -> &RegistryTarget {
        &self.inner.target
    }

    pub(crate) fn authority(&self) -> &str {
        &self.inner.authority
    }

    pub(crate) fn stall_timeout(&self) -> Duration {
        self.inner.stall
    }

    fn user(&self) -> String {
        match &self.inner.creds {
            Some(c) => format!(" of user {:?}", c.username),
            None => " (anonymous: no credentials were given)".into(),
        }
    }

    pub(crate) fn user_name(&self) -> String {
        self.inner
            .creds
            .as_ref()
            .map(|c| format!("user {:?}", c.username))
            .unwrap_or_else(|| "anonymous".into())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.base, path)
    }

    /// Upload locations may be absolute or relative to the registry.
    pub(crate) fn resolve_location(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else if loc.starts_with('/') {
            format!("{}{}", self.inner.base, loc)
        } else {
            format!("{}/{}", self.inner.base, loc)
        }
    }

    // ---- errors ---------------------------------------------------------------------------

    /// Classifies a transport error; a TLS failure is diagnosed with a second handshake that
    /// records the server's chain.
    pub(crate) async fn transport_error(&self, e: reqwest::Error, during: &str) -> RegistryError {
        let host = self.inner.authority.clone();
        if e.is_timeout() {
            return RegistryError::Timeout {
                host,
                after: self.inner.stall,
                during: during.to_string(),
            };
        }
        let mut tls_failure = false;
        let mut kind = None;
        let mut text = e.to_string();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = cur {
            if err.downcast_ref::<rustls::Error>().is_some() {
                tls_failure = true;
            }
            // `io::Error::source` skips the wrapped error, and TLS errors arrive as an io::Error
            // inside an io::Error: descend through `get_ref` instead.
            cur = match err.downcast_ref::<std::io::Error>() {
                Some(io) => {
                    if io.get_ref().is_none() || kind.is_none() {
                        kind = Some(io.kind());
                    }
                    match io.get_ref() {
                        Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                        None => None,
                    }
                }
                None => err.source(),
            };
            if let Some(next) = cur {
                let next = next.to_string();
                if !text.contains(&next) {
                    text = format!("{text}: {next}");
                }
            }
        }
        if let (true, Some(setup)) = (tls_failure, self.inner.tls.clone()) {
            {
                let (h, p) = (
                    self.inner.target.host().to_string(),
                    self.inner.target.port().unwrap_or(443),
                );
                let authority = self.inner.authority.clone();
                let original = text.clone();
                return tokio::task::spawn_blocking(move || {
                    setup.diagnose(&h, p, &authority, &original)
                })
                .await
                .unwrap_or(RegistryError::Tls { host, detail: text });
            }
        }
        use std::io::ErrorKind as K;
        match kind {
            Some(K::ConnectionRefused) => return RegistryError::ConnectionRefused { host },
            Some(K::TimedOut) => {
                return RegistryError::Timeout {
                    host,
                    after: self.inner.stall,
                    during: during.to_string(),
                };
            }
            _ => {}
        }
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return RegistryError::Dns {
                host: self.inner.target.host().to_string(),
                detail: text,
            };
        }
        RegistryError::Network {
            host,
            during: during.to_string(),
            detail: text,
            retryable: true,
        }
    }

    /// What a refusal becomes: an upload the registry no longer knows (404 on its location,
    /// as after a restart that lost its state) is `UploadLost`, which a push starts again;
    /// anything else is `Http`. The request is named without its query: an upload's `_state`
    /// token is hundreds of characters that mean nothing to the operator.
    pub(crate) fn answer_error(
        &self,
        method: &Method,
        url: &str,
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
        hint: &'static str,
    ) -> RegistryError {
        let request = format!("{method} {}", shown_url(url));
        if status == 404 && upload_id(url).is_some() {
            return RegistryError::UploadLost {
                host: self.inner.authority.clone(),
                request,
                detail,
            };
        }
        RegistryError::Http {
            host: self.inner.authority.clone(),
            request,
            status,
            detail,
            retry_after,
            hint,
        }
    }

    // ---- authentication -------------------------------------------------------------------

    fn basic_header(&self) -> Option<HeaderValue> {
        let c = self.inner.creds.as_ref()?;
        let raw = format!("{}:{}", c.username, c.password.expose());
        let mut v = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw))).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    fn scheme(&self) -> AuthScheme {
        self.inner
            .scheme
            .lock()
            .map(|g| g.clone())
            .unwrap_or(AuthScheme::Unknown)
    }

    fn set_scheme(&self, s: AuthScheme) {
        if let Ok(mut g) = self.inner.scheme.lock() {
            *g = s;
        }
    }

    fn forget_token(&self, scope: &str) {
        if let Ok(mut g) = self.inner.tokens.lock() {
            g.remove(scope);
        }
    }

    /// The Authorization header for `scope` (space-separated scopes), fetching a token when
    /// the registry uses Bearer auth.
    pub(crate) async fn authorization(
        &self,
        scope: &str,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        match self.scheme() {
            AuthScheme::Unknown | AuthScheme::Anonymous => Ok(None),
            AuthScheme::Basic => Ok(self.basic_header()),
            AuthScheme::Bearer { realm, service } => {
                let cached = self
                    .inner
                    .tokens
                    .lock()
                    .ok()
                    .and_then(|g| g.get(scope).cloned());
                let token = match cached {
                    Some(t) => t,
                    None => {
                        let t = self.fetch_token(&realm, service.as_deref(), scope).await?;
                        if let Ok(mut g) = self.inner.tokens.lock() {
                            g.insert(scope.to_string(), t.clone());
                        }
                        t
                    }
                };
                let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    RegistryError::Network {
                        host: self.inner.authority.clone(),
                        during: "reading the token".into(),
                        detail: "the token server returned a token with invalid characters".into(),
                        retryable: false,
                    }
                })?;
                v.set_sensitive(true);
                Ok(Some(v))
            }
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let mut url = Url::parse(realm).map_err(|e| RegistryError::Network {
            host: self.inner.authority.clone(),
            during: "asking for a token".into(),
            detail: format!("the registry named an invalid token realm {realm:?}: {e}"),
            retryable: false,
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                q.append_pair("scope", s);
            }
        }
        let mut req = self.inner.http.get(url.clone());
        if let Some(h) = self.basic_header() {
            req = req.header(reqwest::header::AUTHORIZATION, h);
        }
        let resp = self.timed(req.send(), "asking the token server").await?;
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(RegistryError::Unauthorized {
                    host: self.inner.authority.clone(),
                    user: self.user(),
                });
            }
            _ => {
                return Err(self.refusal(resp, &Method::GET, url.as_str(), None).await);
            }
        }
        let raw = resp.bytes().await.map_err(|e| RegistryError::Network {
            host: self.inner.authority.clone(),
            during: "reading the token".into(),
            detail: e.to_string(),
            retryable: true,
        })?;
        let body: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| RegistryError::Network {
                host: self.inner.authority.clone(),
                during: "reading the token".into(),
                detail: format!("the token server's answer is not JSON: {e}"),
                retryable: false,
            })?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| RegistryError::Network {
                host: self.inner.authority.clone(),
                during: "reading the token".into(),
                detail: "the token server answered without a token".into(),
                retryable: false,
            })
    }

    /// Learns the scheme from a 401's challenge. Returns false when the challenge cannot be
    /// answered (no credentials for Basic, unknown scheme).
    fn learn_challenge(&self, headers: &HeaderMap, scope: &str) -> bool {
        let Some(ch) = headers
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        match parse_challenge(ch) {
            Some(Challenge::Basic) => {
                self.set_scheme(AuthScheme::Basic);
                self.inner.creds.is_some()
            }
            Some(Challenge::Bearer { realm, service }) => {
                self.forget_token(scope);
                self.set_scheme(AuthScheme::Bearer { realm, service });
                true
            }
            None => false,
        }
    }

    async fn timed<F: Future<Output = Result<Response, reqwest::Error>>>(
        &self,
        fut: F,
        during: &str,
    ) -> Result<Response, RegistryError> {
        match tokio::time::timeout(self.inner.stall, fut).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.transport_error(e, during).await),
            Err(_) => Err(RegistryError::Timeout {
                host: self.inner.authority.clone(),
                after: self.inner.stall,
                during: during.to_string(),
            }),
        }
    }

    /// Sends a request with a re-sendable body, answering one authentication challenge.
    /// A second 401 becomes [`RegistryError::Unauthorized`].
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: HeaderMap,
        body: Option<Payload>,
        during: &str,
    ) -> Result<Response, RegistryError> {
        let mut answered = false;
        let mut url = url.to_string();
        let mut hops = 0;
        loop {
            let mut req = self
                .inner
                .http
                .request(method.clone(), &url)
                .headers(headers.clone());
            if let Some(a) = self.authorization(scope).await? {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            req = match &body {
                Some(b) => req
                    .header(reqwest::header::CONTENT_LENGTH, b.len())
                    .body(b.body()),
                None if method == Method::POST || method == Method::PUT => {
                    req.header(reqwest::header::CONTENT_LENGTH, "0")
                }
                None => req,
            };
            let resp = self.timed(req.send(), during).await?;
            // reqwest follows a 307 or 308 only with a body it can copy; a payload of several
            // pieces goes as a stream, so the redirect is followed here with the same payload.
            if matches!(
                resp.status(),
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            ) && body.is_some()
                && hops < 5
                && let Some(next) = location(&resp)
            {
                hops += 1;
                url = next;
                continue;
            }
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if answered || !self.learn_challenge(resp.headers(), scope) {
                return Err(RegistryError::Unauthorized {
                    host: self.inner.authority.clone(),
                    user: self.user(),
                });
            }
            answered = true;
        }
    }

    /// Runs `op` with the retry policy; `on_retry` hears about every retry.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        mut op: F,
        on_retry: impl Fn(u32, Duration, &RegistryError),
    ) -> Result<T, RegistryError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let policy = self.inner.retry;
        let mut attempt = 1;
        loop {
            match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() && attempt < policy.max_attempts => {
                    let d = policy.delay(attempt, e.retry_after());
                    on_retry(attempt, d, &e);
                    tokio::time::sleep(d).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    // ---- preflight ------------------------------------------------------------------------

    /// Checks, in seconds, everything a long push depends on: the address answers as a
    /// registry, TLS verifies, the credentials work, and they may push to `first_repository`
    /// (the source repository path; the target prefix is added). An upload is started and
    /// cancelled for the last check, so nothing is left behind.
    pub async fn preflight(
        &self,
        first_repository: &str,
    ) -> Result<PreflightReport, RegistryError> {
        let mut api_version = None;
        let mut ok = false;
        for path in ["/v2/", "/v2"] {
            let url = self.url(path);
            let resp = self
                .send(
                    Method::GET,
                    &url,
                    "",
                    HeaderMap::new(),
                    None,
                    "checking the registry API",
                )
                .await?;
            api_version = resp
                .headers()
                .get("docker-distribution-api-version")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            match resp.status() {
                s if s.is_success() => {
                    ok = true;
                    break;
                }
                StatusCode::NOT_FOUND => continue,
                StatusCode::FORBIDDEN => {
                    return Err(RegistryError::Forbidden {
                        host: self.inner.authority.clone(),
                        user: self.user_name(),
                        repository: "(registry API)".into(),
                        detail: error_text(resp).await,
                    });
                }
                s => {
                    return Err(RegistryError::NotARegistry {
                        host: self.inner.authority.clone(),
                        url,
                        status: s.as_u16(),
                    });
                }
            }
        }
        if !ok {
            return Err(RegistryError::NotARegistry {
                host: self.inner.authority.clone(),
                url: self.url("/v2/"),
                status: 404,
            });
        }
        if self.scheme() == AuthScheme::Unknown {
            self.set_scheme(AuthScheme::Anonymous);
        }
        let repo = self.inner.target.repository(first_repository);
        let location = self.start_upload(&repo).await?;
        self.cancel_upload(&repo, &location).await;
        Ok(PreflightReport {
            api_version,
            auth: match self.scheme() {
                AuthScheme::Basic => "basic",
                AuthScheme::Bearer { .. } => "bearer",
                _ => "anonymous",
            }
            .into(),
            checked_repository: repo,
        })
    }

    // ---- distribution API -----------------------------------------------------------------

    /// The raw HTTP client, for the streamed PATCH.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn forget_scope_token(&self, scope: &str) {
        self.forget_token(scope);
    }
}

pub(crate) fn location(resp: &Response) -> Option<String> {
    let loc = resp
        .headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    // Relative locations are resolved against the URL that answered.
    resp.url().join(loc).ok().map(|u| u.to_string())
}

/// The registry's error text: distribution's `{"errors":[{code,message,detail}]}` when present.
pub(crate) async fn error_text(mut resp: Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > 8192 {
            break;
        }
    }
    if let Some(v) = serde_json::from_slice::<serde_json::Value>(&body).ok()
        && let Some(errors) = v.get("errors").and_then(|e| e.as_array())
    {
        {
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    printable(&format!("{code}: {msg}"))
                })
                .collect();
            if !parts.is_empty() {
                return parts.join("; ");
            }
        }
    }
    let text = String::from_utf8_lossy(&body).trim().to_string();
    if text.is_empty() {
        "(no details)".into()
    } else if let Some(page) = html_summary(&text) {
        page
    } else {
        printable(&text.chars().take(300).collect::<String>())
    }
}

/// A proxy's error page named by its title instead of pasted whole.
fn html_summary(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if !(lower.starts_with("<!doctype html")
        || lower.starts_with("<html")
        || lower.contains("<body"))
    {
        return None;
    }
    let inner = |tag: &str| {
        let open = lower.find(&format!("<{tag}"))?;
        let start = open + lower[open..].find('>')? + 1;
        let end = start + lower[start..].find(&format!("</{tag}"))?;
        let t = text[start..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        (!t.is_empty()).then_some(t)
    };
    let title = inner("title").or_else(|| inner("h1"));
    Some(match title {
        Some(t) => format!(
            "an HTML page: {}",
            printable(&t.chars().take(120).collect::<String>())
        ),
        None => format!("an HTML page of {} bytes", text.len()),
    })
}

/// A registry's or proxy's words with control characters escaped: they reach the terminal and
/// the log.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// A URL as shown to the operator: without its query string.
pub(crate) fn shown_url(url: &str) -> &str {
    url.split_once('?').map_or(url, |(u, _)| u)
}

/// The id of an upload session in its location (`.../blobs/uploads/<id>`).
pub fn upload_id(url: &str) -> Option<&str> {
    let path = shown_url(url);
    let (_, id) = path.split_once("/blobs/uploads/")?;
    (!id.is_empty()).then_some(id)
}

/// `Retry-After` in seconds. (The HTTP-date form is rare from registries and falls back to the
/// computed back-off.)
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

fn parse_challenge(header: &str) -> Option<Challenge> {
    let h = header.trim();
    let (scheme, params) = h.split_once(' ').unwrap_or((h, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let mut realm = None;
            let mut service = None;
            for (k, v) in parse_params(params) {
                match k.to_ascii_lowercase().as_str() {
                    "realm" => realm = Some(v),
                    "service" => service = Some(v),
                    _ => {}
                }
            }
            Some(Challenge::Bearer {
                realm: realm?,
                service,
            })
        }
        _ => None,
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        rest = &rest[eq + 1..];
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            value = r[..end].to_string();
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_request_without_its_state_and_an_html_page_by_its_title() {
        assert_eq!(
            shown_url("https://r:5000/v2/a/blobs/uploads/5f3e?_state=abc&digest=sha256:1"),
            "https://r:5000/v2/a/blobs/uploads/5f3e"
        );
        assert_eq!(
            upload_id("https://r/v2/a/blobs/uploads/5f3e?_state=x"),
            Some("5f3e")
        );
        assert_eq!(upload_id("https://r/v2/a/blobs/uploads/"), None);
        let page = "<html><head><title>413 Request Entity Too Large</title></head>\
                    <body><center><h1>413 Request Entity Too Large</h1></center>\
                    <hr><center>nginx</center></body></html>";
        assert_eq!(
            html_summary(page).unwrap(),
            "an HTML page: 413 Request Entity Too Large"
        );
        assert_eq!(html_summary("{\"errors\": []}"), None);
        assert_eq!(printable("a\u{1b}]0;x\u{7}b"), "a\\u{1b}]0;x\\u{7}b");
    }

    #[test]
    fn parses_bearer_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn back_off_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, None), Duration::from_millis(500));
        assert_eq!(p.delay(3, None), Duration::from_secs(2));
        assert_eq!(p.delay(10, None), Duration::from_secs(30));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(600))),
            Duration::from_secs(30)
        );
    }
}
