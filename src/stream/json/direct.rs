//! The direct part path: a part whose text is laid out exactly as the JSON writer lays
//! out its output (the indentation of the output, `": "` after keys, one member or
//! element per line, `{}`/`[]` for empty containers, strings and numbers in the writer's
//! own form) is written without building a tree. Its text is copied as it is, except each
//! `"ENC[…]"` string, which is decrypted where it stands and replaced by the writer's form
//! of the plaintext value (`write_string`/`write_scalar`, the functions the writer itself
//! uses). Re-emitting a tree read from such text would give the same text, so the output
//! is the tree path's. The MAC input and the integrity tokens are gathered in document
//! order, as the walk and `integrity::entry_tokens` would.
//!
//! `rotate` uses the same scan with a [`Sealer`] for the new data key: each `ENC[…]`
//! value is sealed again as the tree path seals it (`scalars::sealed_again`) and its new
//! text stands where the old one stood; the rest of the text is copied as it is, and the
//! integrity tokens are gathered for the old text and the new one.
//!
//! Anything else (another layout, escapes in a clear string or a key, a clear number not
//! in the writer's form, a value that does not decrypt, a clear value where the selector
//! wants an encrypted one, an encrypted comment, deep nesting) returns `None`: the caller
//! then reads the part as a tree, which gives the same output or the tree path's error.

use zeroize::Zeroizing;

use crate::crypto::document::Sealer;
use crate::crypto::integrity::Tokens;
use crate::crypto::value;
use crate::crypto::value::EncFields;
use crate::crypto::value::ValueCipher;
use crate::crypto::value::ValueType;
use crate::format::json::emit::SecureBuf;
use crate::format::json::emit::nothing_escaped;
use crate::format::json::emit::write_scalar;
use crate::format::json::emit::write_string;
use crate::format::json::number_end;
use crate::format::json::number_value;
use crate::tree::Value;
use crate::walk::Selector;

/// The deepest nesting taken (deeper parts are read as trees, with the reader's limit).
const MAX_DEPTH: usize = 64;

/// MAC input in fixed-capacity chunks (a growing `Vec` would leave copies of the
/// plaintext in the memory it frees).
const CHUNK: usize = 64 * 1024;

/// What the direct path made of a part.
pub(super) struct Direct {
    /// The MAC input of the part's leaves, in walk order.
    pub mac_input: Vec<Zeroizing<Vec<u8>>>,
    /// The integrity tokens of the part's members.
    pub tokens: Vec<u8>,
    /// With a [`Sealer`]: the tokens of the members as written, sealed again.
    pub new_tokens: Option<Vec<u8>>,
    /// The keys of the part's own members (for the duplicate check across parts).
    pub keys: Vec<String>,
}

/// What every leaf needs.
pub(in crate::stream) struct Leaves<'a> {
    pub cipher: &'a ValueCipher,
    pub sel: &'a Selector,
    pub mac_only_encrypted: bool,
    /// The output's indentation unit.
    pub unit: &'a [u8],
    /// Where the MAC input and token buffers come from.
    pub pools: &'a super::super::Pools,
}

/// Where a run of members stands in the document.
pub(super) struct Place<'a> {
    /// The members' depth (1: the root's).
    pub depth: usize,
    /// The run is followed by the line break and indentation before the closing brace
    /// of its object.
    pub closing: bool,
    /// The path of the object that holds them (`""` for the root).
    pub aad: &'a str,
    /// Whether a component of that path matched the selector.
    pub matched: bool,
}

