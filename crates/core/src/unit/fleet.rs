//! The `[X-Fleet]` section: where a unit may run, read into
//! [`Requirements`] with fleet's rules (`job/job.go`, `ValidateOptions`).
//!
//! Pure. Invariants:
//! - Values pass through fleet's specifier substitution (`%n %N %p %i`)
//!   before use; a line may hold several values, separated by blanks, each
//!   optionally in double quotes (`MachineMetadata="a=b" "c=d"`).
//! - A [`Requirements`] only exists once it is known to be placeable in
//!   principle: known keys, valid names and globs, no combination fleet
//!   refuses, and no `MachineOf` peer its own `Conflicts`/`Replaces` exclude.
//!
//! Where fleet silently ignores a mistake, this refuses it with an error: a
//! `MachineMetadata` value that is not `key=value` (fleet drops it, which
//! widens placement), a `Global` value that is no boolean (fleet reads it as
//! false), a glob Go would refuse (fleet's never matches), an unclosed quote.
//! A value split at the first `=` (`k=v=w` is key `k`, value `v=w`).

use std::collections::BTreeMap;

use super::file::UnitFile;
use super::glob::Glob;
use super::name::{NameError, UnitName};
use super::specifier::expand_fleet;

/// The section fleet reads.
pub const SECTION: &str = "X-Fleet";

/// Where a unit may run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Requirements {
    /// `MachineID=`: only this machine, by full id or 8-character short id
    /// (the first value wins).
    pub machine_id: Option<String>,
    /// `MachineOf=`: on the machine hosting each of these units.
    pub machine_of: Vec<UnitName>,
    /// `MachineMetadata=`: the machine must have every key, with one of
    /// the listed values (values in the order first written).
    pub metadata: BTreeMap<String, Vec<String>>,
    /// `Conflicts=`: globs; never on a machine hosting a matching unit, nor
    /// on one hosting a unit whose own globs match this one.
    pub conflicts: Vec<String>,
    /// `Global=`: runs on every machine that fits its metadata and
    /// conflicts; never placed by the planner.
    pub global: bool,
    /// `Replaces=`: globs; landing next to a matching unit moves that unit.
    pub replaces: Vec<String>,
}

/// Why an `[X-Fleet]` section is refused. Each names the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    #[error(
        "unknown [X-Fleet] option {name:?}; use MachineID, MachineOf, MachineMetadata, \
         Conflicts, Global or Replaces"
    )]
    UnknownOption { name: String },
    #[error("[X-Fleet] {option}= is empty; give it a value or remove the line")]
    Empty { option: String },
    #[error("[X-Fleet] {option}={value} has an unclosed '\"'")]
    UnclosedQuote { option: String, value: String },
    #[error("[X-Fleet] {option}={value} is not a unit name: {error}")]
    BadMachineOf {
        option: String,
        value: String,
        error: NameError,
    },
    #[error("[X-Fleet] {option}={value} names the unit itself; a unit cannot follow itself")]
    MachineOfSelf { option: String, value: String },
    #[error("[X-Fleet] {option}={value} is not key=value; write e.g. {option}=region=us-east")]
    BadMetadata { option: String, value: String },
    #[error("[X-Fleet] {option}={pattern} is not a valid glob: {reason}")]
    BadGlob {
        option: String,
        pattern: String,
        reason: super::glob::GlobError,
    },
    #[error("[X-Fleet] Global={value} is not a boolean; use true or false")]
    BadGlobal { value: String },
    #[error(
        "[X-Fleet] MachineOf={peer} matches the unit's own {option}={pattern}, so it could \
         never be placed; drop one of them"
    )]
    PeerExcluded {
        peer: String,
        option: &'static str,
        pattern: String,
    },
    #[error("[X-Fleet] {first} and {second} cannot be used together; keep one of them")]
    Combination {
        first: &'static str,
        second: &'static str,
    },
}

/// Which requirement a key sets; legacy `X-`/`X-Condition` names included.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    MachineId,
    MachineIdLegacy,
    MachineBootId,
    MachineOf,
    Metadata,
    Conflicts,
    Global,
    Replaces,
}

fn key(name: &str) -> Option<Key> {
    Some(match name {
        "MachineID" => Key::MachineId,
        "X-ConditionMachineID" => Key::MachineIdLegacy,
        "X-ConditionMachineBootID" => Key::MachineBootId,
        "MachineOf" | "X-ConditionMachineOf" => Key::MachineOf,
        "MachineMetadata" | "X-ConditionMachineMetadata" => Key::Metadata,
        "Conflicts" | "X-Conflicts" => Key::Conflicts,
        "Global" => Key::Global,
        "Replaces" => Key::Replaces,
        _ => return None,
    })
}

