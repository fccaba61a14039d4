//! The AWS credential chain, read only from the [`KeyContext`] (its variables and the
//! files under its `HOME`), and cached per run. The order is the Go SDK's (which sops
//! uses):
//!
//! 1. a named profile (the entry's `aws_profile`, else `AWS_PROFILE`) when one is set;
//! 2. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 3. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (STS
//!    `AssumeRoleWithWebIdentity`);
//! 4. the `default` profile;
//!
//! where a profile gives, in this order: a `source_profile` chain (any depth, loops
//! refused), static keys, `credential_source`, `web_identity_token_file`, SSO
//! ([`sso`]), `credential_process`; with none of these the chain goes on to
//! 5. ECS / EKS Pod Identity container credentials, then 6. EC2 instance metadata (IMDSv2).
//! A profile's `role_arn` is then assumed with the credentials found.
//!
//! When nothing is found, the error lists every source tried with its reason.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::sts;
use crate::keys::KeyContext;
use crate::keys::KeyError;

pub(crate) mod profiles;
mod sso;

use profiles::Profiles;
use profiles::Section;
use profiles::expand;

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

const ENV_SOURCE: &str = "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY";

fn env_credentials(ctx: &KeyContext) -> Option<Credentials> {
    let id = ctx.var("AWS_ACCESS_KEY_ID")?;
    let secret = ctx.var("AWS_SECRET_ACCESS_KEY")?;
    Some(Credentials {
        access_key_id: id.to_owned(),
        secret_access_key: Zeroizing::new(secret.to_owned()),
        session_token: ctx
            .var("AWS_SESSION_TOKEN")
            .map(|t| Zeroizing::new(t.to_owned())),
        source: ENV_SOURCE.to_owned(),
    })
}

/// Why the environment keys were not used (they are used when both are set).
fn env_reason(ctx: &KeyContext) -> &'static str {
    match (
        ctx.var("AWS_ACCESS_KEY_ID").is_some(),
        ctx.var("AWS_SECRET_ACCESS_KEY").is_some(),
    ) {
        (true, false) => "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
        (false, true) => "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
        _ => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
    }
}

/// The region for STS calls: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`,
/// else the KMS key's region.
fn sts_region(ctx: &KeyContext, profile: Option<&Section>, hint: &str) -> String {
    ctx.var("AWS_REGION")
        .or_else(|| ctx.var("AWS_DEFAULT_REGION"))
        .or_else(|| profile.and_then(|p| p.get("region")).map(String::as_str))
        .filter(|r| !r.is_empty())
        .unwrap_or(hint)
        .to_owned()
}

/// The most a `credential_process` may print (its JSON is about a kilobyte).
const PROCESS_OUTPUT_MAX: usize = 1024 * 1024;

fn run_process(ctx: &KeyContext, profile: &str, command: &str) -> Result<Credentials, KeyError> {
    let source = format!("credential_process of profile `{profile}`");
    let hint = "run the profile's credential_process by hand to check it";
    let mut child = crate::process::command_for_helper("sh")
        .arg("-c")
        .arg(command)
        .env_clear()
        .envs(ctx.vars())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| KeyError::with_hint(format!("{source} could not run: {}", e.kind()), hint))?;
    let limit = crate::keys::deadline::helper_timeout(ctx);
    let output = crate::process::capture::capture_within(
        &mut child,
        &[],
        PROCESS_OUTPUT_MAX,
        Some(limit),
    )
    .map_err(|e| KeyError::with_hint(format!("{source} could not run: {}", e.kind()), hint))?;
    if output.deadline_passed {
        return Err(KeyError::with_hint(
            crate::keys::deadline::program_deadline_message(&source),
            hint,
        ));
    }
    if output.timed_out {
        return Err(KeyError::with_hint(
            crate::keys::deadline::helper_timeout_message(&source, limit),
            hint,
        ));
    }
    if output.too_long {
        return Err(KeyError::with_hint(
            format!(
                "{source} printed more than {PROCESS_OUTPUT_MAX} bytes and was stopped; it \
                 should print one small JSON object of credentials"
            ),
            hint,
        ));
    }
    let stdout = output.stdout;
    if !output.status.success() {
        return Err(KeyError::with_hint(
            format!("{source} failed ({})", output.status),
            hint,
        ));
    }
    sts::process_credentials(&stdout, &source)
}

/// The sources a chain tried before the one that answered, `source: reason` each.
#[derive(Default)]
struct Trail(Vec<String>);

impl Trail {
    fn note(&mut self, source: &str, reason: impl AsRef<str>) {
        let reason = reason.as_ref();
        // The source's own errors already name it (`EC2 instance metadata (IMDSv2): …`).
        if reason.starts_with(source) {
            self.0.push(reason.to_owned());
        } else {
            self.0.push(format!("{source}: {reason}"));
        }
    }

