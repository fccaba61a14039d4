//! Shamir secret sharing over GF(2^8), compatible with sops's key groups.
