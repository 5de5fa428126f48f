//! Unit names (`web@1.service`): fleet's `ValidateName` rules, and the parts
//! of a name that specifiers and templates use (prefix, instance, suffix).
//!
//! Invariants:
//! - A [`UnitName`] only exists once it has been validated; it deserializes
//!   through [`UnitName::parse`], so the replicated state never holds a bad one.
//! - The parts follow fleet's `NewUnitNameInfo`: the suffix is after the last
//!   `.`, the prefix is before the first `@`, the instance is between them.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest unit name fleet accepts, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Unit types fleet knows (the suffix after the last `.`).
pub const UNIT_TYPES: [&str; 13] = [
    "automount",
    "busname",
    "device",
    "mount",
    "path",
    "scope",
    "service",
    "slice",
    "snapshot",
    "socket",
    "swap",
    "target",
    "timer",
];

/// Unit types that may be templates or instances (names with `@`).
pub const TEMPLATE_TYPES: [&str; 5] = ["path", "service", "socket", "target", "timer"];

/// A validated unit name, e.g. `web.service`, `web@.service` (a template)
/// or `web@1.service` (an instance of it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitName(String);

/// Why a string is not a unit name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("unit name is empty; name it like web.service")]
    Empty,
    #[error("unit name is {len} characters long; the most is {MAX_NAME_LEN}")]
    TooLong { len: usize },
    #[error("unit name {name:?} has no type suffix; end it with a unit type such as .service")]
    NoSuffix { name: String },
    #[error("unit name {name:?} ends with '.'; end it with a unit type such as .service")]
    EndsWithDot { name: String },
    #[error("unit name {name:?} has nothing before its type; name it like web.{suffix}")]
    EmptyStem { name: String, suffix: String },
    #[error(
        "unit name {name:?} has an unknown type {suffix:?}; use one of automount, busname, \
         device, mount, path, scope, service, slice, snapshot, socket, swap, target, timer"
    )]
    UnknownType { name: String, suffix: String },
    #[error(
        "unit name {name:?} contains {ch:?}; use letters, digits and the characters : _ . @ - \\"
    )]
    BadChar { name: String, ch: char },
    #[error(
        "unit name {name:?} starts with '@'; put the template's name before it (web@1.service)"
    )]
    StartsWithAt { name: String },
    #[error(
        "unit name {name:?} has '@' but .{suffix} units cannot be templates; only path, \
         service, socket, target and timer units can"
    )]
    NotTemplateType { name: String, suffix: String },
}

fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '@' | '-' | '\\')
}

impl UnitName {
    /// Validates `s` as fleet's `ValidateName` does, plus two rules of
    /// systemd's: names with `@` need a template-capable type, and
    /// something must come before the type (`.service` is refused).
    pub fn parse(s: &str) -> Result<UnitName, NameError> {
        let name = || s.to_owned();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { len: s.len() });
        }
        let Some(dot) = s.rfind('.') else {
            return Err(NameError::NoSuffix { name: name() });
        };
        if dot == s.len() - 1 {
            return Err(NameError::EndsWithDot { name: name() });
        }
        let suffix = &s[dot + 1..];
        if !UNIT_TYPES.contains(&suffix) {
            return Err(NameError::UnknownType {
                name: name(),
                suffix: suffix.to_owned(),
            });
        }
        if dot == 0 {
            return Err(NameError::EmptyStem {
                name: name(),
                suffix: suffix.to_owned(),
            });
        }
        if let Some(ch) = s[..dot].chars().find(|&c| !valid_char(c)) {
            return Err(NameError::BadChar { name: name(), ch });
        }
        if s.starts_with('@') {
            return Err(NameError::StartsWithAt { name: name() });
        }
        if s.contains('@') && !TEMPLATE_TYPES.contains(&suffix) {
            return Err(NameError::NotTemplateType {
                name: name(),
                suffix: suffix.to_owned(),
            });
        }
        Ok(UnitName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without its type suffix: `web@1` for `web@1.service`
    /// (fleet's `UnitNameInfo.Name`, the `%N` specifier).
    pub fn without_suffix(&self) -> &str {
        let dot = self.0.rfind('.').unwrap_or(self.0.len());
        &self.0[..dot]
    }

    /// The part before the first `@` (or the whole name without its
    /// suffix): `web` for `web@1.service` and for `web.service`.
    pub fn prefix(&self) -> &str {
        let stem = self.without_suffix();
        match stem.find('@') {
            Some(at) => &stem[..at],
            None => stem,
        }
    }

    /// The instance: `Some("1")` for `web@1.service`, `Some("")` for the
    /// template `web@.service`, `None` for a name without `@`.
    pub fn instance(&self) -> Option<&str> {
        let stem = self.without_suffix();
        stem.find('@').map(|at| &stem[at + 1..])
    }

    /// True for a template such as `web@.service`.
    pub fn is_template(&self) -> bool {
        self.instance() == Some("")
    }

    /// The template an instance comes from: `web@.service` for
    /// `web@1.service`; `None` for a template itself and plain names.
    pub fn template(&self) -> Option<UnitName> {
        match self.instance() {
            Some(i) if !i.is_empty() => {
                // Valid by construction: the prefix and suffix passed the
                // same checks as this name.
                Some(UnitName(format!("{}@.{}", self.prefix(), self.suffix())))
            }
            _ => None,
        }
    }

    /// The unit type: `service` for `web@1.service`.
    pub fn suffix(&self) -> &str {
        match self.0.rfind('.') {
            Some(dot) => &self.0[dot + 1..],
            None => "",
        }
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UnitName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnitName::parse(s)
    }
}

