//! Fetching: the discovery document and the JWKS, each bounded in time and
//! size, parsed into a key set, and the rules on which URLs may be fetched.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use auth_core::jwk::Jwk;
use auth_core::{Algorithm, Key, KeySet};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use serde::Deserialize;
use serde_json::Value;

use super::{
    DEFAULT_REFRESH, Inner, JwksError, MAX_DOCUMENT_BYTES, MAX_KEYS, MAX_REFRESH, MIN_REFRESH,
    Origin,
};

impl Inner {
    pub(super) fn current(&self) -> Option<Arc<KeySet>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One fetch, unless one is running; `Ok(how long the keys are fresh)`.
    pub(super) async fn fetch_if_idle(&self) -> Option<Result<Duration, ()>> {
        {
            let mut state = self.fetch.lock().unwrap_or_else(PoisonError::into_inner);
            if state.in_flight {
                return None;
            }
            state.in_flight = true;
        }
        Some(self.fetch_once().await)
    }

    /// Fetches (the caller set `in_flight`), stores a good set, wakes the
    /// waiters.
    pub(super) async fn fetch_once(&self) -> Result<Duration, ()> {
        let outcome = match tokio::time::timeout(self.timeout, self.fetch()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        };
        let result = match outcome {
            Ok((set, fresh_for)) => {
                let count = set.keys().len();
                let old = self.current();
                // A key gone, or a kid now naming other key material or
                // another algorithm: what it verified is not trusted any more.
                let removed = old.as_ref().is_some_and(|old| set.withdraws_from(old));
                let changed = removed || old.as_ref().is_none_or(|old| kids(old) != kids(&set));
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(set));
                if removed {
                    // Caches drop what the removed keys verified.
                    self.generation.fetch_add(1, Ordering::Release);
                }
                if changed {
                    tracing::info!(keys = count, origin = ?self.origin, "loaded the JWKS");
                }
                #[cfg(feature = "metrics")]
                {
                    metrics::counter!(auth_core::metrics::JWKS_FETCHES, "outcome" => "ok")
                        .increment(1);
                    metrics::gauge!(auth_core::metrics::JWKS_KEYS).set(count as f64);
                }
                Ok(fresh_for)
            }
            Err(e) => {
                #[cfg(feature = "metrics")]
                metrics::counter!(auth_core::metrics::JWKS_FETCHES, "outcome" => "error")
                    .increment(1);
                if self.current().is_some() {
                    tracing::warn!(error = %e, origin = ?self.origin, "JWKS refresh failed; keeping the keys loaded before");
                } else {
                    tracing::warn!(error = %e, origin = ?self.origin, "JWKS fetch failed; refusing tokens (503) until it succeeds");
                }
                Err(())
            }
        };
        self.fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight = false;
        self.done.send_modify(|n| *n += 1);
        result
    }

    pub(super) async fn fetch(&self) -> Result<(KeySet, Duration), String> {
        let url = self.jwks_uri().await?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let (body, fresh_for) = self.get(&url).await?;
        let set = self.parse_jwks(&body)?;
        Ok((set, fresh_for))
    }

    /// The JWKS URL: given, or discovered once.
    pub(super) async fn jwks_uri(&self) -> Result<Uri, String> {
        let (issuer, discovery) = match &self.origin {
            Origin::Jwks(uri) => return Ok(uri.clone()),
            Origin::Issuer { issuer, discovery } => (issuer, discovery),
        };
        if let Some(uri) = self
            .jwks_uri
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(uri);
        }
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let (body, _) = self.get(discovery).await?;
        let doc: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("the discovery document is not usable: {e}"))?;
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!(
                "the discovery document names the issuer {:?}, not {issuer:?}",
                doc.issuer
            ));
        }
        let uri = http_uri(&doc.jwks_uri).map_err(|e| e.to_string())?;
        // An https issuer's keys travel over https, whatever its document
        // says; a plain issuer's as its URL allows.
        let plain = uri.scheme_str() == Some("http");
        if plain
            && (discovery.scheme_str() == Some("https") && !self.plain_http
                || !plain_http_allowed(&uri, self.plain_http))
        {
            return Err(format!(
                "the discovery document of {issuer:?} names the plain-http jwks_uri {:?}: \
                 keys are never fetched in the clear (OpenID Connect Discovery requires https; \
                 JwksBuilder::allow_plain_http is for local development)",
                doc.jwks_uri
            ));
        }
        *self.jwks_uri.lock().unwrap_or_else(PoisonError::into_inner) = Some(uri.clone());
        Ok(uri)
    }

    /// GETs a JSON document: its body (at most [`MAX_DOCUMENT_BYTES`]) and
    /// how long it may be kept.
    pub(super) async fn get(&self, url: &Uri) -> Result<(Bytes, Duration), String> {
        let req = Request::get(url.clone())
            .header(header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let res = self
            .client
            .request(req)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if res.status() != StatusCode::OK {
            return Err(format!("GET {url}: status {}", res.status()));
        }
        let fresh_for = max_age(res.headers().get(header::CACHE_CONTROL));
        let body = Limited::new(res.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
            .to_bytes();
        Ok((body, fresh_for))
    }

    /// The usable keys of a JWKS document; an error when there is none.
    pub(super) fn parse_jwks(&self, body: &[u8]) -> Result<KeySet, String> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let doc: Document =
            serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut set = KeySet::verifying([]).map_err(|e| e.to_string())?;
        for (i, raw) in doc.keys.into_iter().enumerate() {
            if i == MAX_KEYS {
                tracing::warn!(max = MAX_KEYS, "JWKS key skipped: too many keys");
                break;
            }
            let kid = raw.get("kid").and_then(Value::as_str).map(str::to_owned);
            match self.key(raw) {
                Ok(key) => match set.clone().with_key(key) {
                    Ok(bigger) => set = bigger,
                    Err(e) => tracing::warn!(?kid, error = %e, "JWKS key skipped"),
                },
                Err(why) => tracing::warn!(?kid, reason = why, "JWKS key skipped"),
            }
        }
        if set.keys().is_empty() {
            return Err("the JWKS has no usable signature key".into());
        }
        Ok(set)
    }

    /// One JWK as a verification key, or why it is skipped.
    pub(super) fn key(&self, raw: Value) -> Result<Key, String> {
        let field = |name: &str| raw.get(name).and_then(Value::as_str);
        if field("kty") == Some("oct") {
            return Err("symmetric keys are never taken from a JWKS".into());
        }
        if field("use").is_some_and(|u| u != "sig") {
            return Err("`use` is not `sig`".into());
        }
        if let Some(ops) = raw.get("key_ops")
            && !ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")))
        {
            return Err("`key_ops` does not allow `verify`".into());
        }
        let alg = match field("alg") {
            Some(name) => Algorithm::ALL
                .into_iter()
                .find(|a| a.as_str() == name)
                .ok_or_else(|| format!("unsupported `alg` {name:?}"))?,
            None => match (field("kty"), field("crv")) {
                (Some("EC"), Some("P-256")) => Algorithm::ES256,
                (Some("EC"), Some("P-384")) => Algorithm::ES384,
                (Some("OKP"), Some("Ed25519")) => Algorithm::EdDSA,
                _ => return Err("no `alg`, and the key type does not tell it".into()),
            },
        };
        if alg.is_symmetric() {
            return Err("symmetric algorithms are never taken from a JWKS".into());
        }
        if self.algorithms.as_ref().is_some_and(|a| !a.contains(&alg)) {
            return Err(format!("{alg} is not an allowed algorithm"));
        }
        let mut raw = raw;
        if let Some(obj) = raw.as_object_mut() {
            obj.insert("alg".into(), Value::String(alg.as_str().into()));
        }
        let jwk: Jwk = serde_json::from_value(raw).map_err(|e| format!("not a JWK: {e}"))?;
        Key::from_jwk(&jwk).map_err(|e| e.to_string())
    }
}

