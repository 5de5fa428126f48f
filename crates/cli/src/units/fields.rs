//! fleetctl's `--fields` for `list-units` and `list-unit-files`: the field
//! names each accepts, their defaults, and the header they print (the
//! names upper-cased).
//!
//! Invariants: pure; a closed enum per listing, so every field has exactly
//! one way of being printed ([`super::render`]).

use std::fmt::Debug;

/// A column of `list-units` (one row per unit per machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateField {
    Unit,
    Machine,
    Active,
    Sub,
    Load,
    Hash,
}

/// A column of `list-unit-files` (one row per unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileField {
    Unit,
    Hash,
    Dstate,
    State,
    Target,
    Global,
    Desc,
    Tmachine,
}

/// A listing's fields: their names and the defaults.
pub trait Field: Copy + Debug + PartialEq + 'static {
    /// The command, for messages.
    const COMMAND: &'static str;
    /// Every field with its fleetctl name, in fleetctl's order.
    const ALL: &'static [(&'static str, Self)];
    /// What prints without `--fields`.
    const DEFAULT: &'static [Self];

    /// fleetctl's name of the field.
    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| *n)
    }
}

impl Field for StateField {
    const COMMAND: &'static str = "list-units";
    const ALL: &'static [(&'static str, Self)] = &[
        ("unit", StateField::Unit),
        ("machine", StateField::Machine),
        ("active", StateField::Active),
        ("sub", StateField::Sub),
        ("load", StateField::Load),
        ("hash", StateField::Hash),
    ];
    const DEFAULT: &'static [Self] = &[
        StateField::Unit,
        StateField::Machine,
        StateField::Active,
        StateField::Sub,
    ];
}

impl Field for FileField {
    const COMMAND: &'static str = "list-unit-files";
    const ALL: &'static [(&'static str, Self)] = &[
        ("unit", FileField::Unit),
        ("hash", FileField::Hash),
        ("dstate", FileField::Dstate),
        ("state", FileField::State),
        ("target", FileField::Target),
        ("global", FileField::Global),
        ("desc", FileField::Desc),
        ("tmachine", FileField::Tmachine),
    ];
    const DEFAULT: &'static [Self] = &[
        FileField::Unit,
        FileField::Hash,
        FileField::Dstate,
        FileField::State,
        FileField::Target,
    ];
}

/// The fields `--fields a,b,c` asks for (`None`: the defaults).
pub fn parse<F: Field>(raw: Option<&str>) -> Result<Vec<F>, String> {
    let Some(raw) = raw else {
        return Ok(F::DEFAULT.to_vec());
    };
    let valid = || {
        F::ALL
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    for word in raw.split(',').map(str::trim) {
        if word.is_empty() {
            return Err(format!(
                "--fields {raw:?} has an empty field; {} fields are {}",
                F::COMMAND,
                valid()
            ));
        }
        let field = F::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(word))
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                format!(
                    "--fields: {} has no field {word:?}; use {}",
                    F::COMMAND,
                    valid()
                )
            })?;
        out.push(field);
    }
    Ok(out)
}

/// The header row: the fields' names upper-cased.
pub fn header<F: Field>(fields: &[F]) -> Vec<String> {
    fields.iter().map(|f| f.name().to_uppercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<F: Field>(raw: Option<&str>, expected: &str) {
        let got = match parse::<F>(raw) {
            Ok(fields) => header(&fields).join(" "),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "{raw:?}");
    }

    #[test]
    fn fields() {
        check::<StateField>(None, "UNIT MACHINE ACTIVE SUB");
        check::<StateField>(Some("unit,load,hash"), "UNIT LOAD HASH");
        check::<StateField>(Some("SUB, unit"), "SUB UNIT");
        check::<FileField>(None, "UNIT HASH DSTATE STATE TARGET");
        check::<FileField>(
            Some("unit,global,desc,tmachine"),
            "UNIT GLOBAL DESC TMACHINE",
        );
        check::<StateField>(
            Some("unit,dstate"),
            "error: --fields: list-units has no field \"dstate\"; use unit, machine, active, \
             sub, load, hash",
        );
        check::<FileField>(
            Some("unit,,hash"),
            "error: --fields \"unit,,hash\" has an empty field; list-unit-files fields are \
             unit, hash, dstate, state, target, global, desc, tmachine",
        );
        check::<FileField>(
            Some(""),
            "error: --fields \"\" has an empty field; list-unit-files fields are unit, hash, \
             dstate, state, target, global, desc, tmachine",
        );
    }
}
