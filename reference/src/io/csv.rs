//! CSV records with physical line numbers, read by the [`csv`] crate, and the cell-level
//! helpers shared by every CSV format (numbers, quoting for output).
//!
//! Accepted: RFC 4180 quoted cells (`"a ""b"", c"`, line breaks inside quotes), a UTF-8 byte
//! order mark, `\n`, `\r\n` or lone `\r` line ends, spaces or tabs around cells (after a
//! closing quote too), and blank lines (including lines of empty cells such as `,,`), which
//! are skipped. The delimiter is always a comma. Rejected with the line: a quote inside an
//! unquoted cell, text after a closing quote, an unclosed quote, spaces or tabs before an
//! opening quote, and lines with more than [`MAX_CELLS_PER_LINE`] cells.
//!
//! # How the `csv` crate is used
//! [`csv::Reader`] (no headers, flexible record lengths, CRLF-or-LF-or-CR terminators) splits
//! the text into records and cells and undoes the quoting. Three things are done here on top:
//! - **Strict quoting.** The crate is lenient where this reader reports errors (it reads
//!   `x"y` as the text `x"y`, `"x"y` as `xy`, and an unclosed quote as the rest of the
//!   file). A record whose text contains a quote is therefore checked against the RFC 4180
//!   grammar (one pass over that record's bytes), which also tells which cells were quoted, so
//!   that blanks are trimmed outside quotes only. Records without a quote (nearly all of them)
//!   skip the check.
//! - **Line numbers.** The crate counts `\n` only, so a file with lone `\r` line ends would
//!   be reported as one line; lines are counted here from the crate's byte offsets instead,
//!   with the same rules as [`crate::io::text`].
//! - **The cell limit before allocation.** The crate would build a record of any width
//!   before it could be counted; the text is fed to it through a reader that counts the
//!   unquoted commas of each record and stops at the start of the first record wider than
//!   [`MAX_CELLS_PER_LINE`], so every earlier record is still read (and its errors reported
//!   first).
//!
//! Not kept from the hand-written lexer this replaces: blanks before an opening quote
//! (`a, "b"`). The crate starts a quoted cell only at a quote that opens the cell, so it
//! would read ` "b"` as unquoted text (and split ` "b,c"` in two); such cells are now an
//! error that says to remove the blanks. Spreadsheets never write them.
//!
//! Speed (the ignored test `lexing_throughput`: a long CSV of 10⁵ rows, 1.7 MB, release
//! build): lexing takes about 13.5 ms against 9 ms for the hand-written lexer (20 ms against
//! 12 ms when every label is quoted), and reading the whole table about 22 ms; most of it is
//! the per-cell `String`s of `Record`. In the dev profile the `csv` crates are not
//! optimised (the workspace raises `opt-level` for this crate only), and lexing takes about
//! 45 ms.
//!
//! The long-CSV reader now reads into one reused `Record` (`Lexer::next_into`: no
//! allocation per cell) and looks a label up by comparing it with the same agent's label on
//! the previous row before hashing it. On another machine (2 shared cores) `parse_table_csv`
//! on those 10⁵ rows went from 71.6 ms to 42.7 ms (92.9 to 64.1 ms quoted) against 40 ms for
//! the lexer alone, and loading a 1000 × 1000 long CSV (10⁶ rows, 15.7 MB) with the dev
//! build of `qfactor` from 2.0 s to 1.1 s.

use std::borrow::Cow;
use std::io;

