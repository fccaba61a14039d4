//! One encrypted value of the scan, opened (and, when
//! the part is rewritten, sealed again as the tree path would seal it).

use super::Splice;
use super::plain::write_plain;
use crate::crypto::document::value_holds;
use crate::crypto::integrity::direct as tok;
use crate::crypto::value::EncFields;
use crate::crypto::value::ValueType;
use crate::stream::json::scalars::sealed_again;
use crate::stream::yaml_lines::ScanState;

impl<'a> Splice<'a, '_, '_> {
    /// An encrypted value `v` after `head` that the selector picks (the scanner has taken
    /// `{}` and `[]`), in its canonical form unless the part is sealed again; `at`: the
    /// column of the key, or of the dash of a list item (`true`).
    pub(super) fn inline_value(
        &mut self,
        scan: &mut ScanState<'a>,
        head: &str,
        v: &str,
        at: (usize, bool),
    ) -> Option<()> {
        let f = EncFields::parse(v).ok()?;
        // The record's token from the fields just parsed.
        if !tok::parsed(&mut scan.tokens, &f, v) {
            return None;
        }
        if f.typ == ValueType::Comment {
            // A list's comment item, or a value typed as a comment: the tree path.
            return None;
        }
        f.open_into(scan.cipher, scan.aad.as_bytes(), &mut scan.plain)
            .ok()?;
        let Some(rw) = self.rw.as_mut() else {
            if !value_holds(v.len(), &f, &scan.plain) {
                return None;
            }
            // In its canonical form the plaintext is the MAC input.
            crate::secbuf::extend_wiped(&mut scan.mac, &scan.plain);
            if let Some(pl) = self.pl.as_mut() {
                write_plain(pl, scan.n, head, &scan.plain, f.typ, at)?;
                self.pl_wrote = true;
            }
            return Some(());
        };
        // Encrypted again as the tree path does (a comment-typed value went to the tree
        // path above).
        let (mac, aad) = (&mut scan.mac, scan.aad.as_str());
        let seal = |canon: &[u8], ctyp| {
            crate::secbuf::extend_wiped(mac, canon);
            if canon.is_empty() {
                // Written in clear by the tree path.
                None
            } else {
                rw.sealer.seal(aad, canon, ctyp).ok()
            }
        };
        let new = sealed_again(&scan.plain, f.typ, seal)?;
        if !tok::encrypted(&mut rw.tokens, &new) {
            return None;
        }
        rw.replaced = Some((v.len(), new));
        Some(())
    }
}
