//! Key files: a key ring saved and loaded again keeps its keys, which key
//! signs, and the rotation under way, so tokens survive restarts and
//! rotations go on across them.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use auth_core::store::Store;
use auth_core::{
    Algorithm, AuthError, ConfigError, Key, KeyError, KeyRing, KeySet, NoClaims, TokenAuthority,
};
use common::*;

/// A directory of its own under the system's temporary directory,
/// removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("auth-core-key-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An authority restarted from the key file at `path`, on the fixture's
/// clock and store (a store that outlives the process, as Redis does).
fn restart(f: &Fixture, path: &Path) -> TokenAuthority {
    TokenAuthority::builder(KeySet::load(path).expect("load"))
        .clock(f.clock.clone())
        .store(Arc::new(f.store.clone()) as Arc<dyn Store>)
        .build()
        .expect("authority")
}

fn kid_of(token: &str) -> String {
    parts(token).0["kid"].as_str().expect("kid").to_owned()
}

/// Rotate, save, restart: the rotation goes on where it was. Tokens of
/// the old key and of the new one verify, the new key signs when it was
/// due to, and the old key retires on time, in a ring that never saw the
/// rotation happen.
#[tokio::test]
async fn a_rotation_saved_goes_on_after_a_restart() {
    let dir = TempDir::new("rotation");
    let path = dir.path("keys.json");
    let f = fixture_with(Key::generate(Algorithm::ES256).unwrap(), |b| {
        b.key_publication_delay(Duration::from_secs(600))
            .refresh_ttl(Duration::from_secs(3600))
            .leeway(Duration::from_secs(5))
    });
    let old = f.authority.keys().signing_key().unwrap().kid().to_owned();
    let before = f.login("alice").await;
    let next = Key::generate(Algorithm::ES256).unwrap();
    let rotation = f.authority.rotate_signing_key(next.clone()).unwrap();
    f.authority.key_ring().save(&path).expect("save");

    let restarted = TokenAuthority::builder(KeySet::load(&path).expect("load"))
        .clock(f.clock.clone())
        .store(Arc::new(f.store.clone()) as Arc<dyn Store>)
        .refresh_ttl(Duration::from_secs(3600))
        .build()
        .expect("authority");
    assert_eq!(
        restarted.key_ring().pending(),
        Some((next.kid().to_owned(), rotation.signs_from))
    );
    assert_eq!(restarted.keys().jwks(), f.authority.keys().jwks());
    let v = restarted.validator();
    v.validate_access::<NoClaims>(&before.access_token)
        .await
        .expect("a token of the old key");
    // Until the publication delay has passed, the old key signs.
    assert_eq!(
        kid_of(
            &restarted
                .issue("bob", &NoClaims {})
                .await
                .unwrap()
                .access_token
        ),
        old
    );

    f.clock.advance(Duration::from_secs(600));
    let after = restarted.issue("bob", &NoClaims {}).await.unwrap();
    assert_eq!(kid_of(&after.access_token), next.kid(), "the new key signs");
    for token in [&before.access_token, &after.access_token] {
        v.validate_access::<NoClaims>(token).await.expect("valid");
    }
    // The old refresh token still rotates, into the new key's tokens.
    let refreshed = restarted.refresh(&before.refresh_token).await.unwrap();
    assert_eq!(kid_of(&refreshed.refresh_token), next.kid());

    // The old key verifies until the refresh lifetime plus the leeway after
    // the new key started signing, as scheduled before the restart.
    assert_eq!(
        restarted.key_ring().retires_at(&old),
        Some(rotation.previous_retires_at)
    );
    f.clock.set(rotation.previous_retires_at);
    assert!(matches!(
        v.decode_access::<NoClaims>(&before.access_token),
        Err(AuthError::UnknownKey)
    ));
    let fresh = restarted.issue("carol", &NoClaims {}).await.unwrap();
    assert_eq!(kid_of(&fresh.access_token), next.kid());
    v.validate_access::<NoClaims>(&fresh.access_token)
        .await
        .expect("the new key's token");
    assert_eq!(restarted.keys().keys().len(), 1);
}