impl TryFrom<String> for UnitName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UnitName::parse(&s)
    }
}

impl From<UnitName> for String {
    fn from(n: UnitName) -> String {
        n.0
    }
}

impl AsRef<str> for UnitName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for UnitName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_and_their_parts() {
        // name => without_suffix prefix instance template suffix is_template
        let table = r"
            web.service         => web web - - service false
            web@1.service       => web@1 web 1 web@.service service false
            web@.service        => web@ web '' - service true
            a.b.c.socket        => a.b.c a.b.c - - socket false
            x@a.b.timer         => x@a.b x a.b x@.timer timer false
            db@a@b.service      => db@a@b db a@b db@.service service false
            foo:bar_baz-1.mount => foo:bar_baz-1 foo:bar_baz-1 - - mount false
            esc\x2d.service     => esc\x2d esc\x2d - - service false
            s.automount         => s s - - automount false
            t.busname           => t t - - busname false
            dev.device          => dev dev - - device false
            p.path              => p p - - path false
            s.scope             => s s - - scope false
            s.slice             => s s - - slice false
            s.snapshot          => s s - - snapshot false
            s.swap              => s s - - swap false
            t@x.target          => t@x t x t@.target target false
        ";
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (input, want) = line.split_once(" => ").unwrap();
            let n = UnitName::parse(input.trim()).unwrap_or_else(|e| panic!("{line}: {e}"));
            let show = |s: Option<&str>| match s {
                None => "-".to_owned(),
                Some("") => "''".to_owned(),
                Some(s) => s.to_owned(),
            };
            let got = format!(
                "{} {} {} {} {} {}",
                show(Some(n.without_suffix())),
                show(Some(n.prefix())),
                show(n.instance()),
                show(n.template().as_ref().map(UnitName::as_str)),
                n.suffix(),
                n.is_template()
            );
            assert_eq!(got, want, "case: {line}");
            assert_eq!(n.to_string(), input.trim());
        }
    }

    #[test]
    fn invalid_names() {
        let long = format!("{}.service", "a".repeat(249));
        assert_eq!(long.len(), 257);
        let ok_long = format!("{}.service", "a".repeat(248));
        assert!(
            UnitName::parse(&ok_long).is_ok(),
            "256 characters are allowed"
        );
        let table = [
            ("", "unit name is empty; name it like web.service"),
            (long.as_str(), "unit name is 257 characters long; the most is 256"),
            ("web", "unit name \"web\" has no type suffix; end it with a unit type such as .service"),
            ("web.", "unit name \"web.\" ends with '.'; end it with a unit type such as .service"),
            ("web.servic", "unit name \"web.servic\" has an unknown type \"servic\"; use one of automount, busname, device, mount, path, scope, service, slice, snapshot, socket, swap, target, timer"),
            ("web.Service", "unit name \"web.Service\" has an unknown type \"Service\"; use one of automount, busname, device, mount, path, scope, service, slice, snapshot, socket, swap, target, timer"),
            ("web.service.bak", "unit name \"web.service.bak\" has an unknown type \"bak\"; use one of automount, busname, device, mount, path, scope, service, slice, snapshot, socket, swap, target, timer"),
            ("we b.service", "unit name \"we b.service\" contains ' '; use letters, digits and the characters : _ . @ - \\"),
            ("web/1.service", "unit name \"web/1.service\" contains '/'; use letters, digits and the characters : _ . @ - \\"),
            ("wéb.service", "unit name \"wéb.service\" contains 'é'; use letters, digits and the characters : _ . @ - \\"),
            ("web*.service", "unit name \"web*.service\" contains '*'; use letters, digits and the characters : _ . @ - \\"),
            (".service", "unit name \".service\" has nothing before its type; name it like web.service"),
            ("@1.service", "unit name \"@1.service\" starts with '@'; put the template's name before it (web@1.service)"),
            ("@.service", "unit name \"@.service\" starts with '@'; put the template's name before it (web@1.service)"),
            ("disk@1.mount", "unit name \"disk@1.mount\" has '@' but .mount units cannot be templates; only path, service, socket, target and timer units can"),
            ("x@.slice", "unit name \"x@.slice\" has '@' but .slice units cannot be templates; only path, service, socket, target and timer units can"),
        ];
        for (input, want) in table {
            let err = UnitName::parse(input).expect_err(input);
            assert_eq!(err.to_string(), want, "case: {input:?}");
        }
    }

    #[test]
    fn serde_validates_and_borrows() {
        let n: UnitName = serde_json::from_str("\"web@1.service\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"web@1.service\"");
        let err = serde_json::from_str::<UnitName>("\"web\"").unwrap_err();
        assert!(err.to_string().contains("no type suffix"), "{err}");
        let mut map = std::collections::BTreeMap::new();
        map.insert(n.clone(), 1);
        assert_eq!(map.get("web@1.service"), Some(&1));
        assert_eq!("web@1.service".parse::<UnitName>().unwrap(), n);
    }
}
