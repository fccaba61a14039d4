//! Differential targets for the write commands on encrypted files of every format
//! (`write_yaml`, `write_json`, `write_toml`, `write_dotenv`, `write_ini`, `write_binary`),
//! through the library's operations layer. Each input (a valid or tampered encrypted
//! file) goes through:
//!
//! * `rotate` (a new data key): the rotated file decrypts to the plaintext the input
//!   decrypted to, or rotate refuses exactly when `decrypt` refuses (same exit code);
//! * `updatekeys` with the file's own key groups and threshold: a no-op (the command then
//!   writes nothing, so the bytes stay identical);
//! * the `edit` seal: one value changed, a key added or one removed in the decrypted
//!   document, sealed as `edit` seals after the editor (whole tree, with the stash); for
//!   YAML also the checkpoint path (`open_for_edit`, `EditSession::seal_file` on the edited
//!   text in a file). Each written file decrypts to exactly the edited document, and the
//!   checkpoint path's file to the same plaintext as the whole-tree seal's;
//! * `set`/`unset` of a random path (existing values, new keys, list indexes, new nested
//!   maps, keys with brackets, quotes, dots): the written file decrypts to the document
//!   with that change made. (Splice against tree for YAML: the `splice` target.)
//! * for YAML and JSON, the streamed `encrypt` (tiny parts) of the plaintext the input
//!   decrypted to: when it takes the text, what it writes decrypts to what the
//!   whole-tree encrypt's file decrypts to.
//!
//! A file leafseal wrote that it cannot read back, or a disagreement, panics after
//! printing what differed (so the input is kept, as a crash's is).

use std::fs::File;

use leafseal::format::EmitOptions;
use leafseal::format::Format;
use leafseal::keys::KeyContext;
use leafseal::lifecycle;
use leafseal::lifecycle::KeyChanges;
use leafseal::lifecycle::splice::EditInput;
use leafseal::lifecycle::splice::EditOpen;
use leafseal::lifecycle::splice::FileSeal;
use leafseal::ops;
use leafseal::ops::OpenOptions;
use leafseal::ops::Opened;
use leafseal::stream;
use leafseal::tree::Document;
use leafseal::tree::Value;
use leafseal::treepath;
use leafseal::treepath::Step;

use super::Changed;
use super::Edit;
use super::MESSAGE_NOTES;
use super::NAME;
use super::Outcome;
use super::Rng;
use super::context;
use super::refusal;
use super::show;
use super::tree_change;
use super::tree_decrypt;

/// The targets, one per format.
pub const TARGETS: &[&str] = &[
    "write_yaml",
    "write_json",
    "write_toml",
    "write_dotenv",
    "write_ini",
    "write_binary",
];

/// The format of a `write_*` target.
pub fn format_of(target: &str) -> Option<Format> {
    Some(match target {
        "write_yaml" => Format::Yaml,
        "write_json" => Format::Json,
        "write_toml" => Format::Toml,
        "write_dotenv" => Format::Dotenv,
        "write_ini" => Format::Ini,
        "write_binary" => Format::Binary,
        _ => return None,
    })
}

fn finding(what: &str, input: &[u8], detail: &str) -> ! {
    eprintln!(
        "FINDING ({what})\n--- input\n{}\n{detail}",
        String::from_utf8_lossy(input)
    );
    panic!("{what}");
}

/// Opens the input as the write commands do (the whole tree, the data key recovered).
fn open(fmt: Format, input: &[u8], ctx: &KeyContext) -> Option<Opened> {
    let loaded = ops::read_encrypted(input, NAME, fmt).ok()?;
    ops::open_with_key(loaded, ctx, &OpenOptions::default(), None).ok()
}

/// The plaintext a file decrypts to, as `decrypt` prints it.
fn plain_of(fmt: Format, doc: &Document) -> Result<Vec<u8>, (i32, String)> {
    ops::render_plain(doc, None, fmt, &EmitOptions::default())
        .map(|o| o.to_vec())
        .map_err(refusal)
}

/// `before` and `after` (a file leafseal wrote) decrypt alike: same plaintext, or both
/// refused with the same exit code.
fn same_plaintext(what: &str, input: &[u8], before: &Outcome, after: &Outcome) {
    match (before, after) {
        (Ok((a, _)), Ok((b, _))) if a == b => {}
        (Err((ca, _)), Err((cb, _))) if ca == cb => {}
        _ => finding(
            what,
            input,
            &format!("--- before\n{}\n--- after\n{}", show(before), show(after)),
        ),
    }
}

