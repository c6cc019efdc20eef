//! Terminal styling and text hygiene shared by the text renderers.

use anstyle::{AnsiColor, Style};

/// The few tones the text output uses; one place maps them to ANSI styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Good,
    Bad,
    Warn,
    Active,
    Muted,
    Strong,
    Plain,
}

fn style(tone: Tone) -> Style {
    let fg = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    match tone {
        Tone::Good => fg(AnsiColor::Green),
        Tone::Bad => fg(AnsiColor::Red).bold(),
        Tone::Warn => fg(AnsiColor::Yellow),
        Tone::Active => fg(AnsiColor::Cyan),
        Tone::Muted => Style::new().dimmed(),
        Tone::Strong => Style::new().bold(),
        Tone::Plain => Style::new(),
    }
}

/// `text` wrapped in the tone's escape codes when `color` is on.
pub(crate) fn paint(text: &str, tone: Tone, color: bool) -> String {
    let s = style(tone);
    if !color || s == Style::new() {
        return text.to_owned();
    }
    format!("{}{text}{}", s.render(), s.render_reset())
}

/// One printable line: control characters (ESC included, so stored error messages cannot
/// drive the terminal) and line breaks become spaces.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `s` padded with spaces to `width` characters (padding before painting keeps columns
/// aligned when colour codes are added).
pub(crate) fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    let mut out = s.to_owned();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    out
}

/// Rows of cells as aligned columns separated by two spaces; trailing spaces trimmed.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(&pad(cell, widths.get(i).copied().unwrap_or(0)));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The branch of a step id: `vnet-a/create-nic` → `vnet-a`; top-level steps have none.
pub(crate) fn branch(id: &str) -> Option<&str> {
    id.split_once('/').map(|(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hygiene() {
        assert_eq!(clean("a\nb\x1b[31mc"), "a b [31mc");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(paint("x", Tone::Good, false), "x");
        assert!(paint("x", Tone::Bad, true).starts_with('\x1b'));
        assert_eq!(branch("vnet-a/create-nic"), Some("vnet-a"));
        assert_eq!(branch("validate"), None);
    }
}
