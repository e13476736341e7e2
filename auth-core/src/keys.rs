//! Signing and verification keys, each pinned to one algorithm.
//!
//! A [`Key`] is a key plus the one [`Algorithm`] it may be used with and a
//! `kid` derived from the key itself (the RFC 7638 thumbprint of its JWK), so a
//! server restarted with the same key keeps accepting the tokens it issued
//! before. A [`KeySet`] holds one active signing key and any number of
//! verification keys, looked up by `kid`: add the new key as the signer, keep
//! the old one for verification until its tokens expire, and nobody is logged
//! out by a key rotation.
//!
//! ```
//! use auth_core::{Algorithm, Key, KeySet};
//!
//! let old = Key::hmac(Algorithm::HS256, b"an-old-secret-of-at-least-32-bytes!!").unwrap();
//! let new = Key::generate(Algorithm::EdDSA).unwrap();
//! let keys = KeySet::new(new.clone()).unwrap().with_key(old.clone()).unwrap();
//! assert_eq!(keys.signing_key().unwrap().kid(), new.kid());
//! assert!(keys.get(old.kid()).is_some());
//! // Only public keys are published; the HMAC secret never is.
//! assert_eq!(keys.jwks().keys.len(), 1);
//!
//! // Secrets shorter than the hash output are refused.
//! assert!(Key::hmac(Algorithm::HS256, b"short").is_err());
//! ```

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{DecodingKey, EncodingKey};

use crate::algorithm::{Algorithm, Family};
use crate::error::KeyError;
use crate::sec1::Curve;
use crate::{crypto, der, files, key_doc};

/// A key pinned to one algorithm, with its `kid`. Cheap to clone.
///
/// A key comes from a PEM or DER document ([`from_pem`](Key::from_pem):
/// PKCS#8, SEC1 or PKCS#1 private keys; [`public_from_pem`](Key::public_from_pem):
/// public keys that only verify), a file ([`from_pem_file`](Key::from_pem_file)),
/// a JWK ([`from_jwk`](Key::from_jwk)), a raw HMAC secret
/// ([`hmac`](Key::hmac)), or is [generated](Key::generate). Its `kid` is the
/// RFC 7638 thumbprint of its public key (a keyed hash of an HMAC secret):
/// the same key loaded after a restart has the same `kid`, and the tokens
/// it signed before still verify. A key that cannot be used is refused
/// when it is built, saying why in plain words.
///
/// ```
/// use auth_core::{Algorithm, Key, KeySet};
///
/// // What `openssl genpkey -algorithm ed25519` writes. EC and Ed25519 keys
/// // say which algorithm they sign with; RSA keys are given one.
/// let pem = "-----BEGIN PRIVATE KEY-----
/// MC4CAQAwBQYDK2VwBCIEINATVs45Z7Zv96zD1SXrE9+f0OBBhAEtu9JjrHOLavoC
/// -----END PRIVATE KEY-----";
/// let signing = Key::from_pem_auto(pem.as_bytes()).unwrap();
/// assert_eq!(signing.algorithm(), Algorithm::EdDSA);
/// assert_eq!(signing.kid(), Key::from_pem(Algorithm::EdDSA, pem.as_bytes()).unwrap().kid());
///
/// // Its public half, as another service reads it from the JWKS: same kid,
/// // verifies only.
/// let public = Key::from_jwk(&signing.public_jwk().unwrap()).unwrap();
/// assert_eq!(public.kid(), signing.kid());
/// assert!(!public.can_sign());
///
/// // An authority signs with one key and verifies with others.
/// let other = Key::generate(Algorithm::ES256).unwrap();
/// let keys = KeySet::new(signing).unwrap().with_key(other).unwrap();
/// assert_eq!(keys.keys().len(), 2);
///
/// // What cannot be used is said plainly.
/// let err = Key::from_pem(Algorithm::ES256, pem.as_bytes()).unwrap_err();
/// assert_eq!(err.to_string(), "the key is an Ed25519 key, but ES256 needs a P-256 EC key");
/// let err = Key::from_pem(Algorithm::ES256, b"secret").unwrap_err();
/// assert_eq!(err.to_string(), "not a PEM file: no `-----BEGIN` line");
/// ```
#[derive(Clone)]
pub struct Key(Arc<KeyInner>);

