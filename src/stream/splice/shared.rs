//! What splicing `set`/`unset` (the parent module) and `edit` (`super::super::edit`)
//! share: the checks that a part's text is the emitter's, the `sops` block read and
//! written alone, a part's record tokens, and the sealing of the new metadata.

use crate::crypto::DataKey;
use crate::crypto::integrity;
use crate::crypto::mac;
use crate::format::EmitOptions;
use crate::format::Store;
use crate::format::yaml::YamlStore;
use crate::metadata::Metadata;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Timestamp;
use crate::tree::Value;

use crate::stream::split::Part;

/// Whether the parts cover `0..end` without gaps.
pub(in crate::stream) fn covers(parts: &[Part], end: usize) -> bool {
    let mut at = 0;
    for p in parts {
        let r = match p {
            Part::Top(r) => r,
            Part::Sub { body, .. } => body,
        };
        if r.start != at {
            return false;
        }
        at = r.end;
    }
    at == end
}

/// The metadata of the file and its map as read.
pub(in crate::stream) fn read_meta(text: &[u8]) -> Option<(Metadata, Map)> {
    let mut branches = crate::format::yaml::load_fast_encrypted(text)?;
    let [root] = branches.as_mut_slice() else {
        return None;
    };
    let Some(Value::Map(m)) = root.remove("sops") else {
        return None;
    };
    crate::stream::block_metadata(crate::format::Format::Yaml, m)
}

/// The `sops` block alone, as the YAML store writes it after a document's entries.
pub(in crate::stream) fn emit_meta(map: &Map, emit: &EmitOptions) -> Option<Vec<u8>> {
    let doc = Document {
        branches: vec![Map::new()],
    };
    YamlStore
        .emit(&doc, Some(map), emit)
        .ok()
        .map(|o| o.to_vec())
}

pub(in crate::stream) fn emits_as(map: &Map, emit: &EmitOptions, text: &[u8]) -> bool {
    emit_meta(map, emit).is_some_and(|t| t == text)
}

/// A part's record tokens, with the entry it opens (its key) and whether it closes it.
pub(in crate::stream) type PartTokens = (Option<String>, Vec<u8>, bool);

/// Seals the metadata of a file whose new MAC (hex, from `mac_hex`) and record tokens
/// are known: a new `lastmodified`, the MAC sealed with it, the record, no signature (as
/// [`ops::reseal`]); returns the `sops` block's text and whether a signature was dropped.
///
/// The record (a v2 one, whose binding is hashed last) is `record` (a fresh one, or a
/// checkpoint of the file's record before the first changed part) fed with `tokens`
/// (the parts from there on): that runs on this thread while `mac_hex` runs on another
/// (on this one, after the record, when no thread can be started), and only the binding
/// waits for the MAC.
pub(in crate::stream) fn seal_meta<'t>(
    meta: &mut Metadata,
    key: &DataKey,
    mac_hex: impl Fn() -> Option<String> + Sync,
    record: integrity::Streamed,
    tokens: impl Iterator<Item = (Option<&'t str>, &'t [u8], bool)>,
    emit: &EmitOptions,
) -> Option<(Vec<u8>, bool)> {
    let mut rec = record;
    let mac_hex = std::thread::scope(|s| {
        let mac = std::thread::Builder::new().spawn_scoped(s, &mac_hex).ok();
        for (open, t, close) in tokens {
            if let Some(k) = open {
                rec.open_map_entry(k);
            }
            rec.feed(t);
            if close {
                rec.close_map();
            }
        }
        match mac {
            Some(h) => h.join().ok().flatten(),
            None => mac_hex(),
        }
    })?;
    meta.lastmodified = Timestamp::now_utc().to_rfc3339();
    meta.mac = mac::seal_mac(key, &mac_hex, &meta.lastmodified).ok()?;
    meta.integrity = Some(rec.record(&meta.integrity_binding()));
    let dropped = crate::signing::remove(meta);
    Some((emit_meta(&meta.to_map(), emit)?, dropped))
}

/// The parts' tokens as [`seal_meta`] takes them.
pub(in crate::stream) fn token_refs(
    tokens: &[PartTokens],
) -> impl Iterator<Item = (Option<&str>, &[u8], bool)> {
    tokens
        .iter()
        .map(|(open, t, close)| (open.as_deref(), t.as_slice(), *close))
}

/// The text a part is read from: its header line (for a later part of an entry) and its
/// body, and the range of the body.
pub(in crate::stream) fn part_text<'a>(src: &'a [u8], part: &Part) -> std::borrow::Cow<'a, [u8]> {
    match part {
        Part::Top(r)
        | Part::Sub {
            body: r,
            first: true,
            ..
        } => std::borrow::Cow::Borrowed(&src[r.clone()]),
        Part::Sub { header, body, .. } => {
            let mut t = Vec::with_capacity(header.len() + 1 + body.len());
            t.extend_from_slice(&src[header.clone()]);
            t.push(b'\n');
            t.extend_from_slice(&src[body.clone()]);
            std::borrow::Cow::Owned(t)
        }
    }
}

/// A part's emitted text without the header line of a later part of an entry.
pub(in crate::stream) fn emitted(
    doc: &Document,
    part: &Part,
    emit: &EmitOptions,
) -> Option<Vec<u8>> {
    let out = YamlStore.emit(doc, None, emit).ok()?;
    let skip = match part {
        Part::Sub { first: false, .. } => {
            if out.first().is_none_or(|&b| b == b' ' || b == b'#') {
                return None;
            }
            out.iter().position(|&b| b == b'\n')? + 1
        }
        _ => 0,
    };
    Some(out.get(skip..)?.to_vec())
}

/// The record tokens of a part's encrypted tree, and the key of the entry it is a part of.
pub(in crate::stream) fn tokens_of(
    root: &Map,
    part: &Part,
    mac_only_encrypted: bool,
) -> Option<(Vec<u8>, Option<String>)> {
    match part {
        Part::Top(_) => Some((integrity::entry_tokens(root, mac_only_encrypted), None)),
        Part::Sub { .. } => {
            let (k, inner) = sub_entry(root)?;
            Some((
                integrity::entry_tokens(inner, mac_only_encrypted),
                Some(k.to_owned()),
            ))
        }
    }
}

/// The one entry of a part of an entry, and its map.
pub(in crate::stream) fn sub_entry(root: &Map) -> Option<(&str, &Map)> {
    let mut entries = root.entries();
    match (entries.next(), entries.next()) {
        (Some((k, Value::Map(inner))), None) => Some((k, inner)),
        _ => None,
    }
}

/// Whether some key of the map (at any depth) holds a `:`.
pub(in crate::stream) fn colon_key(root: &Map) -> bool {
    let mut stack: Vec<&Value> = Vec::new();
    let mut maps: Vec<&Map> = vec![root];
    loop {
        if let Some(m) = maps.pop() {
            for (k, v) in m.entries() {
                if k.contains(':') {
                    return true;
                }
                stack.push(v);
            }
            continue;
        }
        let Some(v) = stack.pop() else {
            return false;
        };
        match v {
            Value::Map(m) => maps.push(m),
            Value::Seq(items) => {
                for it in items {
                    if let SeqItem::Value(v) = it {
                        stack.push(v);
                    }
                }
            }
            _ => {}
        }
    }
}
