//! `failback_workflows::spec::parse` on arbitrary text: never a panic, and every error it
//! returns points inside the file and has the documented `file:line:column: field: message`
//! shape (the same invariants as workflows/tests/spec_fuzz.rs, on coverage-guided input).
#![no_main]

use std::sync::Once;

use failback_workflows::spec;
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "fuzz.toml";

/// The secrets the seed specs name by `env`, so valid seeds get past secret resolution and
/// the fuzzer reaches the checks after it.
fn env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (k, v) in [
            ("FAILBACK_PS_ADMIN_PASSWORD", "Fb-Fuzz-Passw0rd!"),
            ("FAILBACK_CS_PASSPHRASE", "fuzz-passphrase"),
            ("FAILBACK_TEST_PS_PASSWORD", "Fb-Fuzz-Passw0rd!"),
            ("FAILBACK_TEST_CS_PASSPHRASE", "fuzz-passphrase"),
        ] {
            std::env::set_var(k, v);
        }
    });
}

fuzz_target!(|data: &[u8]| {
    env();
    // `spec::load` refuses non-UTF-8 before parsing; the parser itself takes `&str`.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let errs = match spec::parse(text, ORIGIN) {
        Ok(_) => return,
        Err(errs) => errs,
    };
    assert!(!errs.is_empty(), "an Err with no error");
    let lines = text.split('\n').count();
    for e in errs.errors() {
        assert!(
            e.line >= 1 && e.line <= lines && e.column >= 1,
            "position outside the file: {e}"
        );
        assert_eq!(e.file, ORIGIN);
        assert!(!e.message.is_empty() && !e.field.is_empty(), "{e:?}");
        let prefix = format!("{ORIGIN}:{}:{}: {}: ", e.line, e.column, e.field);
        assert!(e.to_string().starts_with(&prefix), "{e}");
    }
    // The whole report renders too.
    let _ = errs.to_string();
});