#[derive(Clone)]
struct KeyInner {
    kid: String,
    alg: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    /// The verification key, parsed once.
    verifier: crypto::Verifier,
    /// The public JWK (asymmetric keys only); never holds private material.
    public_jwk: Option<Jwk>,
    /// What the key verifies with, whatever its `kid`: the RFC 7638
    /// thumbprint of a public key, a keyed function of an HMAC secret (like
    /// its `kid`, never a plain hash).
    material: Box<str>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.0.kid)
            .field("alg", &self.0.alg)
            .field("can_sign", &self.can_sign())
            .finish_non_exhaustive()
    }
}

impl Key {
    /// An HMAC key from a raw secret. The secret must be at least as long as
    /// the hash output: 32 bytes for HS256, 48 for HS384, 64 for HS512.
    pub fn hmac(alg: Algorithm, secret: impl AsRef<[u8]>) -> Result<Key, KeyError> {
        crypto::install_provider();
        let secret = secret.as_ref();
        if alg.family() != Family::Hmac {
            return Err(KeyError::WrongAlgorithm {
                alg,
                reason: "a raw secret only makes an HMAC key",
            });
        }
        if secret.len() < alg.min_secret_len() {
            return Err(KeyError::SecretTooShort {
                alg,
                min: alg.min_secret_len(),
                len: secret.len(),
            });
        }
        let encoding = EncodingKey::from_secret(secret);
        let kid = hmac_kid(&encoding, alg)?;
        let material = hmac_label(&encoding, alg, "auth-core key material v1")?.into();
        Ok(Key(Arc::new(KeyInner {
            kid,
            alg,
            encoding: Some(encoding),
            decoding: DecodingKey::from_secret(secret),
            verifier: crypto::Verifier::hmac(alg, secret),
            public_jwk: None,
            material,
        })))
    }

    /// A fresh random key: a secret of the hash output size for HMAC, a P-256
    /// or P-384 key for ES256/ES384, an Ed25519 key for EdDSA, a 2048-bit RSA
    /// key for RS*/PS* (this one takes a noticeable fraction of a second).
    pub fn generate(alg: Algorithm) -> Result<Key, KeyError> {
        crypto::install_provider();
        if alg.is_symmetric() {
            let mut secret = vec![0u8; alg.min_secret_len()];
            crypto::fill_random(&mut secret)?;
            let key = Key::hmac(alg, &secret);
            secret.iter_mut().for_each(|b| *b = 0);
            return key;
        }
        Key::from_pem(alg, crypto::generate_private_pem(alg)?.as_bytes())
    }

    /// A signing key from a PEM private key: PKCS#8 (`PRIVATE KEY`, what
    /// `openssl genpkey` writes), SEC1 (`EC PRIVATE KEY`, what `openssl
    /// ecparam -genkey` writes) or PKCS#1 (`RSA PRIVATE KEY`). Certificates
    /// and EC parameters in the same file are skipped. Fails, saying what
    /// the file holds and what `alg` needs, on a key of another type or
    /// curve, a public key, a certificate alone, an encrypted key (decrypt
    /// it first), or text that is not PEM.
    ///
    /// ```
    /// use auth_core::{Algorithm, Key, KeyError};
    ///
    /// let pem = "-----BEGIN EC PRIVATE KEY-----
    /// MHcCAQEEIHKGItJsKzMP24hkAi/EKFKMpZYsk+xcOfXkCcpM5l1DoAoGCCqGSM49
    /// AwEHoUQDQgAEjm89EN4KoTfwuWiJMCjYcV0x26qcKyJhdwHdd9iaWrDKHGuw5F3V
    /// 5+P/8aNGvIV2vIsfYxSGV/gA9l0O9Tuoqg==
    /// -----END EC PRIVATE KEY-----";
    /// let key = Key::from_pem(Algorithm::ES256, pem.as_bytes()).unwrap();
    /// assert!(key.can_sign());
    ///
    /// // A P-256 key does not sign ES384.
    /// let err = Key::from_pem(Algorithm::ES384, pem.as_bytes()).unwrap_err();
    /// assert!(matches!(err, KeyError::Mismatch { .. }));
    /// assert_eq!(err.to_string(), "the key is a P-256 EC key, but ES384 needs a P-384 EC key");
    /// ```
    pub fn from_pem(alg: Algorithm, pem: &[u8]) -> Result<Key, KeyError> {
        crypto::install_provider();
        if alg.family() == Family::Hmac {
            return Err(hmac_from_document(alg));
        }
        Key::from_private(alg, key_doc::private_from_pem(pem)?)
    }

