//! Time limits on key sources as a whole: how long a credential helper may run, and how
//! long one decryption may spend waiting for key services.
//!
//! Every network call already has its own bounds (HTTP timeouts and at most three
//! attempts, the key service's call bound), but a file may name many network keys: ten
//! Vault keys whose server accepts connections and never answers cost ten times each
//! key's bounds (about 92 seconds each with the defaults, a quarter of an hour in all)
//! before leafseal could say that no key worked. [`KeyServiceBudget`] adds up the time
//! spent on the keys that reach the network and, once [`DEFAULT_KEY_SERVICES_DEADLINE`]
//! (or [`KEY_SERVICES_DEADLINE_VAR`]) is spent, the keys left are not tried: the error
//! lists them as not tried and says how to allow more time. While a network key is tried,
//! the time left is also the bound of each of its network calls (`capped`: the HTTP
//! calls of every key source, the cloud metadata and credential endpoints, the key
//! service's gRPC calls), so a key already being tried is cut short at the deadline and
//! the whole lasts about the deadline, not the deadline plus one key's own bounds. Keys
//! used on this machine (age, PGP) do not count and are always tried: they come first,
//! and time spent on them (a person typing a passphrase) takes nothing from the budget.

use std::cell::Cell;
use std::marker::PhantomData;
use std::time::Duration;
use std::time::Instant;

use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyKind;

/// The variable overriding [`DEFAULT_KEY_SERVICES_DEADLINE`], in whole seconds.
pub const KEY_SERVICES_DEADLINE_VAR: &str = "LEAFSEAL_KEY_SERVICES_DEADLINE_SECS";

/// How long one decryption may spend on network keys before the rest are skipped: five
/// minutes, the key service's own call bound (a person may be answering its prompt).
pub const DEFAULT_KEY_SERVICES_DEADLINE: Duration = Duration::from_secs(300);

/// The variable overriding [`DEFAULT_HELPER_TIMEOUT`], in whole seconds.
pub const HELPER_TIMEOUT_VAR: &str = "LEAFSEAL_HELPER_TIMEOUT_SECS";

/// How long a credential helper (an AWS `credential_process`, a Vault token helper) may
/// run before it is stopped: two minutes, room for a helper that asks for a second
/// factor.
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(120);

/// Whole seconds from `var`, else `default` (an unset, empty, zero or unreadable value
/// is the default).
fn seconds(ctx: &KeyContext, var: &str, default: Duration) -> Duration {
    ctx.var(var)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(default, Duration::from_secs)
}

/// How long a credential helper may run ([`HELPER_TIMEOUT_VAR`]).
pub fn helper_timeout(ctx: &KeyContext) -> Duration {
    seconds(ctx, HELPER_TIMEOUT_VAR, DEFAULT_HELPER_TIMEOUT)
}

/// What a credential helper that ran out of time is told: how to give it more.
pub fn helper_timeout_message(what: &str, limit: Duration) -> String {
    format!(
        "{what} did not finish within {} seconds and was stopped (set {HELPER_TIMEOUT_VAR} \
         to allow it longer)",
        limit.as_secs()
    )
}

