//! Key files: a [`KeyRing`] saved as a private JWKS, and a [`KeySet`]
//! loaded from one, so that keys and rotations survive restarts. The
//! format is described on [`KeyRing`] ("Key files").

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, EllipticCurveKeyParameters, EllipticCurveKeyType, Jwk,
    OctetKeyPairParameters, OctetKeyPairType, RSAKeyParameters, RSAKeyType,
};
use serde::{Deserialize, Serialize};

use crate::algorithm::{Algorithm, Family};
use crate::error::KeyError;
use crate::files;
use crate::key_doc::{self, Kind, Private};
use crate::key_ring::KeyRing;
use crate::key_set::{KeySet, Pending, Schedule};
use crate::keys::Key;
use crate::sec1::{self, Curve};

impl KeySet {
    /// The keys of a key file written by [`KeyRing::save`] (see the
    /// [file format](crate::KeyRing#key-files)), with the schedule of the
    /// rotation under way when it was saved. Give the set to
    /// [`TokenAuthority::builder`](crate::TokenAuthority::builder) (or any
    /// [`KeyRing`]): the ring carries the rotation on.
    ///
    /// The schedule is kept by a [`KeyRing`] only: a set used directly as
    /// a [`KeySource`](crate::KeySource) verifies with all its keys for as
    /// long as it is used.
    ///
    /// Every error names the file; `error.kind()` of
    /// [`KeyError::Read`] tells a missing file apart.
    pub fn load(path: impl AsRef<Path>) -> Result<KeySet, KeyError> {
        let path = path.as_ref();
        let mut bytes = files::read(path)?;
        let set = parse(&bytes);
        bytes.iter_mut().for_each(|b| *b = 0);
        set.map_err(|error| KeyError::File {
            path: path.to_owned(),
            error: Box::new(error),
        })
    }
}

impl KeyRing {
    /// Writes every key of the ring, private parts included, and the
    /// rotation under way, to the key file at `path` (see the
    /// [file format](KeyRing#key-files)), replacing it whole: mode 0600 on
    /// Unix, written to a new file in the same directory and renamed over
    /// the old one (a symbolic link at `path` is replaced, not followed).
    /// Save after every change a restart must keep (a rotation, a
    /// withdrawal); load with [`KeySet::load`]. Saves of one ring reach the
    /// file in order; keep one ring per file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), KeyError> {
        let path = path.as_ref();
        let _in_order = self.saving();
        let (set, schedule) = self.snapshot();
        let file = FileSet {
            keys: set
                .keys
                .iter()
                .enumerate()
                .map(|(i, key)| entry(key, set.signs && i == 0, &schedule))
                .collect::<Result<_, _>>()?,
        };
        let mut json = serde_json::to_vec_pretty(&file).map_err(|e| {
            KeyError::Unusable(format!("the key set cannot be written as JSON: {e}"))
        })?;
        json.push(b'\n');
        let written = files::write_private(path, &json);
        json.iter_mut().for_each(|b| *b = 0);
        written
    }
}

/// A key file.
#[derive(Serialize, Deserialize)]
struct FileSet {
    keys: Vec<FileKey>,
}

/// One key of a key file: a JWK with private members, and the schedule.
#[derive(Default, Serialize, Deserialize)]
struct FileKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_ops: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signs_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retires_at: Option<u64>,
    kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    qi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    /// RSA keys of more than two primes: refused when present.
    #[serde(default, skip_serializing)]
    oth: Option<serde_json::Value>,
}

impl Drop for FileKey {
    fn drop(&mut self) {
        let secrets = [
            &mut self.d,
            &mut self.p,
            &mut self.q,
            &mut self.dp,
            &mut self.dq,
            &mut self.qi,
            &mut self.k,
        ];
        for secret in secrets {
            if let Some(text) = secret.take() {
                let mut bytes = text.into_bytes();
                bytes.iter_mut().for_each(|b| *b = 0);
            }
        }
    }
}

fn unusable(message: impl Into<String>) -> KeyError {
    KeyError::Unusable(message.into())
}

