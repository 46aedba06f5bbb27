//! Reads and verifies a release: `inventory IMAGES_TAR_GZ WORK_DIR [CHARMS_TAR_GZ]`.
//! Prints a one-line summary and progress on stderr.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use ckf_airgap::artifacts::{
    Inventory, NoHooks, ProcessOptions, ProgressEvent, plan_disk, process_charms, process_images,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: inventory IMAGES_TAR_GZ WORK_DIR [CHARMS_TAR_GZ]".into());
    }
    let images = PathBuf::from(&args[1]);
    let work = PathBuf::from(&args[2]);
    let charms = args.get(3).map(PathBuf::from);
    let plan = plan_disk(&images, charms.as_deref(), &work)?;
    eprintln!("disk: {:?}: {}", plan.mode, plan.note);
    let mut last = 0u64;
    let mut sink = |e: &ProgressEvent| match e {
        ProgressEvent::Bytes {
            read,
            total,
            bytes_per_sec,
            eta_secs,
        } if *read >= last + (200 << 20) => {
            last = *read;
            eprintln!(
                "{:>5.1}% {:>7.1} MB/s eta {:>5.0}s",
                *read as f64 * 100.0 / (*total).max(1) as f64,
                bytes_per_sec / 1e6,
                eta_secs.unwrap_or(0.0)
            );
        }
        ProgressEvent::Warning(w) => eprintln!("warning: {w}"),
        _ => {}
    };
    let opts = ProcessOptions {
        mode: plan.mode,
        ..ProcessOptions::default()
    };
    let rep = process_images(&images, &work, &opts, &mut NoHooks, &mut sink)?;
    let charms = match charms {
        Some(c) => process_charms(&c, &work, &Arc::new(AtomicBool::new(false)), &mut sink)?,
        None => Vec::new(),
    };
    let inv = Inventory {
        images: rep.images.clone(),
        charms,
    };
    println!(
        "images={} charms={} blobs_written={} unique_bytes={} tar_bytes={} gz_bytes={} secs={:.2}",
        inv.images.len(),
        inv.charms.len(),
        rep.blobs_written,
        inv.unique_blob_bytes(),
        rep.uncompressed_bytes,
        rep.compressed_bytes,
        rep.elapsed_secs
    );
    Ok(())
}
