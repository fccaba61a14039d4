//! The structure of the tree-free YAML encrypt: comments and where they land, the head
//! comments of the root, map entries (with the duplicate-key check) and list items.

use super::*;

impl<'a> St<'a, '_, '_, '_> {
    /// A comment placed in the collection at `depth` of the stack.
    pub(super) fn comment(&mut self, depth: usize, t: &'a str) -> R<()> {
        self.comment_at(depth, t, None)
    }

    /// [`Self::comment`], written at column `ind` instead of the collection's own (a map
    /// item's first comment, above its dash).
    fn comment_at(&mut self, depth: usize, t: &'a str, ind: Option<usize>) -> R<()> {
        let Some(f) = self.stack.get(depth) else {
            return Err(Fail::Decline);
        };
        let (seq, out, base, matched) = (f.seq, ind.unwrap_or(f.out), f.base, f.matched);
        if is_encrypted_comment_text(t) || t.starts_with("ENC[") {
            return Err(Fail::Decline);
        }
        let encrypt = self.decide(matched)? && !t.is_empty();
        if !self.em.on {
            return Ok(());
        }
        if !encrypt {
            self.em.comment(out, t);
            if let Some(f) = self.stack.get_mut(depth) {
                f.foot = seq;
            }
            return Ok(());
        }
        let aad = match self.aad.get(..base) {
            Some("") => ":",
            Some(a) => a,
            None => return Err(Fail::Decline),
        };
        let Some(s) = self.sealer.as_mut() else {
            return Err(Fail::Decline);
        };
        let enc = s
            .seal(aad, t.as_bytes(), ValueType::Comment)
            .map_err(Fail::Seal)?;
        if seq {
            self.em.write_indent(out);
            self.em.dash();
            self.em.write_text(&enc);
            if let Some(f) = self.stack.get_mut(depth) {
                f.foot = false;
            }
        } else {
            self.em.comment(out, &enc);
        }
        Ok(())
    }

    /// Every pending comment, into the innermost collection (before its next entry).
    pub(super) fn heads(&mut self) -> R<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let depth = self.stack.len() - 1;
        let taken: Vec<(&'a str, usize)> = std::mem::take(&mut self.pending);
        for (t, _) in taken {
            self.comment(depth, t)?;
        }
        Ok(())
    }

    /// A key line of the innermost map, whose keys are at column `c`; `item` for the
    /// first key of a map item, on its dash's line.
    pub(super) fn entry(&mut self, text: &'a str, c: usize, item: bool) -> R<()> {
        let Some((k, plain, after)) = Self::key_at(text, c)? else {
            return Err(Fail::Decline);
        };
        let Cow::Borrowed(k) = k else {
            return Err(Fail::Decline);
        };
        if k == "<<" || (plain && !key_is_str(k)) {
            return Err(Fail::Decline);
        }
        self.dup_check(k)?;
        let depth = self.stack.len() - 1;
        if depth == 0 {
            if k == "sops" {
                return Err(Fail::Decline);
            }
            self.root_keys += 1;
            if self.root_keys == 1 {
                self.first_key = Some(k);
            }
        }
        // (Keys are never written as blocks: `None` does not happen; the MAC pass does
        // not write them.)
        let rendered = if self.em.on {
            inline_string(k, true).ok_or(Fail::Decline)?
        } else {
            Cow::Borrowed(k)
        };
        let (val, comment) = self.value(text, after, c, true)?;
        let (out, base, fm) = match self.stack.last() {
            Some(f) => (f.out, f.base, f.matched),
            None => return Err(Fail::Decline),
        };
        // Comments before the key, then the one at the end of the line. For the first
        // key of a map item that one goes above the dash, at the list's column, as the
        // tree path's emitter writes a map item's first comments (go-yaml does).
        self.heads()?;
        // (The list holding a map item and its dash column.)
        let dash = if item {
            let list = depth.checked_sub(1).ok_or(Fail::Decline)?;
            Some((list, self.stack.get(list).ok_or(Fail::Decline)?.out))
        } else {
            None
        };
        if let Some(t) = comment {
            self.comment_at(depth, t, dash.map(|(_, d)| d))?;
        }
        if let Some((list, _)) = dash {
            let Some(f) = self.stack.get_mut(list) else {
                return Err(Fail::Decline);
            };
            f.foot = false;
            let dash = f.out;
            self.em.write_indent(dash);
            self.em.dash();
        }
        self.em.write_indent(out);
        self.em.write_text(&rendered);
        self.em.colon();
        self.tok().key(k);
        self.aad.truncate(base);
        self.aad.push_str(k);
        self.aad.push(':');
        let matched = fm || self.job.sel.component_matches(k);
        match val {
            Val::Empty if self.nested_follows(c, true) => {
                self.open = Some((c, matched));
                Ok(())
            }
            val => self.leaf(val, matched),
        }
    }

    pub(super) fn dup_check(&mut self, k: &'a str) -> R<()> {
        let Some(f) = self.stack.last_mut() else {
            return Err(Fail::Decline);
        };
        let mine = self.keys.get(f.keys..).unwrap_or_default();
        let fresh = match &mut f.set {
            Some(set) => set.insert(k),
            None if mine.len() < LINEAR_DUP_SCAN => !mine.contains(&k),
            None => {
                let mut set: HashSet<&'a str> = HashSet::with_capacity(4 * LINEAR_DUP_SCAN);
                set.extend(mine.iter().copied());
                let fresh = set.insert(k);
                f.set = Some(set);
                fresh
            }
        };
        if !fresh {
            return Err(Fail::Decline);
        }
        self.keys.push(k);
        Ok(())
    }

    /// A list item line of the innermost list, whose dashes are at column `d`.
    pub(super) fn item(&mut self, text: &'a str, d: usize) -> R<()> {
        let b = text.as_bytes();
        let c = d + 1 + spaces(b, d + 1);
        match b.get(c) {
            None | Some(b'#') => return Err(Fail::Decline),
            Some(_) => {}
        }
        if is_dash(b.get(c..).unwrap_or_default()) {
            return Err(Fail::Decline);
        }
        let (out, base, matched) = match self.stack.last() {
            Some(f) => (f.out, f.base, f.matched),
            None => return Err(Fail::Decline),
        };
        let depth = self.stack.len() - 1;
        if Self::key_at(text, c)?.is_some() {
            // (`entry` writes the dash, after a comment at the end of this line.)
            self.heads()?;
            self.aad.truncate(base);
            let keys = self.keys.len();
            self.push(Frame {
                seq: false,
                col: c,
                bind: c,
                out: out + 2,
                base,
                matched,
                keys,
                set: None,
                foot: false,
            })?;
            return self.entry(text, c, true);
        }
        let (val, comment) = self.value(text, c, d, false)?;
        self.heads()?;
        if let Some(t) = comment {
            self.comment(depth, t)?;
        }
        self.em.write_indent(out);
        self.em.dash();
        if let Some(f) = self.stack.last_mut() {
            f.foot = false;
        }
        self.aad.truncate(base);
        self.leaf(val, matched)
    }
}
