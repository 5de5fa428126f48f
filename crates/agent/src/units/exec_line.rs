//! systemd's command lines (`ExecStart=` and the other `Exec*=` settings):
//! words split at whitespace, single and double quotes, C-style backslash
//! escapes, the prefixes `-` `@` `:` `+` `!` `!!`, lone `;` between
//! commands, and at spawn time `$VAR` / `${VAR}` substitution from the
//! unit's environment.
//!
//! Pure: a line is split once when the unit loads ([`parse`]) and turned
//! into an argv when it runs ([`ExecLine::argv`]); no shell is ever involved.

use std::collections::BTreeMap;

/// One command of an `Exec*=` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecLine {
    /// The program: an absolute path, or a bare name looked up in `PATH`.
    pub path: String,
    /// The arguments as written, `args[0]` being argv\[0\] (the path, or the
    /// word after it with the `@` prefix).
    pub args: Vec<String>,
    /// `-`: a failure of this command is logged and otherwise ignored.
    pub ignore_failure: bool,
    /// `:` turns variable substitution off.
    pub expand_env: bool,
}

/// Why a command line cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecLineError {
    #[error("unterminated {quote} quote; close it or escape it with a backslash")]
    Unterminated { quote: &'static str },
    #[error("a backslash ends the line; remove it or write \\\\")]
    TrailingBackslash,
    #[error("unknown escape \\{0}; use \\\\ for a backslash")]
    BadEscape(String),
    #[error("no command given (only prefixes or ';')")]
    Empty,
    #[error("the program {0:?} is neither an absolute path nor a bare name looked up in PATH")]
    RelativePath(String),
    #[error("the '@' prefix needs a second word to pass as argv[0]")]
    MissingArgv0,
}

