//! Encrypting and decrypting a whole document: every leaf the selector picks, the
//! comments, and the MAC over the leaves.

use zeroize::Zeroizing;

use crate::crypto::CryptoError;
use crate::crypto::DataKey;
use crate::crypto::mac::MacHasher;
use crate::crypto::nonces::NonceStash;
use crate::crypto::value;
use crate::crypto::value::EncFields;
use crate::crypto::value::EncValue;
use crate::crypto::value::ValueCipher;
use crate::crypto::value::ValueType;
use crate::tree::Bytes;
use crate::tree::Document;
use crate::tree::Text;
use crate::tree::Value;
use crate::walk;
use crate::walk::Direction;
use crate::walk::Leaf;
use crate::walk::LeafInfo;
use crate::walk::Selector;

/// A value that could not be encrypted or decrypted. Carries the key path, never a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// The cipher failed on the value at this path.
    #[error("the value at path `{path}` could not be decrypted: {source}")]
    Value {
        /// The AAD path of the value.
        path: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
    /// The comment at this path is `ENC[...]` but does not decrypt.
    #[error("an encrypted comment at path `{path}` could not be decrypted: {source}")]
    Comment {
        /// The AAD path of the comment.
        path: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
    /// A value the selector says is encrypted is stored in clear.
    #[error(
        "the value at path `{path}` should be encrypted but is stored in clear ({kind}); the file was edited by hand or tampered with"
    )]
    NotEncrypted {
        /// The AAD path of the value.
        path: String,
        /// The kind of value found.
        kind: &'static str,
    },
    /// Encryption failed (random generator).
    #[error("encrypting the value at path `{path}` failed: {source}")]
    Encrypt {
        /// The AAD path of the value.
        path: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
    /// A decryption worker thread failed (a poisoned lock); nothing is trusted.
    #[error("internal error: a decryption worker failed; the file was not decrypted")]
    Worker,
}

/// What decryption found besides the plaintext.
#[derive(Debug, Default)]
pub struct Decrypted {
    /// The MAC recomputed over the decrypted leaves (upper-case hex).
    pub mac: String,
    /// Comments that were kept as they are because they were never encrypted.
    pub clear_comments: usize,
}

/// Encrypts, in place, every leaf and comment the selector picks, and returns the MAC
/// over the plaintext leaves. With a stash, unchanged (path, plaintext) pairs reuse their
/// previous nonce — only valid with the same data key the stash was filled with.
pub fn encrypt_document(
    doc: &mut Document,
    key: &DataKey,
    sel: &Selector,
    mac_only_encrypted: bool,
    stash: Option<&NonceStash>,
) -> Result<String, DocumentError> {
    let mut mac = MacHasher::new(mac_only_encrypted);
    let cipher = ValueCipher::new(key);
    let mut cursor = stash.map(NonceStash::cursor);
    walk::walk(doc, sel, Direction::Encrypting, &mut |info, leaf| {
        let mut seal = |plain: &[u8], typ: ValueType| -> Result<String, DocumentError> {
            let iv = cursor
                .as_mut()
                .and_then(|c| c.next(info.aad.as_bytes(), typ, plain));
            value::seal_with(&cipher, plain, info.aad.as_bytes(), typ, iv)
                .map(|e| e.render())
                .map_err(|source| DocumentError::Encrypt {
                    path: info.aad.to_owned(),
                    source,
                })
        };
        match leaf {
            Leaf::Value(v) => {
                let Some((plain, typ)) = value::plaintext_of(v) else {
                    return Ok(());
                };
                if !mac_only_encrypted || info.encrypt {
                    mac.update(&plain);
                }
                if info.encrypt && !plain.is_empty() {
                    *v = Value::Str(Text::from(seal(&plain, typ)?));
                }
            }
            Leaf::Comment(c) => {
                if info.encrypt && !c.text.is_empty() {
                    c.text = Text::from(seal(c.text.as_bytes(), ValueType::Comment)?);
                }
            }
        }
        Ok(())
    })?;
    Ok(mac.finish())
}

