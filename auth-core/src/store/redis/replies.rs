//! Reading what the scripts answer: times capped for Lua and Redis,
//! session records and revocation lists parsed, anything else refused as
//! malformed (fail closed).

use std::collections::HashMap;

use uuid::Uuid;

use crate::error::StoreError;
use crate::store::SessionRecord;

/// Times are capped here (year 9999) so they survive Lua's doubles and
/// Redis's expiry arithmetic.
pub(super) const MAX_SECS: u64 = 253_402_300_799;

/// A short, lossy, quoted form of bytes read from Redis, for logs.
pub(super) fn short(raw: &[u8]) -> String {
    const MAX: usize = 24;
    let text = String::from_utf8_lossy(raw.get(..MAX).unwrap_or(raw));
    let more = if raw.len() > MAX { "…" } else { "" };
    format!("{text:?}{more} ({} bytes)", raw.len())
}

pub(super) fn cap(t: u64) -> u64 {
    t.min(MAX_SECS)
}

pub(super) fn cap_ms(t: u64) -> u64 {
    t.min(MAX_SECS * 1000)
}

pub(super) fn malformed() -> StoreError {
    StoreError::Unavailable("redis: malformed reply".into())
}

/// A field of a script's reply.
pub(super) fn parse<T: std::str::FromStr>(s: Option<&String>) -> Result<T, StoreError> {
    s.and_then(|s| s.parse().ok()).ok_or_else(malformed)
}

/// A session record from `HGETALL` field/value pairs.
pub(super) fn record(sid: Uuid, pairs: &[String]) -> Result<SessionRecord, StoreError> {
    let m: HashMap<&str, &String> = pairs
        .chunks_exact(2)
        .map(|kv| (kv[0].as_str(), &kv[1]))
        .collect();
    let get = |k: &str| m.get(k).copied();
    // `lastms` since the grace is measured in ms; `last` (seconds) counts
    // when an older version rotated last.
    let last_ms = get("lastms")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        .max(parse::<u64>(get("last"))?.saturating_mul(1000));
    Ok(SessionRecord {
        sid,
        subject: get("sub").cloned().unwrap_or_default(),
        current_jti: parse::<Uuid>(get("cur"))?,
        previous_jti: get("prev").and_then(|p| p.parse().ok()),
        created_at: parse::<u64>(get("created"))?,
        last_refreshed_ms: last_ms,
        refresh_expires_at: parse::<u64>(get("rexp"))?,
        expires_at: parse::<u64>(get("exp"))?,
        revoke_until: parse::<u64>(get("ru"))?,
        claims: get("claims").cloned().unwrap_or_default(),
        device: get("dev").filter(|d| !d.is_empty()).cloned(),
    })
}

/// `(sid, until)` pairs of a script's reply: sessions it revoked.
pub(super) fn revoked_pairs(out: &[String]) -> Result<Vec<(Uuid, u64)>, StoreError> {
    out.chunks_exact(2)
        .map(|pair| Ok((parse::<Uuid>(pair.first())?, parse::<u64>(pair.get(1))?)))
        .collect()
}
