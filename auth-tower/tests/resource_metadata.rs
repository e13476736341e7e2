//! RFC 9728: the protected resource's metadata document, and its URL in
//! every challenge of the layers, over a real server.

mod common;

use auth_core::RoleClaims;
use auth_tower::{AuthLayer, RequireLayer, ResourceMetadata};
use axum::{Json, Router, routing::get};
use common::*;
use http::StatusCode;
use serde_json::json;

const URL: &str = "https://api.example.com/.well-known/oauth-protected-resource";

#[tokio::test]
async fn every_challenge_names_the_metadata_and_the_document_is_served() {
    let app = app();
    let metadata = ResourceMetadata::new("https://api.example.com")
        .unwrap()
        .authorization_server("https://auth.example.com")
        .jwks_uri("https://auth.example.com/.well-known/jwks.json")
        .scopes(["orders:read"]);
    assert_eq!(metadata.url(), URL);
    let document = metadata.document();
    let router = Router::new()
        .route(
            "/admin",
            get(|| async { "admin" }).layer(
                RequireLayer::<_, RoleClaims>::role("admin").resource_metadata(metadata.url()),
            ),
        )
        .route("/profile", get(|| async { "profile" }))
        .layer(
            AuthLayer::<RoleClaims>::new(app.authority.validator().clone())
                .resource_metadata(metadata.url()),
        )
        .route(&metadata.path(), get(move || async move { Json(document) }));
    let addr = serve_axum(router).await;

    let r = get_with(addr, "/profile", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge.as_deref(),
        Some(format!("Bearer realm=\"api\", resource_metadata=\"{URL}\"").as_str())
    );
    let r = get_bearer(addr, "/profile", "not.a.token").await;
    let challenge = r.challenge.unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\"")
            && challenge.ends_with(&format!(", resource_metadata=\"{URL}\"")),
        "{challenge}"
    );
    let user = access(&app, &["user"]).await;
    let r = get_bearer(addr, "/admin", &user).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let challenge = r.challenge.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.ends_with(&format!(", resource_metadata=\"{URL}\"")),
        "{challenge}"
    );
    let r = get_bearer(addr, "/profile", &user).await;
    assert_eq!((r.status, r.challenge), (StatusCode::OK, None));

    let r = get_with(addr, "/.well-known/oauth-protected-resource", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap(),
        json!({
            "resource": "https://api.example.com",
            "authorization_servers": ["https://auth.example.com"],
            "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
            "scopes_supported": ["orders:read"],
            "bearer_methods_supported": ["header"],
        })
    );
}

#[test]
fn a_resource_with_a_path_has_its_document_under_the_well_known_path() {
    let m = ResourceMetadata::new("https://example.com/api/v1/").unwrap();
    assert_eq!(m.path(), "/.well-known/oauth-protected-resource/api/v1");
    assert_eq!(
        m.url(),
        "https://example.com/.well-known/oauth-protected-resource/api/v1"
    );
    for bad in [
        "api.example.com",
        "ftp://api.example.com",
        "https://",
        "https://api.example.com/?q=1",
        "https://api.example.com/#x",
        "https://user@api.example.com",
        "https://api.example.com/caf\u{e9}",
        "https://api.example.com/a\\b",
        "https://api.example.com/a\"b",
        "https://api.example.com/a b",
    ] {
        assert!(ResourceMetadata::new(bad).is_err(), "{bad}");
    }
}
