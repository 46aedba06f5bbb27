//! The demo on the real release: CKF 1.11's bundle and charm files (embedded at build time from
//! `tests/fixtures/releases/1.11`, each with its source in `SOURCES.md`), both sides of the gap
//! on this machine. An anonymous local registry stands in for every public registry the charms
//! name (each host mirrored to it, as a site's proxy registry would be), seeded with one tiny
//! image under every tag-named image the release needs; `gather` writes the carry folder with a
//! lock signed by a throwaway ed25519 key; the install wizard then reads that folder, checks the
//! signature and the lock, pushes into a second local registry and ends in the dry-run plan of
//! every application and relation. Images pinned by digest cannot be stood in for by a tiny
//! image: gather records them as missing, and the install maps each to a stand-in the demo put
//! in the private registry, as a site mirror would hold them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use color_eyre::eyre::{Context, Result, eyre};

use super::local_registry::{self, LocalRegistry};
use crate::bundle::model::Bundle;
use crate::gather::images::{images_to_gather, pull_source};
use crate::gather::lock::ReleaseLock;
use crate::oci::Digest;
use crate::registry::{
    BlobFile, Credentials, LayerFile, MemoryLedger, NoProgress, PushImage, PushOptions, Pusher,
    RegistryClient, RegistryConfig, RegistryTarget, StoredAs,
};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/demo_release_1_11.rs"));
}

/// Who signs the demo's lock, as the allowed_signers file names it.
pub const SIGNER: &str = "demo@ckf-airgap";

pub struct RealDemo {
    pub state_dir: PathBuf,
    pub gather_answers: PathBuf,
    pub install_answers: PathBuf,
    dir: PathBuf,
    /// Digest-pinned upstream reference → the stand-in in the private registry.
    stand_ins: BTreeMap<String, String>,
    _upstream: LocalRegistry,
    private: LocalRegistry,
}

