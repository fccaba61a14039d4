//! Whether re-encrypting a decrypted value with its own nonce gives its text back, byte
//! for byte: what lets a writer keep a value's text instead of encrypting it again
//! (`crate::stream`'s splicing `set`/`unset`). Re-encryption writes the plaintext in the
//! one form of its type ([`value::with_plaintext`]), under that type's name, rendered
//! by [`EncValue::render`](crate::crypto::value::EncValue::render); AES-GCM with the
//! same key, nonce, path and plaintext gives the same ciphertext and tag. So a value's
//! text comes back exactly when its plaintext is in that form, its `type:` is that
//! type's name, its plaintext is not empty (an empty one is written in clear), and its
//! text has nothing besides the four fields in canonical base64 (the decoder accepts
//! only canonical base64, so the text's length settles the rest).

use super::*;

/// `ENC[AES256_GCM,data:` … `,iv:` (44) `,tag:` (24) `,type:` … `]`: the length of a
/// rendered value without its data and its type name.
const FIXED: usize = "ENC[AES256_GCM,data:".len()
    + ",iv:".len()
    + 44
    + ",tag:".len()
    + 24
    + ",type:".len()
    + "]".len();

/// What is needed of an encrypted value's text once it was parsed (its text may then be
/// overwritten with the plaintext).
pub(super) struct Shape {
    /// Whether the text is exactly the rendering of its fields.
    rendered: bool,
    /// The declared type.
    typ: ValueType,
}

impl Shape {
    /// The shape of a value's text of `len` bytes, parsed as `f`.
    pub(super) fn of(len: usize, f: &EncFields<'_>) -> Shape {
        Shape {
            rendered: len == FIXED + f.data.len() + f.typ.name().len(),
            typ: f.typ,
        }
    }

    /// Whether re-encrypting `v` (decrypted from `raw`) with the value's nonce gives the
    /// text back.
    pub(super) fn holds(&self, raw: &[u8], v: &Value) -> bool {
        self.rendered
            && !raw.is_empty()
            && value::with_plaintext(v, |canon, typ| canon == raw && typ == self.typ)
                .unwrap_or(false)
    }
}

/// Whether re-encrypting a comment (decrypted to `plain` from `enc`, whose text was
/// `len` bytes) gives its text back.
pub(super) fn comment(len: usize, enc: &EncValue, plain: &str) -> bool {
    enc.typ == ValueType::Comment
        && !plain.is_empty()
        && len == FIXED + enc.data.len().div_ceil(3) * 4 + ValueType::Comment.name().len()
}

/// Whether re-encrypting the value whose `ENC[…]` text of `len` bytes was parsed as `f`
/// and decrypted to `raw` gives that text back, for a reader without a tree (the
/// splice's direct scan): the same answer as [`Shape::holds`] for the value the tree path
/// makes of `raw`.
pub(crate) fn value_holds(len: usize, f: &EncFields<'_>, raw: &[u8]) -> bool {
    let shape = Shape::of(len, f);
    if !shape.rendered || raw.is_empty() {
        return false;
    }
    match f.typ {
        // Decrypted as a string (or bytes), written back as `str`.
        ValueType::Str => true,
        ValueType::Bytes | ValueType::Comment => false,
        typ => value::value_from_plaintext(raw, typ).is_ok_and(|v| shape.holds(raw, &v)),
    }
}

