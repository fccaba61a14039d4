//! The INI writer: go-ini's `WriteTo` with its default (pretty) settings, as sops uses it.
//!
//! * The first section is written without a header when its name is `DEFAULT` (any case),
//!   and not at all when it has no keys (its comment lines are still written).
//! * Every other section gets a `[name]` header; one empty line follows every section but
//!   the last.
//! * Keys are padded to the longest key of their section (counting the quotes added to
//!   keys that need them), then ` = `, then the value.
//! * Values containing a newline or a backtick are written `"""…"""`; else values
//!   containing `#` or `;` in backticks; else values with leading or trailing whitespace
//!   in double quotes. Keys containing `"`, `=` or `:` are written in backticks, keys
//!   containing a backtick in `"""`.
//! * Comments go on the lines before their section or key, each line prefixed with `; `
//!   unless it already starts with `#` or `;`.

use zeroize::Zeroizing;

/// A key to write.
pub(super) struct OutKey {
    /// The key name.
    pub name: String,
    /// The value text (unquoted).
    pub value: Zeroizing<String>,
    /// The comment (possibly several lines), empty for none.
    pub comment: Zeroizing<String>,
}

/// A section to write.
pub(super) struct OutSection {
    /// The section name.
    pub name: String,
    /// The section comment, empty for none.
    pub comment: Zeroizing<String>,
    /// The keys, already de-duplicated.
    pub keys: Vec<OutKey>,
}

fn key_needs_backticks(name: &str) -> bool {
    name.contains(['"', '=', ':'])
}

/// The key as written, with the quotes it needs.
fn quoted_key(name: &str) -> String {
    if key_needs_backticks(name) {
        format!("`{name}`")
    } else if name.contains('`') {
        format!("\"\"\"{name}\"\"\"")
    } else {
        name.to_owned()
    }
}

fn write_value(out: &mut Vec<u8>, val: &str) {
    let (open, close) = if val.contains(['\n', '`']) {
        ("\"\"\"", "\"\"\"")
    } else if val.contains(['#', ';']) {
        ("`", "`")
    } else if val.trim().len() != val.len() {
        ("\"", "\"")
    } else {
        ("", "")
    };
    out.extend_from_slice(open.as_bytes());
    out.extend_from_slice(val.as_bytes());
    out.extend_from_slice(close.as_bytes());
}

/// Writes comment lines; `trim_plain` trims lines that get a `; ` prefix (go-ini does so
/// for key comments but not for section comments).
fn write_comment(out: &mut Vec<u8>, comment: &str, trim_plain: bool) {
    for line in comment.split('\n') {
        match line.as_bytes().first() {
            Some(&c) if c == b'#' || c == b';' => {
                out.push(c);
                out.push(b' ');
                out.extend_from_slice(line.get(1..).unwrap_or("").trim().as_bytes());
            }
            _ => {
                out.extend_from_slice(b"; ");
                let text = if trim_plain { line.trim() } else { line };
                out.extend_from_slice(text.as_bytes());
            }
        }
        out.push(b'\n');
    }
}

/// Writes the sections.
pub(super) fn write(sections: &[OutSection], out: &mut Vec<u8>) {
    let last = sections.len().saturating_sub(1);
    for (i, sec) in sections.iter().enumerate() {
        if !sec.comment.is_empty() {
            write_comment(out, &sec.comment, false);
        }
        if i > 0 || sec.name.to_uppercase() != "DEFAULT" {
            out.push(b'[');
            out.extend_from_slice(sec.name.as_bytes());
            out.extend_from_slice(b"]\n");
        } else if sec.keys.is_empty() {
            continue;
        }
        let align = sec
            .keys
            .iter()
            .map(|k| {
                let extra = if key_needs_backticks(&k.name) {
                    2
                } else if k.name.contains('`') {
                    6
                } else {
                    0
                };
                k.name.len() + extra
            })
            .max()
            .unwrap_or(0);
        for key in &sec.keys {
            if !key.comment.is_empty() {
                write_comment(out, &key.comment, true);
            }
            let name = quoted_key(&key.name);
            out.extend_from_slice(name.as_bytes());
            out.resize(out.len() + align.saturating_sub(name.len()), b' ');
            out.extend_from_slice(b" = ");
            write_value(out, &key.value);
            out.push(b'\n');
        }
        if i != last {
            out.push(b'\n');
        }
    }
}