    /// A signing key from a PEM private key (the forms of
    /// [`from_pem`](Key::from_pem)), pinned to the algorithm the key itself
    /// names: ES256 for a P-256 key, ES384 for P-384, EdDSA for Ed25519. An
    /// RSA key signs with any of RS256…PS512, so it is refused: choose with
    /// [`from_pem`](Key::from_pem).
    ///
    /// ```
    /// use auth_core::{Algorithm, Key};
    ///
    /// let pem = "-----BEGIN PRIVATE KEY-----
    /// MC4CAQAwBQYDK2VwBCIEINATVs45Z7Zv96zD1SXrE9+f0OBBhAEtu9JjrHOLavoC
    /// -----END PRIVATE KEY-----";
    /// let key = Key::from_pem_auto(pem.as_bytes()).unwrap();
    /// assert_eq!(key.algorithm(), Algorithm::EdDSA);
    /// ```
    pub fn from_pem_auto(pem: &[u8]) -> Result<Key, KeyError> {
        crypto::install_provider();
        let private = key_doc::private_from_pem(pem)?;
        let alg = private.kind.implied_algorithm()?;
        Key::from_private(alg, private)
    }

    /// A signing key from a PEM file: [`from_pem`](Key::from_pem) with
    /// `Some(alg)` (or an `Algorithm`), [`from_pem_auto`](Key::from_pem_auto)
    /// with `None`. Every error names the file. A file over 1 MiB is not a
    /// key file: it is refused, and read no further.
    ///
    /// ```
    /// use auth_core::{Algorithm, Key, KeyError};
    ///
    /// let err = Key::from_pem_file(Algorithm::RS256, "/nonexistent/key.pem").unwrap_err();
    /// assert!(matches!(&err, KeyError::Read { error, .. } if error.kind() == std::io::ErrorKind::NotFound));
    /// assert!(err.to_string().starts_with("cannot read /nonexistent/key.pem: "));
    /// ```
    pub fn from_pem_file(
        alg: impl Into<Option<Algorithm>>,
        path: impl AsRef<Path>,
    ) -> Result<Key, KeyError> {
        let path = path.as_ref();
        let mut pem = files::read(path)?;
        let key = match alg.into() {
            Some(alg) => Key::from_pem(alg, &pem),
            None => Key::from_pem_auto(&pem),
        };
        pem.iter_mut().for_each(|b| *b = 0);
        key.map_err(|error| KeyError::File {
            path: path.to_owned(),
            error: Box::new(error),
        })
    }

    /// A signing key from a DER private key: PKCS#8, SEC1 or PKCS#1 (told
    /// apart by their structure).
    pub fn from_der(alg: Algorithm, der: &[u8]) -> Result<Key, KeyError> {
        crypto::install_provider();
        if alg.family() == Family::Hmac {
            return Err(hmac_from_document(alg));
        }
        Key::from_private(alg, key_doc::private_from_der(der)?)
    }

    /// A verification-only key from a PEM public key: `PUBLIC KEY`
    /// (`SubjectPublicKeyInfo`, what `openssl pkey -pubout` writes) or
    /// `RSA PUBLIC KEY` (PKCS#1). A private key or a certificate is
    /// refused, saying how to take its public key out.
    pub fn public_from_pem(alg: Algorithm, pem: &[u8]) -> Result<Key, KeyError> {
        crypto::install_provider();
        if alg.family() == Family::Hmac {
            return Err(hmac_from_document(alg));
        }
        Key::from_public(alg, key_doc::public_from_pem(pem)?)
    }

    /// A verification-only key from a DER `SubjectPublicKeyInfo` (the body of
    /// a `PUBLIC KEY` PEM document) or PKCS#1 `RSAPublicKey`.
    pub fn public_from_der(alg: Algorithm, der: &[u8]) -> Result<Key, KeyError> {
        crypto::install_provider();
        if alg.family() == Family::Hmac {
            return Err(hmac_from_document(alg));
        }
        Key::from_public(alg, key_doc::public_from_der(der)?)
    }

