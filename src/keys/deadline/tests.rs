use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use zeroize::Zeroizing;

use super::KEY_SERVICES_DEADLINE_VAR;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyFields;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::StoredKey;
use crate::keys::group;

/// A key that takes `delay` to answer: with `works`, the 32-byte data key; else the
/// failure of a key service that did not answer.
#[derive(Debug)]
struct Slow {
    kind: KeyKind,
    id: String,
    delay: Duration,
    works: bool,
    calls: Arc<AtomicUsize>,
}

impl MasterKey for Slow {
    fn kind(&self) -> KeyKind {
        self.kind
    }
    fn id(&self) -> String {
        self.id.clone()
    }
    fn wrap(&self, _secret: &[u8], _ctx: &KeyContext) -> Result<String, KeyError> {
        Err(KeyError::new("not used".to_owned()))
    }
    fn unwrap(&self, _enc: &str, _ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        if self.works {
            return Ok(Zeroizing::new(vec![7; 32]));
        }
        Err(KeyError::new(format!("{}: no answer", self.id)))
    }
    fn fields(&self) -> KeyFields {
        KeyFields::default()
    }
}

fn slow(
    kind: KeyKind,
    n: usize,
    delay_ms: u64,
    works: bool,
    calls: &Arc<AtomicUsize>,
) -> StoredKey {
    StoredKey {
        key: Arc::new(Slow {
            kind,
            id: format!("key-{n}"),
            delay: Duration::from_millis(delay_ms),
            works,
            calls: Arc::clone(calls),
        }),
        enc: "enc".to_owned(),
        created_at: None,
    }
}

fn with_deadline(secs: &str) -> KeyContext {
    KeyContext::with_vars([(KEY_SERVICES_DEADLINE_VAR.to_owned(), secs.to_owned())].into())
}

#[test]
fn once_the_deadline_is_spent_the_other_network_keys_are_not_tried() {
    // Ten Vault keys whose server does not answer, 400 ms each here (about 92 s each with
    // the default HTTP bounds). Before round 22 all ten were tried, one after the other.
    let calls = Arc::new(AtomicUsize::new(0));
    let keys: Vec<StoredKey> = (0..10)
        .map(|n| slow(KeyKind::HcVault, n, 400, false, &calls))
        .collect();
    let started = Instant::now();
    let e = group::recover(&[keys], 0, &group::DEFAULT_ORDER, &with_deadline("1"))
        .expect_err("no key answers");
    let took = started.elapsed();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "tried until 1 s was spent");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Every key is listed: the ones tried with their error, the others as not tried.
    assert_eq!(e.attempts.len(), 10);
    let said = e.to_string();
    assert!(
        said.starts_with("no key could decrypt the data key. Tried:"),
        "{said}"
    );
    assert!(said.contains("key-0: no answer"), "{said}");
    assert!(
        said.contains("hc_vault key-9: not tried: the key services of this file already took"),
        "{said}"
    );
    assert_eq!(said.matches(KEY_SERVICES_DEADLINE_VAR).count(), 1, "{said}");
    // The time taken is rounded, not cut to whole seconds (before round 24: "took 1
    // seconds" for the 1.2 s or more that three 400 ms keys took).
    let took: f64 = said
        .split("already took ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("seconds in the message");
    assert!(took >= 1.2, "{said}");
}

