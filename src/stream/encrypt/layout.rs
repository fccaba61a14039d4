//! The format's side of the streaming writer: how a plaintext part is read (as a
//! one-branch document with the paths it has in the whole) and how its encrypted tree is
//! written (the text it stands for in the whole encrypted file), and the metadata block
//! after the last part.

use super::super::Shape;
use super::super::json::split as json_split;
use super::super::split;
use super::direct;
use super::direct::Done;
use super::empty_doc;
use super::json_direct;
use crate::crypto::document::DocumentError;
use crate::crypto::document::Sealer;
use crate::format::EmitOptions;
use crate::format::Output;
use crate::format::Store;
use crate::format::json::emit::SecureBuf;
use crate::format::json::emit::Writer;
use crate::format::json::emit::estimate_items;
use crate::format::json::emit::indent_unit;
use crate::format::json::emit::null_empty_group_lists;
use crate::format::json::emit::with_slack;
use crate::format::json::parse_object_one_thread;
use crate::format::yaml::YamlStore;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;
use crate::walk::Selector;

/// A planned plaintext document of one format.
pub(super) trait Layout: Sync {
    /// One part of the plan.
    type Part: Shape + Sync + Send + Clone;
    /// The parts, in document order.
    fn parts(&self) -> &[Self::Part];
    /// Whether the part holds members of the big entry (its root is that entry alone).
    fn is_sub(&self, p: &Self::Part) -> bool;
    /// The key of the entry cut into sub-parts, when the format must check that no root
    /// member has it (JSON: duplicate keys are declined).
    fn big_key(&self) -> Option<&str>;
    /// The part's plaintext as a one-branch document, and the keys of its members (for
    /// the duplicate check across parts; empty when the planner checked them), or `None`
    /// to decline the file.
    fn read(&self, p: &Self::Part) -> Option<(Document, Vec<String>)>;
    /// The text of an encrypted part, and how many bytes at its start are not part of
    /// it (a header line): `out[skip..]` is what stands in the whole encrypted file.
    fn write(&self, p: &Self::Part, doc: &Document) -> Option<(Output, usize)>;
    /// The text after the last part: the metadata entry (and the root's end).
    fn tail(&self, meta: &Map) -> Option<Output>;
    /// Whether [`Layout::direct`] can take parts.
    fn has_direct(&self) -> bool {
        false
    }
    /// The part read without a tree (`super::direct`): the MAC pass without `sealer`,
    /// the writing pass with it; `Ok(None)` when the part must be read as a tree.
    fn direct(
        &self,
        _p: &Self::Part,
        _sel: &Selector,
        _mac_only: bool,
        _sealer: Option<&mut Sealer<'_>>,
        _bufs: direct::Bufs<'_>,
    ) -> Result<Option<Done>, DocumentError> {
        Ok(None)
    }
    /// How many bytes at the start of a written part are a header line that is not part
    /// of the output (see [`Layout::write`]).
    fn skip(&self, _p: &Self::Part, _out: &[u8]) -> Option<usize> {
        Some(0)
    }
}

/// Block YAML, cut by [`split::plan_plain`].
pub(super) struct YamlLayout<'a> {
    src: &'a [u8],
    plan: split::Plan,
    emit: &'a EmitOptions,
    /// The text is an encrypted file's (`rotate`): its comments are read where they
    /// stand, without go-yaml's foot rule for plaintext.
    encrypted: bool,
}

impl<'a> YamlLayout<'a> {
    pub(super) fn plan(src: &'a [u8], target: usize, emit: &'a EmitOptions) -> Option<Self> {
        let plan = split::plan_plain(src, target)?;
        Some(YamlLayout {
            src,
            plan,
            emit,
            encrypted: false,
        })
    }

    /// An encrypted document cut by the decrypt planner (`rotate`).
    pub(super) fn from_plan(src: &'a [u8], plan: split::Plan, emit: &'a EmitOptions) -> Self {
        YamlLayout {
            src,
            plan,
            emit,
            encrypted: true,
        }
    }
}

