//! `leafseal edit`: decrypt into a private temporary file, run the editor, re-encrypt.
//!
//! The plaintext lives only in a 0700 directory on a RAM-backed filesystem outside the
//! work tree ([`crate::editor::Workspace`]), which is wiped on every exit path. The target
//! is only ever replaced atomically, and only with a successfully re-encrypted document:
//! an unchanged file (exit 200), a failing editor, a parse error, a signal or any other
//! error leaves it byte-identical. Unchanged values keep their exact ciphertext.

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::path::Path;

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::cli::encrypt::KeyArgs;
use crate::cli::encrypt::SelectorArgs;
use crate::editor;
use crate::editor::Answer;
use crate::editor::Signals;
use crate::editor::Workspace;
use crate::editor::command;
use crate::editor::command::EditorExit;
use crate::error::Error;
use crate::error::exit;
use crate::lifecycle;
use crate::lifecycle::splice::EditInput;
use crate::lifecycle::splice::EditOpen;
use crate::lifecycle::splice::Splice;

mod prefill;
mod session;
use crate::metadata::FORMAT_VERSION;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::Format;
use crate::ops::OpenOptions;
use crate::ops::SealPlan;
use session::Session;

/// Arguments of `edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The encrypted file to edit (created, encrypted, when it does not exist).
    pub file: String,
    /// Open the file even if the MAC does not match (the file may have been tampered with).
    #[arg(long)]
    ignore_mac: bool,
    /// File format: yaml, json, dotenv, ini, toml or binary
    /// (default: from the extension: .yaml/.yml, .json, .env, .ini; any other file, .toml included, is a binary blob as in sops, unless --input-type toml or leafseal wrote it as TOML).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Format of the editor buffer and of the file written back (default: the input
    /// format), as sops does.
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
    /// Also show the file's `sops` metadata (its master keys) in the editor, as sops's -s;
    /// it is for reading only: changes to it are not saved.
    #[arg(short = 's', long)]
    show_master_keys: bool,
    /// Indentation of YAML/JSON output (overrides the policy's stores settings).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    indent: Option<i64>,
    /// Key types to try first, comma-separated (age, pgp, kms, gcp_kms, azure_kv, hc_vault).
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    decryption_order: Option<String>,
    /// Keys for a new file (an existing file keeps its keys).
    #[command(flatten)]
    keys: KeyArgs,
    /// Partial encryption for a new file (an existing file keeps its settings).
    #[command(flatten)]
    selector: SelectorArgs,
    /// Minimum number of key groups needed to decrypt a new file (Shamir).
    #[arg(long, value_name = "N")]
    shamir_secret_sharing_threshold: Option<usize>,
    /// Show Kubernetes Secrets' `data` values as they are stored (base64) instead of
    /// decoded (the default for `kind: Secret`, unless .sops.yaml sets
    /// `leafseal: {k8s_decode: false}`).
    #[arg(long)]
    no_k8s_decode: bool,
}

/// How the edited document is sealed.
enum Origin {
    /// An existing file: same data key, same metadata, nonces of unchanged values (the
    /// opened file, its document taken out for editing).
    Existing(Box<ops::Opened>),
    /// A new file: a fresh data key for these keys.
    New(SealPlan),
}

/// The example document a new file starts from, per format.
fn example(format: Format) -> &'static str {
    match format {
        Format::Yaml => {
            "# A new encrypted file: replace this example with your own data.\n\
             # Keys, nesting and order stay readable in git; every value is encrypted.\n\
             database:\n    user: app\n    password: change-me\n\
             api_tokens:\n    - first-token\n    - second-token\n\
             port: 5432\nenabled: true\n"
        }
        Format::Json => {
            "{\n\t\"database\": {\n\t\t\"user\": \"app\",\n\t\t\"password\": \"change-me\"\n\t},\n\
             \t\"api_tokens\": [\n\t\t\"first-token\",\n\t\t\"second-token\"\n\t],\n\
             \t\"port\": 5432,\n\t\"enabled\": true\n}"
        }
        Format::Dotenv => {
            "# A new encrypted file: replace this example with your own variables.\n\
             DATABASE_USER=app\nDATABASE_PASSWORD=change-me\nAPI_TOKEN=first-token\n"
        }
        Format::Ini => {
            "[database]\nuser = app\npassword = change-me\n\n[api]\ntoken = first-token\n"
        }
        Format::Toml => {
            "# A new encrypted file: replace this example with your own data.\n\
             port = 5432\n\n[database]\nuser = \"app\"\npassword = \"change-me\"\n"
        }
        Format::Binary => "Replace this text with the secret content of the file.\n",
    }
}

