//! Seeded random dotenv and INI documents for the generated differential
//! (`generated.rs`); the shared pieces are in `generated_docs.rs`. No duplicate INI keys
//! (docs/compatibility.md, "Deliberate differences").

use crate::generated_docs::COMMENTS;
use crate::generated_docs::Doc;
use crate::generated_docs::KEY_AFFIXES;
use crate::generated_docs::Rng;
use crate::generated_docs::quoted;

const ENV_VALUES: &[&str] = &[
    "",
    "plain",
    "p@ss=word#1",
    "with space",
    "\"double quoted\"",
    "'single'",
    "line1\\nline2",
    "trailing\\n",
    "ünï 😀",
    "e\u{301}",
    "123",
    "1.5",
    "true",
    "null",
    "~",
    "  lead",
    "a#b",
    "$VAR",
    "back\\slash",
    "{\"json\": 1}",
    "=starts",
];
const ENV_KEYS: &[&str] = &[
    "KEY",
    "DB_USER",
    "db.host",
    "with-dash",
    "lower",
    "X1",
    "export FOO",
    "ÜNÏ",
    "SP ACE",
];

const INI_VALUES: &[&str] = &[
    "plain",
    "with spaces",
    "ünï 😀",
    "123",
    "-4",
    "1.5",
    "true",
    "off",
    "\"quoted\"",
    "'single'",
    "a=b",
    "semi;colon",
    "hash#tag",
    "",
    "`tick`",
    "path/to/x",
    "e\u{301}",
];
const INI_KEYS: &[&str] = &[
    "user",
    "password",
    "port",
    "db.host",
    "with-dash",
    "with space",
    "ünï",
    "CAPS",
];
const INI_SECTIONS: &[&str] = &["database", "other", "with space", "ünï", "a.b", "x-y"];

pub fn dotenv(rng: &mut Rng) -> Doc {
    let mut text = String::new();
    let mut paths = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for _ in 0..1 + rng.below(6) {
        if rng.chance(1, 5) {
            text.push_str(&format!("#{}\n", &rng.pick(COMMENTS)[1..]));
        }
        if rng.chance(1, 8) {
            text.push('\n');
        }
        let (_, suf) = KEY_AFFIXES[rng.below(KEY_AFFIXES.len())];
        let key = format!("{}{suf}", rng.pick(ENV_KEYS));
        if used.contains(&key) {
            continue;
        }
        used.push(key.clone());
        let value = rng.pick(ENV_VALUES);
        text.push_str(&format!("{key}={value}\n"));
        paths.push(format!("[{}]", quoted(&key)));
    }
    Doc { text, paths }
}

pub fn ini(rng: &mut Rng) -> Doc {
    let mut text = String::new();
    let mut paths = Vec::new();
    let mut sections: Vec<&str> = Vec::new();
    let mut entries = |rng: &mut Rng, text: &mut String, section: Option<&str>| {
        let mut used: Vec<String> = Vec::new();
        for _ in 0..rng.below(4) {
            if rng.chance(1, 5) {
                let mark = if rng.chance(1, 2) { ";" } else { "#" };
                text.push_str(&format!("{mark} {}\n", &rng.pick(COMMENTS)[2..]));
            }
            let (_, suf) = KEY_AFFIXES[rng.below(KEY_AFFIXES.len())];
            let key = format!("{}{suf}", rng.pick(INI_KEYS));
            if used.contains(&key) {
                continue;
            }
            used.push(key.clone());
            let eq = if rng.chance(1, 2) { " = " } else { "=" };
            text.push_str(&format!("{key}{eq}{}\n", rng.pick(INI_VALUES)));
            if let Some(s) = section {
                paths.push(format!("[{}][{}]", quoted(s), quoted(&key)));
            }
        }
    };
    if rng.chance(1, 4) {
        entries(rng, &mut text, None);
    }
    for _ in 0..1 + rng.below(3) {
        let name = rng.pick(INI_SECTIONS);
        if sections.contains(&name) {
            continue;
        }
        sections.push(name);
        if rng.chance(1, 4) {
            text.push_str("; section comment\n");
        }
        text.push_str(&format!("[{name}]\n"));
        entries(rng, &mut text, Some(name));
        if rng.chance(1, 3) {
            text.push('\n');
        }
    }
    for s in &sections {
        paths.push(format!("[{}]", quoted(s)));
    }
    Doc { text, paths }
}
