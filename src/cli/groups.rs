//! `leafseal groups add|delete`: change the key groups of a file, keeping its data key.

use clap::Args;
use clap::Subcommand;

use crate::cli;
use crate::cli::Cli;
use crate::cli::inplace;
use crate::error::Error;
use crate::error::exit;
use crate::lifecycle;
use crate::ops;
use crate::ops::KeyGroup;
use crate::ops::KeyKind;
use crate::ops::KeyLists;

/// Arguments of `groups`.
#[derive(Debug, Args)]
pub struct GroupsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: GroupsAction,
}

/// `groups` subcommands.
// Parsed once per run: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum GroupsAction {
    /// Add a key group (the data key is kept, re-split and re-wrapped for every group).
    #[command(
        after_help = "Examples:\n  leafseal groups add -i -f secrets.yaml --age age1...\n  leafseal groups add -i -f secrets.yaml --pgp FINGERPRINT --shamir-secret-sharing-threshold 2"
    )]
    Add(AddArgs),
    /// Delete the key group at INDEX (0-based).
    #[command(
        after_help = "Examples:\n  leafseal groups delete -i -f secrets.yaml 1\n  leafseal groups delete --output out.yaml -f secrets.yaml 0"
    )]
    Delete(DeleteArgs),
}

/// Where the result goes.
#[derive(Debug, Args, Clone)]
pub struct OutArgs {
    /// The encrypted file.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: String,
    /// Write the result over the file (atomically) instead of standard output.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Input format (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Minimum number of key groups needed to decrypt (default: the file's, else all).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    /// Key types to try first when recovering the data key.
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
}

/// Arguments of `groups add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub out: OutArgs,
    /// An age recipient of the new group (repeatable, or comma-separated).
    #[arg(long, value_name = "RECIPIENT")]
    pub age: Vec<String>,
    /// A PGP fingerprint of the new group (repeatable, or comma-separated).
    #[arg(long, value_name = "FINGERPRINT")]
    pub pgp: Vec<String>,
    /// An AWS KMS key ARN (`ARN[+ROLE]`) of the new group (repeatable, or comma-separated).
    #[arg(long, value_name = "ARN")]
    pub kms: Vec<String>,
    /// A GCP Cloud KMS key resource ID of the new group (repeatable, or comma-separated).
    #[arg(long, value_name = "ID")]
    pub gcp_kms: Vec<String>,
    /// A HuaweiCloud KMS key ID (region:key-uuid) of the new group (repeatable, or comma-separated).
    #[arg(long, value_name = "ID")]
    pub hckms: Vec<String>,
    /// An Azure Key Vault key URL of the new group (repeatable, or comma-separated).
    #[arg(long, value_name = "URL")]
    pub azure_kv: Vec<String>,
    /// A Vault transit key URI of the new group (repeatable, or comma-separated).
    #[arg(long, value_name = "URI")]
    pub hc_vault_transit: Vec<String>,
    /// KMS encryption context (key:value,key2:value2) for the --kms keys.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// The AWS profile for the --kms keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
}

/// Arguments of `groups delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub out: OutArgs,
    /// The group to delete (0-based).
    pub index: usize,
}

fn new_group(a: &AddArgs) -> Result<KeyGroup, Error> {
    let lists = [
        (KeyKind::Age, &a.age),
        (KeyKind::Pgp, &a.pgp),
        (KeyKind::Kms, &a.kms),
        (KeyKind::GcpKms, &a.gcp_kms),
        (KeyKind::Hckms, &a.hckms),
        (KeyKind::AzureKv, &a.azure_kv),
        (KeyKind::HcVault, &a.hc_vault_transit),
    ];
    ops::flags::group_from_flags(&KeyLists {
        lists: lists
            .iter()
            .flat_map(|(k, l)| l.iter().map(|s| (*k, s.as_str())))
            .collect(),
        encryption_context: a.encryption_context.as_deref(),
        aws_profile: a.aws_profile.as_deref(),
    })
}

/// Runs `groups`.
pub fn run(cli: &Cli, a: &GroupsArgs) -> Result<i32, Error> {
    let out = match &a.action {
        GroupsAction::Add(x) => &x.out,
        GroupsAction::Delete(x) => &x.out,
    };
    if out.in_place && out.output.is_some() {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "--in-place and --output cannot be used together",
        ));
    }
    let dest = if out.in_place {
        Some(
            crate::cli::update(cli, std::path::Path::new(&out.file))
                .map_err(crate::cli::missing_unreadable)?,
        )
    } else if let Some(o) = &out.output {
        Some(crate::cli::output(cli, o)?)
    } else {
        None
    };
    let target = inplace::read_target(
        &out.file,
        out.input_type.as_deref(),
        dest.as_ref().filter(|_| out.in_place),
    )
    .map_err(crate::cli::missing_unreadable)?;
    let mut meta = ops::metadata_of(&target.loaded)?;
    let ctx = crate::cli::key_context();
    let order = match &out.decryption_order {
        Some(s) => super::decryption_order(s)?,
        None => Vec::new(),
    };
    let key = lifecycle::data_key(&meta, &ctx, &order)?;
    let signed = crate::signing::present(&meta);
    let mut warnings = Vec::new();
    ops::certify(
        &target.loaded.doc,
        &mut meta,
        &key,
        cli::strict_integrity(cli)?,
        &mut warnings,
    )
    .map_err(|e| e.within(&out.file))?;
    for w in &warnings {
        cli::warn(&format!("{}: {w}", out.file));
    }
    let map = match &a.action {
        GroupsAction::Add(x) => lifecycle::add_group(
            &mut meta,
            &key,
            new_group(x)?,
            out.shamir_secret_sharing_threshold,
            &ctx,
        )?,
        GroupsAction::Delete(x) => lifecycle::delete_group(
            &mut meta,
            &key,
            x.index,
            out.shamir_secret_sharing_threshold,
            &ctx,
        )?,
    };
    let policy = inplace::policy_for_output(cli)?;
    let bytes = inplace::emit(
        target.format,
        &target.loaded.doc,
        &map,
        None,
        policy.as_ref(),
    )?;
    crate::cli::write_to(dest.as_ref(), &bytes)?;
    if dest.is_some() {
        inplace::signature_dropped(&out.file, signed);
    }
    Ok(0)
}
