//! The one-source wiring of a real app: the layer and role checks taken
//! from the routes (typed with the verifier's claims), a verifier made of
//! closures whose reload sees the session, routes nested by another router,
//! and the OAuth 2.0 token format.

use std::sync::{Arc, Mutex};

use crate::serve;
use auth_axum_extras::{
    Auth, AuthRoutes, Credentials, LoginError, RefreshCookie, TokenFormat, Verified, verify_with,
};
use auth_core::{Algorithm, Key, Privileges, Reload, Session, TokenAuthority};
use axum::Router;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The application's own claims: roles and a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Privileges)]
struct Claims {
    roles: Vec<String>,
    tenant: String,
}

type Seen = Arc<Mutex<Vec<(String, Option<Claims>)>>>;

fn app_routes(
    seen: Seen,
) -> AuthRoutes<impl auth_axum_extras::CredentialVerifier<Claims = Claims>> {
    let authority = TokenAuthority::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap();
    let users = verify_with(|c: Credentials| async move {
        let roles = match (c.username.as_str(), c.password.as_str()) {
            ("alice", "alice-password") => vec!["user".to_string(), "admin".to_string()],
            ("bob", "bob-password") => vec!["user".to_string()],
            _ => return Err(LoginError::InvalidCredentials),
        };
        Ok(Verified::new(
            c.username,
            Claims {
                roles,
                tenant: "acme".into(),
            },
        ))
    })
    .reload(move |session: Session<Claims>| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .push((session.subject.clone(), session.claims.clone()));
            Reload::Keep
        }
    });
    AuthRoutes::new(authority, users)
}

fn login_body(user: &str) -> String {
    json!({ "username": user, "password": format!("{user}-password") }).to_string()
}

#[tokio::test]
async fn the_routes_give_the_layer_and_the_role_check_for_their_own_claims() {
    let seen = Seen::default();
    let routes = app_routes(seen.clone()).prefix("/api/auth");
    let app = Router::new()
        .route(
            "/api/me",
            get(|Auth(me): Auth<Claims>| async move { axum::Json(me.extra.clone()) }),
        )
        .route(
            "/api/admin",
            get(|| async { "admins only" }).layer(routes.require_role("admin")),
        )
        .layer(routes.layer())
        .merge(routes.into_router().unwrap());
    let client = serve(app).await;

    let alice = client
        .post("/api/auth/login", &[], Some(&login_body("alice")))
        .await;
    assert_eq!(alice.status, 200, "{}", alice.json);
    let bob = client
        .post("/api/auth/login", &[], Some(&login_body("bob")))
        .await;
    let (alice_at, bob_at) = (alice.field("accessToken"), bob.field("accessToken"));

    let me = client.get("/api/me", Some(&alice_at)).await;
    assert_eq!(me.status, 200, "{}", me.json);
    assert_eq!(
        me.json,
        json!({ "roles": ["user", "admin"], "tenant": "acme" })
    );
    assert_eq!(client.get("/api/admin", Some(&alice_at)).await.status, 200);
    let refused = client.get("/api/admin", Some(&bob_at)).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json["error"], "insufficient_scope");
    assert_eq!(client.get("/api/admin", None).await.status, 401);
    let wrong = client
        .post(
            "/api/auth/login",
            &[],
            Some(r#"{"username":"bob","password":"x"}"#),
        )
        .await;
    assert_eq!(wrong.status, 401);

    // The reload closure saw the session: its subject and login claims.
    let body = json!({ "refreshToken": alice.field("refreshToken") }).to_string();
    let refreshed = client.post("/api/auth/refresh", &[], Some(&body)).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            "alice".to_string(),
            Some(Claims {
                roles: vec!["user".into(), "admin".into()],
                tenant: "acme".into()
            })
        )]
    );
}

#[tokio::test]
async fn nested_routes_set_their_cookie_where_they_were_reached() {
    // `.prefix("/auth")` (the default), then nested under `/api` by the app.
    let app = Router::new().nest("/api", app_routes(Seen::default()).into_router().unwrap());
    let client = serve(app).await;
    let login = client
        .post("/api/auth/login", &[], Some(&login_body("alice")))
        .await;
    assert_eq!(login.status, 200, "{}", login.json);
    let cookies: Vec<_> = login
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
        .collect();
    assert!(
        cookies.len() >= 2,
        "refresh and device cookies: {cookies:?}"
    );
    for c in &cookies {
        assert_eq!(c.path(), Some("/api/auth"), "{c}");
    }
    let refresh_cookie = cookies
        .iter()
        .find(|c| c.name() == auth_axum_extras::DEFAULT_COOKIE_NAME)
        .unwrap();
    // A browser sends it to /api/auth/refresh, and the refresh works.
    let header = format!("refresh_token={}", refresh_cookie.value());
    let refreshed = client
        .post("/api/auth/refresh", &[("cookie", &header)], None)
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
    assert_eq!(refreshed.set_cookie().unwrap().path(), Some("/api/auth"));
    let header = format!("refresh_token={}", refreshed.set_cookie().unwrap().value());
    let logout = client
        .post("/api/auth/logout", &[("cookie", &header)], None)
        .await;
    assert_eq!(logout.status, 204);
    let cleared = logout.set_cookie().unwrap();
    assert_eq!((cleared.path(), cleared.value()), (Some("/api/auth"), ""));

    // A path the application chose stays as it is.
    let chosen = app_routes(Seen::default()).cookie(RefreshCookie::default().path("/api"));
    let client = serve(Router::new().nest("/api", chosen.into_router().unwrap())).await;
    let login = client
        .post("/api/auth/login", &[], Some(&login_body("alice")))
        .await;
    assert_eq!(login.set_cookie().unwrap().path(), Some("/api"));

    // Merged, not nested: the prefix's path, as always.
    let client =
        serve(Router::new().merge(app_routes(Seen::default()).into_router().unwrap())).await;
    let login = client
        .post("/auth/login", &[], Some(&login_body("alice")))
        .await;
    assert_eq!(login.set_cookie().unwrap().path(), Some("/auth"));
}