use crate::error::{Error, Result};
use crate::io::text::{count_line_breaks, excerpt, line_at};

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
    /// The text after any byte order mark; every offset below is into it.
    bytes: &'a [u8],
    reader: csv::Reader<CellGuard<'a>>,
    record: csv::StringRecord,
    /// A byte offset (the last record start) and its line, to count lines incrementally.
    mark: (usize, usize),
    /// Whether the text has a quote / a carriage return anywhere (else records skip checks).
    has_quote: bool,
    has_cr: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer over `text`, reporting errors against `file`.
    pub fn new(file: &'a str, text: &'a str) -> Self {
        let bytes = text.strip_prefix('\u{feff}').unwrap_or(text).as_bytes();
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(b',')
            .quote(b'"')
            .double_quote(true)
            .escape(None)
            .comment(None)
            .trim(csv::Trim::None)
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(1 << 16)
            .from_reader(CellGuard::new(bytes));
        Lexer {
            file,
            bytes,
            reader,
            record: csv::StringRecord::new(),
            mark: (0, 1),
            has_quote: bytes.contains(&b'"'),
            has_cr: bytes.contains(&b'\r'),
        }
    }

    /// The file name used in errors.
    pub fn file(&self) -> &'a str {
        self.file
    }

    /// The next non-blank record, or `None` at the end of the text.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        let mut rec = Record {
            line: 0,
            cells: Vec::new(),
        };
        Ok(self.next_into(&mut rec)?.then_some(rec))
    }

    /// Reads the next non-blank record into `rec`, reusing its cells' buffers (no allocation
    /// per cell once they are large enough); false at the end of the text.
    pub fn next_into(&mut self, rec: &mut Record) -> Result<bool> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => return Err(self.read_error(&e)),
            }
            let pos = self.record.position().map_or(0, |p| p.byte());
            let end = self.reader.position().byte();
            let (Ok(pos), Ok(end)) = (usize::try_from(pos), usize::try_from(end)) else {
                return Err(self.err(self.mark.1, "the file is too large to read"));
            };
            // The crate skips empty lines as part of the record that follows them.
            let start = pos
                + self.bytes[pos..end]
                    .iter()
                    .take_while(|&&b| b == b'\n' || b == b'\r')
                    .count();
            let line = self.line_of(start);
            if self.record.len() > MAX_CELLS_PER_LINE {
                return Err(self.too_wide(line));
            }
            let quoted = self.has_quote && self.bytes[start..end].contains(&b'"');
            let n = self.record.len();
            rec.line = line;
            rec.cells.truncate(n);
            let mut put = |i: usize, text: &str| match rec.cells.get_mut(i) {
                Some(c) => {
                    c.clear();
                    c.push_str(text);
                }
                None => rec.cells.push(text.to_owned()),
            };
            if quoted {
                let layout = self.quote_layout(start, line)?;
                debug_assert_eq!(layout.len(), n);
                for (i, (cell, trailing)) in self.record.iter().zip(layout).enumerate() {
                    put(
                        i,
                        match trailing {
                            // The crate appends the blanks after a closing quote to the cell.
                            Some(k) => cell.get(..cell.len().saturating_sub(k)).unwrap_or(cell),
                            None => cell.trim_matches(BLANKS),
                        },
                    );
                }
            } else {
                for (i, cell) in self.record.iter().enumerate() {
                    put(i, cell.trim_matches(BLANKS));
                }
            }
            if quoted || rec.cells.iter().any(|c| !c.is_empty()) {
                return Ok(true);
            }
        }
    }

    fn err(&self, line: usize, msg: impl Into<String>) -> Error {
        Error::input(self.file, Some(line), msg)
    }

    fn too_wide(&self, line: usize) -> Error {
        self.err(
            line,
            format!("more than {MAX_CELLS_PER_LINE} cells on one line"),
        )
    }

    /// The error for a failed read: the cell guard's stop, or (not expected from an in-memory
    /// text) whatever the crate reports.
    fn read_error(&mut self, e: &csv::Error) -> Error {
        match self.reader.get_ref().stopped_at {
            Some(start) => {
                let line = self.line_of(start);
                self.too_wide(line)
            }
            None => Error::input(self.file, None, format!("cannot read the CSV text: {e}")),
        }
    }

    /// The line of byte offset `pos`, which must not precede the last one asked for.
    fn line_of(&mut self, pos: usize) -> usize {
        let (at, line) = self.mark;
        debug_assert!(pos >= at);
        // A `\r` just before `pos` is a lone one: `pos` never starts with the `\n` of `\r\n`.
        let skipped = &self.bytes[at..pos];
        let line = line
            + if self.has_cr {
                count_line_breaks(skipped)
            } else {
                skipped.iter().filter(|&&b| b == b'\n').count()
            };
        self.mark = (pos, line);
        line
    }

    /// Checks the record starting at `start` (on `line`) against RFC 4180 quoting and returns,
    /// per cell, `None` when it is unquoted or the number of blanks after its closing quote.
    fn quote_layout(&self, start: usize, line: usize) -> Result<Vec<Option<usize>>> {
        let b = &self.bytes[start..];
        let at = |i: usize| line + line_at(b, i) - 1;
        let blank = |c: u8| c == b' ' || c == b'\t';
        let ends_cell = |c: u8| matches!(c, b',' | b'\n' | b'\r');
        let mut layout = Vec::new();
        let mut i = 0;
        loop {
            let cell_start = i;
            while i < b.len() && blank(b[i]) {
                i += 1;
            }
            if b.get(i) == Some(&b'"') {
                if i > cell_start {
                    return Err(self.err(
                        at(i),
                        "spaces before the opening quote of a cell; remove them (write \
                         ,\"x\" rather than , \"x\")",
                    ));
                }
                let open = i;
                i += 1;
                loop {
                    let Some(off) = b[i..].iter().position(|&c| c == b'"') else {
                        return Err(self.err(at(open), "a quoted cell is never closed"));
                    };
                    i += off + 1;
                    if b.get(i) == Some(&b'"') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let closed = i;
                while i < b.len() && blank(b[i]) {
                    i += 1;
                }
                if i < b.len() && !ends_cell(b[i]) {
                    return Err(
                        self.err(at(i), "unexpected text after the closing quote of a cell")
                    );
                }
                layout.push(Some(i - closed));
            } else {
                while i < b.len() && !ends_cell(b[i]) {
                    if b[i] == b'"' {
                        return Err(self.err(
                            at(i),
                            "a quote (\") inside an unquoted cell; quote the whole cell and \
                             double the inner quotes",
                        ));
                    }
                    i += 1;
                }
                layout.push(None);
            }
            if i >= b.len() || b[i] != b',' {
                return Ok(layout);
            }
            i += 1;
        }
    }
}

