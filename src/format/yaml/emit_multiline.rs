//! What go-yaml v3 writes across lines that are not literal blocks: explicit `? ` keys
//! (a key longer than 128 bytes, or holding a line break) and single-quoted strings
//! holding U+2028/U+2029, which YAML 1.1 counts as line breaks (the next character is
//! written at the scalar's indentation).

use super::Emitter;
use super::Scalar;
use super::string_scalar;

/// go-yaml's limit for a simple (implicit) key, in bytes of the key's text.
const SIMPLE_KEY_BYTES: usize = 128;

/// Whether go-yaml writes `k` as a simple key (`k: v`): at most 128 bytes and no line
/// break (`\n`, `\r`, U+0085, U+2028, U+2029). Other keys are written as `? k` with the
/// value on the next line after `: `.
pub(crate) fn is_simple_key(k: &str) -> bool {
    k.len() <= SIMPLE_KEY_BYTES && !k.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
}

/// Whether `s` holds a line separator that go-yaml follows with indentation when it
/// writes `s` in single quotes.
pub(super) fn has_separator(s: &str) -> bool {
    s.contains(['\u{2028}', '\u{2029}'])
}

impl Emitter {
    /// An explicit key for the entry at column `ind`: `? key`, then `:` at `ind` on the
    /// next line, ready for the value (go-yaml's block mapping with a non-simple key).
    pub(super) fn explicit_key(&mut self, k: &str, ind: usize) {
        self.write_indicator("?", true, false, true);
        let child = self.next_indent(ind);
        match string_scalar(k, false) {
            Scalar::Inline(s) => self.write_text(&s),
            Scalar::Literal(tag, s) => self.literal(tag, &s, ind, child, None),
            Scalar::Separated(s) => self.separated(&s, child),
        }
        self.write_indent(ind);
        self.write_indicator(":", true, false, true);
    }

    /// `s` in single quotes with each run of U+2028/U+2029 followed by the indentation
    /// to `ind` before the next character, as go-yaml writes it.
    pub(super) fn separated(&mut self, s: &str, ind: usize) {
        self.write_indicator("'", true, false, false);
        let mut breaks = false;
        let mut buf = [0u8; 4];
        for c in s.chars() {
            if matches!(c, '\u{2028}' | '\u{2029}') {
                self.out.push(c.encode_utf8(&mut buf).as_bytes());
                self.column = 0;
                self.indention = true;
                breaks = true;
                continue;
            }
            if breaks {
                self.write_indent(ind);
                breaks = false;
            }
            if c == '\'' {
                self.write_raw("'");
            }
            self.write_raw(c.encode_utf8(&mut buf));
            self.indention = false;
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }
}