#[test]
fn a_local_key_is_tried_after_the_deadline_and_local_time_does_not_count() {
    let calls = Arc::new(AtomicUsize::new(0));
    // The network keys first (an order given on purpose), then a PGP key that works.
    let mut keys: Vec<StoredKey> = (0..4)
        .map(|n| slow(KeyKind::Kms, n, 400, false, &calls))
        .collect();
    keys.push(slow(KeyKind::Pgp, 9, 0, true, &calls));
    let order = [KeyKind::Kms, KeyKind::Pgp];
    let key = group::recover(&[keys], 0, &order, &with_deadline("1")).expect("the PGP key");
    assert_eq!(key.expose(), &[7; 32]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "3 KMS keys, then the PGP key"
    );

    // A slow local key (a person typing a passphrase) takes nothing from the budget.
    let calls = Arc::new(AtomicUsize::new(0));
    let keys = vec![
        slow(KeyKind::Age, 0, 1200, false, &calls),
        slow(KeyKind::GcpKms, 1, 0, true, &calls),
    ];
    group::recover(&[keys], 0, &group::DEFAULT_ORDER, &with_deadline("1")).expect("GCP key");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn the_deadline_is_five_minutes_unless_set() {
    let budget = super::KeyServiceBudget::new(&KeyContext::with_vars(Default::default()));
    assert_eq!(budget.limit, Duration::from_secs(300));
    for unusable in ["", "0", "soon", "-5"] {
        let budget = super::KeyServiceBudget::new(&with_deadline(unusable));
        assert_eq!(budget.limit, Duration::from_secs(300), "{unusable:?}");
    }
    assert_eq!(
        super::KeyServiceBudget::new(&with_deadline(" 42 ")).limit,
        Duration::from_secs(42)
    );
}

#[test]
fn seconds_in_messages_are_rounded() {
    let shown = |ms: u64| super::shown_seconds(Duration::from_millis(ms));
    assert_eq!(shown(1_000), "1");
    assert_eq!(shown(1_000_234 / 1_000), "1");
    assert_eq!(shown(999), "1");
    assert_eq!(shown(1_500), "1.5");
    assert_eq!(shown(300), "0.3");
    assert_eq!(shown(1), "0.1");
    assert_eq!(shown(0), "0.1");
    assert_eq!(shown(9_960), "10");
    assert_eq!(shown(29_700), "30");
    assert_eq!(shown(120_000), "120");
}

#[test]
fn a_limit_is_the_time_left_only_under_a_shorter_deadline() {
    let own = Some(Duration::from_secs(30));
    assert_eq!(super::limit_now(own), (own, false), "no deadline in force");
    assert_eq!(super::limit_now(None), (None, false));
    {
        let _scope = super::scope_for_test(Duration::from_secs(2));
        let (limit, by_deadline) = super::limit_now(own);
        assert!(by_deadline);
        assert!(limit.is_some_and(|l| l <= Duration::from_secs(2) && l > Duration::ZERO));
        let (limit, by_deadline) = super::limit_now(None);
        assert!(by_deadline && limit.is_some_and(|l| l <= Duration::from_secs(2)));
        let short = Some(Duration::from_millis(100));
        assert_eq!(
            super::limit_now(short),
            (short, false),
            "its own is shorter"
        );
    }
    assert_eq!(
        super::limit_now(own),
        (own, false),
        "the scope's end ends it"
    );
    {
        // A deadline already passed still gives a bound, not zero ("no limit" to some).
        let _scope = super::scope_for_test(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(super::limit_now(own), (Some(super::SHORTEST_BOUND), true));
    }
}

#[test]
fn an_inner_deadline_never_outlasts_the_outer_one() {
    // A key tried while another key's deadline is in force on this thread: before round
    // 24 the inner scope replaced the outer deadline with its own, later one.
    let ctx = with_deadline("300");
    let budget = super::KeyServiceBudget::new(&ctx);
    let _outer = super::scope_for_test(Duration::from_secs(2));
    {
        let _inner = budget.scope(KeyKind::HcVault, &ctx).expect("a network key");
        let left = super::time_left().expect("a deadline");
        assert!(left <= Duration::from_secs(2), "{left:?}");
    }
    let left = super::time_left().expect("the outer deadline again");
    assert!(
        left <= Duration::from_secs(2) && left > Duration::ZERO,
        "{left:?}"
    );
}

/// `true` for a type that is `Send` (the inherent method), else `false` (the trait's).
struct SendProbe<T>(std::marker::PhantomData<T>);
trait NotSend {
    fn is_send(&self) -> bool {
        false
    }
}
impl<T> NotSend for SendProbe<T> {}
impl<T: Send> SendProbe<T> {
    #[allow(dead_code)]
    fn is_send(&self) -> bool {
        true
    }
}

#[test]
fn a_deadline_scope_stays_on_its_thread() {
    // Dropped on another thread, it would restore that thread's deadline, not its own.
    assert!(!SendProbe::<super::DeadlineScope>(std::marker::PhantomData).is_send());
    assert!(SendProbe::<Duration>(std::marker::PhantomData).is_send());
}
