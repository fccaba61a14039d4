//! The AWS credential chain, read only from the [`KeyContext`] (its variables and the
//! files under its `HOME`), and cached per run.
//!
//! Order: an explicit profile (the entry's `aws_profile`, else `AWS_PROFILE`) → the
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` variables → web
//! identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`) → the `default` profile →
//! ECS container credentials → EC2 instance metadata.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::sts;
use crate::keys::KeyContext;
use crate::keys::KeyError;

/// Resolved credentials. Debug shows only where they came from and the access key ID.
#[derive(Clone)]
pub(crate) struct Credentials {
    /// Access key ID (public: it is sent in the clear in every signature).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<Zeroizing<String>>,
    /// Where they came from, for messages (`profile dev`, `environment variables`, …).
    pub source: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

type Resolved = Result<Arc<Credentials>, KeyError>;

/// (profile, role).
type CacheKey = (Option<String>, Option<String>);

/// Per-run cache: (profile, role) → credentials or the error.
#[derive(Default)]
struct Cache(Mutex<HashMap<CacheKey, Resolved>>);

/// A parsed INI-style AWS file: section name → key → value.
type Sections = HashMap<String, HashMap<String, String>>;

fn parse_ini(text: &str, config_style: bool) -> Sections {
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
                match name.strip_prefix("profile ") {
                    Some(p) => p.trim(),
                    None if name == "default" => name,
                    // `[sso-session x]`, `[services x]`: not profiles.
                    None => {
                        current = None;
                        continue;
                    }
                }
            } else {
                name
            };
            current = Some(name.to_owned());
            out.entry(name.to_owned()).or_default();
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

/// The shared config and credentials files of a context.
struct Profiles {
    config: Sections,
    credentials: Sections,
    paths: String,
}

fn expand(ctx: &KeyContext, p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), ctx.home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(p),
    }
}

impl Profiles {
    fn load(ctx: &KeyContext) -> Profiles {
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
    fn get(&self, name: &str) -> Option<HashMap<String, String>> {
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
}

fn env_credentials(ctx: &KeyContext) -> Option<Credentials> {
    let id = ctx.var("AWS_ACCESS_KEY_ID")?;
    let secret = ctx.var("AWS_SECRET_ACCESS_KEY")?;
    Some(Credentials {
        access_key_id: id.to_owned(),
        secret_access_key: Zeroizing::new(secret.to_owned()),
        session_token: ctx
            .var("AWS_SESSION_TOKEN")
            .map(|t| Zeroizing::new(t.to_owned())),
        source: "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".to_owned(),
    })
}

/// The region for STS calls: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`,
/// else the KMS key's region.
fn sts_region(ctx: &KeyContext, profile: Option<&HashMap<String, String>>, hint: &str) -> String {
    ctx.var("AWS_REGION")
        .or_else(|| ctx.var("AWS_DEFAULT_REGION"))
        .or_else(|| profile.and_then(|p| p.get("region")).map(String::as_str))
        .filter(|r| !r.is_empty())
        .unwrap_or(hint)
        .to_owned()
}

fn run_process(ctx: &KeyContext, profile: &str, command: &str) -> Result<Credentials, KeyError> {
    let source = format!("credential_process of profile `{profile}`");
    let hint = "run the profile's credential_process by hand to check it";
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env_clear()
        .envs(ctx.vars())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| KeyError::with_hint(format!("{source} could not run: {}", e.kind()), hint))?;
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(KeyError::with_hint(
            format!("{source} failed ({})", output.status),
            hint,
        ));
    }
    sts::process_credentials(&stdout, &source)
}

struct Chain<'a> {
    ctx: &'a KeyContext,
    profiles: Profiles,
    region_hint: &'a str,
}

