//! Sets `cfg(x86_simd)` when the build targets x86-64 with AVX2 and FMA (the x86-64-v3 baseline
//! `.cargo/config.toml` asks for): the kernels' SIMD paths are compiled only then.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(x86_simd)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |f: &str| features.split(',').any(|x| x == f);
    if arch == "x86_64" && has("avx2") && has("fma") {
        println!("cargo::rustc-cfg=x86_simd");
    }
}
