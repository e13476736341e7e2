//! Fuzz targets for the token validator, the `Authorization: Bearer` parser and
//! the token cookie parser.
//!
//! Each target is a function from bytes to nothing that panics when an
//! invariant breaks: never a panic inside the library, and the cheap oracles
//! (an accepted token re-verifies with jsonwebtoken and passes every claim
//! check again; a token read from a header is a piece of that header and obeys
//! its grammar; the tower layer answers as its sources and the validator say).
//! The AFL++ binaries in `src/bin/` call these functions; `replay` runs them on
//! files without AFL++, and this crate's tests run them on every stored input.
//!
//! ```
//! // The fixture is the same in every process: a fixed HS256 secret, a fixed
//! // ES256 public key, a clock stopped at `NOW`.
//! auth_fuzz::token(b"not.a.token");
//! auth_fuzz::bearer(b"Bearer abc.def.ghi");
//! auth_fuzz::cookie(b"access_token\na=1; access_token=abc");
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod fixture;
mod headers;
mod oracle;
mod resign;
pub mod seeds;
mod token;

pub use fixture::{Fixture, NOW, Sign, fixture, sign};
pub use headers::{bearer, cookie};
pub use resign::resign;
pub use token::token;

/// A fuzz target: bytes in, a panic on a broken invariant.
pub type Target = fn(&[u8]);

/// Every target by name, as `replay`, `run.sh` and the corpus folders name them.
pub const TARGETS: [(&str, Target); 4] = [
    ("token", token),
    ("resign", resign),
    ("bearer", bearer),
    ("cookie", cookie),
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every stored input (seed corpus and kept crashes) passes its target,
    /// so a fixed bug stays fixed.
    #[test]
    fn every_stored_input_passes_its_target() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut ran = 0;
        for (name, target) in super::TARGETS {
            for dir in [
                root.join("corpus").join(name),
                root.join("crashes-found").join(name),
            ] {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    target(&std::fs::read(&path).unwrap());
                    ran += 1;
                }
            }
        }
        assert!(ran > 0, "no stored inputs found");
    }

    /// The valid seeds get past every check, so the fuzzer starts from
    /// accepted tokens and the oracles run.
    #[test]
    fn valid_seeds_are_accepted_as_their_kind() {
        let seeds = super::seeds::seeds();
        let get = |t: &str, n: &str| {
            let (_, _, bytes) = seeds.iter().find(|s| s.0 == t && s.1 == n).unwrap();
            String::from_utf8(bytes.clone()).unwrap()
        };
        assert_eq!(crate::token::check(&get("token", "access")), (true, false));
        assert_eq!(crate::token::check(&get("token", "refresh")), (false, true));
        assert_eq!(
            crate::token::check(&get("token", "expired")),
            (false, false)
        );
    }

    #[test]
    fn seeds_on_disk_are_the_generated_ones() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (target, name, bytes) in super::seeds::seeds() {
            let path = root.join("corpus").join(target).join(name);
            assert_eq!(
                std::fs::read(&path).ok().as_deref(),
                Some(bytes.as_slice()),
                "{} is stale: run `cargo run --bin replay -- seeds`",
                path.display()
            );
        }
    }
}
