//! One row's values, written once and sent either way a rebuild loads rows: bound to a
//! multi-row `INSERT` (SQLite, and the swap), or as a line of PostgreSQL's `COPY ... FROM
//! STDIN` text format, which PostgreSQL loads several times faster than bound parameters.

use std::fmt::Write as _;

use crate::sql::Row;

/// A value of one of the column types the read model uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<&'a str>),
}

impl From<i64> for Cell<'_> {
    fn from(value: i64) -> Self {
        Cell::Int(Some(value))
    }
}

impl From<Option<i64>> for Cell<'_> {
    fn from(value: Option<i64>) -> Self {
        Cell::Int(value)
    }
}

impl From<Option<f64>> for Cell<'_> {
    fn from(value: Option<f64>) -> Self {
        Cell::Real(value)
    }
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(value: &'a str) -> Self {
        Cell::Text(Some(value))
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(value: &'a String) -> Self {
        Cell::Text(Some(value))
    }
}

impl<'a> From<&'a Option<String>> for Cell<'a> {
    fn from(value: &'a Option<String>) -> Self {
        Cell::Text(value.as_deref())
    }
}

/// Bind `cells` as one row of a multi-row `VALUES`.
pub(crate) fn bind_row(row: &mut Row<'_>, cells: &[Cell<'_>]) {
    for cell in cells {
        match *cell {
            Cell::Int(value) => row.value(value),
            Cell::Real(value) => row.value(value),
            Cell::Text(value) => row.value(value.map(str::to_string)),
        };
    }
}

/// Append `cells` as one line of `COPY` text format: tab-separated, `\N` for NULL, and
/// backslash escapes for the characters that would end a field or a line.
pub(crate) fn copy_line(out: &mut String, cells: &[Cell<'_>]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        match *cell {
            Cell::Int(None) | Cell::Real(None) | Cell::Text(None) => out.push_str("\\N"),
            Cell::Int(Some(value)) => out.push_str(itoa::Buffer::new().format(value)),
            // Rust prints the shortest text that reads back as the same double.
            Cell::Real(Some(value)) if value.is_nan() => out.push_str("NaN"),
            Cell::Real(Some(value)) if value.is_infinite() => {
                out.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
            }
            Cell::Real(Some(value)) => {
                let _ = write!(out, "{value}");
            }
            Cell::Text(Some(text)) => push_escaped(out, text),
        }
    }
    out.push('\n');
}

/// `text` with the characters that would end a field or a line escaped; the runs between
/// them are copied whole.
fn push_escaped(out: &mut String, mut text: &str) {
    while let Some(at) = text
        .bytes()
        .position(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        out.push_str(&text[..at]);
        out.push_str(match text.as_bytes()[at] {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            _ => "\\r",
        });
        // The byte at `at` is ASCII, so `at + 1` is a character boundary.
        text = &text[at + 1..];
    }
    out.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_lines_escape_what_would_end_a_field_or_a_line() {
        let mut out = String::new();
        copy_line(
            &mut out,
            &[
                Cell::from(-7),
                Cell::Int(None),
                Cell::from(Some(0.1)),
                Cell::from("a\tb\nc\rd\\e \\N"),
                Cell::Text(None),
                Cell::from("ä\t€\\"),
                Cell::from(i64::MIN),
            ],
        );
        assert_eq!(
            out,
            "-7\t\\N\t0.1\ta\\tb\\nc\\rd\\\\e \\\\N\t\\N\tä\\t€\\\\\t-9223372036854775808\n"
        );
    }
}
