//! The leafseal-only section of `.sops.yaml` (sops ignores it):
//! `leafseal: {strict_integrity: BOOL, allowed_signers: PATH, require_signed: BOOL,
//! k8s_decode: BOOL}`.

use std::path::PathBuf;

use super::PolicyError;
use super::parse::Ctx;
use crate::tree::Map;
use crate::tree::Value;

/// The settings of the `leafseal` section.
#[derive(Debug, Default)]
pub(super) struct Settings {
    pub strict_integrity: bool,
    pub allowed_signers: Option<PathBuf>,
    pub require_signed: bool,
    pub k8s_decode: Option<bool>,
}

/// Reads the section; an absent or null section gives the defaults.
pub(super) fn section(cx: &Ctx<'_>, root: &Map) -> Result<Settings, PolicyError> {
    let mut out = Settings::default();
    let Some(v) = root.get("leafseal") else {
        return Ok(out);
    };
    if matches!(v, Value::Null) {
        return Ok(out);
    }
    let m = cx.map(v, "leafseal")?;
    for (k, v) in m.entries() {
        match k {
            "strict_integrity" => out.strict_integrity = cx.bool(v, "leafseal.strict_integrity")?,
            "require_signed" => out.require_signed = cx.bool(v, "leafseal.require_signed")?,
            "k8s_decode" => out.k8s_decode = Some(cx.bool(v, "leafseal.k8s_decode")?),
            "allowed_signers" => {
                let s = cx.string(v, "leafseal.allowed_signers")?;
                if s.trim().is_empty() {
                    return Err(cx.invalid("leafseal.allowed_signers", "the path is empty"));
                }
                let p = PathBuf::from(s.trim());
                let dir = cx.path.parent().map(PathBuf::from).unwrap_or_default();
                out.allowed_signers = Some(if p.is_absolute() { p } else { dir.join(p) });
            }
            other => {
                return Err(cx.invalid(
                    format!("leafseal.{other}"),
                    "unknown setting (known: strict_integrity, allowed_signers, require_signed, k8s_decode)",
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::policy::Policy;

    #[test]
    fn signature_settings_are_read_and_the_path_is_relative_to_the_policy() {
        let p = Policy::parse(
            b"leafseal:\n  allowed_signers: keys/allowed\n  require_signed: true\n",
            Path::new("/repo/.sops.yaml"),
        )
        .expect("parses");
        assert_eq!(
            p.allowed_signers.as_deref(),
            Some(Path::new("/repo/keys/allowed"))
        );
        assert!(p.require_signed);
        assert!(!p.strict_integrity);
        let e = Policy::parse(b"leafseal:\n  require_signed: 3\n", Path::new(".sops.yaml"));
        assert!(e.is_err());
        assert_eq!(p.k8s_decode, None);
        let k = Policy::parse(b"leafseal:\n  k8s_decode: false\n", Path::new(".sops.yaml"))
            .expect("parses");
        assert_eq!(k.k8s_decode, Some(false));
        let e = Policy::parse(b"leafseal:\n  signers: x\n", Path::new(".sops.yaml"));
        assert!(
            e.expect_err("unknown")
                .to_string()
                .contains("allowed_signers")
        );
    }
}
