//! DPoP (RFC 9449): proofs that a request comes from the holder of a
//! private key, so that a token bound to that key is useless to whoever
//! copies it.
//!
//! A client signs a short JWT, the *proof*, for each request with its own
//! key pair: header `typ: dpop+jwt`, the signing `alg` and the public `jwk`;
//! claims `jti` (unique), `htm` and `htu` (the request's method and URL),
//! `iat`, and `ath` (the hash of the access token it accompanies).
//! [`DpopVerifier::verify`] checks one exactly as RFC 9449 §4.3 asks, and
//! answers the key's RFC 7638 thumbprint (`jkt`), which bound tokens carry
//! as `cnf.jkt`.
//!
//! ```
//! use std::sync::Arc;
//! use auth_core::dpop::{DpopError, DpopVerifier, MemoryReplayCache, ProofRequest};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let verifier = DpopVerifier::new(Arc::new(MemoryReplayCache::default()));
//! let request = ProofRequest::new("POST", "https://api.example/auth/login");
//! let refused = verifier.verify("not.a.proof", &request).await.unwrap_err();
//! assert!(matches!(refused, DpopError::Malformed(_)));
//! assert_eq!(refused.reason(), "malformed");
//! # }
//! ```
//!
//! Defaults, each a constant here: proofs of [`DEFAULT_DPOP_ALGORITHMS`]
//! (asymmetric only: `none` and HMAC never), `iat` within
//! [`DEFAULT_PROOF_MAX_AGE`] of now either way plus
//! [`DEFAULT_PROOF_LEEWAY`], at most [`MAX_PROOF_BYTES`] bytes, a `jti` of
//! at most [`MAX_JTI_BYTES`]. Each proof is accepted once: its key's
//! thumbprint and `jti` go into a [`ReplayCache`] for as long as its `iat`
//! would be accepted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::claims::Confirmation;
use crate::clock::{Clock, SystemClock};
use crate::crypto;
use crate::error::StoreError;
use crate::store::BoxFuture;

mod nonce;

pub use nonce::{DEFAULT_NONCE_LIFETIME, DpopNonces, MIN_NONCE_SECRET_BYTES, NONCE_LEN};

/// The `typ` of a DPoP proof.
pub const DPOP_JWT_TYPE: &str = "dpop+jwt";
/// How far a proof's `iat` may lie from now, either way (before the
/// leeway): 60 s.
pub const DEFAULT_PROOF_MAX_AGE: Duration = Duration::from_secs(60);
/// Clock skew allowed on top of the proof window: 5 s.
pub const DEFAULT_PROOF_LEEWAY: Duration = Duration::from_secs(5);
/// The longest proof read: 8 KiB, room for an RSA-4096 `jwk`.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The longest `jti` accepted: 256 bytes (a UUID is 36).
pub const MAX_JTI_BYTES: usize = 256;
/// The smallest RSA modulus accepted in a proof's `jwk`: 2048 bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted in a proof's `jwk`: 4096 bits (a
/// larger one costs the server more to verify than any client needs).
pub const MAX_RSA_BITS: usize = 4096;
/// The proof algorithms accepted by default: ECDSA P-256 and P-384, Ed25519,
/// RSA-PSS and RSA PKCS#1 v1.5 with SHA-256.
pub const DEFAULT_DPOP_ALGORITHMS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::RS256,
];

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method (`htm`), as sent: `GET`, `POST`...
    pub method: &'a str,
    /// The URL the client sent the request to (`htu`): scheme, host, port
    /// and path; a query or fragment is ignored. Behind a proxy, the public
    /// URL, not the one the proxy forwards to. A scheme-relative URL
    /// (`//host/path`, for a server that cannot know its public scheme)
    /// accepts a proof for either `https` or `http`.
    pub url: &'a str,
    /// The access token the proof comes with, whose hash `ath` must carry;
    /// `None` for proofs without one (login, refresh).
    pub access_token: Option<&'a str>,
}

impl<'a> ProofRequest<'a> {
    /// A request without an access token.
    pub fn new(method: &'a str, url: &'a str) -> Self {
        ProofRequest {
            method,
            url,
            access_token: None,
        }
    }