/// The set and schedule a key file describes.
fn parse(bytes: &[u8]) -> Result<KeySet, KeyError> {
    let file: FileSet = serde_json::from_slice(bytes)
        .map_err(|e| unusable(format!("not a JSON key set ({{\"keys\": [...]}}): {e}")))?;
    if file.keys.is_empty() {
        return Err(unusable("the key set holds no keys"));
    }
    let mut signing: Option<Key> = None;
    let mut signing_retires_at = None;
    let mut others = Vec::new();
    let mut schedule = Schedule::default();
    let mut pending: Option<(String, u64)> = None;
    for (i, entry) in file.keys.iter().enumerate() {
        let key = entry.to_key().map_err(|e| {
            unusable(match &entry.kid {
                Some(kid) => format!("key {} (kid {kid:?}): {e}", i + 1),
                None => format!("key {}: {e}", i + 1),
            })
        })?;
        let ops = entry.key_ops.as_deref().unwrap_or_default();
        let kid = key.kid().to_owned();
        if ops.iter().any(|op| op == "sign") {
            if let Some(first) = &signing {
                return Err(unusable(format!(
                    "two keys have \"sign\" in key_ops (kids {:?} and {kid:?}): one key signs",
                    first.kid()
                )));
            }
            if !key.can_sign() {
                return Err(unusable(format!(
                    "the key {kid:?} has \"sign\" in key_ops but no private part"
                )));
            }
            if entry.signs_from.is_some() {
                return Err(unusable(format!(
                    "the key {kid:?} signs already, yet has a signs_from"
                )));
            }
            signing_retires_at = entry.retires_at;
            signing = Some(key);
            continue;
        }
        if let Some(signs_from) = entry.signs_from {
            if let Some((first, _)) = &pending {
                return Err(unusable(format!(
                    "two keys have a signs_from (kids {first:?} and {kid:?}): one rotation at a time"
                )));
            }
            if !key.can_sign() {
                return Err(unusable(format!(
                    "the key {kid:?} has a signs_from but no private part"
                )));
            }
            pending = Some((kid.clone(), signs_from));
        }
        if let Some(at) = entry.retires_at {
            schedule.retiring.push((kid, at));
        }
        others.push(key);
    }
    match (signing_retires_at, pending) {
        (Some(at), Some((kid, signs_from))) => {
            schedule.pending = Some(Pending {
                kid,
                signs_from,
                retire_previous_at: at,
            });
        }
        (None, Some((kid, _))) => {
            return Err(unusable(format!(
                "the key {kid:?} has a signs_from, but the signing key no retires_at \
                 (when it stops verifying once replaced)"
            )));
        }
        (Some(_), None) => {
            return Err(unusable(
                "the signing key has a retires_at, but no key has a signs_from \
                 (a signing key retires only once another signs)",
            ));
        }
        (None, None) => {}
    }
    if signing.is_none() && schedule.pending.is_some() {
        return Err(unusable("a key has a signs_from, but no key signs"));
    }
    let mut set = match signing {
        Some(key) => others
            .into_iter()
            .try_fold(KeySet::new(key)?, KeySet::with_key)?,
        None => KeySet::verifying(others)?,
    };
    set.schedule = schedule;
    Ok(set)
}

impl FileKey {
    /// The key this entry describes.
    fn to_key(&self) -> Result<Key, KeyError> {
        let kid = self.kid.as_deref().ok_or_else(|| unusable("no `kid`"))?;
        let alg: Algorithm = self
            .alg
            .as_deref()
            .ok_or_else(|| unusable("no `alg`"))?
            .parse()
            .map_err(|e| unusable(format!("{e}")))?;
        if self.oth.is_some() {
            return Err(unusable(
                "the RSA key has more than two primes (`oth`), which is not supported",
            ));
        }
        let key = match (self.kty.as_str(), alg.family()) {
            ("oct", Family::Hmac) => {
                let mut secret = self.member("k", &self.k)?;
                let key = Key::hmac(alg, &secret);
                secret.iter_mut().for_each(|b| *b = 0);
                key?
            }
            ("EC", Family::Ec) => self.ec(alg)?,
            ("OKP", Family::Ed) => self.okp(alg)?,
            ("RSA", Family::Rsa) => self.rsa(alg)?,
            ("oct" | "EC" | "OKP" | "RSA", _) => {
                return Err(KeyError::Mismatch {
                    alg,
                    found: match self.kty.as_str() {
                        "oct" => "a shared secret".into(),
                        "EC" => "an EC key".into(),
                        "OKP" => "an OKP key".into(),
                        _ => "an RSA key".into(),
                    },
                    expected: key_doc::needs(alg),
                });
            }
            (kty, _) => {
                return Err(unusable(format!(
                    "a key of type {kty:?}: expected EC, OKP, RSA or oct"
                )));
            }
        };
        Ok(if key.kid() == kid {
            key
        } else {
            key.with_kid(kid)
        })
    }

