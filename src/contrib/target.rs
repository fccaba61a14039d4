//! Where a contribution lands, judged on the file's tree (encrypted at `contribute`,
//! opened at `absorb`; both have the same structure):
//!
//! * [`base`]: what the target holds now, as a digest of its text as stored (the
//!   `ENC[…]` string of an encrypted value, the whole subtree for a map or a list) or
//!   [`ABSENT`]. A contribution is bound to it, so it applies only to the state it was
//!   made for: absorbing it changes that state, which stops a replay.
//! * [`landing`]: a contribution may set a value where there is none yet (a new key,
//!   with any missing maps created), or replace a single value with a single value; a
//!   path through an existing value that is not a map or a list, or a target that is a
//!   map or a list, is refused, because applying it would destroy values the
//!   contributor never saw.
//! * [`storable`]: the format can hold the path (a dotenv key with a newline, a nested
//!   dotenv value, a path deeper than the readers' nesting limit cannot be written).
//! * [`stays_clear`]: the file's partial-encryption selector leaves (part of) the value
//!   in clear.
//!
//! The returned reasons name no secret: only the shape of the tree and the path.

use sha2::Digest;

use crate::format::Format;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;
use crate::treepath::Step;
use crate::walk;
use crate::walk::Direction;
use crate::walk::Leaf;
use crate::walk::Selector;

/// The base of a target that does not exist yet.
pub const ABSENT: &str = "absent";

/// What the target path leads to in a tree.
enum At<'a> {
    /// Nothing: some step (and the rest) is missing, or a null stands in the way.
    Absent,
    /// The value at the path.
    Found(&'a Value),
    /// Step `n` (0-based) meets a value that is neither a map nor a list.
    Through(usize),
    /// Step `n` names a key in a list or an index in a map.
    Mismatch(usize),
    /// Step `n` is an index past the end of an existing list.
    PastEnd(usize),
}

fn locate<'a>(doc: &'a Document, steps: &[Step]) -> At<'a> {
    let Some(root) = doc.branches.first() else {
        return At::Absent;
    };
    let mut cur: Option<&Value> = None;
    for (n, step) in steps.iter().enumerate() {
        let next = match (step, cur) {
            (Step::Key(k), None) => root.get(k),
            (Step::Index(_), None) => return At::Mismatch(n),
            (_, Some(Value::Null)) => return At::Absent,
            (Step::Key(k), Some(Value::Map(m))) => m.get(k),
            (Step::Index(i), Some(Value::Seq(items))) => match values(items).nth(*i) {
                Some(v) => Some(v),
                None => return At::PastEnd(n),
            },
            (_, Some(Value::Map(_) | Value::Seq(_))) => return At::Mismatch(n),
            (_, Some(_)) => return At::Through(n),
        };
        match next {
            Some(v) => cur = Some(v),
            None => return At::Absent,
        }
    }
    cur.map_or(At::Absent, At::Found)
}

fn values(items: &[SeqItem]) -> impl Iterator<Item = &Value> {
    items.iter().filter_map(|i| match i {
        SeqItem::Value(v) => Some(v),
        SeqItem::Comment(_) => None,
    })
}

/// The steps up to and including step `n`, as a path (`["db"]["password"]`).
pub fn shown(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Key(k) => format!("[{}]", serde_json::Value::from(k.as_str())),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

fn prefix(steps: &[Step], n: usize) -> String {
    shown(&steps[..=n.min(steps.len().saturating_sub(1))])
}

/// The base of the target: [`ABSENT`], or `sha256:` and the digest of the value's
/// stored text.
pub fn base(doc: &Document, steps: &[Step]) -> String {
    match locate(doc, steps) {
        At::Absent => ABSENT.to_owned(),
        At::Found(v) => {
            let mut h = sha2::Sha256::new();
            h.update(b"leafseal contribution base v1\n");
            digest(v, &mut h, 0);
            format!("sha256:{}", super::hex(&h.finalize()))
        }
        // Refused by `landing`; a base that no tree state gives.
        At::Through(_) | At::Mismatch(_) | At::PastEnd(_) => "unreachable".to_owned(),
    }
}

/// Feeds a value's stored text, with its type and lengths, into `h`. The depth is that
/// of a tree the readers built (at most `MAX_DEPTH`); the guard only makes it explicit.
fn digest(v: &Value, h: &mut sha2::Sha256, depth: usize) {
    let mut field = |tag: &[u8], body: &[u8]| {
        h.update(tag);
        h.update((body.len() as u64).to_be_bytes());
        h.update(body);
    };
    match v {
        Value::Str(s) => field(b"s", s.as_bytes()),
        Value::Bytes(b) => field(b"b", b.as_slice()),
        Value::Int(i) => field(b"i", &i.to_be_bytes()),
        Value::Float(f) => field(b"f", &f.to_bits().to_be_bytes()),
        Value::Bool(b) => field(b"t", &[u8::from(*b)]),
        Value::Time(t) => field(b"d", t.to_rfc3339_nano().as_bytes()),
        Value::Null => field(b"n", b""),
        Value::Map(m) if depth < crate::format::MAX_DEPTH => {
            let entries: Vec<(&str, &Value)> = m.entries().collect();
            field(b"m", &(entries.len() as u64).to_be_bytes());
            for (k, v) in entries {
                h.update(b"k");
                h.update((k.len() as u64).to_be_bytes());
                h.update(k.as_bytes());
                digest(v, h, depth + 1);
            }
        }
        Value::Seq(items) if depth < crate::format::MAX_DEPTH => {
            let items: Vec<&Value> = values(items).collect();
            field(b"l", &(items.len() as u64).to_be_bytes());
            for v in items {
                digest(v, h, depth + 1);
            }
        }
        Value::Map(_) | Value::Seq(_) => field(b"x", b""),
    }
}

/// What setting the value does to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// The path holds nothing yet (or null): the value is added.
    New,
    /// The path holds a single value, which the new one replaces.
    Replaces,
}