/// `major.minor.patch` of a version string (pre-release and build suffixes ignored).
fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// Raises `version` to the one leafseal writes when the file's is older.
fn raise_version(meta: &mut Metadata) -> Result<(), Error> {
    let ours = semver(FORMAT_VERSION);
    let theirs = semver(&meta.version).ok_or_else(|| {
        Error::new(
            exit::FAILED_TO_COMPARE_VERSIONS,
            "the file's sops `version` is not a semantic version, so it cannot be compared with this program's",
        )
        .hint("restore the file from version control; the `version` field must look like 3.9.0")
    })?;
    if ours.is_some_and(|o| o > theirs) {
        meta.version = FORMAT_VERSION.to_owned();
    }
    Ok(())
}

/// The plan for a new file: key flags, else the creation rule.
fn new_file_plan(cli: &Cli, a: &EditArgs, format: Format) -> Result<SealPlan, Error> {
    let (plan, policy) = crate::cli::encrypt::seal_plan(
        cli,
        &a.file,
        &a.keys,
        &a.selector,
        a.shamir_secret_sharing_threshold,
        format,
    )?;
    crate::cli::encrypt::require_keys(&plan, policy.as_ref(), &a.file)?;
    Ok(plan)
}

fn interrupted(sig: i32, name: &str) -> i32 {
    say!(
        "leafseal: interrupted by signal {sig}: the temporary plaintext was removed and {name} was not changed"
    );
    editor::signal_exit_code(sig)
}

/// The exit code once the edited file was written: 0, or for a signal that arrived while
/// it was being written (the write was let complete) 128 + signal, with a line that says
/// the file holds the edit (a script cannot tell from the code alone).
fn written(signals: &Signals, name: &str) -> i32 {
    match signals.caught() {
        None => 0,
        Some(sig) => {
            say!(
                "leafseal: interrupted by signal {sig} while {name} was being written: the write was completed, and {name} holds the edited version"
            );
            editor::signal_exit_code(sig)
        }
    }
}

