//! The commented example that `failback init` writes. Kept as a TOML file next to this one so it
//! reads like what the operator gets; a test parses it.

/// The example spec, secrets as references to `FAILBACK_PS_ADMIN_PASSWORD` and
/// `FAILBACK_CS_PASSPHRASE`.
pub fn example() -> &'static str {
    include_str!("example.toml")
}
