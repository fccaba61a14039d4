//! The key context a command runs with: the process environment (with warnings about
//! variables leafseal would read but cannot, and about disabled TLS checks) and the key
//! services named on the command line.

use std::sync::Arc;

use crate::error::Error;
#[cfg(not(feature = "keyservice"))]
use crate::error::exit;
use crate::keys::KeyContext;
use crate::keys::KeyService;

/// The key services of a run (`--keyservice` on the command line).
pub type KeyServices = Vec<Arc<dyn KeyService>>;

/// Prefixes (or whole names) of the environment variables leafseal reads.
pub const READ_VARS: &[&str] = &[
    "SOPS_",
    "AWS_",
    "GOOGLE_",
    "GCE_",
    "CLOUDSDK_",
    "AZURE_",
    "IDENTITY_",
    "VAULT_",
    "BAO_",
    "HUAWEICLOUD_",
    "STORAGE_EMULATOR_HOST",
    "GNUPGHOME",
    "HOME",
    "XDG_",
    "SSL_CERT_",
    "NO_PROXY",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "APPDATA",
    "PATH",
    "TMPDIR",
];

/// The key context over the process environment, interactive (a key source may prompt),
/// with the warnings to show: variables leafseal would read that are not valid UTF-8
/// (named, never their values), and `VAULT_SKIP_VERIFY`.
pub fn local_key_context() -> (KeyContext, Vec<String>) {
    let mut warnings = Vec::new();
    let mut ctx = KeyContext::from_env();
    ctx.set_interactive(true);
    for name in ctx.not_utf8_vars() {
        let upper = name.to_ascii_uppercase();
        let read = |p: &&str| match p.ends_with('_') {
            true => upper.starts_with(p),
            false => upper == *p,
        };
        if READ_VARS.iter().any(read) {
            warnings.push(format!(
                "environment variable {name} is not valid UTF-8 and is ignored; \
                 set it to UTF-8 text if leafseal should use it"
            ));
        }
    }
    #[cfg(feature = "cli")]
    if let Ok(true) = crate::keys::hcvault::skip_verify(&ctx) {
        warnings.push(
            "VAULT_SKIP_VERIFY is set: the TLS certificates of Vault servers are not \
             verified, so anyone on the network path can impersonate the server and read the \
             token and the data keys sent to it; point VAULT_CACERT at the server's CA and \
             unset VAULT_SKIP_VERIFY"
                .to_owned(),
        );
    }
    (ctx, warnings)
}

/// A key context that also asks the given key services (and, with `local`, this
/// machine's keys).
pub fn with_key_services(ctx: KeyContext, services: &KeyServices, local: bool) -> KeyContext {
    ctx.with_key_services(services.clone(), local)
}

/// The key services named by `--keyservice` URIs.
pub fn key_services(uris: &[String]) -> Result<KeyServices, Error> {
    #[cfg(feature = "keyservice")]
    {
        crate::keyservice::services_from_uris(uris)
    }
    #[cfg(not(feature = "keyservice"))]
    match uris.first() {
        Some(uri) => Err(Error::new(
            exit::GENERIC,
            format!(
                "this leafseal was built without key service support, so {} {uri} cannot be used",
                crate::error::Setting::KeyService.name()
            ),
        )
        .about(crate::error::Setting::KeyService)
        .hint("use a build with the `keyservice` cargo feature (on by default)")),
        None => Ok(Vec::new()),
    }
}
