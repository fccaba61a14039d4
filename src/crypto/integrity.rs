//! The leafseal integrity record: an authenticator over everything in an encrypted file
//! that the sops MAC does not cover.
//!
//! The sops MAC is SHA-512 over the plaintext leaf values concatenated without separators,
//! and its form is fixed by compatibility. It cannot see keys whose value is empty or
//! null, empty maps and lists, list items that are null, how adjacent clear values are
//! split, or the `type:` of an encrypted value. The record closes those gaps: a keyed
//! hash (keyed BLAKE3 since round 29, HMAC-SHA-256 before), keyed with a subkey of the
//! file's data key, over a canonical, length-prefixed encoding of the whole encrypted
//! document in document order (every branch, map key, order, node kind, null, empty
//! container, clear leaf text, and each encrypted leaf's type, ciphertext length and GCM
//! tag) and of the metadata that decides what is encrypted and what the MAC covers,
//! bound to the stored MAC and `lastmodified`.
//!
//! It is stored in the metadata field [`FIELD`] as `v3:MACREF:TAG` (written since round
//! 29; `v2:MACREF:TAG` and `v1:MACREF:TAG` from earlier versions are still verified),
//! where `MACREF` is the first 16 hex digits of SHA-256 of the stored (encrypted) MAC
//! text. `MACREF` is public: it lets a reader without the key (`leafseal check`) tell a
//! current record from one left behind by a tool that rewrote the file without updating
//! it. `TAG` (base64 of 32 bytes) needs the data key to check.
//!
//! The versions hash the same tokens (the table is in the `keyed` module). v1 hashes the
//! binding first, so its HMAC cannot start before the MAC is known; v2 and v3 hash it
//! last, after the document's closing token, so a writer hashes the document while the
//! MAC is still being computed, and can resume the hash from a state saved at a part
//! boundary ([`Streamed::checkpoint`]). v3 differs from v2 only in its keyed hash.
//!
//! Comments are not covered: encrypted comments are authenticated one by one by AES-GCM,
//! and clear comments carry no secret. See docs/security.md.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::crypto::DataKey;
use crate::crypto::value;
use crate::crypto::value::ValueType;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;
use keyed::Keyed;
use keyed::Version;

/// The metadata field that holds the record (ignored by sops).
pub const FIELD: &str = "leafseal_integrity";

/// What the record covers besides the document: the settings that decide what is
/// encrypted and what enters the MAC, and the MAC it is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The partial-encryption selector's metadata field name, or "" for none.
    pub selector_field: &'a str,
    /// The selector's suffix or pattern.
    pub selector_pattern: &'a str,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// `lastmodified` as stored.
    pub lastmodified: &'a str,
    /// The stored (encrypted) MAC text.
    pub mac: &'a str,
}

/// The state of a file's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Present, bound to the file's MAC, and it verifies.
    Valid,
    /// Absent: the file was written by sops (or another tool), or the record was removed.
    Missing,
    /// Present but bound to another MAC: a tool that does not know it rewrote the file.
    Stale,
    /// Present, bound to the file's MAC, and it does not verify: the file was changed.
    Mismatch,
    /// Present but not in a form this version reads.
    Malformed,
}

