//! `leafseal rotate FILE`: a new data key, every value re-encrypted, optional key changes.

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::cli::IoArgs;
use crate::cli::inplace;
use crate::cli::inplace::OpenArgs;
use crate::error::Error;
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
    /// The encrypted file.
    pub file: String,
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub open: OpenArgs,
}

/// Runs `rotate`. Nothing is written unless every step succeeded.
pub fn run(cli: &Cli, a: &RotateArgs) -> Result<i32, Error> {
    cli::audit::expect("rotate", &a.file, &[])?;
    a.io.check(&a.file)?;
    let changes = a.keys.changes()?;
    let name = a.io.name(&a.file);
    let dest = a.io.destination(cli, &a.file)?;
    let input = crate::io::read_input(&a.file)?;
    let in_fmt = cli::input_format(a.io.input_type.as_deref(), name, Some(&input))?;
    let out_fmt = match a.io.output_type.as_deref() {
        Some(t) => cli::parse_format(t)?,
        None => in_fmt,
    };
    let loaded = ops::load_encrypted(in_fmt, &input, name)?;
    let ctx = crate::cli::key_context();
    // Every value gets a fresh nonce under the new data key: no IV stash is needed.
    let mut opened =
        ops::open_for_reading(loaded, &ctx, &a.open.options(cli)?).map_err(|e| e.within(name))?;
    for w in &opened.warnings {
        cli::warn(&format!("{name}: {w}"));
    }
    let signed = crate::signing::present(&opened.meta);
    let (meta, report) = lifecycle::rotate(&mut opened, &changes, &ctx)?;
    for (kind, id) in &report.unmatched_removals {
        cli::warn(&format!(
            "{} key {id} is not in the file; nothing to remove",
            kind.field()
        ));
    }
    let policy = inplace::policy_for_output(cli);
    let out = inplace::emit(out_fmt, &opened.doc, &meta, a.io.indent, policy.as_ref())?;
    cli::audit::record("rotate", &a.file, &opened.unwrapped_by)?;
    cli::write_to(dest.as_ref(), &out)?;
    if dest.is_some() {
        inplace::signature_dropped(name, signed);
    }
    Ok(0)
}
