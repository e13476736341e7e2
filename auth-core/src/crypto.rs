//! The few primitives this crate needs beyond what jsonwebtoken offers:
//! randomness, key generation, and picking jsonwebtoken's crypto provider.
//! One implementation per backend feature; everything else is backend-neutral.

use crate::Algorithm;
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
