//! A unit's environment: `Environment=` lines (several quoted `K=V` words
//! a line) and the text of `EnvironmentFile=` files (`KEY=VALUE` lines,
//! comments, quotes, continuations), as systemd reads them.
//!
//! Pure: the supervisor reads the files when a command starts and passes
//! their text in; nothing here touches the disk.

use std::collections::BTreeMap;

use super::exec_line;

/// The `PATH` systemd gives services.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// True for a usable variable name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_graphic() && c != '=')
}

/// The assignments of one `Environment=` value, in order.
pub fn parse_assignments(value: &str) -> Result<Vec<(String, String)>, String> {
    let words = exec_line::split(value).map_err(|e| e.to_string())?;
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if valid_name(k) => Ok((k.to_string(), v.to_string())),
            _ => Err(format!(
                "{w:?} is not a KEY=VALUE assignment; quote assignments that hold spaces: \"KEY=a b\""
            )),
        })
        .collect()
}

/// The assignments in an environment file's text: `KEY=VALUE` a line,
/// blank lines and lines starting with `#` or `;` skipped, values in
/// double quotes (with `\"`, `\\`, `\$` and `` \` `` escapes) or single
/// quotes (literal), a trailing backslash continuing the line. A line
/// without `=` is skipped, as systemd does.
pub fn parse_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        logical.clear();
        logical.push_str(line);
        // Continuations, outside quotes only matter at the end of a line.
        while logical.ends_with('\\') && !logical.ends_with("\\\\") {
            logical.pop();
            match lines.next() {
                Some(next) => logical.push_str(next),
                None => break,
            }
        }
        let l = logical.trim_start();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l);
        let Some((key, value)) = l.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !valid_name(key) {
            continue;
        }
        out.push((key.to_string(), file_value(value)));
    }
    out
}

fn file_value(raw: &str) -> String {
    let v = raw.trim();
    let mut out = String::new();
    let mut chars = v.chars();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (Some(_), '\\') => match chars.next() {
                Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            (None, '\\') => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            (_, c) => out.push(c),
        }
    }
    out
}

/// The environment a command starts with: systemd's base (`PATH`, and
/// the user's `HOME`/`USER`/`LOGNAME`/`SHELL` when `User=` is set), then
/// `Environment=` in order, then each `EnvironmentFile=` in order (files
/// override `Environment=`, as in systemd), then `extra` (`MAINPID`).
pub fn compose(
    base: &[(String, String)],
    assignments: &[(String, String)],
    files: &[Vec<(String, String)>],
    extra: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([("PATH".to_string(), DEFAULT_PATH.to_string())]);
    let all = base
        .iter()
        .chain(assignments)
        .chain(files.iter().flatten())
        .chain(extra);
    for (k, v) in all {
        env.insert(k.clone(), v.clone());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(pairs: &[(String, String)]) -> String {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[test]
    fn assignments() {
        for (input, want) in [
            ("FOO=bar", "FOO=bar"),
            (r#""FOO=bar baz""#, "FOO=bar baz"),
            (r#""A=1" "B=two words" C=3"#, "A=1 | B=two words | C=3"),
            ("EMPTY=", "EMPTY="),
            ("X=a=b", "X=a=b"),
            (r#"MSG="hello world""#, "MSG=hello world"),
            (
                "JUSTAWORD",
                r#"error: "JUSTAWORD" is not a KEY=VALUE assignment; quote assignments that hold spaces: "KEY=a b""#,
            ),
            (
                "=x",
                r#"error: "=x" is not a KEY=VALUE assignment; quote assignments that hold spaces: "KEY=a b""#,
            ),
            (
                r#""FOO=bar"#,
                "error: unterminated double quote; close it or escape it with a backslash",
            ),
        ] {
            let got = match parse_assignments(input) {
                Ok(p) => show(&p),
                Err(e) => format!("error: {e}"),
            };
            assert_eq!(got, want, "input: {input:?}");
        }
    }

    #[test]
    fn files() {
        let text = r#"
# a comment
; another
A=1
  B = two
C="quoted value" 
D='single $HOME'
E="esc \"x\" \$y"
F=unquoted with space   
G=line \
continued
export H=exported
not an assignment
1BAD=x
I=
"#;
        assert_eq!(
            show(&parse_file(text)),
            "A=1 | B=two | C=quoted value | D=single $HOME | E=esc \"x\" $y | F=unquoted with space | G=line continued | H=exported | I="
        );
    }

    #[test]
    fn composition_order() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let env = compose(
            &[p("HOME", "/home/u")],
            &[p("A", "env"), p("B", "env"), p("PATH", "/opt/bin")],
            &[
                vec![p("B", "file1")],
                vec![p("C", "file2"), p("B", "file2")],
            ],
            &[p("MAINPID", "42")],
        );
        let got: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got,
            [
                "A=env",
                "B=file2",
                "C=file2",
                "HOME=/home/u",
                "MAINPID=42",
                "PATH=/opt/bin"
            ]
        );
    }
}