    /// `err` with the sources tried before it listed in front.
    fn fail(&self, err: KeyError) -> KeyError {
        if self.0.is_empty() {
            return err;
        }
        KeyError {
            message: format!("{} (tried before: {})", err.message, self.0.join("; ")),
            hint: err.hint,
        }
    }
}

/// The container then instance-metadata fallbacks of a profile without credentials.
fn machine_credentials(ctx: &KeyContext, trail: &mut Trail) -> Result<Credentials, KeyError> {
    match sts::container(ctx) {
        Some(r) => return r.map_err(|e| trail.fail(e)),
        None => trail.note(
            "ECS/EKS container credentials",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set",
        ),
    }
    match sts::instance_metadata(ctx) {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => {
            trail.note("EC2 instance metadata (IMDSv2)", &e.message);
            Err(no_credentials(trail))
        }
        None => {
            trail.note(
                "EC2 instance metadata (IMDSv2)",
                "disabled by AWS_EC2_METADATA_DISABLED=true",
            );
            Err(no_credentials(trail))
        }
    }
}

fn no_credentials(trail: &Trail) -> KeyError {
    KeyError::with_hint(
        format!(
            "no AWS credentials found. Tried, in order: {}",
            trail.0.join("; ")
        ),
        "set AWS_PROFILE (or --aws-profile) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run \
         `aws configure` or `aws sso login`, or in CI set AWS_ROLE_ARN and \
         AWS_WEB_IDENTITY_TOKEN_FILE; `leafseal doctor` shows which source each key would use",
    )
}

struct Chain<'a> {
    ctx: &'a KeyContext,
    profiles: Profiles,
    region_hint: &'a str,
}