fn is_tree(v: &Value) -> bool {
    matches!(v, Value::Map(_) | Value::Seq(_))
}

/// Whether `value` may be set at `steps` in `doc`; the reason when it may not.
pub fn landing(doc: &Document, steps: &[Step], value: &Value) -> Result<Landing, String> {
    let path = shown(steps);
    match locate(doc, steps) {
        At::Absent => Ok(Landing::New),
        At::Found(Value::Null) => Ok(Landing::New),
        At::Found(v) if is_tree(v) => Err(format!(
            "{path} holds a {}; a contribution may set a single value or add a new key, \
             not replace a whole {} (its other entries would be lost)",
            v.kind_name(),
            v.kind_name()
        )),
        At::Found(_) if is_tree(value) => Err(format!(
            "{path} holds a single value; a contribution may replace it only with a single \
             value, not with a {}",
            value.kind_name()
        )),
        At::Found(_) => Ok(Landing::Replaces),
        At::Through(n) => Err(format!(
            "the path passes through {}, which holds a single value, not a map or a list; \
             setting {path} would replace that value",
            prefix(steps, n.saturating_sub(1))
        )),
        At::Mismatch(n) => Err(format!(
            "step {} of {path} does not fit the file: a [\"key\"] step needs a map and a [N] \
             step a list at that point",
            n + 1
        )),
        At::PastEnd(n) => Err(format!(
            "{} is past the end of its list; a contribution may replace a list element but \
             not add one (list positions shift as the list changes)",
            prefix(steps, n)
        )),
    }
}

/// Text put in place of every value of the contribution when only its shape matters.
const PROBE: &str = "\u{1}leafseal contribution probe\u{1}";

/// What an encrypted value looks like to a writer: a one-line ASCII string.
const SEALED: &str = "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]";

/// `value` with every scalar but null replaced by `leaf` (the shape is kept).
fn shadow(value: &Value, leaf: &str, depth: usize) -> Value {
    match value {
        Value::Map(m) if depth < crate::format::MAX_DEPTH => {
            let mut out = Map::new();
            for (k, v) in m.entries() {
                out.push(k, shadow(v, leaf, depth + 1));
            }
            Value::Map(out)
        }
        Value::Seq(items) if depth < crate::format::MAX_DEPTH => Value::Seq(
            values(items)
                .map(|v| SeqItem::Value(shadow(v, leaf, depth + 1)))
                .collect(),
        ),
        Value::Null => Value::Null,
        _ => Value::str(leaf),
    }
}

/// Whether `format` can store `value` at `steps` (and read it back the same), judged on
/// a document holding only that path; the reason when it cannot. Also refuses a path
/// and value nesting deeper than the readers accept.
pub fn storable(format: Format, steps: &[Step], value: &Value) -> Result<(), String> {
    let mut doc = Document::single(Map::new());
    crate::treepath::set(&mut doc, steps, shadow(value, SEALED, 0)).map_err(|e| e.message)?;
    crate::format::read_back(format, &doc)
        .map(|_| ())
        .map_err(|e| format!("a {} file cannot hold it: {}", format.name(), e.message))
}

/// Whether the file's selector leaves any part of `value` in clear once it is set at
/// `steps` of `doc` (the walk the encrypting path uses decides). `doc` is changed: the
/// target holds a placeholder of the value's shape afterwards, which the caller replaces
/// or throws away. `dir` is how `doc` is held (encrypted: [`Direction::Decrypting`]).
pub fn stays_clear(
    doc: &mut Document,
    sel: &Selector,
    dir: Direction,
    steps: &[Step],
    value: &Value,
) -> bool {
    if crate::treepath::set(doc, steps, shadow(value, PROBE, 0)).is_err() {
        return false;
    }
    let mut clear = false;
    let _ = walk::walk::<()>(doc, sel, dir, &mut |info, leaf| {
        if let Leaf::Value(Value::Str(s)) = leaf
            && s.as_str() == PROBE
            && !info.encrypt
        {
            clear = true;
        }
        Ok(())
    });
    clear
}

/// The selector in words (`unencrypted_suffix "_unencrypted"`), for messages.
pub fn describe(sel: &Selector) -> String {
    format!("{} {}", sel.field(), serde_json::Value::from(sel.pattern()))
}
