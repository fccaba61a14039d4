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

use crate::secbuf::SecureBuf;
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

fn write_value(out: &mut SecureBuf, val: &str) {
    let (open, close) = if val.contains(['\n', '`']) {
        ("\"\"\"", "\"\"\"")
    } else if val.contains(['#', ';']) {
        ("`", "`")
    } else if val.trim().len() != val.len() {
        ("\"", "\"")
    } else {
        ("", "")
    };
    out.push(open.as_bytes());
    out.push(val.as_bytes());
    out.push(close.as_bytes());
}

/// Writes comment lines; `trim_plain` trims lines that get a `; ` prefix (go-ini does so
/// for key comments but not for section comments).
fn write_comment(out: &mut SecureBuf, comment: &str, trim_plain: bool) {
    for line in comment.split('\n') {
        match line.as_bytes().first() {
            Some(&c) if c == b'#' || c == b';' => {
                out.byte(c);
                out.byte(b' ');
                out.push(line.get(1..).unwrap_or("").trim().as_bytes());
            }
            _ => {
                out.push(b"; ");
                let text = if trim_plain { line.trim() } else { line };
                out.push(text.as_bytes());
            }
        }
        out.byte(b'\n');
    }
}

/// Writes the sections, then the trailing comment (if any) after the last key.
pub(super) fn write(sections: &[OutSection], trailing: &str, out: &mut SecureBuf) {
    let last = sections.len().saturating_sub(1);
    for (i, sec) in sections.iter().enumerate() {
        if !sec.comment.is_empty() {
            write_comment(out, &sec.comment, false);
        }
        if i > 0 || sec.name.to_uppercase() != super::DEFAULT_SECTION {
            out.byte(b'[');
            out.push(sec.name.as_bytes());
            out.push(b"]\n");
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
            out.push(name.as_bytes());
            out.repeat(b' ', align.saturating_sub(name.len()));
            out.push(b" = ");
            write_value(out, &key.value);
            out.byte(b'\n');
        }
        if i != last {
            out.byte(b'\n');
        }
    }
    if !trailing.is_empty() {
        write_comment(out, trailing, true);
    }
}
