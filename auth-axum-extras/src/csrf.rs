//! Cross-origin request protection for the endpoints that accept the refresh
//! cookie.
//!
//! The rule is that of Go's `net/http` `CrossOriginProtection`, which relies
//! on headers every current browser sends and no page can forge:
//!
//! 1. `Sec-Fetch-Site: same-origin` or `none` (typed URL, bookmark) passes;
//!    any other value (`cross-site`, `same-site`) is refused unless `Origin`
//!    is in the allow-list.
//! 2. Without `Sec-Fetch-Site`, a request without `Origin` passes: it does not
//!    come from a browser (or from one too old to send either header, which
//!    also does not send `SameSite=Strict` cookies cross-site).
//! 3. An `Origin` whose host (with port) equals the request's `Host` passes, as
//!    does one in the allow-list; any other (`null` included) is refused.
//!
//! ```
//! use auth_axum_extras::CrossOriginProtection;
//! use http::{HeaderMap, HeaderValue};
//!
//! let csrf = CrossOriginProtection::new().allow_origin("https://app.example.com");
//! let mut h = HeaderMap::new();
//! h.insert("host", HeaderValue::from_static("api.example.com"));
//! h.insert("origin", HeaderValue::from_static("https://evil.example"));
//! assert!(csrf.check(&h, None).is_err());
//! h.insert("origin", HeaderValue::from_static("https://app.example.com"));
//! assert!(csrf.check(&h, None).is_ok());
//! ```

use http::HeaderMap;
use http::header::{HOST, ORIGIN};
use http::uri::Authority;

/// Refuses cross-origin browser requests; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct CrossOriginProtection {
    allowed: Vec<String>,
    disabled: bool,
}

/// Why a request was refused as cross-origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossOrigin(&'static str);

impl CrossOrigin {
    /// Which header gave the request away.
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for CrossOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for CrossOrigin {}

impl CrossOriginProtection {
    /// Same-origin only, no allow-list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also accepts requests from `origin` (exact `scheme://host[:port]`, as
    /// browsers send it), for a front end served from another origin.
    /// A trailing `/` is dropped and the origin compared case-insensitively.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        let origin: String = origin.into();
        self.allowed
            .push(origin.trim_end_matches('/').to_ascii_lowercase());
        self
    }

    /// Turns the check off. Only for deployments where the refresh cookie is
    /// disabled or another layer enforces the same rule.
    pub fn disabled() -> Self {
        CrossOriginProtection {
            allowed: Vec::new(),
            disabled: true,
        }
    }

    /// Checks a request. `uri_authority` is the request URI's authority, which
    /// HTTP/2 carries instead of `Host`.
    pub fn check(
        &self,
        headers: &HeaderMap,
        uri_authority: Option<&Authority>,
    ) -> Result<(), CrossOrigin> {
        if self.disabled {
            return Ok(());
        }
        let origin = match headers.get(ORIGIN) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| CrossOrigin("unreadable Origin header"))?,
            ),
        };
        let allowed = |o: Option<&str>| {
            o.is_some_and(|o| self.allowed.iter().any(|a| a.eq_ignore_ascii_case(o)))
        };

        if let Some(site) = headers.get("sec-fetch-site") {
            return match site.as_bytes() {
                b"same-origin" | b"none" => Ok(()),
                _ if allowed(origin) => Ok(()),
                _ => Err(CrossOrigin("cross-origin request (Sec-Fetch-Site)")),
            };
        }
        let Some(origin) = origin else {
            return Ok(());
        };
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or(uri_authority.map(Authority::as_str));
        if let (Some(host), Some(origin_host)) = (host, origin_host(origin))
            && origin_host.eq_ignore_ascii_case(host)
        {
            return Ok(());
        }
        if allowed(Some(origin)) {
            return Ok(());
        }
        Err(CrossOrigin("cross-origin request (Origin)"))
    }
}

/// The `host[:port]` of a serialized origin (`scheme://host[:port]`).
fn origin_host(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    if scheme.is_empty() || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn every_branch_of_the_rule() {
        let c = CrossOriginProtection::new().allow_origin("https://App.example/");
        // Neither header: a non-browser client.
        assert!(c.check(&h(&[("host", "api.example")]), None).is_ok());
        // Sec-Fetch-Site.
        for ok in ["same-origin", "none"] {
            assert!(c.check(&h(&[("sec-fetch-site", ok)]), None).is_ok(), "{ok}");
        }
        for bad in ["cross-site", "same-site", "bogus"] {
            assert!(
                c.check(&h(&[("sec-fetch-site", bad)]), None).is_err(),
                "{bad}"
            );
        }
        assert!(
            c.check(
                &h(&[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://app.example")
                ]),
                None
            )
            .is_ok()
        );
        // Origin against Host.
        let own = h(&[
            ("host", "api.example:8443"),
            ("origin", "https://api.example:8443"),
        ]);
        assert!(c.check(&own, None).is_ok());
        let other_port = h(&[
            ("host", "api.example"),
            ("origin", "https://api.example:8443"),
        ]);
        assert!(c.check(&other_port, None).is_err());
        let evil = h(&[("host", "api.example"), ("origin", "https://evil.example")]);
        assert!(c.check(&evil, None).is_err());
        assert!(
            c.check(&h(&[("host", "api.example"), ("origin", "null")]), None)
                .is_err()
        );
        let listed = h(&[("host", "api.example"), ("origin", "https://app.example")]);
        assert!(c.check(&listed, None).is_ok());
        // HTTP/2: the authority instead of Host.
        let auth: Authority = "api.example".parse().unwrap();
        assert!(
            c.check(&h(&[("origin", "https://api.example")]), Some(&auth))
                .is_ok()
        );
        assert!(
            c.check(&h(&[("origin", "https://api.example")]), None)
                .is_err()
        );
        // Off.
        assert!(CrossOriginProtection::disabled().check(&evil, None).is_ok());
    }
}