impl Layout for YamlLayout<'_> {
    type Part = split::Part;

    fn parts(&self) -> &[split::Part] {
        &self.plan.parts
    }

    fn is_sub(&self, p: &split::Part) -> bool {
        matches!(p, split::Part::Sub { .. })
    }

    fn big_key(&self) -> Option<&str> {
        None
    }

    fn read(&self, p: &split::Part) -> Option<(Document, Vec<String>)> {
        let src = self.src;
        let load = |t: &[u8]| {
            if self.encrypted {
                crate::format::yaml::load_fast_encrypted(t)
            } else {
                crate::format::yaml::load_fast(t)
            }
        };
        let mut branches = match p {
            split::Part::Top(r) => load(src.get(r.clone())?)?,
            split::Part::Sub {
                body, first: true, ..
            } => load(src.get(body.clone())?)?,
            split::Part::Sub { header, body, .. } => {
                // Plaintext: wiped on drop.
                let mut t =
                    zeroize::Zeroizing::new(Vec::with_capacity(header.len() + 1 + body.len()));
                t.extend_from_slice(src.get(header.clone())?);
                t.push(b'\n');
                t.extend_from_slice(src.get(body.clone())?);
                load(&t)?
            }
        };
        let (Some(root), true) = (branches.pop(), branches.is_empty()) else {
            return None;
        };
        if root.get("sops").is_some() {
            return None;
        }
        if self.is_sub(p) {
            let mut entries = root.0.iter().filter(|i| matches!(i, Item::Entry(..)));
            let (Some(Item::Entry(_, Value::Map(_))), None) = (entries.next(), entries.next())
            else {
                return None;
            };
        }
        Some((
            Document {
                branches: vec![root],
            },
            Vec::new(),
        ))
    }

    fn write(&self, p: &split::Part, doc: &Document) -> Option<(Output, usize)> {
        let out = YamlStore.emit(doc, None, self.emit).ok()?;
        let skip = self.skip(p, &out)?;
        Some((out, skip))
    }

    fn skip(&self, p: &split::Part, out: &[u8]) -> Option<usize> {
        if let split::Part::Sub { first: false, .. } = p {
            // The header line was read only to give the entries their place.
            let nl = memchr::memchr(b'\n', out)?;
            if out.first().is_none_or(|&b| b == b' ' || b == b'#') {
                return None;
            }
            return Some(nl + 1);
        }
        Some(0)
    }

    fn has_direct(&self) -> bool {
        true
    }

    fn direct(
        &self,
        p: &split::Part,
        sel: &Selector,
        mac_only: bool,
        sealer: Option<&mut Sealer<'_>>,
        bufs: direct::Bufs<'_>,
    ) -> Result<Option<Done>, DocumentError> {
        let Some(n) = crate::format::yaml::emit_indent(self.emit) else {
            return Ok(None);
        };
        let job = direct::Job { sel, mac_only, n };
        let src = self.src;
        // A later sub-part is read behind its entry's `key:` line, without joining them.
        let (header, body) = match p {
            split::Part::Top(r) => (None, r.clone()),
            split::Part::Sub {
                body, first: true, ..
            } => (None, body.clone()),
            split::Part::Sub { header, body, .. } => match src.get(header.clone()) {
                Some(h) => (Some(h), body.clone()),
                None => return Ok(None),
            },
        };
        let Some(text) = src.get(body) else {
            return Ok(None);
        };
        direct::part(header, text, self.is_sub(p), &job, sealer, bufs)
    }

    fn tail(&self, meta: &Map) -> Option<Output> {
        YamlStore.emit(&empty_doc(), Some(meta), self.emit).ok()
    }
}

/// JSON laid out as sops and leafseal write it, cut by [`json_split::plan_plain`].
pub(super) struct JsonLayout<'a> {
    src: &'a [u8],
    plan: json_split::Plan,
    unit: Vec<u8>,
    big_key: Option<String>,
}