/// A file loaded after the rotated key's `signs_from`, or after a key's
/// `retires_at`, applies them at once.
#[tokio::test]
async fn a_schedule_that_came_due_while_stopped_applies_at_start() {
    let dir = TempDir::new("due");
    let path = dir.path("keys.json");
    let f = fixture_with(Key::generate(Algorithm::EdDSA).unwrap(), |b| {
        b.key_publication_delay(Duration::from_secs(600))
    });
    let old = f.authority.keys().signing_key().unwrap().clone();
    let token = f.login("alice").await.access_token;
    let next = Key::generate(Algorithm::EdDSA).unwrap();
    let rotation = f.authority.rotate_signing_key(next.clone()).unwrap();
    f.authority.key_ring().save(&path).expect("save");

    f.clock.set(rotation.signs_from + 1);
    let restarted = restart(&f, &path);
    assert_eq!(restarted.keys().signing_key().unwrap().kid(), next.kid());
    assert_eq!(restarted.key_ring().pending(), None);
    restarted
        .validator()
        .decode_access::<NoClaims>(&token)
        .expect("the old key verifies");

    f.clock.set(rotation.previous_retires_at);
    let restarted = restart(&f, &path);
    assert!(restarted.keys().get(old.kid()).is_none(), "retired");
    assert!(matches!(
        restarted.validator().decode_access::<NoClaims>(&token),
        Err(AuthError::UnknownKey)
    ));
}

/// Every key type goes through the file and comes back the same key:
/// kid, algorithm, material, and whether it signs. Verification-only
/// keys stay so, renamed keys keep their names.
#[test]
fn every_key_type_survives_the_file() {
    let dir = TempDir::new("types");
    let path = dir.path("keys.json");
    let signing = Key::generate(Algorithm::HS384).unwrap();
    let es384 = Key::generate(Algorithm::ES384).unwrap();
    let others = [
        Key::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("2025-06-es256"),
        es384.clone(),
        Key::generate(Algorithm::EdDSA).unwrap(),
        Key::generate(Algorithm::PS256).unwrap(),
        Key::generate(Algorithm::HS256).unwrap(),
        Key::from_jwk(&es384.public_jwk().unwrap())
            .unwrap()
            .with_kid("es384-public"),
        Key::public_from_pem(
            Algorithm::RS256,
            &std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/keys/rsa2048.pub.pem"
            ))
            .unwrap(),
        )
        .unwrap(),
    ];
    let set = others
        .iter()
        .cloned()
        .try_fold(KeySet::new(signing.clone()).unwrap(), KeySet::with_key)
        .unwrap();
    KeyRing::new(set.clone()).save(&path).expect("save");
    let loaded = KeySet::load(&path).expect("load");
    assert_eq!(loaded.signing_key().unwrap().kid(), signing.kid());
    assert_eq!(loaded.keys().len(), set.keys().len());
    for (a, b) in set.keys().iter().zip(loaded.keys()) {
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.algorithm(), b.algorithm(), "{}", a.kid());
        assert!(a.same_material(b), "{}", a.kid());
        assert_eq!(a.can_sign(), b.can_sign(), "{}", a.kid());
    }
    // The loaded keys sign what the saved ones verify.
    let f = fixture_with(loaded.keys()[4].clone(), |b| b);
    let token = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f.authority.issue("alice", &NoClaims {}))
        .unwrap()
        .access_token;
    let verifier = TokenAuthority::builder(KeySet::new(others[3].clone()).unwrap())
        .build()
        .unwrap();
    verifier
        .validator()
        .decode_access::<NoClaims>(&token)
        .expect("PS256 through the file");
}