/// Writes the members of `src` (a run of members at `at`, each on its own line, the
/// first without a comma before it) into `out`: decrypted, or with `reseal` sealed again
/// under its key. `None`: read the part as a tree.
pub(super) fn members(
    src: &[u8],
    at: &Place<'_>,
    leaves: &Leaves<'_>,
    out: &mut SecureBuf,
    reseal: Option<&mut Sealer<'_>>,
) -> Option<Direct> {
    let depth = at.depth;
    // Validated once here: every string is then a slice of it between two ASCII quotes
    // (a part that is not UTF-8 would not be taken anyway: only strings may hold other
    // bytes than the layout's ASCII, and each had to be UTF-8).
    let text = std::str::from_utf8(src).ok()?;
    let mut s = Scan {
        src,
        text,
        pos: 0,
        copied: 0,
        leaves,
        out,
        aad: at.aad.to_owned(),
        tokens: Tokens::reusing(
            leaves.pools.tokens.take(src.len() / 2 + 64),
            leaves.mac_only_encrypted,
        ),
        new_tokens: reseal.is_some().then(|| {
            Tokens::reusing(
                leaves.pools.tokens.take(src.len() / 2 + 64),
                leaves.mac_only_encrypted,
            )
        }),
        sealer: reseal,
        mac: vec![Zeroizing::new(leaves.pools.mac.take(src.len() / 3 + 64))],
        scratch: Zeroizing::new(Vec::new()),
        keys: Vec::new(),
        outer: depth,
    };
    s.run(depth, at.matched, true)?;
    if at.closing {
        s.newline(depth - 1)?;
    }
    if s.pos != src.len() {
        return None;
    }
    s.out.push(src.get(s.copied..)?);
    Some(Direct {
        mac_input: std::mem::take(&mut s.mac),
        tokens: s.tokens.into_bytes(),
        new_tokens: s.new_tokens.map(Tokens::into_bytes),
        keys: s.keys,
    })
}

struct Scan<'a, 'o, 'c> {
    src: &'a [u8],
    /// `src` as text.
    text: &'a str,
    pos: usize,
    /// The text before this offset is in `out` already.
    copied: usize,
    leaves: &'a Leaves<'a>,
    out: &'o mut SecureBuf,
    aad: String,
    tokens: Tokens,
    /// With `sealer`: the tokens of the text written.
    new_tokens: Option<Tokens>,
    /// Seals each decrypted value again (`rotate`) instead of writing its plaintext.
    sealer: Option<&'o mut Sealer<'c>>,
    mac: Vec<Zeroizing<Vec<u8>>>,
    /// Each value's plaintext (wiped on drop).
    scratch: Zeroizing<Vec<u8>>,
    /// The keys of the outermost run.
    keys: Vec<String>,
    /// The depth of the outermost run.
    outer: usize,
}

