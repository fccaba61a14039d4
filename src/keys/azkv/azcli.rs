//! The Azure CLI as a credential source: `az account get-access-token --output json
//! --resource <resource>` (plus `--tenant $AZURE_TENANT_ID` when that is set), run
//! without a shell with the context's environment, as the Azure SDKs do. Its JSON
//! carries `accessToken` and `expires_on` (or `expiresOn`). A missing `az`, or one that
//! is not logged in, makes the source unavailable (the chain reports why).

use std::process::Stdio;
use std::time::Duration;

use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::rest;
use crate::keys::rest::Token;

/// How long `az` may take (it starts a Python interpreter).
const TIMEOUT: Duration = Duration::from_secs(30);
const SOURCE: &str = "the Azure CLI (az account get-access-token)";

/// A token from the Azure CLI; the inner `Err` says why the CLI is not available.
pub(super) fn token(ctx: &KeyContext, resource: &str) -> Result<Result<Token, String>, KeyError> {
    if ctx.var("PATH").is_none() {
        return Ok(Err(format!("{SOURCE}: PATH is not set")));
    }
    let mut cmd = crate::process::command_in_own_group("az");
    cmd.args([
        "account",
        "get-access-token",
        "--output",
        "json",
        "--resource",
        resource,
    ]);
    if let Some(t) = ctx.var("AZURE_TENANT_ID") {
        cmd.args(["--tenant", t]);
    }
    let mut child = match cmd
        .env_clear()
        .envs(ctx.vars())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err(format!("{SOURCE}: `az` is not on PATH")));
        }
        Err(e) => return Ok(Err(format!("{SOURCE}: cannot run `az`: {}", e.kind()))),
    };
    // `az` is not trusted to stop, nor to print only an access token's JSON (a few
    // kilobytes).
    let captured = crate::process::capture::capture_within(
        &mut child,
        &[],
        crate::process::capture::TOOL_OUTPUT_MAX,
        Some(TIMEOUT),
    )
    .map_err(|e| {
        KeyError::new(format!(
            "cannot get an Azure access token from {SOURCE}: reading `az`'s output failed: {}",
            e.kind()
        ))
    })?;
    if captured.deadline_passed {
        return Err(KeyError::new(format!(
            "cannot get an Azure access token from {SOURCE}: {}",
            crate::keys::deadline::program_deadline_message("`az`")
        )));
    }
    if captured.timed_out {
        return Err(KeyError::new(format!(
            "cannot get an Azure access token from {SOURCE}: `az` did not finish within {} \
             seconds",
            TIMEOUT.as_secs()
        )));
    }
    if captured.too_long {
        return Err(KeyError::new(format!(
            "cannot get an Azure access token from {SOURCE}: `az` printed more than {} bytes \
             and was stopped",
            crate::process::capture::TOOL_OUTPUT_MAX
        )));
    }
    let status = captured.status;
    let out = captured.stdout;
    let err = captured.stderr;
    if !status.success() {
        let text = String::from_utf8_lossy(&err);
        let first = crate::process::capture::first_line(&err, 200)
            .unwrap_or_else(|| "no message".to_owned());
        let why = if text.contains("az login") {
            format!("not logged in (run `az login`): {first}")
        } else {
            format!("`az` failed ({status}): {first}")
        };
        return Ok(Err(format!("{SOURCE}: {why}")));
    }
    let bad = |why: &str| {
        KeyError::new(format!(
            "cannot get an Azure access token from {SOURCE}: {why}"
        ))
    };
    let mut v: serde_json::Value =
        serde_json::from_slice(&out).map_err(|_| bad("its output is not JSON"))?;
    let expires_at = match v.get("expires_on") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .unwrap_or_else(|| rest::now_secs().saturating_add(300));
    let value = rest::take_string(&mut v, "accessToken")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("its output has no `accessToken`"))?;
    Ok(Ok(Token {
        value,
        expires_at,
        source: SOURCE.to_owned(),
    }))
}