    /// A base64url member, decoded.
    fn member(&self, name: &str, value: &Option<String>) -> Result<Vec<u8>, KeyError> {
        let text = value
            .as_deref()
            .ok_or_else(|| unusable(format!("no `{name}`")))?;
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| unusable(format!("`{name}` is not base64url")))
    }

    fn ec(&self, alg: Algorithm) -> Result<Key, KeyError> {
        let (curve, crv) = match self.crv.as_deref() {
            Some("P-256") => (Curve::P256, EllipticCurve::P256),
            Some("P-384") => (Curve::P384, EllipticCurve::P384),
            other => {
                return Err(unusable(format!(
                    "an EC key on {other:?}: expected P-256 or P-384"
                )));
            }
        };
        let x = self.member("x", &self.x)?;
        let y = self.member("y", &self.y)?;
        if self.d.is_none() {
            return public(
                alg,
                AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: crv,
                    x: URL_SAFE_NO_PAD.encode(&x),
                    y: URL_SAFE_NO_PAD.encode(&y),
                }),
            );
        }
        let mut scalar = self.member("d", &self.d)?;
        if scalar.len() != curve.size() || x.len() != curve.size() || y.len() != curve.size() {
            scalar.iter_mut().for_each(|b| *b = 0);
            return Err(unusable(format!(
                "`d`, `x` and `y` must each be {} bytes on {}",
                curve.size(),
                curve.name()
            )));
        }
        let point = [&[4u8][..], &x, &y].concat();
        let mut sec1_der = sec1::from_scalar(curve, &scalar);
        scalar.iter_mut().for_each(|b| *b = 0);
        let private = Private {
            kind: Kind::Ec(curve),
            der: sec1::pkcs8(curve, &sec1_der),
            public: Some(point),
        };
        sec1_der.iter_mut().for_each(|b| *b = 0);
        Key::from_private(alg, private)
    }

    fn okp(&self, alg: Algorithm) -> Result<Key, KeyError> {
        if self.crv.as_deref() != Some("Ed25519") {
            return Err(unusable(format!(
                "an OKP key on {:?}: expected Ed25519",
                self.crv
            )));
        }
        let x = self.member("x", &self.x)?;
        if self.d.is_none() {
            return public(
                alg,
                AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(&x),
                }),
            );
        }
        let mut seed = self.member("d", &self.d)?;
        if seed.len() != 32 {
            seed.iter_mut().for_each(|b| *b = 0);
            return Err(unusable("`d` of an Ed25519 key must be 32 bytes"));
        }
        let private = Private {
            kind: Kind::Ed25519,
            der: key_doc::ed25519_pkcs8(&seed),
            public: Some(x),
        };
        seed.iter_mut().for_each(|b| *b = 0);
        Key::from_private(alg, private)
    }

    fn rsa(&self, alg: Algorithm) -> Result<Key, KeyError> {
        let n = self.member("n", &self.n)?;
        let e = self.member("e", &self.e)?;
        if self.d.is_none() {
            return public(
                alg,
                AlgorithmParameters::RSA(RSAKeyParameters {
                    key_type: RSAKeyType::RSA,
                    n: URL_SAFE_NO_PAD.encode(strip(&n)),
                    e: URL_SAFE_NO_PAD.encode(strip(&e)),
                }),
            );
        }
        let members = [
            ("d", &self.d),
            ("p", &self.p),
            ("q", &self.q),
            ("dp", &self.dp),
            ("dq", &self.dq),
            ("qi", &self.qi),
        ];
        if members.iter().any(|(_, value)| value.is_none()) {
            return Err(unusable(
                "an RSA private key needs all of `d`, `p`, `q`, `dp`, `dq` and `qi`",
            ));
        }
        let mut private: Vec<Vec<u8>> = members
            .iter()
            .map(|(name, value)| self.member(name, value))
            .collect::<Result<_, _>>()?;
        let numbers: [&[u8]; 8] = [
            &n,
            &e,
            &private[0],
            &private[1],
            &private[2],
            &private[3],
            &private[4],
            &private[5],
        ];
        let der = key_doc::rsa_private_der(&numbers);
        for number in &mut private {
            number.iter_mut().for_each(|b| *b = 0);
        }
        let private = Private {
            kind: Kind::Rsa {
                bits: crate::der::bit_length(&n),
            },
            der,
            public: None,
        };
        let key = Key::from_private(alg, private)?;
        // The modulus and exponent given must be the key's own.
        let same = key.public_jwk().is_some_and(|jwk| {
            matches!(&jwk.algorithm, AlgorithmParameters::RSA(p)
                if p.n == URL_SAFE_NO_PAD.encode(strip(&n)) && p.e == URL_SAFE_NO_PAD.encode(strip(&e)))
        });
        if !same {
            return Err(unusable("`n` and `e` are not those of the private key"));
        }
        Ok(key)
    }
}

