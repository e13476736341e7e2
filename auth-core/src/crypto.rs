//! The few primitives this crate needs beyond what jsonwebtoken offers:
//! randomness, key generation, and picking jsonwebtoken's crypto provider.
//! One implementation per backend feature; everything else is backend-neutral.

use crate::algorithm::Algorithm;
use crate::error::KeyError;

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "auth-core needs a crypto backend: enable feature `aws-lc-rs` (default) or `rust-crypto`"
);

/// Installs the backend chosen by this crate's features as jsonwebtoken's
/// process-wide provider. jsonwebtoken picks one by itself only when exactly one
/// of its backend features is on; feature unification in a workspace can turn
/// on both, so the choice is made here, once. `aws-lc-rs` wins when both are on.
pub(crate) fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(feature = "aws-lc-rs")]
        let provider = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
        #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
        let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
        // An application that installed its own provider first keeps it.
        let _ = provider.install_default();
    });
}

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), KeyError> {
    #[cfg(feature = "aws-lc-rs")]
    {
        aws_lc_rs::rand::fill(buf).map_err(|_| KeyError::Generation("system RNG failed".into()))
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        use rand::RngCore;
        rand::rngs::OsRng
            .try_fill_bytes(buf)
            .map_err(|e| KeyError::Generation(e.to_string()))
    }
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    #[cfg(feature = "aws-lc-rs")]
    {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }
}

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    #[cfg(feature = "aws-lc-rs")]
    {
        use aws_lc_rs::hmac;
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        use hmac::Mac;
        // HMAC takes a key of any length: `new_from_slice` cannot fail.
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

/// Compares in time that depends only on the lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh private key for `alg`, PEM-encoded (PKCS#8, or PKCS#1 for RSA).
pub(crate) fn generate_private_pem(alg: Algorithm) -> Result<String, KeyError> {
    use Algorithm::*;
    match alg {
        EdDSA => {
            let mut seed = [0u8; 32];
            fill_random(&mut seed)?;
            Ok(ed25519_pkcs8_pem(&seed))
        }
        ES256 | ES384 => generate_ec(alg),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => generate_rsa(),
        HS256 | HS384 | HS512 => Err(KeyError::WrongAlgorithm {
            alg,
            reason: "HMAC keys are raw secrets, not PEM documents",
        }),
    }
}

/// PKCS#8 v1 for an Ed25519 seed (RFC 8410 §7): a fixed 16-byte prefix and the
/// 32-byte seed. Written out by hand so both backends produce the same form.
fn ed25519_pkcs8_pem(seed: &[u8; 32]) -> String {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = Vec::with_capacity(48);
    der.extend_from_slice(&PREFIX);
    der.extend_from_slice(seed);
    let pem = pem_wrap("PRIVATE KEY", &der);
    der.iter_mut().for_each(|b| *b = 0);
    pem
}

pub(crate) fn pem_wrap(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(feature = "aws-lc-rs")]
fn generate_ec(alg: Algorithm) -> Result<String, KeyError> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    };
    let signing = if alg == Algorithm::ES256 {
        &ECDSA_P256_SHA256_FIXED_SIGNING
    } else {
        &ECDSA_P384_SHA384_FIXED_SIGNING
    };
    let doc = EcdsaKeyPair::generate_pkcs8(signing, &aws_lc_rs::rand::SystemRandom::new())
        .map_err(|_| KeyError::Generation("EC key generation failed".into()))?;
    Ok(pem_wrap("PRIVATE KEY", doc.as_ref()))
}

