//! The machine's own specifiers in unit options: `%H` (this machine's
//! name), `%m` (its machine id), `%b` (the boot id) and `%%`. The leader
//! has already expanded the unit's (`%n %N %p %i %I`); any other `%x` is
//! left as written.
//!
//! Pure: the machine's values are arguments (the manager reads the boot id).

/// What the machine specifiers stand for on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// `%H`: the machine's name as the agent registered it.
    pub hostname: String,
    /// `%m`: the agent's machine id (32 hex digits).
    pub machine_id: String,
    /// `%b`: the kernel's boot id, 32 hex digits without dashes.
    pub boot_id: String,
}

/// `text` with `%H`, `%m`, `%b` and `%%` replaced.
pub fn expand(text: &str, m: &Machine) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('H') => out.push_str(&m.hostname),
            Some('m') => out.push_str(&m.machine_id),
            Some('b') => out.push_str(&m.boot_id),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// The boot id as `%b` shows it: `/proc/sys/kernel/random/boot_id`'s text
/// without dashes and whitespace.
pub fn boot_id_from(text: &str) -> String {
    text.trim().replace('-', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_machine_specifiers_only() {
        let m = Machine {
            hostname: "m1".into(),
            machine_id: "0123456789abcdef0123456789abcdef".into(),
            boot_id: "feedfacefeedfacefeedfacefeedface".into(),
        };
        for (input, want) in [
            ("/bin/echo %H", "/bin/echo m1"),
            (
                "%m-%b",
                "0123456789abcdef0123456789abcdef-feedfacefeedfacefeedfacefeedface",
            ),
            ("/bin/date +%%s", "/bin/date +%s"),
            ("100%", "100%"),
            ("%t and %h stay", "%t and %h stay"),
            ("%%H", "%H"),
            ("no specifiers", "no specifiers"),
        ] {
            assert_eq!(expand(input, &m), want, "input: {input:?}");
        }
        assert_eq!(
            boot_id_from("2c8a5f0e-1b2c-4d5e-8f90-0123456789ab\n"),
            "2c8a5f0e1b2c4d5e8f900123456789ab"
        );
    }
}
