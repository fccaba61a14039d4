//! Go's character classes and escapes: `[…]` with POSIX `[:name:]` items, the ASCII Perl
//! classes `\d \s \w` (and their negations), Unicode `\p{…}` with Go's names, and the
//! single-character escapes (octal, `\x`, C escapes, escaped punctuation).

use std::fmt::Write as _;

use super::Flags;
use super::GoRegexError;
use super::INVALID_ESCAPE;
use super::INVALID_RANGE;
use super::push_char;
use super::refuse;

/// A class item that stands for a set of characters: `body` is what goes between `[` and
/// `]` in the `regex` crate; `negated` means the item is the complement of that set.
/// Written inside a class, a negated item becomes a nested `[^body]`, so the `regex` crate
/// folds case and then negates for that item alone, as Go does.
struct Group {
    body: String,
    negated: bool,
}

impl Group {
    fn from_ranges(ranges: &[(u32, u32)], negated: bool) -> Group {
        let mut body = String::new();
        for &(lo, hi) in ranges {
            push_range(&mut body, lo, hi);
        }
        Group { body, negated }
    }

    /// The group as an item inside a class.
    fn push_item(&self, out: &mut String) {
        if self.negated {
            let _ = write!(out, "[^{}]", self.body);
        } else {
            out.push_str(&self.body);
        }
    }
}

/// `[0-9]`, `[\t\n\f\r ]`, `[0-9A-Za-z_]`: Go's Perl classes are ASCII only, and its `\s`
/// has no `\v`.
const DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
const PERL_SPACE: &[(u32, u32)] = &[(0x9, 0xA), (0xC, 0xD), (0x20, 0x20)];
const WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)];

/// Go's POSIX classes (`[:name:]`), all ASCII.
const POSIX: &[(&str, &[(u32, u32)])] = &[
    ("alnum", &[(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)]),
    ("alpha", &[(0x41, 0x5A), (0x61, 0x7A)]),
    ("ascii", &[(0x0, 0x7F)]),
    ("blank", &[(0x9, 0x9), (0x20, 0x20)]),
    ("cntrl", &[(0x0, 0x1F), (0x7F, 0x7F)]),
    ("digit", DIGIT),
    ("graph", &[(0x21, 0x7E)]),
    ("lower", &[(0x61, 0x7A)]),
    ("print", &[(0x20, 0x7E)]),
    (
        "punct",
        &[(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    ),
    ("space", &[(0x9, 0xD), (0x20, 0x20)]),
    ("upper", &[(0x41, 0x5A)]),
    ("word", WORD),
    ("xdigit", &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)]),
];

/// Go's general categories (`unicode.Categories`, Go 1.25; `LC` is looked up as `Lc`).
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Cn", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm",
    "So", "Z", "Zl", "Zp", "Zs",
];

/// Unicode's long names for the categories (`unicode.CategoryAliases`), by Go's canonical
/// form (first letter upper case, the rest lower case, no `_`, `-` or space).
const CATEGORY_ALIASES: &[(&str, &str)] = &[
    ("Casedletter", "LC"),
    ("Closepunctuation", "Pe"),
    ("Cntrl", "Cc"),
    ("Combiningmark", "M"),
    ("Connectorpunctuation", "Pc"),
    ("Control", "Cc"),
    ("Currencysymbol", "Sc"),
    ("Dashpunctuation", "Pd"),
    ("Decimalnumber", "Nd"),
    ("Digit", "Nd"),
    ("Enclosingmark", "Me"),
    ("Finalpunctuation", "Pf"),
    ("Format", "Cf"),
    ("Initialpunctuation", "Pi"),
    ("Letter", "L"),
    ("Letternumber", "Nl"),
    ("Lineseparator", "Zl"),
    ("Lowercaseletter", "Ll"),
    ("Mark", "M"),
    ("Mathsymbol", "Sm"),
    ("Modifierletter", "Lm"),
    ("Modifiersymbol", "Sk"),
    ("Nonspacingmark", "Mn"),
    ("Number", "N"),
    ("Openpunctuation", "Ps"),
    ("Other", "C"),
    ("Otherletter", "Lo"),
    ("Othernumber", "No"),
    ("Otherpunctuation", "Po"),
    ("Othersymbol", "So"),
    ("Paragraphseparator", "Zp"),
    ("Privateuse", "Co"),
    ("Punct", "P"),
    ("Punctuation", "P"),
    ("Separator", "Z"),
    ("Spaceseparator", "Zs"),
    ("Spacingmark", "Mc"),
    ("Surrogate", "Cs"),
    ("Symbol", "S"),
    ("Titlecaseletter", "Lt"),
    ("Unassigned", "Cn"),
    ("Uppercaseletter", "Lu"),
];