#[tokio::test]
async fn the_oauth2_format_names_the_fields_as_rfc_6749_does() {
    let routes = app_routes(Seen::default()).token_format(TokenFormat::OAuth2);
    let client = serve(Router::new().merge(routes.into_router().unwrap())).await;
    let login = client
        .post("/auth/login", &[], Some(&login_body("alice")))
        .await;
    assert_eq!(login.status, 200, "{}", login.json);
    let keys: Vec<&str> = login
        .json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for key in ["access_token", "refresh_token", "token_type", "expires_in"] {
        assert!(keys.contains(&key), "{keys:?}");
    }
    assert_eq!(login.json["token_type"], "Bearer");
    // The refresh body takes the same spelling.
    let body = json!({ "refresh_token": login.field("refresh_token") }).to_string();
    let refreshed = client.post("/auth/refresh", &[], Some(&body)).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
    assert!(
        refreshed.json["access_token"].is_string() && refreshed.json["refresh_token"].is_string()
    );
    // Cookie-only logins still never see the refresh token.
    let body =
        json!({ "username": "bob", "password": "bob-password", "cookieOnly": true }).to_string();
    let browser = client.post("/auth/login", &[], Some(&body)).await;
    assert_eq!(browser.status, 200, "{}", browser.json);
    assert!(
        browser.json.get("refresh_token").is_none(),
        "{}",
        browser.json
    );
}

/// A browser client written with the OAuth 2.0 names asks for the cookie
/// alone with `cookie_only`: its answer never carries the refresh token.
/// Both spellings at once are refused.
#[tokio::test]
async fn a_cookie_only_login_in_the_oauth2_spelling_keeps_the_token_out_of_the_body() {
    let routes = app_routes(Seen::default()).token_format(TokenFormat::OAuth2);
    let client = serve(Router::new().merge(routes.into_router().unwrap())).await;
    let body =
        json!({ "username": "bob", "password": "bob-password", "cookie_only": true }).to_string();
    let browser = client.post("/auth/login", &[], Some(&body)).await;
    assert_eq!(browser.status, 200, "{}", browser.json);
    assert!(
        browser.json.get("refresh_token").is_none(),
        "{}",
        browser.json
    );
    assert!(
        browser
            .cookie(auth_axum_extras::DEFAULT_COOKIE_NAME)
            .is_some()
    );
    let both = json!({
        "username": "bob", "password": "bob-password", "cookieOnly": false, "cookie_only": true
    })
    .to_string();
    let refused = client.post("/auth/login", &[], Some(&both)).await;
    assert_eq!(refused.status, 422, "{}", refused.json);
}

/// Routes nested under a path parameter reach the cookie path with what
/// the client wrote there: a `;` (which would add cookie attributes) or
/// any other unusual character leaves the cookie at the prefix's path.
#[tokio::test]
async fn a_client_written_mount_never_adds_cookie_attributes() {
    let routes = app_routes(Seen::default()).into_router().unwrap();
    let client = serve(Router::new().nest("/{tenant}", routes)).await;
    let login = client
        .post("/acme/auth/login", &[], Some(&login_body("alice")))
        .await;
    assert_eq!(login.status, 200, "{}", login.json);
    assert_eq!(login.set_cookie().unwrap().path(), Some("/acme/auth"));
    for tenant in ["x;SameSite=None", "x;Domain=evil.example", "a%3Bb", "x,y"] {
        let login = client
            .post(
                &format!("/{tenant}/auth/login"),
                &[],
                Some(&login_body("alice")),
            )
            .await;
        assert_eq!(login.status, 200, "{tenant}: {}", login.json);
        for value in login.headers.get_all("set-cookie") {
            let value = value.to_str().unwrap();
            assert!(
                !value.contains("SameSite=None") && !value.contains("Domain"),
                "{value}"
            );
            let cookie = cookie::Cookie::parse(value.to_owned()).unwrap();
            assert_eq!(cookie.path(), Some("/auth"), "{tenant}: {value}");
        }
    }
}
