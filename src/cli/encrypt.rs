//! `leafseal encrypt`.

use std::path::Path;

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::cli::IoArgs;
use crate::error::Error;
use crate::error::exit;
use crate::ops;
use crate::ops::Format;
use crate::ops::KeyContext;
use crate::ops::KeyGroup;
use crate::ops::KeyKind;
use crate::ops::KeyLists;
use crate::ops::SealPlan;
use crate::ops::Selector;

/// Keys to encrypt for, given on the command line.
#[derive(Debug, Args, Clone, Default)]
pub struct KeyArgs {
    /// age recipients (age1…, ssh-ed25519 …, ssh-rsa …), comma-separated.
    #[arg(
        short = 'a',
        long,
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    pub age: Option<String>,
    /// PGP fingerprints, comma-separated.
    #[arg(short = 'p', long, env = "SOPS_PGP_FP", value_name = "FINGERPRINTS")]
    pub pgp: Option<String>,
    /// AWS KMS key ARNs, comma-separated; `ARN+ROLE_ARN` assumes a role first.
    #[arg(short = 'k', long, env = "SOPS_KMS_ARN", value_name = "ARNS")]
    pub kms: Option<String>,
    /// AWS profile for the --kms keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// KMS encryption context for the --kms keys: `key:value,key2:value2`.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// GCP Cloud KMS key resource IDs (projects/…/cryptoKeys/…), comma-separated.
    #[arg(long, env = "SOPS_GCP_KMS_IDS", value_name = "IDS")]
    pub gcp_kms: Option<String>,
    /// HuaweiCloud KMS key IDs (region:key-uuid), comma-separated.
    #[arg(long, env = "SOPS_HUAWEICLOUD_KMS_IDS", value_name = "IDS")]
    pub hckms: Option<String>,
    /// Azure Key Vault key URLs (https://VAULT/keys/NAME[/VERSION]), comma-separated.
    #[arg(long, env = "SOPS_AZURE_KEYVAULT_URLS", value_name = "URLS")]
    pub azure_kv: Option<String>,
    /// Vault/OpenBao transit key URIs (https://HOST:8200/v1/transit/keys/NAME), comma-separated.
    #[arg(long, env = "SOPS_VAULT_URIS", value_name = "URIS")]
    pub hc_vault_transit: Option<String>,
}

impl KeyArgs {
    /// The keys given, as one group (empty when none).
    pub fn group(&self) -> Result<KeyGroup, Error> {
        let lists = [
            (KeyKind::Age, &self.age),
            (KeyKind::Pgp, &self.pgp),
            (KeyKind::GcpKms, &self.gcp_kms),
            (KeyKind::Hckms, &self.hckms),
            (KeyKind::AzureKv, &self.azure_kv),
            (KeyKind::HcVault, &self.hc_vault_transit),
            (KeyKind::Kms, &self.kms),
        ];
        ops::keys_from_flags(&KeyLists {
            lists: lists
                .iter()
                .filter_map(|(k, l)| l.as_deref().map(|l| (*k, l)))
                .collect(),
            encryption_context: self.encryption_context.as_deref(),
            aws_profile: self.aws_profile.as_deref(),
        })
    }
}

/// Partial-encryption flags (at most one).
#[derive(Debug, Args, Clone, Default)]
pub struct SelectorArgs {
    /// Leave values whose key (or a parent key) ends with this suffix unencrypted.
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values whose key (or a parent key) ends with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave values whose key (or a parent key) matches this regex unencrypted.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values whose key (or a parent key) matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Leave values after a comment matching this regex unencrypted.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Encrypt only values after a comment matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
    /// Compute the MAC over encrypted values only.
    #[arg(long)]
    pub mac_only_encrypted: bool,
}

impl SelectorArgs {
    /// The selector given, if any.
    pub fn selector(&self) -> Result<Option<Selector>, Error> {
        ops::selector_from_flags(&[
            ("unencrypted_suffix", self.unencrypted_suffix.as_deref()),
            ("encrypted_suffix", self.encrypted_suffix.as_deref()),
            ("unencrypted_regex", self.unencrypted_regex.as_deref()),
            ("encrypted_regex", self.encrypted_regex.as_deref()),
            (
                "unencrypted_comment_regex",
                self.unencrypted_comment_regex.as_deref(),
            ),
            (
                "encrypted_comment_regex",
                self.encrypted_comment_regex.as_deref(),
            ),
        ])
    }
}

