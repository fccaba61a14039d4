//! Removing a recipient from `.sops.yaml` by editing its text minimally: the recipient is
//! taken out of comma lists (`age: a,b`, quoted or not, flow lists `[a, b]`, folded
//! continuation lines) and list items (`- a`, `- arn: a` with its continuation lines)
//! of every creation rule; every other byte (comments, order, quoting, layout) is kept.
//! The caller re-parses the result to check it (see [`check_edit`]).

use crate::lifecycle::revoke::Recipient;
use crate::policy::Policy;

/// The result of [`remove_recipient`].
#[derive(Debug)]
pub struct PolicyEdit {
    /// The new text.
    pub text: String,
    /// The 1-based line numbers (in the old text) that were changed or removed.
    pub lines: Vec<usize>,
}

/// The strings a recipient may appear as in the policy text.
fn needles(who: &Recipient) -> Vec<String> {
    let mut v = vec![who.raw.clone()];
    for (_, id) in &who.ids {
        if !v.contains(id) {
            v.push(id.clone());
        }
    }
    v
}

fn is_boundary_before(c: Option<char>) -> bool {
    matches!(c, None | Some(' ' | '\t' | ',' | '"' | '\'' | '[' | ':'))
}

fn is_boundary_after(c: Option<char>) -> bool {
    matches!(
        c,
        None | Some(' ' | '\t' | ',' | '"' | '\'' | ']' | '\r' | '\n')
    )
}

/// Where the comment of a line starts (a `#` after whitespace, outside quotes).
fn comment_start(line: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && (prev == ' ' || prev == '\t' || i == 0) => return i,
            None => {}
        }
        prev = c;
    }
    line.len()
}

/// The position of a whole-token occurrence of one of the needles in `s`.
fn find_token(s: &str, needles: &[String]) -> Option<(usize, usize)> {
    for n in needles {
        let mut from = 0;
        while let Some(rel) = s[from..].find(n.as_str()) {
            let at = from + rel;
            let end = at + n.len();
            let before = s[..at].chars().next_back();
            let after = s[end..].chars().next();
            if is_boundary_before(before) && is_boundary_after(after) {
                return Some((at, end));
            }
            from = end;
        }
    }
    None
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

/// Whether a list item's value is exactly the recipient (`- a`, `- "a"`, `- arn: a`,
/// `- fp: a`, …).
fn item_is(content: &str, needles: &[String]) -> bool {
    let Some(rest) = content.trim().strip_prefix("- ") else {
        return false;
    };
    let rest = rest.trim();
    let value = match rest.split_once(": ") {
        Some((k, v)) if !k.contains(' ') && !k.starts_with(['"', '\'']) => v.trim(),
        _ => rest,
    };
    let value = value.trim_matches(['"', '\'']);
    needles.iter().any(|n| n == value)
}

/// Removes one token (and one adjacent comma) from a line's content.
fn cut_token(content: &str, at: usize, end: usize) -> String {
    let bytes = content.as_bytes();
    // Extend over a surrounding pair of quotes of an item in a flow list.
    let (mut a, mut e) = (at, end);
    if a > 0 && e < bytes.len() && matches!(bytes[a - 1], b'"' | b'\'') && bytes[e] == bytes[a - 1]
    {
        let before = content[..a - 1].trim_end().chars().next_back();
        if matches!(before, Some('[' | ',')) {
            a -= 1;
            e += 1;
        }
    }
    let after = &content[e..];
    let after_trim = after.trim_start_matches([' ', '\t']);
    if let Some(rest) = after_trim.strip_prefix(',') {
        // "a, b" → "b": drop the comma and the spaces after it.
        let rest = rest.trim_start_matches([' ', '\t']);
        return format!("{}{}", &content[..a], rest);
    }
    let before = &content[..a];
    let before_trim = before.trim_end_matches([' ', '\t']);
    if let Some(head) = before_trim.strip_suffix(',') {
        let head = head.trim_end_matches([' ', '\t']);
        return format!("{head}{after}");
    }
    format!("{before}{after}")
}

/// Removes a recipient from the policy text. Returns `None` when it does not appear.
pub fn remove_recipient(text: &str, who: &Recipient) -> Option<PolicyEdit> {
    let needles = needles(who);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    let mut changed = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let body = line.trim_end_matches(['\n', '\r']);
        let eol = &line[body.len()..];
        let cstart = comment_start(body);
        let (content, comment) = body.split_at(cstart);
        if find_token(content, &needles).is_none() {
            out.push_str(line);
            i += 1;
            continue;
        }
        changed.push(i + 1);
        if item_is(content, &needles) {
            // Drop the item and its continuation lines (deeper indented, e.g. `role:`).
            let dash = indent_of(content);
            i += 1;
            while i < lines.len() {
                let next = lines[i].trim_end_matches(['\n', '\r']);
                if next.trim().is_empty() || indent_of(next) <= dash {
                    break;
                }
                changed.push(i + 1);
                i += 1;
            }
            continue;
        }
        let mut c = content.to_owned();
        while let Some((a, e)) = find_token(&c, &needles) {
            c = cut_token(&c, a, e);
        }
        if c.trim().is_empty() && comment.is_empty() {
            // A continuation line that held only this recipient.
            i += 1;
            continue;
        }
        let c = if comment.is_empty() {
            c.trim_end().to_owned()
        } else {
            c
        };
        out.push_str(&c);
        out.push_str(comment);
        out.push_str(eol);
        i += 1;
    }
    (!changed.is_empty()).then_some(PolicyEdit {
        text: out,
        lines: changed,
    })
}

