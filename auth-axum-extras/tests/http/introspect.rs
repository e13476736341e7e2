//! `POST /auth/introspect` (RFC 7662): registered clients only, the exact
//! inactive answer for anything but a live access token, and revocation
//! seen at once.

use auth_core::introspection::{Introspection, IntrospectionClients};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::*;

const ID: &str = "orders-service";
const SECRET: &str = "orders-secret-0123456789";

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

async fn introspecting() -> Server {
    server_with(Algorithm::EdDSA, |r| {
        let clients = IntrospectionClients::new()
            .client(ID, SECRET)
            .unwrap()
            .client("billing service", "billing+secret/0123456789")
            .unwrap();
        r.introspection(Introspection::new(clients).claims(["roles"]).unwrap())
    })
    .await
}

impl Server {
    /// Introspects `token` as the orders service: status and raw body.
    async fn introspect(&self, token: &str) -> (StatusCode, String) {
        let body = format!("token={token}&token_type_hint=access_token");
        let r = self
            .post(
                "/auth/introspect",
                &[
                    ("authorization", &basic(ID, SECRET)),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                Some(&body),
            )
            .await;
        assert_eq!(r.headers["cache-control"], "no-store");
        (r.status, r.json.to_string())
    }
}

const INACTIVE: &str = r#"{"active":false}"#;

#[tokio::test]
async fn a_live_access_token_is_active_and_everything_else_is_exactly_inactive() {
    let s = introspecting().await;
    let root = s.login_ok("root").await;
    let access = root.field("accessToken");
    let (status, body) = s.introspect(&access).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    let claims = s
        .authority
        .validator()
        .decode_access::<RoleClaims>(&access)
        .unwrap();
    assert_eq!(
        answer,
        json!({
            "active": true,
            "token_type": "Bearer",
            "sub": "root",
            "exp": claims.exp,
            "iat": claims.iat,
            "nbf": claims.iat,
            "jti": claims.jti.to_string(),
            "auth_time": claims.iat,
            "roles": ["user", "admin"],
        })
    );

    // Not access tokens of this authority, or not live: the same bytes.
    let other =
        TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap())
            .build()
            .unwrap()
            .issue("root", &RoleClaims::default())
            .await
            .unwrap();
    for (what, token) in [
        ("garbage", "not-a-token".to_owned()),
        ("a refresh token", root.field("refreshToken")),
        ("another issuer's token", other.access_token),
        ("a truncated token", access[..access.len() - 2].to_owned()),
    ] {
        assert_eq!(
            s.introspect(&token).await,
            (StatusCode::OK, INACTIVE.into()),
            "{what}"
        );
    }

    // Logged out: inactive at once, though the signature check is cached.
    let alice = s.login_ok("alice").await;
    let alice_access = alice.field("accessToken");
    assert!(
        s.introspect(&alice_access)
            .await
            .1
            .contains(r#""active":true"#)
    );
    let r = s
        .bearer(http::Method::POST, "/auth/logout", &alice_access)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(s.introspect(&alice_access).await.1, INACTIVE, "logged out");

    // Expired.
    s.clock.advance(Duration::from_secs(15 * 60 + 6));
    assert_eq!(s.introspect(&access).await.1, INACTIVE, "expired");
}

#[tokio::test]
async fn only_registered_clients_may_ask() {
    let s = introspecting().await;
    let access = s.login_ok("alice").await.field("accessToken");
    let form = format!("token={access}");
    let ask = |auth: Option<String>| {
        let form = form.clone();
        let s = &s;
        async move {
            let mut headers = vec![(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )];
            if let Some(a) = auth {
                headers.push(("authorization", a));
            }
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.post("/auth/introspect", &headers, Some(&form)).await
        }
    };
    for (what, auth) in [
        ("no credentials", None),
        (
            "a wrong secret",
            Some(basic(ID, "orders-secret-0123456788")),
        ),
        ("an unknown client", Some(basic("nobody", SECRET))),
        ("the secret as the id", Some(basic(SECRET, ID))),
        ("a bearer token", Some(format!("Bearer {access}"))),
        ("not base64", Some("Basic %%%".to_owned())),
        ("no colon", Some(format!("Basic {}", STANDARD.encode(ID)))),
    ] {
        let r = ask(auth).await;
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(r.json["error"], "invalid_client", "{what}");
        assert_eq!(
            r.headers["www-authenticate"], "Basic realm=\"introspection\", charset=\"UTF-8\"",
            "{what}"
        );
    }
    // RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic.
    let encoded = basic("billing+service", "billing%2Bsecret%2F0123456789");
    let r = ask(Some(encoded)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["active"], true);
    // As curl -u and most libraries send them: unencoded.
    let raw = basic("billing service", "billing+secret/0123456789");
    assert_eq!(ask(Some(raw)).await.status, 200);
}

#[tokio::test]
async fn malformed_requests_are_refused_cleanly() {
    let s = introspecting().await;
    let auth = basic(ID, SECRET);
    let form = [
        ("authorization", auth.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let r = s
        .post(
            "/auth/introspect",
            &form,
            Some("token_type_hint=access_token"),
        )
        .await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let r = s
        .post("/auth/introspect", &form, Some("token=a&token=b"))
        .await;
    assert_eq!(r.status, 400, "a repeated token is ambiguous");
    let json = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let r = s
        .post("/auth/introspect", &json, Some(r#"{"token":"x"}"#))
        .await;
    assert_eq!(r.status, 415);
    let big = format!("token={}", "a".repeat(64 * 1024));
    let r = s.post("/auth/introspect", &form, Some(&big)).await;
    assert_eq!(r.status, 413);
    // Off by default.
    let plain = server().await;
    let r = plain.post("/auth/introspect", &form, Some("token=x")).await;
    assert_eq!(r.status, 404);
}