/// The keys and settings a new file is encrypted with: key flags (one group), else the
/// policy's matching creation rule; selector and threshold flags override the rule. Also
/// returns the policy, for its stores settings. A policy whose rules match nothing is an
/// error even with key flags, as in sops.
pub fn seal_plan(
    cli: &Cli,
    name: &str,
    keys: &KeyArgs,
    selector: &SelectorArgs,
    threshold: Option<usize>,
    format: Format,
) -> Result<(SealPlan, Option<crate::policy::Policy>), Error> {
    let policy = cli::load_policy(cli.config.as_deref())?;
    let given = SealPlan {
        groups: vec![keys.group()?],
        threshold: threshold.unwrap_or(0),
        selector: selector.selector()?,
        mac_only_encrypted: selector.mac_only_encrypted,
        binary: format == Format::Binary,
    };
    let plan =
        crate::policy::Policy::seal_plan(policy.as_ref(), Path::new(name), given).map_err(|e| {
            Error::new(exit::GENERIC, e.to_string())
                .hint("add a creation rule whose path_regex matches this file, or use --config")
        })?;
    Ok((plan, policy))
}

/// Fails when a plan for a new file has no keys, saying what was looked for (see
/// [`no_keys_error`]). Called where the plan is used: `encrypt --output EXISTING` without
/// any keys asked for takes the existing file's keys instead.
pub fn require_keys(
    plan: &SealPlan,
    policy: Option<&crate::policy::Policy>,
    name: &str,
) -> Result<(), Error> {
    if !plan.groups.iter().all(Vec::is_empty) {
        return Ok(());
    }
    let rule = policy.and_then(|p| p.rule_for(Path::new(name)).ok().flatten());
    Err(no_keys_error(policy, rule, name))
}

/// The error for a new file without keys, saying what was looked for: the policy search
/// (and a `.sops.yml` that is not read), or the policy and its rule without keys.
fn no_keys_error(
    policy: Option<&crate::policy::Policy>,
    rule: Option<&crate::policy::CreationRule>,
    name: &str,
) -> Error {
    let flags = "pass --age RECIPIENT (or --pgp, --kms, --gcp-kms, --azure-kv, --hc-vault-transit)";
    // sops 3.11 exits 1 here ("no keys provided through command line options").
    match (policy, rule) {
        (Some(p), Some(r)) => Error::new(
            exit::GENERIC,
            format!(
                "no encryption keys for {name}: the creation rule of {} that matches it (path_regex {}) names no keys, and no key flag was given",
                p.path.display(),
                r.path_regex
                    .as_ref()
                    .map_or_else(|| "(none)".to_owned(), |re| format!("`{}`", re.as_str()))
            ),
        )
        .hint("add keys to that rule (age:, pgp:, kms:, … or key_groups:)")
        .hint(flags),
        (Some(p), None) => Error::new(
            exit::GENERIC,
            format!(
                "no encryption keys for {name}: {} has no creation_rules, and no key flag was given",
                p.path.display()
            ),
        )
        .hint("add a creation rule with keys (`leafseal keygen` prints one for a new age key)")
        .hint(flags),
        (None, _) => {
            let search = std::env::current_dir()
                .map(|d| crate::policy::search::search(&d))
                .unwrap_or_default();
            let mut e = Error::new(
                exit::GENERIC,
                format!(
                    "no encryption keys for {name}: no key flag was given and no {} was found (looked in {})",
                    crate::policy::FILE_NAME,
                    search.searched_text()
                ),
            );
            if let Some(h) = search.ignored_hint() {
                e = e.hint(h);
            }
            e.hint(format!(
                "create {} in the repository (`leafseal keygen` prints a creation rule for a new age key), or point --config at one",
                crate::policy::FILE_NAME
            ))
            .hint(flags)
        }
    }
}

/// Arguments of `encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The plaintext file (`-` or nothing for standard input).
    #[arg(default_value = "-")]
    pub file: String,
    #[command(flatten)]
    io: IoArgs,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    selector: SelectorArgs,
    /// Minimum number of key groups needed to decrypt (Shamir).
    #[arg(long, value_name = "N")]
    shamir_secret_sharing_threshold: Option<usize>,
    /// Reuse the data key and unchanged ciphertexts of this encrypted file (implied when
    /// --output names an existing encrypted file) when it already has the keys and
    /// settings asked for (else it is encrypted anew, with a warning): unchanged values
    /// keep their exact ciphertext, and an unchanged plaintext gives the existing file
    /// byte for byte.
    #[arg(long, value_name = "EXISTING")]
    reuse: Option<std::path::PathBuf>,
}

/// An existing encrypted file: its exact bytes and its opened form.
type Reused = (zeroize::Zeroizing<Vec<u8>>, ops::Opened);

