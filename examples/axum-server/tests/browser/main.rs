//! The demo page in a real headless Chromium, driven through chromedriver
//! (WebDriver), against the example server started with short-lived access tokens (`--access-ttl 5s`):
//! sign-in, where the tokens live, a transparent refresh after expiry, a
//! reload, two tabs refreshing at once (one rotation), sign-out, and a
//! cross-site request refused, over HTTP and over HTTPS (`__Secure-` cookie,
//! HSTS on every answer). Then the client against a thief who refreshed a
//! copied cookie first (the page ends the session), and against an API of
//! another origin (no token, no refresh). DPoP: the page's session bound to
//! a key of its own that survives reloads and is shared by its tabs, and a
//! copied refresh cookie that refreshes nothing without it. Each step
//! leaves a screenshot in `target/browser/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test is
//! skipped with a loud message, unless `CI` is set, where it fails.

mod harness;
mod server;

mod dpop;
mod handover;
mod origins;
mod takeover;
mod walk_through;
