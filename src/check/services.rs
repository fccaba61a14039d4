//! The key services a policy names: every address a `.sops.yaml` can make leafseal
//! contact (and send a token or a data key to), for review in `leafseal check`.

use crate::keys::KeyKind;
use crate::policy::Policy;

/// One key service named by a creation rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyService {
    /// The key kind's metadata name (`hc_vault`, `kms`, `gcp_kms`, `azure_kv`, …).
    pub kind: &'static str,
    /// The address contacted: a URL (for AWS KMS the endpoint of the ARN's region, for
    /// Cloud KMS the default endpoint; `AWS_ENDPOINT_URL_KMS` and `SOPS_GCP_KMS_ENDPOINT`
    /// in the environment can replace them).
    pub address: String,
    /// The key at that address (Vault path, ARN, resource name, key URL).
    pub key: String,
    /// Whether the address is plain `http://` to a host that is not loopback (refused
    /// unless `LEAFSEAL_ALLOW_INSECURE_HTTP=1`).
    pub plain_http: bool,
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            format!("{scheme}://{authority}")
        }
        None => url.to_owned(),
    }
}

fn plain_http(address: &str) -> bool {
    address.to_ascii_lowercase().starts_with("http://")
        && !crate::keys::address::is_loopback_host(crate::keys::address::url_host(address))
}

#[cfg(feature = "aws")]
fn kms_address(region: &str) -> String {
    format!(
        "https://kms.{region}.{}",
        crate::keys::awskms::dns_suffix(region)
    )
}

#[cfg(not(feature = "aws"))]
fn kms_address(region: &str) -> String {
    format!("AWS KMS in {region}")
}

#[cfg(feature = "hckms")]
fn hckms_address(region: &str) -> String {
    let empty = crate::keys::KeyContext::with_vars(Default::default());
    crate::keys::hckms::endpoint(&empty, region)
        .map(|(url, _)| url)
        .unwrap_or_else(|_| format!("HuaweiCloud KMS (region `{region}`)"))
}

#[cfg(not(feature = "hckms"))]
fn hckms_address(region: &str) -> String {
    format!("HuaweiCloud KMS (region `{region}`)")
}

/// The service of one key, or `None` for keys that need no service (age, PGP).
fn service(kind: KeyKind, id: &str) -> Option<KeyService> {
    let (address, key) = match kind {
        KeyKind::Age | KeyKind::Pgp => return None,
        KeyKind::HcVault => match id.split_once("/v1/") {
            Some((addr, path)) => (addr.to_owned(), path.to_owned()),
            None => (origin(id), id.to_owned()),
        },
        KeyKind::AzureKv => (origin(id), id.to_owned()),
        #[cfg(feature = "gcp")]
        KeyKind::GcpKms => (
            crate::keys::gcpkms::DEFAULT_ENDPOINT.to_owned(),
            id.to_owned(),
        ),
        #[cfg(not(feature = "gcp"))]
        KeyKind::GcpKms => ("Cloud KMS".to_owned(), id.to_owned()),
        KeyKind::Kms => {
            let arn = id.split('+').next().unwrap_or(id);
            let region = arn.split(':').nth(3).unwrap_or("");
            let address = if region.is_empty() {
                "AWS KMS (no region in the ARN)".to_owned()
            } else {
                kms_address(region)
            };
            (address, id.to_owned())
        }
        KeyKind::Hckms => {
            let region = id.split(':').next().unwrap_or("").trim();
            (hckms_address(region), id.to_owned())
        }
    };
    // From `.sops.yaml`, which whoever can write to the repository controls: shown as
    // key ids are.
    Some(KeyService {
        kind: kind.field(),
        plain_http: plain_http(&address),
        address: crate::redact::display_id(&address).into_owned(),
        key: crate::redact::display_id(&key).into_owned(),
    })
}

/// Every key service the policy's creation rules name, in rule order, without
/// duplicates.
pub fn key_services(policy: &Policy) -> Vec<KeyService> {
    let mut out: Vec<KeyService> = Vec::new();
    for rule in &policy.rules {
        for key in rule.key_groups.iter().flatten() {
            if let Some(s) = service(key.kind(), &key.id())
                && !out.contains(&s)
            {
                out.push(s);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_of_each_kind() {
        let v =
            service(KeyKind::HcVault, "http://10.0.0.5:8200/v1/transit/keys/app").expect("vault");
        assert_eq!(v.address, "http://10.0.0.5:8200");
        assert_eq!(v.key, "transit/keys/app");
        assert!(v.plain_http);
        let v = service(
            KeyKind::HcVault,
            "http://127.0.0.1:8200/v1/transit/keys/app",
        )
        .expect("vault");
        assert!(!v.plain_http);
        let k = service(
            KeyKind::Kms,
            "arn:aws:kms:eu-west-3:123456789012:key/abc+arn:aws:iam::1:role/r",
        )
        .expect("kms");
        assert_eq!(k.address, "https://kms.eu-west-3.amazonaws.com");
        let a = service(KeyKind::AzureKv, "https://v.vault.azure.net/keys/k/1").expect("azure");
        assert_eq!(a.address, "https://v.vault.azure.net");
        assert!(service(KeyKind::Age, "age1x").is_none());
    }
}