/// The scripts Go 1.25 finds: the Unicode 15.0 script names that are already in Go's
/// canonical form. Go looks names up after canonicalising them, so the scripts whose
/// names have an underscore or an inner capital (`Old_Italic`, `SignWriting`) are refused
/// by sops; so are the scripts Unicode 16 added, which the `regex` crate knows.
const SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Carian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dogra",
    "Duployan",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Inherited",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kharoshthi",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Medefaidrin",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nandinagari",
    "Newa",
    "Nko",
    "Nushu",
    "Ogham",
    "Oriya",
    "Osage",
    "Osmanya",
    "Palmyrene",
    "Phoenician",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "Sinhala",
    "Sogdian",
    "Soyombo",
    "Sundanese",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Yezidi",
    "Yi",
];

/// Go's `canonicalName`: drops `_`, `-` and spaces, upper-cases the first ASCII letter and
/// lower-cases the others.
fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '_' | '-' | ' ' => {}
            c if out.is_empty() => out.push(c.to_ascii_uppercase()),
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// The set a Go Unicode class name stands for (`Any`, `Assigned`, `ASCII`, a category, a
/// script or a category's long name), or `None` where Go knows no such name.
fn unicode_table(name: &str) -> Option<Group> {
    let name = canonical_name(name);
    let category = |gc: &str| Group {
        body: format!(r"\p{{gc={gc}}}"),
        negated: false,
    };
    match name.as_str() {
        "Any" => return Some(Group::from_ranges(&[(0, 0x10FFFF)], false)),
        "Assigned" => {
            return Some(Group {
                negated: true,
                ..category("Cn")
            });
        }
        "Ascii" => return Some(Group::from_ranges(&[(0, 0x7F)], false)),
        "Lc" => return Some(category("LC")),
        _ => {}
    }
    if CATEGORIES.contains(&name.as_str()) {
        return Some(category(&name));
    }
    if SCRIPTS.contains(&name.as_str()) {
        return Some(Group {
            body: format!(r"\p{{sc={name}}}"),
            negated: false,
        });
    }
    CATEGORY_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, gc)| category(gc))
}

/// `\p…`/`\P…` at the start of `s` (`at` is its offset in the pattern): the group and the
/// length read; `None` when `s` does not start with one.
fn unicode_group(s: &str, at: usize) -> Result<Option<(Group, usize)>, GoRegexError> {
    let negated = match s.as_bytes().get(..2) {
        Some(b"\\p") => false,
        Some(b"\\P") => true,
        _ => return Ok(None),
    };
    let (name, len) = match s[2..].chars().next() {
        Some('{') => {
            let Some(end) = s.find('}') else {
                return Err(refuse(at, INVALID_RANGE, s));
            };
            (&s[3..end], end + 1)
        }
        Some(c) => (&s[2..2 + c.len_utf8()], 2 + c.len_utf8()),
        None => ("", 2),
    };
    let (name, flip) = match name.strip_prefix('^') {
        Some(n) => (n, true),
        None => (name, false),
    };
    let Some(mut group) = unicode_table(name) else {
        return Err(refuse(at, INVALID_RANGE, &s[..len]));
    };
    group.negated ^= negated ^ flip;
    Ok(Some((group, len)))
}

/// `\d \D \s \S \w \W` at the start of `s`.
fn perl_group(s: &str) -> Option<Group> {
    let (ranges, negated) = match s.as_bytes().get(..2)? {
        b"\\d" => (DIGIT, false),
        b"\\D" => (DIGIT, true),
        b"\\s" => (PERL_SPACE, false),
        b"\\S" => (PERL_SPACE, true),
        b"\\w" => (WORD, false),
        b"\\W" => (WORD, true),
        _ => return None,
    };
    Some(Group::from_ranges(ranges, negated))
}

/// A Unicode or Perl class escape outside brackets, written as a class.
pub(super) fn top_level_group(
    s: &str,
    at: usize,
    flags: Flags,
) -> Result<Option<(String, usize)>, GoRegexError> {
    let found = match unicode_group(s, at)? {
        Some(g) => Some(g),
        None => perl_group(s).map(|g| (g, 2)),
    };
    Ok(found.map(|(group, len)| {
        let mut out = String::new();
        let text = if group.negated { "[^" } else { "[" };
        out.push_str(text);
        out.push_str(&group.body);
        out.push(']');
        (with_fold(out, flags), len)
    }))
}