impl Requirements {
    /// Reads `file`'s `[X-Fleet]` section for the unit `name` (whose parts
    /// the specifiers stand for).
    pub fn of(name: &UnitName, file: &UnitFile) -> Result<Requirements, RequirementError> {
        let mut req = Requirements::default();
        // MachineID, then the legacy X-ConditionMachineID, then the older
        // X-ConditionMachineBootID: the first value of the first present.
        let mut ids: [Option<String>; 3] = [None, None, None];
        for o in file.options().iter().filter(|o| o.section == SECTION) {
            let option = o.name.as_str();
            let k = key(option).ok_or_else(|| RequirementError::UnknownOption {
                name: option.to_owned(),
            })?;
            match k {
                Key::MachineId | Key::MachineIdLegacy | Key::MachineBootId => {
                    let v = expand_fleet(single(&o.value), name);
                    if v.is_empty() {
                        return Err(RequirementError::Empty {
                            option: option.to_owned(),
                        });
                    }
                    let slot = match k {
                        Key::MachineId => 0,
                        Key::MachineIdLegacy => 1,
                        _ => 2,
                    };
                    ids[slot].get_or_insert(v);
                }
                Key::Global => {
                    let v = single(&o.value);
                    req.global = boolean(v).ok_or_else(|| RequirementError::BadGlobal {
                        value: v.to_owned(),
                    })?;
                }
                Key::MachineOf => {
                    for v in values(option, &o.value, name)? {
                        let peer = UnitName::parse(&v).map_err(|error| {
                            RequirementError::BadMachineOf {
                                option: option.to_owned(),
                                value: v.clone(),
                                error,
                            }
                        })?;
                        if &peer == name {
                            return Err(RequirementError::MachineOfSelf {
                                option: option.to_owned(),
                                value: v,
                            });
                        }
                        if !req.machine_of.contains(&peer) {
                            req.machine_of.push(peer);
                        }
                    }
                }
                Key::Metadata => {
                    for v in values(option, &o.value, name)? {
                        let pair = v
                            .split_once('=')
                            .filter(|(k, v)| !k.is_empty() && !v.is_empty());
                        let Some((k, val)) = pair else {
                            return Err(RequirementError::BadMetadata {
                                option: option.to_owned(),
                                value: v,
                            });
                        };
                        let list = req.metadata.entry(k.to_owned()).or_default();
                        if !list.iter().any(|x| x == val) {
                            list.push(val.to_owned());
                        }
                    }
                }
                Key::Conflicts | Key::Replaces => {
                    let list = if k == Key::Conflicts {
                        &mut req.conflicts
                    } else {
                        &mut req.replaces
                    };
                    for v in values(option, &o.value, name)? {
                        if let Err(reason) = Glob::new(&v) {
                            return Err(RequirementError::BadGlob {
                                option: option.to_owned(),
                                pattern: v,
                                reason,
                            });
                        }
                        if !list.contains(&v) {
                            list.push(v);
                        }
                    }
                }
            }
        }
        let [id, legacy, boot] = ids;
        req.machine_id = id.or(legacy).or(boot);
        req.validate()?;
        Ok(req)
    }

    /// fleet's `ValidateOptions`: peers its own globs exclude, then the
    /// combinations it refuses, in fleet's order.
    fn validate(&self) -> Result<(), RequirementError> {
        for peer in &self.machine_of {
            for (option, list) in [("Conflicts", &self.conflicts), ("Replaces", &self.replaces)] {
                if let Some(pattern) = list
                    .iter()
                    .find(|p| super::glob::glob_match(p, peer.as_str()))
                {
                    return Err(RequirementError::PeerExcluded {
                        peer: peer.to_string(),
                        option,
                        pattern: pattern.clone(),
                    });
                }
            }
        }
        let target = self.machine_id.is_some();
        let peers = !self.machine_of.is_empty();
        let conflicts = !self.conflicts.is_empty();
        let replaces = !self.replaces.is_empty();
        let refused = [
            (target && peers, "MachineID", "MachineOf"),
            (target && conflicts, "MachineID", "Conflicts"),
            (target && self.global, "MachineID", "Global"),
            (target && replaces, "MachineID", "Replaces"),
            (self.global && peers, "Global", "MachineOf"),
            (self.global && replaces, "Global", "Replaces"),
            (conflicts && replaces, "Conflicts", "Replaces"),
        ];
        match refused.into_iter().find(|(hit, _, _)| *hit) {
            Some((_, first, second)) => Err(RequirementError::Combination { first, second }),
            None => Ok(()),
        }
    }
}

