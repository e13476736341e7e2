//! Target `resign`: a header and a payload, mutated as bytes, then signed, so
//! the fuzzer gets past the signature to the header and claim checks.
//!
//! Input: one mode byte ([`Sign::from_byte`]), the header JSON, `\n`, the
//! payload JSON. With no `\n` the payload is empty.

use crate::fixture::{Sign, sign};
use crate::token::check;

/// Signs the input's header and payload and decodes the token as both kinds.
/// Besides the `token` target's checks: a token whose signature is not the
/// valid one (confused, empty, wrong secret) is never accepted.
pub fn resign(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let how = Sign::from_byte(mode);
    let (header, payload) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let token = sign(header, payload, how);
    let (access, refresh) = check(&token);
    if how != Sign::Valid {
        assert!(!access && !refresh, "accepted a token signed {how:?}");
    }
}
