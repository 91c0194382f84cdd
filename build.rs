//! With the `neural` feature, the `qfactor` binary links libtorch: embed an rpath to it and link
//! `libtorch_cuda.so` for real (see `neural/torch_path.rs`). Without the feature, nothing.

#[path = "neural/torch_path.rs"]
mod torch_path;

fn main() {
    println!("cargo:rerun-if-changed=neural/torch_path.rs");
    if std::env::var_os("CARGO_FEATURE_NEURAL").is_some() {
        torch_path::emit_torch_link_args();
    }
}