/// A bracketed class starting at `s` (`at` is its offset in the pattern), as Go's
/// `parseClass` reads it: the class for the `regex` crate and the length read.
pub(super) fn parse_class(
    s: &str,
    at: usize,
    flags: Flags,
) -> Result<(String, usize), GoRegexError> {
    let mut i = 1;
    let negated = s[i..].starts_with('^');
    if negated {
        i += 1;
    }
    let mut items = String::new();
    let mut first = true;
    loop {
        let t = &s[i..];
        if t.starts_with(']') && !first {
            break;
        }
        first = false;
        if let Some(end) = t.strip_prefix("[:").and_then(|r| r.find(":]")) {
            let name = &t[..end + 4];
            let inner = &name[2..name.len() - 2];
            let (inner, neg) = match inner.strip_prefix('^') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            let Some((_, ranges)) = POSIX.iter().find(|(n, _)| *n == inner) else {
                return Err(refuse(at + i, INVALID_RANGE, name));
            };
            Group::from_ranges(ranges, neg).push_item(&mut items);
            i += name.len();
            continue;
        }
        if let Some((group, len)) = unicode_group(t, at + i)? {
            group.push_item(&mut items);
            i += len;
            continue;
        }
        if let Some(group) = perl_group(t) {
            group.push_item(&mut items);
            i += 2;
            continue;
        }
        let range_at = i;
        let (lo, len) = class_char(t, at + i, s)?;
        i += len;
        let mut hi = lo;
        let t = &s[i..];
        if t.len() >= 2 && t.starts_with('-') && !t[1..].starts_with(']') {
            let (h, len) = class_char(&t[1..], at + i + 1, s)?;
            i += 1 + len;
            if h < lo {
                return Err(refuse(at + range_at, INVALID_RANGE, &s[range_at..i]));
            }
            hi = h;
        }
        push_range(&mut items, lo, hi);
    }
    i += 1;
    let text = match (items.is_empty(), negated) {
        (true, false) => super::NEVER.to_owned(),
        (true, true) => r"[\x{0}-\x{10FFFF}]".to_owned(),
        (false, neg) => format!("[{}{items}]", if neg { "^" } else { "" }),
    };
    Ok((with_fold(text, flags), i))
}

/// One class character (a literal or an escape) at the start of `t`; `class` is the whole
/// class text, for the missing-bracket error.
fn class_char(t: &str, at: usize, class: &str) -> Result<(u32, usize), GoRegexError> {
    match t.chars().next() {
        None => Err(refuse(at, "missing closing ]", class)),
        Some('\\') => parse_escape(t, at),
        Some(c) => Ok((u32::from(c), c.len_utf8())),
    }
}

/// Go's `parseEscape`: a backslash escape standing for one code point (which may be a
/// surrogate from `\x{D800}`), and its length.
pub(super) fn parse_escape(s: &str, at: usize) -> Result<(u32, usize), GoRegexError> {
    let mut chars = s[1..].chars();
    let Some(c) = chars.next() else {
        return Err(refuse(at, "trailing backslash at end of expression", ""));
    };
    let mut len = 1 + c.len_utf8();
    let b = s.as_bytes();
    let octal = |i: usize| b.get(i).filter(|d| (b'0'..=b'7').contains(d)).copied();
    match c {
        '1'..='7' | '0' if c == '0' || octal(2).is_some() => {
            let mut r = u32::from(c) - u32::from('0');
            while len < 4 {
                let Some(d) = octal(len) else { break };
                r = r * 8 + u32::from(d - b'0');
                len += 1;
            }
            return Ok((r, len));
        }
        'x' => {
            if let Some(r) = hex_escape(s, &mut len) {
                return Ok((r, len));
            }
        }
        'a' => return Ok((0x7, len)),
        'f' => return Ok((0xC, len)),
        'n' => return Ok((0xA, len)),
        'r' => return Ok((0xD, len)),
        't' => return Ok((0x9, len)),
        'v' => return Ok((0xB, len)),
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => return Ok((u32::from(c), len)),
        _ => {}
    }
    Err(refuse(at, INVALID_ESCAPE, &s[..len.min(s.len())]))
}

/// `\x` followed by two hex digits or by `{hex…}` (at most U+10FFFF); `len` (2 on entry)
/// ends up past what was read, for the error text too.
fn hex_escape(s: &str, len: &mut usize) -> Option<u32> {
    let rest = &s[*len..];
    let mut chars = rest.chars();
    let first = chars.next()?;
    *len += first.len_utf8();
    if first == '{' {
        let mut r: u32 = 0;
        for (digits, c) in chars.enumerate() {
            *len += c.len_utf8();
            if c == '}' {
                return (digits > 0).then_some(r);
            }
            r = r * 16 + c.to_digit(16)?;
            if r > 0x10FFFF {
                return None;
            }
        }
        return None;
    }
    let second = chars.next();
    if let Some(c) = second {
        *len += c.len_utf8();
    }
    Some(first.to_digit(16)? * 16 + second?.to_digit(16)?)
}

/// Writes the range `lo-hi` inside a class; surrogate ends (which no text contains) are
/// trimmed, and a range of surrogates only is left out.
fn push_range(out: &mut String, lo: u32, hi: u32) {
    let lo = if (0xD800..=0xDFFF).contains(&lo) {
        0xE000
    } else {
        lo
    };
    let hi = if (0xD800..=0xDFFF).contains(&hi) {
        0xD7FF
    } else {
        hi
    };
    let (Some(l), Some(h)) = (char::from_u32(lo), char::from_u32(hi)) else {
        return;
    };
    if l > h {
        return;
    }
    push_char(out, l);
    if h != l {
        out.push('-');
        push_char(out, h);
    }
}

fn with_fold(text: String, flags: Flags) -> String {
    if flags.fold {
        format!("(?i:{text})")
    } else {
        text
    }
}