/// The public reference to the MAC a record is bound to.
pub fn mac_ref(mac: &str) -> String {
    let digest = Sha256::digest(mac.trim().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Computes the record to store for an encrypted document (in the version written, v3).
pub fn compute(doc: &Document, binding: &Binding<'_>, key: &DataKey) -> String {
    let tag = tag_of(doc, binding, key, Version::WRITTEN);
    stored_text(Version::WRITTEN, binding.mac, &tag)
}

/// The text stored for a record.
fn stored_text(version: Version, mac: &str, tag: &[u8; 32]) -> String {
    format!(
        "{}:{}:{}",
        version.prefix(),
        mac_ref(mac),
        STANDARD.encode(tag)
    )
}

/// The parts of a stored record: its version, MAC reference and tag.
fn parse(stored: &str) -> Option<(Version, &str, [u8; 32])> {
    let mut parts = stored.trim().splitn(3, ':');
    let version = Version::from_prefix(parts.next()?)?;
    let macref = parts.next()?;
    let tag = STANDARD.decode(parts.next()?).ok()?;
    Some((version, macref, tag.try_into().ok()?))
}

/// The key-free part of the check: whether a stored record is present, well-formed and
/// bound to the file's current MAC (`Valid` here means "current", not "verified").
pub fn status_without_key(stored: Option<&str>, mac: &str) -> Status {
    let Some(stored) = stored.filter(|s| !s.trim().is_empty()) else {
        return Status::Missing;
    };
    match parse(stored) {
        None => Status::Malformed,
        Some((_, r, _)) if r != mac_ref(mac) => Status::Stale,
        Some(_) => Status::Valid,
    }
}

/// Checks a stored record against an encrypted document (values still encrypted).
pub fn verify(
    stored: Option<&str>,
    doc: &Document,
    binding: &Binding<'_>,
    key: &DataKey,
) -> Status {
    match status_without_key(stored, binding.mac) {
        Status::Valid => {}
        other => return other,
    }
    let Some((version, _, want)) = stored.and_then(parse) else {
        return Status::Malformed;
    };
    let got = tag_of(doc, binding, key, version);
    if bool::from(got.ct_eq(&want)) {
        Status::Valid
    } else {
        Status::Mismatch
    }
}

/// The canonical encoding, fed straight into the HMAC (no buffer).
/// (The input is gathered in a buffer and fed to the HMAC in large blocks: most pieces
/// are a few bytes, and one hash update per piece cost more than the hashing itself. Only
/// text that stands in the file in clear goes through the buffer.)
#[derive(Clone)]
struct Encoder {
    /// `None`: the encoding is only gathered in `buf` (the tokens of one part of a
    /// document, for [`Streamed`]).
    mac: Option<Keyed>,
    buf: Vec<u8>,
    mac_only_encrypted: bool,
    /// Whether an encrypted leaf enters whole (ciphertext, IV and tag: the public digest
    /// a v2 file signature covers) rather than as its type, length and tag.
    whole_ciphertexts: bool,
}

/// The size at which the buffer is fed to the HMAC.
const FLUSH_AT: usize = 64 * 1024;

impl Encoder {
    fn new(mac: Keyed, mac_only_encrypted: bool) -> Self {
        Encoder {
            mac: Some(mac),
            buf: Vec::with_capacity(FLUSH_AT + 1024),
            mac_only_encrypted,
            whole_ciphertexts: false,
        }
    }
    fn put(&mut self, b: &[u8]) {
        if let Some(mac) = self.mac.as_mut()
            && self.buf.len() + b.len() > FLUSH_AT
        {
            mac.update(&self.buf);
            self.buf.clear();
            if b.len() > FLUSH_AT {
                mac.update(b);
                return;
            }
        }
        self.buf.extend_from_slice(b);
    }
    fn finish(self) -> [u8; 32] {
        let Some(mut mac) = self.mac else {
            return [0; 32];
        };
        mac.update(&self.buf);
        mac.finalize()
    }
    fn tag(&mut self, t: u8) {
        self.put(&[t]);
    }
    fn len(&mut self, n: usize) {
        self.put(&(n as u64).to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.put(b);
    }

    fn scalar(&mut self, v: &Value) {
        match v {
            Value::Str(s) => self.text(s),
            Value::Bytes(b) => {
                self.tag(b's');
                self.bytes(b);
            }
            Value::Null => self.tag(b'N'),
            other => {
                // Int and float share a class: an integral float may be written as an
                // integer by the emitter and read back as one; its text is unchanged.
                let class = match other {
                    Value::Bool(_) => b'b',
                    Value::Time(_) => b't',
                    _ => b'n',
                };
                self.tag(class);
                if !self.mac_only_encrypted {
                    value::with_plaintext(other, |p, _t: ValueType| self.bytes(p));
                }
            }
        }
    }

    /// A string leaf as it stands in the file.
    fn text(&mut self, s: &str) {
        if self.whole_ciphertexts && enc_parts(s).is_some() {
            // Without the data key, the tag does not pin the ciphertext and the IV:
            // anyone can change them and keep the tag (the value then fails to decrypt,
            // but a key-free digest would not see it), so the public digest takes the
            // whole text.
            self.tag(b'e');
            self.bytes(s.as_bytes());
        } else if let Some((typ, data_len, tag)) = enc_parts(s) {
            // An encrypted value: its type, the length of its ciphertext and its
            // GCM tag. The tag authenticates the ciphertext and IV under the data
            // key and the value's path, so this pins the value as firmly as its
            // whole text would, at a fraction of the hashing.
            self.tag(b'e');
            self.bytes(typ.as_bytes());
            self.len(data_len);
            self.bytes(tag.as_bytes());
        } else if self.mac_only_encrypted {
            // The user asked for clear values outside the MAC (hand-editable):
            // their place and kind are covered, their text is not.
            self.tag(b'c');
        } else {
            self.tag(b's');
            self.bytes(s.as_bytes());
        }
    }
}

/// The type, the ciphertext length and the tag (as written) of an `ENC[AES256_GCM,…]`
/// text, found without decoding anything; `None` for any other text, which then enters
/// the record whole.
fn enc_parts(s: &str) -> Option<(&str, usize, &str)> {
    let rest = s.strip_prefix("ENC[AES256_GCM,data:")?;
    let body = rest.get(..crate::find::byte(b']', rest.as_bytes())?)?;
    let (before_type, typ) = rsplit_field(body, ",type:")?;
    let (before_tag, tag) = rsplit_field(before_type, ",tag:")?;
    let (data, _iv) = split_field(before_tag, ",iv:")?;
    Some((typ, data.len(), tag))
}

/// `s.rsplit_once(sep)` for a `sep` that starts with a comma, found by a byte search for
/// the commas (the ciphertext, IV and tag hold none), without building a substring
/// searcher per value.
fn rsplit_field<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let mut end = s.len();
    while let Some(p) = crate::find::rbyte(b',', &s.as_bytes()[..end]) {
        if s.as_bytes()[p..].starts_with(sep.as_bytes()) {
            return Some((&s[..p], &s[p + sep.len()..]));
        }
        end = p;
    }
    None
}

/// `s.split_once(sep)` for a `sep` that starts with a comma (see [`rsplit_field`]).
fn split_field<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let mut from = 0;
    while let Some(p) = crate::find::byte(b',', &s.as_bytes()[from..]) {
        let p = from + p;
        if s.as_bytes()[p..].starts_with(sep.as_bytes()) {
            return Some((&s[..p], &s[p + sep.len()..]));
        }
        from = p + 1;
    }
    None
}

/// One pending step of the iterative walk (no recursion: depth is bounded by the readers,
/// but the record must not be the stage that overflows the stack if it ever is not).
enum Step<'a> {
    Value(&'a Value),
    Key(&'a str),
    Close(u8),
}

/// Pushes the steps of a container's children in reverse, so that they pop in order,
/// below the marker that closes it.
fn push_map<'a>(stack: &mut Vec<Step<'a>>, m: &'a Map) {
    stack.push(Step::Close(b'm'));
    let entries: Vec<(&str, &Value)> = m.entries().collect();
    for (k, v) in entries.into_iter().rev() {
        stack.push(Step::Value(v));
        stack.push(Step::Key(k));
    }
}

fn push_seq<'a>(stack: &mut Vec<Step<'a>>, items: &'a [SeqItem]) {
    stack.push(Step::Close(b'l'));
    for item in items.iter().rev() {
        match item {
            // sops stores an encrypted comment inside a YAML list as a list item; it is a
            // comment (read back as one before decryption), so outside the record too.
            SeqItem::Value(Value::Str(s)) if crate::tree::is_encrypted_comment_text(s) => {}
            SeqItem::Value(v) => stack.push(Step::Value(v)),
            SeqItem::Comment(_) => {}
        }
    }
}

