//! Glob patterns with Go's `path.Match` semantics, which fleet uses for
//! `Conflicts=` and `Replaces=`: `*` (any run without `/`), `?` (one
//! character but `/`), `[abc]`, `[a-z]`, `[^...]`, and `\` escapes.
//!
//! A [`Glob`] is compiled once and checked whole: a pattern Go would answer
//! with `ErrBadPattern` does not compile, and [`glob_match`] says such a
//! pattern matches nothing. Matching walks characters (Go walks bytes for
//! literals); the two agree on every valid unit name, which is ASCII.

use std::fmt;

/// True if `name` matches `pattern` (Go's `path.Match`); false for a bad
/// pattern.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    Glob::new(pattern).is_ok_and(|g| g.matches(name))
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    chunks: Vec<Chunk>,
}

/// Why a pattern is not a glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("it ends with a lone '\\'; escape a backslash as \\\\")]
    TrailingBackslash,
    #[error(
        "a character class is malformed; write classes as [abc], [a-z] or [^0-9], closed \
         with ']' (escape '-' and ']' inside them with '\\')"
    )]
    BadClass,
}

/// Go's chunk: a run of stars (or none), then tokens up to the next star.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chunk {
    star: bool,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character, not `/`.
    Any,
    /// `[...]`: inclusive ranges; `negated` for `[^...]`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let mut chunks = Vec::new();
        let mut rest = pattern;
        while !rest.is_empty() {
            let stripped = rest.trim_start_matches('*');
            let star = stripped.len() != rest.len();
            let (chunk, after) = scan_chunk(stripped);
            chunks.push(Chunk {
                star,
                tokens: parse_chunk(chunk)?,
            });
            rest = after;
        }
        Ok(Glob {
            text: pattern.to_owned(),
            chunks,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal text every match starts with (`web@` for
    /// `web@*.service`); empty when the pattern starts with a wildcard.
    pub fn literal_prefix(&self) -> String {
        match self.chunks.first() {
            Some(c) if !c.star => c
                .tokens
                .iter()
                .map_while(|t| match t {
                    Token::Literal(ch) => Some(*ch),
                    _ => None,
                })
                .collect(),
            _ => String::new(),
        }
    }

    /// Go's `path.Match`, chunk by chunk: each chunk is matched at the
    /// earliest place its star allows, and the last one must end the name.
    pub fn matches(&self, name: &str) -> bool {
        let mut name = name;
        let last = self.chunks.len().saturating_sub(1);
        'chunks: for (i, chunk) in self.chunks.iter().enumerate() {
            if chunk.star && chunk.tokens.is_empty() {
                // A trailing star takes the rest, unless it holds a '/'.
                return !name.contains('/');
            }
            if let Some(rest) = match_chunk(&chunk.tokens, name) {
                if rest.is_empty() || i < last {
                    name = rest;
                    continue;
                }
            }
            if chunk.star {
                for (at, c) in name.char_indices() {
                    if c == '/' {
                        break;
                    }
                    if let Some(rest) = match_chunk(&chunk.tokens, &name[at + c.len_utf8()..]) {
                        if i == last && !rest.is_empty() {
                            continue;
                        }
                        name = rest;
                        continue 'chunks;
                    }
                }
            }
            return false;
        }
        name.is_empty()
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Go's `scanChunk`: the text up to the next `*` outside a class.
fn scan_chunk(pattern: &str) -> (&str, &str) {
    let b = pattern.as_bytes();
    let mut in_range = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // An escape takes the next byte with it.
            b'\\' if i + 1 < b.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    // `i` is at an ASCII '*' or the end, or just past an escaped byte that
    // began a character; stepping over continuation bytes keeps it on a
    // boundary, as the loop only stops on ASCII.
    let i = i.min(b.len());
    pattern.split_at_checked(i).unwrap_or((pattern, ""))
}

/// The tokens of one chunk, checked as Go's `matchChunk` checks them.
fn parse_chunk(chunk: &str) -> Result<Vec<Token>, GlobError> {
    let mut tokens = Vec::new();
    let mut chars = chunk.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    let lo = class_char(&mut chars)?;
                    let hi = if chars.next_if_eq(&'-').is_some() {
                        class_char(&mut chars)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                tokens.push(Token::Class { negated, ranges });
            }
            '?' => tokens.push(Token::Any),
            '\\' => match chars.next() {
                Some(escaped) => tokens.push(Token::Literal(escaped)),
                None => return Err(GlobError::TrailingBackslash),
            },
            c => tokens.push(Token::Literal(c)),
        }
    }
    Ok(tokens)
}

/// Go's `getEsc`: one (possibly escaped) character of a class, which must
/// not be `-` or `]` unescaped and must be followed by more pattern.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, GlobError> {
    let c = match chars.next() {
        None | Some('-') | Some(']') => return Err(GlobError::BadClass),
        Some('\\') => chars.next().ok_or(GlobError::BadClass)?,
        Some(c) => c,
    };
    if chars.peek().is_none() {
        return Err(GlobError::BadClass);
    }
    Ok(c)
}

