//! One part of an encrypted JSON file by the direct path (module `direct`), framed as
//! the JSON writer frames those members in the whole document: decrypted (the streamed
//! decrypt, `super::write_direct`) or sealed again under a new data key
//! ([`reseal_part`], the streamed `rotate`).

use super::Part;
use super::direct;
use super::direct::Leaves;
use crate::crypto::document::Sealer;
use crate::format::json::emit::SecureBuf;
use crate::format::json::emit::Writer;

/// One part by the direct path into `out`, framed as the JSON writer frames those members
/// in the whole document (as `super::write`): the root's `{` before its first members, the
/// big member's key and braces around its parts. Decrypted, or with `reseal` sealed again
/// (`rotate`); with the big member's key for a part of it.
pub(super) fn direct_part(
    part: &Part,
    body: &[u8],
    big_key: Option<&str>,
    leaves: &direct::Leaves<'_>,
    mut out: SecureBuf,
    reseal: Option<&mut Sealer<'_>>,
) -> Option<(direct::Direct, Option<String>, SecureBuf)> {
    match part {
        Part::Top { first, .. } => {
            out.byte(if *first { b'{' } else { b',' });
            let at = direct::Place {
                depth: 1,
                closing: false,
                aad: "",
                matched: false,
            };
            let d = direct::members(body, &at, leaves, &mut out, reseal)?;
            Some((d, None, out))
        }
        Part::Sub {
            first,
            last,
            after_members,
            ..
        } => {
            let k = big_key?;
            if *first {
                let mut w = Writer::new(out, leaves.unit, 0);
                w.out.byte(if *after_members { b',' } else { b'{' });
                w.newline_at(1);
                w.key(k);
                w.out.byte(b'{');
                out = w.out;
            } else {
                out.byte(b',');
            }
            let aad = format!("{k}:");
            let at = direct::Place {
                depth: 2,
                closing: *last,
                aad: &aad,
                matched: leaves.sel.component_matches(k),
            };
            let d = direct::members(body, &at, leaves, &mut out, reseal)?;
            if *last {
                out.byte(b'}');
            }
            Some((d, Some(k.to_string()), out))
        }
    }
}

/// One part of an encrypted JSON file (its `body`) rotated by the direct path (module
/// `direct`): its text with every `ENC[…]` value decrypted with `leaves.cipher` and
/// sealed again by `sealer`, framed as `super::write` frames a part; `None` when the part is
/// to be read as a tree.
pub(in crate::stream) fn reseal_part(
    part: &Part,
    body: &[u8],
    big_key: Option<&str>,
    leaves: &Leaves<'_>,
    sealer: &mut Sealer<'_>,
) -> Option<Resealed> {
    // About as long as the old text (a value sealed in another form may differ).
    let room = body.len() + body.len() / 16 + 256;
    let out = SecureBuf::reusing(leaves.pools.out.take(room));
    let (done, entry_key, out) = direct_part(part, body, big_key, leaves, out, Some(sealer))?;
    let mut out = out.finish();
    Some(Resealed {
        // Encrypted text: taken out of its wiping wrapper.
        out: std::mem::take(&mut *out),
        old_tokens: done.tokens,
        new_tokens: done.new_tokens?,
        mac_input: done.mac_input,
        entry_key,
        keys: done.keys,
    })
}

/// A part rotated by [`reseal_part`].
pub(in crate::stream) struct Resealed {
    /// The new encrypted text.
    pub out: Vec<u8>,
    /// The integrity tokens of the old text and of the new.
    pub old_tokens: Vec<u8>,
    pub new_tokens: Vec<u8>,
    /// The MAC input of the part's leaves, in walk order.
    pub mac_input: Vec<zeroize::Zeroizing<Vec<u8>>>,
    /// The big member's key, for a part of it.
    pub entry_key: Option<String>,
    /// The keys of the part's own members.
    pub keys: Vec<String>,
}
