//! The demo page: its HTML and scripts, served with a strict
//! Content-Security-Policy.

use axum::Router;
use axum::routing::get;

/// The Content-Security-Policy of the demo page: its own scripts only, no
/// inline script, no plugins, no framing, forms posted to itself.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// A static file of the demo page, with the page's security headers.
pub(super) fn page_file(
    content_type: &'static str,
    body: &'static str,
) -> axum::response::Response {
    use axum::http::header;
    let mut res = axum::response::IntoResponse::into_response(body);
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        h.insert(name, axum::http::HeaderValue::from_static(value));
    }
    res
}

/// The demo page (`GET /`) and its two scripts: `app.js`, the page, and
/// `auth-client.js`, the copyable client module (access token in memory,
/// refresh token in the HttpOnly cookie, shared refreshes across calls and
/// tabs).
pub fn page() -> Router {
    const JS: &str = "text/javascript; charset=utf-8";
    Router::new()
        .route(
            "/",
            get(|| async {
                page_file(
                    "text/html; charset=utf-8",
                    include_str!("../web/index.html"),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async { page_file(JS, include_str!("../web/app.js")) }),
        )
        .route(
            "/auth-client.js",
            get(|| async { page_file(JS, include_str!("../web/auth-client.js")) }),
        )
}