    /// The access token the proof must be bound to (`ath`).
    pub fn with_access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }
}

/// A verified proof.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DpopProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's public key,
    /// base64url: what a bound token carries as `cnf.jkt`.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: u64,
    /// The proof's signature algorithm.
    pub alg: Algorithm,
}

// Here, beside the proofs it is compared with (claims know no crypto).
impl Confirmation {
    /// Whether `jkt` (a verified proof's
    /// [`DpopProof::jkt`]) is the thumbprint
    /// of the key this token is bound to, compared in constant time.
    ///
    /// ```
    /// use auth_core::Confirmation;
    ///
    /// let cnf = Confirmation { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into() };
    /// assert!(cnf.is_key("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
    /// assert!(!cnf.is_key("another key's thumbprint"));
    /// ```
    pub fn is_key(&self, jkt: &str) -> bool {
        crypto::constant_time_eq(self.jkt.as_bytes(), jkt.as_bytes())
    }
}

pub use crate::error::DpopError;
pub use crate::store::ReplayCache;

/// The default most entries of a [`MemoryReplayCache`]: 1 000 000. An
/// entry is a 43-byte digest and an expiry, about 100 bytes with the map's
/// own: about 100 MiB at worst. Entries live at most 75 s (the window, and
/// the leeway either side), so the cache fills only past about 13 000
/// recorded proofs a second; proofs are recorded only for requests that
/// proved something else (credentials, a bound token).
pub const DEFAULT_REPLAY_CAPACITY: usize = 1_000_000;

/// A [`ReplayCache`] in this process's memory: a sharded map from key to
/// expiry, swept of expired entries as it grows. Past its capacity (after
/// a sweep) it refuses new proofs with [`StoreError::Unavailable`] (503)
/// rather than forget a live one: a flood of proofs degrades service, it
/// never lets a replay through.
#[derive(Debug)]
pub struct MemoryReplayCache {
    seen: DashMap<Box<str>, u64>,
    capacity: usize,
    next_sweep: AtomicUsize,
    /// When a sweep last found the cache full (seconds): until the next
    /// second, a full cache refuses without sweeping again.
    full_at: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        MemoryReplayCache::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl MemoryReplayCache {
    /// A cache of at most `capacity` live entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        MemoryReplayCache {
            seen: DashMap::new(),
            capacity,
            next_sweep: AtomicUsize::new(capacity.min(4096)),
            full_at: AtomicU64::new(0),
            clock: Arc::new(SystemClock),
        }
    }

    /// The clock that expires entries (the system clock by default).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How many entries are held (expired ones included until a sweep).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records `key` until `until`: `Ok(true)` the first time.
    pub fn insert(&self, key: &str, until: u64) -> Result<bool, StoreError> {
        let now = self.clock.now();
        if self.seen.len() >= self.next_sweep.load(Ordering::Relaxed) {
            let full = || StoreError::Unavailable("the DPoP replay cache is full".into());
            // Full a moment ago: refuse without sweeping again, so a flood
            // costs one sweep a second, not one per request.
            if self.seen.len() >= self.capacity && self.full_at.load(Ordering::Relaxed) == now {
                return Err(full());
            }
            self.seen.retain(|_, expiry| *expiry > now);
            // The next sweep when the map has doubled (amortized O(1)).
            let next = (self.seen.len() * 2).clamp(4096.min(self.capacity), self.capacity);
            self.next_sweep.store(next, Ordering::Relaxed);
            if self.seen.len() >= self.capacity {
                self.full_at.store(now, Ordering::Relaxed);
                return Err(full());
            }
        }
        Ok(match self.seen.entry(key.into()) {
            Entry::Occupied(mut e) => {
                if *e.get() > now {
                    false
                } else {
                    e.insert(until);
                    true
                }
            }
            Entry::Vacant(e) => {
                e.insert(until);
                true
            }
        })
    }
}

impl ReplayCache for MemoryReplayCache {
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(self.insert(key, until)))
    }
}

/// Checks DPoP proofs; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct DpopVerifier {
    algorithms: Vec<Algorithm>,
    max_age: Duration,
    leeway: Duration,
    replay: Arc<dyn ReplayCache>,
    clock: Arc<dyn Clock>,
    nonces: Option<DpopNonces>,
}

