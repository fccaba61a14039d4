//! Seeded random documents for the generated differential (`generated.rs`): YAML and
//! JSON texts (dotenv and INI: `generated_flat.rs`) built from pools of every scalar
//! kind each format has, plus the paths of the entries they hold (for `set`, `unset`
//! and `--extract`).
//!
//! Left out on purpose, each one a documented deliberate difference or shared defect in
//! docs/compatibility.md (the generator would only rediscover it):
//! * numbers no 64-bit integer or float holds exactly ("Deliberate differences", inexact
//!   numbers are refused): YAML ints stay within 64 bits, floats short;
//! * JSON integers above 2^53 ("Deliberate differences", JSON integers stay exact);
//! * a YAML `-0.0` ("A defect shared with sops 3.11: a clear `-0.0` in YAML");
//! * raw U+2028/U+2029/U+0085 outside quotes and strings holding both a newline and one
//!   of them ("U+2028, U+2029 and U+0085");
//! * a `%YAML` directive, a byte-order mark inside a file, duplicate INI keys, nesting
//!   beyond 256 levels ("Deliberate differences").

#[path = "../../examples/fuzz/rng.rs"]
mod rng;
pub use rng::Rng;

impl Rng {
    /// True with probability `num/den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }
    pub fn pick<'a, T: ?Sized>(&mut self, pool: &[&'a T]) -> &'a T {
        pool[self.below(pool.len())]
    }
}

/// A generated document: its text and the sops paths (`["a"][0]`) of entries in it.
pub struct Doc {
    pub text: String,
    pub paths: Vec<String>,
}

/// Key stems with odd characters; each may get a prefix or suffix that the random
/// partial-encryption settings select.
const KEY_STEMS: &[&str] = &[
    "a",
    "key",
    "user_name",
    "db.host",
    "with-dash",
    "with space",
    "ünïcode",
    "日本",
    "emoji😀",
    "e\u{301}",
    "x1",
    "CAPS",
    "a/b",
    "dollar$",
    "at@",
    "tilde~",
    "pct%",
    "q?",
];
pub const KEY_AFFIXES: &[(&str, &str)] = &[
    ("", ""),
    ("", ""),
    ("", ""),
    ("", "_plain"),
    ("", "_secret"),
    ("", "_unencrypted"),
    ("pub", ""),
    ("sec", ""),
];

/// YAML scalars as written in the document (plain, quoted, numbers, bools in every
/// spelling, nulls, timestamps, strings that look like other kinds, unicode).
const YAML_SCALARS: &[&str] = &[
    "hello",
    "two words here",
    "a:b",
    "path/to/file",
    "-dash",
    "x-y_z",
    "héllo wörld",
    "日本語",
    "astral 😀𝄞",
    "e\u{301}\u{302}",
    "\"double \\\"esc\\\" \\t \\u00e9\"",
    "\"\\U0001F600 astral escape\"",
    "\"line1\\nline2\"",
    "\"\\u2028 in quotes\"",
    "'single ''quote'''",
    "''",
    "\"\"",
    "\"123\"",
    "'1.5'",
    "\"true\"",
    "'null'",
    "\"0x1F\"",
    "\"~\"",
    "\"yes\"",
    "\" lead and trail \"",
    "\"a #b\"",
    "0",
    "42",
    "-17",
    "+5",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "-0.25",
    "1e3",
    "1.5e-7",
    "6.02E+23",
    "3.0",
    ".inf",
    "-.inf",
    ".Inf",
    ".nan",
    ".NaN",
    "true",
    "false",
    "True",
    "FALSE",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "Yes",
    "null",
    "~",
    "Null",
    "NULL",
    "2024-01-02T03:04:05Z",
    "2024-01-02",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "12:30:00",
    "[]",
    "{}",
    "[1, two, 3.0]",
    "{a: 1, b: [x]}",
    "!!str 123",
    "\"tab\\there\"",
    "'it''s # not a comment'",
    "value # with comment",
];

/// Block scalar headers; the body is indented under the key. `|2` is only used for map
/// values outside lists: for a string starting with a space in a list, or in a map that
/// is (or is inside) a list item, sops writes an indicator no YAML reader takes
/// (docs/compatibility.md, "Round 18", deliberate: the block indentation indicator
/// inside a list).
const YAML_BLOCKS: &[&str] = &["|", "|-", "|+", ">", ">-", ">+", "|2"];
const BLOCK_LINES: &[&str] = &[
    "line one",
    "  indented more",
    "x: y",
    "# not a comment",
    "😀",
];
pub const COMMENTS: &[&str] = &[
    "# comment",
    "# sops:clear kept",
    "# sops:enc this",
    "#no space",
    "# ünïcode ✓",
    "# key: value",
];

