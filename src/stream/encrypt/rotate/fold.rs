//! The calling thread's side of a streamed rotation: the parts folded in document order
//! into the old MAC input, both integrity records and the output.

use std::collections::HashSet;

use super::RotOut;
use super::output_error;
use crate::crypto::document::DocumentError;
use crate::crypto::integrity;
use crate::crypto::mac::MacHasher;
use crate::error::Error;
use crate::error::exit;
use crate::metadata::names::names_the_metadata;
use crate::stream::Shape;
use crate::stream::encrypt::layout::Layout;

/// The calling thread's state while the parts are folded.
pub(super) struct Fold<'p> {
    pub(super) pools: &'p crate::stream::Pools,
    pub(super) mac: MacHasher,
    pub(super) old_record: integrity::Streamed,
    pub(super) new_record: integrity::Streamed,
    pub(super) clear_comments: usize,
    pub(super) first_error: Option<DocumentError>,
    pub(super) failed: Option<Error>,
    pub(super) declined: bool,
    pub(super) root_keys: HashSet<String>,
    pub(super) sub_keys: HashSet<String>,
}

impl Fold<'_> {
    /// Folds in the next part; `false` stops the pipeline.
    pub(super) fn take<L: Layout>(
        &mut self,
        l: &L,
        part: &L::Part,
        r: RotOut,
        out: &mut dyn std::io::Write,
    ) -> bool {
        match r {
            RotOut::Decline => {
                self.declined = true;
                false
            }
            RotOut::Failed(e) => {
                // Later parts are still read: one the reader declines sends the whole
                // file to the tree path, which then reports what it finds first.
                self.first_error.get_or_insert(e);
                true
            }
            RotOut::EncryptFailed(e) => {
                self.failed = Some(Error::new(
                    exit::ERROR_ENCRYPTING_TREE,
                    format!("error encrypting the file: {e}"),
                ));
                false
            }
            RotOut::Done { ref keys, .. } if !self.new_keys(l.is_sub(part), keys) => {
                self.declined = true;
                false
            }
            RotOut::Done { .. } if self.first_error.is_some() => true,
            RotOut::Done {
                out: text,
                skip,
                old_tokens,
                new_tokens,
                mac_input,
                clear_comments,
                entry_key,
                keys: _,
                pooled,
            } => {
                for m in &mac_input {
                    self.mac.update(m);
                }
                let opens = part.opens_entry();
                let closes = part.closes_entry();
                for (record, tokens) in [
                    (&mut self.old_record, &old_tokens),
                    (&mut self.new_record, &new_tokens),
                ] {
                    if let (true, Some(k)) = (opens, &entry_key) {
                        record.open_map_entry(k);
                    }
                    record.feed(tokens);
                    if closes {
                        record.close_map();
                    }
                }
                self.clear_comments += clear_comments;
                let written = out.write_all(text.get(skip..).unwrap_or_default());
                if pooled {
                    // Encrypted text and tokens as they are; the MAC input wiped.
                    self.pools.out.give(text, false);
                    self.pools.tokens.give(old_tokens, false);
                    self.pools.tokens.give(new_tokens, false);
                    for mut m in mac_input {
                        self.pools.mac.give(std::mem::take(&mut *m), true);
                    }
                }
                match written {
                    Ok(()) => true,
                    Err(e) => {
                        self.failed = Some(output_error(&e));
                        false
                    }
                }
            }
        }
    }

    /// Records the keys of a part's members; `false` on a duplicate (JSON), and on a
    /// root key that names the metadata (`SOPS`: the tree path judges it).
    fn new_keys(&mut self, sub: bool, keys: &[String]) -> bool {
        if !sub && keys.iter().any(|k| names_the_metadata(k)) {
            return false;
        }
        let seen = if sub {
            &mut self.sub_keys
        } else {
            &mut self.root_keys
        };
        keys.iter().all(|k| seen.insert(k.clone()))
    }
}
