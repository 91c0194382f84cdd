//! Writing outputs without ever leaving half-written files, and without ever replacing what
//! was not asked for: everything goes to a temporary file (or directory) beside the
//! destination and is renamed into place when complete.
//!
//! The rules, the same for `--png FILE` and `--out DIR`:
//!
//! * a destination that exists is never replaced without `--force`, neither at the start nor
//!   at the end of the run (the final rename cannot replace: `RENAME_NOREPLACE` on Linux);
//!   if it appeared while qfactor ran, the finished output is left beside it and the error
//!   says where;
//! * with `--force`, only a regular file, or a directory that qfactor wrote (it holds the
//!   marker file [`MARKER`]), is replaced; a directory without the marker, a symbolic link,
//!   a device, FIFO or socket never is (remove it yourself);
//! * a path with no final name (`/`, `.`, `x/..`), whose parent is not a directory, or that
//!   is a symbolic link, is bad input (exit code 2), found before any work starts;
//! * staging left by runs that died (`.NAME.PID.partial`, `.NAME.PID.old`, `.NAME.PID.tmp`
//!   whose process is gone) is removed when the next output with that name starts.

use anyhow::{Context, Result};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the marker file qfactor writes into every output directory it creates; with
/// `--force`, only a directory holding it may be replaced.
pub const MARKER: &str = ".qfactor-output";

/// What the marker file says to whoever finds it.
const MARKER_TEXT: &str = "This directory was written by qfactor; `qfactor ... --force` may \
                           replace it. Delete this file to keep qfactor from ever replacing it.\n";

/// What a destination path holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// Nothing: the path is free.
    Nothing,
    /// A regular file.
    File,
    /// A directory holding [`MARKER`].
    OurDir,
    /// A directory without [`MARKER`].
    OtherDir,
    /// A symbolic link (to what, in words).
    Symlink(String),
    /// Something else (a device, FIFO or socket; in words).
    Special(&'static str),
}

/// Looks at `path` without following a final symbolic link.
fn inspect(path: &Path) -> Result<Found> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(e).with_context(|| format!("looking at {}", path.display())),
    };
    let ft = meta.file_type();
    Ok(if ft.is_symlink() {
        let to = fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        Found::Symlink(match fs::metadata(path) {
            Ok(_) => format!("a symbolic link to {to}"),
            Err(_) => format!("a symbolic link to {to}, which does not exist"),
        })
    } else if ft.is_dir() {
        match fs::symlink_metadata(path.join(MARKER)) {
            Ok(m) if m.is_file() => Found::OurDir,
            _ => Found::OtherDir,
        }
    } else if ft.is_file() {
        Found::File
    } else {
        Found::Special(special_kind(&ft))
    })
}

#[cfg(unix)]
fn special_kind(ft: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "neither a regular file nor a directory"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &fs::FileType) -> &'static str {
    "neither a regular file nor a directory"
}

fn bad(msg: String) -> anyhow::Error {
    crate::BadInput(msg).into()
}

/// Whether an output may go to `path` holding `found`: `Ok` when it is free, or replaceable
/// and `force` is set; otherwise bad input saying why and what to do.
fn allowed(path: &Path, found: &Found, force: bool) -> Result<()> {
    let p = path.display();
    let yourself = "qfactor will not replace it, even with --force; remove it yourself or \
                    choose another path";
    match found {
        Found::Nothing => Ok(()),
        Found::File | Found::OurDir if force => Ok(()),
        Found::File | Found::OurDir => Err(bad(format!(
            "{p} already exists (use --force to replace it)"
        ))),
        Found::OtherDir => Err(bad(format!(
            "{p} is a directory that qfactor did not write (it has no {MARKER} file): \
             {yourself}"
        ))),
        Found::Symlink(what) => Err(bad(format!("{p} is {what}: {yourself}"))),
        Found::Special(what) => Err(bad(format!(
            "{p} is {what}, not a regular file or directory: qfactor never writes over \
             it, even with --force; choose another path"
        ))),
    }
}

