//! The discovery documents: what they say, and a JWKS client that starts
//! from the issuer's URL alone verifying the app's tokens.

use auth_core::Validator;
use auth_core::introspection::{Introspection, IntrospectionClients};
use auth_tower::jwks::Jwks;

use super::*;

/// An app with an issuer named by its own URL, discovery and introspection.
async fn issuer_app(alg: Algorithm, introspection: bool) -> (TokenAuthority, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let key = match alg {
        Algorithm::HS256 => {
            Key::hmac(Algorithm::HS256, b"0123456789abcdef0123456789abcdef").unwrap()
        }
        alg => Key::generate(alg).unwrap(),
    };
    let authority = TokenAuthority::builder(KeySet::new(key).unwrap())
        .issuer(base.as_str())
        .build()
        .unwrap();
    let mut routes = AuthRoutes::new(authority.clone(), users())
        .jwks_path("/.well-known/jwks.json")
        .discovery(format!("{base}/"));
    if introspection {
        let clients = IntrospectionClients::new()
            .client("rs", "resource-server-secret")
            .unwrap();
        routes = routes.introspection(Introspection::new(clients));
    }
    let app: Router = routes.into_router().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (authority, base)
}

#[tokio::test]
async fn the_documents_name_what_is_served_and_a_jwks_client_discovers_it() {
    let (authority, base) = issuer_app(Algorithm::ES256, true).await;
    let client = Client::new(base.trim_start_matches("http://").parse().unwrap());
    let expected = json!({
        "issuer": base,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "access_token_signing_alg_values_supported": ["ES256"],
        "introspection_endpoint": format!("{base}/auth/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
    });
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = client.get(path, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json, expected, "{path}");
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["cache-control"], "public, max-age=300");
    }

    // A resource server given only the issuer's URL.
    let jwks = Jwks::discover(base.as_str()).build().unwrap();
    assert!(jwks.wait_ready(Duration::from_secs(10)).await, "discovered");
    let validator = Validator::builder(jwks)
        .issuer(base.as_str())
        .without_revocation_checks()
        .build()
        .unwrap();
    let pair = authority
        .issue("alice", &RoleClaims::default())
        .await
        .unwrap();
    let claims = validator
        .validate_access::<RoleClaims>(&pair.access_token)
        .await
        .expect("the discovered keys verify the issuer's tokens");
    assert_eq!(claims.sub, "alice");

    // A rotation shows at once: the new key's algorithm is the same, the
    // JWKS holds both.
    authority
        .rotate_signing_key(Key::generate(Algorithm::EdDSA).unwrap())
        .unwrap();
    let r = client.get("/.well-known/openid-configuration", None).await;
    assert_eq!(
        r.json["access_token_signing_alg_values_supported"],
        json!(["ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn an_hmac_issuer_publishes_no_jwks_and_off_means_off() {
    let (_, base) = issuer_app(Algorithm::HS256, false).await;
    let client = Client::new(base.trim_start_matches("http://").parse().unwrap());
    let r = client.get("/.well-known/openid-configuration", None).await;
    assert_eq!(
        r.json,
        json!({ "issuer": base, "access_token_signing_alg_values_supported": ["HS256"] })
    );
    // Not asked for: not served.
    let plain = server().await;
    assert_eq!(
        plain
            .get("/.well-known/openid-configuration", None)
            .await
            .status,
        404
    );
}

#[test]
fn a_base_url_that_is_not_one_is_refused_at_build() {
    for bad in [
        "auth.example.com",
        "ftp://auth.example.com",
        "https://",
        "https://auth.example.com/?x=1",
        "https://auth.example.com/#top",
        "https://user@auth.example.com",
        "https://auth.example.com/caf\u{e9}",
        "https://auth.example.com/a\\b",
    ] {
        let authority =
            TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap())
                .build()
                .unwrap();
        let err = AuthRoutes::new(authority, users())
            .discovery(bad)
            .into_router::<()>()
            .unwrap_err();
        assert!(
            err.to_string().contains("discovery base URL"),
            "{bad}: {err}"
        );
    }
}