/// The encoding is a pre-order token stream in document order: `M` … `m` around a map,
/// `L` … `l` around a list, `K` and a length-prefixed key before each map value, and a
/// tagged, length-prefixed text for each leaf. Open and close markers with length-prefixed
/// texts make it unambiguous, and document order lets a streaming reader produce it
/// without building a tree.
fn tag_of(doc: &Document, binding: &Binding<'_>, key: &DataKey, version: Version) -> [u8; 32] {
    let e = Encoder::new(Keyed::record(key, version), binding.mac_only_encrypted);
    if version.binding_last() {
        encode_binding_last(e, doc, binding, version)
    } else {
        encode(e, doc, binding)
    }
}

/// Domain separation for the key-free digest.
const DIGEST_LABEL: &[u8] = b"leafseal public document digest v1";

/// A key-free digest of an encrypted document and its binding, over the same canonical
/// encoding as the record (HMAC-SHA-256 under a fixed public key, i.e. a plain hash):
/// what a file signature covers, so that anyone can check it without the data key.
/// It takes each encrypted leaf as its type, length and tag only, so it does not change
/// when a ciphertext or IV is altered in place: [`public_digest_whole`] does (what a v2
/// signature covers); this one stays for checking v1 signatures.
pub fn public_digest(doc: &Document, binding: &Binding<'_>) -> [u8; 32] {
    let mac = Keyed::public(DIGEST_LABEL);
    encode(Encoder::new(mac, binding.mac_only_encrypted), doc, binding)
}

