//! `leafseal decrypt`.
//!
//! One file as sops does it, or many in one invocation: with `-i` each is decrypted in
//! place; to stdout, YAML outputs are joined into one multi-document stream (ready for
//! `kubectl apply -f -`). Files are decrypted in parallel; nothing is written unless all
//! succeed.

use crate::io::Destination;
use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::cli::IoArgs;
use crate::error::Error;
use crate::error::exit;
use crate::ops;
use crate::ops::Document;
use crate::ops::Format;
use crate::ops::KeyContext;
use crate::ops::OpenOptions;
use crate::ops::Output;

/// Arguments of `decrypt`.
#[derive(Debug, Args, Clone)]
pub struct DecryptArgs {
    /// The encrypted file(s) (`-` or nothing for standard input).
    #[arg(default_value = "-")]
    pub files: Vec<String>,
    #[command(flatten)]
    io: IoArgs,
    /// Print only the value at this path, e.g. '["app"]["db"]["password"]' or '["list"][0]'.
    #[arg(long, value_name = "PATH")]
    extract: Option<String>,
    /// Decrypt even if the MAC does not match (the file may have been tampered with).
    #[arg(long)]
    ignore_mac: bool,
    /// Key types to try first, comma-separated (age, pgp, kms, gcp_kms, azure_kv, hc_vault).
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    decryption_order: Option<String>,
    /// Show the `data` values of Kubernetes Secrets (`kind: Secret`) base64-decoded
    /// (values that are not valid base64 are shown as they are; not UTF-8: `!!binary`).
    #[arg(long)]
    k8s_decode: bool,
}

/// What [`Plan::stream_file`] did with a named file.
enum FromFile {
    /// Streamed, or declined by the streaming reader; in this output format.
    Streamed(crate::stream::Outcome, Format),
    /// To be read whole: from the file and its metadata when it was opened already.
    Whole(Option<(std::fs::File, std::fs::Metadata)>),
}

struct Plan<'a> {
    a: &'a DecryptArgs,
    ctx: KeyContext,
    open: OpenOptions,
    policy: Option<crate::policy::Policy>,
    signature: super::sign::ReadCheck,
}

