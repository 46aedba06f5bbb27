//! Child processes for the crash tests of `tests/it` (not a tool for operators). A test that
//! kills a process mid-unit needs a process of its own to kill, running the real engine or the
//! real pusher, so nothing test-only lives in the product:
//!
//! - `test_child probe STATE_DIR RECORD [BLOCK_AT]`: the engine, headless, over a probe step
//!   that appends `begin i`/`end i` to RECORD around each of five units and, at unit BLOCK_AT,
//!   prints `blocked i` and waits to be killed or interrupted.
//! - `test_child push SPEC_JSON`: pushes one image (`{"addr", "ca", "user", "pass", "ledger",
//!   "image"}`) with a JSON-file ledger, printing `recorded <diff_id>` once each layer is
//!   durable in the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ckf_airgap::engine::{
    Cancel, Engine, EngineOptions, StepContext, StepError, StepFuture, StepWork,
};
use ckf_airgap::frontend::headless;
use ckf_airgap::registry::{
    Credentials, JsonFileLedger, NoProgress, PushImage, PushLedger, PushOptions, PushedBlob,
    Pusher, RegistryClient, RegistryConfig, RegistryTarget,
};
use ckf_airgap::session::SessionStore;
use ckf_airgap::wizard::{Choices, Step};

const UNITS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("probe") => probe(&args[1..]),
        Some("push") => push(&args[1..]),
        _ => {
            eprintln!("usage: test_child probe STATE_DIR RECORD [BLOCK_AT] | push SPEC_JSON");
            std::process::exit(2);
        }
    }
}

struct Probe {
    record: PathBuf,
    block_at: Option<usize>,
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// The probe's units: a test's own kind, as every step has its own.
struct ProbeUnit(usize);

impl ckf_airgap::engine::units::Unit for ProbeUnit {
    type Detail = serde_json::Value;
    fn key(&self) -> String {
        format!("unit-{}", self.0)
    }
}

impl StepWork for Probe {
    fn inputs(&self, _: Step, _: &Choices) -> String {
        "probe".into()
    }

    fn run(&self, step: Step, ctx: StepContext) -> StepFuture {
        let record = self.record.clone();
        let block_at = self.block_at;
        Box::pin(async move {
            if step != Step::EnvironmentChecks {
                return Ok(());
            }
            for i in 0..UNITS {
                let unit = ProbeUnit(i);
                if ctx.done(&unit) {
                    continue;
                }
                append(&record, &format!("begin {i}"));
                if block_at == Some(i) {
                    // Tell the parent we are mid-unit, then wait to be killed or interrupted.
                    println!("blocked {i}");
                    std::io::stdout().flush().unwrap();
                    ctx.cancel().cancelled().await;
                    return Err(StepError::Cancelled);
                }
                append(&record, &format!("end {i}"));
                ctx.record(&unit, &serde_json::json!({ "index": i }))?;
            }
            Ok(())
        })
    }
}

/// Runs the engine headless over the probe, like `--mode headless` does.
fn probe(args: &[String]) {
    let state_dir = PathBuf::from(&args[0]);
    let record = PathBuf::from(&args[1]);
    let block_at = args.get(2).map(|v| v.parse().unwrap());
    let store = SessionStore::open(&state_dir).unwrap();
    let session = match store.newest_unfinished().unwrap() {
        Some(s) => store.open_session(&s.id).unwrap(),
        None => store.create().unwrap(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reason = runtime.block_on(async move {
        let cancel = Cancel::new();
        ckf_airgap::signals::install(cancel.clone()).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let engine = Engine::new(
            session,
            Arc::new(Probe { record, block_at }),
            tx,
            EngineOptions {
                auto: true,
                interactive: false,
            },
        );
        let printer = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if let Some(line) = headless::line(&ev) {
                    println!("{line}");
                }
            }
        });
        let (_keep, commands) = tokio::sync::mpsc::unbounded_channel();
        let reason = engine.run(commands, cancel).await;
        let _ = printer.await;
        reason
    });
    std::process::exit(ckf_airgap::run::exit_code(&reason));
}

/// A JSON-file ledger that says on standard output when a layer is durable, so the parent
/// waits for that line instead of polling the file.
use ckf_airgap::oci::Digest;

struct AnnouncingLedger(JsonFileLedger);

impl PushLedger for AnnouncingLedger {
    fn layer(&self, target_key: &str, diff_id: &Digest) -> Option<PushedBlob> {
        self.0.layer(target_key, diff_id)
    }

    fn record_layer(&self, key: &str, diff_id: &Digest, pushed: &PushedBlob) -> Result<(), String> {
        self.0.record_layer(key, diff_id, pushed)?;
        println!("recorded {diff_id}");
        std::io::stdout().flush().map_err(|e| e.to_string())
    }

    fn image(&self, target_ref: &str) -> Option<Digest> {
        self.0.image(target_ref)
    }

    fn record_image(&self, target_ref: &str, manifest_digest: &Digest) -> Result<(), String> {
        self.0.record_image(target_ref, manifest_digest)
    }
}

fn push(args: &[String]) {
    let spec: serde_json::Value = serde_json::from_str(&args[0]).unwrap();
    let s = |k: &str| spec[k].as_str().unwrap().to_string();
    let image: PushImage = serde_json::from_value(spec["image"].clone()).unwrap();
    let mut cfg = RegistryConfig::new(RegistryTarget::parse(&s("addr")).unwrap());
    cfg.tls.ca_file = Some(s("ca").into());
    cfg.credentials = Credentials::basic(s("user"), s("pass"));
    let options = PushOptions {
        image_concurrency: 1,
        blob_concurrency: 1,
        ..PushOptions::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pusher = Pusher::new(
            RegistryClient::new(cfg).unwrap(),
            options,
            Arc::new(AnnouncingLedger(JsonFileLedger::open(s("ledger")).unwrap())),
            Arc::new(NoProgress),
        );
        // Blocks on the proxy's stall until the parent kills this process.
        let _ = pusher.push(std::slice::from_ref(&image)).await;
    });
}
