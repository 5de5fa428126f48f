//! A deterministic stand-in for the cargo-fuzz target in `fuzz/` (which
//! needs a nightly toolchain): 20,000 unit files, random and mutated from a
//! seed corpus by a xorshift generator, through the parser, the
//! serialisation, `[X-Fleet]` and the specifiers. Nothing may panic, and
//! every file that parses must come back unchanged from its own text.

use super::file::{UnitFile, UnitOption};
use super::fleet::Requirements;
use super::glob::{glob_match, Glob};
use super::name::UnitName;
use super::specifier::{expand, Specifiers};

const CORPUS: &[&str] = &[
    "[Unit]\nDescription=Web server %i\nAfter=docker.service\n\n[Service]\nExecStart=/usr/bin/docker run --name web-%i -p 80:80 nginx\nExecStop=/usr/bin/docker stop web-%i\n\n[X-Fleet]\nConflicts=web@*.service\nMachineMetadata=\"region=us-east\" \"disk=ssd\"\n",
    "[Service]\nExecStart=/bin/sh -c \\\n  'while true; do echo %H; sleep 1; done'\n# comment\n; other\n[X-Fleet]\nMachineOf=db@%i.service\n",
    "[X-Fleet]\nGlobal=true\nMachineMetadata=role=worker\n",
    "[X-Fleet]\nMachineID=3f2a1b9c\n[Install]\nWantedBy=multi-user.target\n",
    "[X-Fleet]\nReplaces=old-%p.service\nX-ConditionMachineMetadata=a=b\n",
    "\u{feff}[Unit]\r\nDescription=crlf\r\n[Service]\r\nType=oneshot\r\nExecStart=/bin/true\r\n",
    "[A]\nx=1\n[B]\ny=2\n[A]\nz=3 \\\\\n",
    "[X-Fleet]\nX-Conflicts=a*.service [b-d]?.socket\nX-ConditionMachineOf=x.service\n",
];

const NAMES: &[&str] = &[
    "web@1.service",
    "web@.service",
    "db.service",
    "a-b_c:d.socket",
    "x@a\\x2db.timer",
];

/// Characters that matter to the parser, the globs and the specifiers.
const SPICE: &[char] = &[
    '[', ']', '=', '\\', '\n', '\r', '#', ';', ' ', '\t', '"', '%', '*', '?', '@', '.', '-', '^',
    'n', 'i', 'p', 'x', '\u{0}', '\u{7f}', '\u{85}', 'é', '\u{feff}', '☺',
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn random_text(rng: &mut XorShift) -> String {
    let len = rng.below(200);
    (0..len)
        .map(|_| match rng.below(4) {
            0 => SPICE[rng.below(SPICE.len())],
            _ => char::from(b'A' + rng.below(58) as u8),
        })
        .collect()
}

fn mutate(rng: &mut XorShift, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(chars.len() + 1);
        match rng.below(6) {
            0 => chars.insert(at, SPICE[rng.below(SPICE.len())]),
            1 if !chars.is_empty() => {
                let end = (at + rng.below(8)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            2 => {
                let donor: Vec<char> = CORPUS[rng.below(CORPUS.len())].chars().collect();
                let from = rng.below(donor.len());
                let to = (from + rng.below(40)).min(donor.len());
                chars.splice(at..at, donor[from..to].iter().copied());
            }
            3 => chars.truncate(at),
            4 if !chars.is_empty() => {
                let i = at.min(chars.len() - 1);
                chars[i] = SPICE[rng.below(SPICE.len())];
            }
            _ => chars.insert(at, '\n'),
        }
    }
    chars.into_iter().collect()
}

/// What the fuzz target checks for one input.
pub(crate) fn exercise(text: &str, name: &UnitName) {
    let lines = text.split('\n').count();
    match UnitFile::parse(text) {
        Err(e) => assert!(e.line >= 1 && e.line <= lines, "{e} for {text:?}"),
        Ok(file) => {
            let back = UnitFile::parse(&file.to_text())
                .unwrap_or_else(|e| panic!("to_text of {text:?} does not parse: {e}"));
            assert_eq!(back, file, "round trip of {text:?}");
            let again = UnitFile::from_options(file.options().to_vec()).expect("own options");
            assert_eq!(again, file);
            assert_eq!(file.hash().len(), 40);
            let _ = Requirements::of(name, &file);
            let s = Specifiers {
                name,
                hostname: Some("host"),
                machine_id: None,
                boot_id: Some("b"),
            };
            for o in file.options() {
                let _ = expand(&o.value, &s);
                let _ = glob_match(&o.value, name.as_str());
                let _ = UnitName::parse(&o.value);
            }
        }
    }
    // Option triples that never were text.
    let opts: Vec<UnitOption> = text
        .split('\n')
        .map(|l| {
            let (a, b) = l.split_once('=').unwrap_or((l, ""));
            UnitOption::new("X-Fleet", a, b)
        })
        .collect();
    if let Ok(file) = UnitFile::from_options(opts) {
        assert_eq!(UnitFile::parse(&file.to_text()).as_ref(), Ok(&file));
        let _ = Requirements::of(name, &file);
    }
    let _ = Glob::new(text).map(|g| g.matches(name.as_str()));
}

#[test]
fn twenty_thousand_unit_files_never_panic_and_round_trip() {
    let names: Vec<UnitName> = NAMES.iter().map(|n| UnitName::parse(n).unwrap()).collect();
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut parsed = 0;
    for i in 0..20_000 {
        let text = match i % 4 {
            0 => random_text(&mut rng),
            _ => {
                let seed = CORPUS[rng.below(CORPUS.len())];
                mutate(&mut rng, seed)
            }
        };
        let name = &names[rng.below(names.len())];
        exercise(&text, name);
        parsed += usize::from(UnitFile::parse(&text).is_ok());
    }
    // The mutations keep enough files valid to test the round trip.
    assert!(parsed > 2_000, "only {parsed} files parsed");
    for text in CORPUS {
        UnitFile::parse(text).unwrap_or_else(|e| panic!("corpus {text:?}: {e}"));
    }
}