impl<'a> JsonLayout<'a> {
    /// The document planned whole (the encrypt plans it beside its MAC pass,
    /// `super::json_overlap`).
    #[cfg(test)]
    pub(super) fn plan(src: &'a [u8], target: usize, emit: &EmitOptions) -> Option<Self> {
        Self::from_plan(src, json_split::plan_plain(src, target)?, emit)
    }

    /// The layout a MAC pass reads parts with while the document is still being planned
    /// (`super::json_overlap`): no parts of its own, the big member's key read from its
    /// text at `big_key`.
    pub(super) fn fed(
        src: &'a [u8],
        big_key: Option<std::ops::Range<usize>>,
        emit: &EmitOptions,
    ) -> Option<Self> {
        let plan = json_split::Plan {
            parts: Vec::new(),
            meta: 0..0,
            big_key,
        };
        Self::from_plan(src, plan, emit)
    }

    /// A document cut by a JSON planner (the decrypt planner for `rotate`).
    pub(super) fn from_plan(
        src: &'a [u8],
        plan: json_split::Plan,
        emit: &EmitOptions,
    ) -> Option<Self> {
        let unit = indent_unit(emit).ok()?;
        let big_key = match &plan.big_key {
            Some(r) => Some(read_key(src.get(r.clone())?)?),
            None => None,
        };
        Some(JsonLayout {
            src,
            plan,
            unit,
            big_key,
        })
    }
}

impl JsonLayout<'_> {
    /// The writer's indentation unit.
    pub(super) fn unit(&self) -> &[u8] {
        &self.unit
    }

    /// This layout (its big member's key and indentation) over one part's text read on
    /// its own (`rotate` of a file: the part's range moved to that text,
    /// `json_split::Part::moved_to`).
    pub(super) fn over<'b>(&self, src: &'b [u8]) -> JsonLayout<'b> {
        JsonLayout {
            src,
            plan: json_split::Plan {
                parts: Vec::new(),
                meta: 0..0,
                big_key: None,
            },
            unit: self.unit.clone(),
            big_key: self.big_key.clone(),
        }
    }

    /// One part rotated without its tree (`stream::json::reseal_part`): decrypted with
    /// `leaves.cipher`, sealed again by `sealer`; `None` for the part's tree path.
    pub(super) fn resealed(
        &self,
        p: &json_split::Part,
        leaves: &crate::stream::json::Leaves<'_>,
        sealer: &mut Sealer<'_>,
    ) -> Option<crate::stream::json::Resealed> {
        let body = self.src.get(p.body())?;
        crate::stream::json::reseal_part(p, body, self.big_key.as_deref(), leaves, sealer)
    }
}

/// The key of the big member from its text before the `{` (`"key":`).
fn read_key(text: &[u8]) -> Option<String> {
    let map = parse_object_one_thread(&wrap(b"{", text, b"null}")).ok()?;
    match map.0.as_slice() {
        [Item::Entry(k, Value::Null)] => Some(k.clone()),
        _ => None,
    }
}

/// `open` + `body` + `close` in one buffer (wiped on drop: `body` is plaintext).
fn wrap(open: &[u8], body: &[u8], close: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let mut t = zeroize::Zeroizing::new(Vec::with_capacity(open.len() + body.len() + close.len()));
    t.extend_from_slice(open);
    t.extend_from_slice(body);
    t.extend_from_slice(close);
    t
}

