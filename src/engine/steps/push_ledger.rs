//! What the push step and the artifacts step's streaming push share: the pusher's ledger kept
//! in the session (one unit per layer and per image), the image as the pusher takes it, and
//! the push options.

use std::path::Path;

use crate::artifacts::{ImageRecord, LayerRecord};
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::units::{PushedImage, PushedImageDetail, PushedLayer, Unit, UploadForm};
use crate::oci::{Digest, LayerEncoding};
use crate::registry::{
    BlobFile, LayerFile, PushImage, PushLedger, PushOptions, PushedBlob, StoredAs,
};
use crate::wizard::Step;
use crate::wizard::state::RegistryChoice;

/// The push options from the operator's choices and what this session learned.
pub fn push_options(ctx: &StepContext, choice: &RegistryChoice) -> PushOptions {
    let defaults = PushOptions::default();
    // A refused streamed upload earlier in this session: start chunked, at the size learned.
    let learned = ctx.detail(&UploadForm).map(|d| d.chunk_size);
    PushOptions {
        compression: layer_codec(ctx, choice).0,
        zstd_level: choice.zstd_level.unwrap_or(defaults.zstd_level),
        image_concurrency: choice
            .image_concurrency
            .unwrap_or(defaults.image_concurrency),
        blob_concurrency: choice.blob_concurrency.unwrap_or(defaults.blob_concurrency),
        gzip_level: choice.gzip_level.unwrap_or(defaults.gzip_level),
        upload_mode: if choice.chunked_upload || learned.is_some() {
            crate::registry::UploadMode::Chunked
        } else {
            crate::registry::UploadMode::Auto
        },
        chunk_size: learned
            .or(choice.chunk_size_mib.map(|m| m << 20))
            .unwrap_or(defaults.chunk_size),
        ..defaults
    }
}

/// The layers' codec and why: the operator's word, else zstd when the environment checks saw
/// every node pull it, else gzip (also when the checks did not run: nothing proves zstd).
pub fn layer_codec(
    ctx: &StepContext,
    choice: &RegistryChoice,
) -> (crate::registry::LayerCompression, String) {
    use crate::registry::LayerCompression;
    if choice.no_layer_compression {
        return (
            LayerCompression::None,
            "layer_compression = \"none\" in the registry answers".into(),
        );
    }
    if choice.zstd_layers {
        return (
            LayerCompression::Zstd,
            "layer_compression = \"zstd\" in the registry answers".into(),
        );
    }
    if choice.gzip_layers {
        return (
            LayerCompression::Gzip,
            "layer_compression = \"gzip\" in the registry answers".into(),
        );
    }
    match ctx.output::<crate::engine::outputs::ClusterRuntimes>() {
        Ok(r) if r.zstd => (LayerCompression::Zstd, r.reason),
        Ok(r) => (LayerCompression::Gzip, r.reason),
        Err(_) => (
            LayerCompression::Gzip,
            "the environment checks did not read the nodes' runtimes, so nothing proves they pull zstd".into(),
        ),
    }
}

/// Which codec the layers go up in, and why, in one line.
pub fn layer_codec_line(ctx: &StepContext, choice: &RegistryChoice) -> String {
    let (codec, why) = layer_codec(ctx, choice);
    let name = match codec {
        crate::registry::LayerCompression::None => "uncompressed",
        crate::registry::LayerCompression::Zstd => "zstd",
        crate::registry::LayerCompression::Gzip => "gzip",
    };
    format!("Layers go up as {name}: {why}")
}

/// Says which codec the layers go up in, and why.
pub fn say_layer_codec(ctx: &StepContext, choice: &RegistryChoice) {
    ctx.log(Level::Info, layer_codec_line(ctx, choice));
}

/// Adapts an image read by the artifacts step to what the pusher takes.
pub fn push_image(record: &ImageRecord, work: &Path) -> PushImage {
    let layer = |l: &LayerRecord| LayerFile {
        path: work.join(&l.spool_path),
        diff_id: l.diff_id.clone(),
        size: l.size,
        stored: match &l.compressed_digest {
            None => StoredAs::Uncompressed,
            Some(d) if l.media_type.encoding() == LayerEncoding::Zstd => {
                StoredAs::Zstd { digest: d.clone() }
            }
            Some(d) => StoredAs::Gzip { digest: d.clone() },
        },
    };
    PushImage {
        source: record.reference.clone(),
        repository: record.repository.clone(),
        tag: record.tag.clone().unwrap_or_else(|| "latest".into()),
        config: BlobFile {
            path: work.join(&record.config_spool_path),
            digest: record.config_digest.clone(),
            size: record.config_size,
        },
        layers: record.layers.iter().map(layer).collect(),
    }
}

/// The pusher's ledger kept in the session: one unit per layer and per image.
pub struct SessionPushLedger {
    pub ctx: StepContext,
}

impl SessionPushLedger {
    /// This step's record, or the one the artifacts step made when it pushed while reading
    /// (the streaming push): the push step then finds those layers and images done.
    fn detail<U: Unit>(&self, unit: &U) -> Option<U::Detail> {
        self.ctx
            .detail(unit)
            .or_else(|| self.ctx.detail_of(Step::Artifacts, unit))
    }

    /// Whether `target_ref` was pushed, by this step or by the streaming push.
    pub fn has_image(&self, target_ref: &str) -> bool {
        self.image(target_ref).is_some()
    }
}

impl PushLedger for SessionPushLedger {
    fn layer(&self, target_key: &str, diff_id: &Digest) -> Option<PushedBlob> {
        self.detail(&PushedLayer {
            target_key,
            diff_id,
        })
    }

    fn record_layer(
        &self,
        target_key: &str,
        diff_id: &Digest,
        pushed: &PushedBlob,
    ) -> Result<(), String> {
        self.ctx
            .record(
                &PushedLayer {
                    target_key,
                    diff_id,
                },
                pushed,
            )
            .map_err(|e| e.to_string())
    }

    fn image(&self, target_ref: &str) -> Option<Digest> {
        self.detail(&PushedImage(target_ref)).map(|d| d.digest)
    }

    fn record_image(&self, target_ref: &str, manifest_digest: &Digest) -> Result<(), String> {
        self.ctx
            .record(
                &PushedImage(target_ref),
                &PushedImageDetail {
                    digest: manifest_digest.clone(),
                },
            )
            .map_err(|e| e.to_string())
    }
}
