//! One inline value of the scan: `{}`, `[]`, or an encrypted value opened (and, when
//! the part is rewritten, sealed again as the tree path would seal it).

use super::State;
use super::picked;
use super::plain::write_plain;
use crate::crypto::document::value_holds;
use crate::crypto::integrity::direct as tok;
use crate::crypto::value;
use crate::crypto::value::EncFields;
use crate::crypto::value::ValueType;

impl State<'_, '_, '_> {
    /// An inline value `v` at the end of `line`: `{}`, `[]`, or an encrypted value in its
    /// canonical form; `at`: the column of the key, or of the dash of a list item
    /// (`true`).
    pub(super) fn scalar(
        &mut self,
        line: &str,
        v: &str,
        matched: bool,
        at: (usize, bool),
    ) -> Option<()> {
        match v {
            "{}" => {
                self.tag(b'M');
                self.tag(b'm');
                return Some(());
            }
            "[]" => {
                self.tag(b'L');
                self.tag(b'l');
                return Some(());
            }
            _ => {}
        }
        if !picked(self.sel, matched)
            || !value::is_encrypted(v)
            || !v.ends_with(']')
            || memchr::memchr(b' ', v.as_bytes()).is_some()
            || !tok::encrypted(&mut self.tokens, v)
        {
            return None;
        }
        let f = EncFields::parse(v).ok()?;
        if f.typ == ValueType::Comment {
            // A list's comment item, or a value typed as a comment: the tree path.
            return None;
        }
        f.open_into(self.cipher, self.aad.as_bytes(), &mut self.plain)
            .ok()?;
        let Some(rw) = self.rw.as_mut() else {
            if !value_holds(v.len(), &f, &self.plain) {
                return None;
            }
            // In its canonical form the plaintext is the MAC input.
            crate::secbuf::extend_wiped(&mut self.mac, &self.plain);
            if let Some(pl) = self.pl.as_mut() {
                let head = line.get(..line.len().checked_sub(v.len() + 1)?)?;
                write_plain(pl, self.n, head, &self.plain, f.typ, at)?;
                self.pl_wrote = true;
            }
            return Some(());
        };
        // Encrypted again as the tree path does: the value its plaintext reads as, in its
        // type's one form (a comment-typed value went to the tree path above).
        let val = value::value_from_plaintext(&self.plain, f.typ).ok()?;
        let (mac, aad) = (&mut self.mac, self.aad.as_str());
        let sealed = value::with_plaintext(&val, |canon, ctyp| {
            crate::secbuf::extend_wiped(mac, canon);
            if canon.is_empty() {
                // Written in clear by the tree path.
                None
            } else {
                rw.sealer.seal(aad, canon, ctyp).ok()
            }
        });
        if let crate::tree::Value::Str(mut t) = val {
            zeroize::Zeroize::zeroize(t.as_mut_string());
        }
        let new = sealed.flatten()?;
        if !tok::encrypted(&mut rw.tokens, &new) {
            return None;
        }
        rw.replaced = Some((v.len(), new));
        Some(())
    }
}
