//! The shared config and credentials files (`~/.aws/config`, `~/.aws/credentials`, or
//! `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`), read from the [`KeyContext`].

use std::collections::HashMap;
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::keys::KeyContext;

/// One section: key (lower case) → value.
pub(crate) type Section = HashMap<String, String>;

/// A parsed INI-style AWS file: section name → settings. In the config file, profiles
/// are named without their `profile ` prefix and `[sso-session x]` sections are kept as
/// `sso-session x`; other sections (`[services x]`) are left out.
pub(super) type Sections = HashMap<String, Section>;

pub(super) fn parse_ini(text: &str, config_style: bool) -> Sections {
    let mut out: Sections = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        // Indented lines continue a nested value (`s3 =` blocks): ignored.
        if line.starts_with([' ', '\t']) && !line.trim().is_empty() && current.is_some() {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            let name = if config_style {
                if let Some(p) = name.strip_prefix("profile ") {
                    p.trim().to_owned()
                } else if name == "default" {
                    name.to_owned()
                } else if let Some(s) = name.strip_prefix("sso-session ") {
                    format!("sso-session {}", s.trim())
                } else {
                    // `[services x]`: not a profile.
                    current = None;
                    continue;
                }
            } else {
                name.to_owned()
            };
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let (Some(section), Some((k, v))) = (&current, line.split_once('=')) else {
            continue;
        };
        let v = v.trim();
        // Inline comments need whitespace before `#`/`;`.
        let v = v.split(" #").next().unwrap_or(v);
        let v = v.split(" ;").next().unwrap_or(v);
        if let Some(s) = out.get_mut(section) {
            s.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    out
}

/// `~/x` under the context's HOME.
pub(crate) fn expand(ctx: &KeyContext, p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), ctx.home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(p),
    }
}

/// The shared config and credentials files of a context.
pub(crate) struct Profiles {
    config: Sections,
    credentials: Sections,
    /// Both paths, for messages.
    pub(crate) paths: String,
}

impl Profiles {
    /// Reads both files (a missing or unreadable file counts as empty).
    pub(crate) fn load(ctx: &KeyContext) -> Profiles {
        let path = |var: &str, default: &str| match ctx.var(var) {
            Some(p) => Some(expand(ctx, p)),
            None => ctx.home().map(|h| h.join(".aws").join(default)),
        };
        let read = |p: &Option<PathBuf>| {
            p.as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(Zeroizing::new)
        };
        let cfg_path = path("AWS_CONFIG_FILE", "config");
        let cred_path = path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        let config = read(&cfg_path)
            .map(|t| parse_ini(&t, true))
            .unwrap_or_default();
        let credentials = read(&cred_path)
            .map(|t| parse_ini(&t, false))
            .unwrap_or_default();
        let show = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(no HOME)".to_owned())
        };
        Profiles {
            config,
            credentials,
            paths: format!("{} and {}", show(&cred_path), show(&cfg_path)),
        }
    }

    /// A profile's settings: the credentials file wins over the config file.
    pub(crate) fn get(&self, name: &str) -> Option<Section> {
        let a = self.config.get(name);
        let b = self.credentials.get(name);
        if a.is_none() && b.is_none() {
            return None;
        }
        let mut m = a.cloned().unwrap_or_default();
        if let Some(b) = b {
            m.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Some(m)
    }

    /// An `[sso-session NAME]` section of the config file.
    pub(crate) fn sso_session(&self, name: &str) -> Option<&Section> {
        self.config.get(&format!("sso-session {name}"))
    }
}

/// The profile the SDK would use for settings: `explicit`, else `AWS_PROFILE`, else
/// `default`.
pub(crate) fn active_profile<'a>(ctx: &'a KeyContext, explicit: Option<&'a str>) -> &'a str {
    explicit
        .filter(|p| !p.is_empty())
        .or_else(|| ctx.var("AWS_PROFILE"))
        .unwrap_or("default")
}

/// A setting of the active profile (see [`active_profile`]).
pub(crate) fn setting(ctx: &KeyContext, explicit: Option<&str>, name: &str) -> Option<String> {
    Profiles::load(ctx)
        .get(active_profile(ctx, explicit))
        .and_then(|p| p.get(name).cloned())
        .filter(|v| !v.is_empty())
}

/// Whether a flag value (`AWS_USE_FIPS_ENDPOINT`, `use_fips_endpoint`) is true.
pub(crate) fn is_true(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ini_files() {
        let cfg = "[default]\nregion = eu-west-1\n[profile dev]\nrole_arn = arn:aws:iam::1:role/r # c\n\
                   s3 =\n  max_concurrent_requests = 2\nsource_profile=base\n[sso-session x]\nsso_region=y\n\
                   [services s]\nkms =\n  endpoint_url = http://x\n";
        let s = parse_ini(cfg, true);
        assert_eq!(s["default"]["region"], "eu-west-1");
        assert_eq!(s["dev"]["role_arn"], "arn:aws:iam::1:role/r");
        assert_eq!(s["dev"]["source_profile"], "base");
        assert_eq!(s["sso-session x"]["sso_region"], "y");
        assert!(!s.contains_key("x") && !s.contains_key("s") && !s.contains_key("services s"));
        let creds = parse_ini(
            "; c\n[base]\naws_access_key_id=A\nAWS_SECRET_ACCESS_KEY = B\n",
            false,
        );
        assert_eq!(creds["base"]["aws_secret_access_key"], "B");
    }
}