/// [`public_digest`] with every encrypted leaf's whole text (ciphertext, IV, tag, type)
/// in place of its type, length and tag (domain-separated from it).
pub fn public_digest_whole(doc: &Document, binding: &Binding<'_>) -> [u8; 32] {
    let mac = Keyed::public(WHOLE_DIGEST_LABEL);
    let mut e = Encoder::new(mac, binding.mac_only_encrypted);
    e.whole_ciphertexts = true;
    encode(e, doc, binding)
}

/// Domain separation for [`public_digest_whole`].
const WHOLE_DIGEST_LABEL: &[u8] = b"leafseal public document digest v2 (whole ciphertexts)";

fn header(e: &mut Encoder, binding: &Binding<'_>) {
    e.bytes(keyed::SUBKEY_LABEL);
    e.bytes(binding.selector_field.as_bytes());
    e.bytes(binding.selector_pattern.as_bytes());
    e.tag(u8::from(binding.mac_only_encrypted));
    e.bytes(binding.lastmodified.trim().as_bytes());
    e.bytes(binding.mac.trim().as_bytes());
}

/// Encodes what is on the stack, in order, until it is empty.
fn drain<'a>(e: &mut Encoder, stack: &mut Vec<Step<'a>>) {
    while let Some(step) = stack.pop() {
        match step {
            Step::Close(t) => e.tag(t),
            Step::Key(k) => {
                e.tag(b'K');
                e.bytes(k.as_bytes());
            }
            Step::Value(Value::Map(m)) => {
                e.tag(b'M');
                push_map(stack, m);
            }
            Step::Value(Value::Seq(s)) => {
                e.tag(b'L');
                push_seq(stack, s);
            }
            Step::Value(other) => e.scalar(other),
        }
    }
}

/// A v1 record's input (and the public digests'): the binding, then the document.
fn encode(mut e: Encoder, doc: &Document, binding: &Binding<'_>) -> [u8; 32] {
    header(&mut e, binding);
    document(&mut e, doc);
    e.finish()
}

/// A v2 or v3 record's input: its label, the document, then the binding.
fn encode_binding_last(
    mut e: Encoder,
    doc: &Document,
    binding: &Binding<'_>,
    version: Version,
) -> [u8; 32] {
    e.bytes(version.label());
    document(&mut e, doc);
    trailer_v2(&mut e, binding);
    e.finish()
}

/// The binding at the end of a v2 or v3 record's input. The document's tokens before it end
/// with `E`, which no token inside a document is read as (every text is length-prefixed
/// and every container closed), and its fields are length-prefixed or of fixed size, so
/// the input splits one way only.
fn trailer_v2(e: &mut Encoder, binding: &Binding<'_>) {
    e.bytes(binding.selector_field.as_bytes());
    e.bytes(binding.selector_pattern.as_bytes());
    e.tag(u8::from(binding.mac_only_encrypted));
    e.bytes(binding.lastmodified.trim().as_bytes());
    e.bytes(binding.mac.trim().as_bytes());
}