impl Layout for JsonLayout<'_> {
    type Part = json_split::Part;

    fn parts(&self) -> &[json_split::Part] {
        &self.plan.parts
    }

    fn is_sub(&self, p: &json_split::Part) -> bool {
        matches!(p, json_split::Part::Sub { .. })
    }

    fn big_key(&self) -> Option<&str> {
        self.big_key.as_deref()
    }

    fn read(&self, p: &json_split::Part) -> Option<(Document, Vec<String>)> {
        let body = self.src.get(p.body())?;
        let map = match p {
            json_split::Part::Top { .. } => {
                parse_object_one_thread(&wrap(b"{", body, b"}")).ok()?
            }
            // At the member's own depth, so that the nesting limit is the tree path's.
            json_split::Part::Sub { .. } => {
                let mut m = parse_object_one_thread(&wrap(b"{\"\":{", body, b"}}")).ok()?;
                match m.0.pop() {
                    Some(Item::Entry(_, Value::Map(inner))) if m.0.is_empty() => inner,
                    _ => return None,
                }
            }
        };
        // Every part holds members (an empty one would be `,,` or `{,`).
        if map.0.is_empty() {
            return None;
        }
        let keys: Vec<String> = map.entries().map(|(k, _)| k.to_owned()).collect();
        let root = match p {
            json_split::Part::Top { .. } => {
                if map.get("sops").is_some() {
                    return None;
                }
                map
            }
            json_split::Part::Sub { .. } => {
                let mut root = Map::new();
                root.0
                    .push(Item::Entry(self.big_key.clone()?, Value::Map(map)));
                root
            }
        };
        Some((
            Document {
                branches: vec![root],
            },
            keys,
        ))
    }

    fn write(&self, p: &json_split::Part, doc: &Document) -> Option<(Output, usize)> {
        let root = doc.branches.first()?;
        let unit = self.unit.as_slice();
        match p {
            json_split::Part::Top { first, .. } => {
                let est = with_slack(estimate_items(&root.0, 1, unit.len()));
                let mut w = Writer::new(
                    SecureBuf::with_capacity_hint(est.saturating_add(1)),
                    unit,
                    0,
                );
                if *first {
                    w.out.byte(b'{');
                }
                w.map_members(&root.0, None, *first, false).ok()?;
                Some((w.out.finish(), 0))
            }
            json_split::Part::Sub {
                first,
                last,
                after_members,
                ..
            } => {
                let [Item::Entry(k, Value::Map(inner))] = root.0.as_slice() else {
                    return None;
                };
                let est = with_slack(estimate_items(&inner.0, 2, unit.len()));
                let mut w = Writer::new(
                    SecureBuf::with_capacity_hint(est.saturating_add(k.len() + 16)),
                    unit,
                    0,
                );
                if *first {
                    w.out.byte(if *after_members { b',' } else { b'{' });
                    w.newline_at(1);
                    w.key(k);
                    w.out.byte(b'{');
                }
                w.base_depth = 1;
                w.map_members(&inner.0, None, *first, false).ok()?;
                if *last {
                    w.newline_at(1);
                    w.out.byte(b'}');
                }
                Some((w.out.finish(), 0))
            }
        }
    }

    fn has_direct(&self) -> bool {
        true
    }

    fn direct(
        &self,
        p: &json_split::Part,
        sel: &Selector,
        mac_only: bool,
        sealer: Option<&mut Sealer<'_>>,
        bufs: direct::Bufs<'_>,
    ) -> Result<Option<Done>, DocumentError> {
        let Some(text) = self.src.get(p.body()) else {
            return Ok(None);
        };
        let kind = match p {
            json_split::Part::Top { first, .. } => json_direct::Kind::Top { first: *first },
            json_split::Part::Sub {
                first,
                last,
                after_members,
                ..
            } => match &self.big_key {
                Some(key) => json_direct::Kind::Sub {
                    first: *first,
                    last: *last,
                    after_members: *after_members,
                    key,
                },
                None => return Ok(None),
            },
        };
        let job = json_direct::Job {
            sel,
            mac_only,
            unit: &self.unit,
        };
        json_direct::part(text, &kind, &job, sealer, bufs)
    }

    fn tail(&self, meta: &Map) -> Option<Output> {
        let adjusted = null_empty_group_lists(meta);
        let meta = adjusted.as_ref().unwrap_or(meta);
        let est = with_slack(estimate_items(&meta.0, 2, self.unit.len()));
        let mut w = Writer::new(
            SecureBuf::with_capacity_hint(est.saturating_add(16)),
            &self.unit,
            0,
        );
        w.map_members(&[], Some(("sops", meta)), false, true).ok()?;
        w.out.byte(b'\n');
        Some(w.out.finish())
    }
}