/// Writes the release, builds its charms, starts both registries, seeds the upstream and
/// writes the gather answers.
pub fn prepare(dir: &Path) -> Result<RealDemo> {
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let release = dir.join("ckf-1.11");
    for (path, bytes) in embedded::FILES {
        let to = release.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .wrap_err_with(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&to, bytes).wrap_err_with(|| format!("cannot write {}", to.display()))?;
    }
    let bundle_path = release.join("bundle.yaml");
    eprintln!(
        "demo: CKF 1.11's real bundle and charm files in {} (their sources: SOURCES.md)",
        release.display()
    );
    let charms_dir = dir.join("charms");
    std::fs::create_dir_all(&charms_dir)?;
    let mut infos = Vec::new();
    let charm_folders = std::fs::read_dir(release.join("charms"))
        .wrap_err("cannot list the release's charms")?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir());
    for folder in charm_folders {
        let (name, bytes) = crate::synth::charm_zip_from_dir(&folder, 1, "22.04")
            .wrap_err_with(|| format!("cannot build a charm from {}", folder.display()))?;
        let file = charms_dir.join(&name);
        std::fs::write(&file, bytes)?;
        infos.push(
            crate::artifacts::charms::read_charm(&file, "demo charms").map_err(|e| eyre!("{e}"))?,
        );
    }
    let bundle = Bundle::load(&bundle_path).map_err(|e| eyre!("{e}"))?;
    let apps = crate::release::release_needs(&bundle, &infos);
    let wanted: Vec<String> = images_to_gather(&apps, &[], &[])
        .into_iter()
        .map(|i| i.upstream)
        .collect();
    eprintln!(
        "demo: {} applications, {} charms, {} images",
        bundle.applications.len(),
        infos.len(),
        wanted.len()
    );

    let upstream = local_registry::start_open(&dir.join("upstream"))?;
    let private = local_registry::start(&dir.join("registry"))?;
    eprintln!(
        "demo: upstream (every public registry, mirrored) at https://{}, private registry at https://{}",
        upstream.address, private.address
    );
    let scratch = dir.join("seed");
    std::fs::create_dir_all(&scratch)?;
    let (pinned, tagged): (Vec<&String>, Vec<&String>) =
        wanted.iter().partition(|u| u.contains('@'));
    let mut registries = std::collections::BTreeSet::new();
    let mut seeds = Vec::new();
    for name in &tagged {
        let src = pull_source(name);
        registries.insert(src.registry.clone());
        seeds.push(tiny_image(&scratch, &src.repository, &src.reference)?);
    }
    let mut stand_ins = BTreeMap::new();
    let mut stand_in_images = Vec::new();
    for (i, name) in pinned.iter().enumerate() {
        registries.insert(pull_source(name).registry);
        let repository = format!("ckf/site-mirror/pinned-{i}");
        stand_in_images.push(tiny_image(&scratch, &repository, "v1")?);
        stand_ins.insert(
            (*name).clone(),
            format!("{}/{repository}:v1", private.address),
        );
    }
    let runtime = tokio::runtime::Runtime::new().wrap_err("cannot start the async runtime")?;
    runtime.block_on(async {
        push_all(&upstream, None, &seeds).await?;
        let password = std::fs::read_to_string(&private.password_file)?;
        push_all(
            &private,
            Some(Credentials::basic(local_registry::USER, password.trim())),
            &stand_in_images,
        )
        .await
    })?;
    eprintln!(
        "demo: seeded {} images upstream; {} pinned by digest have stand-ins in the private registry",
        seeds.len(),
        stand_ins.len()
    );

    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys)?;
    let (key_file, public) = throwaway_key(&keys)?;
    std::fs::write(
        keys.join("allowed_signers"),
        format!("{SIGNER} namespaces=\"ckf-airgap\" {public}\n"),
    )?;
    let gather_answers = dir.join("gather.toml");
    let mut mirrors = String::new();
    for registry in &registries {
        mirrors.push_str(&format!("{registry:?} = {:?}\n", upstream.address));
    }
    std::fs::write(
        &gather_answers,
        format!(
            "# Written by `ckf-airgap demo`: the connected side.\n\
             [gather]\nbundle = {:?}\ncharms_dir = {:?}\noutput_dir = {:?}\nca_file = {:?}\n\
             sign_key = {:?}\naccept_missing = true\n\n[gather.mirrors]\n{mirrors}",
            bundle_path,
            charms_dir,
            dir.join("carry"),
            upstream.ca_file,
            key_file,
        ),
    )?;
    Ok(RealDemo {
        state_dir: dir.join("state"),
        gather_answers,
        install_answers: dir.join("install.toml"),
        dir: dir.to_path_buf(),
        stand_ins,
        _upstream: upstream,
        private,
    })
}

