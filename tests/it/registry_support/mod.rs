//! Test support shared by the `registry_*` test binaries. Each binary uses a different part,
//! so unused items are expected.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod images;
pub mod proxy;
pub mod registry;
pub mod token;

use std::sync::{Arc, Mutex};

use ckf_airgap::registry::{
    Credentials, ImageState, LayerState, PushProgress, RegistryClient, RegistryConfig,
    RegistryTarget, RetryPolicy, UploadFormChange,
};

/// Client config for a test registry: its CA, its user, short timeouts.
pub fn config_for(reg: &registry::TestRegistry, addr: &str) -> RegistryConfig {
    let mut cfg = RegistryConfig::new(RegistryTarget::parse(addr).unwrap());
    cfg.tls.ca_file = Some(reg.ca_file.clone());
    cfg.tls.plain_http = !reg.tls;
    cfg.credentials = Credentials::basic(registry::USER, registry::PASS);
    cfg.connect_timeout = std::time::Duration::from_secs(5);
    cfg.stall_timeout = std::time::Duration::from_secs(10);
    cfg.retry = RetryPolicy {
        base: std::time::Duration::from_millis(50),
        cap: std::time::Duration::from_secs(2),
        max_attempts: 6,
    };
    cfg
}

pub fn client_for(reg: &registry::TestRegistry) -> RegistryClient {
    RegistryClient::new(config_for(reg, &reg.addr())).unwrap()
}

pub type ImageHook = Box<dyn Fn(&ImageState) + Send + Sync>;

/// Records every event, and can run a hook on each image event.
#[derive(Default)]
pub struct Recorder {
    pub images: Mutex<Vec<(String, ImageState)>>,
    pub layers: Mutex<Vec<(String, String, LayerState)>>,
    pub image_hook: Mutex<Option<ImageHook>>,
    pub upload_forms: Mutex<Vec<UploadFormChange>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    pub fn layer_states(&self) -> Vec<(String, LayerState)> {
        self.layers
            .lock()
            .unwrap()
            .iter()
            .map(|(_, d, s)| (d.clone(), s.clone()))
            .collect()
    }

    pub fn final_states(&self) -> Vec<(String, ImageState)> {
        self.images
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| !matches!(s, ImageState::Pending | ImageState::Uploading { .. }))
            .cloned()
            .collect()
    }
}

impl PushProgress for Recorder {
    fn image(&self, source: &str, state: &ImageState) {
        self.images
            .lock()
            .unwrap()
            .push((source.to_string(), state.clone()));
        if let Some(h) = self.image_hook.lock().unwrap().as_ref() {
            h(state);
        }
    }

    fn layer(&self, source: &str, diff_id: &str, state: &LayerState) {
        self.layers
            .lock()
            .unwrap()
            .push((source.to_string(), diff_id.to_string(), state.clone()));
    }

    fn upload_form(&self, change: &UploadFormChange) {
        self.upload_forms.lock().unwrap().push(change.clone());
    }
}
