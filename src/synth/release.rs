//! A whole synthetic release: N images (names from the real bundles, forms
//! cycled, shared base layers) and a charm set, packed like Canonical's scripts.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::charm::{build_charm_zip, default_charms};
use super::member::{ALL_FORMS, Form, ImageSpec, LayerSpec, MemberOptions, write_member};
use super::names::{CKF_IMAGES, member_file_name, placeholder_ref};
use super::pack::{pack_charms_gz, pack_images_gz};

#[derive(Debug, Clone)]
pub struct ReleaseSpec {
    pub images: usize,
    /// Forms used round-robin.
    pub forms: Vec<Form>,
    /// Sizes of the shared base layers (every image starts with one of them).
    pub base_layer_sizes: Vec<u64>,
    /// Unique layers per image and their size.
    pub app_layers: usize,
    pub app_layer_size: u64,
    pub seed: u64,
    pub gzip_level: u32,
    pub charms: bool,
}

impl Default for ReleaseSpec {
    fn default() -> Self {
        ReleaseSpec {
            images: 4,
            forms: ALL_FORMS.to_vec(),
            base_layer_sizes: vec![64 << 10, 32 << 10],
            app_layers: 2,
            app_layer_size: 48 << 10,
            seed: 1,
            gzip_level: 1,
            charms: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SynthImage {
    pub reference: String,
    pub member: String,
    pub form: Form,
    pub config_hex: String,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SynthRelease {
    pub images_gz: PathBuf,
    pub charms_gz: Option<PathBuf>,
    pub images: Vec<SynthImage>,
    pub charm_files: Vec<String>,
}

pub fn image_specs(spec: &ReleaseSpec) -> Vec<ImageSpec> {
    (0..spec.images)
        .map(|i| {
            let path = CKF_IMAGES[i % CKF_IMAGES.len()];
            let path = if i >= CKF_IMAGES.len() {
                // More images than names: keep names unique.
                format!("{path}-{}", i / CKF_IMAGES.len())
            } else {
                path.to_string()
            };
            let mut layers = Vec::new();
            if !spec.base_layer_sizes.is_empty() {
                let b = i % spec.base_layer_sizes.len();
                layers.push(LayerSpec {
                    seed: spec.seed.wrapping_mul(1000).wrapping_add(b as u64),
                    size: spec.base_layer_sizes[b],
                });
            }
            for k in 0..spec.app_layers {
                layers.push(LayerSpec {
                    seed: spec
                        .seed
                        .wrapping_mul(1_000_003)
                        .wrapping_add((i * 100 + k + 7) as u64),
                    size: spec.app_layer_size,
                });
            }
            ImageSpec {
                reference: placeholder_ref(&path),
                layers,
            }
        })
        .collect()
}

/// Writes `images.tar.gz` (and `charms.tar.gz`) into `out_dir`.
pub fn generate_release(spec: &ReleaseSpec, out_dir: &Path) -> io::Result<SynthRelease> {
    fs::create_dir_all(out_dir)?;
    let work = out_dir.join(".synth-work");
    fs::create_dir_all(&work)?;
    let mut members = Vec::new();
    let mut images = Vec::new();
    for (i, img) in image_specs(spec).iter().enumerate() {
        let form = spec.forms[i % spec.forms.len().max(1)];
        let (image, member) = write_image(&work, img, form, member_file_name(&img.reference))?;
        images.push(image);
        members.push(member);
    }
    let images_gz = out_dir.join("images.tar.gz");
    pack_images_gz(&images_gz, &members, spec.gzip_level)?;
    let mut charm_files = Vec::new();
    let charms_gz = if spec.charms {
        let mut zips = Vec::new();
        for c in default_charms() {
            let (n, b) = build_charm_zip(&c)?;
            charm_files.push(n.clone());
            zips.push((n, b));
        }
        let p = out_dir.join("charms.tar.gz");
        pack_charms_gz(&p, &zips)?;
        Some(p)
    } else {
        None
    };
    fs::remove_dir_all(&work)?;
    Ok(SynthRelease {
        images_gz,
        charms_gz,
        images,
        charm_files,
    })
}

/// `images.tar.gz` holding one tiny image under each of `references` (each its own member, in
/// the legacy `docker save` form), plus `charms.tar.gz` from the given `.charm` files.
pub fn generate_named_release(
    references: &[String],
    charms: &[(String, Vec<u8>)],
    out_dir: &Path,
) -> io::Result<SynthRelease> {
    fs::create_dir_all(out_dir)?;
    let work = out_dir.join(".synth-work");
    fs::create_dir_all(&work)?;
    let mut members = Vec::new();
    let mut images = Vec::new();
    for (i, reference) in references.iter().enumerate() {
        let spec = ImageSpec {
            reference: reference.clone(),
            layers: vec![LayerSpec {
                seed: 7_000 + i as u64,
                size: 512,
            }],
        };
        let name = format!("{i:03}-{}", member_file_name(reference));
        let (image, member) = write_image(&work, &spec, ALL_FORMS[0], name)?;
        images.push(image);
        members.push(member);
    }
    let images_gz = out_dir.join("images.tar.gz");
    pack_images_gz(&images_gz, &members, 1)?;
    let charms_gz = out_dir.join("charms.tar.gz");
    pack_charms_gz(&charms_gz, charms)?;
    fs::remove_dir_all(&work)?;
    Ok(SynthRelease {
        images_gz,
        charms_gz: Some(charms_gz),
        images,
        charm_files: charms.iter().map(|(n, _)| n.clone()).collect(),
    })
}

/// One image written as a `docker save` member file in `work`.
fn write_image(
    work: &Path,
    img: &ImageSpec,
    form: Form,
    name: String,
) -> io::Result<(SynthImage, (String, PathBuf))> {
    let path = work.join(&name);
    let f = BufWriter::with_capacity(1 << 20, fs::File::create(&path)?);
    let (mut f, info) = write_member(
        f,
        img,
        form,
        &MemberOptions::default(),
        &work.join("layers"),
    )?;
    f.flush()?;
    let image = SynthImage {
        reference: img.reference.clone(),
        member: name.clone(),
        form,
        config_hex: info.config_hex,
        diff_ids: info.layers.iter().map(|l| l.diff_id.clone()).collect(),
    };
    Ok((image, (name, path)))
}
