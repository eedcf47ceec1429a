#!/usr/bin/env bash
# Regenerates crates/wa-proto/src/gen/*.rs from proto/*.proto with protox + prost-build
# (pure Rust, no protoc). The output is committed; run this after editing proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --manifest-path tools/protogen/Cargo.toml --target-dir target/protogen -- "$PWD"
rustfmt --edition 2024 crates/wa-proto/src/gen/*.rs