/// The file is a JWKS: each key names its kid, alg and key_ops, private
/// members included; only its owner may read it, and no temporary file is
/// left next to it. A second save replaces it.
#[test]
fn the_file_is_a_private_jwks_readable_by_its_owner_only() {
    let dir = TempDir::new("format");
    let path = dir.path("keys.json");
    let ring = KeyRing::new(KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap());
    ring.save(&path).expect("save");
    let next = Key::generate(Algorithm::ES256).unwrap();
    ring.schedule(next.clone(), 2_000_000_000, 2_000_086_400)
        .unwrap();
    ring.save(&path).expect("save again");

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("json");
    let keys = json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["key_ops"], serde_json::json!(["sign", "verify"]));
    assert_eq!(keys[0]["retires_at"], 2_000_086_400);
    assert_eq!(keys[1]["kid"], next.kid());
    assert_eq!(keys[1]["key_ops"], serde_json::json!(["verify"]));
    assert_eq!(keys[1]["signs_from"], 2_000_000_000);
    for key in keys {
        assert_eq!(key["alg"], "ES256");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kty"], "EC");
        assert!(key["d"].is_string(), "private member");
    }
    // A JWK reader takes each key (as its public half).
    let set: auth_core::jwk::JwkSet = serde_json::from_value(json.clone()).expect("JwkSet");
    assert_eq!(Key::from_jwk(&set.keys[1]).unwrap().kid(), next.kid());

    let entries: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["keys.json"], "no temporary file left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// A key withdrawn, then saved, does not come back at the next start.
#[tokio::test]
async fn a_withdrawn_key_stays_withdrawn_after_a_restart() {
    let dir = TempDir::new("withdrawn");
    let path = dir.path("keys.json");
    let f = fixture_with(Key::generate(Algorithm::ES256).unwrap(), |b| b);
    let next = Key::generate(Algorithm::ES256).unwrap();
    f.authority.rotate_signing_key(next.clone()).unwrap();
    assert!(f.authority.withdraw_key(next.kid()).unwrap());
    f.authority.key_ring().save(&path).expect("save");
    let restarted = restart(&f, &path);
    assert!(restarted.keys().get(next.kid()).is_none());
    assert_eq!(restarted.key_ring().pending(), None);
}

/// [`KeyRing::replace`] with a loaded set takes its schedule too: a
/// running service reloads its key file.
#[test]
fn a_running_ring_reloads_the_file_with_its_schedule() {
    let dir = TempDir::new("reload");
    let path = dir.path("keys.json");
    let saved = KeyRing::new(KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap());
    let next = Key::generate(Algorithm::EdDSA).unwrap();
    saved
        .schedule(next.clone(), 2_000_000_000, 2_000_086_400)
        .unwrap();
    saved.save(&path).expect("save");

    let running = KeyRing::new(KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap());
    running.replace(KeySet::load(&path).expect("load"));
    assert_eq!(
        running.pending(),
        Some((next.kid().to_owned(), 2_000_000_000))
    );
    assert_eq!(running.current().jwks(), saved.current().jwks());
}

/// A file in which no key signs is a verifying set: it verifies, and an
/// authority refuses it for having nothing to sign with.
#[test]
fn a_file_without_a_signing_key_loads_as_a_verifying_set() {
    let dir = TempDir::new("verifying");
    let path = dir.path("keys.json");
    let key = Key::generate(Algorithm::ES256).unwrap();
    let public = Key::from_jwk(&key.public_jwk().unwrap()).unwrap();
    KeyRing::new(KeySet::verifying([public]).unwrap())
        .save(&path)
        .expect("save");
    let loaded = KeySet::load(&path).expect("load");
    assert!(loaded.signing_key().is_none());
    assert!(loaded.get(key.kid()).is_some_and(|k| !k.can_sign()));
    assert!(matches!(
        TokenAuthority::builder(loaded).build(),
        Err(ConfigError::NoSigningKey)
    ));
}

