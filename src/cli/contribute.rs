//! `leafseal contribute FILE PATH VALUE` (no key that opens FILE needed) and
//! `leafseal absorb [FILES]` (a key holder applies the pending contributions); see
//! [`crate::contrib`].

use std::path::Path;
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use crate::cli;
use crate::cli::Cli;
use crate::cli::inplace;
use crate::contrib;
use crate::error::Error;
use crate::error::exit;
use crate::lifecycle;
use crate::ops;
use crate::redact::inert;
use crate::signing;
use crate::signing::Verdict;

/// Arguments of `contribute`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal contribute secrets.yaml '[\"api\"][\"token\"]' '\"tok-123\"'
  printf '\"%s\"' \"$TOKEN\" | leafseal contribute --value-stdin secrets.yaml '[\"api\"][\"token\"]'
  leafseal contribute --sign-key ~/.ssh/id_ed25519 --value-file v.json secrets.yaml '[\"tls\"]'")]
pub struct ContributeArgs {
    /// The encrypted file (its metadata gains one pending entry; nothing else changes).
    pub file: String,
    /// Where a key holder's `absorb` sets the value, e.g. '["db"]["password"]'.
    pub path: String,
    /// The value as JSON, as `set` takes it ('"text"', 5, true, '{"a":1}').
    #[arg(allow_hyphen_values = true)]
    pub value: Option<String>,
    /// Read the JSON value from standard input.
    #[arg(long)]
    pub value_stdin: bool,
    /// Read the JSON value from this file.
    #[arg(long, value_name = "FILE")]
    pub value_file: Option<PathBuf>,
    /// Sign the contribution with this SSH key (private key, or public key with its
    /// private half in ssh-agent); needed when .sops.yaml sets `leafseal.require_signed`.
    #[arg(long, value_name = "PATH")]
    pub sign_key: Option<PathBuf>,
    /// Contribute even though the file's settings (`unencrypted_suffix`,
    /// `encrypted_regex`, …) leave the value unencrypted: it is then stored in clear.
    #[arg(long)]
    pub allow_unencrypted: bool,
    /// Input format (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

/// Arguments of `absorb`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal absorb secrets.yaml
  leafseal absorb            (every tracked file with pending contributions)
  leafseal absorb --skip 3f2a9c0e1b7d4a55 secrets.yaml")]
pub struct AbsorbArgs {
    /// Encrypted files (default: every file git tracks, or under the current directory,
    /// that has pending contributions).
    pub files: Vec<String>,
    /// Drop the contribution with this id without applying it (repeatable).
    #[arg(long, value_name = "ID")]
    pub skip: Vec<String>,
    /// Allowed-signers file (git's format) instead of `leafseal.allowed_signers`.
    #[arg(long, value_name = "PATH")]
    pub allowed_signers: Option<PathBuf>,
    /// Apply only contributions signed by an allowed signer (also
    /// `leafseal: {require_signed: true}` in .sops.yaml).
    #[arg(long)]
    pub require_signed: bool,
    /// Input format (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub open: inplace::OpenArgs,
}

fn read_value(a: &ContributeArgs) -> Result<Zeroizing<Vec<u8>>, Error> {
    let given = [a.value.is_some(), a.value_stdin, a.value_file.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "give the value once: as an argument, with --value-stdin or with --value-file",
        ));
    }
    let file = a.value_file.as_ref().map(|f| f.display().to_string());
    crate::cli::set::read_given(
        file.as_deref(),
        a.value.as_deref(),
        a.value_stdin,
        r#"leafseal contribute FILE '["key"]' '"value"' (the value is JSON), or use --value-stdin / --value-file"#,
    )
}