impl Plan<'_> {
    /// Decrypts one file to its output bytes and output format.
    fn one(&self, file: &str, locked: Option<&Destination>) -> Result<(Output, Format), Error> {
        let r = self.one_keep(file, locked).map(|(out, fmt, _)| (out, fmt));
        if let Err(e) = &r {
            cli::audit::done("decrypt", file, e.code);
        }
        r
    }

    /// [`Plan::one`], also handing back the decrypted tree, so that a process about to
    /// exit can wipe it without paying for freeing it (see [`exit_wipe`]).
    /// `locked`: the file's own destination (`-i`), which it is read through.
    fn one_keep(
        &self,
        file: &str,
        locked: Option<&Destination>,
    ) -> Result<(Output, Format, Document), Error> {
        let a = self.a;
        let name = a.io.name(file);
        // A large YAML or JSON file is streamed from the file itself, in blocks, without reading
        // it whole first; what that declines is read whole below (the tree path).
        let mut recovered = None;
        let (streamed_file, open) = match self.stream_file(file, name, locked)? {
            FromFile::Streamed(crate::stream::Outcome::Done(done), fmt) => {
                return self.streamed(file, name, done, fmt);
            }
            FromFile::Streamed(crate::stream::Outcome::Declined(key), _) => {
                recovered = key;
                (true, None)
            }
            FromFile::Whole(open) => (false, open),
        };
        // A file opened above to look at its size is read from there: not opened twice.
        let mut input = match open {
            Some((f, meta)) => crate::io::read_opened(file, f, Some(&meta))?,
            None => crate::io::read_input_via(file, locked)?,
        };
        let in_fmt = cli::input_format(a.io.input_type.as_deref(), name, Some(&input))?;
        let out_fmt = match a.io.output_type.as_deref() {
            Some(t) => cli::parse_format(t)?,
            None => in_fmt,
        };
        // Conflict markers first: a merge without the driver is named as such on every path.
        crate::conflict::check(&input, name)?;
        let streamable = matches!(
            (in_fmt, out_fmt),
            (Format::Yaml, Format::Yaml) | (Format::Json, Format::Json)
        );
        if !streamed_file
            && streamable
            && a.extract.is_none()
            && !a.k8s_decode
            && crate::stream::wanted(&self.ctx, input.len())
        {
            let opts = cli::emit_options(a.io.indent, self.policy.as_ref(), out_fmt);
            let needs_tree = |m: &crate::metadata::Metadata| self.signature.needs_tree(m);
            let streamed = if in_fmt == Format::Json {
                crate::stream::decrypt_json(&input, &self.ctx, &self.open, &opts, &needs_tree)
            } else {
                crate::stream::decrypt_yaml(&input, &self.ctx, &self.open, &opts, &needs_tree)
            };
            match streamed.map_err(|e| e.within(name))? {
                crate::stream::Outcome::Done(done) => {
                    drop(std::mem::take(&mut *input));
                    return self.streamed(file, name, done, out_fmt);
                }
                crate::stream::Outcome::Declined(key) => {
                    if let Some(e) = crate::stream::declined_error(&self.ctx) {
                        return Err(e.within(name));
                    }
                    recovered = key;
                }
            }
        }
        let loaded = ops::load_encrypted(in_fmt, &input, name)?;
        // Read once (its selector regex compiled once): for the signature check, then
        // handed to the opening, which would give the same error when it cannot be read.
        let meta = ops::metadata_of(&loaded);
        if let Ok(meta) = &meta {
            self.signature.check(name, &loaded.doc, meta, &self.ctx)?;
        }
        // The encrypted input holds nothing that is not on disk already: free it now,
        // without the wipe `Zeroizing` would do (tens of megabytes for a large file).
        drop(std::mem::take(&mut *input));
        let mut opened = meta
            .and_then(|meta| {
                ops::open_for_reading_with_meta(loaded, meta, &self.ctx, &self.open, recovered)
            })
            .map_err(|e| e.within(name))?;
        if a.k8s_decode {
            crate::integrations::k8s::decode(&mut opened.doc);
        }
        for w in &opened.warnings {
            cli::warn(&format!("{name}: {w}"));
        }
        let opts = cli::emit_options(a.io.indent, self.policy.as_ref(), out_fmt);
        let out = ops::render_plain(&opened.doc, a.extract.as_deref(), out_fmt, &opts)?;
        // Before anything is released: a required audit sink that fails stops it here.
        if let Err(e) = cli::audit::record("decrypt", file, &opened.unwrapped_by) {
            crate::secbuf::discard(out);
            return Err(e);
        }
        let ops::Opened { doc, .. } = opened;
        Ok((out, out_fmt, doc))
    }

    /// Streams a named YAML or JSON file from disk ([`crate::stream::decrypt_yaml_file`],
    /// [`crate::stream::decrypt_json_file`]) when it is one to stream; otherwise it is
    /// read whole as before (standard input, another format, `--extract`, a small file,
    /// or anything odd about the file, which the usual reading then reports), from the
    /// file opened here when it got that far.
    fn stream_file(
        &self,
        file: &str,
        name: &str,
        locked: Option<&Destination>,
    ) -> Result<FromFile, Error> {
        let a = self.a;
        if file == "-" || a.extract.is_some() || a.k8s_decode {
            return Ok(FromFile::Whole(None));
        }
        let Ok(in_fmt) = cli::input_format(a.io.input_type.as_deref(), name, None) else {
            return Ok(FromFile::Whole(None));
        };
        let out_fmt = match a.io.output_type.as_deref().map(cli::parse_format) {
            None => in_fmt,
            Some(Ok(f)) => f,
            Some(Err(_)) => return Ok(FromFile::Whole(None)),
        };
        if in_fmt != out_fmt || !matches!(in_fmt, Format::Yaml | Format::Json) {
            return Ok(FromFile::Whole(None));
        }
        let Some((f, meta, len)) = cli::inplace::open_regular(file, locked)? else {
            return Ok(FromFile::Whole(None));
        };
        if !crate::stream::wanted(&self.ctx, len) {
            return Ok(FromFile::Whole(Some((f, meta))));
        }
        crate::process::note_input(Some(&meta));
        let opts = cli::emit_options(a.io.indent, self.policy.as_ref(), out_fmt);
        let needs_tree = |m: &crate::metadata::Metadata| self.signature.needs_tree(m);
        let r = if in_fmt == Format::Json {
            crate::stream::decrypt_json_file(&f, &self.ctx, &self.open, &opts, &needs_tree)
        } else {
            crate::stream::decrypt_yaml_file(&f, &self.ctx, &self.open, &opts, &needs_tree)
        }
        .map_err(|e| e.within(name))?;
        if let crate::stream::Outcome::Declined(_) = r
            && let Some(e) = crate::stream::declined_error(&self.ctx)
        {
            return Err(e.within(name));
        }
        Ok(FromFile::Streamed(r, out_fmt))
    }

    /// The result of a streamed decrypt: its warnings printed, the audit record made.
    fn streamed(
        &self,
        file: &str,
        name: &str,
        done: crate::stream::Streamed,
        fmt: Format,
    ) -> Result<(Output, Format, Document), Error> {
        for w in &done.warnings {
            cli::warn(&format!("{name}: {w}"));
        }
        if let Err(e) = cli::audit::record("decrypt", file, &done.unwrapped_by) {
            crate::secbuf::discard(done.out);
            return Err(e);
        }
        Ok((done.out, fmt, Document::default()))
    }
}

