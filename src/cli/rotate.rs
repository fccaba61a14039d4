//! `leafseal rotate FILE`: a new data key, every value re-encrypted, optional key changes.

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::cli::IoArgs;
use crate::cli::inplace;
use crate::cli::inplace::OpenArgs;
use crate::error::Error;
use crate::error::exit;
use crate::lifecycle;
use crate::lifecycle::KeyChanges;
use crate::ops;
use crate::ops::KeyKind;

/// `--add-*`/`--rm-*` flags. Another key kind only needs two more fields here and one
/// line each in [`KeyFlags::changes`].
#[derive(Debug, Args, Clone, Default)]
pub struct KeyFlags {
    /// age recipients to add to the first key group (comma-separated, repeatable).
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Vec<String>,
    /// age recipients to remove from every key group.
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Vec<String>,
    /// PGP fingerprints to add to the first key group.
    #[arg(long, value_name = "FINGERPRINTS")]
    pub add_pgp: Vec<String>,
    /// PGP fingerprints to remove from every key group.
    #[arg(long, value_name = "FINGERPRINTS")]
    pub rm_pgp: Vec<String>,
    /// AWS KMS ARNs (`ARN[+ROLE]`) to add to the first key group.
    #[arg(long, value_name = "ARNS")]
    pub add_kms: Vec<String>,
    /// AWS KMS ARNs to remove from every key group.
    #[arg(long, value_name = "ARNS")]
    pub rm_kms: Vec<String>,
    /// GCP KMS resource IDs to add to the first key group.
    #[arg(long, value_name = "IDS")]
    pub add_gcp_kms: Vec<String>,
    /// GCP KMS resource IDs to remove from every key group.
    #[arg(long, value_name = "IDS")]
    pub rm_gcp_kms: Vec<String>,
    /// HuaweiCloud KMS key IDs (region:key-uuid) to add to the first key group.
    #[arg(long, value_name = "IDS")]
    pub add_hckms: Vec<String>,
    /// HuaweiCloud KMS key IDs to remove from every key group.
    #[arg(long, value_name = "IDS")]
    pub rm_hckms: Vec<String>,
    /// Azure Key Vault key URLs to add to the first key group.
    #[arg(long, value_name = "URLS")]
    pub add_azure_kv: Vec<String>,
    /// Azure Key Vault key URLs to remove from every key group.
    #[arg(long, value_name = "URLS")]
    pub rm_azure_kv: Vec<String>,
    /// Vault transit key URIs to add to the first key group.
    #[arg(long, value_name = "URIS")]
    pub add_hc_vault_transit: Vec<String>,
    /// Vault transit key URIs to remove from every key group.
    #[arg(long, value_name = "URIS")]
    pub rm_hc_vault_transit: Vec<String>,
    /// KMS encryption context (key:value,key2:value2) for the keys given with --add-kms.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
}

impl KeyFlags {
    /// The requested changes.
    pub fn changes(&self) -> Result<KeyChanges, Error> {
        fn pairs(lists: [(KeyKind, &[String]); 7]) -> Vec<(KeyKind, &str)> {
            lists
                .into_iter()
                .flat_map(|(k, l)| l.iter().map(move |s| (k, s.as_str())))
                .collect()
        }
        let adds = pairs([
            (KeyKind::Age, &self.add_age),
            (KeyKind::Pgp, &self.add_pgp),
            (KeyKind::Kms, &self.add_kms),
            (KeyKind::GcpKms, &self.add_gcp_kms),
            (KeyKind::Hckms, &self.add_hckms),
            (KeyKind::AzureKv, &self.add_azure_kv),
            (KeyKind::HcVault, &self.add_hc_vault_transit),
        ]);
        let removes = pairs([
            (KeyKind::Age, &self.rm_age),
            (KeyKind::Pgp, &self.rm_pgp),
            (KeyKind::Kms, &self.rm_kms),
            (KeyKind::GcpKms, &self.rm_gcp_kms),
            (KeyKind::Hckms, &self.rm_hckms),
            (KeyKind::AzureKv, &self.rm_azure_kv),
            (KeyKind::HcVault, &self.rm_hc_vault_transit),
        ]);
        ops::flags::changes_from_flags(&adds, &removes, self.encryption_context.as_deref())
    }
}