/// The directory `path` goes into, and its final name; bad input for a path without a final
/// name (`/`, `.`, `x/..`) or whose nearest existing ancestor is not a directory.
fn split(path: &Path) -> Result<(PathBuf, String)> {
    let name = path.file_name().ok_or_else(|| {
        bad(format!(
            "{} cannot be an output path: it has no final name (like `/`, `.` or `x/..`); \
             give a new name such as ./run",
            path.display()
        ))
    })?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    for a in parent.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        match fs::metadata(a) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Err(bad(format!(
                    "cannot write {}: {} is not a directory",
                    path.display(),
                    a.display()
                )))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                if fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(bad(format!(
                        "cannot write {}: {} is a symbolic link to nothing",
                        path.display(),
                        a.display()
                    )));
                }
            }
            Err(_) => break, // let creating it say what is wrong
        }
    }
    Ok((parent.to_path_buf(), name.to_string_lossy().into_owned()))
}

/// Checks, before any work, that an output may be written to `path`: bad input (exit code 2)
/// for a path without a final name, under something that is not a directory, or holding
/// anything that may not be replaced (see the module's rules). Called by [`write_atomic`]
/// and [`OutputDir::create`]; commands call it early when the output is written late.
pub fn check_target(path: &Path, force: bool) -> Result<()> {
    split(path)?;
    allowed(path, &inspect(path)?, force)
}

/// Renames `from` to `to` unless `to` exists (then `AlreadyExists`): atomic on Linux
/// (`RENAME_NOREPLACE`), check-then-rename elsewhere or where the file system cannot.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    match renameat2(from, to, libc::RENAME_NOREPLACE) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {}
        r => return r,
    }
    if fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    fs::rename(from, to)
}

#[cfg(target_os = "linux")]
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both strings are valid NUL-terminated paths living across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Swaps `a` and `b` atomically where the system can (Linux `RENAME_EXCHANGE`); `false` where
/// it cannot, having done nothing.
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    match renameat2(a, b, libc::RENAME_EXCHANGE) {
        Ok(()) => return Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {}
        Err(e) => return Err(e),
    }
    let _ = (a, b);
    Ok(false)
}

/// Removes a file, a symbolic link or a whole directory (not following links).
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether process `pid` may still be running (when unsure: yes).
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return true;
        };
        if p <= 0 {
            return true;
        }
        // SAFETY: signal 0 only checks that the process exists.
        let r = unsafe { libc::kill(p, 0) };
        r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    true
}

/// Removes staging left beside `parent/name` by runs that died: `.NAME.PID.partial`,
/// `.NAME.PID.old` and `.NAME.PID.tmp` whose process is gone. Says what it removed.
fn clean_stale(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let Some((pid, ext)) = rest.split_once('.') else {
            continue;
        };
        if !matches!(ext, "partial" | "old" | "tmp")
            || pid.is_empty()
            || !pid.bytes().all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if alive(pid) {
            continue;
        }
        let path = entry.path();
        match remove_any(&path) {
            Ok(()) => tracing::info!(
                "removed {}, left by an earlier qfactor run (process {pid}) that did not finish",
                path.display()
            ),
            Err(e) => tracing::warn!("could not remove stale {}: {e}", path.display()),
        }
    }
}

/// Where a finished output is left when its destination was taken meanwhile: beside it,
/// visible, `NAME.qfactor-PID` (before the extension for a file: `fig.qfactor-PID.png`).
fn kept_name(dest: &Path, is_file: bool) -> PathBuf {
    let pid = std::process::id();
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let ext = dest.extension().map(|e| e.to_string_lossy());
    let kept = match (is_file, ext) {
        (true, Some(ext)) if name.len() > ext.len() + 1 => {
            format!(
                "{}.qfactor-{pid}.{ext}",
                &name[..name.len() - ext.len() - 1]
            )
        }
        _ => format!("{name}.qfactor-{pid}"),
    };
    dest.with_file_name(kept)
}

