//! Reading the spanned TOML tree. We walk `toml::de::DeTable` by hand instead of deriving serde
//! structs so that every unknown key and every wrong type in the file is reported (serde stops at
//! the first) with its own position and field path.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::{ErrorKind, Locator, SpecError};

pub(crate) type Span = Range<usize>;

/// Collects errors for one source text.
pub(crate) struct Cx<'s> {
    origin: String,
    /// Relative secret file paths are resolved against this (the spec file's folder).
    pub(crate) base_dir: Option<std::path::PathBuf>,
    loc: Locator<'s>,
    pub(crate) errors: Vec<SpecError>,
}

impl<'s> Cx<'s> {
    pub(crate) fn new(src: &'s str, origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            base_dir: None,
            loc: Locator::new(src),
            errors: Vec::new(),
        }
    }

    pub(crate) fn err(
        &mut self,
        kind: ErrorKind,
        span: &Span,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = self.loc.position(span.start);
        self.errors.push(SpecError {
            kind,
            file: self.origin.clone(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn invalid(
        &mut self,
        span: &Span,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.err(ErrorKind::Invalid, span, field, message);
    }
}

/// A value with the span of its text in the file.
#[derive(Debug, Clone)]
pub(crate) struct Val<T> {
    pub(crate) v: T,
    pub(crate) span: Span,
}

/// The outcome of reading one key: absent, present but already reported as bad, or good.
pub(crate) enum Got<T> {
    Absent,
    Bad,
    Ok(Val<T>),
}

impl<T> Got<T> {
    /// The value if good; `None` if absent or bad (bad was already reported).
    pub(crate) fn ok(self) -> Option<Val<T>> {
        match self {
            Got::Ok(v) => Some(v),
            _ => None,
        }
    }
}

/// `path.key`. A key that is not a bare TOML key (empty, dotted, spaced: only an unknown key
/// from the file can be) is quoted, `""` or `"a.b"`, so the path is never empty or ambiguous.
pub(crate) fn join(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

fn article(ty: &str) -> &'static str {
    match ty {
        "integer" | "array" | "inline table" => "an",
        _ => "a",
    }
}

/// Describes a wrong value for "expected X, found Y" messages.
pub(crate) fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("the string {s:?}"),
        DeValue::Integer(i) => format!("the integer {i}"),
        DeValue::Float(f) => format!("the float {f}"),
        DeValue::Boolean(b) => format!("the boolean {b}"),
        DeValue::Datetime(d) => format!("the datetime {d}"),
        other => {
            let ty = other.type_str();
            format!("{} {ty}", article(ty))
        }
    }
}

/// One TOML table of the schema, with its field path.
pub(crate) struct Tbl<'a, 'i> {
    pub(crate) path: String,
    pub(crate) span: Span,
    table: &'a DeTable<'i>,
}

impl<'a, 'i> Tbl<'a, 'i> {
    /// Wraps `table` and reports every key not in `allowed`.
    pub(crate) fn new(
        cx: &mut Cx<'_>,
        path: String,
        span: Span,
        table: &'a DeTable<'i>,
        allowed: &[&str],
    ) -> Self {
        let mut unknown: Vec<_> = table
            .keys()
            .filter(|k| !allowed.contains(&k.get_ref().as_ref()))
            .collect();
        unknown.sort_by_key(|k| k.span().start);
        for k in unknown {
            let name = k.get_ref().as_ref();
            let mut msg = format!("unknown key `{name}`");
            if let Some(close) = super::rules::closest(name, allowed.iter().copied()) {
                msg.push_str(&format!(" (did you mean `{close}`?)"));
            }
            msg.push_str(&format!("; allowed keys here: {}", allowed.join(", ")));
            cx.err(ErrorKind::UnknownKey, &k.span(), join(&path, name), msg);
        }
        Self { path, span, table }
    }

    pub(crate) fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub(crate) fn raw(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.table.get(key)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    fn wrong_type(&self, cx: &mut Cx<'_>, key: &str, v: &Spanned<DeValue<'_>>, expected: &str) {
        let msg = format!("expected {expected}, found {}", describe(v.get_ref()));
        cx.err(ErrorKind::WrongType, &v.span(), self.field(key), msg);
    }

    pub(crate) fn str(&self, cx: &mut Cx<'_>, key: &str) -> Got<String> {
        match self.raw(key) {
            None => Got::Absent,
            Some(v) => match v.get_ref() {
                DeValue::String(s) => Got::Ok(Val {
                    v: s.to_string(),
                    span: v.span(),
                }),
                _ => {
                    self.wrong_type(cx, key, v, "a string");
                    Got::Bad
                }
            },
        }
    }

    pub(crate) fn int(&self, cx: &mut Cx<'_>, key: &str) -> Got<i64> {
        match self.raw(key) {
            None => Got::Absent,
            Some(v) => match v.get_ref() {
                DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                    Ok(n) => Got::Ok(Val {
                        v: n,
                        span: v.span(),
                    }),
                    Err(_) => {
                        cx.invalid(
                            &v.span(),
                            self.field(key),
                            format!("integer {i} is out of range"),
                        );
                        Got::Bad
                    }
                },
                _ => {
                    self.wrong_type(cx, key, v, "an integer");
                    Got::Bad
                }
            },
        }
    }

    pub(crate) fn bool(&self, cx: &mut Cx<'_>, key: &str) -> Got<bool> {
        match self.raw(key) {
            None => Got::Absent,
            Some(v) => match v.get_ref() {
                DeValue::Boolean(b) => Got::Ok(Val {
                    v: *b,
                    span: v.span(),
                }),
                _ => {
                    self.wrong_type(cx, key, v, "a boolean (true or false)");
                    Got::Bad
                }
            },
        }
    }

    /// A sub-table (`[a.b]`, `b = { … }` or dotted keys), with its unknown keys reported.
    pub(crate) fn table(&self, cx: &mut Cx<'_>, key: &str, allowed: &[&str]) -> Got<Tbl<'a, 'i>> {
        match self.raw(key) {
            None => Got::Absent,
            Some(v) => match v.get_ref() {
                DeValue::Table(t) => {
                    let span = v.span();
                    Got::Ok(Val {
                        v: Tbl::new(cx, self.field(key), span.clone(), t, allowed),
                        span,
                    })
                }
                _ => {
                    self.wrong_type(cx, key, v, "a table");
                    Got::Bad
                }
            },
        }
    }

    /// Reports a missing required key at this table's header.
    pub(crate) fn missing(&self, cx: &mut Cx<'_>, key: &str, hint: &str) {
        let msg = if self.path.is_empty() {
            format!("missing; {hint}")
        } else {
            format!("missing from [{}]; {hint}", self.path)
        };
        cx.err(ErrorKind::Missing, &self.span, self.field(key), msg);
    }

    /// `got` if present; reports it missing otherwise. `None` if missing or bad.
    pub(crate) fn required<T>(
        &self,
        cx: &mut Cx<'_>,
        key: &str,
        got: Got<T>,
        hint: &str,
    ) -> Option<Val<T>> {
        match got {
            Got::Absent => {
                self.missing(cx, key, hint);
                None
            }
            Got::Bad => None,
            Got::Ok(v) => Some(v),
        }
    }

    pub(crate) fn req_str(&self, cx: &mut Cx<'_>, key: &str, hint: &str) -> Option<Val<String>> {
        let got = self.str(cx, key);
        self.required(cx, key, got, hint)
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::{self, ErrorKind};

    /// Found by fuzz/fuzz_targets/spec_parse.rs: `'' = …` gave an error with an empty field
    /// (`fuzz.toml:1:1: : unknown key ...`), breaking the `file:line:column: field: message`
    /// shape.
    #[test]
    fn unknown_keys_that_are_not_bare_are_quoted_in_field_paths() {
        for (text, field) in [
            ("''='+'", r#""""#),
            ("\"\" = 1", r#""""#),
            ("[\"\"]", r#""""#),
            ("\"a.b\" = 1", r#""a.b""#),
            ("\"a b\" = 1", r#""a b""#),
            ("[azure]\n'' = 1", r#"azure."""#),
            ("[azure]\n\"x.y\" = 1", r#"azure."x.y""#),
        ] {
            let errs = spec::parse(text, "f.toml").unwrap_err();
            let e = errs
                .errors()
                .iter()
                .find(|e| e.kind == ErrorKind::UnknownKey)
                .unwrap_or_else(|| panic!("{text:?}: no unknown-key error in {errs}"));
            assert_eq!(e.field, field, "{text:?}: {e}");
            assert!(e
                .to_string()
                .starts_with(&format!("f.toml:{}:{}: {field}: ", e.line, e.column)));
        }
    }
}
