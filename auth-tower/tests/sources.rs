//! Token sources beyond the `Authorization` header, on a real axum server:
//! the opt-in query parameter (for `EventSource` and WebSocket handshakes)
//! and a function of the application's.

mod common;

use auth_tower::{AuthLayer, TokenSource};
use common::*;
use http::StatusCode;

#[tokio::test]
async fn a_query_token_is_ignored_unless_the_layer_opts_in() {
    let app = app();
    let addr = serve_protected(&app).await;
    let token = access(&app, &[]).await;
    let r = get_with(addr, &format!("/profile?access_token={token}"), &[]).await;
    assert_refusal(
        &r,
        StatusCode::UNAUTHORIZED,
        "missing_token",
        "no access token",
    );
}

#[tokio::test]
async fn a_query_token_is_accepted_where_the_layer_opts_in() {
    let app = app();
    let layer = AuthLayer::new(app.authority.validator().clone()).query("access_token");
    let addr = serve_axum(axum_app(layer)).await;
    let token = access(&app, &[]).await;

    let r = get_with(addr, &format!("/profile?v=1&access_token={token}"), &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "alice"));
    // The header still works, and comes first.
    let r = get_with(
        addr,
        "/profile?access_token=garbage",
        &[("authorization", &bearer(&token))],
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "alice"));
    // A query token is validated like any other.
    let r = get_with(addr, "/profile?access_token=x.y.z", &[]).await;
    assert_refusal(
        &r,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "the token is invalid",
    );
}

#[tokio::test]
async fn a_query_token_sent_twice_or_percent_encoded_or_oversized_is_400() {
    let app = app();
    let layer = AuthLayer::new(app.authority.validator().clone()).query("access_token");
    let addr = serve_axum(axum_app(layer)).await;
    let token = access(&app, &[]).await;

    let twice = format!("/profile?access_token={token}&access_token={token}");
    let r = get_with(addr, &twice, &[]).await;
    assert_refusal(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the token query parameter is sent more than once",
    );
    // Another parser would decode the name and see two tokens.
    let encoded_name = format!("/profile?access_token={token}&access%5Ftoken=x");
    assert_eq!(
        get_with(addr, &encoded_name, &[]).await.status,
        StatusCode::BAD_REQUEST
    );

    let encoded = format!("/profile?access_token={}", token.replace('.', "%2E"));
    let r = get_with(addr, &encoded, &[]).await;
    assert_refusal(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the token query parameter is not one URL-safe token (percent-encoding is not decoded)",
    );

    let huge = format!("/profile?access_token={}", "a".repeat(9000));
    let r = get_with(addr, &huge, &[]).await;
    assert_refusal(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the token is too large",
    );
}

/// The WebSocket trick of clients that can set nothing but subprotocols:
/// `Sec-WebSocket-Protocol: bearer, <token>`.
fn websocket_protocol() -> TokenSource {
    TokenSource::custom(|parts| {
        let Some(value) = parts.headers.get("sec-websocket-protocol") else {
            return Ok(None);
        };
        let value = value
            .to_str()
            .map_err(|_| "Sec-WebSocket-Protocol is not visible ASCII")?;
        match value.split_once(',') {
            Some(("bearer", token)) => Ok(Some(token.trim())),
            Some(_) | None => Ok(None),
        }
    })
}

#[tokio::test]
async fn a_custom_source_finds_the_token_where_the_app_says() {
    let app = app();
    let layer = AuthLayer::new(app.authority.validator().clone())
        .sources([TokenSource::Bearer, websocket_protocol()]);
    let addr = serve_axum(axum_app(layer)).await;
    let token = access(&app, &[]).await;

    let protocol = format!("bearer, {token}");
    let r = get_with(addr, "/profile", &[("sec-websocket-protocol", &protocol)]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "alice"));

    // Nothing found: the next source, then "no token".
    let r = get_with(addr, "/profile", &[("sec-websocket-protocol", "chat")]).await;
    assert_refusal(
        &r,
        StatusCode::UNAUTHORIZED,
        "missing_token",
        "no access token",
    );

    // Its token is validated like any other.
    let r = get_with(addr, "/profile", &[("sec-websocket-protocol", "bearer, x")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_custom_source_refusing_the_request_is_400_with_its_reason() {
    let app = app();
    let layer =
        AuthLayer::new(app.authority.validator().clone()).sources([TokenSource::custom(|parts| {
            match parts.headers.get_all("x-token").iter().count() {
                0 => Ok(None),
                1 => Ok(parts.headers.get("x-token").and_then(|v| v.to_str().ok())),
                _ => Err("more than one X-Token header"),
            }
        })]);
    let addr = serve_axum(axum_app(layer)).await;
    let token = access(&app, &[]).await;

    let r = get_with(addr, "/profile", &[("x-token", &token)]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "alice"));
    let r = get_with(
        addr,
        "/profile",
        &[("x-token", &token), ("x-token", &token)],
    )
    .await;
    assert_refusal(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "more than one X-Token header",
    );
    assert!(
        r.challenge
            .expect("challenge")
            .ends_with("error_description=\"more than one X-Token header\"")
    );
}

#[test]
fn sources_stay_comparable_and_printable() {
    let custom = websocket_protocol();
    assert_eq!(custom, custom.clone());
    assert_ne!(custom, websocket_protocol());
    assert_eq!(
        TokenSource::Query("t".into()),
        TokenSource::Query("t".into())
    );
    assert_eq!(format!("{custom:?}"), "Custom(CustomSource(..))");
}