    /// A verification-only key from a public JWK, such as one entry of another
    /// instance's JWKS. The JWK must name its `alg`; its `kid` is kept when
    /// present, else derived. Symmetric (`oct`) JWKs are refused: secrets do not
    /// travel in key sets.
    pub fn from_jwk(jwk: &Jwk) -> Result<Key, KeyError> {
        crypto::install_provider();
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|a| a.to_string().parse::<Algorithm>().ok())
            .ok_or_else(|| KeyError::Jwk("the JWK must name a supported `alg`".into()))?;
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            return Err(KeyError::Jwk("symmetric JWKs are not accepted".into()));
        }
        let mut public = jwk.clone();
        public.common = Default::default();
        Key::from_public_jwk(alg, public, jwk.common.key_id.clone())
    }

    /// The same key under another `kid`, for deployments that name keys
    /// themselves. Tokens signed under the derived `kid` no longer match it.
    pub fn with_kid(self, kid: impl Into<String>) -> Key {
        let mut inner = Arc::unwrap_or_clone(self.0);
        inner.kid = kid.into();
        Key(Arc::new(inner))
    }

    /// The key id carried in the `kid` header of tokens signed with this key.
    pub fn kid(&self) -> &str {
        &self.0.kid
    }

    /// The one algorithm this key signs and verifies with.
    pub fn algorithm(&self) -> Algorithm {
        self.0.alg
    }

    /// Whether this key holds a private part (or a shared secret).
    pub fn can_sign(&self) -> bool {
        self.0.encoding.is_some()
    }

    /// Whether `other` verifies exactly the signatures this key verifies:
    /// the same algorithm and the same key material, whatever the `kid`s
    /// (a public key and its private key are the same key here).
    ///
    /// ```
    /// use auth_core::{Algorithm, Key};
    ///
    /// let a = Key::generate(Algorithm::ES256).unwrap();
    /// let public = Key::from_jwk(&a.public_jwk().unwrap()).unwrap();
    /// assert!(a.same_material(&public));
    /// // Another key published under the same kid is another key.
    /// let b = Key::generate(Algorithm::ES256).unwrap().with_kid(a.kid());
    /// assert!(!a.same_material(&b));
    /// ```
    pub fn same_material(&self, other: &Key) -> bool {
        self.0.alg == other.0.alg && self.0.material == other.0.material
    }

    /// The public JWK (`kid`, `alg`, `use: sig`), or `None` for HMAC keys,
    /// whose secret must never be published.
    pub fn public_jwk(&self) -> Option<Jwk> {
        let mut jwk = self.0.public_jwk.clone()?;
        jwk.common.key_id = Some(self.0.kid.clone());
        jwk.common.key_algorithm = Some(self.0.alg.to_jwt().into());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Some(jwk)
    }

    pub(crate) fn encoding(&self) -> Option<&EncodingKey> {
        self.0.encoding.as_ref()
    }

    /// Verifies `signature` (base64url) over `message` with the pinned algorithm.
    pub(crate) fn verify(&self, message: &[u8], signature: &str) -> bool {
        match self.0.verifier.verify(message, signature) {
            Some(valid) => valid,
            None => jsonwebtoken::crypto::verify(
                signature,
                message,
                &self.0.decoding,
                self.0.alg.to_jwt(),
            )
            .unwrap_or(false),
        }
    }

    /// A signing key from a private key read by [`key_doc`]: checked
    /// against `alg`, then against the public key stored with it, if any.
    pub(crate) fn from_private(alg: Algorithm, private: key_doc::Private) -> Result<Key, KeyError> {
        private.kind.check(alg)?;
        let encoding = match private.kind {
            key_doc::Kind::Rsa { .. } => EncodingKey::from_rsa_der(&private.der),
            key_doc::Kind::Ec(_) => EncodingKey::from_ec_der(&private.der),
            key_doc::Kind::Ed25519 => EncodingKey::from_ed_der(&private.der),
        };
        let key = Key::from_encoding_key(alg, encoding)?;
        if let Some(stored) = &private.public {
            let derived = key.0.public_jwk.as_ref().and_then(public_bytes);
            if derived.as_deref() != Some(stored.as_slice()) {
                return Err(KeyError::InvalidKey {
                    alg,
                    reason: "the public key stored with the private key is not its public key \
                             (a damaged or altered file)"
                        .into(),
                });
            }
        }
        Ok(key)
    }

    /// A verification-only key from a public key read by [`key_doc`].
    fn from_public(alg: Algorithm, public: key_doc::Public) -> Result<Key, KeyError> {
        public.kind.check(alg)?;
        let jwk = Jwk {
            common: Default::default(),
            algorithm: public.params,
        };
        Key::from_public_jwk(alg, jwk, None)
    }

    fn from_encoding_key(alg: Algorithm, encoding: EncodingKey) -> Result<Key, KeyError> {
        // The backend refuses numbers that are not a key of their type (an
        // EC scalar out of range, RSA primes that do not multiply to n).
        let refused = || KeyError::InvalidKey {
            alg,
            reason: "the private key's numbers do not form a valid key (a damaged file?)".into(),
        };
        let jwk = Jwk::from_encoding_key(&encoding, alg.to_jwt()).map_err(|_| refused())?;
        let key = Key::from_public_jwk(alg, jwk, None)?;
        let mut inner = Arc::unwrap_or_clone(key.0);
        inner.encoding = Some(encoding);
        let key = Key(Arc::new(inner));
        // Sign and verify once, so a private key that does not fit its
        // algorithm fails here rather than on the first login.
        let probe = b"auth-core key probe";
        let signature = match key.encoding() {
            Some(encoding) => jsonwebtoken::crypto::sign(probe, encoding, alg.to_jwt()),
            None => return Err(refused()),
        }
        .map_err(|_| refused())?;
        if !key.verify(probe, &signature) {
            return Err(KeyError::InvalidKey {
                alg,
                reason: "the private key does not verify its own signature".into(),
            });
        }
        Ok(key)
    }

    pub(crate) fn from_public_jwk(
        alg: Algorithm,
        jwk: Jwk,
        kid: Option<String>,
    ) -> Result<Key, KeyError> {
        check_public_params(alg, &jwk.algorithm)?;
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| not_a_point(alg))?;
        let verifier = crypto::Verifier::public(alg, &jwk);
        // aws-lc-rs parses every supported public key: one it refuses (a
        // point off its curve) verifies nothing, so it is not a key.
        if cfg!(feature = "aws-lc-rs") && matches!(verifier, crypto::Verifier::Generic) {
            return Err(not_a_point(alg));
        }
        let material = thumbprint(&jwk, alg)?;
        let kid = kid.unwrap_or_else(|| material.clone());
        Ok(Key(Arc::new(KeyInner {
            kid,
            alg,
            encoding: None,
            decoding,
            verifier,
            public_jwk: Some(jwk),
            material: material.into(),
        })))
    }
}