fn strip(n: &[u8]) -> &[u8] {
    &n[n.iter().take_while(|b| **b == 0).count()..]
}

/// A verification-only key from public JWK parameters.
fn public(alg: Algorithm, params: AlgorithmParameters) -> Result<Key, KeyError> {
    Key::from_public_jwk(
        alg,
        Jwk {
            common: Default::default(),
            algorithm: params,
        },
        None,
    )
}

/// The file entry of `key`.
fn entry(key: &Key, signs: bool, schedule: &Schedule) -> Result<FileKey, KeyError> {
    let kid = key.kid();
    let pending = schedule.pending.as_ref();
    let mut out = FileKey::default();
    out.kid = Some(kid.to_owned());
    out.alg = Some(key.algorithm().as_str().to_owned());
    out.use_ = Some("sig".into());
    out.key_ops = Some(if signs {
        vec!["sign".into(), "verify".into()]
    } else {
        vec!["verify".into()]
    });
    out.signs_from = pending.filter(|p| p.kid == kid).map(|p| p.signs_from);
    out.retires_at = if signs {
        pending.map(|p| p.retire_previous_at)
    } else {
        schedule
            .retiring
            .iter()
            .find_map(|(k, at)| (k == kid).then_some(*at))
    };
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let lost = || unusable(format!("the private part of key {kid:?} cannot be written"));
    match key.public_jwk().map(|jwk| jwk.algorithm) {
        Some(AlgorithmParameters::EllipticCurve(p)) => {
            let curve = match p.curve {
                EllipticCurve::P256 => Curve::P256,
                _ => Curve::P384,
            };
            out.kty = "EC".into();
            out.crv = Some(curve.name().into());
            out.x = Some(p.x);
            out.y = Some(p.y);
            if let Some(encoding) = key.encoding() {
                let mut d = sec1::scalar_of_pkcs8(encoding.as_bytes(), curve).ok_or_else(lost)?;
                out.d = Some(b64(&d));
                d.iter_mut().for_each(|b| *b = 0);
            }
        }
        Some(AlgorithmParameters::OctetKeyPair(p)) => {
            out.kty = "OKP".into();
            out.crv = Some("Ed25519".into());
            out.x = Some(p.x);
            if let Some(encoding) = key.encoding() {
                let mut seed = key_doc::ed25519_seed(encoding.as_bytes()).ok_or_else(lost)?;
                out.d = Some(b64(&seed));
                seed.iter_mut().for_each(|b| *b = 0);
            }
        }
        Some(AlgorithmParameters::RSA(p)) => {
            out.kty = "RSA".into();
            out.n = Some(p.n);
            out.e = Some(p.e);
            if let Some(encoding) = key.encoding() {
                let [_, _, d, p, q, dp, dq, qi] =
                    key_doc::rsa_private_numbers(encoding.as_bytes()).ok_or_else(lost)?;
                out.d = Some(b64(d));
                out.p = Some(b64(p));
                out.q = Some(b64(q));
                out.dp = Some(b64(dp));
                out.dq = Some(b64(dq));
                out.qi = Some(b64(qi));
            }
        }
        Some(_) => return Err(lost()),
        None => {
            // HMAC: the secret itself.
            let encoding = key.encoding().ok_or_else(lost)?;
            out.kty = "oct".into();
            out.k = Some(b64(encoding.as_bytes()));
        }
    }
    Ok(out)
}