fn rotate_check(fmt: Format, input: &[u8], before: &Outcome, ctx: &KeyContext) {
    let rotated = (|| {
        let loaded = ops::load_encrypted(fmt, input, NAME).map_err(refusal)?;
        let mut opened =
            ops::open_for_reading(loaded, ctx, &OpenOptions::default()).map_err(refusal)?;
        let (meta, _) =
            lifecycle::rotate(&mut opened, &KeyChanges::default(), ctx, fmt).map_err(refusal)?;
        ops::emit_encrypted(fmt, &opened.doc, &meta, &EmitOptions::default())
            .map(|o| o.to_vec())
            .map_err(refusal)
    })();
    match (before, rotated) {
        (_, Ok(out)) => {
            let after = tree_decrypt(fmt, &out, ctx, None);
            same_plaintext(
                "rotate: the rotated file decrypts otherwise",
                input,
                before,
                &after,
            );
        }
        // A key of the file this machine cannot wrap for (the PGP keys of the sops
        // fixtures: no public key ring here; a recipient changed by the attacker): rotate
        // stops there, before `decrypt` would have failed to write the plaintext out.
        // An age recipient that does not parse (one without `recipient` is the empty
        // recipient) stops it with exit 1, as in sops (round 26; 23 before).
        (_, Err((code, msg)))
            if (code == leafseal::error::exit::ERROR_ENCRYPTING_TREE
                || code == leafseal::error::exit::GENERIC)
                && msg.starts_with("could not encrypt the data key for") => {}
        (Ok(_), Err((code, msg))) => finding(
            "rotate refused a file decrypt reads",
            input,
            &format!("--- rotate: exit {code}: {msg}"),
        ),
        (Err((ca, ma)), Err((cb, mb))) => {
            if *ca != cb {
                finding(
                    "rotate and decrypt refuse with other exit codes",
                    input,
                    &format!("--- decrypt: exit {ca}: {ma}\n--- rotate: exit {cb}: {mb}"),
                );
            }
            if *ma != mb {
                MESSAGE_NOTES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

fn updatekeys_check(fmt: Format, input: &[u8]) {
    let Ok(loaded) = ops::load_encrypted(fmt, input, NAME) else {
        return;
    };
    let Ok(meta) = ops::metadata_of(&loaded) else {
        return;
    };
    let own = lifecycle::current_groups(&meta.key_groups);
    let plan = lifecycle::plan_update(&meta, &own, None, meta.shamir_threshold);
    if !plan.is_noop() {
        finding(
            "updatekeys: the file's own groups are not a no-op",
            input,
            &format!(
                "--- threshold {} -> {}, diffs {:?}",
                plan.old_threshold,
                plan.new_threshold,
                plan.diffs
                    .iter()
                    .map(|d| (d.added.len(), d.removed.len()))
                    .collect::<Vec<_>>()
            ),
        );
    }
}

/// Paths to change: the document's scalars, its lists (an index inside, the one past the
/// end, one far beyond), and new keys: nested, with brackets, quotes, dots, unicode.
pub fn pick_path(doc: Option<&Document>, rng: &mut Rng) -> Vec<Step> {
    let mut paths = Vec::new();
    if let Some(d) = doc {
        super::scalar_paths(d, &mut paths);
    }
    let extra: Vec<Vec<Step>> = {
        let k = |s: &str| Step::Key(s.to_owned());
        let mut v = vec![
            vec![k("new")],
            vec![k("new"), k("nested"), k("deep")],
            vec![k("a[b]")],
            vec![k("it's \"quoted\"")],
            vec![k("x.y"), k("z")],
            vec![k("é ✓")],
            vec![k("list"), Step::Index(0)],
        ];
        if let Some(p) = paths.get(rng.below(paths.len().max(1))).cloned() {
            let mut parent = p.clone();
            if let Some(Step::Index(i)) = parent.pop() {
                let mut past = parent.clone();
                past.push(Step::Index(i + 1 + rng.below(3)));
                v.push(past);
                parent.push(Step::Index(i + 40));
                v.push(parent);
            } else {
                let mut child = p;
                child.push(k("under"));
                v.push(child);
            }
        }
        // A path in the form the user types.
        let typed = ["[\"w\\\"x\"][\"y\"]", "['s']['t']", "[\"a\"][0][\"b\"]"];
        if let Ok(p) = treepath::parse(typed[rng.below(typed.len())]) {
            v.push(p);
        }
        v
    };
    paths.extend(extra);
    paths.swap_remove(rng.below(paths.len()))
}

/// A value to set: a scalar of each kind, a map or a list.
pub fn write_value(rng: &mut Rng) -> Value {
    let json: &[u8] = match rng.below(8) {
        0 => b"{\"k\": [1, \"x\", {\"z\": null}]}",
        1 => b"[true, 2.5, \"s\"]",
        2 => b"{}",
        _ => b"\"\"",
    };
    match rng.below(8) {
        0 => Value::Int(rng.next() as i64),
        1 => Value::Bool(false),
        2 => Value::str("é new\nline \"q\" = ; #"),
        3 => Value::Null,
        4 => Value::Float(0.5),
        5 | 6 => lifecycle::parse_set_value(json).unwrap_or(Value::Null),
        _ => Value::str("changed"),
    }
}

/// The edit: a value changed, a key added, or one removed.
fn pick_change(doc: &Document, rng: &mut Rng) -> Edit {
    let path = pick_path(Some(doc), rng);
    match rng.below(3) {
        0 => Edit::Unset(path),
        _ => Edit::Set(path, write_value(rng)),
    }
}

/// Makes `edit` in `doc`; `false` when the path does not allow it.
fn apply(doc: &mut Document, edit: &Edit) -> bool {
    match edit {
        Edit::Set(p, v) => treepath::set(doc, p, v.clone()).is_ok(),
        Edit::Unset(p) => treepath::unset(doc, p).is_some(),
    }
}

/// A temporary file holding `bytes`, opened for reading.
fn temp_file(tag: &str, bytes: &[u8]) -> Option<File> {
    let path = std::env::temp_dir().join(format!(
        "leafseal-fuzz-{}-{:?}-{tag}",
        std::process::id(),
        std::thread::current().id()
    ));
    let f = std::fs::write(&path, bytes).and_then(|()| File::open(&path));
    let _ = std::fs::remove_file(&path);
    f.ok()
}

fn edit_check(fmt: Format, input: &[u8], rng: &mut Rng) -> bool {
    let ctx = context(&[]);
    let Some(mut opened) = open(fmt, input, &ctx) else {
        return false;
    };
    let emit = EmitOptions::default();
    let change = pick_change(&opened.doc, rng);
    let mut edited = opened.doc.clone();
    if !apply(&mut edited, &change) {
        return false;
    }
    // What the editor shows and the user saves, read back as `edit` reads it.
    let Ok(text) = ops::emit_plain(fmt, &edited, None, &emit) else {
        return false;
    };
    let mut doc = match ops::read_edited(&text, fmt, NAME, false) {
        Ok(d) => d,
        Err(e) => finding(
            "edit: the plaintext leafseal gives the editor does not read back",
            input,
            &format!(
                "--- text\n{}\n--- error {}: {}",
                String::from_utf8_lossy(&text),
                e.code,
                e.message
            ),
        ),
    };
    let expected = plain_of(fmt, &doc);
    let Ok(map) = ops::reseal(
        &mut doc,
        &mut opened.meta,
        &opened.key,
        Some(&opened.stash),
        fmt,
    ) else {
        return false;
    };
    let Ok(out) = ops::emit_encrypted(fmt, &doc, &map, &emit) else {
        return false;
    };
    let sealed = tree_decrypt(fmt, &out, &ctx, None);
    match (&expected, &sealed) {
        (Ok(e), Ok((s, _))) if e == s => {}
        _ => finding(
            "edit: the sealed file does not decrypt to the edited document",
            input,
            &format!(
                "--- edited text\n{}\n--- written\n{}\n--- decrypted\n{}",
                String::from_utf8_lossy(&text),
                String::from_utf8_lossy(&out),
                show(&sealed)
            ),
        ),
    }
    if fmt == Format::Yaml {
        checkpoint_check(input, &opened_plain(fmt, input, &ctx), &text, &sealed, rng);
    }
    true
}

/// The plaintext of the input as the whole-tree `edit` shows it.
fn opened_plain(fmt: Format, input: &[u8], ctx: &KeyContext) -> Option<Vec<u8>> {
    let o = open(fmt, input, ctx)?;
    ops::emit_plain(fmt, &o.doc, None, &EmitOptions::default())
        .ok()
        .map(|t| t.to_vec())
}

/// The streamed `edit` (YAML): opened from a file in parts, the edited `text` sealed
/// into the changed part with the MAC hashed from the checkpoint before it.
fn checkpoint_check(
    input: &[u8],
    tree_plain: &Option<Vec<u8>>,
    text: &[u8],
    sealed: &Outcome,
    rng: &mut Rng,
) {
    let mut vars = super::settings(rng);
    vars.push((stream::SPLICE_ENV, "always".to_owned()));
    let ctx = context(&vars);
    let emit = EmitOptions::default();
    let (Some(file), Some(edited)) = (temp_file("in", input), temp_file("edited", text)) else {
        return;
    };
    let Some(src) = EditInput::of(&file) else {
        return;
    };
    let mut session = match lifecycle::splice::open_for_edit(
        src,
        Format::Yaml,
        &ctx,
        &OpenOptions::default(),
        &emit,
    ) {
        Ok(EditOpen::Opened(s)) => s,
        Ok(EditOpen::Declined(_)) => return,
        Err(e) => finding(
            "edit: the streaming open refused a file the tree opens",
            input,
            &format!("--- exit {}: {}", e.code, e.message),
        ),
    };
    let old = session.take_plaintext();
    if tree_plain.as_deref() != Some(&old[..]) {
        finding(
            "edit: the streaming open shows another plaintext",
            input,
            &format!(
                "--- tree\n{}\n--- streamed\n{}",
                String::from_utf8_lossy(tree_plain.as_deref().unwrap_or_default()),
                String::from_utf8_lossy(&old)
            ),
        );
    }
    match session.seal_file(&old, src, &edited) {
        Ok(FileSeal::Spliced(s)) => {
            super::STREAMED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let out = s.pieces(input).concat();
            let got = tree_decrypt(Format::Yaml, &out, &context(&[]), None);
            let same = matches!((sealed, &got), (Ok((a, _)), Ok((b, _))) if a == b);
            if !same {
                finding(
                    "edit: the checkpoint seal and the whole-tree seal differ",
                    input,
                    &format!(
                        "--- edited text\n{}\n--- spliced file\n{}\n--- tree seal decrypts to\n{}\n--- checkpoint seal decrypts to\n{}",
                        String::from_utf8_lossy(text),
                        String::from_utf8_lossy(&out),
                        show(sealed),
                        show(&got)
                    ),
                );
            }
        }
        Ok(FileSeal::Unchanged) if text != &old[..] => finding(
            "edit: a changed text was found unchanged",
            input,
            &format!("--- edited text\n{}", String::from_utf8_lossy(text)),
        ),
        _ => {}
    }
}

fn set_check(fmt: Format, input: &[u8], before: &Outcome, rng: &mut Rng) -> bool {
    let ctx = context(&[]);
    let opened = open(fmt, input, &ctx);
    let path = pick_path(opened.as_ref().map(|o| &o.doc), rng);
    let edit = match rng.below(3) {
        0 => Edit::Unset(path),
        _ => Edit::Set(path, write_value(rng)),
    };
    let written: Changed = tree_change(fmt, input, &edit, &ctx, None);
    let Ok(Some(out)) = written else {
        return false;
    };
    let Some(mut expected) = opened.map(|o| o.doc) else {
        finding("set/unset wrote a file it could not open", input, "");
    };
    if !apply(&mut expected, &edit) {
        finding(
            "set/unset wrote a change the tree refuses",
            input,
            &format!("--- written\n{}", String::from_utf8_lossy(&out)),
        );
    }
    let expected = plain_of(fmt, &expected);
    let got = tree_decrypt(fmt, &out, &ctx, None);
    match (&expected, &got) {
        (Ok(e), Ok((g, _))) if e == g => true,
        // No less readable than it was (a file whose `decrypt` already refused).
        (Err((ce, _)), Err((cg, _))) if ce == cg && before.is_err() => false,
        _ => finding(
            "set/unset: the written file does not decrypt to the changed document",
            input,
            &format!(
                "--- path {:?}\n--- written\n{}\n--- expected\n{}\n--- decrypted\n{}",
                edit.path(),
                String::from_utf8_lossy(&out),
                match &expected {
                    Ok(e) => String::from_utf8_lossy(e).into_owned(),
                    Err((c, m)) => format!("refused, exit {c}: {m}"),
                },
                show(&got)
            ),
        ),
    }
}

/// One input of a `write_*` target; `true` when the file decrypted.
pub fn write_case(fmt: Format, input: &[u8]) -> bool {
    let mut rng = Rng::new(super::super::fnv(input));
    let ctx = context(&[]);
    let before = tree_decrypt(fmt, input, &ctx, None);
    rotate_check(fmt, input, &before, &ctx);
    updatekeys_check(fmt, input);
    encrypt_check(fmt, &before, &mut rng);
    if rng.below(2) == 0 {
        edit_check(fmt, input, &mut rng);
    } else {
        set_check(fmt, input, &before, &mut rng);
    }
    before.is_ok()
}

/// The streamed `encrypt` of the plaintext `before` holds (YAML and JSON, parts of a few
/// dozen bytes, planned beside the MAC pass for JSON): when it takes the text, its file
/// must decrypt (record and all) to what the whole-tree encrypt's file decrypts to.
fn encrypt_check(fmt: Format, before: &Outcome, rng: &mut Rng) {
    let (Format::Yaml | Format::Json, Ok((plain, _))) = (fmt, before) else {
        return;
    };
    let Ok(key) = leafseal::keys::key_from_str(leafseal::keys::KeyKind::Age, RECIPIENT) else {
        return;
    };
    let plan = ops::SealPlan {
        groups: vec![vec![key]],
        mac_only_encrypted: rng.below(2) == 0,
        ..ops::SealPlan::default()
    };
    let part = [48, 64, 200, 1024][rng.below(4)].to_string();
    let ctx = context(&[(stream::PART_ENV, part)]);
    let emit = EmitOptions::default();
    let Ok(stream::Prepare::Ready(mut prepared)) =
        stream::prepare_encrypt(plain, fmt, &plan, &ctx, &emit)
    else {
        return;
    };
    let mut streamed = Vec::new();
    if let Err(e) = prepared.write(&mut streamed) {
        eprintln!(
            "FINDING (encrypt): the streamed encrypt failed after it took the text: {}\n--- plaintext\n{}",
            e.message,
            String::from_utf8_lossy(plain)
        );
        panic!("encrypt: the streamed write failed");
    }
    drop(prepared);
    super::STREAMED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let plain_ctx = context(&[]);
    let tree = fmt
        .store()
        .load(plain)
        .ok()
        .and_then(|l| ops::seal_new(l.doc, &plan, &plain_ctx, fmt).ok())
        .and_then(|(doc, meta)| fmt.store().emit(&doc, Some(&meta), &emit).ok());
    let Some(tree) = tree else {
        eprintln!(
            "FINDING (encrypt): streamed, but the whole-tree encrypt refuses\n--- plaintext\n{}",
            String::from_utf8_lossy(plain)
        );
        panic!("encrypt: streamed a text the tree refuses");
    };
    let strict = OpenOptions {
        strict_integrity: true,
        ..OpenOptions::default()
    };
    let open = |file: &[u8]| {
        let loaded = ops::read_encrypted(file, NAME, fmt).map_err(refusal)?;
        let opened = ops::open_with_key(loaded, &plain_ctx, &strict, None).map_err(refusal)?;
        fmt.store()
            .emit(&opened.doc, None, &emit)
            .map(|o| o.to_vec())
            .map_err(|e| (0, e.to_string()))
    };
    let (got, want) = (open(&streamed), open(&tree));
    if got != want {
        eprintln!(
            "FINDING (encrypt): the streamed file decrypts to another text\n--- plaintext\n{}\n--- streamed\n{}\n--- tree: {:?}\n--- streamed: {:?}",
            String::from_utf8_lossy(plain),
            String::from_utf8_lossy(&streamed),
            want.as_ref()
                .map(|t| String::from_utf8_lossy(t).into_owned()),
            got.as_ref()
                .map(|t| String::from_utf8_lossy(t).into_owned()),
        );
        panic!("encrypt: the streamed and the whole-tree files differ");
    }
}

/// The recipient of the test key (`fixtures/sops/keys/age-test-keys.txt`).
const RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
