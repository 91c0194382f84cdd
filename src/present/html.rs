//! A one-page, self-contained HTML report: inline CSS, pictures embedded as base64 `data:`
//! URIs, no scripts and no network access, so it opens in any browser and can be mailed or
//! archived as one file. This module only lays out what it is given (text, tables, pictures);
//! the content is assembled by the commands.

use crate::present::render::TableView;
use base64::Engine as _;
use std::fmt::Write as _;

/// The whole page.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Page title (also the `<h1>`).
    pub title: String,
    /// Lines under the title.
    pub lead: Vec<String>,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// A section with a heading.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The `<h2>`.
    pub heading: String,
    /// The content.
    pub blocks: Vec<Block>,
}

/// A table cell with an optional emphasis.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The text (escaped when written).
    pub text: String,
    /// Emphasis.
    pub tone: Tone,
}

/// How a cell or a fact is emphasised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Plain.
    Plain,
    /// Good news (green).
    Good,
    /// Bad news (red).
    Bad,
}

impl Cell {
    /// A plain cell.
    pub fn plain(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            tone: Tone::Plain,
        }
    }

    /// A cell in `tone`.
    pub fn toned(text: impl Into<String>, tone: Tone) -> Self {
        Cell {
            text: text.into(),
            tone,
        }
    }
}

/// One piece of content.
#[derive(Debug, Clone)]
pub enum Block {
    /// A sub-heading (`<h3>`).
    Subheading(String),
    /// A paragraph of text.
    Paragraph(String),
    /// Label–value pairs.
    Facts(Vec<(String, Cell)>),
    /// A data table.
    Table {
        /// Caption above the table.
        caption: Option<String>,
        /// Column headings.
        header: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<Cell>>,
    },
    /// Joint tables in the QTRAN paper's Table 1 layout, side by side.
    JointTables(Vec<JointGrid>),
    /// A PNG picture with a caption.
    Image {
        /// The PNG bytes (embedded as base64).
        png: Vec<u8>,
        /// Alternative text.
        alt: String,
        /// Caption under the picture.
        caption: String,
    },
    /// Preformatted text (configuration, commands).
    Pre(String),
}

/// A joint table laid out like the paper's Table 1, ready for HTML.
#[derive(Debug, Clone)]
pub struct JointGrid {
    /// Title above the grid.
    pub title: String,
    /// The top-left corner text.
    pub corner: String,
    /// Column headings (agent 2's actions, with utilities when known).
    pub col_heads: Vec<String>,
    /// Row headings.
    pub row_heads: Vec<String>,
    /// Cells: text, optimal for the true table, greedy for the shown factorization.
    pub cells: Vec<Vec<(String, bool, bool)>>,
}

impl JointGrid {
    /// The grid of a text-table view (two agents: rows × columns; otherwise one row per joint
    /// action of agents 1..N−1 and a column per action of agent N).
    pub fn from_view(view: &TableView<'_>) -> Self {
        let n = view.actions.len();
        let last = view.actions.last().cloned().unwrap_or_default();
        let nc = last.len().max(1);
        let nr = view.values.len() / nc;
        let util = |v: f64, l: &str| format!("{l} ({})", fmt(v));
        let col_heads: Vec<String> = match view.utilities {
            Some(u) if n >= 2 => last
                .iter()
                .zip(&u[n - 1])
                .map(|(l, &v)| util(v, l))
                .collect(),
            _ => last.clone(),
        };
        let shape: Vec<usize> = view.actions[..n.saturating_sub(1)]
            .iter()
            .map(Vec::len)
            .collect();
        let mut idx = vec![0usize; shape.len()];
        let mut row_heads = Vec::with_capacity(nr);
        for _ in 0..nr {
            let labels: Vec<String> = idx
                .iter()
                .zip(view.actions)
                .map(|(&a, l)| l[a].clone())
                .collect();
            let head = match (view.utilities, n) {
                (Some(u), 2) => util(u[0][idx[0]], &labels[0]),
                _ => labels.join(" "),
            };
            row_heads.push(head);
            reference::table::increment(&mut idx, &shape);
        }
        let cells = (0..nr)
            .map(|r| {
                (0..nc)
                    .map(|c| {
                        let k = r * nc + c;
                        (
                            fmt(view.values[k]),
                            view.optimal.contains(&k),
                            view.greedy.contains(&k),
                        )
                    })
                    .collect()
            })
            .collect();
        let corner = if n == 2 {
            "u₁ \\ u₂"
        } else {
            "u₁…u₍N−1₎ \\ u_N"
        };
        JointGrid {
            title: view.title.clone(),
            corner: corner.into(),
            col_heads,
            row_heads,
            cells,
        }
    }
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" {
        "0.00".into()
    } else {
        s.replace('-', "−")
    }
}

