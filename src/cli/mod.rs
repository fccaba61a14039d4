//! The command line: argument parsing, dispatch, and the only place that prints.

/// `eprintln!` that never panics: a closed or broken standard error is ignored.
/// `eprintln!` panics when the write fails, and with `panic = "abort"` that would end
/// the process in the middle of a command (`clippy.toml` disallows it in the crate).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `print!` to standard output that never panics (a closed pipe: `… | head -1`).
macro_rules! show {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout();
        let _ = write!(out, $($arg)*);
        let _ = out.flush();
    }};
}

/// [`say!`] without the line break (a prompt).
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut err = std::io::stderr();
        let _ = write!(err, $($arg)*);
        let _ = err.flush();
    }};
}

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use clap::Args;
use clap::Parser;

use crate::error::Error;
use crate::error::exit;
use crate::io;
use crate::ops;
use crate::ops::EmitOptions;
use crate::ops::Format;
use crate::policy;
use crate::policy::Policy;

mod access;
mod argocd;
pub mod audit;
mod check;
mod command;
mod contribute;
pub mod cpu;
mod decrypt;
mod docgen;
mod doctor;
mod edit;
mod encrypt;
mod exec_env;
mod exec_file;
mod filestatus;
mod git;
mod groups;
mod hints;
mod history;
mod inplace;
mod keygen;
mod keyservice;
mod kustomize;
mod multi;
mod policy_load;
mod publish;
mod render;
mod revoke;
mod rotate;
mod set;
mod sign;
pub mod sops_compat;
mod unset;
mod updatekeys;

pub use policy_load::found_policy;
pub use policy_load::load_policy;
pub use policy_load::load_policy_for_reading;
pub use policy_load::no_policy_error;
pub use policy_load::strict_integrity;

/// leafseal — encrypted secrets in git, compatible with sops.
#[derive(Debug, Parser)]
#[command(
    name = "leafseal",
    version,
    about,
    long_about = None,
    args_override_self = true,
    after_help = "Examples:\n  leafseal encrypt -i secrets.yaml\n  leafseal edit secrets.yaml\n  leafseal decrypt --extract '[\"db\"][\"password\"]' secrets.yaml\n\nFormats come from the extension (.yaml/.yml, .json, .env, .ini). A .toml file is a binary\nblob, as in sops, unless you pass --input-type toml (or leafseal wrote it as TOML).\nsops's flag forms work too: leafseal -d FILE, leafseal -e -i FILE, leafseal -r -i FILE."
)]
pub struct Cli {
    /// Policy file to use instead of searching for .sops.yaml from the current directory.
    #[arg(long, global = true, env = "SOPS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Treat a missing or stale leafseal integrity record as an error (a file written or
    /// rewritten by sops has none); also `leafseal: {strict_integrity: true}` in .sops.yaml.
    #[arg(long, global = true, env = "LEAFSEAL_STRICT_INTEGRITY", value_parser = clap::builder::BoolishValueParser::new())]
    pub strict_integrity: bool,

    /// Write through a symbolic link even when the real file lies outside the git work
    /// tree (or the policy's directory) of the path given.
    #[arg(long, global = true)]
    pub allow_outside_root: bool,

    /// Write into a hard-linked file, a device or a FIFO in place instead of refusing
    /// (every link sees the new content; the write is not atomic).
    #[arg(long, global = true)]
    pub force_target: bool,

    /// A key service to use in addition to the local one, as tcp://HOST:PORT or
    /// unix:///PATH (repeatable; sops's gRPC protocol, e.g. `leafseal keyservice` or
    /// `sops keyservice` on the machine that holds the key, forwarded over SSH).
    #[arg(
        long = "keyservice",
        global = true,
        env = "SOPS_KEYSERVICE",
        value_delimiter = ',',
        value_name = "URI"
    )]
    pub keyservice: Vec<String>,

    /// Use the keys of this machine (sops's local key service); with
    /// `--enable-local-keyservice=false` only the --keyservice services are used.
    #[arg(
        long,
        global = true,
        env = "SOPS_ENABLE_LOCAL_KEYSERVICE",
        value_name = "BOOL",
        default_value = "true",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::Set
    )]
    pub enable_local_keyservice: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

pub use command::Command;
pub use command::parse;
pub use command::usage_code;