impl ExecLine {
    /// argv for `env`: `$VAR` standing alone as a word becomes the value's
    /// whitespace-separated words (none if unset or empty); `${VAR}` inside
    /// any word is replaced by the value (one word); `$$` is a `$`. Unless
    /// the `:` prefix turned substitution off. argv\[0\] is never expanded.
    pub fn argv(&self, env: &BTreeMap<String, String>) -> Vec<String> {
        if !self.expand_env {
            return self.args.clone();
        }
        let mut out = Vec::with_capacity(self.args.len());
        for (i, word) in self.args.iter().enumerate() {
            if i == 0 {
                out.push(word.clone());
                continue;
            }
            match word.strip_prefix('$').filter(|n| is_name(n)) {
                Some(name) => out.extend(
                    env.get(name)
                        .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                        .unwrap_or_default(),
                ),
                None => out.push(substitute(word, env)),
            }
        }
        out
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces `${NAME}` (empty when unset) and `$$` in `word`.
fn substitute(word: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('{')
            .and_then(|s| s.split_once('}'))
            .filter(|(n, _)| is_name(n))
        {
            out.push_str(env.get(name).map(String::as_str).unwrap_or(""));
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A word as split: its text, and whether it was a bare `;` (a separator
/// between commands; `\;` or `";"` is a literal semicolon).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    separator: bool,
}

/// Splits `line` into words: whitespace separates, quotes group (and may
/// join with unquoted text: `a"b c"` is one word), backslash escapes work
/// everywhere.
pub fn split(line: &str) -> Result<Vec<String>, ExecLineError> {
    Ok(split_words(line)?.into_iter().map(|w| w.text).collect())
}

fn split_words(line: &str) -> Result<Vec<Word>, ExecLineError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut text = String::new();
        let mut raw_semicolon = true;
        let mut raw_len = 0;
        let mut quote: Option<char> = None;
        loop {
            let Some(c) = chars.next() else {
                if let Some(q) = quote {
                    return Err(ExecLineError::Unterminated {
                        quote: if q == '"' { "double" } else { "single" },
                    });
                }
                break;
            };
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            raw_len += 1;
            if c != ';' {
                raw_semicolon = false;
            }
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => text.push(unescape(&mut chars)?),
                (_, c) => text.push(c),
            }
        }
        let separator = raw_semicolon && raw_len >= 1 && text == ";";
        words.push(Word { text, separator });
    }
}

/// The character a backslash escape stands for (the backslash is read).
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, ExecLineError> {
    let Some(c) = chars.next() else {
        return Err(ExecLineError::TrailingBackslash);
    };
    let mut digits = |n: usize, radix: u32, first: Option<char>| {
        let mut s: String = first.into_iter().collect();
        while s.len() < n {
            match chars.next() {
                Some(d) if d.is_digit(radix) => s.push(d),
                _ => return Err(ExecLineError::BadEscape(format!("{c}{s}"))),
            }
        }
        u32::from_str_radix(&s, radix)
            .ok()
            .and_then(char::from_u32)
            .filter(|ch| *ch != '\0')
            .ok_or(ExecLineError::BadEscape(format!("{c}{s}")))
    };
    Ok(match c {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        's' => ' ',
        '\\' | '"' | '\'' | ';' | ' ' | '$' => c,
        'x' => digits(2, 16, None)?,
        'u' => digits(4, 16, None)?,
        'U' => digits(8, 16, None)?,
        '0'..='7' => digits(3, 8, Some(c))?,
        other => return Err(ExecLineError::BadEscape(other.to_string())),
    })
}

/// Parses one `Exec*=` value into its commands (several when lone `;`
/// separate them).
pub fn parse(value: &str) -> Result<Vec<ExecLine>, ExecLineError> {
    let words = split_words(value)?;
    let mut lines = Vec::new();
    for group in words.split(|w| w.separator) {
        if group.is_empty() {
            continue;
        }
        lines.push(command(group)?);
    }
    if lines.is_empty() {
        return Err(ExecLineError::Empty);
    }
    Ok(lines)
}

fn command(words: &[Word]) -> Result<ExecLine, ExecLineError> {
    let first = &words[0].text;
    let mut ignore_failure = false;
    let mut separate_argv0 = false;
    let mut expand_env = true;
    let mut rest = first.as_str();
    // The prefixes, in any order; `+`, `!` and `!!` are about privileges,
    // which this runner does not change: accepted and ignored.
    while let Some(c) = rest.chars().next().filter(|c| "-@:+!".contains(*c)) {
        match c {
            '-' => ignore_failure = true,
            '@' => separate_argv0 = true,
            ':' => expand_env = false,
            _ => {}
        }
        rest = &rest[1..];
    }
    let path = rest.to_string();
    if path.is_empty() {
        return Err(ExecLineError::Empty);
    }
    if path.contains('/') && !path.starts_with('/') {
        return Err(ExecLineError::RelativePath(path));
    }
    let mut args: Vec<String> = words[1..].iter().map(|w| w.text.clone()).collect();
    if separate_argv0 {
        if args.is_empty() {
            return Err(ExecLineError::MissingArgv0);
        }
    } else {
        args.insert(0, path.clone());
    }
    Ok(ExecLine {
        path,
        args,
        ignore_failure,
        expand_env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One command as text: `path | argv joined by ⋅ | flags`.
    fn show(l: &ExecLine) -> String {
        let mut flags = String::new();
        if l.ignore_failure {
            flags.push('-');
        }
        if !l.expand_env {
            flags.push(':');
        }
        format!("{} | {} | {flags}", l.path, l.args.join("⋅"))
    }

    fn check_parse(input: &str, want: &str) {
        let got = match parse(input) {
            Ok(lines) => lines.iter().map(show).collect::<Vec<_>>().join(" ;; "),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, want, "input: {input:?}");
    }

    #[test]
    fn splitting_and_prefixes() {
        for (input, want) in [
            ("/bin/true", "/bin/true | /bin/true | "),
            ("  /bin/echo   a  b ", "/bin/echo | /bin/echo⋅a⋅b | "),
            (
                "/bin/sh -c 'echo hello $FOO; exec sleep 600'",
                "/bin/sh | /bin/sh⋅-c⋅echo hello $FOO; exec sleep 600 | ",
            ),
            (r#"/bin/echo "a b" 'c d'"#, "/bin/echo | /bin/echo⋅a b⋅c d | "),
            (r#"/bin/echo a"b c"d"#, "/bin/echo | /bin/echo⋅ab cd | "),
            (r#"/bin/echo "it's" '"q"'"#, "/bin/echo | /bin/echo⋅it's⋅\"q\" | "),
            (r#"/bin/echo "" x"#, "/bin/echo | /bin/echo⋅⋅x | "),
            (r#"/bin/echo a\ b \s \t|"#, "/bin/echo | /bin/echo⋅a b⋅ ⋅\t| | "),
            (r#"/bin/echo "tab\there" \x41\101"#, "/bin/echo | /bin/echo⋅tab\there⋅AA | "),
            ("-/bin/false", "/bin/false | /bin/false | -"),
            ("@/bin/sleep mysleep 5", "/bin/sleep | mysleep⋅5 | "),
            ("-@/bin/sleep mysleep", "/bin/sleep | mysleep | -"),
            ("+/bin/id", "/bin/id | /bin/id | "),
            ("!!/bin/id", "/bin/id | /bin/id | "),
            (":/bin/echo $X", "/bin/echo | /bin/echo⋅$X | :"),
            ("sleep 1", "sleep | sleep⋅1 | "),
            (
                "/bin/echo a ; -/bin/false ; /bin/echo b",
                "/bin/echo | /bin/echo⋅a |  ;; /bin/false | /bin/false | - ;; /bin/echo | /bin/echo⋅b | ",
            ),
            (r#"/bin/echo \; ";""#, "/bin/echo | /bin/echo⋅;⋅; | "),
            ("/bin/echo a;b", "/bin/echo | /bin/echo⋅a;b | "),
            (
                "/bin/echo 'oops",
                "error: unterminated single quote; close it or escape it with a backslash",
            ),
            (
                r#"/bin/echo "oops"#,
                "error: unterminated double quote; close it or escape it with a backslash",
            ),
            ("/bin/echo \\", "error: a backslash ends the line; remove it or write \\\\"),
            (r"/bin/echo \q", "error: unknown escape \\q; use \\\\ for a backslash"),
            (r"/bin/echo \x4", "error: unknown escape \\x4; use \\\\ for a backslash"),
            ("-", "error: no command given (only prefixes or ';')"),
            ("   ", "error: no command given (only prefixes or ';')"),
            (" ; ", "error: no command given (only prefixes or ';')"),
            (
                "bin/true",
                "error: the program \"bin/true\" is neither an absolute path nor a bare name looked up in PATH",
            ),
            ("@/bin/sleep", "error: the '@' prefix needs a second word to pass as argv[0]"),
        ] {
            check_parse(input, want);
        }
    }

    #[test]
    fn variable_substitution() {
        let env: BTreeMap<String, String> = [
            ("FOO", "bar baz"),
            ("ONE", "single"),
            ("EMPTY", ""),
            ("SPACES", "  a   b  "),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (input, want) in [
            ("/bin/echo $FOO", "/bin/echo⋅bar⋅baz"),
            ("/bin/echo ${FOO}", "/bin/echo⋅bar baz"),
            ("/bin/echo x${FOO}y", "/bin/echo⋅xbar bazy"),
            ("/bin/echo $FOO$ONE", "/bin/echo⋅$FOO$ONE"),
            ("/bin/echo x$ONE", "/bin/echo⋅x$ONE"),
            ("/bin/echo $EMPTY end", "/bin/echo⋅end"),
            ("/bin/echo $UNSET end", "/bin/echo⋅end"),
            ("/bin/echo ${UNSET} end", "/bin/echo⋅⋅end"),
            ("/bin/echo $SPACES", "/bin/echo⋅a⋅b"),
            ("/bin/echo '$FOO'", "/bin/echo⋅bar⋅baz"),
            ("/bin/echo $$FOO cost$$", "/bin/echo⋅$FOO⋅cost$"),
            (
                "/bin/echo ${not-a-name} $ ${",
                "/bin/echo⋅${not-a-name}⋅$⋅${",
            ),
            ("/bin/sh -c 'echo hello $FOO'", "/bin/sh⋅-c⋅echo hello $FOO"),
            (":/bin/echo $FOO ${FOO}", "/bin/echo⋅$FOO⋅${FOO}"),
            ("@/bin/echo $FOO ${ONE}", "$FOO⋅single"),
        ] {
            let lines = parse(input).unwrap();
            assert_eq!(lines[0].argv(&env).join("⋅"), want, "input: {input:?}");
        }
    }
}