/// A hint for a header that is one cell holding semicolons or tabs: the file is most likely
/// separated by them (a spreadsheet's regional "CSV" or a TSV), and qfactor reads commas only.
/// Empty otherwise; else it starts with "; " to follow a message.
pub(crate) fn separator_hint(header: &Record) -> String {
    let [only] = header.cells.as_slice() else {
        return String::new();
    };
    let sep = if only.contains(';') {
        "semicolons (;)"
    } else if only.contains('\t') {
        "tabs"
    } else {
        return String::new();
    };
    format!(
        "; the header looks separated by {sep}, but qfactor reads comma-separated files only: \
         save the file with commas between cells"
    )
}

/// The blanks trimmed around cells (outside quotes).
const BLANKS: [char; 2] = [' ', '\t'];

/// The text as the `csv` reader sees it, cut at the start of the first record with more than
/// [`MAX_CELLS_PER_LINE`] cells (counting commas outside quotes): reading on from there is an
/// error, and [`CellGuard::stopped_at`] says where the record starts.
struct CellGuard<'a> {
    bytes: &'a [u8],
    /// Bytes handed out (and scanned) so far.
    pos: usize,
    in_quotes: bool,
    cells: usize,
    record_start: usize,
    stopped_at: Option<usize>,
}

impl<'a> CellGuard<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        CellGuard {
            bytes,
            pos: 0,
            in_quotes: false,
            cells: 1,
            record_start: 0,
            stopped_at: None,
        }
    }
}

impl CellGuard<'_> {
    /// Counts the cells of the records in `bytes[pos..end]`, stopping at one too wide.
    fn scan(&mut self, end: usize) {
        let mut i = self.pos;
        while i < end {
            let b = &self.bytes[i..end];
            let next = b
                .iter()
                .position(|&c| c == b'"' || c == b'\n' || c == b'\r')
                .map_or(end, |k| i + k);
            if !self.in_quotes {
                self.cells += self.bytes[i..next].iter().filter(|&&c| c == b',').count();
                if self.cells > MAX_CELLS_PER_LINE {
                    self.stopped_at = Some(self.record_start);
                    return;
                }
            }
            match self.bytes.get(next) {
                _ if next == end => return,
                Some(b'"') => self.in_quotes = !self.in_quotes,
                _ if !self.in_quotes => {
                    self.cells = 1;
                    self.record_start = next + 1;
                }
                _ => {}
            }
            i = next + 1;
        }
    }
}

impl io::Read for CellGuard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut end = self.bytes.len().min(self.pos + buf.len());
        if self.stopped_at.is_none() {
            self.scan(end);
        }
        if let Some(stop) = self.stopped_at {
            end = end.min(stop.max(self.pos));
            if end == self.pos {
                return Err(io::Error::other(format!(
                    "more than {MAX_CELLS_PER_LINE} cells on one line"
                )));
            }
        }
        let n = end - self.pos;
        buf[..n].copy_from_slice(&self.bytes[self.pos..end]);
        self.pos = end;
        Ok(n)
    }
}

