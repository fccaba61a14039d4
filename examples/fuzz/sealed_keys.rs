//! Differential targets for the commands that re-key an encrypted file (round 23):
//!
//! * `rotate_yaml`, `rotate_json`: the streamed `rotate` (`LEAFSEAL_STREAM=always`, parts
//!   of 1 to 8,192 bytes, the direct part reader on or off) of a valid or tampered
//!   file; half of the inputs from a file read in parts (`prepare_rotate_file`), the
//!   others from memory. A file the streaming path wrote must be one `decrypt` read before (never a
//!   refused file re-sealed with a fresh MAC and record), must decrypt to the same
//!   plaintext under a new data key, with a current integrity record (it opens under
//!   `strict_integrity`), and by streaming as by the whole tree; with
//!   `LEAFSEAL_FUZZ_SOPS` set to a sops binary, every eighth such file is also decrypted
//!   by sops, to the same document. A streamed refusal must be `decrypt`'s (same exit
//!   code).
//! * `updatekeys_policy`: a random `.sops.yaml` (creation rules with age recipients, flat
//!   or in key groups, with or without a Shamir threshold) parsed as `updatekeys` reads
//!   it, and the file's own recipients written as a policy. The own policy must plan a
//!   no-op (so `updatekeys` writes nothing: the bytes stay as they are); a changed
//!   policy's file, written as `updatekeys` (with or without `--rotate`) writes it, must
//!   decrypt to the plaintext `decrypt` read before, be a no-op for the same policy
//!   again, keep (or, with `--rotate`, change) its data key, and open with one
//!   identity alone exactly when that identity is in at least the threshold's number of
//!   the new groups: a removed recipient can no longer open it.
//!
//! The identities besides the test key are made once per process (`leafseal::keygen`),
//! so a kept input replays with other recipients but the same shape of policy.

use std::path::Path;
use std::path::PathBuf;
use std::sync::OnceLock;

use leafseal::crypto::DataKey;
use leafseal::error::exit;
use leafseal::format::EmitOptions;
use leafseal::format::Format;
use leafseal::keys::KeyContext;
use leafseal::keys::KeyKind;
use leafseal::lifecycle;
use leafseal::lifecycle::KeyChanges;
use leafseal::ops;
use leafseal::ops::OpenOptions;
use leafseal::policy::Policy;
use leafseal::stream;

use super::NAME;
use super::Outcome;
use super::Rng;
use super::context;
use super::refusal;
use super::show;
use super::tree_decrypt;

/// The targets.
pub const TARGETS: &[&str] = &["rotate_yaml", "rotate_json", "updatekeys_policy"];

/// The recipient of the test key (`fixtures/sops/keys/age-test-keys.txt`).
const TEST_RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";

/// How many identities a policy draws its recipients from (the test key and new ones).
const IDENTITIES: usize = 5;

fn finding(what: &str, input: &[u8], detail: &str) -> ! {
    eprintln!(
        "FINDING ({what})\n--- input\n{}\n{detail}",
        String::from_utf8_lossy(input)
    );
    panic!("{what}");
}

/// One input of a target of this module; `true` when the file decrypted (`rotate_*`) or
/// a re-keyed file was written and checked (`updatekeys_policy`).
pub fn exercise(target: &str, input: &[u8]) -> bool {
    match target {
        "rotate_json" => rotate_case(Format::Json, input),
        "updatekeys_policy" => updatekeys_case(input),
        _ => rotate_case(Format::Yaml, input),
    }
}

/// The data key of an encrypted file, recovered with `ctx`.
fn data_key_of(fmt: Format, file: &[u8], ctx: &KeyContext) -> Option<DataKey> {
    let loaded = ops::load_encrypted(fmt, file, NAME).ok()?;
    let meta = ops::metadata_of(&loaded).ok()?;
    ops::recover_key_with_source(&meta, ctx, &[])
        .ok()
        .map(|(k, _)| k)
}

/// `decrypt` as the whole tree under the strict integrity setting.
fn strict_decrypt(fmt: Format, file: &[u8], ctx: &KeyContext) -> Outcome {
    let loaded = ops::load_encrypted(fmt, file, NAME).map_err(refusal)?;
    let opts = OpenOptions {
        strict_integrity: true,
        ..OpenOptions::default()
    };
    let opened = ops::open_for_reading(loaded, ctx, &opts).map_err(refusal)?;
    let out =
        ops::render_plain(&opened.doc, None, fmt, &EmitOptions::default()).map_err(refusal)?;
    Ok((out.to_vec(), opened.warnings))
}

