//! A DPoP client key for tests: proofs (RFC 9449 §4) for any request.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::algorithm::Algorithm;
use crate::dpop::{access_token_hash, thumbprint_of};
use crate::error::KeyError;
use crate::keys::Key;

/// A client's DPoP key pair, signing proofs as a client would.
///
/// ```
/// use std::sync::Arc;
/// use auth_core::Algorithm;
/// use auth_core::dpop::{DpopVerifier, MemoryReplayCache, ProofRequest};
/// use auth_core::testing::DpopKey;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let key = DpopKey::generate(Algorithm::ES256).unwrap();
/// let proof = key.proof("GET", "https://api.example/orders", Some("the-token"));
/// let verifier = DpopVerifier::new(Arc::new(MemoryReplayCache::default()));
/// let request = ProofRequest::new("GET", "https://api.example/orders").with_access_token("the-token");
/// assert_eq!(verifier.verify(&proof, &request).await.unwrap().jkt, key.jkt());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DpopKey {
    key: Key,
    jwk: Value,
}

impl DpopKey {
    /// A fresh key pair for `alg` (ES256, ES384, EdDSA, PS256...).
    pub fn generate(alg: Algorithm) -> Result<DpopKey, KeyError> {
        let key = Key::generate(alg)?;
        let public = key
            .public_jwk()
            .ok_or_else(|| KeyError::Generation("DPoP needs an asymmetric algorithm".into()))?;
        let mut jwk =
            serde_json::to_value(public).map_err(|e| KeyError::Generation(e.to_string()))?;
        if let Some(members) = jwk.as_object_mut() {
            members.retain(|k, _| ["kty", "crv", "x", "y", "n", "e"].contains(&k.as_str()));
        }
        Ok(DpopKey { key, jwk })
    }

    /// The key's RFC 7638 thumbprint: the `cnf.jkt` of tokens bound to it.
    pub fn jkt(&self) -> String {
        thumbprint_of(&self.jwk)
    }

    /// The public JWK a proof's header carries.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// A fresh proof (new `jti`, `iat` now) for `method` and `url`, with
    /// the `ath` of `access_token` when given.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.proof_with_nonce(method, url, access_token, None)
    }

    /// [`proof`](Self::proof) carrying the server's `nonce` when given
    /// (from a `DPoP-Nonce` header).
    pub fn proof_with_nonce(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": url,
            "iat": now,
        });
        if let Some(token) = access_token {
            claims["ath"] = access_token_hash(token).into();
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        self.sign(
            &json!({ "typ": "dpop+jwt", "alg": self.key.algorithm().to_string(), "jwk": self.jwk }),
            &claims,
        )
    }

    /// A compact JWS of exactly `header` and `claims`, signed with this key:
    /// for proofs that break a rule on purpose.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .encoding()
            .and_then(|k| {
                jsonwebtoken::crypto::sign(message.as_bytes(), k, self.key.algorithm().to_jwt())
                    .ok()
            })
            .unwrap_or_default();
        format!("{message}.{signature}")
    }
}