/// Input/output selection shared by the commands.
#[derive(Debug, Args, Clone)]
pub struct IoArgs {
    /// Input format: yaml, json, dotenv, ini, toml or binary
    /// (default: from the extension: .yaml/.yml, .json, .env, .ini; any other file, .toml included, is a binary blob as in sops, unless --input-type toml or leafseal wrote it as TOML).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output format (default: the input format).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Use this name instead of the file's for the format and the policy rules (needed for stdin).
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<String>,
    /// Write the result over the input file (atomically).
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Indentation of YAML/JSON output (overrides the policy's stores settings).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub indent: Option<i64>,
}

impl IoArgs {
    /// The name used for the format and policy matching.
    pub fn name<'a>(&'a self, file: &'a str) -> &'a str {
        self.filename_override.as_deref().unwrap_or(file)
    }

    /// Checks `-i` against `--output` and stdin.
    pub fn check(&self, file: &str) -> Result<(), Error> {
        if self.in_place && self.output.is_some() {
            return Err(Error::new(
                exit::CONFLICTING_PARAMETERS,
                "--in-place and --output cannot be used together",
            ));
        }
        if self.in_place && file == "-" {
            return Err(Error::new(
                exit::CONFLICTING_PARAMETERS,
                "--in-place cannot be used with standard input",
            ));
        }
        Ok(())
    }

    /// Where the result goes, checked and locked before anything is read; `None` means
    /// standard output. `output_read`: the command reads an existing `--output` file too
    /// (`encrypt` keeps its data key and unchanged values), so it is locked (a new one
    /// through its name) and compared as a file updated in place is; otherwise it is a
    /// pure output ([`output`]).
    pub fn destination(
        &self,
        cli: &Cli,
        file: &str,
        output_read: bool,
    ) -> Result<Option<io::Destination>, Error> {
        if self.in_place {
            update(cli, Path::new(file)).map(Some)
        } else if let Some(out) = &self.output {
            if output_read {
                update_or_create(cli, out).map(Some)
            } else {
                output(cli, out).map(Some)
            }
        } else {
            Ok(None)
        }
    }
}

/// Writes to a destination from [`IoArgs::destination`], else to standard output.
pub fn write_to(dest: Option<&io::Destination>, data: &[u8]) -> Result<(), Error> {
    match dest {
        Some(d) => d.write(data),
        None => io::write_stdout(data),
    }
}

impl Cli {
    /// The write options from the global flags and the policy in force.
    pub fn write_options(&self) -> io::WriteOptions {
        let policy = match &self.config {
            Some(p) => Some(p.clone()),
            None => std::env::current_dir().ok().and_then(|d| policy::find(&d)),
        };
        io::WriteOptions {
            allow_outside_root: self.allow_outside_root,
            force_target: self.force_target,
            policy_dir: policy.and_then(|p| p.parent().map(Path::to_owned)),
        }
    }
}

/// sops's code for an input file that its `set`, `unset`, `rotate`, `groups`,
/// `exec-env` and `exec-file` subcommands cannot find: 2, could not read the input file.
/// (Its decrypt and encrypt, and its legacy `-r`, check first and exit 100, the code
/// [`update`] and `io::read_input` give.)
pub(crate) fn missing_unreadable(mut e: Error) -> Error {
    if e.code == exit::NO_FILE_SPECIFIED {
        e.code = exit::COULD_NOT_READ_INPUT;
    }
    e
}

/// Prepares a read-modify-write of the existing `file`: resolves and checks it and takes
/// its lock (waiting, with a note, while another leafseal process changes it). Call
/// before reading the file; the lock is held until the destination is dropped. A
/// missing file is exit 100, as reading it would be.
pub fn update(cli: &Cli, file: &Path) -> Result<io::Destination, Error> {
    match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::new(
                exit::NO_FILE_SPECIFIED,
                format!("cannot read {}: {e}", file.display()),
            ));
        }
        Ok(m) if m.is_dir() => return Err(io::directory_error(&file.display().to_string())),
        _ => {}
    }
    let shown = file.display().to_string();
    io::Destination::open(file, &cli.write_options())?.lock_existing(&|| {
        say!("leafseal: waiting for another leafseal process that is changing {shown}");
    })
}

/// A file the command writes without reading it (`--output`): locked only when it
/// exists ([`io::Destination::lock_output`]).
pub fn output(cli: &Cli, file: &Path) -> Result<io::Destination, Error> {
    let shown = file.display().to_string();
    io::Destination::open(file, &cli.write_options())?.lock_output(&|| {
        say!("leafseal: waiting for another leafseal process that is changing {shown}");
    })
}

