//! What a unit argument names: fleetctl's rules for `submit`, `load`,
//! `start` (a file path or a unit name) and for the commands that only take
//! names (`stop`, `destroy`, `cat`, ...).
//!
//! - The unit's name is the argument's last path component, with
//!   `.service` added when it has no type (fleetctl's `unitNameMangle`):
//!   `./units/web@.service` → `web@.service`, `web` → `web.service`.
//! - The local file is the argument itself when it exists. An argument with
//!   a `/` is a path: it must exist, unless it names an instance
//!   (`units/web@1.service`), which may come from its template.
//! - An instance without a local file may be submitted from its template:
//!   the file `web@.service` next to the given path, else in the current
//!   directory. Whether the cluster already holds it is the shell's
//!   question ([`super::change`]).
//!
//! Invariants: pure — the file system is only seen through the `exists`
//! argument; names follow the same rules as the server's
//! ([`UnitName::parse`]), checked here for a one-line exit 2 before any
//! request.

use std::path::{Path, PathBuf};

use corral_core::unit::{NameError, UnitName};

/// Why an argument names no unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{arg:?} names no unit; give a unit file or a name like web.service")]
    NoName { arg: String },
    #[error("{0}")]
    BadName(NameError),
    #[error("{path}: no such unit file")]
    NoSuchFile { path: String },
}

/// A validated unit name and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub name: String,
    /// `web@.service` for the instance `web@1.service`.
    pub template: Option<String>,
    /// True for a template itself (`web@.service`).
    pub is_template: bool,
}

/// What one argument of `submit`/`load`/`start` stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub unit: Name,
    /// The local unit file (the argument, when it exists).
    pub file: Option<PathBuf>,
    /// For an instance without a local file: its template's local file,
    /// if one was found next to the argument or in the current directory.
    pub template_file: Option<PathBuf>,
}

/// The unit name an argument stands for (its last path component, with
/// `.service` added when it has no type), checked by fleet's rules.
pub fn unit_name(arg: &str) -> Result<Name, ResolveError> {
    let base = Path::new(arg)
        .file_name()
        .and_then(|b| b.to_str())
        .filter(|b| !b.is_empty() && !arg.ends_with('/'))
        .ok_or_else(|| ResolveError::NoName {
            arg: arg.to_string(),
        })?;
    // Go's `filepath.Ext`: anything after the last dot is a type.
    let name = if !base.contains('.') {
        format!("{base}.service")
    } else {
        base.to_string()
    };
    let parsed = UnitName::parse(&name).map_err(ResolveError::BadName)?;
    let template = parsed.template().map(|t| t.to_string());
    let is_template = parsed.is_template();
    Ok(Name {
        name,
        template,
        is_template,
    })
}

