//! SEC1 EC private keys (`-----BEGIN EC PRIVATE KEY-----`, what
//! `openssl ecparam -genkey` writes), rewrapped as the PKCS#8 that the
//! signing backends read.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::algorithm::Algorithm;

const BEGIN: &str = "-----BEGIN EC PRIVATE KEY-----";
const END: &str = "-----END EC PRIVATE KEY-----";

/// id-ecPublicKey (1.2.840.10045.2.1), DER.
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (1.2.840.10045.3.1.7), DER.
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 (1.3.132.0.34), DER.
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// The PKCS#8 DER of a SEC1 PEM for `alg` (ES256 or ES384); `None` when
/// `pem` is not a SEC1 PEM; an error naming what is wrong otherwise.
pub(crate) fn pkcs8_from_sec1_pem(alg: Algorithm, pem: &[u8]) -> Option<Result<Vec<u8>, String>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find(BEGIN)? + BEGIN.len();
    let body = &text[start..];
    let Some(end) = body.find(END) else {
        return Some(Err(format!("the PEM has no {END} line")));
    };
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let Ok(sec1) = STANDARD.decode(b64) else {
        return Some(Err("the EC PRIVATE KEY block is not base64".into()));
    };
    let curve = match alg {
        Algorithm::ES256 => P256,
        Algorithm::ES384 => P384,
        _ => return Some(Err(format!("an EC PRIVATE KEY is no {} key", alg.as_str()))),
    };
    let algorithm = tlv(0x30, &[EC_PUBLIC_KEY, curve].concat());
    let version = [0x02, 0x01, 0x00];
    let key = tlv(0x04, &sec1);
    Some(Ok(tlv(0x30, &[&version[..], &algorithm, &key].concat())))
}

/// A DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
