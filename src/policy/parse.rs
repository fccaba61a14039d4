//! Reading `.sops.yaml` text into rules, store settings and destinations: the checks
//! and messages of each field (the file's model is in the parent module).

use super::*;

pub(super) fn parse_destinations(
    cx: &Ctx<'_>,
    root: &Map,
    warnings: &mut Vec<String>,
) -> Result<Vec<destination::DestinationRule>, PolicyError> {
    let mut out = Vec::new();
    // The destination rules' regexes have a budget of their own, as the creation rules'.
    let mut charged = 0usize;
    match root.get("destination_rules") {
        None | Some(Value::Null) => {}
        Some(Value::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let SeqItem::Value(v) = item {
                    let at = format!("destination_rules[{i}]");
                    let rule = destination::parse(cx, cx.map(v, &at)?, &at, warnings)?;
                    let cost = rule.path_regex.as_ref().map_or(0, GoRegex::compiled_cost);
                    let cost = cost.saturating_add(rule.recreation.as_ref().map_or(0, regex_cost));
                    charged = charged.saturating_add(cost);
                    if charged > POLICY_BUDGET {
                        return Err(cx.invalid(at, over_budget("destination", i)));
                    }
                    out.push(rule);
                }
            }
        }
        Some(_) => return Err(cx.invalid("destination_rules", "expected a list of rules")),
    }
    Ok(out)
}

pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    /// The policy's text, for the written form of a scalar ([`Ctx::string`]).
    pub(super) text: &'a [u8],
}

/// The field name at the end of a place such as `creation_rules[0].age[1]` (`age`).
fn field_of(at: &str) -> &str {
    let last = at.rsplit('.').next().unwrap_or(at);
    last.split('[').next().unwrap_or(last)
}

/// Whether `field` is written in `text` only with `canonical` as its plain scalar: at
/// least one line `field: canonical`, and no line giving it another unquoted number or
/// boolean form (`010`, `0x10`, `+5`, `True`, …), which sops keeps as written but the
/// YAML reader here turns into the same value.
fn written_as(text: &[u8], field: &str, canonical: &str) -> bool {
    let text = String::from_utf8_lossy(text);
    let (mut seen, mut other) = (false, false);
    for line in text.lines() {
        let l = line.trim_start();
        let l = l.strip_prefix("- ").map_or(l, str::trim_start);
        let Some(rest) = l.strip_prefix(field).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        let token = rest.split(" #").next().unwrap_or("").trim();
        if token == canonical {
            seen = true;
        } else if token.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c))
            || ["true", "false", "yes", "no", "on", "off", "y", "n"]
                .contains(&token.to_ascii_lowercase().as_str())
        {
            other = true;
        }
    }
    seen && !other
}

