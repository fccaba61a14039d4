//! Where comments after the last entry of a collection go (go-yaml's foot comments),
//! measured against sops 3.11: the one rule for the tree builder (both YAML readers) and
//! the tree-free encrypt.

/// How many of the `pending` comment columns (in order) close with a collection at
/// `indent` that ends before content at column `next` (0 at the end of a document);
/// `innermost` when it is the first to end after a scalar. The builder's rule, shared by
/// the tree-free YAML encrypt: comments at or right of the collection's indentation.
/// go-yaml (sops) differs in one case, measured against sops 3.11: when the first comment
/// after the innermost collection is left of it but right of the next content, that
/// comment and every following one right of the next content end the innermost one
/// (`a:` / `    b:` / `        c: 1` / `    # x` / `d: 2` puts `# x` under `c`).
pub(crate) fn foot_comments(
    pending: impl Iterator<Item = usize> + Clone,
    indent: usize,
    next: usize,
    innermost: bool,
) -> usize {
    let mut cols = pending.clone().peekable();
    match cols.peek() {
        Some(&c) if innermost && c < indent && c > next => cols.take_while(|&c| c > next).count(),
        _ => pending.take_while(|&c| c >= indent).count(),
    }
}

/// The column [`foot_comments`] takes as the next content when the collections close the
/// document (only comments follow): the last comment's (0 without one). go-yaml (sops
/// 3.11) gives trailing comments to the innermost collection only when a later comment
/// left of them follows (`      # x` then ` # y`: `x` under the innermost, `y` at the top);
/// a single trailing comment goes by its column (`  # x` after `c: 1` at column 8 is a
/// top-level comment, not the innermost's). Measured; one case differs still: a lone
/// trailing comment between two levels' columns goes to the top level in sops, to the
/// outer of the two here.
pub(crate) fn end_of_document_next(pending: impl Iterator<Item = usize>) -> usize {
    pending.last().unwrap_or(0)
}

/// How many of the `pending` comment columns close with a collection at `indent` when the
/// collections close the document ([`foot_comments`] with [`end_of_document_next`]);
/// `root` for the document's own collection.
///
/// One trailing comment alone goes to the innermost collection when it is at or right of
/// its indentation, else to the top level. go-yaml (sops 3.11) places it so too, except at
/// exactly the column of an outer map, where sops writes it under that map and then reads
/// it back under the innermost one, and so shows its own file's comment as `#ENC[…]`
/// (measured). Under the top level, both tools read back what either writes.
pub(crate) fn end_of_document_feet(
    pending: impl Iterator<Item = usize> + Clone,
    indent: usize,
    innermost: bool,
    root: bool,
) -> usize {
    if !innermost && !root {
        return 0;
    }
    let mut cols = pending.clone();
    if let (Some(col), None) = (cols.next(), cols.next()) {
        return usize::from(!innermost || col >= indent);
    }
    let next = end_of_document_next(pending.clone());
    foot_comments(pending, indent, next, innermost)
}

/// How many of the `pending` comment columns close the innermost collection (at
/// `indent`; `seq` for a list) when the document ends right after an implicit null (`k:`
/// or `-` with nothing after it), measured against sops 3.11. go-yaml places the empty
/// value where the next token is, after the comments, and so reads them differently
/// from after any other value: a list takes none, and a map takes the comments before
/// the last one left of its indentation that are right of that one (`    k:` / `    # c`
/// / `  # d` gives `# c` to the map, `# d` to the top level), and none when no comment is
/// left of it (`    k:` / `    # c` alone is a top-level comment).
pub(crate) fn after_null_feet(
    pending: impl Iterator<Item = usize> + Clone,
    indent: usize,
    seq: bool,
) -> usize {
    if seq {
        return 0;
    }
    let Some((at, next)) = pending
        .clone()
        .enumerate()
        .filter(|&(_, c)| c < indent)
        .last()
    else {
        return 0;
    };
    pending.take(at).take_while(|&c| c > next).count()
}

/// [`foot_comments`] before content at column `next` in the middle of a document, with
/// go-yaml's rule for a comment left of that content (measured against sops 3.11, round
/// 20 F9): when the first comment after the innermost collection is left of both it and
/// the next content, it and the following ones left of the next content end the
/// innermost collection (`a:` / `    l:` / `        k: x` / `  # c` / `    y: 1` puts
/// `# c` under `k`).
pub(crate) fn mid_document_feet(
    pending: impl Iterator<Item = usize> + Clone,
    indent: usize,
    next: usize,
    innermost: bool,
) -> usize {
    let mut cols = pending.clone().peekable();
    match cols.peek() {
        Some(&c) if innermost && c < indent && c < next => cols.take_while(|&c| c < next).count(),
        _ => foot_comments(pending, indent, next, innermost),
    }
}
