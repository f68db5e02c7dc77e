//! Third-party decoders (Parquet, Arrow) can panic on a corrupt file instead of returning an
//! error; [`contained`] turns such a panic into an `Err` naming the file, so a damaged input is
//! an exit 2 like any other bad input. The CLI's panic hook ([`quiet_hook`]) stays silent for
//! panics caught here (the error that follows says what happened) and prints every other one.

use crate::error::{Error, Result};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

thread_local! {
    /// Inside [`contained`] on this thread.
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

/// Run `f`, reading `path` with a third-party decoder; a panic inside it becomes an error that
/// names the file and says it is corrupt (with the decoder's message).
pub fn contained<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let was = CONTAINED.with(|c| c.replace(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(was));
    out.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        Err(Error::file(
            path,
            format!("corrupt file: {what} failed ({msg}); expected a valid Parquet file"),
        ))
    })
}

/// Whether this thread is inside [`contained`] (for a panic hook of one's own).
pub fn is_contained() -> bool {
    CONTAINED.with(Cell::get)
}

/// Install a panic hook that is silent for panics [`contained`] catches and prints the others
/// as the default hook does.
pub fn quiet_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !CONTAINED.with(Cell::get) {
            default(info);
        }
    }));
}
