//! Writing outputs without ever leaving half-written files: everything goes to a temporary
//! file (or directory) beside the destination and is renamed into place when complete.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("output path has no file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().ok();
        fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// An output directory being filled: files are written into a hidden staging directory
/// beside `dest`, and [`OutputDir::commit`] renames it to `dest` when everything is written.
/// If it is dropped without commit, the staging directory is removed.
#[cfg_attr(not(feature = "neural"), allow(dead_code))]
pub struct OutputDir {
    dest: PathBuf,
    staging: PathBuf,
    committed: bool,
}

#[cfg_attr(not(feature = "neural"), allow(dead_code))]
impl OutputDir {
    /// Starts an output directory. `dest` must not exist unless `force` is set (then it is
    /// replaced on commit); an existing `dest` without `force` is bad input (exit code 2).
    pub fn create(dest: &Path, force: bool) -> Result<Self> {
        if dest.exists() && !force {
            return Err(crate::BadInput(format!(
                "output directory {} already exists (use --force to replace it)",
                dest.display()
            ))
            .into());
        }
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        let name = dest
            .file_name()
            .context("output path has no directory name")?
            .to_string_lossy();
        let staging = parent.join(format!(".{name}.{}.partial", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).ok();
        }
        fs::create_dir(&staging).with_context(|| format!("creating {}", staging.display()))?;
        Ok(OutputDir {
            dest: dest.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Path of `name` inside the staging directory (for writers that need a path).
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Writes one file into the staging directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
    }

    /// Moves the finished directory into place (replacing an existing one when forced).
    pub fn commit(mut self) -> Result<PathBuf> {
        if self.dest.exists() {
            let old = self.staging.with_extension("old");
            fs::rename(&self.dest, &old)
                .with_context(|| format!("moving aside {}", self.dest.display()))?;
            fs::rename(&self.staging, &self.dest)
                .with_context(|| format!("renaming into {}", self.dest.display()))?;
            fs::remove_dir_all(&old).ok();
        } else {
            fs::rename(&self.staging, &self.dest)
                .with_context(|| format!("renaming into {}", self.dest.display()))?;
        }
        self.committed = true;
        Ok(self.dest.clone())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}
