//! Unit files from arbitrary bytes: the parser never panics, a file that
//! parses comes back unchanged from its own text, and `[X-Fleet]` and the
//! specifiers never panic on it. The first line names the unit (a default
//! name when it is not a valid one); the rest is the file.

#![no_main]

use corral_core::unit::{expand, glob_match, Requirements, Specifiers, UnitFile, UnitName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (first, text) = input.split_once('\n').unwrap_or(("", input));
    let name = UnitName::parse(first)
        .unwrap_or_else(|_| UnitName::parse("web@1.service").expect("a valid name"));
    let Ok(file) = UnitFile::parse(text) else {
        return;
    };
    let back = UnitFile::parse(&file.to_text()).expect("to_text parses");
    assert_eq!(back, file, "parse(to_text()) round trip");
    let again = UnitFile::from_options(file.options().to_vec()).expect("own options");
    assert_eq!(again, file, "from_options of its own options");
    assert_eq!(file.hash().len(), 40);
    let _ = Requirements::of(&name, &file);
    let s = Specifiers {
        name: &name,
        hostname: Some("host"),
        machine_id: Some("0123456789abcdef0123456789abcdef"),
        boot_id: None,
    };
    for o in file.options() {
        let _ = expand(&o.value, &s);
        let _ = glob_match(&o.value, name.as_str());
    }
});