/// Moves the finished `staging` to `dest` under the module's rules, `found_at_start` being
/// what `dest` held when the run started. On refusal the finished output is moved to a
/// visible name beside `dest` and the error says where; `Err` leaves `staging` there only
/// when even that failed (and says so).
fn place(staging: &Path, dest: &Path, force: bool, is_file: bool) -> Result<()> {
    for _ in 0..3 {
        let found = inspect(dest)?;
        if !force && found != Found::Nothing {
            return Err(refuse(
                staging,
                dest,
                is_file,
                &format!(
                    "{} appeared while qfactor was running (use --force to replace it)",
                    dest.display()
                ),
            ));
        }
        if let Err(e) = allowed(dest, &found, force) {
            return Err(refuse(
                staging,
                dest,
                is_file,
                &format!("{e:#} (it changed while qfactor was running)"),
            ));
        }
        if found == Found::Nothing {
            match rename_noreplace(staging, dest) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("renaming into {}", dest.display()))
                }
            }
        }
        // Replace a regular file or a qfactor directory: swap atomically where possible (the
        // old one then lies at `staging`), else move it aside first.
        if exchange(staging, dest).with_context(|| format!("replacing {}", dest.display()))? {
            let old = inspect(staging)?;
            if allowed(staging, &old, true).is_err() {
                // Changed between the look and the swap: put it back.
                exchange(staging, dest)
                    .with_context(|| format!("putting back {}", dest.display()))?;
                continue;
            }
            if let Err(e) = remove_any(staging) {
                tracing::warn!(
                    "replaced {} but could not remove the old one, left at {}: {e}",
                    dest.display(),
                    staging.display()
                );
            }
            return Ok(());
        }
        let old = old_name(staging);
        remove_any(&old).ok();
        fs::rename(dest, &old).with_context(|| format!("moving aside {}", dest.display()))?;
        match rename_noreplace(staging, dest) {
            Ok(()) => {
                if let Err(e) = remove_any(&old) {
                    tracing::warn!(
                        "replaced {} but could not remove the old one, left at {}: {e}",
                        dest.display(),
                        old.display()
                    );
                }
                return Ok(());
            }
            Err(e) => {
                // Something took `dest` between the two renames: keep the old one visible
                // (a hidden `.old` would be cleaned away by the next run).
                let aside = kept_name(dest, is_file).with_extension("replaced");
                let old = match rename_noreplace(&old, &aside) {
                    Ok(()) => aside,
                    Err(_) => old,
                };
                return Err(refuse(
                    staging,
                    dest,
                    is_file,
                    &format!(
                        "could not rename into {} ({e}); what it replaced was moved to {}",
                        dest.display(),
                        old.display()
                    ),
                ));
            }
        }
    }
    Err(refuse(
        staging,
        dest,
        is_file,
        &format!(
            "{} kept changing while qfactor was replacing it",
            dest.display()
        ),
    ))
}

/// `.NAME.PID.old` beside the staging path `.NAME.PID.partial` / `.NAME.PID.tmp`.
fn old_name(staging: &Path) -> PathBuf {
    staging.with_extension("old")
}