impl DpopVerifier {
    /// A verifier with the defaults, remembering proofs in `replay`.
    pub fn new(replay: Arc<dyn ReplayCache>) -> Self {
        DpopVerifier {
            algorithms: DEFAULT_DPOP_ALGORITHMS.to_vec(),
            max_age: DEFAULT_PROOF_MAX_AGE,
            leeway: DEFAULT_PROOF_LEEWAY,
            replay,
            clock: Arc::new(SystemClock),
            nonces: None,
        }
    }

    /// The proof algorithms accepted; HMAC ones are dropped (a proof must
    /// be signed by a key only the client holds).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms
            .into_iter()
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        self
    }

    /// How far `iat` may lie from now, either way (default
    /// [`DEFAULT_PROOF_MAX_AGE`]).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The clock skew allowed on top (default [`DEFAULT_PROOF_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The clock (the system clock by default).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Requires a server nonce (RFC 9449 §8, §9) in every proof: one that
    /// `nonces` gave out within its lifetime. A proof without it, or with a
    /// stale or foreign one, is refused with [`DpopError::UseNonce`]
    /// (`use_dpop_nonce`), and the answer carries a fresh nonce in a
    /// `DPoP-Nonce` header for the client to sign again with. Off by
    /// default: the `iat` window and the replay cache already refuse a
    /// proof used twice or late; nonces also refuse one signed ahead of
    /// time, at the cost of one more round trip per client and lifetime.
    pub fn nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// The server nonces proofs must carry, when [required](Self::nonces).
    pub fn server_nonces(&self) -> Option<&DpopNonces> {
        self.nonces.as_ref()
    }

    /// The accepted algorithms, for a `WWW-Authenticate: DPoP algs="..."`
    /// challenge.
    pub fn accepted_algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// Checks `proof` for `request` and records it as used
    /// ([`check`](Self::check), then [`record`](Self::record)).
    pub async fn verify(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
    ) -> Result<DpopProof, DpopError> {
        let checked = self.check(proof, request)?;
        self.record(&checked).await?;
        Ok(checked)
    }

    /// Records a [checked](Self::check) proof as used: [`DpopError::Replayed`]
    /// when it was before. Record a proof once the request it came with has
    /// shown what it must (the credentials of a login, the token bound to
    /// the proof's key): a request that proves nothing else must not fill
    /// the cache. The entry is a fixed-size digest of the key's thumbprint
    /// and the `jti`, kept until the proof's `iat` could no longer pass.
    pub async fn record(&self, proof: &DpopProof) -> Result<(), DpopError> {
        let window = self.max_age.saturating_add(self.leeway).as_secs();
        let digest = crypto::sha256(format!("{}:{}", proof.jkt, proof.jti).as_bytes());
        let key = URL_SAFE_NO_PAD.encode(digest);
        let until = proof.iat.saturating_add(window).saturating_add(1);
        match self.replay.first_use(&key, until).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DpopError::Replayed),
            Err(e) => Err(DpopError::Unavailable(e)),
        }
    }

    /// Everything but the replay check: no side effect. Follow with
    /// [`record`](Self::record), or use [`verify`](Self::verify).
    pub fn check(&self, proof: &str, request: &ProofRequest<'_>) -> Result<DpopProof, DpopError> {
        if proof.len() > MAX_PROOF_BYTES {
            return Err(DpopError::Malformed("longer than 8 KiB"));
        }
        let mut parts = proof.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DpopError::Malformed("not a compact JWS"));
        };
        let header = json_object(header_b64, "the header is not a base64url JSON object")?;
        let typ = header.get("typ").and_then(Value::as_str);
        if !typ.is_some_and(|t| t.eq_ignore_ascii_case(DPOP_JWT_TYPE)) {
            return Err(DpopError::Type);
        }
        let alg_name = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(DpopError::Malformed("no alg"))?;
        let alg: Algorithm = alg_name
            .parse()
            .map_err(|_| DpopError::Algorithm(alg_name.chars().take(16).collect()))?;
        if !self.algorithms.contains(&alg) {
            return Err(DpopError::Algorithm(alg_name.to_owned()));
        }
        let jwk_value = header
            .get("jwk")
            .ok_or(DpopError::Key("no jwk in the header"))?;
        let jwk = public_jwk(jwk_value, alg)?;
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk)
            .map_err(|_| DpopError::Key("not a usable public key"))?;
        let message = &proof[..header_b64.len() + 1 + claims_b64.len()];
        crypto::install_provider();
        let valid = jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg.to_jwt())
            .unwrap_or(false);
        if !valid {
            return Err(DpopError::Signature);
        }
        let claims = json_object(claims_b64, "the claims are not a base64url JSON object")?;
        let text = |name: &'static str| claims.get(name).and_then(Value::as_str);
        let jti = text("jti").ok_or(DpopError::Malformed("no jti"))?;
        if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
            return Err(DpopError::Malformed(
                "jti is empty or longer than 256 bytes",
            ));
        }
        if text("htm") != Some(request.method) {
            return Err(DpopError::Method);
        }
        let htu = text("htu").and_then(normalized_url).ok_or(DpopError::Url)?;
        let same = match request.url.strip_prefix("//") {
            // Scheme-relative: the server does not know its public scheme.
            Some(rest) => ["https://", "http://"]
                .iter()
                .any(|scheme| normalized_url(&format!("{scheme}{rest}")).as_ref() == Some(&htu)),
            None => normalized_url(request.url).as_ref() == Some(&htu),
        };
        if !same {
            return Err(DpopError::Url);
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or(DpopError::Malformed("iat is not a number of seconds"))?;
        let now = self.clock.now();
        // Past: the window and the leeway; future: the leeway alone (a
        // proof dated ahead would be kept in the replay cache longer).
        let window = self.max_age.saturating_add(self.leeway).as_secs();
        if iat > now.saturating_add(self.leeway.as_secs()) || now.saturating_sub(iat) > window {
            return Err(DpopError::Time);
        }
        if let Some(token) = request.access_token {
            let expected = URL_SAFE_NO_PAD.encode(crypto::sha256(token.as_bytes()));
            let ath = text("ath").ok_or(DpopError::AccessTokenHash)?;
            if !crypto::constant_time_eq(ath.as_bytes(), expected.as_bytes()) {
                return Err(DpopError::AccessTokenHash);
            }
        }
        // Last: a client asked for a nonce can expect its next proof, with
        // the nonce, to pass.
        if let Some(nonces) = &self.nonces
            && !text("nonce").is_some_and(|n| nonces.accepts(n))
        {
            return Err(DpopError::UseNonce);
        }
        Ok(DpopProof {
            jkt: thumbprint(&jwk),
            jti: jti.to_owned(),
            iat,
            alg,
        })
    }
}

