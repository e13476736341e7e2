//! The resync: every bucket's revocation index read (`ZSCAN`, a page at a
//! time, several buckets at once) and loaded into the local mirror, entries
//! that cannot be read skipped and logged.

use uuid::Uuid;

use super::nodes::within;
use super::{Listener, RESYNC_COMMAND_LIMIT};
use crate::clock::Clock;
use crate::error::StoreError;
use crate::store::Store;
use crate::store::redis::conn::Conn;
use crate::store::redis::keys::{BUCKETS, base};

/// How many entries one `ZSCAN` step asks for.
pub(super) const PAGE: usize = 1000;

/// How many buckets a resync reads at once.
pub(super) const PARALLEL: usize = 32;

/// The kinds of revocation, each with its key family and its index.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Token,
    Session,
    Subject,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Token, Kind::Session, Kind::Subject];

    /// The key family: keys `{base}{family}:{id}`, indexed by that name
    /// (without the base) in the bucket's `{base}idx`.
    fn family(self) -> &'static str {
        match self {
            Kind::Token => "jti",
            Kind::Session => "rsid",
            Kind::Subject => "cut",
        }
    }
}

/// What one bucket's revocation index holds, as read: `(kind, id, score)`
/// of each token and session revocation, and each subject with a cut-off
/// with its `cut:` key's value.
#[derive(Default)]
pub(super) struct BucketEntries {
    indexed: Vec<(Kind, Vec<u8>, Vec<u8>)>,
    cutoffs: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Members of no known kind.
    unknown: Vec<Vec<u8>>,
}

/// Reads the revocation index of the bucket whose keys start with `base`
/// (its members are the revocation keys' names, `jti:…`, `rsid:…`, `cut:…`),
/// and the cut-offs it names: one slot, which a cluster serves from one node.
/// Each command is bounded by [`RESYNC_COMMAND_LIMIT`] here too, whatever
/// the client does underneath (a cluster client refreshing its slots
/// mid-failover).
pub(super) async fn read_bucket(mut conn: Conn, base: String) -> Result<BucketEntries, StoreError> {
    let timeout = RESYNC_COMMAND_LIMIT;
    let mut out = BucketEntries::default();
    let index = format!("{base}idx");
    let mut cursor: u64 = 0;
    loop {
        let mut zscan = ::redis::cmd("ZSCAN");
        zscan.arg(&index).arg(cursor).arg("COUNT").arg(PAGE);
        let (next_cursor, flat): (u64, Vec<Vec<u8>>) = within(timeout, &zscan, &mut conn).await?;
        let mut cut_keys = Vec::new();
        for pair in flat.chunks_exact(2) {
            let (member, score) = (&pair[0], &pair[1]);
            let kind = Kind::ALL.into_iter().find(|k| {
                member.starts_with(k.family().as_bytes())
                    && member.get(k.family().len()) == Some(&b':')
            });
            match kind {
                Some(Kind::Subject) => cut_keys.push(member.clone()),
                Some(kind) => {
                    let id = member.get(kind.family().len() + 1..).unwrap_or_default();
                    out.indexed.push((kind, id.to_vec(), score.clone()));
                }
                None => out.unknown.push(member.clone()),
            }
        }
        if !cut_keys.is_empty() {
            let keys: Vec<Vec<u8>> = cut_keys
                .iter()
                .map(|k| [base.as_bytes(), k].concat())
                .collect();
            let mut mget = ::redis::cmd("MGET");
            mget.arg(&keys);
            let values: Vec<Option<Vec<u8>>> = within(timeout, &mget, &mut conn).await?;
            let subjects = cut_keys
                .into_iter()
                .map(|k| k.get(b"cut:".len()..).unwrap_or_default().to_vec());
            out.cutoffs.extend(subjects.zip(values));
        }
        cursor = next_cursor;
        if cursor == 0 {
            break;
        }
    }
    Ok(out)
}

/// A UUID from an index member or a key's tail.
pub(super) fn parse_uuid(raw: &[u8]) -> Option<Uuid> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// A time in whole seconds: a key's value, or an index score (which Redis
/// may write as a float).
pub(super) fn parse_time(raw: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(raw).ok()?;
    s.parse::<u64>().ok().or_else(|| {
        let f = s.parse::<f64>().ok()?;
        // In range and whole: `as` is exact here.
        ((0.0..1e18).contains(&f) && f.fract() == 0.0).then_some(f as u64)
    })
}

/// A cut-off key's value: `<cutoff> <until>`.
pub(super) fn parse_cutoff(raw: &[u8]) -> Option<(u64, u64)> {
    let (c, u) = std::str::from_utf8(raw).ok()?.split_once(' ')?;
    Some((c.parse().ok()?, u.parse().ok()?))
}

impl Listener {
    /// Loads the live revocations into the mirror from the revocation
    /// indexes of every bucket (`ZSCAN`, which returns every entry present
    /// for the whole scan; entries added meanwhile arrive on the
    /// subscription, opened before), a few buckets at a time. Reads nothing
    /// else: its cost follows the revocations, not the sessions. Entries it
    /// cannot read are skipped and logged once. Returns how many revocations
    /// it loaded.
    pub(super) async fn resync(&self, conn: Conn) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut buckets = 0..BUCKETS;
        let mut loaded = 0;
        loop {
            while tasks.len() < PARALLEL {
                let Some(b) = buckets.next() else { break };
                let read = read_bucket(conn.clone(), base(&self.prefix, b));
                tasks.spawn(read);
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            let entries = joined
                .map_err(|_| StoreError::Unavailable("redis: a resync task failed".into()))??;
            loaded += self.load(entries, now).await;
        }
        Ok(loaded)
    }

    /// Applies what [`read_bucket`] read; returns how many revocations it
    /// loaded.
    pub(super) async fn load(&self, entries: BucketEntries, now: u64) -> usize {
        let mut loaded = 0;
        for member in entries.unknown {
            self.skip("index", &member);
        }
        for (kind, member, score) in entries.indexed {
            let Some(until) = parse_time(&score) else {
                self.skip(kind.family(), &member);
                continue;
            };
            if until <= now {
                continue; // expired; pruned by a later write
            }
            let applied = match (kind, parse_uuid(&member)) {
                (Kind::Token, Some(jti)) => self.mirror.revoke_token(jti, until).await.is_ok(),
                (Kind::Session, Some(sid)) => {
                    self.mirror.deny_session(sid, until);
                    true
                }
                _ => false,
            };
            if applied {
                loaded += 1;
            } else {
                self.skip(kind.family(), &member);
            }
        }
        for (subject, value) in entries.cutoffs {
            let Some(value) = value else { continue }; // expired since
            let parsed = std::str::from_utf8(&subject).ok().zip(parse_cutoff(&value));
            match parsed {
                Some((subject, (cutoff, until))) if until > now => {
                    if self
                        .mirror
                        .revoke_subject(subject, cutoff, until)
                        .await
                        .is_ok()
                    {
                        loaded += 1;
                    }
                }
                Some(_) => {}
                None => self.skip("cut", &subject),
            }
        }
        loaded
    }
}