/// [`update`] for a file that may not exist yet (`edit` of a new file, `revoke`'s
/// journal): a new file is locked through a lock file for its name, so that two commands
/// creating it take turns.
pub fn update_or_create(cli: &Cli, file: &Path) -> Result<io::Destination, Error> {
    let shown = file.display().to_string();
    let exists = std::fs::symlink_metadata(file).is_ok();
    io::Destination::open(file, &cli.write_options())?.lock(&|| {
        if exists {
            say!("leafseal: waiting for another leafseal process that is changing {shown}");
        } else {
            say!("leafseal: waiting for another leafseal process that is creating {shown}");
        }
    })
}

/// Parses a `--input-type`/`--output-type` value.
pub fn parse_format(name: &str) -> Result<Format, Error> {
    Format::from_name(name).ok_or_else(|| {
        Error::new(exit::GENERIC, format!("unknown file type `{name}`"))
            .hint("use one of: yaml, json, dotenv, ini, toml, binary")
    })
}

/// The input format: the flag, else the extension; a `.toml` file is read with the TOML
/// store when it holds a TOML `sops` table, else as sops's binary envelope.
pub fn input_format(flag: Option<&str>, name: &str, bytes: Option<&[u8]>) -> Result<Format, Error> {
    match flag {
        Some(f) => parse_format(f),
        None => Ok(ops::format_for(name, bytes)),
    }
}

/// Emit options for a format: the flag, else the policy's stores setting.
pub fn emit_options(flag: Option<i64>, policy: Option<&Policy>, format: Format) -> EmitOptions {
    // `--indent 0` for YAML is the store's default (4 spaces), as sops's YAML store reads
    // an indent of 0 as not set, the same rule as `stores.yaml.indent: 0` in the policy.
    let flag = flag.filter(|&i| !(format == Format::Yaml && i == 0));
    EmitOptions {
        indent: flag.or_else(|| policy.and_then(|p| p.stores.indent_for(format))),
    }
}

/// The `--decryption-order` / `SOPS_DECRYPTION_ORDER` list, with a warning for each
/// entry that names no key type (skipped, as sops skips it).
pub fn decryption_order(s: &str) -> Result<Vec<ops::KeyKind>, Error> {
    let order = ops::parse_order(s)?;
    for name in ops::unknown_order_entries(s) {
        warn(&format!(
            "`{name}` in the decryption order names no key type and is skipped; the \
             names are age, pgp, kms, gcp_kms, azure_kv, hc_vault and hckms (lower-case)"
        ));
    }
    Ok(order)
}

/// Prints a warning to stderr (key material masked and hidden characters escaped, see
/// `for_stderr`).
pub fn warn(msg: &str) {
    say!(
        "leafseal: warning: {}",
        for_stderr(&hints::cli_warning(msg))
    );
}

/// Text for standard error. Messages quote file names, key ids and what a key service
/// answered, all of which a hostile repository or server controls: key material is
/// masked ([`crate::redact::redact`]) and every hidden character but newline and tab (a
/// terminal escape, a bidirectional override) is written as a visible `\u{…}` escape
/// ([`crate::redact::escape_hidden`]).
pub(crate) fn for_stderr(text: &str) -> String {
    crate::redact::escape_hidden(&crate::redact::redact(text), &['\n', '\t']).into_owned()
}

/// The key context over the process environment. Variables that are not valid UTF-8 are
/// skipped; a warning names those leafseal would have read (never their values).
pub fn key_context() -> ops::KeyContext {
    let ctx = local_key_context();
    match KEY_SERVICES.get() {
        Some((services, local)) => ops::context::with_key_services(ctx, services, *local),
        None => ctx,
    }
}

/// The key services of this run (`--keyservice`, `--enable-local-keyservice`), set once
/// by [`run`] before any command builds a key context.
static KEY_SERVICES: std::sync::OnceLock<(ops::context::KeyServices, bool)> =
    std::sync::OnceLock::new();

/// Parses the key service flags into [`KEY_SERVICES`].
fn set_key_services(cli: &Cli) -> Result<(), Error> {
    if cli.keyservice.is_empty() && cli.enable_local_keyservice {
        return Ok(());
    }
    let services = ops::context::key_services(&cli.keyservice)?;
    let _ = KEY_SERVICES.set((services, cli.enable_local_keyservice));
    Ok(())
}