/// Where MAC input goes: straight into the hash, or into a buffer that is hashed later, in
/// walk order, when parts of the document are decrypted in parallel.
enum MacSink {
    Hash(MacHasher),
    Buffer(MacChunks),
}

/// MAC input kept for later hashing, in fixed-capacity chunks: a growing `Vec` would
/// leave copies of the plaintext in the memory it frees when it reallocates.
#[derive(Default)]
struct MacChunks(Vec<Zeroizing<Vec<u8>>>);

impl MacChunks {
    const CHUNK: usize = 64 * 1024;

    fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.0.last().map_or(0, |c| c.capacity() - c.len());
            if room == 0 {
                self.0.push(Zeroizing::new(Vec::with_capacity(Self::CHUNK)));
                continue;
            }
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            if let Some(c) = self.0.last_mut() {
                c.extend_from_slice(now);
            }
            bytes = rest;
        }
    }
}

impl MacSink {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            MacSink::Hash(h) => h.update(bytes),
            MacSink::Buffer(b) => b.extend(bytes),
        }
    }
}

/// Decrypts leaves one at a time, as the walker hands them over.
struct LeafDecryptor<'a> {
    cipher: &'a ValueCipher,
    mac_only_encrypted: bool,
    mac: MacSink,
    stash: Option<NonceStash>,
    clear_comments: usize,
    /// Reused for every value's plaintext; wiped on drop.
    scratch: Zeroizing<Vec<u8>>,
}

impl LeafDecryptor<'_> {
    fn visit(&mut self, info: LeafInfo<'_>, leaf: Leaf<'_>) -> Result<(), DocumentError> {
        match leaf {
            Leaf::Value(v) => {
                if matches!(v, Value::Null) {
                    return Ok(());
                }
                if info.encrypt {
                    let text = match v {
                        Value::Str(s) if s.is_empty() => return Ok(()),
                        Value::Str(s) => s,
                        other => {
                            return Err(DocumentError::NotEncrypted {
                                path: info.aad.to_owned(),
                                kind: other.kind_name(),
                            });
                        }
                    };
                    if !value::is_encrypted(text) {
                        return Err(DocumentError::NotEncrypted {
                            path: info.aad.to_owned(),
                            kind: "string",
                        });
                    }
                    let err = |source| DocumentError::Value {
                        path: info.aad.to_owned(),
                        source,
                    };
                    let f = EncFields::parse(text).map_err(err)?;
                    let typ = if f.typ == ValueType::Comment {
                        ValueType::Str
                    } else {
                        f.typ
                    };
                    let iv = f.iv;
                    f.open_into(self.cipher, info.aad.as_bytes(), &mut self.scratch)
                        .map_err(err)?;
                    let plain: &[u8] = &self.scratch;
                    match (typ, std::str::from_utf8(plain)) {
                        (ValueType::Str | ValueType::Bytes, Ok(p)) => {
                            // The plaintext is shorter than its `ENC[...]` text: it goes into
                            // that string's own buffer, so nothing is allocated or freed (a
                            // free on another thread than the allocating one is costly).
                            let s = text.as_mut_string();
                            s.clear();
                            s.push_str(p);
                        }
                        (ValueType::Str | ValueType::Bytes, Err(_)) => {
                            *v = Value::Bytes(Bytes::new(plain.to_vec()));
                        }
                        _ => *v = value::value_from_plaintext(plain, typ).map_err(err)?,
                    }
                    if let Some(s) = self.stash.as_mut() {
                        value::with_plaintext(v, |canon, ctyp| {
                            s.remember(info.aad.as_bytes(), ctyp, canon, iv)
                        });
                    }
                }
                if !self.mac_only_encrypted || info.encrypt {
                    let mac = &mut self.mac;
                    value::with_plaintext(v, |plain, _| mac.update(plain));
                }
            }
            Leaf::Comment(c) => {
                if !info.encrypt || !value::is_encrypted(&c.text) {
                    if info.encrypt && !c.text.is_empty() {
                        self.clear_comments += 1;
                    }
                    return Ok(());
                }
                let err = |source| DocumentError::Comment {
                    path: info.aad.to_owned(),
                    source,
                };
                let enc = EncValue::parse(&c.text).map_err(err)?;
                let plain =
                    value::open_with(self.cipher, &enc, info.aad.as_bytes()).map_err(err)?;
                let text = String::from_utf8(plain.to_vec())
                    .map_err(|_| err(CryptoError::BadPlaintext("comment")))?;
                if let Some(s) = self.stash.as_mut() {
                    s.remember(
                        info.aad.as_bytes(),
                        ValueType::Comment,
                        text.as_bytes(),
                        enc.iv,
                    );
                }
                c.text = Text::from(text);
            }
        }
        Ok(())
    }
}