/// The legend of [`Block::JointTables`] (put it once before the first tables of a section).
pub const JOINT_TABLE_KEY: &str = "* and green: optimal for the true table; [bold]: greedy joint \
                                   action of the shown factorization; numbers in brackets beside \
                                   the action labels: the utilities Q_i.";

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
body{font-family:-apple-system,'Segoe UI','DejaVu Sans',Roboto,Helvetica,Arial,sans-serif;
  margin:0;background:#fafafa;color:#1a1a1a;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:1.7em;margin:.2em 0 .1em}
h2{font-size:1.3em;margin:1.6em 0 .5em;padding-bottom:.2em;border-bottom:1px solid #ddd}
h3{font-size:1.08em;margin:1.2em 0 .3em}
.lead{color:#555;margin:.1em 0}
table{border-collapse:collapse;margin:.4em 0 1em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f0f0f0;font-weight:600}
td.l,th.l{text-align:left}
td:not(.l){white-space:nowrap}
.good{color:#1b7a2f;font-weight:600}
.bad{color:#b3261e;font-weight:600}
.grids{display:flex;flex-wrap:wrap;gap:6px 28px;align-items:flex-start}
.grid-title{font-weight:600;font-size:.92em;max-width:30em;margin-top:.4em}
.caption{font-weight:600;font-size:.95em;margin:.8em 0 .2em}
td.opt{background:#e3f1e6}
td.greedy{font-weight:700}
td.greedy::before{content:'['}
td.greedy::after{content:']'}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:.4em 0 1em}
dt{color:#555}
dd{margin:0}
figure{margin:1em 0 1.6em}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.92em;margin-top:.3em}
pre{background:#f6f6f6;border:1px solid #e4e4e4;padding:10px;overflow:auto;font-size:.85em}
.key{color:#555;font-size:.9em}
";

/// True for cells that read as numbers (`12`, `−0.25`, `35%`, `0–32%`, `8 of 8`, `–`).
fn is_numeric(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && t.chars().any(|c| c.is_ascii_digit() || c == '–')
        && t.chars()
            .all(|c| c.is_ascii_digit() || " .,%−-–+eof".contains(c))
}

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Plain => "",
        Tone::Good => " class=\"good\"",
        Tone::Bad => " class=\"bad\"",
    }
}

fn write_block(out: &mut String, b: &Block) {
    match b {
        Block::Subheading(h) => {
            let _ = writeln!(out, "<h3>{}</h3>", escape(h));
        }
        Block::Paragraph(p) => {
            let _ = writeln!(out, "<p>{}</p>", escape(p));
        }
        Block::Facts(facts) => {
            out.push_str("<dl>\n");
            for (k, v) in facts {
                let _ = writeln!(
                    out,
                    "<dt>{}</dt><dd><span{}>{}</span></dd>",
                    escape(k),
                    tone_class(v.tone),
                    escape(&v.text)
                );
            }
            out.push_str("</dl>\n");
        }
        Block::Table {
            caption,
            header,
            rows,
        } => {
            if let Some(c) = caption {
                let _ = writeln!(out, "<p class=\"caption\">{}</p>", escape(c));
            }
            // Numbers are right-aligned, words left-aligned (per column: numeric when every
            // cell of it is).
            let ncols = header.len();
            let numeric: Vec<bool> = (0..ncols)
                .map(|k| {
                    k > 0
                        && rows
                            .iter()
                            .all(|r| r.get(k).is_none_or(|c| is_numeric(&c.text)))
                })
                .collect();
            out.push_str("<table>\n<tr>");
            for (k, h) in header.iter().enumerate() {
                let class = if numeric[k] { "" } else { " class=\"l\"" };
                let _ = write!(out, "<th{class}>{}</th>", escape(h));
            }
            out.push_str("</tr>\n");
            for row in rows {
                out.push_str("<tr>");
                for (k, c) in row.iter().enumerate() {
                    let mut classes = Vec::new();
                    if !numeric.get(k).copied().unwrap_or(false) {
                        classes.push("l");
                    }
                    match c.tone {
                        Tone::Good => classes.push("good"),
                        Tone::Bad => classes.push("bad"),
                        Tone::Plain => {}
                    }
                    let class = if classes.is_empty() {
                        String::new()
                    } else {
                        format!(" class=\"{}\"", classes.join(" "))
                    };
                    let _ = write!(out, "<td{class}>{}</td>", escape(&c.text));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        }
        Block::JointTables(grids) => {
            out.push_str("<div class=\"grids\">\n");
            for g in grids {
                out.push_str("<div>");
                let _ = writeln!(out, "<p class=\"grid-title\">{}</p>", escape(&g.title));
                let _ = write!(
                    out,
                    "<table>\n<tr><th class=\"l\">{}</th>",
                    escape(&g.corner)
                );
                for h in &g.col_heads {
                    let _ = write!(out, "<th>{}</th>", escape(h));
                }
                out.push_str("</tr>\n");
                for (head, row) in g.row_heads.iter().zip(&g.cells) {
                    let _ = write!(out, "<tr><th class=\"l\">{}</th>", escape(head));
                    for (text, opt, greedy) in row {
                        let mut classes = Vec::new();
                        if *opt {
                            classes.push("opt");
                        }
                        if *greedy {
                            classes.push("greedy");
                        }
                        let class = if classes.is_empty() {
                            String::new()
                        } else {
                            format!(" class=\"{}\"", classes.join(" "))
                        };
                        let star = if *opt { "*" } else { "" };
                        let _ = write!(out, "<td{class}>{}{star}</td>", escape(text));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</table></div>\n");
            }
            out.push_str("</div>\n");
        }
        Block::Image { png, alt, caption } => {
            let data = base64::engine::general_purpose::STANDARD.encode(png);
            let _ = writeln!(
                out,
                "<figure><img alt=\"{}\" src=\"data:image/png;base64,{data}\">\
                 <figcaption>{}</figcaption></figure>",
                escape(alt),
                escape(caption)
            );
        }
        Block::Pre(text) => {
            let _ = writeln!(out, "<pre>{}</pre>", escape(text));
        }
    }
}

/// The complete HTML page.
pub fn render_html(r: &Report) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&r.title));
    let _ = writeln!(out, "<style>{CSS}</style>\n</head>\n<body>\n<main>");
    let _ = writeln!(out, "<h1>{}</h1>", escape(&r.title));
    for l in &r.lead {
        let _ = writeln!(out, "<p class=\"lead\">{}</p>", escape(l));
    }
    for s in &r.sections {
        let _ = writeln!(out, "<h2>{}</h2>", escape(&s.heading));
        for b in &s.blocks {
            write_block(&mut out, b);
        }
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained_and_escaped() {
        let actions = vec![
            vec!["A".to_string(), "B".into()],
            vec!["A".into(), "B".into()],
        ];
        let values = [8.0, -12.0, -12.0, 0.0];
        let utilities = vec![vec![1.0, 0.0], vec![2.0, -1.0]];
        let view = TableView {
            title: "Q <jt>".into(),
            actions: &actions,
            values: &values,
            utilities: Some(&utilities),
            optimal: &[0],
            greedy: &[0],
        };
        let r = Report {
            title: "T & <b>".into(),
            lead: vec!["lead".into()],
            sections: vec![Section {
                heading: "S".into(),
                blocks: vec![
                    Block::Subheading("sub".into()),
                    Block::Paragraph("see https://example.org <script>".into()),
                    Block::Facts(vec![("k".into(), Cell::toned("v", Tone::Good))]),
                    Block::Table {
                        caption: None,
                        header: vec!["a".into(), "b".into()],
                        rows: vec![vec![Cell::plain("x"), Cell::toned("y", Tone::Bad)]],
                    },
                    Block::JointTables(vec![JointGrid::from_view(&view)]),
                    Block::Image {
                        png: vec![1, 2, 3],
                        alt: "pic".into(),
                        caption: "c".into(),
                    },
                    Block::Pre("{\"a\": 1}".into()),
                ],
            }],
        };
        let html = render_html(&r);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>T &amp; &lt;b&gt;</title>"));
        assert!(!html.contains("<script"), "text is escaped");
        assert!(html.contains("src=\"data:image/png;base64,AQID\""));
        assert!(!html.contains("src=\"http") && !html.contains("href="));
        assert!(html.contains("<td class=\"opt greedy\">8.00*</td>"));
        assert!(html.contains("A (1.00)") && html.contains("B (−1.00)"));
        assert!(html.contains("class=\"l bad\">y</td>"));
        assert!(is_numeric("0–32%") && is_numeric("8 of 8") && is_numeric("−12.00"));
        assert!(!is_numeric("keeps the optimum") && !is_numeric("of"));
    }

    #[test]
    fn grid_of_three_agents_lists_joint_rows() {
        let actions = vec![vec!["a".to_string(), "b".into()]; 3];
        let values: Vec<f64> = (0..8).map(f64::from).collect();
        let view = TableView {
            title: "t".into(),
            actions: &actions,
            values: &values,
            utilities: None,
            optimal: &[7],
            greedy: &[],
        };
        let g = JointGrid::from_view(&view);
        assert_eq!(g.row_heads, vec!["a a", "a b", "b a", "b b"]);
        assert_eq!(g.col_heads, vec!["a", "b"]);
        assert!(g.cells[3][1].1);
    }
}