/// Runs `contribute`: needs no key that opens the file.
pub fn run_contribute(cli: &Cli, a: &ContributeArgs) -> Result<i32, Error> {
    let value = read_value(a)?;
    let dest = cli::update(cli, Path::new(&a.file))?;
    let target = inplace::read_target(&a.file, a.input_type.as_deref(), Some(&dest))?;
    let meta = ops::metadata_of(&target.loaded).map_err(|e| e.within(&a.file))?;
    let plan = contrib::plan(&meta, &target.loaded.doc, target.format, &a.path, &value)
        .map_err(|e| e.within(&a.file))?;
    let shown = inert(a.path.trim());
    if let Some(why) = &plan.clear {
        if !a.allow_unencrypted {
            return Err(Error::new(
                exit::INVALID_SET_FORMAT,
                format!("{}: the value at {shown} would be stored unencrypted: {why}", a.file),
            )
            .hint("contribute to a path the file encrypts, or pass --allow-unencrypted to store the value in clear"));
        }
        cli::warn(&format!(
            "{}: the value at {shown} will be stored unencrypted: {why}",
            a.file
        ));
    }
    let ctx = cli::key_context();
    let p = contrib::create(&meta, &plan, &value, &ctx, a.sign_key.as_deref())
        .map_err(|e| e.within(&a.file))?;
    let mut raw = target.loaded.meta.clone().unwrap_or_default();
    contrib::append_raw(&mut raw, &p)?;
    let policy = inplace::policy_for_output(cli)?;
    let out = inplace::emit(
        target.format,
        &target.loaded.doc,
        &raw,
        None,
        policy.as_ref(),
    )?;
    contrib::reads_back(target.format, &out, &p).map_err(|e| e.within(&a.file))?;
    dest.write(&out)?;
    if plan.replaces {
        inplace::note(&format!(
            "{}: {shown} already holds a value; absorbing the contribution replaces it",
            a.file
        ));
    }
    inplace::note(&format!(
        "{}: contribution {} for {shown} is pending{}; a key holder applies it with `leafseal absorb {}`",
        a.file,
        p.id,
        if p.signature.is_some() {
            " (signed)"
        } else {
            ""
        },
        a.file
    ));
    Ok(0)
}

/// How contributions' signatures are judged.
struct SignerRule {
    required: bool,
    allowed: Option<PathBuf>,
}

fn signer_rule(cli: &Cli, a: &AbsorbArgs) -> Result<SignerRule, Error> {
    let policy = cli::load_policy(cli.config.as_deref())?;
    let required = a.require_signed || policy.as_ref().is_some_and(|p| p.require_signed);
    let allowed = signing::allowed_signers_path(a.allowed_signers.as_deref(), policy.as_ref());
    if required && allowed.is_none() {
        return Err(Error::new(
            exit::SIGNATURE,
            "signed contributions are required but no allowed-signers file is configured",
        )
        .hint(
            "pass --allowed-signers PATH or set `leafseal: {allowed_signers: PATH}` in .sops.yaml",
        ));
    }
    Ok(SignerRule { required, allowed })
}

/// Checks a contribution's signature: an unsigned one passes unless signing is required;
/// a signature that is present must be good and by an allowed signer (when an
/// allowed-signers file is known).
fn judge_signature(
    p: &contrib::Pending,
    rule: &SignerRule,
    ctx: &ops::KeyContext,
) -> Result<Option<String>, Error> {
    let refuse = |why: String| {
        Error::new(
            exit::CONTRIBUTION,
            format!("{} {why}; nothing was changed", contrib::named(p)),
        )
        .hint("ask the contributor to contribute again with `--sign-key` and an allowed key")
    };
    let (Some(sig), Some(allowed)) = (&p.signature, &rule.allowed) else {
        if rule.required {
            return Err(refuse(
                "is not signed, and signed contributions are required (leafseal.require_signed)"
                    .to_owned(),
            ));
        }
        return Ok(None);
    };
    let verdict = signing::verify_message(&contrib::message(p), sig, allowed, ctx)
        .map_err(|e| Error::new(exit::SIGNATURE, e.message))?;
    match verdict {
        Verdict::Valid { principal, .. } => Ok(Some(inert(&principal))),
        other => Err(refuse(other.describe())),
    }
}

/// Runs `absorb`.
pub fn run_absorb(cli: &Cli, a: &AbsorbArgs) -> Result<i32, Error> {
    let rule = signer_rule(cli, a)?;
    let explicit = !a.files.is_empty();
    let files = if explicit {
        a.files.clone()
    } else {
        candidates()?
    };
    let ctx = cli::key_context();
    let mut applied = 0usize;
    for f in &files {
        applied += absorb_file(cli, a, &rule, &ctx, f, explicit)?;
    }
    if !explicit && applied == 0 {
        inplace::note("no pending contributions found");
    }
    Ok(0)
}

