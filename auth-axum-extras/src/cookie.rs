//! The HTTP-only cookie that carries the refresh token: [`RefreshCookie`]
//! lists its attributes, their defaults and why.
//!
//! ```
//! use auth_axum_extras::{AuthRoutes, InMemoryUsers, RefreshCookie};
//! use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
//!
//! let authority = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap())
//!     .build()
//!     .unwrap();
//! // HTTPS in production: the `__Secure-` name cannot be planted over plain HTTP.
//! let routes = AuthRoutes::new(authority, InMemoryUsers::<RoleClaims>::new())
//!     .prefix("/api/auth")
//!     .cookie(RefreshCookie::secure_prefixed()); // Path=/api/auth
//! let _router: axum::Router = routes.into_router().unwrap();
//! ```

use cookie::{Cookie, SameSite};
use http::HeaderMap;
use http::header::HeaderValue;

/// The most refresh-cookie values logout looks at in one request: 256.
/// Browsers keep about 180 cookies per site, so decoys planted from a
/// sibling domain cannot hide the real cookie behind this many.
pub const MAX_COOKIE_VALUES: usize = 256;

/// The default cookie name.
pub const DEFAULT_COOKIE_NAME: &str = "refresh_token";
/// The recommended cookie name for HTTPS deployments: the `__Secure-`
/// prefix makes browsers refuse it from insecure origins.
pub const SECURE_COOKIE_NAME: &str = "__Secure-refresh_token";

/// How the refresh cookie is written. Defaults:
///
/// | attribute | default | why |
/// |---|---|---|
/// | name | `refresh_token` ([`DEFAULT_COOKIE_NAME`]) | |
/// | `Path` | the auth routes' prefix (`/auth`) | the cookie never travels with ordinary API calls |
/// | `Domain` | none (host-only) | not shared with sibling subdomains |
/// | `HttpOnly` | always | scripts cannot read the token |
/// | `Secure` | on | never sent over plain HTTP (browsers treat `localhost` as secure) |
/// | `SameSite` | `Strict` | not sent with cross-site requests |
/// | `Max-Age` | the refresh token's remaining lifetime | the cookie dies with the token |
///
/// In production, prefer [`SECURE_COOKIE_NAME`] (`__Secure-refresh_token`,
/// see [`RefreshCookie::secure_prefixed`]): browsers accept a `__Secure-`
/// cookie only from a secure origin with `Secure` set, so a plain-HTTP page
/// or a man-in-the-middle on HTTP cannot plant or overwrite it. A `__Host-`
/// name goes further (no `Domain`, so no sibling subdomain can set it) but
/// needs `Path=/`, which sends the refresh token with every request.
///
/// A cookie that a sibling subdomain plants with `Domain=` is sent beside
/// the real one: refresh refuses such an ambiguous request (400), logout
/// revokes the session of every value it is shown and clears the cookie.
#[derive(Debug, Clone)]
pub struct RefreshCookie {
    name: String,
    path: Option<String>,
    path_from_prefix: bool,
    domain: Option<String>,
    secure: bool,
    enabled: bool,
}

impl Default for RefreshCookie {
    fn default() -> Self {
        RefreshCookie {
            name: DEFAULT_COOKIE_NAME.to_owned(),
            path: None,
            path_from_prefix: false,
            domain: None,
            secure: true,
            enabled: true,
        }
    }
}

impl RefreshCookie {
    /// The defaults above.
    pub fn new() -> Self {
        Self::default()
    }

    /// No cookie at all: tokens only in JSON bodies (native and server
    /// clients).
    pub fn disabled() -> Self {
        RefreshCookie {
            enabled: false,
            ..Self::default()
        }
    }

    /// The defaults, named [`SECURE_COOKIE_NAME`] (`__Secure-refresh_token`).
    /// Browsers honour it on HTTPS origins and on `localhost`.
    pub fn secure_prefixed() -> Self {
        Self::default().name(SECURE_COOKIE_NAME)
    }

