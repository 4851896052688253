//! A plain aligned text table for terminal output.

use std::fmt::Write as _;

/// Rows of cells under a header, rendered with columns padded to the widest cell.
///
/// Cells longer than `max_width` are cut with an ellipsis so one long message cannot push
/// every other column off screen; newlines inside cells are shown as spaces.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    max_width: Option<usize>,
}

impl Table {
    pub fn new<I, S>(headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table { headers: headers.into_iter().map(Into::into).collect(), rows: Vec::new(), max_width: None }
    }

    /// Cuts cells to at most `width` characters.
    pub fn max_width(mut self, width: usize) -> Self {
        self.max_width = Some(width.max(4));
        self
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).take(self.headers.len()).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    fn cell(&self, s: &str) -> String {
        let flat: String = s.chars().map(|c| if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c }).collect();
        match self.max_width {
            Some(w) if flat.chars().count() > w => {
                let mut cut: String = flat.chars().take(w - 1).collect();
                cut.push('…');
                cut
            }
            _ => flat,
        }
    }

    /// Renders header and rows; trailing spaces are trimmed from every line.
    pub fn render(&self) -> String {
        let header: Vec<String> = self.headers.iter().map(|h| self.cell(h)).collect();
        let rows: Vec<Vec<String>> = self.rows.iter().map(|r| r.iter().map(|c| self.cell(c)).collect()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (i, c) in row.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&header).chain(rows.iter()) {
            let mut text = String::new();
            for (i, c) in line.iter().enumerate() {
                let pad = widths[i] - c.chars().count();
                let _ = write!(text, "{c}{}  ", " ".repeat(pad));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_cuts() {
        let mut t = Table::new(["NAME", "MESSAGE"]).max_width(10);
        t.row(["a", "short"]);
        t.row(["longer-name", "a very long message\nwith newline"]);
        t.row(["x"]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NAME        MESSAGE");
        assert_eq!(lines[1], "a           short");
        assert_eq!(lines[2], "longer-na…  a very lo…");
        assert_eq!(lines[3], "x");
        assert_eq!(t.len(), 3);
    }
}