/// Files git tracks (else every file under the current directory) that have a
/// `leafseal_pending` field.
fn candidates() -> Result<Vec<String>, Error> {
    let listed = crate::check::files::tracked_files(&[])
        .or_else(|_| crate::check::files::walk_dir(Path::new(".")))
        .map_err(|e| {
            Error::new(
                exit::COULD_NOT_READ_INPUT,
                format!("cannot list files: {e}"),
            )
        })?;
    Ok(listed
        .into_iter()
        .filter(|t| {
            crate::io::read_path(&t.path).is_ok_and(|b| {
                b.windows(contrib::FIELD.len())
                    .any(|w| w == contrib::FIELD.as_bytes())
            })
        })
        .map(|t| t.path.display().to_string())
        .collect())
}

fn absorb_file(
    cli: &Cli,
    a: &AbsorbArgs,
    rule: &SignerRule,
    ctx: &ops::KeyContext,
    file: &str,
    explicit: bool,
) -> Result<usize, Error> {
    let dest = cli::update(cli, Path::new(file))?;
    let target = inplace::read_target(file, a.input_type.as_deref(), Some(&dest))?;
    let meta = ops::metadata_of(&target.loaded).map_err(|e| e.within(file))?;
    let pending = contrib::list(&meta).map_err(|e| e.within(file))?;
    if pending.is_empty() {
        if explicit {
            inplace::note(&format!("{file}: no pending contributions"));
        }
        return Ok(0);
    }
    crate::cli::audit::expect(
        "absorb",
        file,
        &pending.iter().map(|p| p.path.clone()).collect::<Vec<_>>(),
    )?;
    let encrypted = target.loaded.doc.clone();
    let mut opened =
        ops::open(target.loaded, ctx, &a.open.options(cli)?).map_err(|e| e.within(file))?;
    for w in &opened.warnings {
        cli::warn(&format!("{file}: {w}"));
    }
    let before = opened.doc.clone();
    let order = opened_order(a)?;
    let mut run = contrib::Run::default();
    let mut done = Vec::new();
    for p in &pending {
        let skip = |e: Error| {
            let e = e.within(file);
            if e.code == exit::CONTRIBUTION {
                e.hint(format!(
                    "to drop it without applying it: leafseal absorb --skip {} {file}",
                    inert(&p.id)
                ))
            } else {
                e
            }
        };
        if a.skip.iter().any(|s| s == &p.id) {
            inplace::note(&format!("{file}: dropped {}", contrib::named(p)));
            continue;
        }
        let signer = judge_signature(p, rule, ctx).map_err(skip)?;
        let applied = run
            .apply(
                p,
                target.format,
                &encrypted,
                &mut opened.doc,
                &opened.meta,
                ctx,
                &order,
            )
            .map_err(skip)?;
        done.push((applied, signer));
    }
    contrib::store(&mut opened.meta, &[]);
    let signed = signing::present(&opened.meta);
    let meta_map = match lifecycle::seal_changes(&before, &mut opened, target.format)? {
        Some(m) => m,
        // Every contribution was dropped or set a value already there: only the
        // pending field goes; values, MAC and record stay as they are.
        None => {
            opened.doc.wipe_in_place();
            opened.doc = encrypted;
            opened.meta.to_map()
        }
    };
    let policy = inplace::policy_for_output(cli)?;
    let out = inplace::emit(target.format, &opened.doc, &meta_map, None, policy.as_ref())?;
    crate::cli::audit::record("absorb", file, &opened.unwrapped_by)?;
    dest.write(&out)?;
    for (d, signer) in &done {
        let by = signer
            .as_ref()
            .map(|s| format!(", signed by {s}"))
            .unwrap_or_default();
        inplace::note(&format!("{file}: applied {} ({}{by})", d.path, d.id));
        if d.replaced {
            inplace::note(&format!(
                "{file}: replaced the existing value at {}",
                d.path
            ));
        }
        if let Some(why) = &d.clear {
            cli::warn(&format!(
                "{file}: the value at {} is stored unencrypted: {why}",
                d.path
            ));
        }
    }
    inplace::signature_dropped(file, signed && !done.is_empty());
    Ok(done.len())
}

fn opened_order(a: &AbsorbArgs) -> Result<Vec<ops::KeyKind>, Error> {
    match &a.open.decryption_order {
        Some(s) => ops::parse_order(s),
        None => Ok(Vec::new()),
    }
}