/// The error for a finished output that may not go to `dest`: the output is moved to
/// [`kept_name`] and the message says where it is.
fn refuse(staging: &Path, dest: &Path, is_file: bool, why: &str) -> anyhow::Error {
    let kept = kept_name(dest, is_file);
    let what = if is_file { "file" } else { "output" };
    match rename_noreplace(staging, &kept) {
        Ok(()) => bad(format!(
            "{why}; the finished {what} was left at {} (nothing was replaced)",
            kept.display()
        )),
        Err(_) => bad(format!(
            "{why}; the finished {what} was left at {} (nothing was replaced; move it before \
             the next run with this output name, which would remove it)",
            staging.display()
        )),
    }
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename),
/// under the module's rules: an existing `path` is replaced only with `force`, and only if it
/// is a regular file or a directory qfactor wrote; one that appeared while writing is never
/// replaced without `force`. Parent directories are created.
pub fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let (dir, name) = split(path)?;
    allowed(path, &inspect(path)?, force)?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    clean_stale(&dir, &name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    remove_any(&tmp).ok();
    let result = (|| -> Result<()> {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().ok();
        drop(f);
        place(&tmp, path, force, true)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// An output directory being filled: files are written into a hidden staging directory
/// beside `dest`, and [`OutputDir::commit`] renames it to `dest` when everything is written.
/// If it is dropped without commit, the staging directory is removed. The directory holds
/// the marker file [`MARKER`].
#[cfg_attr(not(feature = "neural"), allow(dead_code))]
pub struct OutputDir {
    dest: PathBuf,
    staging: PathBuf,
    force: bool,
    committed: bool,
}

#[cfg_attr(not(feature = "neural"), allow(dead_code))]
impl OutputDir {
    /// Starts an output directory. `dest` must not exist unless `force` is set (then it is
    /// replaced on commit, if it is a regular file or a directory qfactor wrote); anything
    /// else is bad input (exit code 2), found here, before any work. Removes staging left
    /// beside `dest` by runs that died.
    pub fn create(dest: &Path, force: bool) -> Result<Self> {
        let (parent, name) = split(dest)?;
        allowed(dest, &inspect(dest)?, force)?;
        fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        clean_stale(&parent, &name);
        let staging = parent.join(format!(".{name}.{}.partial", std::process::id()));
        remove_any(&staging).ok();
        fs::create_dir(&staging).with_context(|| format!("creating {}", staging.display()))?;
        let out = OutputDir {
            dest: dest.to_path_buf(),
            staging,
            force,
            committed: false,
        };
        out.write(MARKER, MARKER_TEXT.as_bytes())?;
        Ok(out)
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

    /// Moves the finished directory into place (replacing an existing one when forced and
    /// allowed). If `dest` appeared since [`OutputDir::create`] without `force`, or changed
    /// into something that may not be replaced, nothing is replaced: the error (bad input)
    /// says where the finished output was left.
    pub fn commit(mut self) -> Result<PathBuf> {
        // Whatever happens, the staging directory is moved (into place or aside) or reported.
        self.committed = true;
        place(&self.staging, &self.dest, self.force, false)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn exit2(e: &anyhow::Error) -> String {
        assert!(
            e.chain()
                .any(|c| c.downcast_ref::<crate::BadInput>().is_some()),
            "not bad input: {e:#}"
        );
        format!("{e:#}")
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn output_directories_carry_the_marker() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("run");
        let out = OutputDir::create(&dest, false).unwrap();
        out.write("a.csv", b"1").unwrap();
        out.commit().unwrap();
        assert!(dest.join(MARKER).is_file());
        assert_eq!(names(t.path()), ["run"]);
    }

    #[test]
    fn a_target_appearing_before_commit_is_not_replaced() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("run");
        let out = OutputDir::create(&dest, false).unwrap();
        out.write("a.csv", b"mine").unwrap();
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("theirs"), b"theirs").unwrap();
        let msg = exit2(&out.commit().unwrap_err());
        assert!(msg.contains("appeared"), "{msg}");
        // Theirs untouched, ours kept where the message says.
        assert_eq!(fs::read(dest.join("theirs")).unwrap(), b"theirs");
        let kept = kept_name(&dest, false);
        assert!(msg.contains(&kept.display().to_string()), "{msg}");
        assert_eq!(fs::read(kept.join("a.csv")).unwrap(), b"mine");
        // No hidden staging is left to be cleaned away.
        assert!(names(t.path()).iter().all(|n| !n.starts_with('.')));
    }

    #[test]
    fn with_force_a_target_turning_foreign_before_commit_is_not_replaced() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("run");
        let out = OutputDir::create(&dest, true).unwrap();
        fs::create_dir(&dest).unwrap(); // no marker: not ours
        let msg = exit2(&out.commit().unwrap_err());
        assert!(msg.contains("did not write"), "{msg}");
        assert!(dest.is_dir() && !dest.join(MARKER).exists());
        assert!(kept_name(&dest, false).join(MARKER).is_file());
    }

    #[test]
    fn force_replaces_a_qfactor_directory_and_a_file_leaving_nothing_behind() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("run");
        for old_is_dir in [true, false] {
            if old_is_dir {
                let first = OutputDir::create(&dest, false).unwrap();
                first.write("old.csv", b"old").unwrap();
                first.commit().unwrap();
            } else {
                remove_any(&dest).unwrap();
                fs::write(&dest, b"a file").unwrap();
            }
            let out = OutputDir::create(&dest, true).unwrap();
            out.write("new.csv", b"new").unwrap();
            out.commit().unwrap();
            assert!(dest.join("new.csv").is_file() && !dest.join("old.csv").exists());
            assert_eq!(names(t.path()), ["run"]);
        }
    }

    #[test]
    fn force_refuses_foreign_directories_and_special_files_at_start() {
        let t = tempfile::tempdir().unwrap();
        let foreign = t.path().join("mine");
        fs::create_dir(&foreign).unwrap();
        let msg = exit2(&OutputDir::create(&foreign, true).err().unwrap());
        assert!(msg.contains("remove it yourself"), "{msg}");
        let msg = exit2(
            &OutputDir::create(Path::new("/dev/null"), true)
                .err()
                .unwrap(),
        );
        assert!(msg.contains("character device"), "{msg}");
        #[cfg(unix)]
        {
            let link = t.path().join("link");
            std::os::unix::fs::symlink(t.path().join("nowhere"), &link).unwrap();
            for force in [false, true] {
                let msg = exit2(&OutputDir::create(&link, force).err().unwrap());
                assert!(msg.contains("does not exist"), "{msg}");
            }
        }
        assert_eq!(names(t.path()).len(), if cfg!(unix) { 2 } else { 1 });
    }

    #[test]
    fn paths_without_a_name_or_under_a_non_directory_are_bad_input() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        fs::write(&file, b"x").unwrap();
        for p in [Path::new("/"), &t.path().join("x/..")] {
            let msg = exit2(&OutputDir::create(p, true).err().unwrap());
            assert!(msg.contains("no final name"), "{msg}");
        }
        let msg = exit2(&OutputDir::create(&file.join("a/b"), false).err().unwrap());
        assert!(msg.contains("is not a directory"), "{msg}");
        let msg = exit2(&write_atomic(&file.join("p.png"), b"", true).unwrap_err());
        assert!(msg.contains("is not a directory"), "{msg}");
    }

    #[test]
    fn stale_staging_of_dead_runs_is_removed_and_live_ones_kept() {
        let t = tempfile::tempdir().unwrap();
        let stale = [".run.999999999.partial", ".run.999999999.old"];
        for s in stale {
            fs::create_dir(t.path().join(s)).unwrap();
            fs::write(t.path().join(s).join("x"), b"x").unwrap();
        }
        fs::write(t.path().join(".run.999999998.old"), b"a file").unwrap();
        let live = format!(".run.{}.old", std::process::id());
        let other = ".running.999999999.partial"; // another output's name
        fs::create_dir(t.path().join(&live)).unwrap();
        fs::create_dir(t.path().join(other)).unwrap();
        let out = OutputDir::create(&t.path().join("run"), false).unwrap();
        let mut left = names(t.path());
        left.retain(|n| !n.ends_with(&format!("{}.partial", std::process::id())));
        let mut want = vec![other.to_string(), live];
        want.sort();
        assert_eq!(left, want);
        drop(out);
    }

    #[test]
    fn write_atomic_refuses_what_appeared_and_replaces_files_with_force() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fig.png");
        write_atomic(&p, b"one", false).unwrap();
        let msg = exit2(&write_atomic(&p, b"two", false).unwrap_err());
        assert!(msg.contains("already exists"), "{msg}");
        write_atomic(&p, b"two", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(t.path()), ["fig.png"]);
        // The final rename itself refuses a target that appeared meanwhile.
        let tmp = t.path().join(".fig2.png.1.tmp");
        fs::write(&tmp, b"mine").unwrap();
        fs::write(t.path().join("fig2.png"), b"theirs").unwrap();
        let msg = exit2(&place(&tmp, &t.path().join("fig2.png"), false, true).unwrap_err());
        assert!(msg.contains(".qfactor-"), "{msg}");
        assert_eq!(fs::read(t.path().join("fig2.png")).unwrap(), b"theirs");
        let kept = kept_name(&t.path().join("fig2.png"), true);
        assert!(kept.to_string_lossy().ends_with(".png"));
        assert_eq!(fs::read(kept).unwrap(), b"mine");
    }
}
