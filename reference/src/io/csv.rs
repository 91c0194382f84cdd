//! A small CSV lexer that tracks physical line numbers, and the cell-level helpers shared by
//! every CSV format (numbers, quoting for output).
//!
//! Accepted: RFC 4180 quoted cells (`"a ""b"", c"`, line breaks inside quotes), a UTF-8 byte
//! order mark, `\n`, `\r\n` or lone `\r` line ends, spaces or tabs around cells, and blank
//! lines (including lines of empty cells such as `,,`), which are skipped. Rejected with the
//! line: a quote inside an unquoted cell, text after a closing quote, an unclosed quote, and
//! lines with more than [`MAX_CELLS_PER_LINE`] cells.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::io::text::count_line_breaks;

/// The most cells one CSV record may have (bounds memory on hostile input).
pub const MAX_CELLS_PER_LINE: usize = 1 << 16;

/// One CSV record: its first physical line (1-based) and its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// Line where the record starts.
    pub line: usize,
    /// Cells, unquoted, with surrounding spaces removed (inside quotes kept verbatim).
    pub cells: Vec<String>,
}

/// Streams the records of a CSV text.
pub(crate) struct Lexer<'a> {
    file: &'a str,
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer over `text`, reporting errors against `file`.
    pub fn new(file: &'a str, text: &'a str) -> Self {
        let pos = if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        Lexer {
            file,
            text,
            pos,
            line: 1,
        }
    }

    /// The file name used in errors.
    pub fn file(&self) -> &'a str {
        self.file
    }

    /// The next non-blank record, or `None` at the end of the text.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        while self.pos < self.text.len() {
            let (record, quoted) = self.record()?;
            if quoted || record.cells.iter().any(|c| !c.is_empty()) {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    fn err(&self, line: usize, msg: impl Into<String>) -> Error {
        Error::input(self.file, Some(line), msg)
    }

    fn skip_blanks(&mut self) {
        let b = self.text.as_bytes();
        while self.pos < b.len() && (b[self.pos] == b' ' || b[self.pos] == b'\t') {
            self.pos += 1;
        }
    }

    /// Reads one record (possibly blank); returns it and whether any cell was quoted.
    fn record(&mut self) -> Result<(Record, bool)> {
        let text = self.text;
        let b = text.as_bytes();
        let start_line = self.line;
        let mut cells = Vec::new();
        let mut quoted = false;
        loop {
            self.skip_blanks();
            let cell = if self.pos < b.len() && b[self.pos] == b'"' {
                quoted = true;
                let open_line = self.line;
                self.pos += 1;
                let mut s = String::new();
                loop {
                    let Some(off) = text[self.pos..].find('"') else {
                        return Err(self.err(open_line, "a quoted cell is never closed"));
                    };
                    let seg = &text[self.pos..self.pos + off];
                    self.line += count_line_breaks(seg.as_bytes());
                    s.push_str(seg);
                    self.pos += off + 1;
                    if b.get(self.pos) == Some(&b'"') {
                        s.push('"');
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                self.skip_blanks();
                if self.pos < b.len() && !matches!(b[self.pos], b',' | b'\n' | b'\r') {
                    return Err(self.err(
                        self.line,
                        "unexpected text after the closing quote of a cell",
                    ));
                }
                s
            } else {
                let start = self.pos;
                while self.pos < b.len() && !matches!(b[self.pos], b',' | b'\n' | b'\r') {
                    if b[self.pos] == b'"' {
                        return Err(self.err(
                            self.line,
                            "a quote (\") inside an unquoted cell; quote the whole cell and \
                             double the inner quotes",
                        ));
                    }
                    self.pos += 1;
                }
                text[start..self.pos]
                    .trim_end_matches([' ', '\t'])
                    .to_string()
            };
            if cells.len() == MAX_CELLS_PER_LINE {
                return Err(self.err(
                    start_line,
                    format!("more than {MAX_CELLS_PER_LINE} cells on one line"),
                ));
            }
            cells.push(cell);
            if self.pos >= b.len() {
                break;
            }
            match b[self.pos] {
                b',' => self.pos += 1,
                b'\r' => {
                    self.pos += 1;
                    if b.get(self.pos) == Some(&b'\n') {
                        self.pos += 1;
                    }
                    self.line += 1;
                    break;
                }
                _ => {
                    // b'\n'
                    self.pos += 1;
                    self.line += 1;
                    break;
                }
            }
        }
        Ok((
            Record {
                line: start_line,
                cells,
            },
            quoted,
        ))
    }
}

/// Parses a payoff, weight or value cell as a finite `f64`.
pub(crate) fn parse_number(file: &str, line: usize, cell: &str) -> Result<f64> {
    let t = cell.trim();
    let err = |m: String| Err(Error::input(file, Some(line), m));
    if t.is_empty() {
        return err("missing number (empty cell)".into());
    }
    match t.parse::<f64>() {
        Err(_) => err(format!("{t:?} is not a number")),
        Ok(v) if v.is_nan() => err(format!("{t:?} is not a finite number (NaN)")),
        Ok(v) if v.is_infinite() => {
            if t.to_ascii_lowercase().contains("inf") {
                err(format!("{t:?} is not a finite number (infinite)"))
            } else {
                err(format!(
                    "{t:?} is not a finite number (it overflows to infinity)"
                ))
            }
        }
        Ok(v) => Ok(v),
    }
}

/// A cell as CSV output must write it: quoted (with doubled inner quotes) when it contains a
/// comma, a quote or a line break, or starts or ends with a space or tab.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let needs = s.contains([',', '"', '\n', '\r'])
        || s.starts_with([' ', '\t'])
        || s.ends_with([' ', '\t']);
    if needs {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// Formats `v` as its shortest decimal representation that reads back bit-exactly.
pub fn format_value(v: f64) -> String {
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Result<Vec<Record>> {
        let mut lx = Lexer::new("t.csv", text);
        let mut out = Vec::new();
        while let Some(r) = lx.next_record()? {
            out.push(r);
        }
        Ok(out)
    }

    fn rec(line: usize, cells: &[&str]) -> Record {
        Record {
            line,
            cells: cells.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn spreadsheet_output_is_accepted() {
        let t = "\u{feff} x , a ,\"b\"\r\n\r\n1, 2 ,\"3\"\r\n,,\r\n\"q \"\"x\"\"\nz\",4\r\n";
        let r = all(t).unwrap();
        assert_eq!(
            r,
            vec![
                rec(1, &["x", "a", "b"]),
                rec(3, &["1", "2", "3"]),
                rec(5, &["q \"x\"\nz", "4"])
            ]
        );
    }

    #[test]
    fn lone_cr_and_no_final_newline() {
        assert_eq!(
            all("a,b\rc,d").unwrap(),
            vec![rec(1, &["a", "b"]), rec(2, &["c", "d"])]
        );
        assert_eq!(all("a,\n").unwrap(), vec![rec(1, &["a", ""])]);
        assert!(all("").unwrap().is_empty());
        assert!(all("\u{feff}\n \n").unwrap().is_empty());
        assert_eq!(all("\"\"").unwrap(), vec![rec(1, &[""])]);
    }

    #[test]
    fn line_numbers_follow_quoted_breaks() {
        let r = all("a\n\"x\r\ny\",b\nc\n").unwrap();
        assert_eq!(r[1].line, 2);
        assert_eq!(r[2].line, 4);
    }

    #[test]
    fn malformed_quotes_are_reported_with_lines() {
        let e = all("a\nb,\"open\n\n").unwrap_err().to_string();
        assert!(
            e.starts_with("t.csv:2:") && e.contains("never closed"),
            "{e}"
        );
        let e = all("a\n\"x\"y,1\n").unwrap_err().to_string();
        assert!(
            e.starts_with("t.csv:2:") && e.contains("after the closing quote"),
            "{e}"
        );
        let e = all("a\nb\nx\"y\n").unwrap_err().to_string();
        assert!(
            e.starts_with("t.csv:3:") && e.contains("inside an unquoted"),
            "{e}"
        );
    }

    #[test]
    fn too_many_cells() {
        let line = ",".repeat(MAX_CELLS_PER_LINE) + "x";
        let e = all(&format!("a\n{line}")).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:2:") && e.contains("more than"), "{e}");
    }

    #[test]
    fn numbers() {
        assert_eq!(
            parse_number("f", 1, " -1.5e2 ").unwrap().to_bits(),
            (-150f64).to_bits()
        );
        assert_eq!(
            parse_number("f", 1, "+3").unwrap().to_bits(),
            3f64.to_bits()
        );
        for (cell, phrase) in [
            ("", "empty cell"),
            ("abc", "not a number"),
            ("NaN", "NaN"),
            ("-inf", "infinite"),
            ("1e999", "overflows"),
            ("1,5", "not a number"),
        ] {
            let e = parse_number("f", 7, cell).unwrap_err().to_string();
            assert!(e.starts_with("f:7:") && e.contains(phrase), "{cell}: {e}");
        }
    }

    #[test]
    fn quoting_roundtrips_through_the_lexer() {
        for s in ["plain", "a,b", "say \"hi\"", " pad", "multi\nline", ""] {
            let text = format!("{},x\n", csv_cell(s));
            assert_eq!(all(&text).unwrap()[0].cells[0], s, "{text}");
        }
        assert!(matches!(csv_cell("abc"), Cow::Borrowed(_)));
    }

    #[test]
    fn values_roundtrip_bit_exactly() {
        for v in [0.1, -1e300, 1e-300, 1.0 / 3.0, 5e-324, f64::MAX, -0.0, 10.4] {
            let s = format_value(v);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
        }
    }
}