impl Chain<'_> {
    /// Credentials from profile `name`, following `source_profile` links (`seen` holds
    /// the profiles already on the path, to refuse loops).
    fn profile(
        &self,
        name: &str,
        seen: &mut Vec<String>,
        trail: &mut Trail,
    ) -> Result<Credentials, KeyError> {
        let hint = "check AWS_PROFILE / the entry's aws_profile and your ~/.aws files";
        // The first name may come from a file's metadata (`aws_profile`).
        let shown = crate::redact::display_id(name);
        if seen.iter().any(|s| s == name) || seen.len() > 16 {
            seen.push(name.to_owned());
            let path: Vec<_> = seen.iter().map(|s| crate::redact::display_id(s)).collect();
            return Err(KeyError::with_hint(
                format!(
                    "AWS profiles loop through source_profile: {}",
                    path.join(" -> ")
                ),
                "make the last profile of the chain hold credentials instead of a source_profile",
            ));
        }
        seen.push(name.to_owned());
        let p = self.profiles.get(name).ok_or_else(|| {
            KeyError::with_hint(
                format!("AWS profile `{shown}` not found in {}", self.profiles.paths),
                hint,
            )
        })?;
        let source = format!("profile `{shown}`");
        let get = |k: &str| p.get(k).filter(|v| !v.is_empty());
        let static_creds = || -> Option<Credentials> {
            Some(Credentials {
                access_key_id: get("aws_access_key_id")?.clone(),
                secret_access_key: Zeroizing::new(get("aws_secret_access_key")?.clone()),
                session_token: get("aws_session_token").map(|t| Zeroizing::new(t.clone())),
                source: source.clone(),
            })
        };
        let region = sts_region(self.ctx, Some(&p), self.region_hint);
        let role_arn = get("role_arn");
        let session = || {
            get("role_session_name")
                .cloned()
                .unwrap_or_else(sts::session_name)
        };
        let base = if let Some(src) = get("source_profile").filter(|_| role_arn.is_some()) {
            if src == name {
                static_creds().ok_or_else(|| {
                    KeyError::with_hint(
                        format!("{source} is its own source_profile but has no static keys"),
                        hint,
                    )
                })?
            } else {
                self.profile(src, seen, trail)?
            }
        } else if let Some(c) = static_creds() {
            c
        } else if let Some(cs) = get("credential_source") {
            match cs.as_str() {
                "Environment" => env_credentials(self.ctx).ok_or_else(|| {
                    KeyError::with_hint(
                        format!("{source}: credential_source Environment, but {}", env_reason(self.ctx)),
                        hint,
                    )
                })?,
                "EcsContainer" => sts::container(self.ctx).unwrap_or_else(|| {
                    Err(KeyError::new(format!(
                        "{source}: credential_source EcsContainer, but AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI are not set"
                    )))
                })?,
                "Ec2InstanceMetadata" => sts::instance_metadata(self.ctx).unwrap_or_else(|| {
                    Err(KeyError::new(format!(
                        "{source}: credential_source Ec2InstanceMetadata, but AWS_EC2_METADATA_DISABLED=true"
                    )))
                })?,
                other => {
                    return Err(KeyError::with_hint(
                        format!("{source}: unknown credential_source `{other}`"),
                        "use Environment, EcsContainer or Ec2InstanceMetadata",
                    ));
                }
            }
        } else if let Some(file) = get("web_identity_token_file") {
            let role = role_arn.ok_or_else(|| {
                KeyError::with_hint(
                    format!("{source} has web_identity_token_file but no role_arn"),
                    hint,
                )
            })?;
            let file = expand(self.ctx, file);
            return sts::assume_role_with_web_identity(
                self.ctx,
                role,
                &file.to_string_lossy(),
                &session(),
                &region,
            )
            .map(|mut c| {
                c.source = format!("{source} (web identity, role {role})");
                c
            });
        } else if sso::configured(&p) {
            sso::credentials(self.ctx, &self.profiles, name, &p)?
        } else if let Some(cmd) = get("credential_process") {
            run_process(self.ctx, name, cmd)?
        } else {
            trail.note(
                &source,
                format!("has no credentials in {}", self.profiles.paths),
            );
            machine_credentials(self.ctx, trail)?
        };
        let Some(role_arn) = role_arn else {
            return Ok(base);
        };
        let external_id = get("external_id").map(String::as_str);
        sts::assume_role(self.ctx, &base, role_arn, &session(), external_id, &region).map(
            |mut c| {
                c.source = format!("{source} (role {role_arn} assumed with {})", base.source);
                c
            },
        )
    }

    fn default_chain(&self) -> Result<Credentials, KeyError> {
        let mut trail = Trail::default();
        if let Some(c) = env_credentials(self.ctx) {
            return Ok(c);
        }
        trail.note("environment", env_reason(self.ctx));
        match (
            self.ctx.var("AWS_WEB_IDENTITY_TOKEN_FILE"),
            self.ctx.var("AWS_ROLE_ARN"),
        ) {
            (Some(file), Some(role)) => {
                let session = self
                    .ctx
                    .var("AWS_ROLE_SESSION_NAME")
                    .map(str::to_owned)
                    .unwrap_or_else(sts::session_name);
                let region = sts_region(self.ctx, None, self.region_hint);
                return sts::assume_role_with_web_identity(self.ctx, role, file, &session, &region)
                    .map_err(|e| trail.fail(e));
            }
            (Some(_), None) => trail.note(
                "web identity",
                "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not",
            ),
            (None, Some(_)) => trail.note(
                "web identity",
                "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not",
            ),
            (None, None) => trail.note(
                "web identity",
                "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set",
            ),
        }
        if self.profiles.get("default").is_some() {
            return self
                .profile("default", &mut Vec::new(), &mut trail)
                .map_err(|e| {
                    if e.message.starts_with("no AWS credentials found") {
                        e
                    } else {
                        trail.fail(e)
                    }
                });
        }
        trail.note(
            "profile `default`",
            format!("not found in {}", self.profiles.paths),
        );
        machine_credentials(self.ctx, &mut trail)
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
                Some(p) => {
                    let mut trail = Trail::default();
                    chain.profile(p, &mut Vec::new(), &mut trail)
                }
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

    #[test]
    fn a_credential_process_that_never_ends_is_stopped() {
        // Before round 22 leafseal waited for it for ever (here: the whole minute).
        let vars = [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            (crate::keys::deadline::HELPER_TIMEOUT_VAR, "1".to_owned()),
        ];
        let ctx = KeyContext::with_vars(vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(run_process(&ctx, "slow", "exec sleep 60").map(|_| ()));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the credential_process was not stopped within 20 seconds");
        let e = got.expect_err("no credentials");
        assert!(
            e.message
                .contains("credential_process of profile `slow` did not finish within 1 seconds")
                && e.message
                    .contains(crate::keys::deadline::HELPER_TIMEOUT_VAR),
            "{e}"
        );
    }

    #[test]
    fn a_credential_process_stopped_at_its_time_limit_takes_its_children_with_it() {
        // A script whose `sleep` outlives it: before round 23 only the script's shell was
        // killed, and the subshell went on to create the marker a second later.
        let dir = tempfile::tempdir().expect("dir");
        let marker = dir.path().join("marker");
        let vars = [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            (crate::keys::deadline::HELPER_TIMEOUT_VAR, "1".to_owned()),
            ("MARKER", marker.display().to_string()),
        ];
        let ctx = KeyContext::with_vars(vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let script = "(sleep 2; : > \"$MARKER\") & sleep 60; true";
        let e = run_process(&ctx, "slow", script).expect_err("no credentials");
        assert!(e.message.contains("did not finish within 1 seconds"), "{e}");
        std::thread::sleep(std::time::Duration::from_secs(3));
        // On a terminal the helper stays in leafseal's group (it may ask there, and
        // Ctrl-C reaches what it started), so only leafseal's own limit applies.
        assert_eq!(
            marker.exists(),
            crate::process::has_controlling_terminal(),
            "without a terminal, a program the credential_process started lived on"
        );
    }
}