/// The public key of a JWK as stored next to a private key: the
/// uncompressed EC point, or the raw Ed25519 key.
fn public_bytes(jwk: &Jwk) -> Option<Vec<u8>> {
    use base64::Engine;
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()
    };
    match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => Some([vec![4], b64(&p.x)?, b64(&p.y)?].concat()),
        AlgorithmParameters::OctetKeyPair(p) => b64(&p.x),
        _ => None,
    }
}

fn not_a_point(alg: Algorithm) -> KeyError {
    KeyError::InvalidKey {
        alg,
        reason: "the public key does not parse (a point off its curve?)".into(),
    }
}

/// Refuses public key parameters that do not fit the pinned algorithm: a
/// P-384 key for ES256, an Ed25519 key for an RSA algorithm, RSA under 2048
/// bits (RFC 7518 §3.3), coordinates not of the curve's size.
fn check_public_params(alg: Algorithm, params: &AlgorithmParameters) -> Result<(), KeyError> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // Coordinates of the curve's size, so a JWKS entry that is not a key
    // (`"x": "AAAA"`) is refused here rather than kept as a dead key.
    let sized = |coordinate: &str, len: usize| b64.decode(coordinate).is_ok_and(|c| c.len() == len);
    let unusable = |what: &str| {
        KeyError::Unusable(format!(
            "the key is {what}, which no supported algorithm uses"
        ))
    };
    let (kind, coordinates_fit) = match params {
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => (
                key_doc::Kind::Ec(Curve::P256),
                sized(&p.x, 32) && sized(&p.y, 32),
            ),
            EllipticCurve::P384 => (
                key_doc::Kind::Ec(Curve::P384),
                sized(&p.x, 48) && sized(&p.y, 48),
            ),
            _ => return Err(unusable("an EC key on a curve other than P-256 or P-384")),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            (key_doc::Kind::Ed25519, sized(&p.x, 32))
        }
        AlgorithmParameters::RSA(p) => {
            let n = b64.decode(&p.n).map_err(|_| KeyError::InvalidKey {
                alg,
                reason: "the RSA modulus `n` is not base64url".into(),
            })?;
            let sane_e = b64
                .decode(&p.e)
                .is_ok_and(|e| !e.is_empty() && e.len() <= 8);
            (
                key_doc::Kind::Rsa {
                    bits: der::bit_length(&n),
                },
                sane_e,
            )
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err(KeyError::Mismatch {
                alg,
                found: "a shared secret".into(),
                expected: key_doc::needs(alg),
            });
        }
        _ => return Err(unusable("of an unknown type")),
    };
    kind.check(alg)?;
    if coordinates_fit {
        Ok(())
    } else {
        Err(KeyError::InvalidKey {
            alg,
            reason: format!(
                "the coordinates or exponent are not those of {}",
                kind.describe()
            ),
        })
    }
}

