//! Output helpers: fleetctl-style tables (columns padded, separated by a
//! tab stop) and `--json`.

use serde::Serialize;

/// Renders rows under a header, left-aligned, columns padded with spaces
/// and separated by three — fleetctl's column layout, without its tabs.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// Pretty JSON for `--json`.
pub fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligned() {
        let t = super::table(
            &["MACHINE", "IP", "METADATA"],
            &[vec![
                "3f2a1b0c...".into(),
                "127.0.0.101".into(),
                "role=server".into(),
            ]],
        );
        assert_eq!(
            t,
            "MACHINE       IP            METADATA\n3f2a1b0c...   127.0.0.101   role=server\n"
        );
    }
}
