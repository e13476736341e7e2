use auth_axum_extras::prelude::*;
use axum::{Json, Router, routing::get};
use serde::{Deserialize, Serialize};

/// What each access token says about its user, besides the user id.
#[derive(Clone, Serialize, Deserialize, Privileges)]
struct Claims {
    roles: Vec<String>,
    tenant: String,
}

/// Your own user lookup (a database in a real app): one user here.
async fn check(c: Credentials) -> Result<Verified<Claims>, LoginError> {
    const ALICE: &str = "$argon2id$v=19$m=19456,t=2,p=1$VbbMPG9r08xVP8rGTXWB4Q$X5FLhX8L44cWXTmD9qqlywsWH8+EIzM4/fzrrJ3od+k";
    check_password(&c.password, (c.username == "alice").then_some(ALICE)).await?;
    let claims = Claims {
        roles: vec!["admin".into()],
        tenant: "acme".into(),
    };
    Ok(Verified::new("user-1", claims))
}

async fn me(Auth(me): Auth<Claims>) -> Json<Claims> {
    Json(me.extra.clone())
}

async fn admin() -> &'static str {
    "hello admin"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // openssl genpkey -algorithm ed25519 -out key.pem
    let key = Key::from_pem_file(Algorithm::EdDSA, "key.pem")?;
    let routes = AuthRoutes::new(TokenAuthority::new(key)?, verify_with(check)).prefix("/api/auth");
    let app = Router::new()
        .route("/api/me", get(me))
        .route("/api/admin", get(admin).layer(routes.require_role("admin")))
        .layer(routes.layer())
        .merge(routes.into_router()?); // POST /api/auth/login, /refresh, /logout, ...
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // The login throttle counts by client address: serve with it.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    Ok(axum::serve(listener, app).await?)
}
