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

/// Containers with at least this many items are measured on a sample (only outside
/// another sampled container: see [`sampling`]).
const SAMPLE_MIN: usize = 512;

/// The sampling stride in a large container.
const SAMPLE_STRIDE: usize = 16;

/// About how many bytes the members `items` of a container take when written at
/// `depth` (each with its `,`, newline and indentation): exact for structure, keys,
/// integers and unescaped strings, an upper bound for floats. Strings that need escapes
/// are underestimated; the buffer then grows. Large containers are measured on every
/// 16th element (a full pass over a big tree costs about a third of writing it).
pub(crate) fn estimate_items(items: &[Item], depth: usize, unit: usize) -> usize {
    estimate(vec![Pending::Items(items, depth, 1.0)], unit).0
}

/// As [`estimate_items`] for list elements.
pub(crate) fn estimate_seq(items: &[SeqItem], depth: usize, unit: usize) -> usize {
    estimate(vec![Pending::Seq(items, depth, 1.0)], unit).0
}

/// As [`estimate_items`], for a writer whose indentation does not always grow with the
/// depth (block YAML writes a list of lists `- - - 1` on one line): at most four times
/// the estimate without any indentation, plus 1 MiB. Indentation counted at every depth
/// made a 1 MB file of lists 250 deep estimate (and reserve) about 340 MB for a 1 MB
/// output, all of it touched when the buffer was wiped (round 24, the memory campaign).
/// A larger real output makes the buffer grow instead.
pub(crate) fn estimate_items_capped(items: &[Item], depth: usize, unit: usize) -> usize {
    let (full, flat) = estimate(vec![Pending::Items(items, depth, 1.0)], unit);
    full.min(flat.saturating_mul(4).saturating_add(1 << 20))
}

/// The stride to measure `n` items with, and the weight of each measured one, for a
/// container whose own size counts `weight` times.
///
/// A container inside a sampled one (weight above 1) is measured whole: weights never
/// multiply, so the estimate is at most `SAMPLE_STRIDE` times the size of the items
/// actually measured. Compounded weights made a hostile file of lists whose first item
/// nests again (the one sampled) and whose other 511 are empty estimate 16^depth bytes
/// (an abort on a 16 KB file: the audit's json_estimate case).
fn sampling(n: usize, weight: f64) -> (usize, f64) {
    if n < SAMPLE_MIN || weight > 1.0 {
        (1, 1.0)
    } else {
        let taken = n.div_ceil(SAMPLE_STRIDE);
        (SAMPLE_STRIDE, n as f64 / taken as f64)
    }
}

/// The estimate, and the part of it that is not indentation.
fn estimate(mut pending: Vec<Pending<'_>>, unit: usize) -> (usize, usize) {
    let mut total = 0f64;
    let mut indentation = 0f64;
    while let Some(p) = pending.pop() {
        let (items_sum, indent_sum, w) = match p {
            Pending::Items(items, depth, weight) => {
                let indent = depth.saturating_mul(unit);
                let line = indent.saturating_add(6);
                let (stride, scale) = sampling(items.len(), weight);
                let w = weight * scale;
                let (mut sum, mut indents) = (0usize, 0usize);
                for item in items.iter().step_by(stride) {
                    if let Item::Entry(k, v) = item {
                        let (n, i) = estimate_value(v, depth, unit, w, &mut pending);
                        sum = sum.saturating_add(line + k.len() + n);
                        indents = indents.saturating_add(indent + i);
                    }
                }
                (sum, indents, w)
            }
            Pending::Seq(items, depth, weight) => {
                let indent = depth.saturating_mul(unit);
                let line = indent.saturating_add(2);
                let (stride, scale) = sampling(items.len(), weight);
                let w = weight * scale;
                let (mut sum, mut indents) = (0usize, 0usize);
                for item in items.iter().step_by(stride) {
                    if let SeqItem::Value(v) = item {
                        let (n, i) = estimate_value(v, depth, unit, w, &mut pending);
                        sum = sum.saturating_add(line + n);
                        indents = indents.saturating_add(indent + i);
                    }
                }
                (sum, indents, w)
            }
        };
        total += items_sum as f64 * w;
        indentation += indent_sum as f64 * w;
    }
    // Saturating conversions; NaN cannot occur (sums and products of finite positives).
    let total = total as usize;
    (total, total.saturating_sub(indentation as usize))
}

/// The size of a scalar, or of the brackets of a container (whose members are queued),
/// and how much of it is indentation.
fn estimate_value<'a>(
    v: &'a Value,
    depth: usize,
    unit: usize,
    weight: f64,
    pending: &mut Vec<Pending<'a>>,
) -> (usize, usize) {
    let indent = depth.saturating_mul(unit);
    let close = indent.saturating_add(3);
    let n = match v {
        Value::Map(m) if m.0.iter().any(|i| matches!(i, Item::Entry(..))) => {
            pending.push(Pending::Items(&m.0, depth + 1, weight));
            return (close, indent);
        }
        Value::Seq(s) if s.iter().any(|i| matches!(i, SeqItem::Value(_))) => {
            pending.push(Pending::Seq(s, depth + 1, weight));
            return (close, indent);
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
    };
    (n, 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::tree::Map;

    /// Lists of `SAMPLE_MIN` items whose first item nests again and whose others are
    /// empty, `levels` deep: only the first item of each is sampled.
    fn nested_first(levels: usize) -> Value {
        let mut v = Value::Seq(Vec::new());
        for _ in 0..levels {
            let mut items = vec![SeqItem::Value(v)];
            items.extend((1..SAMPLE_MIN).map(|_| SeqItem::Value(Value::Seq(Vec::new()))));
            v = Value::Seq(items);
        }
        v
    }

    #[test]
    fn sampled_weights_never_compound_audit_json_estimate() {
        // The old estimate multiplied the weights of nested samples: 16^9 times the size
        // of the innermost list, an abort when a buffer that large was allocated.
        for levels in [2, 5, 9, 20] {
            let mut m = Map::new();
            m.push("a", nested_first(levels));
            let out = super::super::emit_top_sequential(&m, None, b"    ").unwrap();
            let est = estimate_items(&m.0, 1, 4);
            assert!(
                est <= out.len().saturating_mul(SAMPLE_STRIDE + 1),
                "levels {levels}: estimate {est} for {} bytes",
                out.len()
            );
        }
    }
}
