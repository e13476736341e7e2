//! The key layout: every key lives under a hash tag, so that everything one
//! script touches is in one hash slot, as Redis Cluster requires.
//!
//! A session and everything about its subject (the session record, the
//! subject's index and cut-off, the session's revocation) share the tag of
//! the subject's bucket; a denylisted token (`revoke_token` knows only its
//! `jti`) the tag of the `jti`'s bucket; a DPoP replay entry (`dpop:`, see
//! `replay.rs`) the tag of its digest's bucket. Each bucket has its own revocation
//! indexes, so a resync reads [`BUCKETS`] small sorted sets per kind, spread
//! over the cluster's primaries, and nothing else.

/// How many hash-tag buckets the keys are spread over: enough to spread
/// evenly over any cluster's primaries (Redis Cluster has 16 384 slots), few
/// enough that a resync's per-bucket reads stay cheap. Part of the layout:
/// changing it moves every key.
pub(super) const BUCKETS: u16 = 1024;

/// The bucket of an id (a subject, or a `jti` as text): FNV-1a, stable
/// across processes and versions (unlike the standard library's hasher).
pub(super) fn bucket(id: &[u8]) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    // In range: the remainder of a division by BUCKETS.
    (h % u32::from(BUCKETS)) as u16
}

/// The base of every key of a bucket: `{prefix}{bbb}:`, the bucket in three
/// hex digits between braces (the hash tag). The prefix holds no braces (the
/// builder allows letters, digits and `:_-.`), so the tag is always this one.
pub(super) fn base(prefix: &str, bucket: u16) -> String {
    format!("{prefix}{{{bucket:03x}}}:")
}

/// The base of the bucket of `id`.
pub(super) fn base_of(prefix: &str, id: &str) -> String {
    base(prefix, bucket(id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_in_range() {
        // Part of the stored layout: these must never change.
        assert_eq!(bucket(b""), 0x1c5);
        assert_eq!(bucket(b"alice"), bucket(b"alice"));
        assert_eq!(base("auth:", 0x1c5), "auth:{1c5}:");
        let mut seen = [0u32; BUCKETS as usize];
        for i in 0..100_000 {
            let b = bucket(format!("user{i}").as_bytes());
            seen[usize::from(b)] += 1;
        }
        // Spread evenly: every bucket within 30% of the mean (~98).
        assert!(seen.iter().all(|&n| (68..=128).contains(&n)), "{seen:?}");
    }
}
