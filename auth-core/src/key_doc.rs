//! What a PEM or DER key document holds, read before the signing backend
//! sees it: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), PKCS#1 (`RSA
//! PRIVATE KEY`, `RSA PUBLIC KEY`) and `SubjectPublicKeyInfo` (`PUBLIC
//! KEY`). A private key becomes what both of jsonwebtoken's backends read
//! (PKCS#8 v1 for EC and Ed25519, PKCS#1 for RSA), a public key its JWK
//! parameters. Anything else is named in plain words: not PEM, an
//! encrypted key, a certificate, a public key where a private one is
//! needed, a key type or curve no algorithm uses.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, EllipticCurveKeyParameters, EllipticCurveKeyType,
    OctetKeyPairParameters, OctetKeyPairType, RSAKeyParameters, RSAKeyType,
};

use crate::algorithm::{Algorithm, Family};
use crate::der::{self, Reader};
use crate::error::KeyError;
use crate::sec1::{self, Curve};

/// rsaEncryption (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-RSASSA-PSS (1.2.840.113549.1.1.10).
const RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
/// id-Ed25519 (1.3.101.112).
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// id-Ed448 (1.3.101.113).
const ED448: &[u8] = &[0x2b, 0x65, 0x71];
/// id-X25519 (1.3.101.110).
const X25519: &[u8] = &[0x2b, 0x65, 0x6e];
/// id-X448 (1.3.101.111).
const X448: &[u8] = &[0x2b, 0x65, 0x6f];
/// id-dsa (1.2.840.10040.4.1).
const DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];

const NOT_PEM: &str = "not a PEM file: no `-----BEGIN` line";
const ENCRYPTED: &str = "an encrypted private key: decrypt it first \
     (`openssl pkey -in key.pem -out plain.pem`, then keep plain.pem readable by the service only)";
const PUBLIC_CANNOT_SIGN: &str = "a public key cannot sign: pass the private key \
     (a key that only verifies is read by Key::public_from_pem)";
const PRIVATE_NOT_PUBLIC: &str = "a private key where a public key is expected: pass its \
     public key (`openssl pkey -in key.pem -pubout -out public.pem`), or read the private key \
     with Key::from_pem";
const CERTIFICATE_NOT_PRIVATE: &str = "a certificate, not a key: pass the private key \
     the certificate was issued for";
const CERTIFICATE_NOT_PUBLIC: &str = "a certificate, not a key: take out its public key \
     (`openssl x509 -in cert.pem -pubkey -noout > public.pem`)";

/// The type of a key, and its curve or size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// RSA, of this many bits.
    Rsa { bits: usize },
    /// EC on this curve.
    Ec(Curve),
    /// Ed25519.
    Ed25519,
}

impl Kind {
    /// What this key is, for messages: "a P-384 EC key".
    pub(crate) fn describe(self) -> String {
        match self {
            Kind::Rsa { bits } => format!("a {bits}-bit RSA key"),
            Kind::Ec(curve) => format!("a {} EC key", curve.name()),
            Kind::Ed25519 => "an Ed25519 key".into(),
        }
    }

    /// The algorithm the key itself names: ES256 for P-256, ES384 for
    /// P-384, EdDSA for Ed25519. An RSA key signs with any of six.
    pub(crate) fn implied_algorithm(self) -> Result<Algorithm, KeyError> {
        match self {
            Kind::Ec(Curve::P256) => Ok(Algorithm::ES256),
            Kind::Ec(Curve::P384) => Ok(Algorithm::ES384),
            Kind::Ed25519 => Ok(Algorithm::EdDSA),
            Kind::Rsa { .. } => Err(KeyError::Unusable(
                "an RSA key does not say which algorithm it signs with: choose one of \
                 RS256, RS384, RS512, PS256, PS384 or PS512 explicitly"
                    .into(),
            )),
        }
    }