impl<'a> Scan<'a, '_, '_> {
    /// A token of the text copied as it is, for both records when the values are
    /// sealed again.
    fn tok(&mut self, f: impl Fn(&mut Tokens)) {
        f(&mut self.tokens);
        if let Some(t) = self.new_tokens.as_mut() {
            f(t);
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    /// A line break and the indentation of `depth` (the unit is one byte repeated: a
    /// TAB or spaces; compared byte by byte, shorter than a call to `memcmp`).
    fn newline(&mut self, depth: usize) -> Option<()> {
        let n = depth.checked_mul(self.leaves.unit.len())?;
        let line = self.src.get(self.pos..self.pos.checked_add(n + 1)?)?;
        let (&first, ind) = line.split_first()?;
        if first != b'\n' {
            return None;
        }
        if let Some(&u) = self.leaves.unit.first()
            && !ind.iter().all(|&b| b == u)
        {
            return None;
        }
        self.pos += n + 1;
        Some(())
    }

    /// A string's text between its quotes, when the writer writes it as it is.
    fn string(&mut self) -> Option<(&'a str, usize)> {
        let open = self.pos;
        self.expect(b'"')?;
        let src: &'a [u8] = self.src;
        let end = self.pos + memchr::memchr(b'"', src.get(self.pos..)?)?;
        let text = self.text.get(self.pos..end)?;
        if !nothing_escaped(text.as_bytes()) {
            return None;
        }
        self.pos = end + 1;
        Some((text, open))
    }

    /// A string that is to be decrypted: as [`Scan::string`], but an `ENC[…]` text whose
    /// only `]` is its last byte is not searched for bytes the writer escapes. Decrypting
    /// it validates every byte before that `]` (the fixed field names, base64 for the
    /// data, IV and tag, one of the type names), and a text that does not decrypt sends
    /// the part to the tree path: so the text in the file is its value.
    ///
    /// A value in the usual layout is measured by its fields ([`usual_enc_end`]) rather
    /// than searched for its closing quote and its `]`.
    fn enc_string(&mut self) -> Option<(&'a str, usize, Option<usize>)> {
        let open = self.pos;
        self.expect(b'"')?;
        let src: &'a [u8] = self.src;
        if let Some((end, data_len)) = usual_enc_end(src, self.pos) {
            let text = self.text.get(self.pos..end)?;
            self.pos = end + 1;
            return Some((text, open, Some(data_len)));
        }
        let end = self.pos + memchr::memchr(b'"', src.get(self.pos..)?)?;
        let raw = src.get(self.pos..end)?;
        let text = self.text.get(self.pos..end)?;
        let enc_shaped = raw.starts_with(b"ENC[AES256_GCM,")
            && memchr::memchr(b']', raw).is_some_and(|p| p + 1 == raw.len());
        if !enc_shaped && !nothing_escaped(raw) {
            return None;
        }
        self.pos = end + 1;
        Some((text, open, None))
    }

    /// Members of an object (`is_map`) or elements of a list at `depth`, up to the last
    /// one (not its closing line).
    fn run(&mut self, depth: usize, matched: bool, is_map: bool) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let outer = depth == self.outer;
        loop {
            self.newline(depth)?;
            if is_map {
                let (k, _) = self.string()?;
                if outer {
                    self.keys.push(k.to_owned());
                }
                if self.src.get(self.pos) != Some(&b':')
                    || self.src.get(self.pos + 1) != Some(&b' ')
                {
                    return None;
                }
                self.pos += 2;
                self.tok(|t| t.key(k));
                let len = self.aad.len();
                self.aad.push_str(k);
                self.aad.push(':');
                let m = matched || self.leaves.sel.component_matches(k);
                let r = self.value(depth, m);
                self.aad.truncate(len);
                r?;
            } else {
                self.value(depth, matched)?;
            }
            if self.peek() == Some(b',') {
                self.pos += 1;
            } else {
                return Some(());
            }
        }
    }

    /// A value on a line at `depth`.
    fn value(&mut self, depth: usize, matched: bool) -> Option<()> {
        match self.peek()? {
            open @ (b'{' | b'[') => {
                let is_map = open == b'{';
                let close = if is_map { b'}' } else { b']' };
                self.pos += 1;
                self.tok(|t| if is_map { t.map(true) } else { t.list(true) });
                if self.peek() == Some(close) {
                    self.pos += 1;
                } else {
                    self.run(depth + 1, matched, is_map)?;
                    self.newline(depth)?;
                    self.expect(close)?;
                }
                self.tok(|t| if is_map { t.map(false) } else { t.list(false) });
                Some(())
            }
            b'"' => self.text(matched),
            b't' => self.literal(b"true", &Value::Bool(true), matched),
            b'f' => self.literal(b"false", &Value::Bool(false), matched),
            b'n' => self.literal(b"null", &Value::Null, matched),
            b'-' | b'0'..=b'9' => self.number(matched),
            _ => None,
        }
    }

    /// Whether the selector wants the current leaf encrypted.
    fn encrypted(&self, matched: bool) -> Option<bool> {
        match self.leaves.sel {
            Selector::UnencryptedSuffix(_) | Selector::UnencryptedRegex(_) => Some(!matched),
            Selector::EncryptedSuffix(_) | Selector::EncryptedRegex(_) => Some(matched),
            Selector::UnencryptedCommentRegex(_) | Selector::EncryptedCommentRegex(_) => None,
        }
    }

    fn mac_update(&mut self, bytes: &[u8]) {
        mac_update(&mut self.mac, bytes, self.leaves.pools);
    }

    /// A clear leaf other than a string (copied as it is).
    fn clear(&mut self, v: &Value, matched: bool) -> Option<()> {
        self.tok(|t| t.scalar(v));
        if matches!(v, Value::Null) {
            return Some(());
        }
        if self.encrypted(matched)? {
            // Stored in clear where the selector wants it encrypted: the tree path's error.
            return None;
        }
        if !self.leaves.mac_only_encrypted {
            let mut plain = Zeroizing::new(Vec::new());
            value::with_plaintext(v, |p, _| plain.extend_from_slice(p));
            self.mac_update(&plain);
        }
        Some(())
    }

    fn literal(&mut self, text: &[u8], v: &Value, matched: bool) -> Option<()> {
        if self.src.get(self.pos..self.pos + text.len())? != text {
            return None;
        }
        self.pos += text.len();
        self.clear(v, matched)
    }

    /// A number in JSON's grammar, kept when it is the writer's form of its value.
    fn number(&mut self, matched: bool) -> Option<()> {
        let start = self.pos;
        let (end, integral) = number_end(self.src, start)?;
        self.pos = end;
        let text = self.src.get(start..self.pos)?;
        let v = number_value(std::str::from_utf8(text).ok()?, integral).ok()?;
        let mut written = SecureBuf::with_capacity(32);
        write_scalar(&mut written, &v).ok()?;
        if written.as_slice() != text {
            return None;
        }
        self.clear(&v, matched)
    }

    /// A string leaf: copied when clear, decrypted in place when `ENC[…]`.
    fn text(&mut self, matched: bool) -> Option<()> {
        let encrypt = self.encrypted(matched)?;
        let (s, open, usual_data_len) = if encrypt {
            self.enc_string()?
        } else {
            let (s, open) = self.string()?;
            (s, open, None)
        };
        // An encrypted comment (sops's form inside lists) is lifted out of the list by
        // the tree path: left to it.
        if crate::tree::is_encrypted_comment_text(s) {
            return None;
        }
        if !encrypt {
            self.tok(|t| t.text(s));
            if !self.leaves.mac_only_encrypted {
                let src = self.src;
                let raw = src.get(open + 1..self.pos - 1)?;
                self.mac_update(raw);
            }
            return Some(());
        }
        if s.is_empty() {
            self.tok(|t| t.text(s));
            return Some(());
        }
        if !value::is_encrypted(s) {
            return None;
        }
        let f = match usual_data_len {
            Some(data_len) => EncFields::parse_usual(s, data_len).ok()?,
            None => EncFields::parse(s).ok()?,
        };
        // The record's token from the fields just parsed (the same bytes as finding them
        // again, for a value that decrypts; one that does not sends the part to the tree).
        match f.tag_text {
            Some(tag) => self.tokens.encrypted(f.typ.name(), f.data.len(), tag),
            None => self.tokens.text(s),
        }
        if f.typ == ValueType::Comment {
            // A comment kept as an array item (sops writes YAML comments in lists so),
            // or a value typed as a comment: the tree path takes them.
            return None;
        }
        let src = self.src;
        let end = self.pos;
        f.open_into(self.leaves.cipher, self.aad.as_bytes(), &mut self.scratch)
            .ok()?;
        self.out.push(src.get(self.copied..open)?);
        self.copied = end;
        if self.sealer.is_some() {
            return self.sealed_again(f.typ);
        }
        let plain: &[u8] = &self.scratch;
        match f.typ {
            ValueType::Str | ValueType::Bytes | ValueType::Comment => {
                write_string(self.out, plain);
                mac_update(&mut self.mac, plain, self.leaves.pools);
                Some(())
            }
            typ => {
                if let Some(mac) = super::scalars::canonical(plain, typ) {
                    self.out.push(plain);
                    mac_update(&mut self.mac, mac, self.leaves.pools);
                    return Some(());
                }
                let v = value::value_from_plaintext(plain, typ).ok()?;
                write_scalar(self.out, &v).ok()?;
                let pools = self.leaves.pools;
                value::with_plaintext(&v, |p, _| mac_update(&mut self.mac, p, pools));
                Some(())
            }
        }
    }
}

impl Scan<'_, '_, '_> {
    /// Writes the value just decrypted into the scratch buffer (of type `typ`) sealed
    /// again, as the tree path seals it, in place of its old text; with its token and its
    /// MAC input. `None` (the part's tree path) for a plaintext that does not read as a
    /// value of its type, and for an empty one, which the tree path writes in clear.
    fn sealed_again(&mut self, typ: ValueType) -> Option<()> {
        let pools = self.leaves.pools;
        let (out, mac, aad) = (&mut *self.out, &mut self.mac, self.aad.as_str());
        let (sealer, tokens) = (self.sealer.as_deref_mut()?, self.new_tokens.as_mut()?);
        super::scalars::sealed_again(&self.scratch, typ, |canon, ctyp| {
            mac_update(mac, canon, pools);
            if canon.is_empty() {
                return None;
            }
            out.byte(b'"');
            let at = out.as_slice().len();
            let span = out
                .append_with(value::sealed_len(canon.len(), ctyp), |o| {
                    sealer.seal_append(aad, canon, ctyp, o)
                })
                .ok()?;
            out.byte(b'"');
            let tag = out
                .as_slice()
                .get(at + span.tag_at..at + span.tag_at + 24)?;
            tokens.encrypted(ctyp.name(), span.data_len, std::str::from_utf8(tag).ok()?);
            Some(())
        })
    }
}

