// Shared by `neural/build.rs` and the root `build.rs` (included with `#[path]`): finds the
// libtorch library directory the same way torch-sys does, so that binaries and test binaries
// can carry an rpath to it and link `libtorch_cuda.so` for real.

use std::path::PathBuf;
use std::process::Command;

/// The directory holding `libtorch_cpu.so` etc.: `$LIBTORCH_LIB/lib` or `$LIBTORCH/lib` when
/// set, else (with `LIBTORCH_USE_PYTORCH`) the `lib` folder of the active Python's torch.
pub fn torch_lib_dir() -> Option<PathBuf> {
    for var in [
        "LIBTORCH",
        "LIBTORCH_LIB",
        "LIBTORCH_USE_PYTORCH",
        "VIRTUAL_ENV",
        "PATH",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if let Ok(lib) = std::env::var("LIBTORCH_LIB") {
        return Some(PathBuf::from(lib).join("lib"));
    }
    if let Ok(root) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(root).join("lib"));
    }
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        // Same interpreter choice as torch-sys.
        let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
            "python"
        } else {
            "python3"
        };
        let out = Command::new(python)
            .args([
                "-c",
                "import os, torch; print(os.path.dirname(torch.__file__))",
            ])
            .output()
            .ok()?;
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !dir.is_empty() {
            return Some(PathBuf::from(dir).join("lib"));
        }
    }
    None
}

/// Emits the link arguments for the current package's binaries, tests and examples: an rpath
/// to libtorch (so nothing needs `LD_LIBRARY_PATH`) and `libtorch_cuda.so` linked with
/// `--no-as-needed` so that CUDA is really available when the library has it.
pub fn emit_torch_link_args() {
    let Some(lib) = torch_lib_dir() else {
        println!(
            "cargo:warning=libtorch not found (set LIBTORCH or LIBTORCH_USE_PYTORCH=1, see \
             scripts/libtorch.sh); binaries will need LD_LIBRARY_PATH"
        );
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