/// The `kid` of an HMAC key: an HMAC, under the secret itself, of a fixed
/// label naming the algorithm, truncated to 128 bits (22 base64url
/// characters). Stable across restarts, like a thumbprint, but not a plain
/// hash of the secret: no table of precomputed SHA-256 digests matches it,
/// and testing a guessed secret against it costs exactly what testing it
/// against any token's signature costs, so it tells an attacker nothing a
/// token does not. Two deployments sharing a secret still share the `kid`:
/// give each its own secret (or its own [`Key::with_kid`]).
fn hmac_kid(secret: &EncodingKey, alg: Algorithm) -> Result<String, KeyError> {
    Ok(hmac_label(secret, alg, "auth-core key id v1")?
        .chars()
        .take(22)
        .collect())
}

/// The HMAC, under the secret, of `label` and the algorithm's name.
fn hmac_label(secret: &EncodingKey, alg: Algorithm, label: &str) -> Result<String, KeyError> {
    let label = format!("{label} {}", alg.as_str());
    jsonwebtoken::crypto::sign(label.as_bytes(), secret, alg.to_jwt()).map_err(|_| {
        KeyError::InvalidKey {
            alg,
            reason: "the secret cannot sign".into(),
        }
    })
}

fn thumbprint(jwk: &Jwk, alg: Algorithm) -> Result<String, KeyError> {
    jwk.thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| KeyError::InvalidKey {
            alg,
            reason: "the key's thumbprint cannot be computed".into(),
        })
}

fn hmac_from_document(alg: Algorithm) -> KeyError {
    KeyError::WrongAlgorithm {
        alg,
        reason: "HMAC keys are raw secrets: use Key::hmac",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With aws-lc-rs, every algorithm verifies through a key parsed once,
    /// and agrees with jsonwebtoken on good, altered and malformed signatures.
    #[test]
    fn parsed_verifiers_agree_with_jsonwebtoken() {
        use Algorithm::*;
        for alg in [HS256, HS384, HS512, ES256, ES384, EdDSA, RS256, PS384] {
            let key = Key::generate(alg).expect("key");
            if cfg!(feature = "aws-lc-rs") {
                assert!(
                    !matches!(key.0.verifier, crypto::Verifier::Generic),
                    "{alg:?} is verified through jsonwebtoken's per-call parse"
                );
            }
            let message = b"header.payload";
            let good = jsonwebtoken::crypto::sign(message, key.encoding().unwrap(), alg.to_jwt())
                .expect("sign");
            let mut altered = good.clone().into_bytes();
            altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).unwrap();
            for signature in [
                good.as_str(),
                altered.as_str(),
                "",
                "!!",
                "AAAA",
                &good[1..],
            ] {
                let reference =
                    jsonwebtoken::crypto::verify(signature, message, &key.0.decoding, alg.to_jwt())
                        .unwrap_or(false);
                assert_eq!(
                    key.verify(message, signature),
                    reference,
                    "{alg:?} {signature:?}"
                );
            }
            assert!(key.verify(message, &good), "{alg:?}");
            assert!(!key.verify(b"header.payloaD", &good), "{alg:?}");
        }
    }
}