/// What is wrong with a key file is said with the file's name, the key's
/// place and kid.
#[test]
fn what_is_wrong_with_a_key_file_is_said_in_plain_words() {
    let dir = TempDir::new("errors");
    let path = dir.path("keys.json");
    let good = dir.path("good.json");
    let ring = KeyRing::new(KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap());
    ring.schedule(
        Key::generate(Algorithm::ES256).unwrap(),
        2_000_000_000,
        2_000_086_400,
    )
    .unwrap();
    ring.save(&good).expect("save");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    let kid0 = saved["keys"][0]["kid"].as_str().unwrap().to_owned();
    let kid1 = saved["keys"][1]["kid"].as_str().unwrap().to_owned();
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json = saved.clone();
        edit(&mut json);
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        KeySet::load(&path).unwrap_err().to_string()
    };
    let at = path.display();
    let cases: Vec<(String, String)> = vec![
        (
            {
                std::fs::write(&path, b"not json").unwrap();
                KeySet::load(&path).unwrap_err().to_string()
            },
            format!(
                "{at}: not a JSON key set ({{\"keys\": [...]}}): expected ident at line 1 column 2"
            ),
        ),
        (
            edited(&|j| j["keys"] = serde_json::json!([])),
            format!("{at}: the key set holds no keys"),
        ),
        (
            edited(&|j| j["keys"][1]["key_ops"] = serde_json::json!(["sign"])),
            format!(
                "{at}: two keys have \"sign\" in key_ops (kids {kid0:?} and {kid1:?}): one key signs"
            ),
        ),
        (
            edited(&|j| {
                j["keys"][0].as_object_mut().unwrap().remove("retires_at");
            }),
            format!(
                "{at}: the key {kid1:?} has a signs_from, but the signing key no retires_at \
                 (when it stops verifying once replaced)"
            ),
        ),
        (
            edited(&|j| {
                j["keys"][1].as_object_mut().unwrap().remove("signs_from");
            }),
            format!(
                "{at}: the signing key has a retires_at, but no key has a signs_from (a signing \
                 key retires only once another signs)"
            ),
        ),
        (
            edited(&|j| j["keys"][0]["x"] = j["keys"][1]["x"].clone()),
            format!(
                "{at}: key 1 (kid {kid0:?}): invalid key for ES256: the public key stored with \
                 the private key is not its public key (a damaged or altered file)"
            ),
        ),
        (
            edited(&|j| j["keys"][1]["alg"] = "RS256".into()),
            format!("{at}: key 2 (kid {kid1:?}): the key is an EC key, but RS256 needs an RSA key"),
        ),
        (
            edited(&|j| j["keys"][1]["crv"] = "P-384".into()),
            format!("{at}: key 2 (kid {kid1:?}): `d`, `x` and `y` must each be 48 bytes on P-384"),
        ),
        (
            edited(&|j| {
                j["keys"][1].as_object_mut().unwrap().remove("kid");
            }),
            format!("{at}: key 2: no `kid`"),
        ),
        (
            edited(&|j| j["keys"][1]["d"] = "!!".into()),
            format!("{at}: key 2 (kid {kid1:?}): `d` is not base64url"),
        ),
        (
            edited(&|j| {
                j["keys"][0].as_object_mut().unwrap().remove("d");
            }),
            format!("{at}: the key {kid0:?} has \"sign\" in key_ops but no private part"),
        ),
        (
            edited(&|j| j["keys"][1]["kid"] = kid0.clone().into()),
            format!("{at}: duplicate kid {kid0}"),
        ),
    ];
    for (got, expected) in cases {
        assert_eq!(got, expected);
    }
    let err = KeySet::load(dir.path("missing.json")).unwrap_err();
    assert!(
        matches!(&err, KeyError::Read { error, .. } if error.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    // The failed loads left the saved file as it was.
    assert!(KeySet::load(&good).is_ok());
}

/// A save into a directory that does not exist fails, naming the file.
#[test]
fn a_failed_save_names_the_file() {
    let dir = TempDir::new("save-error");
    let path = dir.path("missing/keys.json");
    let ring = KeyRing::new(KeySet::new(hs256()).unwrap());
    let err = ring.save(&path).unwrap_err();
    assert!(matches!(&err, KeyError::Write { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot write {}: ", path.display())),
        "{err}"
    );
}
