//! systemd's time spans (`5`, `5s`, `500ms`, `1min 30s`, `infinity`), as
//! `RestartSec=`, `TimeoutStartSec=` and friends take them.
//!
//! Pure: parsing only; a span never reads a clock.

/// A parsed span: milliseconds (microseconds round up), or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Millis(u64),
    Infinite,
}

impl Span {
    /// The span as a timeout: `None` means wait for ever (systemd's
    /// `infinity`, and `0` for timeouts).
    pub fn as_timeout(self) -> Option<u64> {
        match self {
            Span::Millis(0) | Span::Infinite => None,
            Span::Millis(ms) => Some(ms),
        }
    }
}

/// Microseconds in one of each unit systemd knows.
fn unit_usec(unit: &str) -> Option<f64> {
    const SEC: f64 = 1_000_000.0;
    Some(match unit {
        "us" | "usec" | "µs" | "μs" => 1.0,
        "ms" | "msec" => 1_000.0,
        "" | "s" | "sec" | "second" | "seconds" => SEC,
        "m" | "min" | "minute" | "minutes" => 60.0 * SEC,
        "h" | "hr" | "hour" | "hours" => 3_600.0 * SEC,
        "d" | "day" | "days" => 86_400.0 * SEC,
        "w" | "week" | "weeks" => 604_800.0 * SEC,
        "M" | "month" | "months" => 2_629_800.0 * SEC,
        "y" | "year" | "years" => 31_557_600.0 * SEC,
        _ => return None,
    })
}

/// Parses a span: numbers each followed by an optional unit (seconds when
/// none), summed; whitespace between parts is optional (`1min30s`).
pub fn parse(text: &str) -> Result<Span, String> {
    let t = text.trim();
    if t == "infinity" {
        return Ok(Span::Infinite);
    }
    if t.is_empty() {
        return Err("an empty time span; write e.g. 5s, 500ms or 1min 30s".into());
    }
    let bad = |why: &str| {
        Err(format!(
            "{text:?} is not a time span ({why}); write e.g. 5s, 500ms, 1min 30s or infinity"
        ))
    };
    let mut usec = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num.starts_with('.') && num.len() == 1 {
            return bad("a number is missing");
        }
        let Ok(n) = num.parse::<f64>() else {
            return bad("a number is malformed");
        };
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let Some(per) = unit_usec(unit) else {
            return bad(&format!("unknown unit {unit:?}"));
        };
        usec += n * per;
        rest = &rest[unit_len..];
    }
    if !usec.is_finite() || usec > u64::MAX as f64 / 2.0 {
        return bad("too long");
    }
    Ok(Span::Millis((usec / 1000.0).ceil() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, want: &str) {
        let got = match parse(input) {
            Ok(Span::Millis(ms)) => format!("{ms}ms"),
            Ok(Span::Infinite) => "infinity".into(),
            Err(e) => format!("error: {e}"),
        };
        assert!(
            got == want || (want.starts_with("error") && got.starts_with(want)),
            "{input:?}: got {got}, want {want}"
        );
    }

    #[test]
    fn spans() {
        for (input, want) in [
            ("5", "5000ms"),
            ("5s", "5000ms"),
            (" 5 s ", "5000ms"),
            ("500ms", "500ms"),
            ("100ms", "100ms"),
            ("1min 30s", "90000ms"),
            ("1min30s", "90000ms"),
            ("2h", "7200000ms"),
            ("1.5s", "1500ms"),
            ("250us", "1ms"),
            ("0", "0ms"),
            ("1d 1h", "90000000ms"),
            ("infinity", "infinity"),
            ("", "error: an empty time span"),
            (
                "5 parsecs",
                "error: \"5 parsecs\" is not a time span (unknown unit \"parsecs\")",
            ),
            ("s", "error: \"s\" is not a time span (a number is missing)"),
            (
                "1..2s",
                "error: \"1..2s\" is not a time span (a number is malformed)",
            ),
        ] {
            check(input, want);
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(Span::Millis(0).as_timeout(), None);
        assert_eq!(Span::Infinite.as_timeout(), None);
        assert_eq!(Span::Millis(7).as_timeout(), Some(7));
    }
}
