//! Link arguments for this crate's test binaries and examples (see `torch_path.rs`).

#[path = "torch_path.rs"]
mod torch_path;

fn main() {
    println!("cargo:rerun-if-changed=torch_path.rs");
    torch_path::emit_torch_link_args();
}