    /// Refuses a key that does not fit `alg`: another type or curve, or an
    /// RSA key under 2048 bits (RFC 7518 §3.3).
    pub(crate) fn check(self, alg: Algorithm) -> Result<(), KeyError> {
        let fits = match self {
            Kind::Rsa { .. } => alg.family() == Family::Rsa,
            Kind::Ec(Curve::P256) => alg == Algorithm::ES256,
            Kind::Ec(Curve::P384) => alg == Algorithm::ES384,
            Kind::Ed25519 => alg == Algorithm::EdDSA,
        };
        if !fits {
            return Err(KeyError::Mismatch {
                alg,
                found: self.describe(),
                expected: needs(alg),
            });
        }
        match self {
            Kind::Rsa { bits } if bits < 2048 => Err(KeyError::InvalidKey {
                alg,
                reason: format!("RSA keys must have at least 2048 bits, this one has {bits}"),
            }),
            _ => Ok(()),
        }
    }
}

/// What `alg` needs, for messages.
pub(crate) fn needs(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "a P-256 EC key",
        Algorithm::ES384 => "a P-384 EC key",
        Algorithm::EdDSA => "an Ed25519 key",
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => "a raw secret",
        _ => "an RSA key",
    }
}

/// A private key, in the form the signing backends read.
pub(crate) struct Private {
    pub(crate) kind: Kind,
    /// PKCS#8 v1 for EC and Ed25519, PKCS#1 `RSAPrivateKey` for RSA.
    pub(crate) der: Vec<u8>,
    /// The public key stored with the private one, if any (the EC point,
    /// the Ed25519 key), checked against the one derived from it.
    pub(crate) public: Option<Vec<u8>>,
}

impl Drop for Private {
    fn drop(&mut self) {
        self.der.iter_mut().for_each(|b| *b = 0);
    }
}

/// A public key, as JWK parameters.
pub(crate) struct Public {
    pub(crate) kind: Kind,
    pub(crate) params: AlgorithmParameters,
}

/// The one private key of a PEM document. Certificates and EC parameters
/// next to it are ignored (a combined `cert + key` file reads).
pub(crate) fn private_from_pem(pem: &[u8]) -> Result<Private, KeyError> {
    let blocks = blocks(pem, "Key::from_der")?;
    let keys: Vec<&Block<'_>> = blocks.iter().filter(|b| b.is_private()).collect();
    let block = match keys.as_slice() {
        [one] => *one,
        [] => {
            return Err(unusable(if blocks.iter().any(Block::is_public) {
                PUBLIC_CANNOT_SIGN.into()
            } else if blocks.iter().any(Block::is_certificate) {
                CERTIFICATE_NOT_PRIVATE.into()
            } else {
                nothing_but(&blocks, "PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY")
            }));
        }
        many => {
            return Err(unusable(format!(
                "the PEM holds {} private keys: put one key in each file",
                many.len()
            )));
        }
    };
    let mut der = block.decode()?;
    let private = match block.label {
        "PRIVATE KEY" => pkcs8(&der),
        "EC PRIVATE KEY" => ec_private(&der, None),
        "RSA PRIVATE KEY" => rsa_private(&der),
        "ENCRYPTED PRIVATE KEY" => Err(unusable(ENCRYPTED.into())),
        "OPENSSH PRIVATE KEY" => Err(unusable(
            "an OpenSSH private key: write it as PKCS#8 \
             (`ssh-keygen -p -N '' -m PKCS8 -f <a copy of the key>`)"
                .into(),
        )),
        other => Err(unusable(format!(
            "a `{other}` block: expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY"
        ))),
    };
    der.iter_mut().for_each(|b| *b = 0);
    private
}

/// The one public key of a PEM document.
pub(crate) fn public_from_pem(pem: &[u8]) -> Result<Public, KeyError> {
    let blocks = blocks(pem, "Key::public_from_der")?;
    let keys: Vec<&Block<'_>> = blocks.iter().filter(|b| b.is_public()).collect();
    let block = match keys.as_slice() {
        [one] => *one,
        [] => {
            return Err(unusable(if blocks.iter().any(Block::is_private) {
                PRIVATE_NOT_PUBLIC.into()
            } else if blocks.iter().any(Block::is_certificate) {
                CERTIFICATE_NOT_PUBLIC.into()
            } else {
                nothing_but(&blocks, "PUBLIC KEY or RSA PUBLIC KEY")
            }));
        }
        many => {
            return Err(unusable(format!(
                "the PEM holds {} public keys: put one key in each file",
                many.len()
            )));
        }
    };
    let der = block.decode()?;
    match block.label {
        "PUBLIC KEY" => spki(&der),
        _ => rsa_public(&der),
    }
}