/// Runs `decrypt`.
pub fn run(cli: &Cli, a: &DecryptArgs) -> Result<i32, Error> {
    // An empty path is no path, as in sops (which prints the whole file for it).
    if a.extract.as_deref() == Some("") {
        let whole = DecryptArgs {
            extract: None,
            ..a.clone()
        };
        return run(cli, &whole);
    }
    let paths: Vec<String> = a.extract.iter().cloned().collect();
    for f in &a.files {
        cli::audit::expect("decrypt", f, &paths)?;
    }
    for f in &a.files {
        a.io.check(f)?;
    }
    let many = a.files.len() > 1;
    if many && (a.io.output.is_some() || a.extract.is_some() || a.files.iter().any(|f| f == "-")) {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "--output, --extract and standard input take a single file",
        ));
    }
    let order = match &a.decryption_order {
        Some(s) => super::decryption_order(s)?,
        None => Vec::new(),
    };
    // A policy that cannot be read is an error (sops refuses too): ignored, it would
    // switch off its leafseal.require_signed and leafseal.strict_integrity.
    let loaded = cli::load_policy_for_reading(cli.config.as_deref())?;
    let policy = if a.io.indent.is_none() {
        loaded.clone()
    } else {
        None
    };
    // The policy for the signature settings, when it was not kept above.
    let sig_policy = if policy.is_none() { loaded } else { None };
    let plan = Plan {
        a,
        ctx: crate::cli::key_context(),
        open: OpenOptions {
            ignore_mac: a.ignore_mac,
            order,
            strict_integrity: cli.strict_integrity
                || policy.as_ref().is_some_and(|p| p.strict_integrity)
                || (policy.is_none() && a.io.indent.is_some() && cli::strict_integrity(cli)?),
        },
        signature: super::sign::ReadCheck::from_policy(policy.as_ref().or(sig_policy.as_ref())),
        policy,
    };
    if !many {
        let dest =
            a.io.destination(cli, &a.files[0], false)?
                .map(Destination::plaintext);
        let locked = dest.as_ref().filter(|_| a.io.in_place);
        let (out, _, doc) = plan.one_keep(&a.files[0], locked)?;
        let written = cli::write_to(dest.as_ref(), &out);
        crate::secbuf::discard(out);
        exit_wipe(doc);
        written?;
        if let Some(d) = &dest {
            warn_if_narrowed(d);
        }
        return Ok(0);
    }
    let dests = if a.io.in_place {
        lock_all(cli, &a.files)?
    } else {
        Vec::new()
    };
    // Each file is read through its own lock (the first destination of its name).
    let locked = |f: &String| {
        let i = a.files.iter().position(|g| g == f)?;
        dests.get(i)
    };
    let results = super::multi::map(&a.files, |f| plan.one(f, locked(f)));
    if let Some((e, _)) = super::multi::report_failures(&a.files, &results) {
        return Err(Error::new(
            e.code,
            "some files could not be decrypted; nothing was written",
        ));
    }
    let outputs: Vec<(Output, Format)> = results.into_iter().filter_map(Result::ok).collect();
    if a.io.in_place {
        // A file named twice (through a symbolic or a hard link) is written once: it was
        // locked once, and a second write would find leafseal's own first one.
        let mut done = std::collections::HashSet::new();
        for (dest, (out, _)) in dests.iter().zip(&outputs) {
            let id = dest.file_id().ok_or_else(|| dest.path().to_owned());
            if done.insert(id) {
                dest.write(out)?;
                warn_if_narrowed(dest);
            }
        }
        return Ok(0);
    }
    if outputs.iter().any(|(_, f)| *f != Format::Yaml) {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "several files can be printed together only as YAML (one multi-document stream)",
        )
        .hint("pass --output-type yaml, decrypt them one at a time, or use --in-place"));
    }
    // Sized up front: a growing `Vec` would leave copies of the plaintext behind.
    let total = outputs.iter().map(|(o, _)| o.len() + 4).sum();
    let mut all = zeroize::Zeroizing::new(Vec::with_capacity(total));
    for (i, (out, _)) in outputs.iter().enumerate() {
        if i > 0 {
            all.extend_from_slice(b"---\n");
        }
        all.extend_from_slice(out);
    }
    crate::io::write_stdout(&all)?;
    Ok(0)
}