/// The document's tokens: each branch as `D` and its root map, then `E`.
fn document(e: &mut Encoder, doc: &Document) {
    let mut stack: Vec<Step<'_>> = Vec::new();
    for branch in &doc.branches {
        e.tag(b'D');
        push_map(&mut stack, branch);
        e.tag(b'M');
        drain(e, &mut stack);
    }
    e.tag(b'E');
}

/// The encoding of a map's entries alone (without the markers that open and close the
/// map): one part of a document that is read in parts, fed to [`Streamed::feed`] in
/// document order. Holds only what stands in the encrypted file.
pub fn entry_tokens(m: &Map, mac_only_encrypted: bool) -> Vec<u8> {
    let mut e = Encoder {
        mac: None,
        buf: Vec::new(),
        mac_only_encrypted,
        whole_ciphertexts: false,
    };
    let mut stack: Vec<Step<'_>> = Vec::new();
    push_map(&mut stack, m);
    // Without the map's own closing marker (pushed first, so at the bottom).
    stack.remove(0);
    drain(&mut e, &mut stack);
    e.buf
}

/// The tokens of a run of entries built as a reader meets them, without a tree: the same
/// bytes as [`entry_tokens`] for the map those entries make (the caller calls these in
/// the order [`entry_tokens`] visits the map).
pub struct Tokens(Encoder);

impl Tokens {
    /// No tokens yet.
    pub fn new(mac_only_encrypted: bool) -> Self {
        Tokens(Encoder {
            mac: None,
            buf: Vec::new(),
            mac_only_encrypted,
            whole_ciphertexts: false,
        })
    }

    /// No tokens yet, written into `buf`'s allocation (emptied first).
    pub fn reusing(mut buf: Vec<u8>, mac_only_encrypted: bool) -> Self {
        buf.clear();
        Tokens(Encoder {
            mac: None,
            buf,
            mac_only_encrypted,
            whole_ciphertexts: false,
        })
    }

    /// A map key, before its value.
    pub fn key(&mut self, k: &str) {
        // Tokens are only gathered (no HMAC to feed): written straight into the buffer,
        // one reserve for the token (the per-piece `put` was 4% of a large JSON decrypt).
        direct::key(&mut self.0.buf, k.as_bytes());
    }

    /// A map value opens (`true`) or closes (`false`).
    pub fn map(&mut self, open: bool) {
        self.0.tag(if open { b'M' } else { b'm' });
    }

    /// A list value opens (`true`) or closes (`false`).
    pub fn list(&mut self, open: bool) {
        self.0.tag(if open { b'L' } else { b'l' });
    }

    /// A string leaf as it stands in the file (an `ENC[…]` text or a clear one).
    pub fn text(&mut self, s: &str) {
        self.0.text(s);
    }

    /// An `ENC[…]` string leaf from its parsed fields (the type's name, the length of the
    /// data's base64 and the tag's base64 as written): the bytes [`Tokens::text`] writes
    /// for a value that decrypts, without finding the fields again.
    pub fn encrypted(&mut self, typ: &str, data_len: usize, tag: &str) {
        direct::fields(&mut self.0.buf, typ, data_len, tag);
    }

    /// Any other leaf as it stands in the file.
    pub fn scalar(&mut self, v: &Value) {
        self.0.scalar(v);
    }

    /// The tokens.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0.buf
    }
}

/// The record's versions and the keyed hash of each.
#[path = "integrity_keyed.rs"]
mod keyed;

/// The record computed from a document's parts in document order, without the whole
/// tree.
#[path = "integrity_streamed.rs"]
mod streamed;

pub use streamed::Streamed;

/// Token writers for a part read without a tree (the direct YAML path of
/// `crate::stream`): the same bytes [`entry_tokens`] writes for the same items.
#[path = "integrity_direct.rs"]
pub mod direct;

#[cfg(test)]
#[path = "integrity_tests.rs"]
mod tests;
