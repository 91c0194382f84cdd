//! Reading an input file as text: a refusal of anything but a regular file (before it is
//! opened), a size cap, UTF-8 validation and a refusal of binary content (NUL bytes), each
//! reported with the file and the line where the problem starts; and [`excerpt`], the short,
//! sanitised form in which every message of [`crate::io`] quotes a cell of a file.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The largest input file read: 256 MiB. Larger files are rejected before they are read.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Reads `path` as UTF-8 text of at most [`MAX_FILE_BYTES`] bytes.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    read_text_capped(path, MAX_FILE_BYTES)
}

/// Why `path` cannot be read as a text file without opening it, or `None` when it is a
/// regular file (symbolic links followed). Directories, FIFOs (named pipes: opening one with
/// no writer would block forever), sockets and devices are refused from their metadata alone.
/// An error of the metadata itself (a missing file) is left to the open that follows.
pub(crate) fn not_regular(path: &Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    kind_problem(&meta.file_type())
}

/// The refusal of a file type that is not a regular file.
fn kind_problem(t: &std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("is a directory, not a file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("is a FIFO (named pipe), not a regular file; only regular files are read");
        }
        if t.is_socket() {
            return Some("is a socket, not a regular file; only regular files are read");
        }
        if t.is_block_device() || t.is_char_device() {
            return Some("is a device, not a regular file; only regular files are read");
        }
    }
    Some("is not a regular file; only regular files are read")
}

/// [`read_text`] with an explicit cap (for tests).
pub(crate) fn read_text_capped(path: &Path, cap: u64) -> Result<String> {
    let name = path.display().to_string();
    let io_err = |source| Error::Io {
        path: name.clone(),
        source,
    };
    // Refused before opening: opening a FIFO for reading blocks until a writer comes.
    if let Some(why) = not_regular(path) {
        return Err(Error::input(&name, None, why));
    }
    let file = std::fs::File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    // Checked again on the open file, in case the path was replaced in between.
    if let Some(why) = kind_problem(&meta.file_type()) {
        return Err(Error::input(&name, None, why));
    }
    let too_large = || {
        Error::input(
            &name,
            None,
            format!(
                "the file is larger than {} MiB, the most this tool reads",
                cap >> 20
            ),
        )
    };
    if meta.len() > cap {
        return Err(too_large());
    }
    // The length is at most `cap`, which fits in memory by construction.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // `take` guards against files that grow while read.
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io_err)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    decode(&name, bytes)
}

/// The most characters of a cell that messages quote (see [`excerpt`]).
pub const EXCERPT_CHARS: usize = 12;

/// A cell of an input file as error messages quote it: in double quotes, at most its first
/// [`EXCERPT_CHARS`] characters, with quotes, backslashes, control and other non-printable
/// characters escaped as Rust writes them (`\n`, `\u{202e}`), and `…` inside the closing
/// quote when the cell was cut. A message never echoes a whole cell: the file may not be the
/// one the user meant to give (a password file, an API key).
///
/// ```
/// assert_eq!(reference::io::excerpt("abc"), "\"abc\"");
/// assert_eq!(reference::io::excerpt("s3cr3t-API-KEY-123"), "\"s3cr3t-API-K…\"");
/// assert_eq!(reference::io::excerpt("a\u{1b}[2Jb"), "\"a\\u{1b}[2Jb\"");
/// ```
pub fn excerpt(cell: &str) -> String {
    let cut = cell
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(cell.len(), |(i, _)| i);
    let mut out = format!("{:?}", &cell[..cut]);
    if cut < cell.len() {
        out.insert(out.len() - 1, '…');
    }
    out
}

/// [`excerpt`] without the surrounding quotes, for labels listed inside other punctuation
/// (`joint action (a, b)`).
pub(crate) fn excerpt_bare(cell: &str) -> String {
    let q = excerpt(cell);
    q[1..q.len() - 1].to_string()
}

/// Validates `bytes` as UTF-8 text without NUL bytes.
pub(crate) fn decode(name: &str, bytes: Vec<u8>) -> Result<String> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(Error::input(
            name,
            Some(1),
            "not a UTF-8 text file: it looks like UTF-16; save it as UTF-8 (e.g. \"CSV UTF-8\")",
        ));
    }
    match String::from_utf8(bytes) {
        Err(e) => {
            let pos = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            Err(Error::input(
                name,
                Some(line_at(bytes, pos)),
                format!("not a UTF-8 text file: invalid byte 0x{:02X}", bytes[pos]),
            ))
        }
        Ok(s) => match s.bytes().position(|b| b == 0) {
            Some(pos) => Err(Error::input(
                name,
                Some(line_at(s.as_bytes(), pos)),
                "not a UTF-8 text file: it contains a NUL byte (binary data?)",
            )),
            None => Ok(s),
        },
    }
}

