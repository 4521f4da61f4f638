//! Compiles every `.proto` under `wick/` with a vendored protoc, so no system protoc is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let mut protos: Vec<PathBuf> = std::fs::read_dir("wick/v1")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    protos.sort();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // Without the `grpc` feature only the messages are generated, so nothing links tonic.
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    tonic_prost_build::configure()
        .build_client(grpc)
        .build_server(grpc)
        .build_transport(grpc)
        .codec_path("crate::codec::StrictCodec")
        .file_descriptor_set_path(out.join("wick_descriptor.bin"))
        .compile_protos(&protos, &[PathBuf::from(".")])?;
    println!("cargo:rerun-if-changed=wick");
    Ok(())
}