/// The plaintext bytes of an outcome, if it decrypted.
fn plain(o: &Outcome) -> Option<&[u8]> {
    o.as_ref().ok().map(|(p, _)| &p[..])
}

/// The streamed rotation: the new file, `None` when the streaming path declined, or its
/// refusal.
fn stream_rotate(
    fmt: Format,
    input: &[u8],
    ctx: &KeyContext,
    from_file: bool,
) -> Result<Option<Vec<u8>>, (i32, String)> {
    let emit = EmitOptions::default();
    let (open, changes) = (OpenOptions::default(), KeyChanges::default());
    // A YAML or JSON file named on the command line is rotated from disk in parts.
    let file = if from_file {
        Some(super::temp_file(input)?)
    } else {
        None
    };
    let prepared = match &file {
        Some(f) => stream::prepare_rotate_file(f, fmt, ctx, &open, &changes, &emit),
        None => stream::prepare_rotate(input, fmt, ctx, &open, &changes, &emit, None),
    }
    .map_err(refusal)?;
    let mut p = match prepared {
        stream::RotatePrepare::Ready(p) => p,
        stream::RotatePrepare::Declined(_) => return Ok(None),
    };
    let mut out = Vec::new();
    match p.write(&mut out).map_err(refusal)? {
        stream::RotateOutcome::Done(_) => Ok(Some(out)),
        stream::RotateOutcome::Declined(_) => Ok(None),
    }
}

fn rotate_case(fmt: Format, input: &[u8]) -> bool {
    let mut rng = Rng::new(super::super::fnv(input));
    let plain_ctx = context(&[]);
    let before = tree_decrypt(fmt, input, &plain_ctx, None);
    let ctx = context(&super::settings(&mut rng));
    let from_file = rng.below(2) == 0;
    match stream_rotate(fmt, input, &ctx, from_file) {
        Ok(None) => {}
        Err((code, msg)) => match &before {
            Err((c, _)) if *c == code => {}
            _ => finding(
                "streamed rotate refused otherwise than decrypt",
                input,
                &format!(
                    "--- decrypt\n{}\n--- rotate: exit {code}: {msg}",
                    show(&before)
                ),
            ),
        },
        Ok(Some(out)) => {
            super::STREAMED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rotated_check(fmt, input, &before, &out, &ctx, &mut rng);
        }
    }
    before.is_ok()
}

/// Checks a file the streamed rotation wrote (see the module docs).
fn rotated_check(
    fmt: Format,
    input: &[u8],
    before: &Outcome,
    out: &[u8],
    stream_ctx: &KeyContext,
    rng: &mut Rng,
) {
    let plain_ctx = context(&[]);
    let detail = |after: &Outcome| {
        format!(
            "--- decrypt before\n{}\n--- rotated file\n{}\n--- decrypts to\n{}",
            show(before),
            String::from_utf8_lossy(out),
            show(after)
        )
    };
    let after = strict_decrypt(fmt, out, &plain_ctx);
    if plain(before).is_none() {
        finding(
            "streamed rotate wrote a file that decrypt refused",
            input,
            &detail(&after),
        );
    }
    if plain(before) != plain(&after) {
        finding(
            "the streamed rotation decrypts to another plaintext (or without a current record)",
            input,
            &detail(&after),
        );
    }
    let old = data_key_of(fmt, input, &plain_ctx);
    let new = data_key_of(fmt, out, &plain_ctx);
    if old.is_none() || new.is_none() || old.map(|k| *k.expose()) == new.map(|k| *k.expose()) {
        finding(
            "the streamed rotation kept the data key",
            input,
            &detail(&after),
        );
    }
    let streamed = stream_decrypt(fmt, out, stream_ctx);
    if plain(&streamed) != plain(&after) {
        finding(
            "the rotated file decrypts otherwise by streaming",
            input,
            &format!("{}\n--- streamed\n{}", detail(&after), show(&streamed)),
        );
    }
    if rng.below(8) == 0 {
        sops_check(fmt, input, out, &after);
    }
}