/// A DER private key: PKCS#8, SEC1 or PKCS#1, told apart by their shape.
pub(crate) fn private_from_der(der: &[u8]) -> Result<Private, KeyError> {
    match shape(der) {
        Shape::Pkcs8 => pkcs8(der),
        Shape::Sec1 => ec_private(der, None),
        Shape::Pkcs1Private => rsa_private(der),
        Shape::Spki | Shape::Pkcs1Public => Err(unusable(PUBLIC_CANNOT_SIGN.into())),
        Shape::Encrypted => Err(unusable(ENCRYPTED.into())),
        Shape::Certificate => Err(unusable(CERTIFICATE_NOT_PRIVATE.into())),
        Shape::Unknown => Err(unusable(
            "not a DER private key: expected PKCS#8, SEC1 or PKCS#1".into(),
        )),
    }
}

/// A DER public key: `SubjectPublicKeyInfo` or PKCS#1 `RSAPublicKey`.
pub(crate) fn public_from_der(der: &[u8]) -> Result<Public, KeyError> {
    match shape(der) {
        Shape::Spki => spki(der),
        Shape::Pkcs1Public => rsa_public(der),
        Shape::Pkcs8 | Shape::Sec1 | Shape::Pkcs1Private | Shape::Encrypted => {
            Err(unusable(PRIVATE_NOT_PUBLIC.into()))
        }
        Shape::Certificate => Err(unusable(CERTIFICATE_NOT_PUBLIC.into())),
        Shape::Unknown => Err(unusable(
            "not a DER public key: expected SubjectPublicKeyInfo or PKCS#1".into(),
        )),
    }
}

/// A PKCS#8 v1 Ed25519 key from its 32-byte seed (RFC 8410 §7).
pub(crate) fn ed25519_pkcs8(seed: &[u8]) -> Vec<u8> {
    let algorithm = der::tlv(der::SEQUENCE, &der::tlv(der::OID, ED25519));
    let mut inner = der::tlv(der::OCTET_STRING, seed);
    let mut key = der::tlv(der::OCTET_STRING, &inner);
    let mut body = [&[der::INTEGER, 1, 0][..], &algorithm, &key].concat();
    let out = der::tlv(der::SEQUENCE, &body);
    for buf in [&mut inner, &mut key, &mut body] {
        buf.iter_mut().for_each(|b| *b = 0);
    }
    out
}

/// The seed of a PKCS#8 Ed25519 key.
pub(crate) fn ed25519_seed(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let mut outer = Reader::new(pkcs8);
    let mut info = outer.sequence()?;
    info.small()?;
    info.sequence()?;
    let key = info.take(der::OCTET_STRING)?;
    Reader::new(key)
        .take(der::OCTET_STRING)
        .filter(|s| s.len() == 32)
        .map(<[u8]>::to_vec)
}

/// The integers of a PKCS#1 `RSAPrivateKey`, in order: n, e, d, p, q,
/// dp, dq, qi (big-endian, no leading zeros).
pub(crate) fn rsa_private_numbers(pkcs1: &[u8]) -> Option<[&[u8]; 8]> {
    let mut outer = Reader::new(pkcs1);
    let mut key = outer.sequence()?;
    if key.small()? != 0 {
        return None;
    }
    let mut numbers: [&[u8]; 8] = [&[]; 8];
    for number in &mut numbers {
        *number = key.unsigned()?;
    }
    key.is_empty().then_some(numbers)
}

/// A PKCS#1 `RSAPrivateKey` from n, e, d, p, q, dp, dq, qi (big-endian).
pub(crate) fn rsa_private_der(numbers: &[&[u8]; 8]) -> Vec<u8> {
    let mut body = vec![der::INTEGER, 1, 0];
    for number in numbers {
        let mut integer = der::unsigned(number);
        body.extend_from_slice(&integer);
        integer.iter_mut().for_each(|b| *b = 0);
    }
    let out = der::tlv(der::SEQUENCE, &body);
    body.iter_mut().for_each(|b| *b = 0);
    out
}

fn unusable(message: String) -> KeyError {
    KeyError::Unusable(message)
}