/// The text between `ENC[AES256_GCM,data:` and the IV's field in the usual layout: a
/// 44-character IV, a 24-character tag, then the type's field.
const USUAL_FIELDS: &[u8; 83] =
    b",iv:____________________________________________,tag:________________________,type:";

/// Where the string whose text starts at `at` ends (the offset of its closing quote),
/// and the length of its data field, when that text is an `ENC[…]` value in the usual
/// layout (a 44-character IV, a 24-character tag, a type name of at most seven letters,
/// `]`, the quote): one search for the comma after the data instead of two searches of
/// the whole string. `None`: search as for any string.
///
/// The text so measured is taken only if it decrypts, and that needs every field valid:
/// base64 (no quote, `]`, backslash or control byte), one of the type names. Such a
/// text holds no quote and no `]` before its last byte, so it is the text the searches
/// would have found, and one that does not decrypt sends the part to the tree path
/// either way.
fn usual_enc_end(src: &[u8], at: usize) -> Option<(usize, usize)> {
    const PREFIX: &[u8] = b"ENC[AES256_GCM,data:";
    let data = src.get(at..)?.strip_prefix(PREFIX)?;
    let comma = crate::find::byte(b',', data)?;
    let fields = data.get(comma..)?;
    let names_in_place = [(0, 4), (48, 53), (77, 83)]
        .iter()
        .all(|&(from, to)| fields.get(from..to) == USUAL_FIELDS.get(from..to));
    if !names_in_place {
        return None;
    }
    let typ = fields.get(USUAL_FIELDS.len()..)?;
    let close = typ.iter().take(8).position(|&b| b == b']')?;
    (typ.get(close + 1) == Some(&b'"')).then_some((
        at + PREFIX.len() + comma + USUAL_FIELDS.len() + close + 1,
        comma,
    ))
}