/// A single-valued option: trimmed, one pair of surrounding quotes dropped.
fn single(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// fleet's truthy values (`true yes 1 on t`, any case), and their
/// opposites; anything else is refused rather than read as false.
fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" | "t" => Some(true),
        "false" | "no" | "0" | "off" | "f" | "" => Some(false),
        _ => None,
    }
}

/// The values of a multi-valued line: split on blanks outside double
/// quotes (the quotes go), empty ones skipped, each expanded.
fn values(option: &str, line: &str, name: &UnitName) -> Result<Vec<String>, RequirementError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(expand_fleet(&current, name));
                    current.clear();
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(RequirementError::UnclosedQuote {
            option: option.to_owned(),
            value: line.to_owned(),
        });
    }
    if !current.is_empty() {
        out.push(expand_fleet(&current, name));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name | X-Fleet lines separated by ' ; '` → the requirements, one
    /// field a line, or `error: ...`.
    fn show(name: &str, lines: &str) -> String {
        let name = UnitName::parse(name).unwrap();
        let text = format!(
            "[X-Fleet]\n{}\n",
            lines.split(" ; ").collect::<Vec<_>>().join("\n")
        );
        let file = UnitFile::parse(&text).unwrap();
        match Requirements::of(&name, &file) {
            Err(e) => format!("error: {e}"),
            Ok(r) => {
                let mut out = Vec::new();
                if let Some(id) = &r.machine_id {
                    out.push(format!("machine_id={id}"));
                }
                if !r.machine_of.is_empty() {
                    let v: Vec<&str> = r.machine_of.iter().map(UnitName::as_str).collect();
                    out.push(format!("machine_of={}", v.join(",")));
                }
                for (k, v) in &r.metadata {
                    out.push(format!("metadata {k}={}", v.join("|")));
                }
                if !r.conflicts.is_empty() {
                    out.push(format!("conflicts={}", r.conflicts.join(",")));
                }
                if r.global {
                    out.push("global".into());
                }
                if !r.replaces.is_empty() {
                    out.push(format!("replaces={}", r.replaces.join(",")));
                }
                out.join(" ")
            }
        }
    }

    #[test]
    fn requirements_cases() {
        // name | lines => requirements or error.
        let table = r#"
            web@1.service | Conflicts=web@*.service                     => conflicts=web@*.service
            web@1.service | Conflicts=%p@*.service                      => conflicts=web@*.service
            web@1.service | X-Conflicts=a.service b*.service ; Conflicts=c.service a.service => conflicts=a.service,b*.service,c.service
            web@1.service | MachineOf=db@%i.service                     => machine_of=db@1.service
            web@1.service | X-ConditionMachineOf=db.service ; MachineOf=cache.service => machine_of=db.service,cache.service
            web@1.service | MachineMetadata=region=us-east              => metadata region=us-east
            web@1.service | MachineMetadata="region=us-east" "disk=ssd" => metadata disk=ssd metadata region=us-east
            web@1.service | MachineMetadata=region=us-east ; MachineMetadata=region=us-west ; X-ConditionMachineMetadata=region=us-east => metadata region=us-east|us-west
            web@1.service | MachineMetadata="rack=a b"                  => metadata rack=a b
            web@1.service | MachineMetadata=k=v=w                       => metadata k=v=w
            web@1.service | MachineMetadata=id=%n                       => metadata id=web@1.service
            web@1.service | MachineID=abcdef12 ; MachineID=99999999     => machine_id=abcdef12
            web@1.service | X-ConditionMachineBootID=b ; X-ConditionMachineID=c => machine_id=c
            web@1.service | X-ConditionMachineBootID=b                  => machine_id=b
            web@1.service | MachineID="abcdef12"                        => machine_id=abcdef12
            web@1.service | Global=true                                 => global
            web@1.service | Global=YES ; Global=off                     => 
            web@1.service | Global=off ; Global=T                       => global
            web@1.service | Global=1 ; MachineMetadata=a=b ; Conflicts=x.service => metadata a=b conflicts=x.service global
            web@1.service | Replaces=old@%i.service                     => replaces=old@1.service
            web@.service  | Conflicts=web@%i.service                    => conflicts=web@.service
            web@1.service | Conflicts=                                  => 
            web@1.service | Weight=3                                    => error: unknown [X-Fleet] option "Weight"; use MachineID, MachineOf, MachineMetadata, Conflicts, Global or Replaces
            web@1.service | machineid=x                                 => error: unknown [X-Fleet] option "machineid"; use MachineID, MachineOf, MachineMetadata, Conflicts, Global or Replaces
            web@1.service | MachineID=                                  => error: [X-Fleet] MachineID= is empty; give it a value or remove the line
            web@1.service | MachineMetadata="a=b                        => error: [X-Fleet] MachineMetadata="a=b has an unclosed '"'
            web@1.service | MachineMetadata=region                      => error: [X-Fleet] MachineMetadata=region is not key=value; write e.g. MachineMetadata=region=us-east
            web@1.service | MachineMetadata==x                          => error: [X-Fleet] MachineMetadata==x is not key=value; write e.g. MachineMetadata=region=us-east
            web@1.service | X-ConditionMachineMetadata=k=               => error: [X-Fleet] X-ConditionMachineMetadata=k= is not key=value; write e.g. X-ConditionMachineMetadata=region=us-east
            web@1.service | MachineOf=db                                => error: [X-Fleet] MachineOf=db is not a unit name: unit name "db" has no type suffix; end it with a unit type such as .service
            web@1.service | MachineOf=%n                                => error: [X-Fleet] MachineOf=web@1.service names the unit itself; a unit cannot follow itself
            web@1.service | Conflicts=web@[1-                           => error: [X-Fleet] Conflicts=web@[1- is not a valid glob: a character class is malformed; write classes as [abc], [a-z] or [^0-9], closed with ']' (escape '-' and ']' inside them with '\')
            web@1.service | Replaces=old[                               => error: [X-Fleet] Replaces=old[ is not a valid glob: a character class is malformed; write classes as [abc], [a-z] or [^0-9], closed with ']' (escape '-' and ']' inside them with '\')
            web@1.service | Global=maybe                                => error: [X-Fleet] Global=maybe is not a boolean; use true or false
            web@1.service | MachineOf=db.service ; Conflicts=d*.service => error: [X-Fleet] MachineOf=db.service matches the unit's own Conflicts=d*.service, so it could never be placed; drop one of them
            web@1.service | MachineOf=db.service ; Replaces=db.service  => error: [X-Fleet] MachineOf=db.service matches the unit's own Replaces=db.service, so it could never be placed; drop one of them
            web@1.service | MachineID=a ; MachineOf=db.service          => error: [X-Fleet] MachineID and MachineOf cannot be used together; keep one of them
            web@1.service | MachineID=a ; Conflicts=x.service           => error: [X-Fleet] MachineID and Conflicts cannot be used together; keep one of them
            web@1.service | MachineID=a ; Global=true                   => error: [X-Fleet] MachineID and Global cannot be used together; keep one of them
            web@1.service | MachineID=a ; Global=false                  => machine_id=a
            web@1.service | MachineID=a ; Replaces=x.service            => error: [X-Fleet] MachineID and Replaces cannot be used together; keep one of them
            web@1.service | Global=true ; MachineOf=db.service          => error: [X-Fleet] Global and MachineOf cannot be used together; keep one of them
            web@1.service | Global=true ; Replaces=db.service           => error: [X-Fleet] Global and Replaces cannot be used together; keep one of them
            web@1.service | Conflicts=a.service ; Replaces=b.service    => error: [X-Fleet] Conflicts and Replaces cannot be used together; keep one of them
        "#;
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (left, want) = line
                .split_once(" => ")
                .unwrap_or((line.trim_end_matches(" =>"), ""));
            let (name, lines) = left.split_once(" | ").unwrap();
            assert_eq!(show(name.trim(), lines.trim()), want.trim(), "case: {line}");
        }
    }

    #[test]
    fn other_sections_are_ignored() {
        let name = UnitName::parse("a.service").unwrap();
        let file =
            UnitFile::parse("[Service]\nMachineID=x\n[Unit]\nConflicts=b.service\n").unwrap();
        assert_eq!(Requirements::of(&name, &file), Ok(Requirements::default()));
    }
}
