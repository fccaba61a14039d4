//! The policy (`.sops.yaml`) as the commands read it: found once per process (upwards
//! from the current directory, or `--config`/`SOPS_CONFIG`), its warnings printed once.

use std::path::Path;
use std::path::PathBuf;

use super::Cli;
use super::warn;
use crate::error::Error;
use crate::error::exit;
use crate::policy;
use crate::policy::Policy;

/// Finds and loads the policy (`--config`/`SOPS_CONFIG`, else `.sops.yaml` upwards from
/// the current directory). No policy is fine.
///
/// A command reads the policy once: later calls in the same process get the same result
/// (and its warnings are printed once).
pub fn load_policy(explicit: Option<&Path>) -> Result<Option<Policy>, Error> {
    cached_policy(explicit, true)
}

/// [`load_policy`] for a command that creates no file (`decrypt`, `exec-*`, the settings
/// of an in-place write): the creation rules are not read ([`Policy::load_for_reading`]),
/// so a rule sops would check only when encrypting does not stop a decrypt; the rest of
/// the policy (its `leafseal` section above all) is read and checked.
pub fn load_policy_for_reading(explicit: Option<&Path>) -> Result<Option<Policy>, Error> {
    cached_policy(explicit, false)
}

fn cached_policy(explicit: Option<&Path>, rules: bool) -> Result<Option<Policy>, Error> {
    type Loaded = Result<Option<Policy>, Error>;
    type Entry = (Option<std::path::PathBuf>, bool, Loaded);
    static LOADED: std::sync::Mutex<Vec<Entry>> = std::sync::Mutex::new(Vec::new());
    let wanted = explicit.map(Path::to_owned);
    if let Ok(cache) = LOADED.lock()
        && let Some((_, _, r)) = cache
            .iter()
            .find(|(p, with_rules, _)| *p == wanted && *with_rules == rules)
    {
        return r.clone();
    }
    let r = read_policy(explicit, rules);
    if let Ok(mut cache) = LOADED.lock() {
        // Warnings are printed once per process, whichever way the policy was read.
        let warned = cache.iter().any(|(p, _, _)| *p == wanted);
        if !warned && let Ok(Some(p)) = &r {
            for w in &p.warnings {
                warn(&format!("{}: {w}", p.path.display()));
            }
        }
        cache.push((wanted, rules, r.clone()));
    }
    r
}

fn read_policy(explicit: Option<&Path>, rules: bool) -> Result<Option<Policy>, Error> {
    let path = match explicit {
        Some(p) => Some(p.to_owned()),
        None => found_policy(),
    };
    let Some(path) = path else { return Ok(None) };
    let loaded = if rules {
        Policy::load(&path)
    } else {
        Policy::load_for_reading(&path)
    };
    let p = loaded.map_err(|e| {
        Error::new(exit::GENERIC, e.to_string())
            .hint("fix the policy file, or point --config at another one")
    })?;
    Ok(Some(p))
}

/// The error of a command that needs a policy and found none: where the search went, and
/// a `.sops.yml` on the way that is not read.
pub fn no_policy_error(code: i32, needed_for: &str) -> Error {
    let search = std::env::current_dir()
        .map(|d| policy::search::search(&d))
        .unwrap_or_default();
    let mut e = Error::new(
        code,
        format!(
            "no {} found (looked in {}); {needed_for}",
            policy::FILE_NAME,
            search.searched_text()
        ),
    );
    if let Some(h) = search.ignored_hint() {
        e = e.hint(h);
    }
    e
}

/// Whether the strict integrity setting is on: the flag (or its environment variable),
/// else the policy's `leafseal.strict_integrity`. A policy that cannot be read is an
/// error (as sops refuses to run with a policy it cannot read): counted as off, it would
/// switch the setting off silently.
pub fn strict_integrity(cli: &Cli) -> Result<bool, Error> {
    if cli.strict_integrity {
        return Ok(true);
    }
    Ok(load_policy_for_reading(cli.config.as_deref())?.is_some_and(|p| p.strict_integrity))
}

/// The policy found by searching upwards from the current directory; prints a notice when
/// it lies outside the git work tree (see [`policy::outside_work_tree`]).
pub fn found_policy() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let search = policy::search::search(&cwd);
    static IGNORED_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if let Some(w) = search.ignored_warning()
        && !IGNORED_SHOWN.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        warn(&w);
    }
    let path = search.found?;
    static NOTICE_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if let Some(notice) = policy::outside_work_tree(&path, &cwd)
        && !NOTICE_SHOWN.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        warn(&notice);
    }
    Some(path)
}
