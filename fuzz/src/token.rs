//! Target `token`: any bytes, as a token, to both decoders.

use auth_core::RoleClaims;

use crate::fixture::fixture;
use crate::oracle;

/// Decodes `data` (lossily made UTF-8) as an access and as a refresh token.
/// Neither may panic; an accepted token must pass the oracle; no token is
/// both kinds.
pub fn token(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    check(&token);
}

/// The checks of one token string, shared with the structured target.
pub(crate) fn check(token: &str) -> (bool, bool) {
    let v = fixture().validator();
    let access = match v.decode_access::<RoleClaims>(token) {
        Ok(claims) => {
            oracle::accepted_access(token, &claims);
            true
        }
        Err(e) => {
            oracle::refused(e);
            false
        }
    };
    let refresh = match v.decode_refresh(token) {
        Ok(claims) => {
            oracle::accepted_refresh(token, &claims);
            true
        }
        Err(e) => {
            oracle::refused(e);
            false
        }
    };
    assert!(!(access && refresh), "one token accepted as both kinds");
    (access, refresh)
}