/// The `ath` of `access_token`: base64url(SHA-256(token)).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(crypto::sha256(access_token.as_bytes()))
}

fn json_object(b64: &str, what: &'static str) -> Result<Map<String, Value>, DpopError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| DpopError::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DpopError::Malformed(what)),
    }
}

/// The header's `jwk`, checked: a public key (no private member) of the
/// family and curve `alg` signs with, RSA of at least [`MIN_RSA_BITS`].
fn public_jwk(value: &Value, alg: Algorithm) -> Result<Jwk, DpopError> {
    let object = value
        .as_object()
        .ok_or(DpopError::Key("jwk is not an object"))?;
    const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    if PRIVATE.iter().any(|m| object.contains_key(*m)) {
        return Err(DpopError::Key("the jwk holds private key material"));
    }
    // Every key member must be base64url: the thumbprint is built from them.
    for member in ["x", "y", "n", "e"] {
        if let Some(v) = object.get(member) {
            let ok = v.as_str().is_some_and(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
            if !ok {
                return Err(DpopError::Key("a key member is not base64url"));
            }
        }
    }
    let jwk: Jwk =
        serde_json::from_value(value.clone()).map_err(|_| DpopError::Key("not a JWK"))?;
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => p.curve == EllipticCurve::P384,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            if p.curve == EllipticCurve::Ed25519 && weak_ed25519(&p.x) {
                return Err(DpopError::Key(
                    "an Ed25519 key of small order or not canonical",
                ));
            }
            p.curve == EllipticCurve::Ed25519
        }
        (
            AlgorithmParameters::RSA(p),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => {
            let n = URL_SAFE_NO_PAD.decode(&p.n).unwrap_or_default();
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant * 8 < MIN_RSA_BITS {
                return Err(DpopError::Key("an RSA key shorter than 2048 bits"));
            }
            if significant * 8 > MAX_RSA_BITS {
                return Err(DpopError::Key("an RSA key longer than 4096 bits"));
            }
            true
        }
        _ => false,
    };
    if !fits {
        return Err(DpopError::Key("the key does not fit alg"));
    }
    Ok(jwk)
}

