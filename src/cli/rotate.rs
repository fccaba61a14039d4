//! `leafseal rotate FILE`: a new data key, every value re-encrypted, optional key changes.
//! `rotate -i FILE...` rotates several files in one invocation, on all cores.

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
    /// The encrypted file(s). Several files need --in-place: each is rotated on its own
    /// (on all cores) and written atomically when it succeeded; a file that fails is
    /// reported by name, leaves it unchanged, and makes the exit code non-zero.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub open: OpenArgs,
}

/// `kind key id` of a `--rm-*` key the file does not have (the id as typed, shown as
/// key ids are shown).
fn unmatched((kind, id): &(KeyKind, String)) -> String {
    format!("{} key {}", kind.field(), crate::redact::display_id(id))
}

/// What rotating one file has to say on stderr, printed in the order of the files once
/// they are all done (warnings, then the note of a dropped signature).
#[derive(Default)]
struct Said {
    warnings: Vec<String>,
    notes: Vec<String>,
}

impl Said {
    fn print(&self) {
        self.warnings.iter().for_each(|w| cli::warn(w));
        self.notes.iter().for_each(|n| inplace::note(n));
    }
}

/// What every file of one invocation shares.
struct Plan<'a> {
    cli: &'a Cli,
    a: &'a RotateArgs,
    changes: KeyChanges,
    ctx: std::sync::OnceLock<ops::KeyContext>,
}

impl Plan<'_> {
    /// Rotates one file (written to its destination, or printed), collecting its messages
    /// in `said`. Nothing is written unless every step succeeded. `single` when it is the
    /// only file: its encrypted tree is then left to the end of the process.
    fn one(&self, file: &str, said: &mut Said, single: bool) -> Result<(), Error> {
        let (cli, a) = (self.cli, self.a);
        let name = a.io.name(file);
        let dest =
            a.io.destination(cli, file, false)
                .map_err(cli::missing_unreadable)?;
        let locked = dest.as_ref().filter(|_| a.io.in_place);
        let (from_file, open) = match self.stream_file(file, locked, dest.as_ref(), said)? {
            FromFile::Streamed(Streamed::Done) => return Ok(()),
            FromFile::Streamed(declined) => (Some(declined), None),
            FromFile::Whole(open) => (None, open),
        };
        // A file opened above to look at its size is read from there: not opened twice.
        let input = match open {
            Some((f, meta)) => crate::io::read_opened(file, f, Some(&meta)),
            None => crate::io::read_input_via(file, locked),
        }
        .map_err(cli::missing_unreadable)?;
        let in_fmt = cli::input_format(a.io.input_type.as_deref(), name, Some(&input))?;
        let out_fmt = match a.io.output_type.as_deref() {
            Some(t) => cli::parse_format(t)?,
            None => in_fmt,
        };
        // Declined from the file (a plan that did not hold, a file changed meanwhile):
        // the whole text is streamed from memory, with the data key when it was
        // recovered from the same text, else rotated as a tree.
        let known = match from_file {
            Some(Streamed::Declined(key)) => key,
            Some(Streamed::Done) | None => None,
        };
        let formats = (in_fmt, out_fmt);
        let recovered = match self.stream(file, &input, formats, dest.as_ref(), said, known)? {
            Streamed::Done => {
                if single {
                    inplace::leave_input(input);
                }
                return Ok(());
            }
            Streamed::Declined(key) => key,
        };
        let loaded = ops::load_encrypted(in_fmt, &input, name)?;
        let ctx = self.ctx.get_or_init(cli::key_context);
        let opts = a.open.options(cli)?;
        // Every value gets a fresh nonce under the new data key: no IV stash is needed.
        let mut opened = match recovered {
            Some(key) => ops::open_for_reading_with_key(loaded, ctx, &opts, key),
            None => ops::open_for_reading(loaded, ctx, &opts),
        }
        .map_err(|e| e.within(name))?;
        for w in &opened.warnings {
            said.warnings.push(format!("{name}: {w}"));
        }
        let signed = crate::signing::present(&opened.meta);
        let (meta, report) = lifecycle::rotate(&mut opened, &self.changes, ctx, out_fmt)?;
        for k in &report.unmatched_removals {
            said.warnings.push(format!(
                "{} is not in the file; nothing to remove",
                unmatched(k)
            ));
        }
        let policy = inplace::policy_for_output(cli)?;
        let out = inplace::emit(out_fmt, &opened.doc, &meta, a.io.indent, policy.as_ref())?;
        cli::audit::record("rotate", file, &opened.unwrapped_by)?;
        cli::write_to(dest.as_ref(), &out)?;
        if single {
            inplace::leave_encrypted(std::mem::take(&mut opened.doc));
        }
        if dest.is_some() && signed {
            said.notes.push(inplace::signature_dropped_note(name));
        }
        Ok(())
    }
}

