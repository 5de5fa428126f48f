//! systemd specifiers (`%n`, `%i`, ...) in unit-file values: [`expand`] for
//! every specifier the unit runner knows, and the narrower set fleet expands
//! in `[X-Fleet]` values (`%n %N %p %i`, fleet's `unitPrintf`).
//!
//! Pure: one left-to-right pass, so a `%` that a substitution brings in is
//! never expanded again. An unknown specifier, one whose value is not
//! available (no hostname given), and a lone `%` at the end stay as written.

use super::name::UnitName;

/// What the specifiers of one unit on one machine stand for. `None` leaves
/// the matching specifier (`%H`, `%m`, `%b`) as written.
#[derive(Debug, Clone, Copy)]
pub struct Specifiers<'a> {
    pub name: &'a UnitName,
    pub hostname: Option<&'a str>,
    pub machine_id: Option<&'a str>,
    pub boot_id: Option<&'a str>,
}

/// Replaces in `text`:
/// `%n` the full name (`web@a-b.service`), `%N` the name without its type
/// (`web@a-b`), `%p` the prefix (`web`), `%P` the prefix unescaped, `%i` the
/// instance (`a-b`, empty without one), `%I` the instance unescaped (`a/b`),
/// `%H` the hostname, `%m` the machine id, `%b` the boot id, `%%` a `%`.
pub fn expand(text: &str, s: &Specifiers) -> String {
    substitute(text, |c| match c {
        'n' => Some(s.name.as_str().to_owned()),
        'N' => Some(s.name.without_suffix().to_owned()),
        'p' => Some(s.name.prefix().to_owned()),
        'P' => Some(unescape(s.name.prefix())),
        'i' => Some(s.name.instance().unwrap_or("").to_owned()),
        'I' => Some(unescape(s.name.instance().unwrap_or(""))),
        'H' => s.hostname.map(str::to_owned),
        'm' => s.machine_id.map(str::to_owned),
        'b' => s.boot_id.map(str::to_owned),
        '%' => Some("%".to_owned()),
        _ => None,
    })
}

/// fleet's `unitPrintf` for `[X-Fleet]` values: only `%n`, `%N`, `%p` and
/// `%i`; everything else (`%%` included) stays as written.
pub(crate) fn expand_fleet(text: &str, name: &UnitName) -> String {
    substitute(text, |c| match c {
        'n' => Some(name.as_str().to_owned()),
        'N' => Some(name.without_suffix().to_owned()),
        'p' => Some(name.prefix().to_owned()),
        'i' => Some(name.instance().unwrap_or("").to_owned()),
        _ => None,
    })
}

/// One pass over `text`: `%c` becomes `value(c)` when that is `Some`; else
/// the `%` stays and scanning goes on at `c`.
fn substitute(text: &str, value: impl Fn(char) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek().and_then(|&next| value(next)) {
            Some(v) => {
                out.push_str(&v);
                chars.next();
            }
            None => out.push('%'),
        }
    }
    out
}

/// systemd's `unit_name_unescape`: `-` stands for `/` and `\xNN` for the
/// byte NN. Bytes that do not form UTF-8 come out as U+FFFD.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' => {
                out.push(b'/');
                i += 1;
            }
            b'\\' if b.get(i + 1) == Some(&b'x') => {
                let hex = |j: usize| b.get(j).and_then(|&c| char::from(c).to_digit(16));
                match (hex(i + 2), hex(i + 3)) {
                    (Some(hi), Some(lo)) => {
                        // Two hex digits: at most 0xff.
                        out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                        i += 4;
                    }
                    _ => {
                        out.push(b'\\');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_cases() {
        // name | text => expanded, with hostname h1, machine id m1, no boot id.
        let table = r"
            web@1.service      | %n                 => web@1.service
            web@1.service      | %N %p %i           => web@1 web 1
            web@1.service      | /run/%p-%i.pid     => /run/web-1.pid
            web.service        | [%i] [%I]          => [] []
            web@.service       | %p@%i              => web@
            mnt@home-user.service | %i %I %P        => home-user home/user mnt
            esc@a\x2db.service | %i %I              => a\x2db a-b
            esc@a\x2.service   | %I                 => a\x2
            web@1.service      | %H %m %b           => h1 m1 %b
            web@1.service      | 100%% %%n          => 100% %n
            web@1.service      | %z %              => %z %
            web@1.service      | %%%n               => %web@1.service
            web@1.service      | 50%                => 50%
            web@1.service      | ünï%pcödé          => ünïwebcödé
        ";
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (left, want) = line.split_once(" => ").unwrap();
            let (name, text) = left.split_once(" | ").unwrap();
            let name = UnitName::parse(name.trim()).unwrap();
            let s = Specifiers {
                name: &name,
                hostname: Some("h1"),
                machine_id: Some("m1"),
                boot_id: None,
            };
            assert_eq!(expand(text.trim(), &s), want.trim(), "case: {line}");
        }
    }

    #[test]
    fn fleet_expands_only_its_four() {
        let n = UnitName::parse("web@2.service").unwrap();
        assert_eq!(
            expand_fleet("%n %N %p %i %I %H %m %b %% %", &n),
            "web@2.service web@2 web 2 %I %H %m %b %% %"
        );
        // What a substitution brings in is not expanded again.
        assert_eq!(expand_fleet("%%i", &n), "%2");
    }

    #[test]
    fn unescape_cases() {
        for (input, want) in [
            ("a-b", "a/b"),
            ("\\x41\\x2d", "A-"),
            ("\\x", "\\x"),
            ("\\xg1", "\\xg1"),
            ("\\", "\\"),
            ("\\xff", "\u{fffd}"),
            ("\\xc3\\xa9", "é"),
            ("", ""),
        ] {
            assert_eq!(unescape(input), want, "{input:?}");
        }
    }
}
