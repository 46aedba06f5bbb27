//! Generates a synthetic release: `synth_release OUT_DIR IMAGES BASE_MB APP_MB [FORMS]
//! [APP_LAYERS]`. FORMS is a comma list of legacy,symlinks,docker25,compressed-oci,
//! compressed-legacy; sizes are MiB, or KiB with a `K` suffix (`4K`); APP_LAYERS is the
//! number of unique layers per image (2 by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::PathBuf;

use ckf_airgap::synth::member::Form;
use ckf_airgap::synth::{ReleaseSpec, generate_release};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err(
            "usage: synth_release OUT_DIR IMAGES BASE_MB APP_MB [FORMS] [APP_LAYERS]".into(),
        );
    }
    let mb = |s: &str| -> Result<u64, Box<dyn std::error::Error>> {
        Ok(match s.strip_suffix('K') {
            Some(k) => k.parse::<u64>()? << 10,
            None => s.parse::<u64>()? << 20,
        })
    };
    let base = mb(&args[3])?;
    let forms = match args.get(5) {
        None => vec![
            Form::Legacy,
            Form::LegacySymlinks,
            Form::Docker25,
            Form::CompressedOci,
        ],
        Some(list) => list
            .split(',')
            .map(|f| match f {
                "legacy" => Ok(Form::Legacy),
                "symlinks" => Ok(Form::LegacySymlinks),
                "docker25" => Ok(Form::Docker25),
                "compressed-oci" => Ok(Form::CompressedOci),
                "compressed-legacy" => Ok(Form::CompressedLegacy),
                other => Err(format!("unknown form {other}")),
            })
            .collect::<Result<_, _>>()?,
    };
    let spec = ReleaseSpec {
        images: args[2].parse()?,
        forms,
        base_layer_sizes: vec![base, base / 2, base / 4],
        app_layers: match args.get(6) {
            Some(n) => n.parse()?,
            None => 2,
        },
        app_layer_size: mb(&args[4])?,
        seed: 7,
        gzip_level: 1,
        charms: true,
    };
    let rel = generate_release(&spec, &PathBuf::from(&args[1]))?;
    println!("{}", rel.images_gz.display());
    Ok(())
}
