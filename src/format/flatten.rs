//! Flattening of the metadata tree for dotenv (`sops_` prefix) and INI (`[sops]` section):
//! `__map_<name>` for a map member, `__list_<index>` for a list element.