impl Chain<'_> {
    fn profile(&self, name: &str, depth: u32) -> Result<Credentials, KeyError> {
        let hint = "check AWS_PROFILE / the entry's aws_profile and your ~/.aws files";
        if depth > 8 {
            return Err(KeyError::with_hint(
                format!("profile `{name}`: source_profile chain is too long or loops"),
                hint,
            ));
        }
        let p = self.profiles.get(name).ok_or_else(|| {
            KeyError::with_hint(
                format!("AWS profile `{name}` not found in {}", self.profiles.paths),
                hint,
            )
        })?;
        let source = format!("profile `{name}`");
        let static_creds = || -> Option<Credentials> {
            let id = p.get("aws_access_key_id").filter(|v| !v.is_empty())?;
            let secret = p.get("aws_secret_access_key").filter(|v| !v.is_empty())?;
            Some(Credentials {
                access_key_id: id.clone(),
                secret_access_key: Zeroizing::new(secret.clone()),
                session_token: p
                    .get("aws_session_token")
                    .filter(|v| !v.is_empty())
                    .map(|t| Zeroizing::new(t.clone())),
                source: source.clone(),
            })
        };
        let region = sts_region(self.ctx, Some(&p), self.region_hint);
        if let Some(role_arn) = p.get("role_arn").filter(|v| !v.is_empty()) {
            let session = p
                .get("role_session_name")
                .cloned()
                .unwrap_or_else(sts::session_name);
            if let Some(file) = p.get("web_identity_token_file") {
                let file = expand(self.ctx, file);
                return sts::assume_role_with_web_identity(
                    self.ctx,
                    role_arn,
                    &file.to_string_lossy(),
                    &session,
                    &region,
                );
            }
            let base = if let Some(src) = p.get("source_profile") {
                if src == name {
                    static_creds().ok_or_else(|| {
                        KeyError::with_hint(format!("{source} has no static keys"), hint)
                    })?
                } else {
                    self.profile(src, depth + 1)?
                }
            } else if let Some(cs) = p.get("credential_source") {
                match cs.as_str() {
                    "Environment" => env_credentials(self.ctx).ok_or_else(|| {
                        KeyError::with_hint(
                            format!("{source}: credential_source Environment, but AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set"),
                            hint,
                        )
                    })?,
                    "EcsContainer" => sts::container(self.ctx).unwrap_or_else(|| {
                        Err(KeyError::new(format!("{source}: no ECS container credentials")))
                    })?,
                    "Ec2InstanceMetadata" => sts::instance_metadata(self.ctx).unwrap_or_else(|| {
                        Err(KeyError::new(format!("{source}: EC2 metadata is disabled")))
                    })?,
                    other => {
                        return Err(KeyError::with_hint(
                            format!("{source}: unknown credential_source `{other}`"),
                            "use Environment, EcsContainer or Ec2InstanceMetadata",
                        ));
                    }
                }
            } else {
                return Err(KeyError::with_hint(
                    format!(
                        "{source} has role_arn but neither source_profile, credential_source nor web_identity_token_file"
                    ),
                    hint,
                ));
            };
            let external_id = p.get("external_id").map(String::as_str);
            return sts::assume_role(self.ctx, &base, role_arn, &session, external_id, &region)
                .map(|mut c| {
                    c.source = format!("{source} (role {role_arn})");
                    c
                });
        }
        if let Some(c) = static_creds() {
            return Ok(c);
        }
        if let Some(cmd) = p.get("credential_process").filter(|v| !v.is_empty()) {
            return run_process(self.ctx, name, cmd);
        }
        if p.keys().any(|k| k.starts_with("sso_")) {
            return Err(KeyError::with_hint(
                format!("{source} uses AWS SSO, which leafseal does not support yet"),
                format!(
                    "export credentials first: eval \"$(aws configure export-credentials --profile {name} --format env)\""
                ),
            ));
        }
        Err(KeyError::with_hint(
            format!("{source} has no credentials (in {})", self.profiles.paths),
            hint,
        ))
    }

    fn default_chain(&self) -> Result<Credentials, KeyError> {
        if let Some(c) = env_credentials(self.ctx) {
            return Ok(c);
        }
        if let (Some(file), Some(role)) = (
            self.ctx.var("AWS_WEB_IDENTITY_TOKEN_FILE"),
            self.ctx.var("AWS_ROLE_ARN"),
        ) {
            let session = self
                .ctx
                .var("AWS_ROLE_SESSION_NAME")
                .map(str::to_owned)
                .unwrap_or_else(sts::session_name);
            let region = sts_region(self.ctx, None, self.region_hint);
            return sts::assume_role_with_web_identity(self.ctx, role, file, &session, &region);
        }
        if self.profiles.get("default").is_some() {
            return self.profile("default", 0);
        }
        if let Some(r) = sts::container(self.ctx) {
            return r;
        }
        if let Some(r) = sts::instance_metadata(self.ctx) {
            return r.map_err(|e| {
                KeyError::with_hint(
                    format!(
                        "no AWS credentials found (tried AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
                         web identity, the default profile in {}, ECS container credentials, \
                         then {})",
                        self.profiles.paths, e.message
                    ),
                    "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`",
                )
            });
        }
        Err(KeyError::with_hint(
            format!(
                "no AWS credentials found (tried AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, web \
                 identity, the default profile in {}, ECS container credentials; EC2 metadata \
                 is disabled)",
                self.profiles.paths
            ),
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`",
        ))
    }
}

/// The credentials for a key: its `aws_profile` (or the chain), then its `role` assumed
/// with session name `sops@<hostname>`. Cached per run, errors included.
pub(crate) fn resolve(
    ctx: &KeyContext,
    aws_profile: Option<&str>,
    role: Option<&str>,
    region: &str,
) -> Resolved {
    let profile = aws_profile
        .filter(|p| !p.is_empty())
        .or_else(|| ctx.var("AWS_PROFILE"))
        .map(str::to_owned);
    let cache = ctx.cached(Cache::default);
    let key = (profile.clone(), role.map(str::to_owned));
    if let Ok(map) = cache.0.lock()
        && let Some(hit) = map.get(&key)
    {
        return hit.clone();
    }
    let result = match role {
        Some(role_arn) => resolve(ctx, profile.as_deref(), None, region).and_then(|base| {
            sts::assume_role(ctx, &base, role_arn, &sts::session_name(), None, region).map(Arc::new)
        }),
        None => {
            let chain = Chain {
                ctx,
                profiles: Profiles::load(ctx),
                region_hint: region,
            };
            match &profile {
                Some(p) => chain.profile(p, 0),
                None => chain.default_chain(),
            }
            .map(Arc::new)
        }
    };
    if let Ok(mut map) = cache.0.lock() {
        map.insert(key, result.clone());
    }
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ini_files() {
        let cfg = "[default]\nregion = eu-west-1\n[profile dev]\nrole_arn = arn:aws:iam::1:role/r # c\n\
                   s3 =\n  max_concurrent_requests = 2\nsource_profile=base\n[sso-session x]\nsso_region=y\n";
        let s = parse_ini(cfg, true);
        assert_eq!(s["default"]["region"], "eu-west-1");
        assert_eq!(s["dev"]["role_arn"], "arn:aws:iam::1:role/r");
        assert_eq!(s["dev"]["source_profile"], "base");
        assert!(!s.contains_key("sso-session x") && !s.contains_key("x"));
        let creds = parse_ini(
            "; c\n[base]\naws_access_key_id=A\nAWS_SECRET_ACCESS_KEY = B\n",
            false,
        );
        assert_eq!(creds["base"]["aws_secret_access_key"], "B");
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials {
            access_key_id: "AKIDPUBLIC".into(),
            secret_access_key: Zeroizing::new("SECRETVALUE".into()),
            session_token: Some(Zeroizing::new("TOKENVALUE".into())),
            source: "test".into(),
        };
        let d = format!("{c:?}");
        assert!(
            d.contains("AKIDPUBLIC") && !d.contains("SECRETVALUE") && !d.contains("TOKENVALUE")
        );
    }
}