/// Opens the encrypted file whose data key, keys and nonces `encrypt` should reuse. An
/// explicit `--reuse` must open; an existing `--output` that is not an encrypted file we
/// can open is simply overwritten (with a warning when it is encrypted).
fn open_existing(
    path: &Path,
    explicit: bool,
    fmt: Format,
    ctx: &KeyContext,
) -> Result<Option<Reused>, Error> {
    let shown = path.display().to_string();
    let bytes = crate::io::read_input(&shown)?;
    let loaded = match ops::classify(&bytes, fmt) {
        ops::Kind::Encrypted(l) => l,
        ops::Kind::Unparseable(e) if explicit => return Err(ops::read_error(e).within(&shown)),
        _ if explicit => {
            return Err(Error::new(
                exit::GENERIC,
                format!("{shown} is not an encrypted file; nothing to reuse"),
            ));
        }
        _ => return Ok(None),
    };
    match ops::open(loaded, ctx, &ops::OpenOptions::default()) {
        Ok(o) => Ok(Some((bytes, o))),
        Err(e) if explicit => Err(e),
        Err(e) => {
            cli::warn(&format!(
                "cannot reuse the data key of {shown} ({}); encrypting it anew",
                e.message.lines().next().unwrap_or_default()
            ));
            Ok(None)
        }
    }
}

/// Decides whether an existing encrypted file's data key may be reused: only when it
/// already has exactly the key groups and settings this invocation asks for
/// ([`ops::reuse_conflicts`]; with no keys asked for at all, its own, see
/// [`ops::plan_or_existing`]). Otherwise it is dropped, with a warning, and the file is
/// encrypted anew as sops does: a new data key, so a recipient that is no longer named
/// cannot use a wrapped data key it kept. Returns the plan to write and the file to reuse.
fn reusable(
    plan: SealPlan,
    existing: Option<Reused>,
    a: &EncryptArgs,
) -> (SealPlan, Option<Reused>) {
    let Some((bytes, opened)) = existing else {
        return (plan, None);
    };
    let plan = ops::plan_or_existing(plan, &opened.meta);
    let conflicts = ops::reuse_conflicts(&opened.meta, &plan);
    if conflicts.is_empty() {
        return (plan, Some((bytes, opened)));
    }
    let shown = a
        .reuse
        .as_ref()
        .or(a.io.output.as_ref())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let what = if a.reuse.is_some() {
        format!("--reuse {shown} is not honoured")
    } else {
        format!("{shown} is replaced, not updated")
    };
    cli::warn(&format!(
        "{what}: its {} differ from what this command asks for, so the output is encrypted anew with a new data key for the keys and settings asked for (as sops does) and every ciphertext changes; a key no longer named cannot open the new file, but could open the old one and its copies in git history, so change the secrets themselves if that matters",
        conflicts.join(", ")
    ));
    (plan, None)
}