/// A problem found by [`check_edit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditProblem {
    /// The recipient is still named by a rule (a form the text edit does not handle).
    StillPresent(usize),
    /// A rule (1-based) that had keys would have none.
    RuleEmpty(usize),
    /// A key group of a rule (1-based) would be empty.
    GroupEmpty(usize),
}

/// Compares the policy before and after the edit.
pub fn check_edit(old: &Policy, new: &Policy, who: &Recipient) -> Vec<EditProblem> {
    let mut out = Vec::new();
    for (i, rule) in new.rules.iter().enumerate() {
        let n = i + 1;
        if rule
            .key_groups
            .iter()
            .flatten()
            .any(|k| who.matches(k.kind(), &k.id()))
        {
            out.push(EditProblem::StillPresent(n));
        }
        let Some(before) = old.rules.get(i) else {
            continue;
        };
        let had = before.key_groups.iter().flatten().count();
        let has = rule.key_groups.iter().flatten().count();
        if had > 0 && has == 0 {
            out.push(EditProblem::RuleEmpty(n));
        } else if before.key_groups.iter().filter(|g| !g.is_empty()).count()
            > rule.key_groups.iter().filter(|g| !g.is_empty()).count()
        {
            out.push(EditProblem::GroupEmpty(n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
    const B: &str = "age1qe5lxzzeppw5k79vxn3872272sgy224g2nzqlzy3uljs84say3yqgvd0sw";

    fn who() -> Recipient {
        Recipient::new(A).expect("recipient")
    }

    #[test]
    fn comma_lists_items_and_comments() {
        let text = format!(
            "# keys\ncreation_rules:\n  - path_regex: a\\.yaml$  # first\n    age: {A},{B} # both\n  - path_regex: b\n    age: '{B}, {A}'\n  - path_regex: c\n    key_groups:\n      - age:\n          - {A} # gone\n          - {B}\n  - age: [\"{A}\", \"{B}\"]\n"
        );
        let e = remove_recipient(&text, &who()).expect("changed");
        assert_eq!(
            e.text,
            format!(
                "# keys\ncreation_rules:\n  - path_regex: a\\.yaml$  # first\n    age: {B} # both\n  - path_regex: b\n    age: '{B}'\n  - path_regex: c\n    key_groups:\n      - age:\n          - {B}\n  - age: [\"{B}\"]\n"
            )
        );
        assert_eq!(e.lines, vec![4, 6, 10, 12]);
    }

    #[test]
    fn absent_recipient_changes_nothing() {
        let text = format!("creation_rules:\n  - age: {B}\n");
        assert!(remove_recipient(&text, &who()).is_none());
        // A longer id that merely contains it is not a match.
        let text = format!("creation_rules:\n  - age: {A}x\n");
        assert!(remove_recipient(&text, &who()).is_none());
    }
}
