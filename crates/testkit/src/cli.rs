//! Checks on a finished `corral` CLI run (`std::process::Output`), shared
//! by the CLI tests: its stdout and stderr as text, success, and the
//! one-line `corral: ...` error with a given exit code.

use std::process::Output;

/// The run's stdout as text.
pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The run's stderr as text.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Its stdout; panics with both streams unless it exited 0.
pub fn must_succeed(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}{}",
        o.status.code(),
        out(&o),
        err(&o)
    );
    out(&o)
}

/// Panics unless it exited with `code` and its stderr ends with one
/// `corral: ` line (the CLI's error form).
pub fn must_exit(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: stdout {}\nstderr {}",
        out(o),
        err(o)
    );
    assert!(
        err(o)
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("corral: ")),
        "{what}: the error ends with one `corral: ` line: {}",
        err(o)
    );
}
