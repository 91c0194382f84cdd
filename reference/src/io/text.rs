//! Reading an input file as text: a size cap, UTF-8 validation and a refusal of binary content
//! (NUL bytes), each reported with the file and the line where the problem starts.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The largest input file read: 256 MiB. Larger files are rejected before they are read.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Reads `path` as UTF-8 text of at most [`MAX_FILE_BYTES`] bytes.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    read_text_capped(path, MAX_FILE_BYTES)
}

/// [`read_text`] with an explicit cap (for tests).
pub(crate) fn read_text_capped(path: &Path, cap: u64) -> Result<String> {
    let name = path.display().to_string();
    let io_err = |source| Error::Io {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if meta.is_dir() {
        return Err(Error::input(&name, None, "is a directory, not a file"));
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
    // `take` guards against files that grow while read and special files with no length.
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io_err)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    decode(&name, bytes)
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
}
