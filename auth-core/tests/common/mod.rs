//! Helpers shared by the integration tests of auth-core.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use auth_core::store::{MemoryStore, Store};
use auth_core::{Algorithm, AuthorityBuilder, Key, KeySet, ManualClock, TokenAuthority};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
pub use auth_core::Clock;

pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roles {
    pub roles: Vec<String>,
}

pub fn roles(r: &[&str]) -> Roles {
    Roles {
        roles: r.iter().map(|s| s.to_string()).collect(),
    }
}

pub struct Fixture {
    pub authority: TokenAuthority,
    pub clock: Arc<ManualClock>,
    pub store: MemoryStore,
}

impl Fixture {
    /// A login of `subject` with no roles.
    pub async fn login(&self, subject: &str) -> auth_core::TokenPair {
        self.authority
            .issue(subject, &roles(&[]))
            .await
            .expect("issue")
    }

    /// A logout presenting these tokens.
    pub async fn logout(
        &self,
        refresh_token: Option<&str>,
        access_token: Option<&str>,
    ) -> auth_core::LogoutOutcome {
        self.authority
            .logout(auth_core::LogoutTokens {
                refresh_token,
                access_token,
            })
            .await
            .expect("logout")
    }
}

pub fn hs256() -> Key {
    Key::hmac(Algorithm::HS256, SECRET).expect("hmac key")
}

/// An authority on a manual clock and an inspectable memory store.
pub fn fixture_with(
    key: Key,
    configure: impl FnOnce(AuthorityBuilder) -> AuthorityBuilder,
) -> Fixture {
    let clock = Arc::new(ManualClock::starting_now());
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .purge_interval(None)
        .build();
    let builder = TokenAuthority::builder(KeySet::new(key).expect("key set"))
        .clock(clock.clone())
        .store(Arc::new(store.clone()) as Arc<dyn Store>);
    let authority = configure(builder).build().expect("authority");
    Fixture {
        authority,
        clock,
        store,
    }
}

pub fn fixture() -> Fixture {
    fixture_with(hs256(), |b| b.leeway(Duration::from_secs(5)))
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

/// Splits a token into its decoded header and payload JSON and its signature.
pub fn parts(token: &str) -> (serde_json::Value, serde_json::Value, String) {
    let mut it = token.split('.');
    let h = serde_json::from_slice(&unb64(it.next().expect("header"))).expect("header json");
    let p = serde_json::from_slice(&unb64(it.next().expect("payload"))).expect("payload json");
    (h, p, it.next().expect("signature").to_owned())
}

/// Builds a token from header and payload JSON, HMAC-signed with `secret`.
pub fn forge_hs256(
    header: &serde_json::Value,
    payload: &serde_json::Value,
    secret: &[u8],
) -> String {
    let message = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).expect("json")),
        b64(&serde_json::to_vec(payload).expect("json"))
    );
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("sign");
    format!("{message}.{sig}")
}
