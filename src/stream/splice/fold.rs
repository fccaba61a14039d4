//! The parts of a splice folded in document order: the old MAC and record verified, the
//! new MAC and record tokens gathered from the part that holds the path on, and the new
//! metadata sealed (see the parent module's docs).

use std::ops::Range;

use super::NewPart;
use super::PartOut;
use super::PartTokens;
use super::Splice;
use super::SpliceOutcome;
use super::part_range;
use super::seal_meta;
use super::token_refs;
use crate::crypto::DataKey;
use crate::crypto::integrity;
use crate::crypto::mac::MacHasher;
use crate::error::Error;
use crate::format::EmitOptions;
use crate::keys::KeyContext;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::OpenOptions;
use crate::stream::split::Part;

/// The parts folded in order.
pub(super) struct Fold {
    pub(super) old_mac: MacHasher,
    /// The new MAC, from the part that holds the path on (a copy of the old one's state
    /// there).
    pub(super) new_mac: Option<MacHasher>,
    pub(super) record: integrity::Streamed,
    /// The new record resumed from the old one's state before the part that holds the
    /// path, and the index in `tokens` it goes on from (`None` before that part, or for
    /// a v1 record, whose state cannot be resumed: the new record then starts anew).
    pub(super) new_record: Option<(integrity::Streamed, usize)>,
    /// Every part's record tokens for the new record (computed once the new MAC is
    /// known): whether it opens an entry (and its key), its tokens, whether it closes one.
    pub(super) tokens: Vec<PartTokens>,
    /// The range of the input the new part replaces, and its text.
    pub(super) holder: Option<(Range<usize>, Vec<u8>)>,
    pub(super) holders: usize,
    pub(super) same_value: bool,
    /// Whether a part of an entry cut into parts is of the path's first key (a path not
    /// held by any part is then a new entry of that map, not a new first key).
    pub(super) first_key_seen: bool,
}

impl Fold {
    pub(super) fn take(&mut self, part: &Part, r: PartOut, first_key: Option<&str>) -> bool {
        let PartOut::Done {
            mac_input,
            tokens,
            entry_key,
            holds,
        } = r
        else {
            return false;
        };
        if entry_key.is_some() && entry_key.as_deref() == first_key {
            self.first_key_seen = true;
        }
        if holds.is_some() && self.new_mac.is_none() {
            // The new MAC's input is the old one's up to the part that holds the path:
            // hashed once, and the state copied.
            self.new_mac = Some(self.old_mac.clone());
            self.new_record = self.record.checkpoint().map(|r| (r, self.tokens.len()));
        }
        for m in &mac_input {
            self.old_mac.update(m);
        }
        let opens = matches!(part, Part::Sub { first: true, .. });
        let closes = matches!(part, Part::Sub { last: true, .. });
        let key = entry_key.filter(|_| opens);
        if let Some(k) = &key {
            self.record.open_map_entry(k);
        }
        self.record.feed(&tokens);
        if closes {
            self.record.close_map();
        }
        let new_tokens = match holds {
            None => {
                if let Some(new_mac) = self.new_mac.as_mut() {
                    for m in &mac_input {
                        new_mac.update(m);
                    }
                }
                tokens
            }
            Some(held) => {
                self.holders += 1;
                match held {
                    None => {
                        self.same_value = true;
                        tokens
                    }
                    Some(new) => {
                        if let Some(new_mac) = self.new_mac.as_mut() {
                            for m in &new.mac_input {
                                new_mac.update(m);
                            }
                        }
                        self.holder = Some((part_range(part).clone(), new.text));
                        new.tokens
                    }
                }
            }
        };
        self.tokens.push((key, new_tokens, closes));
        true
    }
}

/// Verifies the old MAC and record, then seals the new metadata (see the module docs).
#[allow(clippy::too_many_arguments)]
pub(super) fn finish(
    fold: Fold,
    added: Option<NewPart>,
    mut meta: Metadata,
    key: DataKey,
    unwrapped_by: Vec<String>,
    opts: &OpenOptions,
    ctx: &KeyContext,
    emit: &EmitOptions,
    meta_range: Range<usize>,
) -> Result<SpliceOutcome, Error> {
    let Fold {
        old_mac,
        mut new_mac,
        mut record,
        mut new_record,
        mut tokens,
        mut holder,
        holders,
        same_value,
        first_key_seen: _,
    } = fold;
    // Every failure is reported by the whole-tree path, with its message and exit code.
    let back = |key: DataKey, by: Vec<String>| Ok(SpliceOutcome::Declined(Some((key, by))));
    if holders != usize::from(added.is_none()) {
        return back(key, unwrapped_by);
    }
    let old_mac_copy = added.as_ref().map(|_| old_mac.clone());
    if added.is_some() {
        // A new first key's entry goes after every part: the record goes on from the
        // old one's state after them.
        new_record = record.checkpoint().map(|r| (r, tokens.len()));
    }
    if ops::verify_mac(&meta, &key, &old_mac.finish()).is_err() {
        return back(key, unwrapped_by);
    }
    let mut warnings = Vec::new();
    let status = record.verify(meta.integrity.as_deref(), &meta.integrity_binding());
    let strict = opts.strict_integrity || ops::env_flag(ctx.var(ops::STRICT_INTEGRITY_ENV));
    if ops::judge_integrity(status, strict, &mut warnings).is_err() {
        return back(key, unwrapped_by);
    }
    if same_value {
        return Ok(SpliceOutcome::Unchanged {
            warnings,
            unwrapped_by,
        });
    }
    if let (Some(mut mac), Some(new)) = (old_mac_copy, added) {
        // A new first key's entry, after every part.
        let at = meta_range.start;
        for m in &new.mac_input {
            mac.update(m);
        }
        new_mac = Some(mac);
        holder = Some((at..at, new.text));
        tokens.push((None, new.tokens, false));
    }
    let (Some(holder), Some(new_mac)) = (holder, new_mac) else {
        return back(key, unwrapped_by);
    };
    let (record, from) =
        new_record.unwrap_or_else(|| (integrity::Streamed::new(&key, meta.mac_only_encrypted), 0));
    let Some((meta_text, signature_dropped)) = seal_meta(
        &mut meta,
        &key,
        || Some(new_mac.clone().finish()),
        record,
        token_refs(tokens.get(from..).unwrap_or_default()),
        emit,
    ) else {
        return back(key, unwrapped_by);
    };
    Ok(SpliceOutcome::Written(Splice {
        edits: vec![holder, (meta_range, meta_text)],
        warnings,
        unwrapped_by,
        signature_dropped,
    }))
}
