//! Spec errors. Each one names the file, line, column and field, so an operator can fix the
//! file without guessing; all semantic errors of a file are reported together.

use std::fmt;

/// What kind of defect an error is about (for callers that branch on it; the message says it
/// to people).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file cannot be read.
    Io,
    /// Not valid TOML.
    Syntax,
    /// A key the schema does not know.
    UnknownKey,
    /// A value of the wrong TOML type.
    WrongType,
    /// A required key or table is absent.
    Missing,
    /// A value of the right type that breaks a rule (range, format, cross-field).
    Invalid,
    /// A secret reference that does not resolve on this machine.
    Secret,
}

/// One defect in a spec file. Display: `{file}:{line}:{column}: {field}: {message}`.
/// `line` and `column` are 1-based; `column` counts characters, not bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {field}: {message}")]
pub struct SpecError {
    pub kind: ErrorKind,
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Field path, 0-based for arrays: `network[1].private_ip`. `(syntax)` for TOML syntax
    /// errors, `(file)` when the file cannot be read.
    pub field: String,
    pub message: String,
}

/// All defects found in one spec file, in file order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(Vec<SpecError>);

impl SpecErrors {
    /// Sorts by position. Callers never build an empty set.
    pub(crate) fn new(mut errors: Vec<SpecError>) -> Self {
        errors.sort_by_key(|e| (e.line, e.column));
        Self(errors)
    }

    pub fn errors(&self) -> &[SpecError] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn first(&self) -> Option<&SpecError> {
        self.0.first()
    }
}

impl IntoIterator for SpecErrors {
    type Item = SpecError;
    type IntoIter = std::vec::IntoIter<SpecError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

/// A stored snapshot that this release cannot turn back into a spec.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "spec snapshot has schema version {found}; this release reads versions up to {supported}"
    )]
    TooNew { found: u64, supported: u64 },
    #[error("spec snapshot has no schema version")]
    NoVersion,
    #[error("spec snapshot is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Maps byte offsets of one source text to 1-based line and character column.
pub(crate) struct Locator<'s> {
    src: &'s str,
    line_starts: Vec<usize>,
}

impl<'s> Locator<'s> {
    pub(crate) fn new(src: &'s str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self { src, line_starts }
    }

    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        // A span can never split a char, but be safe: count chars of the valid prefix.
        let col = self
            .src
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        (line, col + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_chars() {
        let l = Locator::new("ab\nçd\n");
        assert_eq!(l.position(0), (1, 1));
        assert_eq!(l.position(3), (2, 1));
        assert_eq!(l.position(5), (2, 2)); // after 'ç' (2 bytes)
        assert_eq!(l.position(999), (3, 1));
    }
}