/// Runs `encrypt`.
pub fn run(cli: &Cli, a: &EncryptArgs) -> Result<i32, Error> {
    a.io.check(&a.file)?;
    let name = a.io.name(&a.file);
    if a.file == "-" && a.io.filename_override.is_none() && a.io.input_type.is_none() {
        cli::warn(
            "reading standard input as a binary file; pass --input-type or --filename-override to pick a format",
        );
    }
    let dest = a.io.destination(cli, &a.file, true)?;
    let input = crate::io::read_input_via(&a.file, dest.as_ref().filter(|_| a.io.in_place))?;
    let in_fmt = match a.io.input_type.as_deref() {
        Some(t) => cli::parse_format(t)?,
        None if name == "-" => Format::Binary,
        None => Format::from_path(name),
    };
    let out_fmt = match a.io.output_type.as_deref() {
        Some(t) => cli::parse_format(t)?,
        None => in_fmt,
    };
    if let Some(code) = stream(cli, a, &input, name, (in_fmt, out_fmt), dest.as_ref())? {
        // Wiped with a vectorised fill: `Zeroizing`'s drop writes one byte at a time
        // (about 2 ms for the 10 MB benchmark file, at the end of the command).
        crate::secbuf::discard(input);
        return Ok(code);
    }
    let loaded = ops::read_plaintext(&input, name, in_fmt)?;
    // The tree holds the plaintext now: the input is wiped and not kept beside the
    // encrypted tree and the output.
    crate::secbuf::discard(input);
    let (plan, policy) = seal_plan(
        cli,
        name,
        &a.keys,
        &a.selector,
        a.shamir_secret_sharing_threshold,
        in_fmt,
    )?;
    let ctx = crate::cli::key_context();
    let opts = cli::emit_options(a.io.indent, policy.as_ref(), out_fmt);
    let existing = match (&a.reuse, &a.io.output) {
        (Some(p), _) => open_existing(p, true, out_fmt, &ctx)?,
        (None, Some(o)) if o.is_file() => open_existing(o, false, out_fmt, &ctx)?,
        _ => None,
    };
    let (plan, existing) = reusable(plan, existing, a);
    if let Some((bytes, mut opened)) = existing {
        // Pending contributions were made for the existing file; the output is made from
        // the plaintext given (and may be another file: `--reuse`), so none carries over.
        let dropped = crate::contrib::take(&mut opened.meta);
        if dropped > 0 {
            let reused = a.reuse.as_ref().or(a.io.output.as_ref());
            let reused = reused.map(|p| p.display().to_string()).unwrap_or_default();
            cli::warn(&format!(
                "dropped {dropped} pending contribution(s) of {}: `encrypt` writes only the plaintext given, and contributions made for the existing file are not carried into its output; to apply them, run `leafseal absorb` on the existing file (its previous version is in version control) and encrypt again",
                crate::redact::inert(&reused)
            ));
        }
        let mut loaded = loaded;
        crate::lifecycle::adopt_types(&opened.doc, &mut loaded.doc);
        if opened.doc == loaded.doc && dropped == 0 {
            cli::write_to(dest.as_ref(), &bytes)?;
            return Ok(0);
        }
        let mut doc = loaded.doc;
        let signed = crate::signing::present(&opened.meta);
        let meta = ops::reseal(
            &mut doc,
            &mut opened.meta,
            &opened.key,
            Some(&opened.stash),
            out_fmt,
        )?;
        let out = ops::emit_encrypted(out_fmt, &doc, &meta, &opts)?;
        cli::write_to(dest.as_ref(), &out)?;
        if let Some(d) = &dest {
            super::inplace::signature_dropped(&d.path().display().to_string(), signed);
        }
        return Ok(0);
    }
    require_keys(&plan, policy.as_ref(), name)?;
    let (doc, meta) = ops::seal_new(loaded.doc, &plan, &ctx, out_fmt)?;
    let out = ops::emit_encrypted(out_fmt, &doc, &meta, &opts)?;
    cli::write_to(dest.as_ref(), &out)?;
    super::inplace::leave_encrypted(doc);
    Ok(0)
}

/// Encrypts a large YAML or JSON file by streaming (`crate::stream::prepare_encrypt`:
/// the encrypted text is written as it is produced, to standard output or to the
/// temporary file of an atomic write), or `None` when it takes the tree path: another
/// output format, `--reuse` or an existing `--output` file (its nonces are reused), a
/// small file, or anything the streaming path declines, including every error before
/// the data key is wrapped, which the tree path then reports in its own order.
fn stream(
    cli: &Cli,
    a: &EncryptArgs,
    input: &[u8],
    name: &str,
    (in_fmt, out_fmt): (Format, Format),
    dest: Option<&crate::io::Destination>,
) -> Result<Option<i32>, Error> {
    if in_fmt != out_fmt
        || !matches!(in_fmt, Format::Yaml | Format::Json)
        || a.reuse.is_some()
        || a.io.output.as_ref().is_some_and(|o| o.is_file())
        // (A small file without the setting: no key context is built for the question.)
        || input.len() < crate::stream::AUTO_MIN
            && std::env::var_os(crate::stream::STREAM_ENV).is_none()
    {
        return Ok(None);
    }
    let ctx = crate::cli::key_context();
    if !crate::stream::wanted(&ctx, input.len()) {
        return Ok(None);
    }
    let declined = |ctx: &KeyContext| crate::stream::declined_error(ctx).map_or(Ok(None), Err);
    let Ok((plan, policy)) = seal_plan(
        cli,
        name,
        &a.keys,
        &a.selector,
        a.shamir_secret_sharing_threshold,
        in_fmt,
    ) else {
        return declined(&ctx);
    };
    if require_keys(&plan, policy.as_ref(), name).is_err() {
        return declined(&ctx);
    }
    let opts = cli::emit_options(a.io.indent, policy.as_ref(), out_fmt);
    let mut prepared = match crate::stream::prepare_encrypt(input, in_fmt, &plan, &ctx, &opts)? {
        crate::stream::Prepare::Ready(p) => p,
        crate::stream::Prepare::Declined => return declined(&ctx),
    };
    let fill = &mut |w: &mut dyn std::io::Write| prepared.write(w);
    match dest {
        Some(d) => d.write_with(fill)?,
        None => crate::io::write_stdout_with(fill)?,
    }
    Ok(Some(0))
}