/// What the writing of a streamed rotation gave.
enum Written {
    Nothing,
    Done(crate::stream::Rotated),
    Declined(Option<crate::stream::RecoveredKey>),
    Failed(Error),
}

/// What [`Plan::stream_file`] did with a named file.
enum FromFile {
    /// Rotated by streaming from the file, or declined by it.
    Streamed(Streamed),
    /// To be read whole: from the file and its metadata when it was opened already.
    Whole(Option<(std::fs::File, std::fs::Metadata)>),
}

/// What the streaming path did with a file.
enum Streamed {
    /// Rotated and written.
    Done,
    /// To be rotated as a tree (with the data key, when it was recovered).
    Declined(Option<crate::stream::RecoveredKey>),
}

impl Plan<'_> {
    /// Rotates a large YAML or JSON file by streaming (`crate::stream::prepare_rotate`,
    /// with the data key `known` when it was recovered from the same text), or declines
    /// it to the tree path. A file is written through its temporary file, renamed only
    /// after the old MAC and integrity record were verified (and the audit event
    /// recorded); standard output gets the whole file from a buffer, after them.
    fn stream(
        &self,
        file: &str,
        input: &[u8],
        (in_fmt, out_fmt): (ops::Format, ops::Format),
        dest: Option<&crate::io::Destination>,
        said: &mut Said,
        known: Option<crate::stream::RecoveredKey>,
    ) -> Result<Streamed, Error> {
        let (cli, a) = (self.cli, self.a);
        if in_fmt != out_fmt || !matches!(in_fmt, ops::Format::Yaml | ops::Format::Json) {
            return Ok(Streamed::Declined(known));
        }
        let ctx = self.ctx.get_or_init(cli::key_context);
        if !crate::stream::wanted(ctx, input.len()) {
            return Ok(Streamed::Declined(known));
        }
        let name = a.io.name(file);
        let policy = inplace::policy_for_output(cli)?;
        let emit = cli::emit_options(a.io.indent, policy.as_ref(), out_fmt);
        let opts = a.open.options(cli)?;
        let prepared =
            crate::stream::prepare_rotate(input, in_fmt, ctx, &opts, &self.changes, &emit, known)
                .map_err(|e| e.within(name))?;
        self.write_prepared(prepared, file, dest, said, true)
    }

    /// [`Plan::stream`] for a block-YAML or JSON file read from disk in parts, never whole
    /// (`crate::stream::prepare_rotate_file`), through `locked` for an in-place rotation;
    /// any other input is to be read whole (from the file opened here, when it was), as
    /// is a file this declines.
    fn stream_file(
        &self,
        file: &str,
        locked: Option<&crate::io::Destination>,
        dest: Option<&crate::io::Destination>,
        said: &mut Said,
    ) -> Result<FromFile, Error> {
        let (cli, a) = (self.cli, self.a);
        let name = a.io.name(file);
        let Ok(fmt) = cli::input_format(a.io.input_type.as_deref(), name, None) else {
            return Ok(FromFile::Whole(None));
        };
        let same_out = match a.io.output_type.as_deref().map(cli::parse_format) {
            None => true,
            Some(out) => out.is_ok_and(|out| out == fmt),
        };
        if !matches!(fmt, ops::Format::Yaml | ops::Format::Json) || !same_out {
            return Ok(FromFile::Whole(None));
        }
        // (A file gone meanwhile is exit 2, as when it is read whole.)
        let Some((f, meta, len)) =
            inplace::open_regular(file, locked).map_err(cli::missing_unreadable)?
        else {
            return Ok(FromFile::Whole(None));
        };
        let ctx = self.ctx.get_or_init(cli::key_context);
        if !crate::stream::wanted(ctx, len) {
            return Ok(FromFile::Whole(Some((f, meta))));
        }
        crate::process::note_input(Some(&meta));
        let policy = inplace::policy_for_output(cli)?;
        let emit = cli::emit_options(a.io.indent, policy.as_ref(), fmt);
        let opts = a.open.options(cli)?;
        let prepared =
            crate::stream::prepare_rotate_file(&f, fmt, ctx, &opts, &self.changes, &emit)
                .map_err(|e| e.within(name))?;
        self.write_prepared(prepared, file, dest, said, false)
            .map(FromFile::Streamed)
    }

    /// Writes a rotation prepared by streaming (see [`Plan::stream`]), or hands the
    /// file back to the next path: the tree path when this is the `last` streaming path
    /// tried (with `LEAFSEAL_STREAM=require`, a decline there is an error).
    fn write_prepared(
        &self,
        prepared: crate::stream::RotatePrepare<'_>,
        file: &str,
        dest: Option<&crate::io::Destination>,
        said: &mut Said,
        last: bool,
    ) -> Result<Streamed, Error> {
        let name = self.a.io.name(file);
        let ctx = self.ctx.get_or_init(cli::key_context);
        let declined = |key| match crate::stream::declined_error(ctx).filter(|_| last) {
            Some(e) => Err(e.within(name)),
            None => Ok(Streamed::Declined(key)),
        };
        let mut p = match prepared {
            crate::stream::RotatePrepare::Ready(p) => p,
            crate::stream::RotatePrepare::Declined(key) => return declined(key),
        };
        let mut outcome = Written::Nothing;
        let mut fill = |w: &mut dyn std::io::Write| {
            let r = p.write(w);
            match r {
                Ok(crate::stream::RotateOutcome::Done(r)) => {
                    cli::audit::record("rotate", file, &r.unwrapped_by)?;
                    outcome = Written::Done(r);
                    Ok(())
                }
                Ok(crate::stream::RotateOutcome::Declined(key)) => {
                    outcome = Written::Declined(key);
                    // Discards the temporary file; the tree path rotates the file.
                    Err(Error::new(exit::GENERIC, "declined"))
                }
                Err(e) => {
                    let code = e.code;
                    outcome = Written::Failed(e.within(name));
                    Err(Error::new(code, "failed"))
                }
            }
        };
        let written = match dest {
            Some(d) => d.write_with(&mut fill),
            None => {
                let mut buf = Vec::new();
                fill(&mut buf).and_then(|()| crate::io::write_stdout(&buf))
            }
        };
        let r = match (outcome, written) {
            (Written::Declined(key), _) => return declined(key),
            (Written::Done(r), Ok(())) => r,
            // The destination's own words for its failures (the output, the rename).
            (Written::Failed(e), Err(w)) if e.code == exit::COULD_NOT_WRITE_OUTPUT => {
                return Err(w);
            }
            (Written::Failed(e), _) => return Err(e),
            (_, Err(w)) => return Err(w),
            (Written::Nothing, Ok(())) => return Ok(Streamed::Done),
        };
        for w in &r.warnings {
            said.warnings.push(format!("{name}: {w}"));
        }
        for k in &r.unmatched_removals {
            said.warnings.push(format!(
                "{} is not in the file; nothing to remove",
                unmatched(k)
            ));
        }
        if dest.is_some() && r.signed {
            said.notes.push(inplace::signature_dropped_note(name));
        }
        Ok(Streamed::Done)
    }
}