impl Ctx<'_> {
    pub(super) fn invalid(&self, at: impl Into<String>, why: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            path: self.path.to_owned(),
            at: at.into(),
            why: why.into(),
        }
    }

    pub(super) fn string(&self, v: &Value, at: &str) -> Result<String, PolicyError> {
        match v {
            Value::Str(s) => Ok(s.as_str().to_owned()),
            // sops keeps an unquoted scalar's text as written (`010`, `0x10`, `True`);
            // the YAML reader here has only its value (8, 16, true), so a text that
            // reads as a number or a boolean must be quoted rather than guessed at.
            Value::Int(i) if written_as(self.text, field_of(at), &i.to_string()) => {
                Ok(i.to_string())
            }
            Value::Bool(b) if written_as(self.text, field_of(at), &b.to_string()) => {
                Ok(b.to_string())
            }
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => Err(self.invalid(
                at,
                format!(
                    "expected a string, found a {}: write it in quotes (sops reads the text \
                     as written, e.g. `010` or `0x10`, where a YAML number is another text)",
                    v.kind_name()
                ),
            )),
            other => Err(self.invalid(
                at,
                format!("expected a string, found a {}", other.kind_name()),
            )),
        }
    }

    /// A comma-separated string or a list of strings.
    pub(super) fn string_list(&self, v: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Str(s) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()),
            Value::Seq(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    if let SeqItem::Value(v) = item {
                        out.push(self.string(v, &format!("{at}[{i}]"))?.trim().to_owned());
                    }
                }
                Ok(out)
            }
            other => Err(self.invalid(
                at,
                format!("expected a string or a list, found a {}", other.kind_name()),
            )),
        }
    }

    pub(super) fn key(
        &self,
        kind: KeyKind,
        s: &str,
        at: &str,
    ) -> Result<Arc<dyn MasterKey>, PolicyError> {
        keys::key_from_str(kind, s).map_err(|e| self.invalid(at, e.to_string()))
    }

    /// A whole number; null is 0 (unset). A quoted number is refused, as go-yaml refuses
    /// a string for sops's int field.
    pub(super) fn usize(&self, v: &Value, at: &str) -> Result<usize, PolicyError> {
        match v {
            Value::Null => Ok(0),
            Value::Int(i) if *i >= 0 && *i <= 255 => Ok(*i as usize),
            _ => Err(self.invalid(at, "expected a whole number 0..255")),
        }
    }

    /// A boolean as go-yaml v3 decodes one into sops's bool fields: `true`/`false`, the
    /// YAML 1.1 forms (`yes`/`no`, `on`/`off`, `y`/`n`, in lower, title or upper case),
    /// and null for false (unset).
    pub(super) fn bool(&self, v: &Value, at: &str) -> Result<bool, PolicyError> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Null => Ok(false),
            Value::Str(s) => match s.as_str() {
                "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Ok(true),
                "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Ok(false),
                _ => Err(self.invalid(at, "expected true or false")),
            },
            _ => Err(self.invalid(at, "expected true or false")),
        }
    }

    pub(super) fn map<'v>(&self, v: &'v Value, at: &str) -> Result<&'v Map, PolicyError> {
        v.as_map().ok_or_else(|| {
            self.invalid(at, format!("expected a mapping, found a {}", v.kind_name()))
        })
    }
}

/// Top-level key fields of a rule, in sops's order within a group.
const FLAT_KEY_FIELDS: [(&str, KeyKind); 7] = [
    ("age", KeyKind::Age),
    ("pgp", KeyKind::Pgp),
    ("kms", KeyKind::Kms),
    ("gcp_kms", KeyKind::GcpKms),
    ("hckms", KeyKind::Hckms),
    ("azure_keyvault", KeyKind::AzureKv),
    ("hc_vault_transit_uri", KeyKind::HcVault),
];

const RULE_FIELDS: [&str; 6] = [
    "path_regex",
    "key_groups",
    "shamir_threshold",
    "mac_only_encrypted",
    "aws_profile",
    "filename_regex",
];

fn push_unique(group: &mut Vec<Arc<dyn MasterKey>>, key: Arc<dyn MasterKey>) {
    if !group
        .iter()
        .any(|k| k.kind() == key.kind() && k.id() == key.id())
    {
        group.push(key);
    }
}