/// Decrypts, in place, every leaf and comment the selector picks, filling the stash with
/// the nonces seen, and returns the recomputed MAC. Large documents are decrypted on all
/// cores (see [`parallel`]); the result is the same as a sequential walk.
pub fn decrypt_document(
    doc: &mut Document,
    key: &DataKey,
    sel: &Selector,
    mac_only_encrypted: bool,
    stash: Option<&mut NonceStash>,
) -> Result<Decrypted, DocumentError> {
    let cipher = ValueCipher::new(key);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads > 1
        && !sel.is_comment_based()
        && let Some(result) = parallel::decrypt(
            doc,
            &cipher,
            sel,
            mac_only_encrypted,
            stash.is_some(),
            threads,
        )
    {
        let (dec, local) = result?;
        if let (Some(s), Some(local)) = (stash, local) {
            s.append(local);
        }
        return Ok(dec);
    }
    decrypt_sequential(doc, &cipher, sel, mac_only_encrypted, stash)
}

/// The plain one-thread walk.
fn decrypt_sequential(
    doc: &mut Document,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
    stash: Option<&mut NonceStash>,
) -> Result<Decrypted, DocumentError> {
    let mut d = LeafDecryptor {
        cipher,
        mac_only_encrypted,
        mac: MacSink::Hash(MacHasher::new(mac_only_encrypted)),
        stash: stash.is_some().then(NonceStash::new),
        clear_comments: 0,
        scratch: Zeroizing::new(Vec::new()),
    };
    walk::walk(doc, sel, Direction::Decrypting, &mut |info, leaf| {
        d.visit(info, leaf)
    })?;
    if let (Some(s), Some(local)) = (stash, d.stash.take()) {
        s.append(local);
    }
    let mac = match d.mac {
        MacSink::Hash(h) => h.finish(),
        MacSink::Buffer(_) => String::new(),
    };
    Ok(Decrypted {
        mac,
        clear_comments: d.clear_comments,
    })
}

/// Parallel decryption of one large document: the walk is cut into independent runs
/// (top-level items before the largest top-level map or list, that container's elements
/// in equal chunks, the top-level items after it); each run is decrypted on its own
/// thread into its own MAC buffer and stash, and the parts are joined in walk order.
mod parallel {
    use super::*;
    use crate::tree::Item;
    use crate::tree::SeqItem;

    /// Below this many elements in the largest container, threads do not pay off.
    const MIN_ITEMS: usize = 2048;

    enum Run<'t> {
        Items(&'t mut [Item], String, bool),
        Seq(&'t mut [SeqItem], String, bool),
    }

    type Part = Result<(MacChunks, Option<NonceStash>, usize), DocumentError>;

    /// The decrypted parts by run, and how many workers are still running.
    struct Slots {
        parts: Vec<Option<Part>>,
        workers: usize,
    }

    /// Counts a worker out when it ends, also when it ends by a panic, so that the thread
    /// hashing the parts never waits for one that nobody will deliver.
    struct Leaving<'a> {
        slots: &'a std::sync::Mutex<Slots>,
        ready: &'a std::sync::Condvar,
    }