impl RealDemo {
    /// The air-gapped side's answers, from what gather wrote: the carry folder, the signers,
    /// the private registry, and for each image the lock accepted as missing (the pinned ones)
    /// its stand-in and the skip of the need it leaves.
    pub fn write_install_answers(&self) -> Result<()> {
        let carry = self.dir.join("carry");
        let lock = ReleaseLock::read(&carry.join(crate::gather::lock::RELEASE_LOCK_FILE))
            .map_err(|e| eyre!("{e}"))?;
        let mut mapping = String::new();
        let mut skips = String::new();
        for missing in &lock.missing {
            let stand_in = self.stand_ins.get(&missing.image).ok_or_else(|| {
                eyre!(
                    "demo: gather could not pull {} and the demo has no stand-in for it",
                    missing.image
                )
            })?;
            mapping.push_str(&format!("{:?} = {stand_in:?}\n", missing.image));
            for who in &missing.needed_by {
                let (app, what) = who.split_once(' ').unwrap_or((who, ""));
                skips.push_str(&format!(
                    "{:?} = \"demo: pinned by digest; its stand-in is in the private registry ([mapping])\"\n",
                    format!("need:{app}/{what}")
                ));
            }
        }
        std::fs::write(
            &self.install_answers,
            format!(
                "# Written by `ckf-airgap demo`: the air-gapped side.\n\
                 [artifacts]\nimages = {:?}\ncharms = {:?}\nallowed_signers = {:?}\n\n\
                 [registry]\ntarget = \"{}/ckf\"\nusername = \"{}\"\npassword_file = {:?}\nca_file = {:?}\n\n\
                 [bundle]\nfile = {:?}\n\n\
                 [gateway]\nservice_type = \"NodePort\"\n\n\
                 [deploy]\nmodel = \"kubeflow\"\ndry_run = true\n\n\
                 [mapping]\n{mapping}\n\
                 [skip]\nenvironment-checks = \"demo: there is no cluster on this machine\"\n{skips}",
                carry.join("images.tar.gz"),
                carry.join("charms.tar.gz"),
                self.dir.join("keys/allowed_signers"),
                self.private.address,
                local_registry::USER,
                self.private.password_file,
                self.private.ca_file,
                self.dir.join("ckf-1.11/bundle.yaml"),
            ),
        )?;
        Ok(())
    }
}

/// One small layer and its config, under `repository:tag`; the config names the image, so no
/// two names share a config.
fn tiny_image(dir: &Path, repository: &str, tag: &str) -> Result<PushImage> {
    let layer_path = dir.join("layer.tar");
    if !layer_path.exists() {
        let mut tar = tar::Builder::new(Vec::new());
        let body = b"ckf-airgap demo: a stand-in for a real image\n";
        let mut header = tar::Header::new_ustar();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, "README", &body[..])?;
        std::fs::write(&layer_path, tar.into_inner()?)?;
    }
    let layer = std::fs::read(&layer_path)?;
    let diff_id = Digest::of(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"ckf-airgap.demo": format!("{repository}:{tag}")}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))?;
    let config_path = dir.join(format!("{}-{tag}.json", repository.replace('/', "_")));
    std::fs::write(&config_path, &config)?;
    Ok(PushImage {
        source: format!("{repository}:{tag}"),
        repository: repository.to_owned(),
        tag: tag.to_owned(),
        config: BlobFile {
            path: config_path,
            digest: Digest::of(&config),
            size: config.len() as u64,
        },
        layers: vec![LayerFile {
            path: layer_path,
            diff_id,
            size: layer.len() as u64,
            stored: StoredAs::Uncompressed,
        }],
    })
}

async fn push_all(
    registry: &LocalRegistry,
    credentials: Option<Credentials>,
    images: &[PushImage],
) -> Result<()> {
    let mut config =
        RegistryConfig::new(RegistryTarget::parse(&registry.address).map_err(|e| eyre!("{e}"))?);
    config.tls.ca_file = Some(registry.ca_file.clone());
    if let Some(c) = credentials {
        config.credentials = c;
    }
    let client = RegistryClient::new(config).map_err(|e| eyre!("{e}"))?;
    Pusher::new(
        client,
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        Arc::new(NoProgress),
    )
    .push(images)
    .await
    .map_err(|e| eyre!("demo: cannot seed {}: {e}", registry.address))?;
    Ok(())
}

/// A new ed25519 key for this demo only, as an OpenSSH private key file (0600) and its public
/// line.
fn throwaway_key(dir: &Path) -> Result<(PathBuf, String)> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .wrap_err("cannot read /dev/urandom for the demo's signing key")?;
    let mut key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&seed));
    key.set_comment(SIGNER);
    let text = key
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(|e| eyre!("cannot encode the demo key: {e}"))?;
    let file = dir.join("demo_ed25519");
    crate::durable::write_file_with(&file, text.as_bytes(), 0o600, None)?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| eyre!("cannot encode the demo key: {e}"))?;
    Ok((file, public))
}