/// Runs `rotate`. Nothing is written to a file unless every step of that file succeeded.
pub fn run(cli: &Cli, a: &RotateArgs) -> Result<i32, Error> {
    for f in &a.files {
        cli::audit::expect("rotate", f, &[])?;
    }
    for f in &a.files {
        a.io.check(f)?;
    }
    let many = a.files.len() > 1;
    if many {
        check_many(a)?;
    }
    let plan = Plan {
        cli,
        a,
        changes: a.keys.changes()?,
        ctx: std::sync::OnceLock::new(),
    };
    if !many {
        let mut said = Said::default();
        let r = plan.one(&a.files[0], &mut said, true);
        said.print();
        return r.map(|()| 0);
    }
    // The policy and the key context are read once, before the workers start.
    let _ = plan.ctx.get_or_init(cli::key_context);
    let _ = inplace::policy_for_output(cli)?;
    let results = super::multi::map(&a.files, |f| {
        let mut said = Said::default();
        let r = plan.one(f, &mut said, false);
        if let Err(e) = &r {
            cli::audit::done("rotate", f, e.code);
        }
        r.map(|()| said)
    });
    for said in results.iter().flatten() {
        said.print();
    }
    match super::multi::report_failures(&a.files, &results) {
        None => Ok(0),
        Some((first, failed)) => Err(Error::new(
            first.code,
            format!(
                "{failed} of {} files could not be rotated and were left unchanged; the others were rotated",
                a.files.len()
            ),
        )),
    }
}

/// Several files are rotated in place only: their outputs are separate encrypted files.
fn check_many(a: &RotateArgs) -> Result<(), Error> {
    if a.io.output.is_some() || a.io.filename_override.is_some() {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "--output and --filename-override take a single file",
        )
        .hint("rotate the files with --in-place (-i), or one at a time"));
    }
    if !a.io.in_place {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "several files can be rotated only in place (--in-place, -i)",
        )
        .hint(
            "pass -i to rotate each file in place, or rotate one file at a time to standard output",
        ));
    }
    Ok(())
}
