//! Turning a creation rule's `path_regex` into gitattributes globs.
//!
//! sops matches `path_regex` unanchored against the file's path relative to the policy
//! file's directory. Only a small regex subset can be expressed as globs: literals and
//! escaped punctuation, `.`, `.*`/`.+`, `[^/]*`/`[^/]+`, simple character classes, `\d`,
//! `?` after an atom, groups and alternations (expanded), and the anchors `^`/`$`.
//! Anything else (`\w+`, `{n}`, look-arounds, flags, …) is reported as unsupported, so
//! the caller can ask for `--pattern`.
//!
//! The globs are a *superset* of what the regex matches (a `.*` that may cross `/` gives
//! both an in-segment and a crossing glob, middle literals are dropped from the crossing
//! form): over-matching is harmless, because the drivers pass files that are not encrypted
//! through unchanged (textconv) or to git's own text merge (merge driver).

/// Most globs one regex may expand to (alternations multiply).
const MAX_ALTERNATIVES: usize = 32;

/// A regex element a glob can express.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A literal character.
    Lit(char),
    /// `.*` or `.+`: any string, `/` included.
    AnyStar,
    /// `[^/]*` or `[^/]+`: any string within one path component.
    SegStar,
    /// `.`: one character.
    AnyOne,
    /// A character class in glob syntax, brackets included.
    Class(String),
    /// `^`.
    Start,
    /// `$`.
    End,
}

type Alts = Vec<Vec<Tok>>;

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// alt := seq ('|' seq)*
    fn alt(&mut self, depth: usize) -> Option<Alts> {
        if depth > 8 {
            return None;
        }
        let mut out = self.seq(depth)?;
        while self.peek() == Some('|') {
            self.bump();
            out.extend(self.seq(depth)?);
            if out.len() > MAX_ALTERNATIVES {
                return None;
            }
        }
        Some(out)
    }

    /// seq := (atom quantifier?)*
    fn seq(&mut self, depth: usize) -> Option<Alts> {
        let mut acc: Alts = vec![Vec::new()];
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom(depth)?;
            let atom = self.quantify(atom)?;
            let mut next = Vec::new();
            for prefix in &acc {
                for alt in &atom {
                    let mut v = prefix.clone();
                    v.extend(alt.iter().cloned());
                    next.push(v);
                }
            }
            if next.len() > MAX_ALTERNATIVES {
                return None;
            }
            acc = next;
        }
        Some(acc)
    }

    fn quantify(&mut self, atom: Alts) -> Option<Alts> {
        match self.peek() {
            Some('?') => {
                self.bump();
                if self.peek() == Some('?') {
                    return None;
                }
                let mut out = atom;
                out.push(Vec::new());
                Some(out)
            }
            Some('*' | '+') => {
                self.bump();
                if matches!(self.peek(), Some('?' | '+')) {
                    return None;
                }
                // Only "any string" loops have a glob form.
                match atom.as_slice() {
                    [one] if one.as_slice() == [Tok::AnyOne] => Some(vec![vec![Tok::AnyStar]]),
                    [one] if one.as_slice() == [Tok::Class("[!/]".into())] => {
                        Some(vec![vec![Tok::SegStar]])
                    }
                    _ => None,
                }
            }
            Some('{') => None,
            _ => Some(atom),
        }
    }

    fn atom(&mut self, depth: usize) -> Option<Alts> {
        let c = self.bump()?;
        let one = |t: Tok| Some(vec![vec![t]]);
        match c {
            '(' => {
                if self.peek() == Some('?') {
                    self.bump();
                    if self.bump()? != ':' {
                        return None;
                    }
                }
                let inner = self.alt(depth + 1)?;
                if self.bump()? != ')' {
                    return None;
                }
                Some(inner)
            }
            '[' => self.class().map(|c| vec![vec![Tok::Class(c)]]),
            '.' => one(Tok::AnyOne),
            '^' => one(Tok::Start),
            '$' => one(Tok::End),
            '\\' => match self.bump()? {
                'd' => one(Tok::Class("[0-9]".into())),
                e if e.is_ascii_alphanumeric() => None,
                e => one(Tok::Lit(e)),
            },
            '*' | '+' | '?' | '{' | '}' | ')' => None,
            c if c.is_whitespace() => None,
            c => one(Tok::Lit(c)),
        }
    }

    /// A bracket class, returned in glob syntax; `[^/]` comes back as `[!/]`.
    fn class(&mut self) -> Option<String> {
        let mut out = String::from("[");
        if self.peek() == Some('^') {
            self.bump();
            out.push('!');
        }
        let mut first = true;
        loop {
            let c = self.bump()?;
            match c {
                ']' if !first => break,
                '\\' => {
                    let e = self.bump()?;
                    if e == 'd' {
                        out.push_str("0-9");
                    } else if e.is_ascii_alphanumeric() {
                        return None;
                    } else if e == ']' || e == '\\' || e == '!' || e == '^' {
                        out.push('\\');
                        out.push(e);
                    } else {
                        out.push(e);
                    }
                }
                '[' => return None,
                c if c.is_whitespace() => return None,
                c => out.push(c),
            }
            first = false;
        }
        out.push(']');
        Some(out)
    }
}