/// Arguments of `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The encrypted file(s). Several files need -i: each is rotated and written on its
    /// own (atomically), on all cores; a file that fails is reported and the others are
    /// still rotated.
    #[arg(required = true, num_args = 1..)]
    pub files: Vec<String>,
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub open: OpenArgs,
}

/// Runs `rotate`. Nothing is written for a file unless every step succeeded for it.
pub fn run(cli: &Cli, a: &RotateArgs) -> Result<i32, Error> {
    let [file] = a.files.as_slice() else {
        return run_many(cli, a);
    };
    let changes = a.keys.changes()?;
    let ctx = crate::cli::key_context();
    rotate_one(cli, a, file, &changes, &ctx, true)
}

/// Rotates several files in place, on all cores: every file is opened, rotated and
/// written on its own (its lock held only meanwhile), so one failure leaves the others
/// rotated. Each failure is reported with its file; the exit code is the first failure's.
fn run_many(cli: &Cli, a: &RotateArgs) -> Result<i32, Error> {
    if !a.io.in_place || a.io.output.is_some() || a.files.iter().any(|f| f == "-") {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "several files can be rotated only in place: --output and standard input take a single file",
        )
        .hint("pass -i to rotate every file in place, or rotate one file at a time"));
    }
    let changes = a.keys.changes()?;
    let ctx = crate::cli::key_context();
    let files = &a.files;
    let threads = crate::io::cores().min(files.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<i32, Error>>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let (Some(file), Some(slot)) = (files.get(i), slots.get(i)) else {
                        break;
                    };
                    let r = rotate_one(cli, a, file, &changes, &ctx, false);
                    if let Ok(mut slot) = slot.lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    let mut failed: Option<(usize, i32)> = None;
    for (file, slot) in files.iter().zip(slots) {
        let r = slot.into_inner().ok().flatten().unwrap_or_else(|| {
            Err(Error::new(
                exit::GENERIC,
                "internal error: a worker did not finish",
            ))
        });
        if let Err(e) = r {
            // Errors from opening the file already name it.
            if e.message.starts_with(&format!("{file}: ")) {
                cli::report(&e);
            } else {
                cli::report(&e.clone().within(file));
            }
            let f = failed.get_or_insert((0, e.code));
            f.0 += 1;
        }
    }
    match failed {
        None => Ok(0),
        Some((n, code)) => Err(Error::new(
            code,
            format!(
                "{n} of {} files could not be rotated (listed above) and were left as they were; the others were rotated",
                files.len()
            ),
        )),
    }
}

/// Rotates one file; `single` when it is the only one (its tree is then left to the
/// end of the process).
fn rotate_one(
    cli: &Cli,
    a: &RotateArgs,
    file: &str,
    changes: &lifecycle::KeyChanges,
    ctx: &crate::ops::KeyContext,
    single: bool,
) -> Result<i32, Error> {
    cli::audit::expect("rotate", file, &[])?;
    a.io.check(file)?;
    let name = a.io.name(file);
    let dest = a.io.destination(cli, file)?;
    let input = crate::io::read_input(file)?;
    let in_fmt = cli::input_format(a.io.input_type.as_deref(), name, Some(&input))?;
    let out_fmt = match a.io.output_type.as_deref() {
        Some(t) => cli::parse_format(t)?,
        None => in_fmt,
    };
    let loaded = ops::load_encrypted(in_fmt, &input, name)?;
    // Every value gets a fresh nonce under the new data key: no IV stash is needed.
    let mut opened =
        ops::open_for_reading(loaded, ctx, &a.open.options(cli)?).map_err(|e| e.within(name))?;
    for w in &opened.warnings {
        cli::warn(&format!("{name}: {w}"));
    }
    let signed = crate::signing::present(&opened.meta);
    let (meta, report) = lifecycle::rotate(&mut opened, changes, ctx)?;
    for (kind, id) in &report.unmatched_removals {
        cli::warn(&format!(
            "{name}: {} key {id} is not in the file; nothing to remove",
            kind.field()
        ));
    }
    let policy = inplace::policy_for_output(cli);
    let out = inplace::emit(out_fmt, &opened.doc, &meta, a.io.indent, policy.as_ref())?;
    cli::audit::record("rotate", file, &opened.unwrapped_by)?;
    cli::write_to(dest.as_ref(), &out)?;
    if single {
        inplace::leave_encrypted(std::mem::take(&mut opened.doc));
    }
    if dest.is_some() {
        inplace::signature_dropped(name, signed);
    }
    Ok(0)
}