fn parse_group(
    cx: &Ctx<'_>,
    g: &Map,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Arc<dyn MasterKey>>, PolicyError> {
    let mut group = Vec::new();
    if let Some(merge) = g.get("merge") {
        let Value::Seq(items) = merge else {
            return Err(cx.invalid(format!("{at}.merge"), "expected a list of key groups"));
        };
        for (i, item) in items.iter().enumerate() {
            if let SeqItem::Value(v) = item {
                let sub_at = format!("{at}.merge[{i}]");
                for k in parse_group(cx, cx.map(v, &sub_at)?, &sub_at, warnings)? {
                    push_unique(&mut group, k);
                }
            }
        }
    }
    let fields = [
        ("age", KeyKind::Age),
        ("pgp", KeyKind::Pgp),
        ("kms", KeyKind::Kms),
        ("gcp_kms", KeyKind::GcpKms),
        ("hckms", KeyKind::Hckms),
        ("azure_keyvault", KeyKind::AzureKv),
        ("hc_vault", KeyKind::HcVault),
    ];
    for (name, kind) in fields {
        let Some(v) = g.get(name) else { continue };
        let at = format!("{at}.{name}");
        let Value::Seq(items) = v else {
            if matches!(v, Value::Null) {
                continue;
            }
            return Err(cx.invalid(at, "expected a list"));
        };
        for (i, item) in items.iter().enumerate() {
            let SeqItem::Value(v) = item else { continue };
            let item_at = format!("{at}[{i}]");
            let key = match v {
                Value::Map(m) => keys::key_from_policy_entry(kind, &metadata::fields_from_map(m))
                    .map_err(|e| cx.invalid(&item_at, e.to_string()))?,
                other => cx.key(kind, cx.string(other, &item_at)?.trim(), &item_at)?,
            };
            push_unique(&mut group, key);
        }
    }
    for (k, _) in g.entries() {
        if k != "merge" && !fields.iter().any(|(n, _)| *n == k) {
            warnings.push(format!("unknown field `{k}` in {at} ignored"));
        }
    }
    Ok(group)
}

/// What reading a policy without its rules checks of each rule: the value types sops's
/// YAML decoding itself refuses (a rule that is not a map, `shamir_threshold` given as
/// text, `mac_only_encrypted` that is not a boolean, `key_groups` that is not a list).
/// Patterns and keys are left to the commands that use a rule, as sops leaves them.
pub(super) fn check_rule_types(cx: &Ctx<'_>, v: &Value, at: &str) -> Result<(), PolicyError> {
    if matches!(v, Value::Null) {
        return Ok(());
    }
    let m = cx.map(v, at)?;
    if let Some(t @ Value::Str(_)) = m.get("shamir_threshold") {
        cx.usize(t, &format!("{at}.shamir_threshold"))?;
    }
    if let Some(b) = m.get("mac_only_encrypted") {
        cx.bool(b, &format!("{at}.mac_only_encrypted"))?;
    }
    match m.get("key_groups") {
        None | Some(Value::Null | Value::Seq(_)) => Ok(()),
        Some(_) => Err(cx.invalid(format!("{at}.key_groups"), "expected a list of key groups")),
    }
}

pub(super) fn parse_rule(
    cx: &Ctx<'_>,
    m: &Map,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<CreationRule, PolicyError> {
    let path_regex = match m.get("path_regex") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let s = cx.string(v, &format!("{at}.path_regex"))?;
            Some(GoRegex::new(&s).map_err(|e| {
                cx.invalid(
                    format!("{at}.path_regex"),
                    format!("invalid regular expression: {e}"),
                )
            })?)
        }
    };
    let mut key_groups = Vec::new();
    // As sops: key_groups is used when it holds a group; empty or null, the flat key
    // fields are. A null item (`- ~`) is no group: go-yaml leaves it out of the list.
    let is_group = |i: &SeqItem| matches!(i, SeqItem::Value(v) if !matches!(v, Value::Null));
    let groups_given = match m.get("key_groups") {
        None | Some(Value::Null) => None,
        Some(Value::Seq(items)) if !items.iter().any(is_group) => None,
        Some(v) => Some(v),
    };
    if let Some(v) = groups_given {
        let Value::Seq(items) = v else {
            return Err(cx.invalid(format!("{at}.key_groups"), "expected a list of key groups"));
        };
        for (i, item) in items.iter().enumerate() {
            if let SeqItem::Value(v) = item {
                let gat = format!("{at}.key_groups[{i}]");
                if matches!(v, Value::Null) {
                    continue;
                }
                key_groups.push(parse_group(cx, cx.map(v, &gat)?, &gat, warnings)?);
            }
        }
    } else {
        let mut group = Vec::new();
        let aws_profile = match m.get("aws_profile") {
            None | Some(Value::Null) => None,
            Some(v) => Some(cx.string(v, &format!("{at}.aws_profile"))?),
        };
        for (name, kind) in FLAT_KEY_FIELDS {
            let Some(v) = m.get(name) else { continue };
            let fat = format!("{at}.{name}");
            for (i, s) in cx.string_list(v, &fat)?.iter().enumerate() {
                let kat = format!("{fat}[{i}]");
                let key = match (kind, &aws_profile) {
                    #[cfg(feature = "aws")]
                    (KeyKind::Kms, Some(p)) => keys::awskms::KmsKey::parse(s)
                        .map(|k| Arc::new(k.with_profile(Some(p.clone()))) as Arc<dyn MasterKey>)
                        .map_err(|e| cx.invalid(&kat, e.to_string()))?,
                    _ => cx.key(kind, s, &kat)?,
                };
                push_unique(&mut group, key);
            }
        }
        if !group.is_empty() {
            key_groups.push(group);
        }
    }
    let mut selector = None;
    for field in Selector::FIELDS {
        if let Some(v) = m.get(field) {
            let fat = format!("{at}.{field}");
            // sops reads these fields into strings and counts only non-empty ones: an
            // empty (or null) setting is no setting, never an empty suffix or pattern
            // (an empty suffix would match every key and leave every value in clear).
            if matches!(v, Value::Null) {
                continue;
            }
            let s = cx.string(v, &fat)?;
            if s.is_empty() {
                continue;
            }
            if selector.is_some() {
                return Err(cx.invalid(at, "more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex, encrypted_comment_regex is set; keep one"));
            }
            selector = Selector::from_field(field, &s)
                .map_err(|e| cx.invalid(&fat, format!("invalid regular expression: {e}")))?;
        }
    }
    let shamir_threshold = match m.get("shamir_threshold") {
        Some(v) => cx.usize(v, &format!("{at}.shamir_threshold"))?,
        None => 0,
    };
    let mac_only_encrypted = match m.get("mac_only_encrypted") {
        Some(v) => cx.bool(v, &format!("{at}.mac_only_encrypted"))?,
        None => false,
    };
    for (k, _) in m.entries() {
        let known = RULE_FIELDS.contains(&k)
            || Selector::FIELDS.contains(&k)
            || FLAT_KEY_FIELDS.iter().any(|(n, _)| *n == k);
        if !known {
            warnings.push(format!("unknown field `{k}` in {at} ignored"));
        }
    }
    if key_groups.len() > 1 && shamir_threshold > key_groups.len() {
        return Err(cx.invalid(
            format!("{at}.shamir_threshold"),
            format!(
                "threshold {shamir_threshold} is larger than the number of key groups ({})",
                key_groups.len()
            ),
        ));
    }
    Ok(CreationRule {
        path_regex,
        key_groups,
        shamir_threshold,
        selector,
        mac_only_encrypted,
    })
}