/// Appends MAC input to the chunks (new ones from the pool).
fn mac_update(mac: &mut Vec<Zeroizing<Vec<u8>>>, mut bytes: &[u8], pools: &super::super::Pools) {
    while !bytes.is_empty() {
        let room = mac.last().map_or(0, |c| c.capacity() - c.len());
        if room == 0 {
            mac.push(Zeroizing::new(pools.mac.take(CHUNK)));
            continue;
        }
        let (now, rest) = bytes.split_at(room.min(bytes.len()));
        if let Some(c) = mac.last_mut() {
            c.extend_from_slice(now);
        }
        bytes = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::usual_enc_end;

    const IV: &str = "glhVD3gJDX05dhl/Uid1wDWBiil/7K96Pp6JoTN93Ig=";
    const TAG: &str = "Cla8P05sq3P708JxOcWTBw==";

    /// `"key": "<value>",` with the value's text starting at the returned offset.
    fn line(value: &str) -> (Vec<u8>, usize) {
        let text = format!("\"k\": \"{value}\",\n");
        (text.into_bytes(), 6)
    }

    #[test]
    fn a_usual_value_is_measured_to_its_closing_quote() {
        for (data, typ) in [
            ("0Q==", "int"),
            ("", "str"),
            ("kmEjsgl2pX31qFai", "comment"),
        ] {
            let value = format!("ENC[AES256_GCM,data:{data},iv:{IV},tag:{TAG},type:{typ}]");
            let (src, at) = line(&value);
            let quote = at + memchr::memchr(b'"', &src[at..]).unwrap();
            assert_eq!(
                usual_enc_end(&src, at),
                Some((quote, data.len())),
                "{value}"
            );
            assert_eq!(&src[at..quote], value.as_bytes());
        }
    }

    #[test]
    fn anything_else_is_left_to_the_searches() {
        let short_iv = &IV[1..];
        for value in [
            format!("ENC[AES256_GCM,data:0Q==,iv:{short_iv},tag:{TAG},type:int]"),
            format!("ENC[AES256_GCM,data:0Q==,iv:{IV},tag:{TAG}=,type:int]"),
            format!("ENC[AES256_GCM,data:0Q==,iv:{IV},tag:{TAG},typ:int]"),
            format!("ENC[AES256_GCM,data:0Q==,iv:{IV},tag:{TAG},type:integers]"),
            format!("ENC[AES256_GCM,data:0Q==,iv:{IV},tag:{TAG},type:int]x"),
            format!("ENC[AES256_GCM,data:0Q==,iv:{IV},tag:{TAG},type:int"),
            format!("ENC[AES256_GCM,data:0Q==iv:{IV},tag:{TAG},type:int]"),
            format!("ENC[AES256_GCM,dat:0Q==,iv:{IV},tag:{TAG},type:int]"),
            "plain".to_owned(),
        ] {
            let (src, at) = line(&value);
            assert_eq!(usual_enc_end(&src, at), None, "{value}");
        }
    }
}