/// The largest magnitude of a number read from any input (payoffs, weights, learned values):
/// 10¹⁰⁰. Squares, products and sums of squares over the largest table (2²⁴ entries, see
/// [`crate::table::MAX_JOINT_ACTIONS`]) then stay far below `f64::MAX` ≈ 1.8·10³⁰⁸, so that
/// no mean squared error or projection overflows to infinity.
pub const MAX_ABS_VALUE: f64 = 1e100;

/// `v` for a message: as Rust prints it, but in exponent form (`1e308`) when it is large, rather
/// than with hundreds of digits.
pub(crate) fn short_number(v: f64) -> String {
    if v.abs() >= 1e16 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// The refusal of a finite number beyond [`MAX_ABS_VALUE`], after `what` (e.g. a quoted cell).
pub(crate) fn too_large(what: &str) -> String {
    format!(
        "{what} is too large: numbers up to 1e100 in magnitude are accepted (larger ones \
         overflow when squared)"
    )
}

/// Parses a payoff, weight or value cell as a finite `f64` of magnitude at most
/// [`MAX_ABS_VALUE`].
pub(crate) fn parse_number(file: &str, line: usize, cell: &str) -> Result<f64> {
    let t = cell.trim();
    let err = |m: String| Err(Error::input(file, Some(line), m));
    if t.is_empty() {
        return err("missing number (empty cell)".into());
    }
    let q = || excerpt(t);
    match t.parse::<f64>() {
        Err(_) => err(format!("{} is not a number", q())),
        Ok(v) if v.is_nan() => err(format!("{} is not a finite number (NaN)", q())),
        Ok(v) if v.is_infinite() => {
            if t.to_ascii_lowercase().contains("inf") {
                err(format!("{} is not a finite number (infinite)", q()))
            } else {
                err(format!(
                    "{} is not a finite number (it overflows to infinity)",
                    q()
                ))
            }
        }
        Ok(v) if v.abs() > MAX_ABS_VALUE => err(too_large(&q())),
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
    fn line_ends_of_every_kind_are_counted() {
        assert_eq!(
            all("a\r\r\rb\nc\r\n\r\nd").unwrap(),
            vec![
                rec(1, &["a"]),
                rec(4, &["b"]),
                rec(5, &["c"]),
                rec(7, &["d"])
            ]
        );
        let e = all("a\r\rb,\"x\"y\n").unwrap_err().to_string();
        assert!(e.starts_with("t.csv:3:"), "{e}");
        // Blank lines of blanks and empty cells between records.
        assert_eq!(all("\u{feff}\n \t\n,,\na\n").unwrap(), vec![rec(4, &["a"])]);
    }

    #[test]
    fn blanks_are_trimmed_outside_quotes_only() {
        assert_eq!(
            all("\t a\t,\"x \" \t,\"\",y\n").unwrap(),
            vec![rec(1, &["a", "x ", "", "y"])]
        );
        // A quoted empty cell keeps its record; `;` is text, not a delimiter.
        assert_eq!(
            all("\"\",\n1;2,3\n").unwrap(),
            vec![rec(1, &["", ""]), rec(2, &["1;2", "3"])]
        );
        assert_eq!(
            all("a,\"b\r\nc\"\r\nd,\"\"\"\"\r\n").unwrap(),
            vec![rec(1, &["a", "b\r\nc"]), rec(3, &["d", "\""])]
        );
    }

    #[test]
    fn blanks_before_an_opening_quote_are_an_error() {
        let e = all("a\nx, \"b,c\"\n").unwrap_err().to_string();
        assert!(
            e.starts_with("t.csv:2:") && e.contains("before the opening quote"),
            "{e}"
        );
    }

    #[test]
    fn the_cell_limit_applies_per_record_in_order() {
        // Exactly the limit is fine; commas inside quotes are not cells.
        let full = ",".repeat(MAX_CELLS_PER_LINE - 1);
        let r = all(&format!("{full}x\n")).unwrap();
        assert_eq!(r[0].cells.len(), MAX_CELLS_PER_LINE);
        let quoted = format!("\"{}\",x\n", ",".repeat(2 * MAX_CELLS_PER_LINE));
        assert_eq!(all(&quoted).unwrap()[0].cells.len(), 2);
        // Records before a too-wide one are read (and their errors come) first.
        let wide = ",".repeat(MAX_CELLS_PER_LINE) + "x";
        let text = format!("a\n\"q\nr\",b\n\n{wide}\nz\n");
        let mut lx = Lexer::new("t.csv", &text);
        assert_eq!(lx.next_record().unwrap(), Some(rec(1, &["a"])));
        assert_eq!(lx.next_record().unwrap(), Some(rec(2, &["q\nr", "b"])));
        let e = lx.next_record().unwrap_err().to_string();
        assert!(e.starts_with("t.csv:5:") && e.contains("more than"), "{e}");
        let e = all(&format!("a\nb\"c\n{wide}\n")).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:2:") && e.contains("unquoted"), "{e}");
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
            ("1e308", "too large"),
            ("-1.5e100", "too large"),
            ("s3cr3t-API-KEY-123", "\"s3cr3t-API-K…\" is not a number"),
        ] {
            let e = parse_number("f", 7, cell).unwrap_err().to_string();
            assert!(e.starts_with("f:7:") && e.contains(phrase), "{cell}: {e}");
            assert!(!e.contains("KEY-123"), "{e}");
        }
        assert_eq!(
            parse_number("f", 1, "-1e100").unwrap().to_bits(),
            (-MAX_ABS_VALUE).to_bits()
        );
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

    /// A long CSV of 10⁵ rows (100 × 100 × 10 joint actions), labels quoted when `quoted`.
    fn long_csv(quoted: bool) -> String {
        let q = if quoted { "\"" } else { "" };
        let mut t = String::from("agent1,agent2,agent3,reward\n");
        for a in 0..100 {
            for b in 0..100 {
                for c in 0..10 {
                    let r = (a * 31 + b * 7 + c) % 97;
                    t.push_str(&format!("{q}a{a}{q},{q}b{b}{q},{q}c{c}{q},{r}.25\n"));
                }
            }
        }
        t
    }

    /// Throughput of the lexer and of the whole long-CSV reader on 10⁵ rows (run with
    /// `cargo test --release -p qfactor-reference --lib -- --ignored lexing_throughput
    /// --nocapture`). Measured against the hand-written lexer this module replaced: see the
    /// module docs.
    #[test]
    #[ignore]
    fn lexing_throughput() {
        use std::time::Instant;
        fn median(mut v: Vec<f64>) -> String {
            v.sort_by(f64::total_cmp);
            format!("{:.1} ms (min {:.1})", v[v.len() / 2], v[0])
        }
        for quoted in [false, true] {
            let text = long_csv(quoted);
            let (mut lex, mut full) = (Vec::new(), Vec::new());
            for _ in 0..16 {
                let t = Instant::now();
                let mut lx = Lexer::new("t.csv", &text);
                let mut n = 0;
                while let Some(r) = lx.next_record().unwrap() {
                    n += r.cells.len();
                }
                assert_eq!(n, 400_004);
                lex.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let g = crate::io::game_file::parse_table_csv("l.csv", &text).unwrap();
                assert_eq!(g.values.len(), 100_000);
                full.push(t.elapsed().as_secs_f64() * 1e3);
            }
            println!(
                "labels quoted: {quoted}, {:.2} MB: lexer {}, parse_table_csv {}",
                text.len() as f64 / 1e6,
                median(lex),
                median(full)
            );
        }
    }

    proptest::proptest! {
        /// Any cells written with [`csv_cell`] read back as themselves.
        #[test]
        fn written_cells_read_back(
            rows in proptest::collection::vec(
                proptest::collection::vec("[ab,\"\n\r \t;é]{0,6}", 1..5),
                0..6,
            ),
            crlf in proptest::bool::ANY,
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let text: String = rows
                .iter()
                .map(|r| r.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",") + end)
                .collect();
            let want: Vec<&Vec<String>> = rows
                .iter()
                .filter(|r| r.iter().any(|c| !c.is_empty()))
                .collect();
            let got = all(&text).unwrap();
            proptest::prop_assert_eq!(got.iter().map(|r| &r.cells).collect::<Vec<_>>(), want);
        }
    }
}
