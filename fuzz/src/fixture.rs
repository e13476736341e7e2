//! The one validator every target uses, the same in every process so AFL++
//! sees stable coverage: an HS256 key from a fixed secret (the signer), an
//! ES256 public key from a fixed PEM (a second `kid`, for algorithm confusion),
//! an issuer and an audience, and a clock stopped at [`NOW`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use auth_core::{Algorithm, Clock, Key, KeySet, TokenAuthority, Validator};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};

/// The HS256 secret the fixture signs and verifies with.
pub const SECRET: &[u8] = b"auth-fuzz fixed HS256 secret, 32+ bytes";
/// A secret that is not the fixture's.
const WRONG_SECRET: &[u8] = b"not the fixture's secret, also 32+ bytes";
/// The ES256 public key the fixture verifies with (it signs nothing).
pub const ES256_PUBLIC_PEM: &str = include_str!("../keys/es256-public.pem");
/// The fixture's clock, seconds since the epoch.
pub const NOW: u64 = 1_800_000_000;
/// The configured leeway, seconds.
pub const LEEWAY: u64 = 5;
/// The configured issuer.
pub const ISSUER: &str = "https://issuer.example";
/// The configured audience.
pub const AUDIENCE: &str = "api";

/// A clock stopped at [`NOW`] (auth-core's `ManualClock` needs its `testing`
/// feature, which builds its test suites too; this needs nothing).
#[derive(Debug)]
struct Stopped;

impl Clock for Stopped {
    fn now(&self) -> u64 {
        NOW
    }
}

/// The validator and the keys' ids.
#[derive(Debug)]
pub struct Fixture {
    /// The authority (its validator is what the targets test).
    pub authority: TokenAuthority,
    /// The HS256 key's `kid`.
    pub hs_kid: String,
    /// The ES256 key's `kid`.
    pub es_kid: String,
    /// jsonwebtoken's own key for the oracle.
    pub decoding: DecodingKey,
}

impl Fixture {
    /// The validator under test.
    pub fn validator(&self) -> &Validator {
        self.authority.validator()
    }
}

/// The fixture, built once per process. Call it before the fuzz loop, so the
/// first iteration's coverage is no different from the others'.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let hs = Key::hmac(Algorithm::HS256, SECRET).expect("fixed HS256 secret");
        let es = Key::public_from_pem(Algorithm::ES256, ES256_PUBLIC_PEM.as_bytes())
            .expect("fixed ES256 public key");
        let (hs_kid, es_kid) = (hs.kid().to_owned(), es.kid().to_owned());
        let keys = KeySet::new(hs)
            .and_then(|k| k.with_key(es))
            .expect("key set");
        let authority = TokenAuthority::builder(keys)
            .clock(Arc::new(Stopped))
            .leeway(Duration::from_secs(LEEWAY))
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .expect("authority");
        Fixture {
            authority,
            hs_kid,
            es_kid,
            decoding: DecodingKey::from_secret(SECRET),
        }
    })
}

/// How [`sign`] signs a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// HS256 with the fixture's secret: the only valid signature.
    Valid,
    /// HS256 keyed with the ES256 public key's PEM (algorithm confusion).
    Confused,
    /// No signature at all (as `alg: none` would have it).
    Empty,
    /// HS256 with another secret.
    WrongSecret,
}

impl Sign {
    /// The mode a structured input's first byte selects: `c`, `n`, `w`, or
    /// anything else for a valid signature (so most mutations stay signed).
    pub fn from_byte(b: u8) -> Sign {
        match b {
            b'c' => Sign::Confused,
            b'n' => Sign::Empty,
            b'w' => Sign::WrongSecret,
            _ => Sign::Valid,
        }
    }
}

/// A compact JWS of these header and payload bytes (any bytes, JSON or not).
pub fn sign(header: &[u8], payload: &[u8], how: Sign) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let hmac = |secret: &[u8]| {
        jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(secret),
            jsonwebtoken::Algorithm::HS256,
        )
        .expect("HMAC signing cannot fail")
    };
    let signature = match how {
        Sign::Valid => hmac(SECRET),
        Sign::Confused => hmac(ES256_PUBLIC_PEM.as_bytes()),
        Sign::Empty => String::new(),
        Sign::WrongSecret => hmac(WRONG_SECRET),
    };
    format!("{message}.{signature}")
}
