//! Findings about leafseal-only features: pending write-only contributions
//! ([`crate::contrib`]) and Kubernetes Secrets whose `data`/`stringData` values the
//! matching rule leaves in clear.

use crate::check::Kind;
use crate::check::Sink;
use crate::format::Format;
use crate::metadata::Metadata;
use crate::tree::Document;
use crate::walk;
use crate::walk::Direction;
use crate::walk::Leaf;
use crate::walk::Selector;

/// Lists a file's pending contributions (a warning: values not applied yet).
pub(crate) fn pending(meta: &Metadata, sink: &mut Sink<'_>) {
    match crate::contrib::list(meta) {
        Ok(list) => {
            for p in list {
                sink.push(
                    Kind::PendingContribution,
                    format!(
                        "pending contribution {} for `{}` made {} ({}) is not applied yet",
                        crate::redact::inert(&p.id),
                        crate::redact::inert(&p.path),
                        crate::redact::inert(&p.created),
                        if p.signature.is_some() { "signed" } else { "unsigned" }
                    ),
                    "a key holder applies it with `leafseal absorb FILE` (or drops it with `--skip ID`)",
                );
            }
        }
        Err(e) => sink.push_as(
            Kind::PendingContribution,
            true,
            e.message,
            "restore the file from version control, or remove the `leafseal_pending` field",
        ),
    }
}

/// Warns about the values of a Kubernetes Secret's `data` and `stringData` that the
/// rule's selector leaves in clear.
pub(crate) fn k8s_secret(format: Format, doc: &Document, sel: &Selector, sink: &mut Sink<'_>) {
    if format != Format::Yaml {
        return;
    }
    let mut clear = std::collections::BTreeSet::new();
    for branch in doc
        .branches
        .iter()
        .filter(|b| crate::integrations::k8s::is_secret(b))
    {
        let mut one = Document {
            branches: vec![branch.clone()],
        };
        let _ = walk::walk::<()>(&mut one, sel, Direction::Decrypting, &mut |info, leaf| {
            if let Leaf::Value(_) = leaf
                && !info.encrypt
                && (info.aad.starts_with("data:") || info.aad.starts_with("stringData:"))
            {
                clear.insert(info.aad.trim_end_matches(':').to_owned());
            }
            Ok(())
        });
    }
    for p in clear {
        sink.push(
            Kind::K8sSecretClear,
            format!("this Kubernetes Secret's value at `{p}` is left in clear by the matching rule's selector"),
            "make the rule encrypt data and stringData, e.g. `encrypted_regex: ^(data|stringData)$`, then re-encrypt the file",
        );
    }
}
