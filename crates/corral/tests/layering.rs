//! The workspace's layering, checked from the Cargo.toml files: the pure
//! core depends on nothing async or IO; agents and the CLI reach the cluster
//! only over HTTP (never the store or the master directly).

use std::collections::BTreeSet;
use std::path::Path;

/// Names in a crate's `[dependencies]` table (not dev- or build-deps).
fn deps(krate: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut in_deps = false;
    let mut out = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim().trim_end_matches(".workspace").to_string();
                if !name.is_empty() && !name.starts_with('#') {
                    out.insert(name);
                }
            }
        }
    }
    out
}

fn check(krate: &str, allowed: &[&str]) {
    let got = deps(krate);
    let extra: Vec<&String> = got
        .iter()
        .filter(|d| !allowed.contains(&d.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "crates/{krate} must not depend on {extra:?} (layering; see ARCHITECTURE.md)"
    );
}

#[test]
fn the_core_is_pure() {
    // regex-lite: pure matching for Marathon's LIKE/UNLIKE constraints (no
    // IO, no dependencies of its own).
    check("core", &["serde", "thiserror", "regex-lite"]);
}

#[test]
fn agents_and_the_cli_see_the_cluster_only_over_http() {
    for krate in ["agent", "cli", "api"] {
        let d = deps(krate);
        for forbidden in ["corral-store", "corral-master", "openraft", "redb"] {
            assert!(
                !d.contains(forbidden),
                "crates/{krate} depends on {forbidden}"
            );
        }
    }
    assert!(
        !deps("master").contains("corral-agent"),
        "the master talks to agents over HTTP"
    );
}

#[test]
fn wire_types_stay_at_the_boundary() {
    // Only the API crate and the shells that serve or call it know wire types;
    // the core and the store never do.
    for krate in ["core", "store"] {
        assert!(
            !deps(krate).contains("corral-api"),
            "crates/{krate} depends on corral-api"
        );
    }
}