/// The thumbprint of a public JWK given as JSON (for the test key).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn thumbprint_of(jwk: &Value) -> String {
    serde_json::from_value::<Jwk>(jwk.clone()).map_or_else(|_| String::new(), |j| thumbprint(&j))
}

/// Whether an Ed25519 public key (base64url `x`) is unusable: not 32
/// bytes, a point of small order (with which a signature anyone can make
/// verifies), or a `y` not reduced mod p, with the sign bit ignored
/// (libsodium's `has_small_order` list).
fn weak_ed25519(x: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(x) else {
        return true;
    };
    let Ok(mut y) = <[u8; 32]>::try_from(bytes.as_slice()) else {
        return true;
    };
    y[31] &= 0x7f;
    const ORDER_8_A: [u8; 32] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    const ORDER_8_B: [u8; 32] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut p_minus_1 = [0xffu8; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    // y >= p = 2^255 - 19 is not canonical (p and p + 1 among them).
    let unreduced = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed;
    unreduced || [[0u8; 32], one, ORDER_8_A, ORDER_8_B, p_minus_1].contains(&y)
}

/// The RFC 7638 SHA-256 thumbprint of a checked public JWK: the required
/// members in lexicographic order, no whitespace, hashed, base64url.
fn thumbprint(jwk: &Jwk) -> String {
    let canonical = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => {
            let crv = match p.curve {
                EllipticCurve::P256 => "P-256",
                EllipticCurve::P384 => "P-384",
                _ => "P-521",
            };
            format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                p.x, p.y
            )
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, p.x)
        }
        AlgorithmParameters::RSA(p) => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, p.e, p.n),
        // Refused by `public_jwk` before a thumbprint is asked for.
        _ => String::new(),
    };
    URL_SAFE_NO_PAD.encode(crypto::sha256(canonical.as_bytes()))
}

/// `scheme://host[:port]/path` of an `http(s)` URL, for comparing `htu`
/// (RFC 9449 §4.3, RFC 3986 §6.2.2 and §6.2.3): scheme and host in lower
/// case, the default port dropped, an empty path as `/`, query and
/// fragment gone. `None` for anything else (user info included).
pub fn normalized_url(url: &str) -> Option<String> {
    let url = url.split('#').next()?.split('?').next()?;
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_after_normalization() {
        let n = |u| normalized_url(u);
        assert_eq!(
            n("HTTPS://Server.Example:443/a?x=1#f"),
            n("https://server.example/a")
        );
        assert_eq!(n("http://h"), n("http://h:80/"));
        assert_ne!(n("http://h:8080/"), n("http://h/"));
        assert_ne!(n("https://h/a"), n("https://h/A"));
        assert_eq!(n("ftp://h/"), None);
        assert_eq!(n("https://user@h/"), None);
        assert_eq!(n("https:///path"), None);
    }

    #[test]
    fn the_memory_cache_refuses_a_second_use_until_expiry() {
        let clock = Arc::new(crate::clock::ManualClock::new(1000));
        let cache = MemoryReplayCache::new(10).clock(clock.clone());
        assert!(cache.insert("k", 1010).unwrap());
        assert!(!cache.insert("k", 1010).unwrap());
        clock.advance(Duration::from_secs(10));
        assert!(
            cache.insert("k", 1020).unwrap(),
            "expired entries free their key"
        );
        // Full of live entries: refused, never forgotten.
        for i in 0..9 {
            assert!(cache.insert(&format!("n{i}"), 2000).unwrap());
        }
        assert!(cache.insert("one-too-many", 2000).is_err());
        assert!(!cache.insert("k", 2000).unwrap_or(false));
    }
}
