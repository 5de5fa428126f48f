//! Unit files: the systemd INI dialect parsed into fleet's option triples
//! (`section`, `name`, `value`), their serialisation, and their hash.
//!
//! Pure: never panics, on any input. Invariants:
//! - A [`UnitFile`] only holds options that survive a round trip:
//!   `UnitFile::parse(&f.to_text()) == Ok(f)` for every `f`. Both ways in
//!   ([`UnitFile::parse`], [`UnitFile::from_options`]) enforce it.
//! - Options keep their file order within a section; sections are grouped in
//!   the order they first appear. That is how go-systemd's `Serialize` (and
//!   so fleet) writes a unit, so [`UnitFile::to_text`] and [`UnitFile::hash`]
//!   match fleet's for the same options.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::hash::sha1_hex;

/// One `Name=Value` line of a section, as fleet's API carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnitOption {
    pub section: String,
    pub name: String,
    pub value: String,
}

impl UnitOption {
    pub fn new(section: &str, name: &str, value: &str) -> UnitOption {
        UnitOption {
            section: section.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// A parsed unit file: its options, grouped by section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<UnitOption>", into = "Vec<UnitOption>")]
pub struct UnitFile {
    options: Vec<UnitOption>,
}

/// Why a unit file (or a list of options) is not acceptable. `line` is the
/// 1-based line of the text; 0 when the options did not come from text (then
/// the message names the option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

fn err(line: usize, message: String) -> ParseError {
    ParseError { line, message }
}

/// Blanks systemd trims around lines, names and values.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn trim(s: &str) -> &str {
    s.trim_matches(is_blank)
}

/// True if `s` ends with an odd number of backslashes: the last one is
/// unescaped, so a line ending like this continues on the next one.
fn ends_with_lone_backslash(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

fn control_char(s: &str) -> Option<char> {
    s.chars().find(|&c| c.is_control() && c != '\t')
}

impl UnitFile {
    /// Parses systemd unit-file text: `[Section]` headers, `Key=Value` lines
    /// (repeated keys kept in order; the value may hold `=`), comments
    /// (`#` or `;` first on a line), blank lines, and lines continued by a
    /// trailing `\` (joined with a space; comment lines inside are skipped,
    /// a blank line ends them). Blanks around lines, keys and values go.
    /// Line endings may be `\n` or `\r\n`; a leading byte-order mark is
    /// skipped.
    pub fn parse(text: &str) -> Result<UnitFile, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut parser = Parser {
            section: None,
            options: Vec::new(),
        };
        // A logical line being continued: where it started, and its text.
        let mut pending: Option<(usize, String)> = None;
        for (i, raw) in text.split('\n').enumerate() {
            let no = i + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if let Some(c) = control_char(raw) {
                return Err(err(
                    no,
                    format!(
                        "control character U+{:04X} is not allowed in a unit file; \
                         only tabs and printable text are",
                        u32::from(c)
                    ),
                ));
            }
            let line = trim(raw);
            let comment = line.starts_with('#') || line.starts_with(';');
            let continued = ends_with_lone_backslash(line);
            let piece = if continued {
                trim(&line[..line.len() - 1])
            } else {
                line
            };
            match pending.take() {
                Some((start, acc)) if line.is_empty() => parser.logical(start, &acc)?,
                Some((start, acc)) if comment => pending = Some((start, acc)),
                Some((start, mut acc)) => {
                    acc.push(' ');
                    acc.push_str(piece);
                    if continued {
                        pending = Some((start, acc));
                    } else {
                        parser.logical(start, &acc)?;
                    }
                }
                None if line.is_empty() || comment => {}
                None if continued => pending = Some((no, piece.to_owned())),
                None => parser.logical(no, line)?,
            }
        }
        if let Some((start, acc)) = pending {
            parser.logical(start, &acc)?;
        }
        Ok(UnitFile::grouped(parser.options))
    }

    /// A unit file from option triples (fleet's API form). Sections and
    /// names are checked as the parser would see them once written out;
    /// blanks around names and values are dropped, as the parser drops them.
    pub fn from_options(options: Vec<UnitOption>) -> Result<UnitFile, ParseError> {
        let mut out = Vec::with_capacity(options.len());
        for (i, o) in options.into_iter().enumerate() {
            let at = |what: String| {
                err(
                    0,
                    format!(
                        "option {} ([{}] {}): {what}",
                        i + 1,
                        o.section.escape_debug(),
                        o.name.escape_debug()
                    ),
                )
            };
            if o.section.is_empty() {
                return Err(at("the section is empty; name one such as Service".into()));
            }
            for (part, s) in [
                ("section", &o.section),
                ("name", &o.name),
                ("value", &o.value),
            ] {
                if let Some(c) = control_char(s) {
                    return Err(at(format!(
                        "the {part} holds control character U+{:04X}; only tabs and \
                         printable text are allowed",
                        u32::from(c)
                    )));
                }
            }
            let name = trim(&o.name);
            let value = trim(&o.value);
            check_option(name, value).map_err(at)?;
            out.push(UnitOption {
                section: o.section.clone(),
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
        Ok(UnitFile::grouped(out))
    }

    fn grouped(options: Vec<UnitOption>) -> UnitFile {
        let mut sections: Vec<&str> = Vec::new();
        for o in &options {
            if !sections.contains(&o.section.as_str()) {
                sections.push(&o.section);
            }
        }
        if sections.len() <= 1 {
            return UnitFile { options };
        }
        let mut out = Vec::with_capacity(options.len());
        for s in sections {
            out.extend(options.iter().filter(|o| o.section == s).cloned());
        }
        UnitFile { options: out }
    }

    /// The options, grouped by section in the order sections first appear.
    pub fn options(&self) -> &[UnitOption] {
        &self.options
    }

    pub fn is_empty(&self) -> bool {
        self.options.is_empty()
    }

    /// Every value of `name` in `section`, in file order.
    pub fn values(&self, section: &str, name: &str) -> Vec<&str> {
        self.options
            .iter()
            .filter(|o| o.section == section && o.name == name)
            .map(|o| o.value.as_str())
            .collect()
    }

    /// True if the file has at least one option in `section`.
    pub fn has_section(&self, section: &str) -> bool {
        self.options.iter().any(|o| o.section == section)
    }

    /// The systemd serialisation, as go-systemd writes it: each section's
    /// header, its `Name=Value` lines, and a blank line between sections.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut current: Option<&str> = None;
        for o in &self.options {
            if current != Some(o.section.as_str()) {
                if current.is_some() {
                    out.push('\n');
                }
                out.push('[');
                out.push_str(&o.section);
                out.push_str("]\n");
                current = Some(&o.section);
            }
            out.push_str(&o.name);
            out.push('=');
            out.push_str(&o.value);
            out.push('\n');
        }
        out
    }

    /// fleet's unit hash: the SHA-1 of [`UnitFile::to_text`], 40 hex digits.
    pub fn hash(&self) -> String {
        sha1_hex(self.to_text().as_bytes())
    }
}

impl fmt::Display for UnitFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl TryFrom<Vec<UnitOption>> for UnitFile {
    type Error = ParseError;
    fn try_from(options: Vec<UnitOption>) -> Result<Self, Self::Error> {
        UnitFile::from_options(options)
    }
}

impl From<UnitFile> for Vec<UnitOption> {
    fn from(f: UnitFile) -> Self {
        f.options
    }
}

/// The rules a trimmed name and value must keep so that `Name=Value`
/// parses back to the same option.
fn check_option(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the option has no name; write it as Name=Value".into());
    }
    if name.contains('=') {
        return Err("the name holds '='; only the value may".into());
    }
    if name.starts_with(['#', ';', '[']) {
        return Err(format!(
            "the name starts with {:?}, which would read as a comment or a section header",
            &name[..1]
        ));
    }
    if ends_with_lone_backslash(value) {
        return Err(
            "the value ends with a lone '\\', which would continue the line; double it".into(),
        );
    }
    Ok(())
}

struct Parser {
    section: Option<String>,
    options: Vec<UnitOption>,
}

impl Parser {
    /// One logical line (continuations joined), non-blank and no comment.
    fn logical(&mut self, no: usize, line: &str) -> Result<(), ParseError> {
        let line = trim(line);
        if line.is_empty() {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(err(
                    no,
                    format!("section header {line:?} is not closed; write it as [Section]"),
                ));
            };
            if name.is_empty() {
                return Err(err(
                    no,
                    "section header [] names no section; write it as [Section]".into(),
                ));
            }
            self.section = Some(name.to_owned());
            return Ok(());
        }
        let Some(section) = &self.section else {
            return Err(err(
                no,
                format!(
                    "{line:?} is outside any section; put a section header such as [Service] \
                     above it"
                ),
            ));
        };
        let Some((name, value)) = line.split_once('=') else {
            return Err(err(
                no,
                format!("{line:?} is not an option; write it as Name=Value"),
            ));
        };
        let (name, value) = (trim(name), trim(value));
        check_option(name, value).map_err(|m| err(no, m))?;
        self.options.push(UnitOption {
            section: section.clone(),
            name: name.to_owned(),
            value: value.to_owned(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parsed options, one `[Section] Name=Value` a line (values shown
    /// with `{:?}` so blanks are visible), or `error: ...`.
    fn show(text: &str) -> String {
        match UnitFile::parse(text) {
            Ok(f) => {
                let back = UnitFile::parse(&f.to_text()).expect("to_text parses");
                assert_eq!(back, f, "round trip of {text:?}");
                f.options()
                    .iter()
                    .map(|o| format!("[{}] {}={:?}", o.section, o.name, o.value))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Err(e) => format!("error: {e}"),
        }
    }

    fn check(text: &str, want: &str) {
        let want: Vec<&str> = want
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(show(text), want.join("\n"), "input: {text:?}");
    }

    #[test]
    fn sections_keys_comments_and_blanks() {
        check(
            "# a web server\n\
             ; another comment\n\
             \n\
             [Unit]\n\
             Description=Web server\n\
             After=docker.service\n\
             \n\
             [Service]\n\
             \tExecStartPre = /bin/true  \n\
             ExecStart=/usr/bin/docker run -e A=B web\n\
             Environment=A=1\n\
             Environment=B=2\n\
             Empty=\n\
             [X-Fleet]\n\
             Conflicts=web@*.service\n",
            r#"
            [Unit] Description="Web server"
            [Unit] After="docker.service"
            [Service] ExecStartPre="/bin/true"
            [Service] ExecStart="/usr/bin/docker run -e A=B web"
            [Service] Environment="A=1"
            [Service] Environment="B=2"
            [Service] Empty=""
            [X-Fleet] Conflicts="web@*.service"
            "#,
        );
        check("", "");
        check("\n\n# only comments\n;x\n", "");
        check("[Unit]\n", "");
        // CRLF endings and a byte-order mark.
        check(
            "\u{feff}[Unit]\r\nDescription=x\r\n",
            r#"[Unit] Description="x""#,
        );
        // A value may start with '#' or ';': only whole lines are comments.
        check(
            "[S]\nA=#not a comment\nB= ; nor this",
            "[S] A=\"#not a comment\"\n[S] B=\"; nor this\"",
        );
        // Interleaved sections are grouped in first-seen order.
        check(
            "[A]\nx=1\n[B]\ny=2\n[A]\nz=3\n",
            r#"
            [A] x="1"
            [A] z="3"
            [B] y="2"
            "#,
        );
        // Headers keep their inner text; tabs are allowed anywhere.
        check("[ Odd Name ]\nk=v\tw", "[ Odd Name ] k=\"v\\tw\"");
    }

    #[test]
    fn continuations() {
        check(
            "[Service]\nExecStart=/bin/sh -c \\\n   'echo hi; \\\n   sleep 1'\nNext=1\n",
            r#"
            [Service] ExecStart="/bin/sh -c 'echo hi; sleep 1'"
            [Service] Next="1"
            "#,
        );
        // Comment lines inside a continuation are skipped; a blank line ends it.
        check(
            "[S]\nA=one \\\n# skipped\n  two \\\n\nB=3\n",
            r#"
            [S] A="one two"
            [S] B="3"
            "#,
        );
        // A continuation at the end of the file ends there.
        check("[S]\nA=x\\", r#"[S] A="x""#);
        // An escaped (doubled) backslash does not continue the line.
        check("[S]\nA=C:\\\\\nB=2", "[S] A=\"C:\\\\\\\\\"\n[S] B=\"2\"");
        // A header can be continued too, and the key may come on the next line.
        check("[Serv\\\nice]\nK\\\n=v", "[Serv ice] K=\"v\"");
    }

    #[test]
    fn errors_name_the_line() {
        check(
            "Description=x\n[Unit]",
            r#"error: line 1: "Description=x" is outside any section; put a section header such as [Service] above it"#,
        );
        check(
            "[Unit]\nDescription=x\n\n[Service]\nExecStart /bin/true\n",
            r#"error: line 5: "ExecStart /bin/true" is not an option; write it as Name=Value"#,
        );
        check(
            "[Unit]\n=x\n",
            "error: line 2: the option has no name; write it as Name=Value",
        );
        check(
            "[Unit]\n  =x\n",
            "error: line 2: the option has no name; write it as Name=Value",
        );
        check(
            "# c\n[Service\nA=1",
            r#"error: line 2: section header "[Service" is not closed; write it as [Section]"#,
        );
        check(
            "[]\nA=1",
            "error: line 1: section header [] names no section; write it as [Section]",
        );
        check(
            "[S]\nA=1\nB=\u{7}bell",
            "error: line 3: control character U+0007 is not allowed in a unit file; only tabs and printable text are",
        );
        check(
            "[S]\nA=1\rB=2",
            "error: line 2: control character U+000D is not allowed in a unit file; only tabs and printable text are",
        );
        check(
            "[S]\n\u{0}",
            "error: line 2: control character U+0000 is not allowed in a unit file; only tabs and printable text are",
        );
        // A continued line reports the line it started on.
        check(
            "[S]\nA=1\nno equals \\\n  sign here\n",
            r#"error: line 3: "no equals sign here" is not an option; write it as Name=Value"#,
        );
        // The one way to end a value with a lone backslash: a continuation
        // whose last piece is "\ ", cut by the end of the file.
        check(
            "[S]\nA=x\\ \\",
            "error: line 2: the value ends with a lone '\\', which would continue the line; double it",
        );
    }

    #[test]
    fn from_options_checks_and_normalises() {
        let o = UnitOption::new;
        let f = UnitFile::from_options(vec![
            o("Service", "ExecStart", " /bin/true "),
            o("Unit", "Description", "d"),
            o("Service", " Restart", "always"),
        ])
        .unwrap();
        assert_eq!(
            f.to_text(),
            "[Service]\nExecStart=/bin/true\nRestart=always\n\n[Unit]\nDescription=d\n"
        );
        assert_eq!(f.values("Service", "Restart"), ["always"]);
        assert_eq!(f.values("Service", "Nope"), Vec::<&str>::new());
        assert!(f.has_section("Unit") && !f.has_section("Install"));
        let bad = [
            (o("", "A", "1"), "option 1 ([] A): the section is empty; name one such as Service"),
            (o("S", "", "1"), "option 1 ([S] ): the option has no name; write it as Name=Value"),
            (o("S", "A=B", "1"), "option 1 ([S] A=B): the name holds '='; only the value may"),
            (o("S", "#A", "1"), "option 1 ([S] #A): the name starts with \"#\", which would read as a comment or a section header"),
            (o("S", "[A", "1"), "option 1 ([S] [A): the name starts with \"[\", which would read as a comment or a section header"),
            (o("S", "A", "x\\"), "option 1 ([S] A): the value ends with a lone '\\', which would continue the line; double it"),
            (o("S", "A", "x\ny"), "option 1 ([S] A): the value holds control character U+000A; only tabs and printable text are allowed"),
            (o("S\r", "A", "1"), "option 1 ([S\\r] A): the section holds control character U+000D; only tabs and printable text are allowed"),
        ];
        for (opt, want) in bad {
            let e = UnitFile::from_options(vec![opt]).unwrap_err();
            assert_eq!(e.line, 0);
            assert_eq!(e.to_string(), want);
        }
        // The second option is the bad one.
        let e = UnitFile::from_options(vec![o("S", "A", "1"), o("S", "", "2")]).unwrap_err();
        assert!(e.to_string().starts_with("option 2 "), "{e}");
    }

    #[test]
    fn text_hash_and_serde() {
        // go-systemd's layout; the hash is sha1 of exactly this text
        // (checked with `printf ... | sha1sum`).
        let f = UnitFile::parse("[Unit]\nDescription=Hello\n[Service]\nExecStart=/bin/echo hi\n")
            .unwrap();
        assert_eq!(
            f.to_text(),
            "[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/echo hi\n"
        );
        assert_eq!(f.hash(), "6785632adb49a4c91d1ad443c2275d4b01af3407");
        assert_eq!(
            UnitFile::default().hash(),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            json,
            r#"[{"section":"Unit","name":"Description","value":"Hello"},{"section":"Service","name":"ExecStart","value":"/bin/echo hi"}]"#
        );
        assert_eq!(serde_json::from_str::<UnitFile>(&json).unwrap(), f);
        let bad = r#"[{"section":"S","name":"","value":"x"}]"#;
        let e = serde_json::from_str::<UnitFile>(bad).unwrap_err();
        assert!(e.to_string().contains("the option has no name"), "{e}");
    }
}