/// JSON integers stay below 10^6: sops 3.11 reads every JSON number as a float and
/// prints larger ones in exponent form when converting (`--output-type yaml`), where
/// leafseal, like sops 3.13.2, keeps the integer (docs/compatibility.md, "Deliberate
/// differences", JSON integers).
const JSON_SCALARS: &[&str] = &[
    "0",
    "1",
    "-2",
    "42",
    "999999",
    "-999999",
    "1.5",
    "-0.25",
    "1e10",
    "2.5E-3",
    "1.0",
    "-0",
    "-0.0",
    "6.02e+23",
    "1e308",
    "true",
    "false",
    "null",
    "\"x\"",
    "\"\"",
    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
    "\"\\u0001\\u001f\"",
    "\"\\u00e9\\ud83d\\ude00\"",
    "\"raw ünï 😀\"",
    "\"<&>\"",
    "\"\u{2028}\"",
    "\"e\u{301}\"",
    "\"123\"",
    "\"true\"",
    "\"null\"",
    "{}",
    "[]",
    "[[]]",
    "{\"e\": {}}",
    "\"  spaced  \"",
    "\"a: b # c\"",
];

/// A JSON string literal for a key (used for paths).
pub fn quoted(key: &str) -> String {
    let mut s = String::from("\"");
    for c in key.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            _ => s.push(c),
        }
    }
    s.push('"');
    s
}

/// The sops path `parent["key"]` (or `None` for keys sops paths cannot name).
fn child_path(parent: &Option<String>, key: &str) -> Option<String> {
    if key.contains(['"', '[', ']', '\\']) {
        return None;
    }
    parent.as_ref().map(|p| format!("{p}[{}]", quoted(key)))
}

fn fresh_key(rng: &mut Rng, used: &mut Vec<String>) -> String {
    loop {
        let (pre, suf) = KEY_AFFIXES[rng.below(KEY_AFFIXES.len())];
        let stem = rng.pick(KEY_STEMS);
        let key = format!("{pre}{stem}{suf}");
        if !used.contains(&key) {
            used.push(key.clone());
            return key;
        }
        if used.len() > 40 {
            let key = format!("k{}", used.len());
            used.push(key.clone());
            return key;
        }
    }
}

/// Whether a sops path holds a list index (`[0]`; keys are quoted).
fn has_index(path: &str) -> bool {
    path.as_bytes()
        .windows(2)
        .any(|w| w[0] == b'[' && w[1].is_ascii_digit())
}

/// A YAML key as written: plain when it can be, double-quoted otherwise.
fn yaml_key(key: &str) -> String {
    let plain_ok = key
        .chars()
        .all(|c| c.is_alphanumeric() || "_-./$@%~\u{301}".contains(c))
        && !key.starts_with(['-', '%', '@', '~'])
        && !key.chars().all(|c| c.is_ascii_digit());
    if plain_ok {
        key.to_owned()
    } else {
        quoted(key)
    }
}

struct YamlGen<'r> {
    rng: &'r mut Rng,
    anchors: Vec<String>,
    paths: Vec<String>,
    /// Lists the value being generated is inside (a map in a list item included).
    lists_open: usize,
}

impl YamlGen<'_> {
    fn comment(&mut self, out: &mut String, indent: usize) {
        if self.rng.chance(1, 6) {
            let c = self.rng.pick(COMMENTS);
            out.push_str(&format!("{}{c}\n", " ".repeat(indent)));
        }
    }

    /// A value after `key:` (or `- `): returns the text to put after the indicator,
    /// starting with a space or a newline.
    fn value(
        &mut self,
        indent: usize,
        depth: usize,
        path: Option<String>,
        in_list: bool,
    ) -> String {
        let roll = self.rng.below(20);
        if depth < 4 && roll < 3 {
            let mut s = String::from("\n");
            s.push_str(&self.map(indent + 2, depth + 1, path));
            return self.maybe_anchor(s);
        }
        if depth < 4 && roll < 6 {
            let mut s = String::from("\n");
            // A list under a key may sit at the key's column; one in a list may not.
            let at = if !in_list && self.rng.chance(1, 2) {
                indent
            } else {
                indent + 2
            };
            s.push_str(&self.list(at, depth + 1, path));
            return s;
        }
        if roll < 8 {
            let pool = if in_list || self.lists_open > 0 {
                &YAML_BLOCKS[..6]
            } else {
                YAML_BLOCKS
            };
            let header = self.rng.pick(pool);
            let mut s = format!(" {header}\n");
            let body = " ".repeat(indent + 2);
            for _ in 0..1 + self.rng.below(3) {
                let line = self.rng.pick(BLOCK_LINES);
                s.push_str(&format!("{body}{line}\n"));
            }
            if header.ends_with('+') && self.rng.chance(1, 2) {
                s.push('\n');
            }
            return s;
        }
        if roll < 9 && !self.anchors.is_empty() {
            let a = self.anchors[self.rng.below(self.anchors.len())].clone();
            return format!(" *{a}\n");
        }
        if roll < 10 {
            return "\n".into();
        }
        let scalar = self.rng.pick(YAML_SCALARS);
        let mut s = format!(" {scalar}");
        if self.rng.chance(1, 12) && !scalar.starts_with(['[', '{', '!']) {
            let name = format!("an{}", self.anchors.len());
            s = format!(" &{name}{s}");
            self.anchors.push(name);
        }
        // Not after `{}`: sops writes that comment inside the braces and never reads it
        // back (docs/compatibility.md, "Round 23", an empty flow map's line comment).
        if self.rng.chance(1, 10) && scalar != "{}" {
            s.push_str(" # note");
        }
        s.push('\n');
        s
    }

    fn maybe_anchor(&mut self, block: String) -> String {
        if self.rng.chance(1, 10) {
            let name = format!("an{}", self.anchors.len());
            self.anchors.push(name.clone());
            return format!(" &{name}{block}");
        }
        block
    }

    fn map(&mut self, indent: usize, depth: usize, path: Option<String>) -> String {
        let mut out = String::new();
        let mut used = Vec::new();
        for _ in 0..1 + self.rng.below(4) {
            self.comment(&mut out, indent);
            let key = fresh_key(self.rng, &mut used);
            let child = child_path(&path, &key);
            if let Some(p) = &child {
                self.paths.push(p.clone());
            }
            let value = self.value(indent, depth, child, false);
            out.push_str(&format!("{}{}:{value}", " ".repeat(indent), yaml_key(&key)));
        }
        out
    }

    fn list(&mut self, indent: usize, depth: usize, path: Option<String>) -> String {
        self.lists_open += 1;
        let out = self.list_items(indent, depth, path);
        self.lists_open -= 1;
        out
    }

    fn list_items(&mut self, indent: usize, depth: usize, path: Option<String>) -> String {
        let mut out = String::new();
        for i in 0..1 + self.rng.below(3) {
            self.comment(&mut out, indent);
            let item = path.as_ref().map(|p| format!("{p}[{i}]"));
            if let Some(p) = &item {
                self.paths.push(p.clone());
            }
            let pad = " ".repeat(indent);
            if depth < 4 && self.rng.chance(1, 4) {
                // A map item: its first entry on the dash line.
                let inner = self.map(indent + 2, depth + 1, item);
                out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                continue;
            }
            let v = self.value(indent, depth + 1, item, true);
            out.push_str(&format!("{pad}-{v}"));
        }
        out
    }
}

