//! Secrets from the environment that cannot be used stop the server at
//! start with a message naming them, rather than leave it running on a
//! random key as if they were unset.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

/// Runs the binary with `env` set (and `--addr` on a free port) and
/// answers its standard error; it must fail to start.
fn refused(flags: &[&str], env: (&str, &OsStr)) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_example-axum-server"))
        .args(["--addr", "127.0.0.1:0"])
        .args(flags)
        .env(env.0, env.1)
        .output()
        .expect("the binary runs");
    assert!(!out.status.success(), "started with {}", env.0);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn secrets_that_are_not_utf8_stop_the_start() {
    let not_utf8 = OsStr::from_bytes(b"\xff\xfe a secret that is not UTF-8 at all, 32+");
    for name in ["AUTH_JWT_SECRET", "AUTH_DPOP_NONCE_SECRET"] {
        let stderr = refused(&["--dpop-nonces"], (name, not_utf8));
        assert!(stderr.contains(&format!("{name} is not UTF-8")), "{stderr}");
    }
}

#[test]
fn a_short_nonce_secret_stops_the_start() {
    let stderr = refused(
        &["--dpop-nonces"],
        ("AUTH_DPOP_NONCE_SECRET", OsStr::new("short")),
    );
    assert!(
        stderr.contains("AUTH_DPOP_NONCE_SECRET must hold at least 32 bytes, got 5"),
        "{stderr}"
    );
}