    /// The cookie name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The `Path` attribute. Left unset, it is the routes' prefix, or the
    /// path a nesting router reached them by (`Router::nest("/api", ...)`
    /// with the default prefix: `/api/auth`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The `Domain` attribute (shares the cookie with subdomains).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The `Secure` attribute. Turn it off only for plain-HTTP development
    /// on a host browsers do not treat as secure.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Whether the cookie is in use.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The cookie name.
    pub fn cookie_name(&self) -> &str {
        &self.name
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
        {
            return Err(format!("{:?} is not a valid cookie name", self.name));
        }
        if self.name.starts_with("__Secure-") && !self.secure {
            return Err("a __Secure- cookie requires Secure".into());
        }
        if self.name.starts_with("__Host-")
            && (!self.secure || self.domain.is_some() || self.path.as_deref() != Some("/"))
        {
            return Err("a __Host- cookie requires Secure, Path=/ and no Domain".into());
        }
        let attr_ok = |v: &str| !v.bytes().any(|b| b == b';' || b.is_ascii_control());
        match &self.path {
            Some(p) if !p.starts_with('/') || !attr_ok(p) => {
                return Err(format!(
                    "cookie path {p:?} must start with '/' and hold no ';'"
                ));
            }
            _ => {}
        }
        match &self.domain {
            Some(d) if d.is_empty() || !attr_ok(d) || d.contains(' ') => {
                return Err(format!("cookie domain {d:?} is not a domain"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Fills in the path from the routes' prefix if none was set.
    pub(crate) fn with_default_path(mut self, prefix: &str) -> Self {
        if self.path.is_none() {
            self.path = Some(if prefix.is_empty() { "/" } else { prefix }.to_owned());
            self.path_from_prefix = true;
        }
        self
    }

    /// The path, when it was filled in from the routes' prefix rather than
    /// set by the application.
    pub(crate) fn default_path(&self) -> Option<&str> {
        self.path
            .as_deref()
            .filter(|_| self.enabled && self.path_from_prefix)
    }

    fn build(&self, value: String, max_age_secs: u64) -> Option<HeaderValue> {
        let mut c = Cookie::new(self.name.clone(), value);
        c.set_http_only(true);
        c.set_secure(self.secure);
        c.set_same_site(SameSite::Strict);
        c.set_path(self.path.clone().unwrap_or_else(|| "/".into()));
        if let Some(d) = &self.domain {
            c.set_domain(d.clone());
        }
        let secs = i64::try_from(max_age_secs).unwrap_or(i64::MAX);
        c.set_max_age(cookie::time::Duration::seconds(secs));
        HeaderValue::from_str(&c.to_string()).ok()
    }

    /// `Set-Cookie` carrying `token` for `max_age_secs`.
    pub(crate) fn set(&self, token: &str, max_age_secs: u64) -> Option<HeaderValue> {
        self.enabled
            .then(|| self.build(token.to_owned(), max_age_secs))
            .flatten()
    }

    /// `Set-Cookie` that deletes the cookie (`Max-Age=0`, same name, path and
    /// domain).
    pub(crate) fn clear(&self) -> Option<HeaderValue> {
        self.enabled.then(|| self.build(String::new(), 0)).flatten()
    }

    /// The refresh token in the request's cookies: `Ok(None)` when absent,
    /// an error when the name is sent twice with different values (a cookie
    /// planted from a sibling domain or path, so the choice would be the
    /// attacker's).
    pub(crate) fn read<'h>(&self, headers: &'h HeaderMap) -> Result<Option<&'h str>, &'static str> {
        if !self.enabled {
            return Ok(None);
        }
        match auth_tower::TokenSource::Cookie(self.name.clone()).read(headers) {
            Ok(token) => Ok(token),
            Err(rejection) => Err(rejection.description()),
        }
    }

    /// The distinct, non-empty values of the refresh cookie in the request
    /// (a browser sends one per matching domain and path), at most
    /// [`MAX_COOKIE_VALUES`]: more than a browser keeps for one site, so
    /// planted decoys cannot push the real cookie out, while a forged
    /// header cannot make one request cost thousands of signature checks.
    pub(crate) fn read_all<'h>(&self, headers: &'h HeaderMap) -> Vec<&'h str> {
        if !self.enabled {
            return Vec::new();
        }
        let mut seen = std::collections::HashSet::new();
        auth_tower::cookie_values(headers, &self.name)
            .filter(|v| !v.is_empty() && seen.insert(*v))
            .take(MAX_COOKIE_VALUES)
            .collect()
    }
}