/// Checks every file of `decrypt -i` and locks them together
/// ([`crate::io::Destination::lock_all`]: two runs over the same files cannot wait for
/// each other). The result is in the order of `files`.
fn lock_all(cli: &Cli, files: &[String]) -> Result<Vec<crate::io::Destination>, Error> {
    let opts = cli.write_options();
    let dests = files
        .iter()
        .map(|f| {
            crate::io::Destination::open(std::path::Path::new(f), &opts).map(Destination::plaintext)
        })
        .collect::<Result<Vec<_>, _>>()?;
    crate::io::Destination::lock_all(dests, &|p| {
        say!(
            "leafseal: waiting for another leafseal process that is changing {}",
            p.display()
        );
    })
}

/// Says so when the plaintext replaced a file of another user's, which leafseal wrote
/// as a new file of the user's with mode 0600 instead of keeping that file's owner and
/// mode (security.md, "Mode and owner").
fn warn_if_narrowed(dest: &crate::io::Destination) {
    if let Some(n) = dest.narrowed() {
        cli::warn(&format!(
            "{} belonged to user id {} (group id {}, mode {:04o}); the plaintext replaced it as a new file of yours with mode 0600, so that neither that user nor the group and others its mode let in can read it (hint: change the owner or mode yourself if the file is meant to be shared, or decrypt as the user who should own it)",
            dest.path().display(),
            n.former.uid,
            n.former.gid,
            n.former.mode
        ));
    }
}

/// Wipes a decrypted tree in place and leaves its memory to the process exit: freeing a
/// tree of a quarter of a million values costs more than decrypting it.
fn exit_wipe(mut doc: Document) {
    doc.wipe_in_place();
    std::mem::forget(doc);
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A file's `encrypted_regex` is compiled once on decrypt: the metadata read for the
    /// signature check is handed to the opening (it was read, and the regex compiled, a
    /// second time there).
    #[test]
    fn the_selector_regex_of_a_file_is_compiled_once_on_decrypt() {
        let recipients = crate::api::Recipients::new()
            .age("age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw")
            .and_then(|r| r.selector("encrypted_regex", "^(password|token)$"))
            .expect("recipients");
        let enc = crate::api::encrypt_bytes(
            b"user: admin\npassword: hunter2\n",
            Format::Yaml,
            &recipients,
        )
        .expect("encrypt");
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, &enc).expect("write");
        let file = file.display().to_string();
        let cli = Cli::try_parse_from(["leafseal", "decrypt", file.as_str()]).expect("args");
        let crate::cli::Command::Decrypt(a) = &cli.command else {
            panic!("not decrypt");
        };
        let key_file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/sops/keys/age-test-keys.txt"
        );
        let plan = Plan {
            a,
            ctx: KeyContext::with_vars(
                [
                    ("SOPS_AGE_KEY_FILE".to_owned(), key_file.to_owned()),
                    ("HOME".to_owned(), "/nonexistent".to_owned()),
                ]
                .into(),
            ),
            open: OpenOptions::default(),
            policy: None,
            signature: super::super::sign::ReadCheck::default(),
        };
        let before = crate::goregex::COMPILED.with(|n| n.get());
        let (out, _, _) = plan.one_keep(&file, None).expect("decrypt");
        let compiled = crate::goregex::COMPILED.with(|n| n.get()) - before;
        assert!(
            String::from_utf8_lossy(&out).contains("password: hunter2"),
            "decrypted"
        );
        assert_eq!(compiled, 1, "the selector was compiled {compiled} times");
    }
}