pub fn yaml(rng: &mut Rng) -> Doc {
    let mut g = YamlGen {
        rng,
        anchors: Vec::new(),
        paths: Vec::new(),
        lists_open: 0,
    };
    let mut text = String::new();
    if g.rng.chance(1, 3) {
        text.push_str("# top comment\n");
    }
    text.push_str(&g.map(0, 0, Some(String::new())));
    if g.rng.chance(1, 4) {
        text.push_str("# final comment\n");
    }
    // sops counts a comment in a list as an item; leafseal's indices skip comments
    // (docs/compatibility.md, "`--extract` list indices skip comments").
    let has_comment = text.contains('#');
    let paths = g
        .paths
        .into_iter()
        .filter(|p| !has_comment || !has_index(p))
        .collect();
    Doc { text, paths }
}

struct JsonGen<'r> {
    rng: &'r mut Rng,
    paths: Vec<String>,
    pretty: bool,
}

impl JsonGen<'_> {
    fn sep(&self, indent: usize) -> String {
        if self.pretty {
            format!("\n{}", " ".repeat(indent))
        } else {
            String::new()
        }
    }

    fn value(&mut self, indent: usize, depth: usize, path: Option<String>) -> String {
        let roll = self.rng.below(10);
        if depth < 4 && roll < 2 {
            return self.object(indent, depth + 1, path);
        }
        if depth < 4 && roll < 4 {
            let mut items = Vec::new();
            for i in 0..self.rng.below(4) {
                let item = path.as_ref().map(|p| format!("{p}[{i}]"));
                if let Some(p) = &item {
                    self.paths.push(p.clone());
                }
                items.push(self.value(indent + 2, depth + 1, item));
            }
            if items.is_empty() {
                return "[]".into();
            }
            let (open, close) = (self.sep(indent + 2), self.sep(indent));
            return format!("[{open}{}{close}]", items.join(&format!(",{open}")));
        }
        self.rng.pick(JSON_SCALARS).to_owned()
    }

    fn object(&mut self, indent: usize, depth: usize, path: Option<String>) -> String {
        let mut used = Vec::new();
        let mut entries = Vec::new();
        for _ in 0..self.rng.below(5) + usize::from(depth == 0) {
            let key = fresh_key(self.rng, &mut used);
            let child = child_path(&path, &key);
            if let Some(p) = &child {
                self.paths.push(p.clone());
            }
            let v = self.value(indent + 2, depth, child);
            entries.push(format!("{}: {v}", quoted(&key)));
        }
        if entries.is_empty() {
            return "{}".into();
        }
        let (open, close) = (self.sep(indent + 2), self.sep(indent));
        format!("{{{open}{}{close}}}", entries.join(&format!(",{open}")))
    }
}

pub fn json(rng: &mut Rng) -> Doc {
    let pretty = rng.chance(2, 3);
    let mut g = JsonGen {
        rng,
        paths: Vec::new(),
        pretty,
    };
    let mut text = g.object(0, 0, Some(String::new()));
    text.push('\n');
    Doc {
        text,
        paths: g.paths,
    }
}