/// The streaming `decrypt` of a rotated file (what it declines read as a tree), not
/// counted as an input the streaming path finished.
fn stream_decrypt(fmt: Format, file: &[u8], ctx: &KeyContext) -> Outcome {
    let open = OpenOptions::default();
    let emit = EmitOptions::default();
    let needs_tree = |m: &leafseal::metadata::Metadata| leafseal::signing::present(m);
    let r = if fmt == Format::Json {
        stream::decrypt_json(file, ctx, &open, &emit, &needs_tree)
    } else {
        stream::decrypt_yaml(file, ctx, &open, &emit, &needs_tree)
    };
    match r.map_err(refusal)? {
        stream::Outcome::Done(d) => Ok((d.out.to_vec(), d.warnings)),
        stream::Outcome::Declined(key) => tree_decrypt(fmt, file, ctx, key),
    }
}

/// With `LEAFSEAL_FUZZ_SOPS` set: sops decrypts the rotated file to the same document.
fn sops_check(fmt: Format, input: &[u8], out: &[u8], after: &Outcome) {
    let Some(sops) = std::env::var_os("LEAFSEAL_FUZZ_SOPS") else {
        return;
    };
    let Some(ours) = plain(after) else {
        return;
    };
    let path = std::env::temp_dir().join(format!(
        "leafseal-fuzz-sops-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    if std::fs::write(&path, out).is_err() {
        return;
    }
    let kind = if fmt == Format::Json { "json" } else { "yaml" };
    let run = std::process::Command::new(&sops)
        .args(["decrypt", "--input-type", kind, "--output-type", kind])
        .arg(&path)
        .env("SOPS_AGE_KEY_FILE", super::key_file())
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .output();
    let _ = std::fs::remove_file(&path);
    let Ok(run) = run else {
        return;
    };
    let parse = |b: &[u8]| fmt.store().load(b).ok().map(|l| l.doc);
    let same = run.status.success() && (run.stdout == ours || parse(&run.stdout) == parse(ours));
    if !same {
        // Documents sops itself cannot read or print (its known limits) are no finding of
        // this target: only a file sops read before and cannot read after is.
        let sops_before = {
            let p = path.with_extension("before");
            let ok = std::fs::write(&p, input).is_ok()
                && std::process::Command::new(&sops)
                    .args(["decrypt", "--input-type", kind, "--output-type", kind])
                    .arg(&p)
                    .env("SOPS_AGE_KEY_FILE", super::key_file())
                    .env("SOPS_DISABLE_VERSION_CHECK", "1")
                    .output()
                    .is_ok_and(|o| o.status.success() && parse(&o.stdout) == parse(ours));
            let _ = std::fs::remove_file(&p);
            ok
        };
        if sops_before {
            finding(
                "sops reads the input but not the streamed rotation of it",
                input,
                &format!(
                    "--- rotated file\n{}\n--- sops: {}\n{}",
                    String::from_utf8_lossy(out),
                    run.status,
                    String::from_utf8_lossy(&run.stderr)
                ),
            );
        }
    }
}

/// The test identity and the new ones: their recipients, and a key file for each alone.
struct Identities {
    recipients: Vec<String>,
    files: Vec<PathBuf>,
}

fn identities() -> &'static Identities {
    static IDS: OnceLock<Identities> = OnceLock::new();
    IDS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("leafseal-fuzz-ids-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let mut recipients = vec![TEST_RECIPIENT.to_owned()];
        let mut files = vec![PathBuf::from(super::key_file())];
        for i in 1..IDENTITIES {
            let id = leafseal::keygen::generate();
            let f = dir.join(format!("id{i}.txt"));
            if std::fs::write(&f, id.file_text.as_bytes()).is_ok() {
                recipients.push(id.recipient);
                files.push(f);
            }
        }
        Identities { recipients, files }
    })
}

/// A key context that holds every identity (a key file of all of them).
fn all_identities() -> KeyContext {
    static ALL: OnceLock<PathBuf> = OnceLock::new();
    let path = ALL.get_or_init(|| {
        let ids = identities();
        let text: String = ids
            .files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect::<Vec<_>>()
            .join("\n");
        let p =
            std::env::temp_dir().join(format!("leafseal-fuzz-ids-{}/all.txt", std::process::id()));
        let _ = std::fs::write(&p, text);
        p
    });
    context(&[("SOPS_AGE_KEY_FILE", path.display().to_string())])
}

