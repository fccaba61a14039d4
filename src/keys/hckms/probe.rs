//! `leafseal doctor`'s check of a HuaweiCloud KMS key: whether the AK/SK and project
//! variables are set, then a signed `POST {endpoint}/v1.0/{project_id}/kms/describe-key`
//! with `{"key_id": …}` (key metadata only; needs `kms:cmk:get`).

use super::AK_VAR;
use super::Credentials;
use super::HckmsKey;
use super::PROJECT_VAR;
use super::SK_VAR;
use super::TOKEN_VAR;
use super::describe_reply;
use super::endpoint;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::Probe;
use crate::keys::ProbeStatus;
use crate::keys::rest;

impl HckmsKey {
    /// The doctor's probe (see the module documentation).
    pub(super) fn probe_key(&self, ctx: &KeyContext) -> Probe {
        let failed = |source: Option<String>, e: KeyError| Probe {
            source,
            status: ProbeStatus::Failed(e),
        };
        let creds = match Credentials::from_ctx(ctx) {
            Ok(c) => c,
            Err(e) => {
                return failed(
                    None,
                    KeyError {
                        message: self.fail("describe-key", e.message),
                        hint: e.hint,
                    },
                );
            }
        };
        let mut source = format!("{AK_VAR}/{SK_VAR}");
        if creds.token.is_some() {
            source.push_str(&format!(" with {TOKEN_VAR} (temporary credentials)"));
        }
        source.push_str(&format!(", project {} ({PROJECT_VAR})", creds.project_id));
        if let Ok((_, from)) = endpoint(ctx, &self.region) {
            source.push_str(&format!(", endpoint from {from}"));
        }
        let body = rest::json_object(&[("key_id", self.key_uuid.as_str())]);
        let (reply, project) = match self.post(ctx, "describe-key", body) {
            Ok(r) => r,
            Err(e) => return failed(Some(source), e),
        };
        let status = if reply.ok() {
            let state = reply
                .json()
                .ok()
                .and_then(|j| j["key_info"]["key_state"].as_str().map(str::to_owned));
            match state.as_deref() {
                Some("2") | None => {
                    ProbeStatus::Ok("KMS describe-key answered (key enabled)".to_owned())
                }
                Some(s @ ("3" | "4")) => ProbeStatus::Failed(KeyError::with_hint(
                    self.fail(
                        "describe-key",
                        if s == "3" {
                            "the key is disabled"
                        } else {
                            "the key is scheduled for deletion"
                        },
                    ),
                    "enable the key (or cancel its deletion) in the KMS console",
                )),
                Some(other) => ProbeStatus::Ok(format!(
                    "KMS describe-key answered (key state {})",
                    reply.shown(other)
                )),
            }
        } else if reply.status == 403 {
            ProbeStatus::Ok(format!(
                "credentials work (the signature was accepted), permission to read key \
                 metadata missing (kms:cmk:get: {}); decrypt may still work",
                describe_reply(&reply)
            ))
        } else {
            let mut e = self.reply_error("describe-key", &reply, &project);
            if matches!(reply.status, 401) || e.message.contains("APIGW.0301") {
                e.message
                    .push_str(&format!(" (credentials from {AK_VAR}/{SK_VAR})"));
            }
            ProbeStatus::Failed(e)
        };
        Probe {
            source: Some(source),
            status,
        }
    }
}
