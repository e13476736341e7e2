//! EC keys: the named curves, SEC1 private keys (`-----BEGIN EC PRIVATE
//! KEY-----`, what `openssl ecparam -genkey` writes, and the inside of a
//! PKCS#8 EC key), and the PKCS#8 the signing backends read.

use crate::der::{self, Reader};
use crate::error::KeyError;

/// id-ecPublicKey (1.2.840.10045.2.1).
pub(crate) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, P-256 (1.2.840.10045.3.1.7).
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, P-384 (1.3.132.0.34).
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

/// Curves people reach for that no algorithm here uses, by OID.
const OTHER_CURVES: &[(&[u8], &str)] = &[
    (&[0x2b, 0x81, 0x04, 0x00, 0x0a], "secp256k1 (ES256K)"),
    (&[0x2b, 0x81, 0x04, 0x00, 0x23], "P-521 (ES512)"),
    (&[0x2b, 0x81, 0x04, 0x00, 0x21], "P-224"),
    (
        &[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07],
        "brainpoolP256r1",
    ),
    (
        &[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b],
        "brainpoolP384r1",
    ),
];

/// A curve an algorithm here signs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    /// P-256, for ES256.
    P256,
    /// P-384, for ES384.
    P384,
}

impl Curve {
    /// Its name in JWKs and messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    /// The size of a coordinate, and of a private scalar, in bytes.
    pub(crate) fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    fn oid(self) -> &'static [u8] {
        match self {
            Curve::P256 => P256,
            Curve::P384 => P384,
        }
    }

    /// The curve of an ECParameters value (RFC 5480 §2.1.1): a named
    /// curve, refused by name when no algorithm uses it.
    pub(crate) fn from_params(params: &mut Reader<'_>) -> Result<Curve, KeyError> {
        match params.peek() {
            Some(der::OID) => {
                let oid = params.take(der::OID).unwrap_or_default();
                match oid {
                    P256 => Ok(Curve::P256),
                    P384 => Ok(Curve::P384),
                    _ => {
                        let name = OTHER_CURVES
                            .iter()
                            .find(|(known, _)| *known == oid)
                            .map_or_else(
                                || format!("the curve with OID {}", der::dotted(oid)),
                                |(_, name)| (*name).to_owned(),
                            );
                        Err(KeyError::Unusable(format!(
                            "the key is an EC key on {name}, which no supported algorithm \
                             uses: ES256 needs P-256, ES384 needs P-384"
                        )))
                    }
                }
            }
            Some(der::SEQUENCE) => Err(KeyError::Unusable(
                "the EC key spells out its curve's parameters instead of naming the curve: \
                 write it with the name (`openssl ec -in key.pem -param_enc named_curve -out named.pem`)"
                    .into(),
            )),
            _ => Err(unnamed()),
        }
    }
}

fn unnamed() -> KeyError {
    KeyError::Unusable("the EC key does not name its curve".into())
}

fn damaged() -> KeyError {
    KeyError::Unusable("the key is not a well-formed SEC1 EC private key".into())
}

/// A SEC1 `ECPrivateKey` (RFC 5915), read.
pub(crate) struct Sec1<'a> {
    pub(crate) curve: Curve,
    /// The private scalar.
    pub(crate) scalar: &'a [u8],
    /// The public point stored with it, if any.
    pub(crate) public: Option<&'a [u8]>,
}

/// Reads a SEC1 `ECPrivateKey`; `outer` is the curve its PKCS#8 wrapper
/// names, if it has one.
pub(crate) fn parse(der: &[u8], outer: Option<Curve>) -> Result<Sec1<'_>, KeyError> {
    let mut r = Reader::new(der);
    let mut key = r.sequence().ok_or_else(damaged)?;
    if !r.is_empty() || key.small() != Some(1) {
        return Err(damaged());
    }
    let scalar = key
        .take(der::OCTET_STRING)
        .filter(|d| !d.is_empty())
        .ok_or_else(damaged)?;
    let inner = match key.take(der::CONTEXT_0) {
        Some(params) => Some(Curve::from_params(&mut Reader::new(params))?),
        None => None,
    };
    let public = match key.take(der::CONTEXT_1) {
        Some(bits) => Some(Reader::new(bits).bits().ok_or_else(damaged)?),
        None => None,
    };
    if !key.is_empty() {
        return Err(damaged());
    }
    let curve = match (outer, inner) {
        (Some(a), Some(b)) if a != b => {
            return Err(KeyError::Unusable(format!(
                "the key names two curves, {} and {}",
                a.name(),
                b.name()
            )));
        }
        (Some(curve), _) | (None, Some(curve)) => curve,
        (None, None) => return Err(unnamed()),
    };
    Ok(Sec1 {
        curve,
        scalar,
        public,
    })
}

/// The PKCS#8 `PrivateKeyInfo` of a SEC1 key on `curve`: what both
/// signing backends read.
pub(crate) fn pkcs8(curve: Curve, sec1: &[u8]) -> Vec<u8> {
    let algorithm = der::tlv(
        der::SEQUENCE,
        &[
            der::tlv(der::OID, EC_PUBLIC_KEY),
            der::tlv(der::OID, curve.oid()),
        ]
        .concat(),
    );
    let mut key = der::tlv(der::OCTET_STRING, sec1);
    let mut body = [&[der::INTEGER, 1, 0][..], &algorithm, &key].concat();
    let out = der::tlv(der::SEQUENCE, &body);
    key.iter_mut().for_each(|b| *b = 0);
    body.iter_mut().for_each(|b| *b = 0);
    out
}

/// A SEC1 `ECPrivateKey` from its scalar (big-endian, padded to the
/// curve's size). The public point is left out: the backends derive it,
/// and the caller compares it with the one it was given.
pub(crate) fn from_scalar(curve: Curve, scalar: &[u8]) -> Vec<u8> {
    let mut padded = vec![0u8; curve.size().saturating_sub(scalar.len())];
    padded.extend_from_slice(scalar);
    let mut d = der::tlv(der::OCTET_STRING, &padded);
    let params = der::tlv(der::CONTEXT_0, &der::tlv(der::OID, curve.oid()));
    let mut body = [&[der::INTEGER, 1, 1][..], &d, &params].concat();
    let out = der::tlv(der::SEQUENCE, &body);
    for buf in [&mut padded, &mut d, &mut body] {
        buf.iter_mut().for_each(|b| *b = 0);
    }
    out
}

/// The private scalar of a PKCS#8 EC key, padded to the curve's size.
pub(crate) fn scalar_of_pkcs8(pkcs8: &[u8], curve: Curve) -> Option<Vec<u8>> {
    let mut outer = Reader::new(pkcs8);
    let mut info = outer.sequence()?;
    info.small()?;
    info.sequence()?;
    let sec1 = parse(info.take(der::OCTET_STRING)?, Some(curve)).ok()?;
    let size = curve.size();
    let scalar = &sec1.scalar[sec1.scalar.len().saturating_sub(size)..];
    let mut padded = vec![0u8; size - scalar.len()];
    padded.extend_from_slice(scalar);
    Some(padded)
}
