//! Terminal styling: colours only when the stream is a terminal and `NO_COLOR` is unset
//! (<https://no-color.org>); otherwise every function returns its text unchanged.

use std::io::IsTerminal;

/// True unless `NO_COLOR` is set to a non-empty value.
pub fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Styling for one output stream.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Styling for stdout.
    pub fn stdout() -> Self {
        Style {
            on: std::io::stdout().is_terminal() && colour_allowed(),
        }
    }

    /// Styling for stderr.
    pub fn stderr() -> Self {
        Style {
            on: std::io::stderr().is_terminal() && colour_allowed(),
        }
    }

    /// No styling.
    #[cfg(test)]
    pub fn plain() -> Self {
        Style { on: false }
    }

    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Bold.
    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }

    /// Green (good news: optimal, holds).
    #[cfg_attr(not(feature = "neural"), allow(dead_code))]
    pub fn good(&self, s: &str) -> String {
        self.wrap("32", s)
    }

    /// Red (bad news: loses the optimum, fails).
    pub fn bad(&self, s: &str) -> String {
        self.wrap("31", s)
    }

    /// Colours a line of plain text after it has been laid out (so widths are unaffected):
    /// table entries marked optimal (`*`) in green, greedy entries (`[…]`) in bold, and the
    /// verdict words `keeps`/`holds` in green, `LOSES`/`FAILS`/`NO` in red.
    pub fn table_line(&self, line: &str) -> String {
        if !self.on {
            return line.to_string();
        }
        let mut out = String::with_capacity(line.len() + 16);
        let mut token = String::new();
        let flush = |token: &mut String, out: &mut String| {
            if token.is_empty() {
                return;
            }
            let t = std::mem::take(token);
            let optimal = t.ends_with('*') && t.len() > 1;
            let greedy = t.starts_with('[') && t.contains(']');
            let word = t.trim_end_matches([',', '.', ';', ':', ')']);
            out.push_str(&match (optimal, greedy, word) {
                (true, true, _) => self.wrap("1;32", &t),
                (true, false, _) => self.wrap("32", &t),
                (false, true, _) => self.wrap("1", &t),
                (_, _, "keeps" | "holds") => self.wrap("32", &t),
                (_, _, "LOSES" | "FAILS" | "NO") => self.wrap("1;31", &t),
                _ => t,
            });
        };
        for c in line.chars() {
            if c == ' ' {
                flush(&mut token, &mut out);
                out.push(c);
            } else {
                token.push(c);
            }
        }
        flush(&mut token, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_changes_nothing() {
        let s = Style::plain();
        assert_eq!(s.bold("x"), "x");
        assert_eq!(s.table_line("  [8.00]*  0.00"), "  [8.00]*  0.00");
    }

    #[test]
    fn table_line_keeps_visible_text() {
        let s = Style { on: true };
        let line = "  A  [8.00]*  -12.00  0.00*  (4a) holds, (4b) FAILS";
        let styled = s.table_line(line);
        let visible: String = {
            let mut out = String::new();
            let mut esc = false;
            for c in styled.chars() {
                match (esc, c) {
                    (false, '\x1b') => esc = true,
                    (true, 'm') => esc = false,
                    (false, c) => out.push(c),
                    _ => {}
                }
            }
            out
        };
        assert_eq!(visible, line);
        assert!(styled.contains("\x1b[1;32m[8.00]*"));
        assert!(styled.contains("\x1b[32m0.00*"));
        assert!(styled.contains("\x1b[32mholds,") && styled.contains("\x1b[1;31mFAILS"));
    }
}