pub(super) fn parse_stores(cx: &Ctx<'_>, m: &Map) -> Result<StoreSettings, PolicyError> {
    let mut s = StoreSettings::default();
    // sops decodes each store's settings into a struct: null is fine, a scalar is not.
    for name in ["dotenv", "ini"] {
        if let Some(v) = m.get(name)
            && !matches!(v, Value::Null)
        {
            cx.map(v, &format!("stores.{name}"))?;
        }
    }
    let indent = |name: &str| -> Result<Option<i64>, PolicyError> {
        let Some(v) = m.get(name) else {
            return Ok(None);
        };
        if matches!(v, Value::Null) {
            return Ok(None);
        }
        let store = cx.map(v, &format!("stores.{name}"))?;
        match store.get("indent") {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(_) => Err(cx.invalid(format!("stores.{name}.indent"), "expected a whole number")),
        }
    };
    // sops 3.11 takes a YAML indent of 0 as not set (4 spaces), not as go-yaml's 2.
    s.yaml_indent = indent("yaml")?.filter(|&i| i != 0);
    s.json_indent = indent("json")?;
    s.json_binary_indent = indent("json_binary")?;
    if let Some(i) = s.yaml_indent
        && i < 0
    {
        return Err(cx.invalid("stores.yaml.indent", "must not be negative"));
    }
    for (name, v) in [
        ("json", s.json_indent),
        ("json_binary", s.json_binary_indent),
    ] {
        if v.is_some_and(|i| i < -1) {
            return Err(cx.invalid(
                format!("stores.{name}.indent"),
                "must be -1 (TAB), 0 or a number of spaces",
            ));
        }
        if v.is_some_and(|i| i > crate::format::json::emit::MAX_INDENT) {
            return Err(cx.invalid(
                format!("stores.{name}.indent"),
                format!(
                    "at most {} spaces (a limit of leafseal's, against output that grows with \
                     indentation times nesting depth; sops takes more): use a smaller number, \
                     or -1 for a TAB",
                    crate::format::json::emit::MAX_INDENT
                ),
            ));
        }
    }
    Ok(s)
}