/// What a PEM holds when none of its blocks is the kind asked for.
fn nothing_but(blocks: &[Block<'_>], expected: &str) -> String {
    let labels: Vec<&str> = blocks
        .iter()
        .map(|b| b.label)
        .filter(|l| *l != "EC PARAMETERS")
        .collect();
    match labels.first() {
        Some(label) => format!("the PEM holds a `{label}` block, not a key: expected {expected}"),
        None => format!(
            "the PEM holds only EC PARAMETERS, no key: expected {expected} \
             (`openssl ecparam -genkey` writes the key after the parameters)"
        ),
    }
}

/// One `-----BEGIN X-----` … `-----END X-----` block.
struct Block<'a> {
    label: &'a str,
    body: &'a [u8],
}

impl Block<'_> {
    fn is_private(&self) -> bool {
        self.label.ends_with("PRIVATE KEY")
    }

    fn is_public(&self) -> bool {
        matches!(self.label, "PUBLIC KEY" | "RSA PUBLIC KEY")
    }

    fn is_certificate(&self) -> bool {
        self.label.ends_with("CERTIFICATE")
    }

    /// The DER inside: base64, its lines joined. RFC 1421 headers
    /// (`Proc-Type: 4,ENCRYPTED`) only come with encrypted keys.
    fn decode(&self) -> Result<Vec<u8>, KeyError> {
        let not_base64 = || unusable(format!("the `{}` block is not valid base64", self.label));
        let text = std::str::from_utf8(self.body).map_err(|_| not_base64())?;
        if text
            .lines()
            .any(|l| l.starts_with("Proc-Type:") && l.contains("ENCRYPTED"))
        {
            return Err(unusable(ENCRYPTED.into()));
        }
        let mut b64: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(&b64).map_err(|_| not_base64());
        let mut bytes = std::mem::take(&mut b64).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        let der = der?;
        if der.is_empty() {
            return Err(unusable(format!("the `{}` block is empty", self.label)));
        }
        Ok(der)
    }
}