pub(super) fn kids(set: &KeySet) -> Vec<&str> {
    set.keys().iter().map(Key::kid).collect()
}

/// The `max-age` of a `Cache-Control` header, held within
/// [`MIN_REFRESH`]..=[`MAX_REFRESH`]; [`DEFAULT_REFRESH`] without one.
pub(super) fn max_age(value: Option<&HeaderValue>) -> Duration {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return DEFAULT_REFRESH;
    };
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return MIN_REFRESH;
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            age = secs.trim_matches('"').parse::<u64>().ok();
        }
    }
    age.map_or(DEFAULT_REFRESH, |s| {
        Duration::from_secs(s).clamp(MIN_REFRESH, MAX_REFRESH)
    })
}

/// Why a plain-http URL is refused.
pub(crate) const PLAIN_HTTP_REFUSED: &str = "plain http is accepted only on the loopback interface when \
     https is available (feature jwks-tls): use https, or allow_plain_http() for local development";

/// Whether `uri` may be fetched: https always; plain http without TLS
/// support (nothing else can be fetched), on the loopback interface, or when
/// allowed everywhere.
pub(crate) fn plain_http_allowed(uri: &Uri, allowed: bool) -> bool {
    if uri.scheme_str() != Some("http") || allowed || !cfg!(feature = "jwks-tls") {
        return true;
    }
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn http_uri(url: &str) -> Result<Uri, JwksError> {
    let invalid = |reason| JwksError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") if cfg!(feature = "jwks-tls") => {}
        Some("https") => {
            return Err(invalid(
                "https needs auth-tower's `jwks-tls` feature (never fetched in the clear)",
            ));
        }
        _ => return Err(invalid("the scheme must be http or https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_held_within_bounds() {
        let h = |s: &'static str| Some(HeaderValue::from_static(s));
        assert_eq!(max_age(None), DEFAULT_REFRESH);
        assert_eq!(
            max_age(h("public, max-age=600").as_ref()),
            Duration::from_secs(600)
        );
        assert_eq!(max_age(h("max-age=0").as_ref()), MIN_REFRESH);
        assert_eq!(max_age(h("max-age=99999999").as_ref()), MAX_REFRESH);
        assert_eq!(max_age(h("no-store").as_ref()), MIN_REFRESH);
        assert_eq!(max_age(h("max-age=abc").as_ref()), DEFAULT_REFRESH);
    }

    #[test]
    fn plain_http_stays_on_the_loopback_interface_when_tls_is_available() {
        let allowed = |url: &str, opt_in| plain_http_allowed(&url.parse().unwrap(), opt_in);
        for local in [
            "http://127.0.0.1:3000/jwks",
            "http://127.8.9.10/jwks",
            "http://[::1]:3000/jwks",
            "http://LOCALHOST/jwks",
            "https://issuer.example/jwks",
        ] {
            assert!(allowed(local, false), "{local}");
        }
        for remote in [
            "http://issuer.example/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.evil.example/jwks",
        ] {
            assert_eq!(
                allowed(remote, false),
                !cfg!(feature = "jwks-tls"),
                "{remote}"
            );
            assert!(allowed(remote, true), "{remote}");
        }
    }

    #[test]
    fn only_plain_http_urls_with_a_host_are_taken() {
        assert!(http_uri("http://127.0.0.1:3000/.well-known/jwks.json").is_ok());
        assert_eq!(
            http_uri("https://issuer.example/jwks").is_ok(),
            cfg!(feature = "jwks-tls")
        );
        for bad in ["ftp://x/", "/jwks", "not a url", "http:///x"] {
            assert!(http_uri(bad).is_err(), "{bad}");
        }
    }
}
