//! The checks both sides run: [`plan`] before a contribution is sealed (on the encrypted
//! file, without a key) and [`Run::apply`] when a key holder absorbs it (on the opened
//! file). `absorb` repeats every check of `contribute`, because the file may have
//! changed in between and the entry may not come from leafseal at all.

use zeroize::Zeroizing;

use super::Pending;
use super::refused;
use super::target;
use super::target::Landing;
use crate::error::Error;
use crate::error::exit;
use crate::format::Format;
use crate::keys::KeyContext;
use crate::keys::KeyKind;
use crate::metadata::Metadata;
use crate::redact::inert;
use crate::tree::Document;
use crate::tree::Value;
use crate::treepath::Step;
use crate::walk::Direction;

/// A contribution checked against the file it is for, ready to be sealed.
#[derive(Debug)]
pub struct Plan {
    pub(super) path: String,
    pub(super) base: String,
    /// Whether it replaces a value the file holds (otherwise it adds one).
    pub replaces: bool,
    /// The file's selector in words, when it leaves (part of) the value in clear.
    pub clear: Option<String>,
}

/// Why a path or value cannot be contributed (exit 7, as for `set`).
fn invalid(why: impl Into<String>) -> Error {
    Error::new(exit::INVALID_SET_FORMAT, why.into())
}

/// How a file's selector that leaves a value in clear is worded.
fn clear_reason(meta: &Metadata) -> String {
    let mut s = format!(
        "the file's {} leaves it unencrypted",
        target::describe(&meta.selector())
    );
    if meta.mac_only_encrypted {
        s.push_str(", and with mac_only_encrypted the MAC does not cover it");
    }
    s
}

/// Checks a contribution of `value_json` at `path` against the encrypted file (`doc`,
/// `meta`, read as `format`): a valid path and JSON value, a path the format can hold, a
/// target that is new or a single value (nothing else is destroyed). Records the
/// target's base and whether the file's settings leave the value in clear.
pub fn plan(
    meta: &Metadata,
    doc: &Document,
    format: Format,
    path: &str,
    value_json: &[u8],
) -> Result<Plan, Error> {
    let steps = crate::treepath::parse(path).map_err(|mut e| {
        e.code = exit::INVALID_SET_FORMAT;
        e
    })?;
    crate::lifecycle::reserved::check_path(format, &steps)?;
    let value = crate::lifecycle::parse_set_value(value_json)?;
    let shown = target::shown(&steps);
    target::storable(format, &steps, &value)
        .map_err(|why| invalid(format!("cannot contribute to {shown}: {why}")))?;
    let landing = target::landing(doc, &steps, &value)
        .map_err(|why| invalid(format!("cannot contribute to {shown}: {why}")))?;
    let mut probe = doc.clone();
    let clear = target::stays_clear(
        &mut probe,
        &meta.selector(),
        Direction::Decrypting,
        &steps,
        &value,
    )
    .then(|| clear_reason(meta));
    Ok(Plan {
        path: path.trim().to_owned(),
        base: target::base(doc, &steps),
        replaces: landing == Landing::Replaces,
        clear,
    })
}

/// What applying one contribution did.
#[derive(Debug)]
pub struct Applied {
    /// The target path, safe to show (control characters made inert).
    pub path: String,
    /// The contribution's id, safe to show.
    pub id: String,
    /// Whether it replaced a value the file held.
    pub replaced: bool,
    /// Why the value is stored in clear, when it is.
    pub clear: Option<String>,
}

/// One `absorb` of a file: the contributions applied so far.
#[derive(Debug, Default)]
pub struct Run {
    applied: Vec<(Vec<Step>, String)>,
}

/// `contribution ID for PATH`, safe to show (the fields come from the file).
pub fn named(p: &Pending) -> String {
    format!("contribution {} for {}", inert(&p.id), inert(&p.path))
}

fn overlaps(a: &[Step], b: &[Step]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y)
}

impl Run {
    /// Checks one pending contribution against the file and sets its value in `plain`
    /// (the opened tree). `encrypted` is the file's tree as read (for the target's base);
    /// `meta` the opened file's metadata. Refuses (exit 55): an entry made before
    /// contributions were bound to their target; a path that cannot be applied to this
    /// file; a target another contribution of this run already set (or one inside it);
    /// a contribution that does not open or authenticate; a target whose value changed
    /// since it was made, or that it would destroy. Nothing of `plain` is changed when
    /// it refuses, except a placeholder at a target that was checked.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        p: &Pending,
        format: Format,
        encrypted: &Document,
        plain: &mut Document,
        meta: &Metadata,
        ctx: &KeyContext,
        order: &[KeyKind],
    ) -> Result<Applied, Error> {
        let name = named(p);
        let Some(base) = p.base.as_deref() else {
            return Err(refused(format!(
                "{name} was made by an older leafseal that did not bind it to the value it replaces, so it could be a replay of one already applied; it is not applied"
            ))
            .hint("ask the contributor to contribute again with this version, and drop the old entry"));
        };
        let cannot = |why: String| {
            refused(format!("{name} cannot be applied to this file: {why}"))
                .hint("the entry was not made by leafseal contribute for this file, or the file changed; ask the contributor to contribute again, and drop this entry")
        };
        let steps = crate::treepath::parse(&p.path).map_err(|e| cannot(e.message))?;
        crate::lifecycle::reserved::check_path(format, &steps).map_err(|e| cannot(e.message))?;
        if let Some((_, other)) = self.applied.iter().find(|(s, _)| overlaps(s, &steps)) {
            return Err(refused(format!(
                "{name} targets the same value as contribution {} (applied before it in this run); two contributions to one value conflict",
                inert(other)
            ))
            .hint("decide which one to keep and drop the other, then absorb again"));
        }
        // The path alone, before any key is used: can this format hold a value there?
        target::storable(format, &steps, &Value::str("")).map_err(&cannot)?;
        let json: Zeroizing<Vec<u8>> = super::open(p, meta, ctx, order)?;
        let value: Value = crate::lifecycle::parse_set_value(&json)
            .map_err(|e| cannot(format!("its value is not valid ({})", e.message)))?;
        target::storable(format, &steps, &value).map_err(&cannot)?;
        let landing = target::landing(plain, &steps, &value).map_err(&cannot)?;
        if target::base(encrypted, &steps) != base {
            return Err(refused(format!(
                "the value at {} changed since {name} was made (or the contribution was already applied); it is not applied",
                target::shown(&steps)
            ))
            .hint("ask the contributor to contribute again, and drop this entry"));
        }
        let clear = target::stays_clear(
            plain,
            &meta.selector(),
            Direction::Encrypting,
            &steps,
            &value,
        )
        .then(|| clear_reason(meta));
        crate::treepath::set(plain, &steps, value).map_err(|e| cannot(e.message))?;
        self.applied.push((steps, p.id.clone()));
        Ok(Applied {
            path: inert(&p.path),
            id: inert(&p.id),
            replaced: landing == Landing::Replaces,
            clear,
        })
    }
}