/// Key groups as a policy names them: one recipient list per group, and a threshold.
struct DrawnRule {
    groups: Vec<Vec<String>>,
    threshold: usize,
    flat: bool,
}

impl DrawnRule {
    /// The `.sops.yaml` text of the rule (with a rule before it for other files).
    fn policy_text(&self) -> String {
        let mut t = String::from("creation_rules:\n  - path_regex: \\.other$\n    age: ");
        t.push_str(TEST_RECIPIENT);
        t.push_str("\n  - path_regex: fuzz\n");
        if self.threshold != 0 {
            t.push_str(&format!("    shamir_threshold: {}\n", self.threshold));
        }
        if self.flat {
            t.push_str(&format!("    age: {}\n", self.groups[0].join(",")));
            return t;
        }
        t.push_str("    key_groups:\n");
        for g in &self.groups {
            t.push_str("      - age:\n");
            for r in g {
                t.push_str(&format!("          - {r}\n"));
            }
        }
        t
    }
}

fn draw_rule(rng: &mut Rng, recipients: &[String]) -> DrawnRule {
    let n = 1 + rng.below(3);
    let mut groups = Vec::new();
    for _ in 0..n {
        let mut g: Vec<String> = recipients
            .iter()
            .filter(|_| rng.below(3) == 0)
            .cloned()
            .collect();
        if g.is_empty() {
            g.push(recipients[rng.below(recipients.len())].clone());
        }
        groups.push(g);
    }
    DrawnRule {
        threshold: if rng.below(2) == 0 {
            0
        } else {
            rng.below(n + 2)
        },
        flat: n == 1 && rng.below(2) == 0,
        groups,
    }
}

/// The rule a policy text gives the fuzzed file, or `None` when it is not read.
fn rule_of(text: &str) -> Option<leafseal::policy::CreationRule> {
    let policy = Policy::parse(text.as_bytes(), Path::new("/fuzz/.sops.yaml")).ok()?;
    policy.rule_for(Path::new("/fuzz/fuzz.yaml")).ok()?.cloned()
}

/// The file's own key groups as a policy, when they are all age recipients.
fn own_rule(meta: &leafseal::metadata::Metadata) -> Option<DrawnRule> {
    let described = lifecycle::describe(&meta.key_groups);
    if described.is_empty() || described.iter().any(Vec::is_empty) {
        return None;
    }
    let mut groups = Vec::new();
    for g in described {
        let mut ids = Vec::new();
        for (kind, id) in g {
            // An age entry without recipient (read as the empty one since round 25, as
            // sops reads it) has none a policy could name.
            if kind != KeyKind::Age || id.is_empty() {
                return None;
            }
            ids.push(id);
        }
        groups.push(ids);
    }
    Some(DrawnRule {
        flat: groups.len() == 1,
        threshold: meta.shamir_threshold,
        groups,
    })
}

