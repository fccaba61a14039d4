//! Key groups: wrapping the data key for every key, and recovering it (Shamir).