/// Every block of a PEM document, in order. `der_reader` names the call
/// that reads the DER form, for a document that looks like DER.
fn blocks<'a>(pem: &'a [u8], der_reader: &str) -> Result<Vec<Block<'a>>, KeyError> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const DASHES: &[u8] = b"-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(at) = find(rest, BEGIN) {
        let after = &rest[at + BEGIN.len()..];
        let label = find(after, DASHES)
            .and_then(|end| std::str::from_utf8(&after[..end]).ok())
            .filter(|l| {
                !l.is_empty()
                    && l.len() <= 64
                    && l.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            })
            .ok_or_else(|| unusable("a `-----BEGIN` line without a readable label".into()))?;
        let body = &after[label.len() + DASHES.len()..];
        let end = format!("-----END {label}-----");
        let stop = find(body, end.as_bytes())
            .ok_or_else(|| unusable(format!("the `{label}` block has no `{end}` line")))?;
        out.push(Block {
            label,
            body: &body[..stop],
        });
        rest = &body[stop + end.len()..];
    }
    if out.is_empty() {
        let start = pem.iter().find(|b| !b.is_ascii_whitespace());
        return Err(unusable(match start {
            None => "the PEM is empty".into(),
            Some(0x30) => format!("{NOT_PEM} (it looks like DER: read it with {der_reader})"),
            Some(b'{') => format!("{NOT_PEM} (it looks like JSON: a JWK is read by Key::from_jwk)"),
            Some(_) => NOT_PEM.into(),
        }));
    }
    Ok(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The DER structures, told apart by their first two elements.
enum Shape {
    /// `SEQUENCE { INTEGER, SEQUENCE, OCTET STRING, .. }`
    Pkcs8,
    /// `SEQUENCE { INTEGER 1, OCTET STRING, .. }`
    Sec1,
    /// `SEQUENCE { INTEGER, INTEGER, INTEGER, .. }` (nine integers)
    Pkcs1Private,
    /// `SEQUENCE { INTEGER, INTEGER }`
    Pkcs1Public,
    /// `SEQUENCE { SEQUENCE, BIT STRING }`
    Spki,
    /// `SEQUENCE { SEQUENCE, OCTET STRING }`: an EncryptedPrivateKeyInfo.
    Encrypted,
    /// `SEQUENCE { SEQUENCE, SEQUENCE, BIT STRING }`
    Certificate,
    Unknown,
}

fn shape(der: &[u8]) -> Shape {
    let mut outer = Reader::new(der);
    let Some(mut seq) = outer.sequence().filter(|_| outer.is_empty()) else {
        return Shape::Unknown;
    };
    let mut tags = Vec::new();
    while let Some((tag, _)) = seq.any() {
        tags.push(tag);
        if tags.len() > 10 {
            break;
        }
    }
    use der::{BIT_STRING as B, INTEGER as I, OCTET_STRING as O, SEQUENCE as S};
    match tags.as_slice() {
        [I, S, O, ..] => Shape::Pkcs8,
        [I, O, ..] => Shape::Sec1,
        [I, I] => Shape::Pkcs1Public,
        [I, I, I, ..] => Shape::Pkcs1Private,
        [S, B] => Shape::Spki,
        [S, O] => Shape::Encrypted,
        [S, S, B] => Shape::Certificate,
        _ => Shape::Unknown,
    }
}

/// A PKCS#8 `PrivateKeyInfo` (RFC 5208; v2 `OneAsymmetricKey`, RFC 5958).
fn pkcs8(der: &[u8]) -> Result<Private, KeyError> {
    let damaged = || unusable("the key is not a well-formed PKCS#8 private key".into());
    let mut outer = Reader::new(der);
    let mut info = outer.sequence().ok_or_else(damaged)?;
    if !outer.is_empty() || info.small().is_none_or(|v| v > 1) {
        return Err(damaged());
    }
    let mut algorithm = info.sequence().ok_or_else(damaged)?;
    let oid = algorithm.take(der::OID).ok_or_else(damaged)?;
    let key = info.take(der::OCTET_STRING).ok_or_else(damaged)?;
    // [0] IMPLICIT attributes, [1] IMPLICIT BIT STRING public key (v2).
    let _ = info.take(der::CONTEXT_0);
    let public = match info.take(0x81) {
        Some([0, public @ ..]) => Some(public.to_vec()),
        Some(_) => return Err(damaged()),
        None => None,
    };
    if !info.is_empty() {
        return Err(damaged());
    }
    match oid {
        RSA_ENCRYPTION => rsa_private(key),
        sec1::EC_PUBLIC_KEY => ec_private(key, Some(Curve::from_params(&mut algorithm)?)),
        ED25519 => {
            let seed = Reader::new(key)
                .take(der::OCTET_STRING)
                .filter(|s| s.len() == 32)
                .ok_or_else(|| unusable("the Ed25519 private key is not 32 bytes".into()))?;
            Ok(Private {
                kind: Kind::Ed25519,
                der: ed25519_pkcs8(seed),
                public,
            })
        }
        other => Err(unsupported(other)),
    }
}

/// A key type no algorithm here uses, by its OID.
fn unsupported(oid: &[u8]) -> KeyError {
    unusable(match oid {
        RSA_PSS => "the key is an RSA-PSS key (`-algorithm RSA-PSS`), which is not supported: \
             use a plain RSA key (`openssl genpkey -algorithm RSA`), which PS256, PS384 and \
             PS512 sign with"
            .into(),
        ED448 => "the key is an Ed448 key: EdDSA here means Ed25519 \
             (`openssl genpkey -algorithm ed25519`)"
            .into(),
        X25519 | X448 => "the key is an X25519 or X448 key, which agrees on keys and \
             cannot sign: EdDSA needs an Ed25519 key"
            .into(),
        DSA => "the key is a DSA key, which no JWT algorithm uses: \
             use an EC, Ed25519 or RSA key"
            .into(),
        other => format!(
            "the key is of a type no JWT algorithm here uses (OID {}): \
             expected RSA, EC (P-256, P-384) or Ed25519",
            der::dotted(other)
        ),
    })
}

/// A SEC1 `ECPrivateKey`, rewrapped as PKCS#8.
fn ec_private(sec1_der: &[u8], outer: Option<Curve>) -> Result<Private, KeyError> {
    let key = sec1::parse(sec1_der, outer)?;
    Ok(Private {
        kind: Kind::Ec(key.curve),
        der: sec1::pkcs8(key.curve, sec1_der),
        // A compressed point is left to the backends, which check it too.
        public: key
            .public
            .filter(|p| p.first() == Some(&4))
            .map(<[u8]>::to_vec),
    })
}

/// A PKCS#1 `RSAPrivateKey` (RFC 8017 §A.1.2), two primes.
fn rsa_private(pkcs1: &[u8]) -> Result<Private, KeyError> {
    let Some(numbers) = rsa_private_numbers(pkcs1) else {
        let multi_prime = Reader::new(pkcs1)
            .sequence()
            .and_then(|mut key| key.small())
            == Some(1);
        return Err(unusable(if multi_prime {
            "the RSA key has more than two primes, which is not supported".into()
        } else {
            "the key is not a well-formed PKCS#1 RSA private key".into()
        }));
    };
    Ok(Private {
        kind: Kind::Rsa {
            bits: der::bit_length(numbers[0]),
        },
        der: pkcs1.to_vec(),
        public: None,
    })
}

/// A `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).
fn spki(der: &[u8]) -> Result<Public, KeyError> {
    let damaged =
        || unusable("the key is not a well-formed public key (SubjectPublicKeyInfo)".into());
    let mut outer = Reader::new(der);
    let mut info = outer.sequence().ok_or_else(damaged)?;
    let mut algorithm = info.sequence().ok_or_else(damaged)?;
    let oid = algorithm.take(der::OID).ok_or_else(damaged)?;
    let key = info.bits().ok_or_else(damaged)?;
    if !outer.is_empty() || !info.is_empty() {
        return Err(damaged());
    }
    match oid {
        RSA_ENCRYPTION => rsa_public(key),
        sec1::EC_PUBLIC_KEY => ec_public(Curve::from_params(&mut algorithm)?, key),
        ED25519 if key.len() == 32 => Ok(Public {
            kind: Kind::Ed25519,
            params: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(key),
            }),
        }),
        ED25519 => Err(damaged()),
        other => Err(unsupported(other)),
    }
}

