//! Device tokens: the signed, long-lived proof that a browser or app logged
//! in to an account before (OWASP's device cookie). Never a credential.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::KeyError;

/// How long a device token lives: 180 days.
pub const DEFAULT_DEVICE_TTL: Duration = Duration::from_secs(180 * 24 * 60 * 60);

/// The `typ` of device tokens: no other token of this crate family is
/// accepted as one, nor one of them as another.
const DEVICE_TYP: &str = "device+jwt";
/// Longer device tokens are not even parsed.
const MAX_DEVICE_TOKEN: usize = 1024;
/// Device keys are at least this long.
const MIN_DEVICE_SECRET: usize = 32;

#[derive(Serialize, Deserialize)]
struct DeviceClaims {
    sub: String,
    jti: Uuid,
    iat: u64,
    exp: u64,
}

/// The HMAC-SHA256 key device tokens are signed with, and their lifetime.
#[derive(Clone)]
pub struct DeviceKey {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    ttl: Duration,
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKey")
            .field("secret", &"[redacted]")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl DeviceKey {
    /// A key made of `secret` (at least 32 bytes), shared by the instances
    /// that must recognise each other's devices. Use a secret of its own,
    /// not a token signing key.
    pub fn from_secret(secret: &[u8]) -> Result<DeviceKey, KeyError> {
        if secret.len() < MIN_DEVICE_SECRET {
            return Err(KeyError::SecretTooShort {
                alg: crate::Algorithm::HS256,
                min: MIN_DEVICE_SECRET,
                len: secret.len(),
            });
        }
        Ok(DeviceKey {
            encoding: Arc::new(EncodingKey::from_secret(secret)),
            decoding: Arc::new(DecodingKey::from_secret(secret)),
            ttl: DEFAULT_DEVICE_TTL,
        })
    }

    /// A random key: devices are recognised by this process only.
    pub fn random() -> DeviceKey {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        DeviceKey {
            encoding: Arc::new(EncodingKey::from_secret(&secret)),
            decoding: Arc::new(DecodingKey::from_secret(&secret)),
            ttl: DEFAULT_DEVICE_TTL,
        }
    }

    /// How long tokens signed from now on live (default 180 days,
    /// [`DEFAULT_DEVICE_TTL`]); at least a minute.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(60));
        self
    }

    /// The lifetime of tokens this key signs.
    pub fn lifetime(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn sign(&self, account: &str, device: Uuid, now: u64) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(DEVICE_TYP.to_owned());
        let claims = DeviceClaims {
            sub: account.to_owned(),
            jti: device,
            iat: now,
            exp: now.saturating_add(self.ttl.as_secs()),
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| KeyError::InvalidKey {
            alg: crate::Algorithm::HS256,
            reason: e.to_string(),
        })
    }

    /// The device id of a valid, unexpired device token of `account`.
    pub(crate) fn verify(&self, token: &str, account: &str, now: u64) -> Option<Uuid> {
        if token.len() > MAX_DEVICE_TOKEN {
            return None;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<DeviceClaims>(token, &self.decoding, &validation).ok()?;
        let claims = data.claims;
        let current = data.header.typ.as_deref() == Some(DEVICE_TYP)
            && now < claims.exp
            && claims.iat <= now.saturating_add(60)
            // The account is no secret: the signature was checked in
            // constant time, this is a plain comparison.
            && claims.sub == account;
        current.then_some(claims.jti)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_token_names_one_account_until_it_expires() {
        let key = DeviceKey::random();
        let id = Uuid::new_v4();
        let token = key.sign("alice", id, 1000).unwrap();
        assert_eq!(key.verify(&token, "alice", 1001), Some(id));
        assert_eq!(key.verify(&token, "bob", 1001), None);
        let end = 1000 + DEFAULT_DEVICE_TTL.as_secs();
        assert_eq!(key.verify(&token, "alice", end), None);
        assert_eq!(DeviceKey::random().verify(&token, "alice", 1001), None);
        assert_eq!(key.verify("x.y.z", "alice", 1001), None);
        assert!(DeviceKey::from_secret(&[7; 31]).is_err());
    }
}
