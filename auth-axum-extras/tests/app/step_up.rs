//! RFC 9470 step-up in handlers: `RequireLoginWithin` and
//! `Auth::require_login_within` answer an old login as the layer would.

use std::sync::Arc;
use std::time::Duration;

use auth_axum_extras::{Auth, RequireLoginWithin};
use auth_core::{
    Algorithm, Clock, Key, KeySet, ManualClock, RoleClaims, SystemClock, TokenAuthority,
};
use auth_tower::AuthLayer;
use axum::Router;
use axum::routing::get;
use contract_tests::Client;

use super::*;

async fn change_password(user: RequireLoginWithin<300, RoleClaims>) -> String {
    format!("{} may change the password", user.sub)
}

async fn delete_account(auth: Auth<RoleClaims>) -> Result<String, auth_axum_extras::ApiError> {
    auth.require_login_within(Duration::from_secs(300))?;
    Ok(format!("{} may delete the account", auth.sub))
}

#[tokio::test]
async fn handlers_ask_an_old_login_to_sign_in_again() {
    // The authority's clock signs one login 400 s ago and one now; the
    // guards read the system clock.
    let now = SystemClock.now();
    let clock = Arc::new(ManualClock::new(now - 400));
    let keys = KeySet::new(Key::generate(Algorithm::HS256).expect("key")).expect("keys");
    let authority = TokenAuthority::builder(keys)
        .clock(clock.clone())
        .build()
        .expect("authority");
    let old = authority
        .issue("alice", &RoleClaims::default())
        .await
        .expect("an old login");
    clock.set(now);
    let fresh = authority
        .issue("alice", &RoleClaims::default())
        .await
        .expect("a fresh login");
    let app = Router::new()
        .route("/password", get(change_password))
        .route("/account", get(delete_account))
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new(addr);

    for path in ["/password", "/account"] {
        let r = client.get(path, Some(&fresh.access_token)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.json);
        let r = client.get(path, Some(&old.access_token)).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.json,
            json!({
                "error": "insufficient_user_authentication",
                "error_description": "a more recent sign-in is required for this operation",
            }),
            "{path}"
        );
        let challenge = r.headers["www-authenticate"].to_str().expect("ascii");
        assert!(
            challenge
                .starts_with("Bearer realm=\"api\", error=\"insufficient_user_authentication\"")
                && challenge.ends_with(", max_age=300"),
            "{path}: {challenge}"
        );
    }
}
