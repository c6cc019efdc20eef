//! sled 0.34.7 panics on some damaged files instead of returning an error (for example
//! `tried to serialize Uninitialized` while recovering a log whose tail was cut). Calls into
//! sled go through [`quiet`], which turns such a panic into a message for a typed error.
//!
//! The default hook would print the panic to stderr before we can report it properly, so a
//! hook is chained in once: it stays silent (and keeps the message) only on a thread that is
//! inside [`quiet`], and defers to the previous hook everywhere else.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                    .unwrap_or_default();
                let text = payload_text(info.payload()).unwrap_or("no message");
                CAUGHT.with(|c| *c.borrow_mut() = Some(format!("{text}{at}")));
            } else {
                previous(info);
            }
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Run `f`; a panic inside it comes back as `Err(message)` and prints nothing.
pub(crate) fn quiet<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        CAUGHT
            .with(|c| c.borrow_mut().take())
            .or_else(|| payload_text(payload.as_ref()).map(str::to_owned))
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_message() {
        assert_eq!(quiet(|| 7), Ok(7));
        let err = quiet(|| -> u32 { panic!("boom {}", 42) }).unwrap_err();
        assert!(err.starts_with("boom 42 (at "), "{err}");
        assert!(err.contains("panics.rs"), "{err}");
        // Nested calls restore the outer state.
        let outer = quiet(|| {
            let _ = quiet(|| panic!("inner"));
            QUIET.with(Cell::get)
        });
        assert_eq!(outer, Ok(true));
        assert!(!QUIET.with(Cell::get));
    }
}
