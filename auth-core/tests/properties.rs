//! Properties over many inputs: claims survive issuing, validation and
//! refresh unchanged, whatever the subject and roles; and no single-byte
//! change of a valid token (HS256 or ES256) is ever accepted.

mod common;

use std::sync::OnceLock;

use auth_core::{Algorithm, AuthError, Key, RoleClaims};
use common::*;
use proptest::prelude::*;
use tokio::runtime::Runtime;

fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn es256() -> Key {
    Key::from_pem(Algorithm::ES256, include_bytes!("keys/es256.pem")).expect("es256 key")
}

/// One authority per algorithm, shared by every case (issuing into a fresh
/// session each time).
fn fixture_for(alg: Algorithm) -> &'static Fixture {
    static HS: OnceLock<Fixture> = OnceLock::new();
    static ES: OnceLock<Fixture> = OnceLock::new();
    match alg {
        Algorithm::HS256 => HS.get_or_init(|| fixture_with(hs256(), |b| b)),
        Algorithm::ES256 => ES.get_or_init(|| fixture_with(es256(), |b| b)),
        other => panic!("no fixture for {other}"),
    }
}

/// Subjects: any non-empty text, control characters, quotes, backslashes,
/// astral-plane characters and JSON-looking text included.
fn subject() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{1,40}",
        "[\\x00-\\x1f\"\\\\/]{1,12}",
        Just("\"sub\":\"root\"".to_owned()),
        Just("\u{1F600}\u{0}\u{FEFF}".to_owned()),
        "[a-z0-9@._-]{1,64}",
    ]
}

fn claims() -> impl Strategy<Value = RoleClaims> {
    (
        prop::collection::vec("\\PC{0,24}", 0..8),
        prop::option::of("[a-z: ]{0,40}"),
    )
        .prop_map(|(roles, scope)| RoleClaims { roles, scope })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// What goes into `issue` comes back out of `validate_access`, and out of
    /// the access token of the next pair after a refresh.
    #[test]
    fn claims_round_trip_through_issue_validate_and_refresh(
        sub in subject(),
        extra in claims(),
        es in any::<bool>(),
    ) {
        let f = fixture_for(if es { Algorithm::ES256 } else { Algorithm::HS256 });
        let v = f.authority.validator();
        rt().block_on(async {
            let pair = f.authority.issue(&sub, &extra).await.expect("issue");
            let c = v.validate_access::<RoleClaims>(&pair.access_token).await.expect("valid");
            prop_assert_eq!(&c.sub, &sub);
            prop_assert_eq!(&c.extra, &extra);
            prop_assert_eq!(c.sid, pair.session_id);
            prop_assert_eq!(c.exp - c.iat, 15 * 60);
            prop_assert!(c.iss.is_none() && c.aud.is_empty());

            let r = v.validate_refresh(&pair.refresh_token).await.expect("refresh valid");
            prop_assert_eq!(&r.sub, &sub);
            prop_assert_eq!(r.sid, pair.session_id);
            prop_assert_ne!(r.jti, c.jti);

            let next = f.authority.refresh(&pair.refresh_token).await.expect("refresh");
            let c2 = v.validate_access::<RoleClaims>(&next.access_token).await.expect("valid");
            prop_assert_eq!(&c2.sub, &sub);
            prop_assert_eq!(&c2.extra, &extra);
            prop_assert_eq!(c2.sid, c.sid);
            prop_assert_ne!(c2.jti, c.jti);
            Ok(())
        })?;
    }

    /// A random byte at a random position of a token with random claims:
    /// refused (printable ASCII replacements, so the token stays a `str`).
    #[test]
    fn a_random_single_byte_change_is_refused(
        sub in subject(),
        extra in claims(),
        es in any::<bool>(),
        at in any::<prop::sample::Index>(),
        byte in 0x20u8..0x7f,
    ) {
        let f = fixture_for(if es { Algorithm::ES256 } else { Algorithm::HS256 });
        rt().block_on(async {
            let token = f.authority.issue(&sub, &extra).await.expect("issue").access_token;
            let i = at.index(token.len());
            prop_assume!(token.as_bytes()[i] != byte);
            let mut bytes = token.into_bytes();
            bytes[i] = byte;
            let tampered = String::from_utf8(bytes).expect("ascii");
            let got = f.authority.validator().validate_access::<RoleClaims>(&tampered).await;
            prop_assert!(got.is_err(), "byte {} = {:?} accepted: {}", i, byte as char, tampered);
            Ok(())
        })?;
    }
}

/// Bytes put at each position: base64url letters and digits of either case
/// (the same "kind" of byte, the likeliest to slip through), its other two
/// characters, the separator, padding, and bytes outside the alphabet.
const REPLACEMENTS: &[u8] = b"AQgw_-.= +/!\x00\x7f";

/// Every position of one token, each replaced by every byte of
/// [`REPLACEMENTS`] and by its neighbours in ASCII (the change that flips
/// only the lowest bit of a base64 sextet, or only its unused trailing bits).
fn every_single_byte_change_is_refused(alg: Algorithm) {
    let f = fixture_for(alg);
    let v = f.authority.validator();
    rt().block_on(async {
        let token = f
            .authority
            .issue("alice", &RoleClaims::with_roles(["user", "admin"]))
            .await
            .expect("issue")
            .access_token;
        v.validate_access::<RoleClaims>(&token)
            .await
            .expect("the untouched token validates");
        let mut tried = 0;
        let mut accepted = Vec::new();
        for i in 0..token.len() {
            let original = token.as_bytes()[i];
            let neighbours = [original.wrapping_sub(1), original.wrapping_add(1)];
            for &b in REPLACEMENTS.iter().chain(&neighbours) {
                if b == original || !b.is_ascii() {
                    continue;
                }
                let mut bytes = token.clone().into_bytes();
                bytes[i] = b;
                let tampered = String::from_utf8(bytes).expect("ascii");
                tried += 1;
                match v.validate_access::<RoleClaims>(&tampered).await {
                    Err(AuthError::Store(e)) => panic!("store error on a tampered token: {e}"),
                    Err(_) => {}
                    Ok(_) => accepted.push(format!(
                        "{alg} byte {i}: {:?} -> {:?}",
                        original as char, b as char
                    )),
                }
            }
        }
        assert!(tried > 10 * token.len(), "{tried} changes tried");
        assert!(
            accepted.is_empty(),
            "accepted after a one-byte change:\n{}",
            accepted.join("\n")
        );
    });
}

#[test]
fn every_single_byte_change_of_an_hs256_token_is_refused() {
    every_single_byte_change_is_refused(Algorithm::HS256);
}

#[test]
fn every_single_byte_change_of_an_es256_token_is_refused() {
    every_single_byte_change_is_refused(Algorithm::ES256);
}