#[cfg(feature = "aws-lc-rs")]
fn generate_rsa() -> Result<String, KeyError> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| KeyError::Generation("RSA key generation failed".into()))?;
    let der: Pkcs8V1Der<'_> = pair
        .as_der()
        .map_err(|_| KeyError::Generation("RSA key encoding failed".into()))?;
    Ok(pem_wrap("PRIVATE KEY", der.as_ref()))
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
fn generate_ec(alg: Algorithm) -> Result<String, KeyError> {
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    let pem = if alg == Algorithm::ES256 {
        p256::SecretKey::random(&mut rand::rngs::OsRng).to_pkcs8_pem(LineEnding::LF)
    } else {
        p384::SecretKey::random(&mut rand::rngs::OsRng).to_pkcs8_pem(LineEnding::LF)
    };
    pem.map(|p| p.to_string())
        .map_err(|e| KeyError::Generation(e.to_string()))
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
fn generate_rsa() -> Result<String, KeyError> {
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    key.to_pkcs1_pem(LineEnding::LF)
        .map(|p| p.to_string())
        .map_err(|e| KeyError::Generation(e.to_string()))
}

/// A verification key parsed once, when its [`Key`](crate::Key) is built,
/// instead of on every token as `jsonwebtoken::crypto::verify` does (for an
/// EC key that parse costs about as much as the signature check). With the
/// pure-Rust backend, or a key aws-lc-rs does not take this way,
/// verification goes through jsonwebtoken.
#[derive(Clone)]
pub(crate) enum Verifier {
    /// An HMAC key schedule.
    #[cfg(feature = "aws-lc-rs")]
    Hmac(Box<aws_lc_rs::hmac::Key>),
    /// A parsed public key (EC point, Ed25519 key, RSA modulus).
    #[cfg(feature = "aws-lc-rs")]
    Public(aws_lc_rs::signature::ParsedPublicKey),
    /// jsonwebtoken's own path.
    Generic,
}

impl Verifier {
    /// The verifier of an HMAC secret.
    pub(crate) fn hmac(alg: Algorithm, secret: &[u8]) -> Verifier {
        #[cfg(feature = "aws-lc-rs")]
        {
            use aws_lc_rs::hmac;
            let algorithm = match alg {
                Algorithm::HS256 => hmac::HMAC_SHA256,
                Algorithm::HS384 => hmac::HMAC_SHA384,
                Algorithm::HS512 => hmac::HMAC_SHA512,
                _ => return Verifier::Generic,
            };
            Verifier::Hmac(Box::new(hmac::Key::new(algorithm, secret)))
        }
        #[cfg(not(feature = "aws-lc-rs"))]
        {
            let _ = (alg, secret);
            Verifier::Generic
        }
    }

    /// The verifier of a public JWK (already checked against `alg`).
    pub(crate) fn public(alg: Algorithm, jwk: &jsonwebtoken::jwk::Jwk) -> Verifier {
        #[cfg(feature = "aws-lc-rs")]
        {
            parsed_public(alg, jwk).map_or(Verifier::Generic, Verifier::Public)
        }
        #[cfg(not(feature = "aws-lc-rs"))]
        {
            let _ = (alg, jwk);
            Verifier::Generic
        }
    }

    /// Whether `signature` (base64url, unpadded) signs `message`; `None`
    /// when this verifier defers to jsonwebtoken.
    pub(crate) fn verify(&self, message: &[u8], signature: &str) -> Option<bool> {
        #[cfg(feature = "aws-lc-rs")]
        {
            use base64::Engine;
            let decode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s);
            match self {
                Verifier::Hmac(key) => Some(decode(signature).is_ok_and(|tag| {
                    // Constant time.
                    aws_lc_rs::hmac::verify(key, message, &tag).is_ok()
                })),
                Verifier::Public(key) => {
                    Some(decode(signature).is_ok_and(|sig| key.verify_sig(message, &sig).is_ok()))
                }
                Verifier::Generic => None,
            }
        }
        #[cfg(not(feature = "aws-lc-rs"))]
        {
            let _ = (message, signature);
            None
        }
    }
}

/// aws-lc-rs's parsed form of a public JWK: the uncompressed point for EC,
/// the raw key for Ed25519, a PKCS#1 `RSAPublicKey` for RSA.
#[cfg(feature = "aws-lc-rs")]
fn parsed_public(
    alg: Algorithm,
    jwk: &jsonwebtoken::jwk::Jwk,
) -> Option<aws_lc_rs::signature::ParsedPublicKey> {
    use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
    use base64::Engine;
    use jsonwebtoken::jwk::AlgorithmParameters;
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()
    };
    let algorithm: &'static dyn VerificationAlgorithm = match alg {
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return None,
    };
    let bytes = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => {
            let (x, y) = (b64(&p.x)?, b64(&p.y)?);
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            point
        }
        AlgorithmParameters::OctetKeyPair(p) => b64(&p.x)?,
        AlgorithmParameters::RSA(p) => rsa_public_key_der(&b64(&p.n)?, &b64(&p.e)?),
        _ => return None,
    };
    ParsedPublicKey::new(algorithm, bytes).ok()
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
/// (RFC 8017 §A.1.1) from big-endian unsigned `n` and `e`.
#[cfg(feature = "aws-lc-rs")]
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(out: &mut Vec<u8>, value: &[u8]) {
        let value = &value[value.iter().take_while(|b| **b == 0).count()..];
        // A leading zero keeps a high first bit from reading as negative.
        let pad = value.first().is_none_or(|b| b & 0x80 != 0);
        out.push(0x02);
        length(out, value.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(value);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut der = Vec::with_capacity(body.len() + 8);
    der.push(0x30);
    length(&mut der, body.len());
    der.extend_from_slice(&body);
    der
}

#[cfg(test)]
mod tests {
    /// RFC 4231 §4.3 (test case 2), on whichever backend is built.
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let tag = super::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