    impl Drop for Leaving<'_> {
        fn drop(&mut self) {
            let mut g = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            g.workers = g.workers.saturating_sub(1);
            drop(g);
            self.ready.notify_all();
        }
    }

    pub(super) fn decrypt(
        doc: &mut Document,
        cipher: &ValueCipher,
        sel: &Selector,
        mac_only_encrypted: bool,
        keep_stash: bool,
        threads: usize,
    ) -> Option<Result<(Decrypted, Option<NonceStash>), DocumentError>> {
        let [branch] = doc.branches.as_mut_slice() else {
            return None;
        };
        let len_of = |v: &Value| match v {
            Value::Map(m) => m.0.len(),
            Value::Seq(s) => s.len(),
            _ => 0,
        };
        let (big, size) = branch
            .0
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match it {
                Item::Entry(_, v) => Some((i, len_of(v))),
                Item::Comment(_) => None,
            })
            .max_by_key(|&(_, n)| n)?;
        if size < MIN_ITEMS {
            return None;
        }
        let (before, rest) = branch.0.split_at_mut(big);
        let (middle, after) = rest.split_first_mut()?;
        let Item::Entry(key, value) = middle else {
            return None;
        };
        let prefix = format!("{key}:");
        let matched = sel.component_matches(key);
        let chunk = size.div_ceil(threads * 4).max(256);
        let mut runs = vec![Run::Items(before, String::new(), false)];
        match value {
            Value::Map(m) => {
                for c in m.0.chunks_mut(chunk) {
                    runs.push(Run::Items(c, prefix.clone(), matched));
                }
            }
            Value::Seq(s) => {
                for c in s.chunks_mut(chunk) {
                    runs.push(Run::Seq(c, prefix.clone(), matched));
                }
            }
            _ => return None,
        }
        runs.push(Run::Items(after, String::new(), false));

        // Workers take runs in order and leave each result in its slot; this thread hashes
        // the MAC parts in walk order as they arrive, overlapping SHA-512 with decryption.
        let total = runs.len();
        let slots = std::sync::Mutex::new(Slots {
            parts: (0..total).map(|_| None).collect(),
            workers: threads,
        });
        let ready = std::sync::Condvar::new();
        let queue = std::sync::Mutex::new(runs.into_iter().enumerate());
        let mut mac = MacHasher::new(mac_only_encrypted);
        let mut stash = keep_stash.then(NonceStash::new);
        let mut clear_comments = 0;
        let mut failed = Some(DocumentError::Worker);
        std::thread::scope(|s| {
            for _ in 0..threads {
                let work = || {
                    let _leaving = Leaving {
                        slots: &slots,
                        ready: &ready,
                    };
                    loop {
                        let next = queue.lock().ok().and_then(|mut q| q.next());
                        let Some((i, run)) = next else { break };
                        let part = run_one(run, cipher, sel, mac_only_encrypted, keep_stash);
                        if let Ok(mut slots) = slots.lock()
                            && let Some(slot) = slots.parts.get_mut(i)
                        {
                            *slot = Some(part);
                        }
                        ready.notify_one();
                    }
                };
                if std::thread::Builder::new().spawn_scoped(s, work).is_err()
                    && let Ok(mut g) = slots.lock()
                {
                    // One worker fewer; the others (or none) take the runs.
                    g.workers -= 1;
                }
            }
            for i in 0..total {
                let part = {
                    let Ok(mut guard) = slots.lock() else { return };
                    loop {
                        let gone = guard.workers == 0;
                        match guard.parts.get_mut(i).map(Option::take) {
                            Some(Some(part)) => break part,
                            // Every worker ended without delivering this part (no thread
                            // could be started, or one died): fail, never wait forever.
                            Some(None) if gone => return,
                            Some(None) => match ready.wait(guard) {
                                Ok(g) => guard = g,
                                Err(_) => return,
                            },
                            None => return,
                        }
                    }
                };
                match part {
                    Err(e) => {
                        // Stop handing out work; the workers finish their current run.
                        if let Ok(mut q) = queue.lock() {
                            q.by_ref().for_each(drop);
                        }
                        failed = Some(e);
                        return;
                    }
                    Ok((bytes, local, clear)) => {
                        for c in &bytes.0 {
                            mac.update(c);
                        }
                        if let (Some(s), Some(l)) = (stash.as_mut(), local) {
                            s.append(l);
                        }
                        clear_comments += clear;
                    }
                }
            }
            // Every part arrived and was hashed in order.
            failed = None;
        });
        if let Some(e) = failed {
            return Some(Err(e));
        }
        Some(Ok((
            Decrypted {
                mac: mac.finish(),
                clear_comments,
            },
            stash,
        )))
    }

    fn run_one(
        run: Run<'_>,
        cipher: &ValueCipher,
        sel: &Selector,
        mac_only_encrypted: bool,
        keep_stash: bool,
    ) -> Part {
        let mut d = LeafDecryptor {
            cipher,
            mac_only_encrypted,
            mac: MacSink::Buffer(MacChunks::default()),
            stash: keep_stash.then(NonceStash::new),
            clear_comments: 0,
            scratch: Zeroizing::new(Vec::new()),
        };
        let dir = Direction::Decrypting;
        let mut f = |info: LeafInfo<'_>, leaf: Leaf<'_>| d.visit(info, leaf);
        match run {
            Run::Items(items, prefix, m) => {
                walk::walk_map_items(items, &prefix, m, sel, dir, &mut f)?
            }
            Run::Seq(items, prefix, m) => {
                walk::walk_seq_items(items, &prefix, m, sel, dir, &mut f)?
            }
        }
        let bytes = match d.mac {
            MacSink::Buffer(b) => b,
            MacSink::Hash(_) => MacChunks::default(),
        };
        Ok((bytes, d.stash, d.clear_comments))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Comment;
    use crate::tree::Map;
    use crate::tree::SeqItem;

    fn sample() -> Document {
        let mut m = Map::new();
        m.push_comment(Comment::line(" hello"));
        m.push("s", Value::str("secret"));
        m.push("i", Value::Int(-42));
        m.push("f", Value::Float(1.5));
        m.push("b", Value::Bool(true));
        m.push("e", Value::str(""));
        m.push("n", Value::Null);
        m.push("x_unencrypted", Value::Int(5));
        m.push(
            "l",
            Value::Seq(vec![
                SeqItem::Value(Value::str("a")),
                SeqItem::Value(Value::Int(1)),
            ]),
        );
        Document::single(m)
    }

    /// A document large enough for the parallel path, with comments, lists and clear values.
    fn big() -> Document {
        let mut services = Map::new();
        for i in 0..5000 {
            let mut svc = Map::new();
            if i % 7 == 0 {
                svc.push_comment(Comment::line(format!(" service {i}")));
            }
            svc.push("name", Value::str(format!("svc-{i}")));
            svc.push("port", Value::Int(i));
            svc.push("ratio_unencrypted", Value::Float(i as f64 / 3.0));
            svc.push(
                "tags",
                Value::Seq(vec![
                    SeqItem::Value(Value::str("same")),
                    SeqItem::Value(Value::str("same")),
                ]),
            );
            services.push(format!("s{i}"), Value::Map(svc));
        }
        let mut top = Map::new();
        top.push("version", Value::Int(3));
        top.push("services", Value::Map(services));
        top.push("tail", Value::str("end"));
        Document::single(top)
    }

    #[test]
    fn mac_chunks_keep_every_byte_in_order_without_reallocating() {
        let mut c = MacChunks::default();
        let mut all = Vec::new();
        for i in 0..5000u32 {
            let piece: Vec<u8> = (0..(i % 97) * 3).map(|j| (i + j) as u8).collect();
            c.extend(&piece);
            all.extend_from_slice(&piece);
        }
        assert!(c.0.len() > 2, "several chunks");
        assert!(c.0.iter().all(|ch| ch.capacity() == MacChunks::CHUNK));
        let joined: Vec<u8> = c.0.iter().flat_map(|ch| ch.iter().copied()).collect();
        assert_eq!(joined, all);
    }

    #[test]
    fn parallel_decryption_equals_sequential() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        for mac_only in [false, true] {
            let mut enc = big();
            let mac = encrypt_document(&mut enc, &key, &sel, mac_only, None).expect("enc");
            let (mut a, mut b) = (enc.clone(), enc.clone());
            let (mut sa, mut sb) = (NonceStash::new(), NonceStash::new());
            let cipher = ValueCipher::new(&key);
            let pa = parallel::decrypt(&mut a, &cipher, &sel, mac_only, true, 2)
                .expect("parallel path taken")
                .expect("decrypts");
            sa.append(pa.1.expect("stash"));
            let sb_out = decrypt_sequential(&mut b, &cipher, &sel, mac_only, Some(&mut sb))
                .expect("decrypts");
            assert_eq!(pa.0.mac, mac);
            assert_eq!(sb_out.mac, mac);
            assert_eq!(a, big());
            assert_eq!(b, big());
            assert!(sa == sb, "same stash in the same order");
        }
    }

    #[test]
    fn parallel_decryption_reports_the_failing_path() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        let mut enc = big();
        encrypt_document(&mut enc, &key, &sel, false, None).expect("enc");
        let Some(Value::Map(services)) = enc.branches[0].get_mut("services") else {
            panic!("services")
        };
        let Some(Value::Map(svc)) = services.get_mut("s4321") else {
            panic!("s4321")
        };
        *svc.get_mut("port").expect("port") = Value::Int(1);
        let err = decrypt_document(&mut enc, &key, &sel, false, None).expect_err("tampered");
        assert!(
            matches!(err, DocumentError::NotEncrypted { ref path, .. } if path == "services:s4321:port:"),
            "{err}"
        );
    }

    #[test]
    fn round_trip_and_mac_agree() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        let mut doc = sample();
        let mac1 = encrypt_document(&mut doc, &key, &sel, false, None).expect("enc");
        let m = &doc.branches[0];
        assert!(
            m.get("s")
                .and_then(Value::as_str)
                .is_some_and(value::is_encrypted)
        );
        assert_eq!(m.get("e"), Some(&Value::str("")));
        assert_eq!(m.get("x_unencrypted"), Some(&Value::Int(5)));
        let mut stash = NonceStash::new();
        let dec = decrypt_document(&mut doc, &key, &sel, false, Some(&mut stash)).expect("dec");
        assert_eq!(dec.mac, mac1);
        assert_eq!(doc, sample());
        // Re-encrypting with the stash reproduces the same ciphertext.
        let mut a = sample();
        let mut b = sample();
        encrypt_document(&mut a, &key, &sel, false, Some(&stash)).expect("enc");
        encrypt_document(&mut b, &key, &sel, false, Some(&stash)).expect("enc");
        assert_eq!(a, b);
    }

    #[test]
    fn moved_value_fails() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        let mut doc = sample();
        encrypt_document(&mut doc, &key, &sel, false, None).expect("enc");
        let s = doc.branches[0].get("s").cloned().expect("s");
        *doc.branches[0].get_mut("i").expect("i") = s;
        let err = decrypt_document(&mut doc, &key, &sel, false, None).expect_err("must fail");
        assert!(matches!(err, DocumentError::Value { ref path, .. } if path == "i:"));
    }

    #[test]
    fn clear_value_where_encrypted_expected_fails() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        let mut doc = sample();
        encrypt_document(&mut doc, &key, &sel, false, None).expect("enc");
        *doc.branches[0].get_mut("i").expect("i") = Value::Int(7);
        let err = decrypt_document(&mut doc, &key, &sel, false, None).expect_err("must fail");
        assert!(matches!(err, DocumentError::NotEncrypted { .. }));
    }

    #[test]
    fn mac_only_encrypted_ignores_clear_values() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        let mut a = sample();
        let mut b = sample();
        *b.branches[0].get_mut("x_unencrypted").expect("x") = Value::Int(6);
        let ma = encrypt_document(&mut a, &key, &sel, true, None).expect("enc");
        let mb = encrypt_document(&mut b, &key, &sel, true, None).expect("enc");
        assert_eq!(ma, mb);
        let mut c = sample();
        let mut d = sample();
        *d.branches[0].get_mut("x_unencrypted").expect("x") = Value::Int(6);
        let mc = encrypt_document(&mut c, &key, &sel, false, None).expect("enc");
        let md = encrypt_document(&mut d, &key, &sel, false, None).expect("enc");
        assert_ne!(mc, md);
    }
}