/// An EC public point: uncompressed, of the curve's size.
fn ec_public(curve: Curve, point: &[u8]) -> Result<Public, KeyError> {
    let size = curve.size();
    match point {
        [4, xy @ ..] if xy.len() == 2 * size => Ok(Public {
            kind: Kind::Ec(curve),
            params: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: match curve {
                    Curve::P256 => EllipticCurve::P256,
                    Curve::P384 => EllipticCurve::P384,
                },
                x: URL_SAFE_NO_PAD.encode(&xy[..size]),
                y: URL_SAFE_NO_PAD.encode(&xy[size..]),
            }),
        }),
        [2 | 3, ..] => Err(unusable(
            "the EC public key is compressed: write it uncompressed \
             (`openssl ec -pubin -in public.pem -pubout -conv_form uncompressed -out plain.pem`)"
                .into(),
        )),
        _ => Err(unusable(format!(
            "the EC public key is not a {} point",
            curve.name()
        ))),
    }
}

/// A PKCS#1 `RSAPublicKey` (RFC 8017 §A.1.1).
fn rsa_public(pkcs1: &[u8]) -> Result<Public, KeyError> {
    let damaged = || unusable("the key is not a well-formed PKCS#1 RSA public key".into());
    let mut outer = Reader::new(pkcs1);
    let mut key = outer.sequence().ok_or_else(damaged)?;
    let n = key.unsigned().ok_or_else(damaged)?;
    let e = key.unsigned().ok_or_else(damaged)?;
    if !outer.is_empty() || !key.is_empty() || n.is_empty() || e.is_empty() {
        return Err(damaged());
    }
    Ok(Public {
        kind: Kind::Rsa {
            bits: der::bit_length(n),
        },
        params: AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n: URL_SAFE_NO_PAD.encode(n),
            e: URL_SAFE_NO_PAD.encode(e),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every truncation and every one-byte change of real keys is read
    /// without a panic, as a key or as an error.
    #[test]
    fn damaged_documents_never_panic() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
            let pem = crate::crypto::generate_private_pem(alg).expect("key");
            let private = private_from_pem(pem.as_bytes()).expect("private");
            let documents = [private.der.clone(), pem.into_bytes()];
            for document in documents {
                for len in 0..document.len() {
                    let _ = private_from_der(&document[..len]);
                    let _ = public_from_der(&document[..len]);
                    let _ = private_from_pem(&document[..len]);
                }
                // Every byte, changed, of the shorter keys (RSA: the first 300).
                for at in 0..document.len().min(300) {
                    let mut changed = document.clone();
                    changed[at] ^= 0x81;
                    let _ = private_from_der(&changed);
                    let _ = public_from_der(&changed);
                    let _ = private_from_pem(&changed);
                }
            }
        }
    }
}
