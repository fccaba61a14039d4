//! What the unit tests of the tree-free encrypt scanners (`direct`, `json_direct`)
//! share.

use zeroize::Zeroizing;

use super::direct::Bufs;

/// `ENC[AES256_GCM,data:D,iv:…,tag:…,type:T]` → `ENC[len(D),T]`.
pub(super) fn mask(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("ENC[AES256_GCM,data:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "ENC[AES256_GCM,data:".len()..];
        let end = after.find(']').expect("closing bracket");
        let body = &after[..end];
        let data = body.split(',').next().expect("data");
        let typ = body.rsplit(",type:").next().expect("type");
        out.push_str(&format!("ENC[{},{typ}]", data.len()));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Buffers of the scanners' own (no pools).
pub(super) fn bufs() -> Bufs<'static> {
    Bufs::fresh()
}

/// MAC input chunks as one byte string.
pub(super) fn joined(m: &[Zeroizing<Vec<u8>>]) -> Vec<u8> {
    m.iter().flat_map(|c| c.iter().copied()).collect()
}