thread_local! {
    /// When the network calls of the key being tried on this thread must have ended
    /// (set by [`KeyServiceBudget::scope`]; a key is tried on the thread that asks).
    static NETWORK_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The shortest bound [`capped`] gives: a call is still made (and fails at once) rather
/// than given a zero timeout, which some clients read as "no timeout".
const SHORTEST_BOUND: Duration = Duration::from_millis(1);

/// The time left before the deadline of the key being tried on this thread, if one runs.
pub(crate) fn time_left() -> Option<Duration> {
    NETWORK_DEADLINE
        .with(Cell::get)
        .map(|at| at.saturating_duration_since(Instant::now()))
}

/// `bound`, or the time left before the key services' deadline when that is shorter:
/// the bound of one network call (connect, or the whole call).
#[cfg_attr(not(any(feature = "http", feature = "aws")), allow(dead_code))]
pub(crate) fn capped(bound: Duration) -> Duration {
    limit_now(Some(bound)).0.unwrap_or(bound)
}

/// The time limit of a call or a program started now: its own `limit` (`None`: none),
/// or the time left before the key services' deadline when one is in force on this
/// thread and is shorter (never under [`SHORTEST_BOUND`]); and whether the deadline is
/// the limit (a message then names the deadline, not the limit's own setting).
pub(crate) fn limit_now(limit: Option<Duration>) -> (Option<Duration>, bool) {
    match time_left() {
        Some(left) if limit.is_none_or(|own| left < own) => (Some(left.max(SHORTEST_BOUND)), true),
        _ => (limit, false),
    }
}

/// What a call that the key services' deadline cut short is told: `what` (e.g. "the
/// key service at … did not answer") and how to allow more time. No seconds: the time
/// that was left when the call started is not a setting anyone chose.
pub fn deadline_message(what: &str) -> String {
    format!(
        "{what} before the key services' deadline for this decryption (set \
         {KEY_SERVICES_DEADLINE_VAR} to allow more time)"
    )
}

/// What a program stopped at the key services' deadline is told (`what` names it), as
/// [`helper_timeout_message`] says it for the program's own limit.
pub fn program_deadline_message(what: &str) -> String {
    format!(
        "{what} did not finish before the key services' deadline for this decryption and \
         was stopped (set {KEY_SERVICES_DEADLINE_VAR} to allow more time)"
    )
}

/// A duration as a message shows it: whole seconds from ten seconds up, else tenths
/// when not whole ("30", "2", "1.5", "0.3"; never "0"), not `1.000234`.
pub fn shown_seconds(d: Duration) -> String {
    let tenths = (d.as_millis().saturating_add(50) / 100).max(1);
    if tenths >= 100 {
        return (d.as_millis().saturating_add(500) / 1000).to_string();
    }
    if tenths.is_multiple_of(10) {
        return (tenths / 10).to_string();
    }
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// While alive, this thread runs under a key services' deadline `left` from now (tests
/// of the programs and calls that the deadline cuts short).
#[cfg(test)]
pub(crate) fn scope_for_test(left: Duration) -> DeadlineScope {
    DeadlineScope::until(Instant::now() + left)
}

/// Whether the key services' deadline has passed: a failed call is not tried again.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn passed() -> bool {
    time_left().is_some_and(|left| left.is_zero())
}

/// While alive, the network calls made on this thread end by the key services'
/// deadline (`capped`); the deadline before it is restored when it goes. Not `Send`: it
/// restores the thread-local deadline of the thread it was made on, so dropped on
/// another thread it would leave this one's in force (and end that one's).
#[must_use = "the deadline holds only while the scope is alive"]
pub struct DeadlineScope {
    before: Option<Instant>,
    on_this_thread: PhantomData<*const ()>,
}

impl DeadlineScope {
    /// A deadline at `at` on this thread, or the one already in force when that is
    /// sooner: a decryption started while another's key is tried (a key source that
    /// decrypts a file of its own) never gets more time than the outer one has left.
    fn until(at: Instant) -> DeadlineScope {
        let before = NETWORK_DEADLINE.with(|d| {
            let sooner = d.get().map_or(at, |outer| outer.min(at));
            d.replace(Some(sooner))
        });
        DeadlineScope {
            before,
            on_this_thread: PhantomData,
        }
    }
}

impl Drop for DeadlineScope {
    fn drop(&mut self) {
        NETWORK_DEADLINE.with(|d| d.set(self.before));
    }
}

/// The time one decryption has spent on keys that reach the network.
pub struct KeyServiceBudget {
    limit: Duration,
    spent: Duration,
}

impl KeyServiceBudget {
    /// A budget of [`KEY_SERVICES_DEADLINE_VAR`] seconds, else the default.
    pub fn new(ctx: &KeyContext) -> KeyServiceBudget {
        KeyServiceBudget {
            limit: seconds(
                ctx,
                KEY_SERVICES_DEADLINE_VAR,
                DEFAULT_KEY_SERVICES_DEADLINE,
            ),
            spent: Duration::ZERO,
        }
    }

    /// Whether trying a key of `kind` reaches the network: a cloud or Vault key, or any
    /// key when remote key services are configured.
    pub fn counts(kind: KeyKind, ctx: &KeyContext) -> bool {
        !matches!(kind, KeyKind::Age | KeyKind::Pgp) || !ctx.key_services().is_empty()
    }

    /// `None` while a key of `kind` may be tried; else the error to record for it.
    pub fn refuse(&self, kind: KeyKind, ctx: &KeyContext) -> Option<KeyError> {
        if !Self::counts(kind, ctx) || self.spent < self.limit {
            return None;
        }
        Some(KeyError::with_hint(
            format!(
                "not tried: the key services of this file already took {} seconds, over the \
                 {} second deadline for one decryption",
                shown_seconds(self.spent),
                self.limit.as_secs()
            ),
            format!(
                "check the network and the key services above (the errors say which did not \
                 answer), or set {KEY_SERVICES_DEADLINE_VAR} to a longer time in seconds"
            ),
        ))
    }

    /// The deadline of the network calls of a key of `kind` about to be tried: the time
    /// left of the budget, from now (`None` for a key that does not count).
    pub fn scope(&self, kind: KeyKind, ctx: &KeyContext) -> Option<DeadlineScope> {
        if !Self::counts(kind, ctx) {
            return None;
        }
        let left = self.limit.saturating_sub(self.spent);
        let at = Instant::now().checked_add(left)?;
        Some(DeadlineScope::until(at))
    }

    /// Adds the time a key of `kind`, tried from `started`, took.
    pub fn spend(&mut self, kind: KeyKind, ctx: &KeyContext, started: Instant) {
        if Self::counts(kind, ctx) {
            self.spent = self.spent.saturating_add(started.elapsed());
        }
    }
}

#[cfg(test)]
mod tests;
