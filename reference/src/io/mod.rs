//! Reading games and factorizations from files (grid CSV, long CSV, TOML manifests) and the
//! built-in game library.