fn updatekeys_case(input: &[u8]) -> bool {
    let fmt = Format::Yaml;
    let mut rng = Rng::new(super::super::fnv(input));
    let all = all_identities();
    let before = tree_decrypt(fmt, input, &all, None);
    let Ok(loaded) = ops::load_encrypted(fmt, input, NAME) else {
        return false;
    };
    let Ok(meta) = ops::metadata_of(&loaded) else {
        return false;
    };
    // The file's own recipients as a policy: nothing to do, so nothing is written.
    if let Some(own) = own_rule(&meta)
        && let Some(rule) = rule_of(&own.policy_text())
    {
        let plan = lifecycle::plan_update(&meta, &rule.key_groups, None, rule.shamir_threshold);
        if !plan.is_noop() {
            finding(
                "updatekeys: a policy of the file's own recipients is not a no-op",
                input,
                &format!("--- policy\n{}", own.policy_text()),
            );
        }
    }
    let ids = identities();
    let drawn = draw_rule(&mut rng, &ids.recipients);
    let text = drawn.policy_text();
    // A threshold above the number of groups is refused when the policy is read.
    let refused = drawn.groups.len() > 1 && drawn.threshold > drawn.groups.len();
    let rule = match (rule_of(&text), refused) {
        (None, true) => return false,
        (Some(rule), false) => rule,
        (Some(_), true) => finding(
            "updatekeys: a policy with a threshold above its groups was read",
            input,
            &text,
        ),
        (None, false) => finding("updatekeys: a drawn policy was not read", input, &text),
    };
    let plan = lifecycle::plan_update(&meta, &rule.key_groups, None, rule.shamir_threshold);
    if plan.is_noop() {
        return false;
    }
    let rotate = rng.below(3) == 0;
    let updated = lifecycle::update_keys(loaded, &plan, rotate, &all, &OpenOptions::default(), fmt);
    // Shamir needs a threshold of at least 2 (as in sops): refused before any key is
    // used.
    let degenerate = plan.new_threshold == 1 && plan.groups.len() > 1;
    let out = match updated {
        Err(e) if degenerate && e.code == exit::CONFLICTING_PARAMETERS => return false,
        Err(e) => {
            match &before {
                Err((c, _)) if *c == e.code => {}
                _ => finding(
                    "updatekeys refused otherwise than decrypt",
                    input,
                    &format!(
                        "--- policy\n{text}\n--- decrypt\n{}\n--- updatekeys: exit {}: {}",
                        show(&before),
                        e.code,
                        e.message
                    ),
                ),
            }
            return false;
        }
        Ok(u) => match ops::emit_encrypted(fmt, &u.doc, &u.meta, &EmitOptions::default()) {
            Ok(o) => o.to_vec(),
            Err(e) => finding(
                "updatekeys: the updated file cannot be written",
                input,
                &format!("--- policy\n{text}\n--- exit {}: {}", e.code, e.message),
            ),
        },
    };
    let detail = |what: &str| {
        format!(
            "--- policy\n{text}\n--- rotate {rotate}\n--- written\n{}\n--- {what}",
            String::from_utf8_lossy(&out)
        )
    };
    if degenerate {
        finding(
            "updatekeys: a threshold of 1 over several groups was written",
            input,
            &detail("threshold"),
        );
    }
    // Without `--rotate` and with a current record no value is decrypted (as in sops): a
    // value whose IV or data was changed, its tag kept, passes, and the file stays as
    // unreadable as it was (the same refusal); anything else must read as before.
    let after = if plain(&before).is_some() {
        strict_decrypt(fmt, &out, &all)
    } else {
        tree_decrypt(fmt, &out, &all, None)
    };
    let same_refusal = matches!((&before, &after), (Err((a, _)), Err((b, _))) if a == b);
    if same_refusal && !rotate {
        return false;
    }
    if plain(&before).is_none() || plain(&before) != plain(&after) {
        finding(
            "updatekeys: the written file does not decrypt to what decrypt read before",
            input,
            &detail(&format!(
                "before\n{}\n--- after\n{}",
                show(&before),
                show(&after)
            )),
        );
    }
    let again = ops::load_encrypted(fmt, &out, NAME)
        .and_then(|l| ops::metadata_of(&l))
        .map(|m| lifecycle::plan_update(&m, &rule.key_groups, None, rule.shamir_threshold));
    if !again.is_ok_and(|p| p.is_noop()) {
        finding(
            "updatekeys: the same policy again is not a no-op",
            input,
            &detail("plan"),
        );
    }
    let old_key = data_key_of(fmt, input, &all).map(|k| *k.expose());
    let new_key = data_key_of(fmt, &out, &all).map(|k| *k.expose());
    if new_key.is_none() || (old_key == new_key) == rotate {
        finding(
            "updatekeys: the data key was not kept (or, with --rotate, not changed)",
            input,
            &detail("data key"),
        );
    }
    let needed = plan.new_threshold.max(1);
    for (recipient, file) in ids.recipients.iter().zip(&ids.files) {
        let holds = drawn
            .groups
            .iter()
            .filter(|g| g.contains(recipient))
            .count();
        let alone = context(&[("SOPS_AGE_KEY_FILE", file.display().to_string())]);
        let got = tree_decrypt(fmt, &out, &alone, None);
        let opens = holds >= needed;
        let right = match &got {
            Ok(_) => opens && plain(&got) == plain(&after),
            Err((code, _)) => !opens && *code == exit::COULD_NOT_RETRIEVE_KEY,
        };
        if !right {
            finding(
                "updatekeys: an identity opens the file otherwise than the policy says",
                input,
                &detail(&format!(
                    "identity {recipient} in {holds} group(s), {needed} needed\n{}",
                    show(&got)
                )),
            );
        }
    }
    true
}