/// [`key_context`] without the key services: only the keys of this machine (what the key
/// service server itself uses).
pub fn local_key_context() -> ops::KeyContext {
    let (ctx, warnings) = ops::context::local_key_context();
    for w in &warnings {
        warn(w);
    }
    ctx
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    io::signals::enable();
    io::signals::set_exit_hook(signal_exit);
    // A program waited for in a group of its own ends with leafseal (`process::groups`).
    crate::process::groups::set_catcher(io::signals::catcher());
    // A panic ends the process (`panic = "abort"`, the release build) without the
    // destructors that remove temporary files: the hook removes them first. Where panics
    // unwind (test and fuzz builds) the destructors run, and a panic that is caught must
    // not take a live temporary file away.
    if cfg!(panic = "abort") {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            io::signals::remove_registered();
            previous(info);
        }));
    }
    if let Err(e) = set_key_services(&cli) {
        report(&e);
        return e.code;
    }
    let result = match &cli.command {
        Command::Encrypt(a) => encrypt::run(&cli, a),
        Command::Decrypt(a) => decrypt::run(&cli, a),
        Command::Filestatus(a) => filestatus::run(a),
        Command::Check(a) => check::run(&cli, a),
        Command::Edit(a) => edit::run(&cli, a),
        Command::Set(a) => set::run(&cli, a),
        Command::Unset(a) => unset::run(&cli, a),
        Command::Contribute(a) => contribute::run_contribute(&cli, a),
        Command::Absorb(a) => contribute::run_absorb(&cli, a),
        Command::Rotate(a) => rotate::run(&cli, a),
        Command::Updatekeys(a) => updatekeys::run(&cli, a),
        Command::Revoke(a) => revoke::run(&cli, a),
        Command::Sign(a) => sign::run_sign(&cli, a),
        Command::Verify(a) => sign::run_verify(&cli, a),
        Command::Groups(a) => groups::run(&cli, a),
        Command::Publish(a) => publish::run(&cli, a),
        Command::ExecEnv(a) => exec_env::run(&cli, a),
        Command::ExecFile(a) => exec_file::run(&cli, a),
        Command::Render(a) => render::run(&cli, a),
        Command::Git(a) => git::run(&cli, a),
        Command::Kustomize(a) => kustomize::run(a),
        Command::Argocd(a) => argocd::run(a),
        Command::Access(a) => access::run(&cli, a),
        Command::Doctor(a) => doctor::run(&cli, a),
        Command::History(a) => history::run(&cli, a),
        Command::Keygen(a) => keygen::run(&cli, a),
        Command::Keyservice(a) => keyservice::run(a),
        Command::Completion(a) => docgen::completion(a),
        Command::Man(a) => docgen::man(&cli, a),
    };
    io::signals::await_signal_exit(); // a failure the signal caused is not the outcome
    audit::finish(&result);
    match result {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            e.code
        }
    }
}

/// Ends the process after a signal (the temporary files were already removed).
fn signal_exit(sig: i32) {
    // Not eprintln!: a closed stderr must not stop the exit.
    let _ = writeln!(
        std::io::stderr(),
        "leafseal: interrupted by signal {sig}: every file is either unchanged or completely written, and no temporary file was left"
    );
    std::process::exit(128_i32.saturating_add(sig));
}

/// Prints a command-line parsing error (or `--help`/`--version`) and returns the exit
/// code. Usage errors quote the arguments, so key material in them is masked, as in
/// [`report`].
pub fn usage_error(e: &clap::Error) -> i32 {
    if !e.use_stderr() {
        let _ = e.print();
        return e.exit_code();
    }
    let text = e.render().to_string();
    say_inline!("{}", crate::redact::redact(&text));
    e.exit_code()
}

/// Prints an error and its hints to stderr. This is the one place errors reach the
/// terminal, so key material that slipped into a message is masked here, and terminal
/// escapes are made visible (`for_stderr`).
pub fn report(e: &Error) {
    let mut s = format!("leafseal: error: {}", hints::cli_message(e).trim_end());
    for h in hints::cli_hints(e) {
        s.push_str("\n  hint: ");
        s.push_str(&h);
    }
    say!("{}", for_stderr(&s));
}