/// Matches `tokens` at the start of `s`; the rest of `s` on success.
fn match_chunk<'s>(tokens: &[Token], s: &'s str) -> Option<&'s str> {
    let mut s = s;
    for t in tokens {
        let c = s.chars().next()?;
        let ok = match t {
            Token::Literal(l) => c == *l,
            Token::Any => c != '/',
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        };
        if !ok {
            return None;
        }
        s = &s[c.len_utf8()..];
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match_cases() {
        // Go's path/match_test.go: pattern, name, match, bad pattern.
        let cases: &[(&str, &str, bool, bool)] = &[
            ("abc", "abc", true, false),
            ("*", "abc", true, false),
            ("*c", "abc", true, false),
            ("a*", "a", true, false),
            ("a*", "abc", true, false),
            ("a*", "ab/c", false, false),
            ("a*/b", "abc/b", true, false),
            ("a*/b", "a/c/b", false, false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true, false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true, false),
            ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
            ("ab[c]", "abc", true, false),
            ("ab[b-d]", "abc", true, false),
            ("ab[e-g]", "abc", false, false),
            ("ab[^c]", "abc", false, false),
            ("ab[^b-d]", "abc", false, false),
            ("ab[^e-g]", "abc", true, false),
            ("a\\*b", "a*b", true, false),
            ("a\\*b", "ab", false, false),
            ("a?b", "a☺b", true, false),
            ("a[^a]b", "a☺b", true, false),
            ("a???b", "a☺b", false, false),
            ("a[^a][^a][^a]b", "a☺b", false, false),
            ("[a-ζ]*", "α", true, false),
            ("*[a-ζ]", "A", false, false),
            ("a?b", "a/b", false, false),
            ("a*b", "a/b", false, false),
            ("[\\]a]", "]", true, false),
            ("[\\-]", "-", true, false),
            ("[x\\-]", "x", true, false),
            ("[x\\-]", "-", true, false),
            ("[x\\-]", "z", false, false),
            ("[\\-x]", "x", true, false),
            ("[\\-x]", "-", true, false),
            ("[\\-x]", "a", false, false),
            ("[]a]", "]", false, true),
            ("[-]", "-", false, true),
            ("[x-]", "x", false, true),
            ("[x-]", "-", false, true),
            ("[x-]", "z", false, true),
            ("[-x]", "x", false, true),
            ("[-x]", "-", false, true),
            ("[-x]", "a", false, true),
            ("\\", "a", false, true),
            ("[a-b-c]", "a", false, true),
            ("[", "a", false, true),
            ("[^", "a", false, true),
            ("[^bc", "a", false, true),
            ("a[", "a", false, true),
            ("a[", "ab", false, true),
            ("a[", "x", false, true),
            ("a/b[", "x", false, true),
            ("*x", "xxx", true, false),
            // fleet's use: unit names.
            ("web@*.service", "web@1.service", true, false),
            ("web@*.service", "web@.service", true, false),
            ("web@*.service", "web.service", false, false),
            ("web@?.service", "web@12.service", false, false),
            ("web@[0-9].service", "web@7.service", true, false),
            ("*.service", "db.socket", false, false),
            ("", "", true, false),
            ("", "a", false, false),
            ("**", "abc", true, false),
            ("a**c", "abbc", true, false),
            ("[*]", "*", true, false),
            ("*[*]", "a*", true, false),
            ("a*[", "abc", false, true),
        ];
        for &(pattern, name, want, bad) in cases {
            let compiled = Glob::new(pattern);
            assert_eq!(compiled.is_err(), bad, "{pattern:?} bad?");
            assert_eq!(glob_match(pattern, name), want, "{pattern:?} ~ {name:?}");
        }
    }

    #[test]
    fn errors_and_prefixes() {
        assert_eq!(
            Glob::new("web\\").unwrap_err().to_string(),
            "it ends with a lone '\\'; escape a backslash as \\\\"
        );
        assert_eq!(
            Glob::new("web@[1-").unwrap_err().to_string(),
            "a character class is malformed; write classes as [abc], [a-z] or [^0-9], closed \
             with ']' (escape '-' and ']' inside them with '\\')"
        );
        for (pattern, prefix) in [
            ("web@*.service", "web@"),
            ("db.service", "db.service"),
            ("*.service", ""),
            ("a\\*b*", "a*b"),
            ("ab?c", "ab"),
            ("x[yz]", "x"),
            ("", ""),
        ] {
            assert_eq!(
                Glob::new(pattern).unwrap().literal_prefix(),
                prefix,
                "{pattern}"
            );
        }
    }
}