/// Number of line breaks in `bytes`: `\n`, `\r\n` (once) and a lone `\r` each count one.
pub(crate) fn count_line_breaks(bytes: &[u8]) -> usize {
    let mut n = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            n += 1;
        }
    }
    n
}

/// The 1-based line of byte offset `pos` in `bytes`.
pub(crate) fn line_at(bytes: &[u8], pos: usize) -> usize {
    // A `\r` just before `pos` is a break unless the full text continues with `\n`.
    let end = pos.min(bytes.len());
    let mut n = count_line_breaks(&bytes[..end]);
    if end > 0 && bytes[end - 1] == b'\r' && bytes.get(end) == Some(&b'\n') {
        n -= 1;
    }
    n + 1
}

/// Line lookup for many offsets into one text: the break positions, found once.
pub(crate) struct LineIndex {
    breaks: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line breaks of `bytes` (same rules as [`count_line_breaks`]).
    pub fn new(bytes: &[u8]) -> Self {
        let breaks = (0..bytes.len())
            .filter(|&i| {
                bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
            })
            .collect();
        LineIndex { breaks }
    }

    /// The 1-based line of byte offset `pos` (as [`line_at`], in logarithmic time).
    pub fn line(&self, pos: usize) -> usize {
        self.breaks.partition_point(|&b| b < pos) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_every_break_style() {
        assert_eq!(line_at(b"a\nb\r\nc\rd", 8), 4);
        assert_eq!(line_at(b"a\r\n", 1), 1);
        assert_eq!(line_at(b"a\r\n", 2), 1);
        assert_eq!(line_at(b"a\r\n", 3), 2);
        assert_eq!(count_line_breaks(b""), 0);
    }

    #[test]
    fn line_index_agrees_with_line_at() {
        let text = b"a\nb\r\nc\rd\n\n\r\r\nxyz";
        let idx = LineIndex::new(text);
        for pos in 0..=text.len() + 2 {
            assert_eq!(idx.line(pos), line_at(text, pos), "{pos}");
        }
    }

    #[test]
    fn rejects_binary_and_utf16() {
        let e = decode("f", b"a,b\n\xff\xfe".to_vec())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("f:2") && e.contains("not a UTF-8 text file"),
            "{e}"
        );
        let e = decode("f", b"a\n\nx\0y".to_vec()).unwrap_err().to_string();
        assert!(e.contains("f:3") && e.contains("NUL"), "{e}");
        let e = decode("f", vec![0xFF, 0xFE, b'a', 0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("UTF-16"), "{e}");
        assert_eq!(decode("f", "é,ü".as_bytes().to_vec()).unwrap(), "é,ü");
    }

    #[test]
    fn cap_is_enforced() {
        let dir = std::env::temp_dir().join(format!("qfactor-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big.csv");
        std::fs::write(&p, vec![b'1'; 2048]).unwrap();
        let e = read_text_capped(&p, 1024).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        assert_eq!(read_text_capped(&p, 4096).unwrap().len(), 2048);
        let e = read_text(&dir).unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt(""), "\"\"");
        assert_eq!(excerpt("123456789012"), "\"123456789012\"");
        assert_eq!(excerpt("1234567890123"), "\"123456789012…\"");
        assert_eq!(excerpt("ééééééééééééé"), "\"éééééééééééé…\"");
        assert_eq!(excerpt("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(excerpt("x\u{202e}y\r"), "\"x\\u{202e}y\\r\"");
        assert!(!excerpt("s3cr3t-API-KEY-123").contains("KEY-123"));
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_before_opening() {
        let e = read_text(Path::new("/dev/null")).unwrap_err().to_string();
        assert!(e.contains("is a device"), "{e}");
        // A FIFO without a writer: opening it would block; the refusal must not.
        let dir = std::env::temp_dir().join(format!("qfactor-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let (tx, rx) = std::sync::mpsc::channel();
            let p = fifo.clone();
            std::thread::spawn(move || tx.send(read_text(&p).map_err(|e| e.to_string())));
            let r = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("reading a FIFO returns at once");
            let e = r.unwrap_err();
            assert!(e.contains("FIFO") && e.contains("pipe.csv"), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
