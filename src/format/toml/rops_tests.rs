//! Interoperability with rops (filled in with the fixtures).
