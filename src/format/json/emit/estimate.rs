//! A cheap estimate of the written size, so the output buffer is allocated once.

use crate::tree::Item;
use crate::tree::SeqItem;
use crate::tree::Value;

/// An estimate plus a little room, so that a slightly low estimate does not make the
/// buffer grow (a copy of everything written so far).
pub(crate) fn with_slack(est: usize) -> usize {
    est.saturating_add(est / 64).saturating_add(64)
}

/// A container still to be measured by [`estimate_items`]: its items, their depth and
/// the weight of its size (how many containers it stands for, when sampled).
enum Pending<'a> {
    Items(&'a [Item], usize, f64),
    Seq(&'a [SeqItem], usize, f64),
}

/// Containers with at least this many items are measured on a sample.
const SAMPLE_MIN: usize = 512;

/// The sampling stride in a large container.
const SAMPLE_STRIDE: usize = 16;

/// About how many bytes the members `items` of a container take when written at
/// `depth` (each with its `,`, newline and indentation): exact for structure, keys,
/// integers and unescaped strings, an upper bound for floats. Strings that need escapes
/// are underestimated; the buffer then grows. Large containers are measured on every
/// 16th element (a full pass over a big tree costs about a third of writing it).
pub(crate) fn estimate_items(items: &[Item], depth: usize, unit: usize) -> usize {
    estimate(vec![Pending::Items(items, depth, 1.0)], unit)
}

/// As [`estimate_items`] for list elements.
pub(crate) fn estimate_seq(items: &[SeqItem], depth: usize, unit: usize) -> usize {
    estimate(vec![Pending::Seq(items, depth, 1.0)], unit)
}

/// The stride to measure `n` items with, and the weight of each measured one.
fn sampling(n: usize) -> (usize, f64) {
    if n < SAMPLE_MIN {
        (1, 1.0)
    } else {
        let taken = n.div_ceil(SAMPLE_STRIDE);
        (SAMPLE_STRIDE, n as f64 / taken as f64)
    }
}

fn estimate(mut pending: Vec<Pending<'_>>, unit: usize) -> usize {
    let mut total = 0f64;
    while let Some(p) = pending.pop() {
        match p {
            Pending::Items(items, depth, weight) => {
                let line = depth.saturating_mul(unit).saturating_add(6);
                let (stride, scale) = sampling(items.len());
                let w = weight * scale;
                let mut sum = 0usize;
                for item in items.iter().step_by(stride) {
                    if let Item::Entry(k, v) = item {
                        let n = estimate_value(v, depth, unit, w, &mut pending);
                        sum = sum.saturating_add(line + k.len() + n);
                    }
                }
                total += sum as f64 * w;
            }
            Pending::Seq(items, depth, weight) => {
                let line = depth.saturating_mul(unit).saturating_add(2);
                let (stride, scale) = sampling(items.len());
                let w = weight * scale;
                let mut sum = 0usize;
                for item in items.iter().step_by(stride) {
                    if let SeqItem::Value(v) = item {
                        let n = estimate_value(v, depth, unit, w, &mut pending);
                        sum = sum.saturating_add(line + n);
                    }
                }
                total += sum as f64 * w;
            }
        }
    }
    // Saturating conversion; NaN cannot occur (sums and products of finite positives).
    total as usize
}

/// The size of a scalar, or of the brackets of a container (whose members are queued).
fn estimate_value<'a>(
    v: &'a Value,
    depth: usize,
    unit: usize,
    weight: f64,
    pending: &mut Vec<Pending<'a>>,
) -> usize {
    let close = depth.saturating_mul(unit).saturating_add(3);
    match v {
        Value::Map(m) if m.0.iter().any(|i| matches!(i, Item::Entry(..))) => {
            pending.push(Pending::Items(&m.0, depth + 1, weight));
            close
        }
        Value::Seq(s) if s.iter().any(|i| matches!(i, SeqItem::Value(_))) => {
            pending.push(Pending::Seq(s, depth + 1, weight));
            close
        }
        Value::Map(_) | Value::Seq(_) => 2,
        Value::Str(s) => s.len() + 2,
        Value::Bytes(b) => b.len() + 2,
        Value::Int(i) => {
            usize::from(*i < 0)
                + i.unsigned_abs()
                    .checked_ilog10()
                    .map_or(1, |d| d as usize + 1)
        }
        // Typical; long ones are rare and covered by the slack.
        Value::Float(_) => 8,
        Value::Bool(true) | Value::Null => 4,
        Value::Bool(false) => 5,
        Value::Time(_) => 40,
    }
}