/// Runs `edit`.
pub fn run(cli: &Cli, a: &EditArgs) -> Result<i32, Error> {
    let name = a.file.as_str();
    cli::audit::expect("edit", name, &[])?;
    let target = Path::new(name);
    let base = target.file_name().unwrap_or(OsStr::new(""));
    // sops finds this when it writes the file, after the editor (exit 3, the edits
    // lost); leafseal refuses before the editor starts, with the same code.
    let work_tree = editor::work_tree_of(target).ok_or_else(|| {
        Error::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!("the directory of {name} does not exist, so the file cannot be written"),
        )
        .hint("create the directory first (mkdir -p), or check the path")
    })?;
    let editor_cmd = command::find_editor(&|k: &str| std::env::var_os(k))?;
    // Checked and locked before reading, held until the new content is in place (the
    // editor included): concurrent `set`, `rotate -i`… wait instead of being lost. Whether
    // the file exists is decided under the lock: another `edit` of the same new file
    // creates it while this one waits, and this one then edits what it wrote.
    if std::fs::metadata(target).is_ok_and(|m| m.is_dir()) {
        return Err(crate::io::directory_error(name));
    }
    let mut dest = cli::update_or_create(cli, target)?;
    if dest.file_id().is_none() && std::fs::symlink_metadata(dest.path()).is_ok() {
        // Created by another command while this one waited: checked again as the existing
        // file it now is (a hard link, a FIFO), then locked as one.
        drop(dest);
        dest = cli::update(cli, target)?;
    }
    let exists = match std::fs::metadata(dest.path()) {
        Ok(m) if m.is_dir() => return Err(crate::io::directory_error(name)),
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(Error::new(
                exit::COULD_NOT_READ_INPUT,
                format!("cannot read {name}: {e}"),
            ));
        }
    };
    let ctx = crate::cli::key_context();
    let mut keys = Vec::new();
    let (format, mut doc, origin, policy) = if exists {
        let (file, file_meta) = dest.open_locked()?;
        let order = match &a.decryption_order {
            Some(s) => super::decryption_order(s)?,
            None => Vec::new(),
        };
        let open_opts = OpenOptions {
            ignore_mac: a.ignore_mac,
            order,
            strict_integrity: cli::strict_integrity(cli)?,
        };
        let mut recovered = None;
        // The format by name (only a `.toml` name looks at the text, and that is no
        // file to stream).
        let by_name = cli::input_format(a.input_type.as_deref(), name, None)?;
        let same_format = a
            .output_type
            .as_deref()
            .map_or(Ok(by_name), cli::parse_format)
            .is_ok_and(|f| f == by_name);
        let streamable = by_name == Format::Yaml && same_format && !a.show_master_keys;
        if let Some(src) = EditInput::of(&file).filter(|_| streamable) {
            let policy = cli::load_policy_for_reading(cli.config.as_deref())?;
            let opts = cli::emit_options(a.indent, policy.as_ref(), by_name);
            match lifecycle::splice::open_for_edit(src, by_name, &ctx, &open_opts, &opts)
                .map_err(|e| e.within(name))?
            {
                EditOpen::Opened(session) => {
                    let run = Session {
                        name,
                        input: src,
                        format: by_name,
                        ctx: &ctx,
                        open: &open_opts,
                        emit: &opts,
                    };
                    let (r, wipes) = run.edit(*session, &dest, &editor_cmd, base, &work_tree);
                    // The replaced file's descriptors (the lock's last) are closed while
                    // the wiping goes on: the last close frees the old file's blocks.
                    drop((dest, file));
                    wipes.wait();
                    return r;
                }
                EditOpen::Declined(key) => recovered = key,
            }
        }
        // Read whole from its start (the streaming open reads at offsets only).
        let input = crate::io::read_opened(name, file, file_meta.as_ref())?;
        let format = cli::input_format(a.input_type.as_deref(), name, Some(&input))?;
        let loaded = ops::load_encrypted(format, &input, name)?;
        let mut opened =
            ops::open_with_key(loaded, &ctx, &open_opts, recovered).map_err(|e| e.within(name))?;
        for w in &opened.warnings {
            cli::warn(&format!("{name}: {w}"));
        }
        keys.clone_from(&opened.unwrapped_by);
        raise_version(&mut opened.meta)?;
        let policy = cli::load_policy_for_reading(cli.config.as_deref())?;
        let doc = std::mem::take(&mut opened.doc);
        (format, doc, Origin::Existing(Box::new(opened)), policy)
    } else {
        let format = cli::input_format(a.input_type.as_deref(), name, None)?;
        let doc = ops::read_any(example(format).as_bytes(), "the built-in example", format)?.doc;
        let plan = new_file_plan(cli, a, format)?;
        // Wrap a throw-away data key now, so bad or missing keys fail before any editing.
        ops::seal_new(doc.clone(), &plan, &ctx, format)?;
        let policy = cli::load_policy(cli.config.as_deref())?;
        (format, doc, Origin::New(plan), policy)
    };
    let format = match a.output_type.as_deref() {
        Some(t) => cli::parse_format(t)?,
        None => format,
    };
    let opts = cli::emit_options(a.indent, policy.as_ref(), format);
    // The decoded view of Kubernetes Secrets: the stored document, to re-encode against.
    let k8s_original = (matches!(origin, Origin::Existing(_))
        && !a.no_k8s_decode
        && policy.as_ref().and_then(|p| p.k8s_decode) != Some(false)
        && ops::k8s::has_secret(&doc))
    .then(|| {
        let original = doc.clone();
        ops::k8s::decode(&mut doc);
        original
    });
    let shown = match (&origin, a.show_master_keys) {
        (Origin::Existing(opened), true) => Some(opened.meta.to_map()),
        _ => None,
    };
    let plaintext = ops::emit_plain(format, &doc, shown.as_ref(), &opts)?;
    drop(doc);
    cli::audit::record("edit", name, &keys)?;

    let signals = Signals::install()?;
    let roots = editor::temp_roots(&|k: &str| std::env::var_os(k));
    let ws = Workspace::create(base, &plaintext, &roots, &work_tree)?;
    drop(plaintext);

    let mut edited = match edit_loop(
        &editor_cmd,
        &ws,
        &signals,
        name,
        format,
        shown.is_some(),
        Checks {
            quick: &mut |_: &Workspace| Ok(None),
            unchanged: &|c: &[u8]| ws.is_unchanged(c),
        },
    )? {
        Edited::Interrupted(sig) => {
            drop(ws);
            return Ok(interrupted(sig, name));
        }
        Edited::Unchanged => {
            drop(ws);
            return Ok(unchanged(name));
        }
        Edited::Doc(doc) => doc,
        Edited::Spliced(_) => {
            return Err(Error::new(
                exit::GENERIC,
                "internal error: an edit was spliced without a session",
            ));
        }
    };

    if let Some(original) = &k8s_original {
        ops::k8s::encode(&mut edited, original);
    }
    drop(k8s_original);
    let meta_map = match origin {
        Origin::Existing(mut opened) => {
            let signed = crate::signing::present(&opened.meta);
            let ops::Opened {
                meta, key, stash, ..
            } = &mut *opened;
            let map = ops::reseal(&mut edited, meta, key, Some(stash), format)?;
            crate::cli::inplace::signature_dropped(name, signed);
            map
        }
        Origin::New(plan) => {
            let (doc, map) = ops::seal_new(edited, &plan, &ctx, format)?;
            edited = doc;
            map
        }
    };
    let out = ops::emit_encrypted(format, &edited, &meta_map, &opts)?;
    write_sealed(name, ws, &signals, || {
        dest.write(&out)?;
        crate::cli::inplace::leave_encrypted(edited);
        Ok(())
    })
}