/// [`comment`] for a comment parsed as `f` (its text `len` bytes) and decrypted to
/// `plain`.
pub(crate) fn comment_holds(len: usize, f: &EncFields<'_>, plain: &str) -> bool {
    f.typ == ValueType::Comment && !plain.is_empty() && Shape::of(len, f).rendered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_slice(&[7u8; 32]).expect("key")
    }

    #[test]
    fn rendered_values_hold_and_other_forms_do_not() {
        let cipher = ValueCipher::new(&key());
        let iv = [3u8; 32];
        let text = value::seal_with(&cipher, b"5", b"a:", ValueType::Int, Some(iv))
            .expect("seal")
            .render();
        let f = EncFields::parse(&text).expect("parse");
        let shape = Shape::of(text.len(), &f);
        assert!(shape.holds(b"5", &Value::Int(5)));
        assert!(!shape.holds(b"05", &Value::Int(5)), "another form of 5");
        let longer = format!("{text} ");
        assert!(
            EncFields::parse(&longer).is_err(),
            "text after the bracket is refused"
        );
        // A further line is not: go-ini joins a clear note under an encrypted INI comment
        // to it, and sops drops the note.
        assert!(EncFields::parse(&format!("{text}\n; a clear note")).is_ok());
        let as_str = value::seal_with(&cipher, b"x", b"a:", ValueType::Bytes, Some(iv))
            .expect("seal")
            .render();
        let f = EncFields::parse(&as_str).expect("parse");
        assert!(
            !Shape::of(as_str.len(), &f).holds(b"x", &Value::Str(Text::from("x"))),
            "a bytes value is written back as str"
        );
        let t = value::seal_with(&cipher, b"true", b"a:", ValueType::Bool, Some(iv))
            .expect("seal")
            .render();
        let f = EncFields::parse(&t).expect("parse");
        assert!(!Shape::of(t.len(), &f).holds(b"true", &Value::Bool(true)));
    }

    #[test]
    fn the_direct_check_agrees_with_the_tree_check() {
        let cipher = ValueCipher::new(&key());
        let iv = [5u8; 32];
        let cases: &[(&[u8], ValueType, &[u8])] = &[
            (b"5", ValueType::Int, b"5"),
            (b"05", ValueType::Int, b"05"),
            (b"1.5", ValueType::Float, b"1.5"),
            (b"1.50", ValueType::Float, b"1.50"),
            (b"true", ValueType::Bool, b"true"),
            (b"True", ValueType::Bool, b"True"),
            (b"text", ValueType::Str, b"text"),
            (b"x", ValueType::Bytes, b"x"),
            (b"note", ValueType::Comment, b"note"),
        ];
        for &(plain, typ, raw) in cases {
            let text = value::seal_with(&cipher, plain, b"a:", typ, Some(iv))
                .expect("seal")
                .render();
            for t in [
                text.clone(),
                format!("{text} "),
                text.replace(",type:", ",x:y,type:"),
            ] {
                let Ok(f) = EncFields::parse(&t) else {
                    continue;
                };
                let decoded = match typ {
                    ValueType::Comment | ValueType::Bytes | ValueType::Str => {
                        Value::Str(Text::from(std::str::from_utf8(raw).expect("utf8")))
                    }
                    _ => value::value_from_plaintext(raw, typ).expect("value"),
                };
                let tree = Shape::of(t.len(), &f).holds(raw, &decoded);
                assert_eq!(value_holds(t.len(), &f, raw), tree, "{t}");
            }
        }
        let text = value::seal_with(&cipher, b"5", b"a:", ValueType::Int, Some(iv))
            .expect("seal")
            .render();
        let f = EncFields::parse(&text).expect("parse");
        assert!(value_holds(text.len(), &f, b"5"));
        assert!(!value_holds(text.len(), &f, b"05"));
        assert!(!value_holds(text.len(), &f, b""));
    }

    #[test]
    fn comments_hold_when_rendered_as_comments() {
        let cipher = ValueCipher::new(&key());
        let enc = value::seal_with(&cipher, b"note", b"a:", ValueType::Comment, Some([1; 32]))
            .expect("seal");
        let text = enc.render();
        assert!(comment(text.len(), &enc, "note"));
        assert!(!comment(text.len() + 1, &enc, "note"));
        let str_typed =
            value::seal_with(&cipher, b"note", b"a:", ValueType::Str, Some([1; 32])).expect("seal");
        assert!(!comment(str_typed.render().len(), &str_typed, "note"));
        let f = EncFields::parse(&text).expect("parse");
        assert!(comment_holds(text.len(), &f, "note"));
        assert!(!comment_holds(text.len() + 1, &f, "note"));
        assert!(!comment_holds(text.len(), &f, ""));
        let s = str_typed.render();
        let f = EncFields::parse(&s).expect("parse");
        assert!(!comment_holds(s.len(), &f, "note"));
    }
}