fn lit_glob(c: char, out: &mut String) {
    if matches!(c, '*' | '?' | '[' | '\\') {
        out.push('\\');
    }
    out.push(c);
}

/// Glob text of tokens inside one path component (`AnyStar` becomes `*`).
fn segment_glob(toks: &[Tok]) -> String {
    let mut out = String::new();
    for t in toks {
        match t {
            Tok::Lit(c) => lit_glob(*c, &mut out),
            Tok::AnyStar | Tok::SegStar => {
                if !out.ends_with('*') || out.ends_with("\\*") {
                    out.push('*');
                }
            }
            Tok::AnyOne => out.push('?'),
            Tok::Class(c) => out.push_str(c),
            Tok::Start | Tok::End => {}
        }
    }
    out
}

/// The globs for one path component whose `.*` may each stay inside the component or
/// cross directories. Exact for up to three `.*`; beyond that the literals between the
/// first and the last are dropped (a superset).
fn segment_variants(seg: &[Tok], last: bool) -> Vec<String> {
    let mut parts: Vec<&[Tok]> = seg.split(|t| *t == Tok::AnyStar).collect();
    if parts.len() == 1 {
        return vec![segment_glob(seg)];
    }
    if parts.len() > 4 {
        let (p, s) = (parts[0], parts[parts.len() - 1]);
        parts = vec![p, s];
    }
    let globs: Vec<String> = parts.iter().map(|p| segment_glob(p)).collect();
    let stars = globs.len() - 1;
    let mut out = Vec::new();
    for choice in 0u32..(1 << stars) {
        let cross = |i: usize| choice & (1 << i) != 0;
        // A `.*` at the start of the component always crosses (`**/` covers zero
        // directories too); one at its end crosses unless it ends the path.
        if globs[0].is_empty() && !cross(0) {
            continue;
        }
        if globs[stars].is_empty() && !last && !cross(stars - 1) {
            continue;
        }
        let mut g = globs[0].clone();
        for i in 0..stars {
            g.push_str(if cross(i) { "*/**/*" } else { "*" });
            g.push_str(&globs[i + 1]);
        }
        if let Some(rest) = g.strip_prefix("*/**/") {
            g = format!("**/{rest}");
        }
        if globs[stars].is_empty() && cross(stars - 1) && g.ends_with("/**/*") {
            g.pop();
            g.pop();
        }
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// Globs (anchored at the policy directory, `/`-separated) for one expanded alternative.
fn alternative_globs(mut toks: Vec<Tok>) -> Option<Vec<String>> {
    let anchored_start = toks.first() == Some(&Tok::Start);
    if anchored_start {
        toks.remove(0);
    } else {
        toks.insert(0, Tok::AnyStar);
    }
    if toks.last() == Some(&Tok::End) {
        toks.pop();
    } else {
        toks.push(Tok::AnyStar);
    }
    if toks.iter().any(|t| matches!(t, Tok::Start | Tok::End)) {
        return None;
    }
    toks.dedup_by(|a, b| *a == Tok::AnyStar && *b == Tok::AnyStar);
    let segments: Vec<&[Tok]> = toks.split(|t| *t == Tok::Lit('/')).collect();
    let n = segments.len();
    // Each segment gives one or two variants; the product is the glob set.
    let mut acc: Vec<String> = vec![String::new()];
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() {
            return None;
        }
        let last = i + 1 == n;
        let variants = segment_variants(seg, last);
        let mut next = Vec::new();
        for prefix in &acc {
            for v in &variants {
                next.push(if i == 0 {
                    v.clone()
                } else {
                    format!("{prefix}/{v}")
                });
            }
        }
        if next.len() > MAX_ALTERNATIVES {
            return None;
        }
        acc = next;
    }
    Some(acc)
}

/// Converts a `path_regex` into gitattributes patterns for files below `prefix` (the
/// policy directory relative to the repository root, `""` or ending in `/`). `None` when
/// the regex is outside the supported subset.
pub fn regex_to_globs(regex: &str, prefix: &str) -> Option<Vec<String>> {
    let mut p = Parser {
        chars: regex.chars().collect(),
        pos: 0,
    };
    let alts = p.alt(0)?;
    if p.pos != p.chars.len() {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for alt in alts {
        for g in alternative_globs(alt)? {
            let g = finish(&g, prefix);
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    if out.is_empty() || out.len() > MAX_ALTERNATIVES {
        return None;
    }
    Some(out)
}

/// Prefixes and simplifies an anchored glob into gitattributes form.
fn finish(g: &str, prefix: &str) -> String {
    let mut g = if prefix.is_empty() {
        match g.strip_prefix("**/") {
            Some(rest) if !rest.contains('/') => return escape_start(rest),
            _ => g.to_owned(),
        }
    } else {
        format!("{prefix}{g}")
    };
    if !g.contains('/') {
        // A slash-free pattern would match at every depth; anchor it.
        g.insert(0, '/');
    }
    escape_start(&g)
}

fn escape_start(g: &str) -> String {
    if g.starts_with('!') || g.starts_with('#') {
        format!("\\{g}")
    } else {
        g.to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::regex_to_globs;

    fn g(re: &str) -> Option<Vec<String>> {
        regex_to_globs(re, "")
    }

    #[test]
    fn common_rules() {
        assert_eq!(g(r"\.enc\.yaml$").unwrap(), ["*.enc.yaml"]);
        assert_eq!(g(r".*\.enc\.json$").unwrap(), ["*.enc.json"]);
        assert_eq!(
            g(r"^k8s/.*\.ya?ml$").unwrap(),
            ["k8s/**/*.yaml", "k8s/**/*.yml"]
        );
        assert_eq!(g(r"\.(yaml|json)$").unwrap(), ["*.yaml", "*.json"]);
        assert_eq!(g(r"^secrets\.env$").unwrap(), ["/secrets.env"]);
        assert_eq!(
            g(r"^(dev|prod)/[^/]+\.yaml$").unwrap(),
            ["dev/*.yaml", "prod/*.yaml"]
        );
        assert_eq!(g(r"^conf\d\.ini$").unwrap(), ["/conf[0-9].ini"]);
    }

    #[test]
    fn unanchored_directory_rules_are_supersets() {
        // `secrets/.*\.yaml$` also matches `app/mysecrets/x.yaml` in sops.
        assert_eq!(g(r"secrets/.*\.yaml$").unwrap(), ["**/*secrets/**/*.yaml"]);
        assert_eq!(g(r"^secrets/").unwrap(), ["secrets/**/*"]);
        assert_eq!(g(r"\.enc\.").unwrap(), ["*.enc.*", "**/*.enc.*/**"]);
        assert_eq!(
            g(r"^a.*secrets.*\.yaml$").unwrap(),
            [
                "/a*secrets*.yaml",
                "a*/**/*secrets*.yaml",
                "a*secrets*/**/*.yaml",
                "a*/**/*secrets*/**/*.yaml"
            ]
        );
    }

    #[test]
    fn prefix_for_a_policy_below_the_root() {
        assert_eq!(
            regex_to_globs(r"\.enc\.yaml$", "infra/").unwrap(),
            ["infra/**/*.enc.yaml"]
        );
        assert_eq!(
            regex_to_globs(r"^k8s/.*\.yml$", "infra/").unwrap(),
            ["infra/k8s/**/*.yml"]
        );
    }

    #[test]
    fn glob_specials_are_escaped() {
        assert_eq!(g(r"^a\*b\[1\]$").unwrap(), [r"/a\*b\[1]"]);
        assert_eq!(g(r"^!x$").unwrap(), [r"/!x"]);
        assert_eq!(g(r"!x$").unwrap(), [r"*!x"]);
    }

    #[test]
    fn unsupported() {
        for re in [
            r"\w+\.yaml$",
            r"a{2}",
            r"(?i)\.yaml$",
            r"a+",
            r"x$y",
            r"(unclosed",
            r"a b",
            r"^/abs/.*",
            r"(?=x)",
            r"a.*?b",
        ] {
            assert_eq!(g(re), None, "{re}");
        }
    }

    #[test]
    fn never_panics() {
        for re in [
            "[", "[]", "[]]", "\\", "(", ")", "|", "(|)", "^$", "a||b", "[^/]*", ".*",
        ] {
            let _ = g(re);
        }
        assert_eq!(g(".*").unwrap(), ["*"]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_regexes_never_panic(re in "[\\\\.*+?()|\\[\\]^$/a-c{}!#-]{0,24}", prefix in "(|infra/)") {
            if let Some(globs) = regex_to_globs(&re, &prefix) {
                proptest::prop_assert!(!globs.is_empty() && globs.len() <= 32);
            }
        }

        #[test]
        fn arbitrary_unicode_never_panics(re in "\\PC{0,40}") {
            let _ = regex_to_globs(&re, "");
        }
    }
}