/// What `arg` of `submit`/`load`/`start` stands for; `exists` says
/// whether a local path is a file.
pub fn resolve(arg: &str, exists: &dyn Fn(&Path) -> bool) -> Result<Target, ResolveError> {
    let unit = unit_name(arg)?;
    let path = Path::new(arg);
    if exists(path) {
        return Ok(Target {
            unit,
            file: Some(path.to_path_buf()),
            template_file: None,
        });
    }
    let Some(template) = unit.template.clone() else {
        if arg.contains('/') {
            return Err(ResolveError::NoSuchFile {
                path: arg.to_string(),
            });
        }
        return Ok(Target {
            unit,
            file: None,
            template_file: None,
        });
    };
    let mut candidates = Vec::new();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        candidates.push(dir.join(&template));
    }
    candidates.push(PathBuf::from(&template));
    Ok(Target {
        unit,
        file: None,
        template_file: candidates.into_iter().find(|c| exists(c)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `arg` resolved in a directory holding `files`, as text:
    /// `name [file=F] [template=T] [template_file=F]`, or the error.
    fn check(files: &[&str], arg: &str, expected: &str) {
        let exists = |p: &Path| files.iter().any(|f| Path::new(f) == p);
        let got = match resolve(arg, &exists) {
            Ok(t) => {
                let mut s = t.unit.name.clone();
                if t.unit.is_template {
                    s.push_str(" (template)");
                }
                if let Some(f) = &t.file {
                    s.push_str(&format!(" file={}", f.display()));
                }
                if let Some(tpl) = &t.unit.template {
                    s.push_str(&format!(" template={tpl}"));
                }
                if let Some(f) = &t.template_file {
                    s.push_str(&format!(" template_file={}", f.display()));
                }
                s
            }
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "files {files:?}, arg {arg:?}");
    }

    #[test]
    fn files_and_names() {
        // A local file, by name or by path.
        check(
            &["web.service"],
            "web.service",
            "web.service file=web.service",
        );
        check(
            &["units/web@.service"],
            "units/web@.service",
            "web@.service (template) file=units/web@.service",
        );
        check(
            &["./units/web@.service"],
            "./units/web@.service",
            "web@.service (template) file=./units/web@.service",
        );
        // A name without a local file: the cluster may hold it.
        check(&[], "web.service", "web.service");
        // No type: .service, as fleetctl does.
        check(&[], "web", "web.service");
        check(&["web"], "web", "web.service file=web");
        check(&[], "db.socket", "db.socket");
        check(
            &[],
            ".service",
            "error: unit name \".service\" has nothing before its type; name it like web.service",
        );
        // A path must exist.
        check(
            &[],
            "./units/web.service",
            "error: ./units/web.service: no such unit file",
        );
    }

    #[test]
    fn instances_find_their_template() {
        // The instance's own file wins.
        check(
            &["web@1.service", "web@.service"],
            "web@1.service",
            "web@1.service file=web@1.service template=web@.service",
        );
        // Else the template in the current directory.
        check(
            &["web@.service"],
            "web@1.service",
            "web@1.service template=web@.service template_file=web@.service",
        );
        // Next to the given path first, then the current directory.
        check(
            &["units/web@.service", "web@.service"],
            "units/web@2.service",
            "web@2.service template=web@.service template_file=units/web@.service",
        );
        check(
            &["web@.service"],
            "units/web@2.service",
            "web@2.service template=web@.service template_file=web@.service",
        );
        // No local template: the cluster may hold one (a path is fine too).
        check(&[], "web@3.service", "web@3.service template=web@.service");
        check(
            &[],
            "units/web@3.service",
            "web@3.service template=web@.service",
        );
        check(&[], "web@3", "web@3.service template=web@.service");
    }

    #[test]
    fn bad_arguments() {
        check(
            &[],
            "web.txt",
            "error: unit name \"web.txt\" has an unknown type \"txt\"; use one of automount, \
             busname, device, mount, path, scope, service, slice, snapshot, socket, swap, target, timer",
        );
        check(
            &[],
            "@1.service",
            "error: unit name \"@1.service\" starts with '@'; put the template's name before it \
             (web@1.service)",
        );
        check(
            &[],
            "we b.service",
            "error: unit name \"we b.service\" contains ' '; use letters, digits and the \
             characters : _ . @ - \\",
        );
        check(
            &[],
            "web@1.mount",
            "error: unit name \"web@1.mount\" has '@' but .mount units cannot be templates; \
             only path, service, socket, target and timer units can",
        );
        check(
            &[],
            "units/",
            "error: \"units/\" names no unit; give a unit file or a name like web.service",
        );
        check(
            &[],
            "",
            "error: \"\" names no unit; give a unit file or a name like web.service",
        );
    }

    #[test]
    fn names_only() {
        let n = unit_name("./x/web@7.service").unwrap();
        assert_eq!(n.name, "web@7.service");
        assert_eq!(n.template.as_deref(), Some("web@.service"));
        assert!(!n.is_template);
        assert!(unit_name("web@.timer").unwrap().is_template);
    }
}