/// The end of every edit that writes the file itself: unless a signal arrived first
/// (then the workspace is wiped and the file left as it was), `write` writes the sealed
/// file; then the workspace is removed, and a signal that arrived during the write
/// (which was let complete) gives its exit code.
fn write_sealed(
    name: &str,
    ws: Workspace,
    signals: &Signals,
    write: impl FnOnce() -> Result<(), Error>,
) -> Result<i32, Error> {
    if let Some(sig) = signals.caught() {
        drop(ws);
        return Ok(interrupted(sig, name));
    }
    write()?;
    if let Err(e) = ws.remove() {
        cli::report(&e);
    }
    Ok(written(signals, name))
}

fn unchanged(name: &str) -> i32 {
    say!("leafseal: File has not changed; {name} was left as it was");
    exit::FILE_HAS_NOT_BEEN_MODIFIED
}

/// Looks at the edited file before it is read whole: an outcome (unchanged, spliced),
/// or `None` to read and parse it.
type Quick<'a> = dyn FnMut(&Workspace) -> Result<Option<Edited>, Error> + 'a;

/// How [`edit_loop`] looks at what the editor left.
struct Checks<'a> {
    /// Tried first, on the file.
    quick: &'a mut Quick<'a>,
    /// Whether the text read whole is the one given to the editor.
    unchanged: &'a dyn Fn(&[u8]) -> bool,
}

/// What the editor loop ended with.
enum Edited {
    /// The change, spliced into the encrypted text.
    Spliced(Splice),
    /// The edited document, to encrypt.
    Doc(ops::Document),
    /// A signal ended the editor or the prompt.
    Interrupted(i32),
    /// The editor left the plaintext as it was.
    Unchanged,
}

/// Runs the editor until it leaves a plaintext that can be read (the editor is opened
/// again on a parse error when stdin is a terminal). `quick` is tried first on the
/// edited file; when it gives nothing the file is read, compared (`unchanged`) and
/// parsed.
fn edit_loop(
    editor_cmd: &command::EditorCommand,
    ws: &Workspace,
    signals: &Signals,
    name: &str,
    format: Format,
    shown: bool,
    checks: Checks<'_>,
) -> Result<Edited, Error> {
    let Checks { quick, unchanged } = checks;
    let interactive = std::io::stdin().is_terminal();
    loop {
        match command::run(editor_cmd, ws.file(), signals)? {
            EditorExit::Interrupted(sig) => return Ok(Edited::Interrupted(sig)),
            EditorExit::Failed(code, sig) => {
                let how = match (code, sig) {
                    (Some(c), _) => format!("exited with status {c}"),
                    (None, Some(s)) => format!("was killed by signal {s}"),
                    (None, None) => "failed".to_owned(),
                };
                return Err(Error::new(
                    exit::NO_EDITOR_FOUND,
                    format!("the editor {how}; {name} was not changed"),
                )
                .hint("your edits were discarded (the temporary plaintext was removed)"));
            }
            EditorExit::Success => {}
        }
        if let Some(e) = quick(ws)? {
            return Ok(e);
        }
        let content = ws.read()?;
        if unchanged(&content) {
            return Ok(Edited::Unchanged);
        }
        match ops::read_edited(&content, format, name, shown) {
            Ok(doc) => return Ok(Edited::Doc(doc)),
            Err(e) if interactive => {
                cli::report(&e);
                say_inline!("Press Enter to reopen the editor, or Ctrl-C to abandon your edits ");
                match editor::wait_for_enter(signals) {
                    Answer::Enter => continue,
                    Answer::Interrupted(sig) => return Ok(Edited::Interrupted(sig)),
                    Answer::Eof => {
                        return Err(Error::new(
                            e.code,
                            format!("edits abandoned; {name} was not changed"),
                        ));
                    }
                }
            }
            Err(e) => {
                return Err(e.hint(format!(
                    "{name} was not changed and your edits were discarded; run `leafseal edit` from a terminal to get the editor back on errors"
                )));
            }
        }
    }
}
