//! Regenerates the prost code of `wa-proto` from `proto/*.proto`.
//!
//! Run from the repository root: `scripts/regen-proto.sh`. The generated file
//! is committed so that normal builds need neither protoc nor protox.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args().nth(1).unwrap_or_else(|| ".".to_owned());
    let root = Path::new(&root);
    let proto_dir = root.join("proto");
    let out_dir = root.join("crates/wa-proto/src/gen");
    std::fs::create_dir_all(&out_dir)?;

    let mut files: Vec<_> = std::fs::read_dir(&proto_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    files.sort();
    let fds = protox::compile(&files, [&proto_dir])?;

    let mut config = prost_build::Config::new();
    config.out_dir(&out_dir);
    // Bytes fields stay Vec<u8>: simplest to work with, and our payloads are small.
    config.compile_fds(fds)?;
    println!("generated into {}", out_dir.display());
    Ok(())
}
