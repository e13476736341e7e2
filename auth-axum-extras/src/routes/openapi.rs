//! The OpenAPI 3.1 description of the routes (feature `openapi`), as
//! [`AuthRoutes::openapi`](super::AuthRoutes::openapi) configured them:
//! their paths under the prefix, request and response bodies, every error,
//! the refresh cookie, and the security schemes (bearer, the cookie, HTTP
//! Basic for introspection).

use serde_json::{Map, Value, json};

/// What the description depends on.
pub(super) struct Described<'a> {
    pub(super) prefix: &'a str,
    pub(super) cookie: Option<&'a str>,
    pub(super) jwks_path: &'a str,
    pub(super) introspection: bool,
    pub(super) discovery: bool,
    pub(super) throttled: bool,
    /// Token responses with the OAuth 2.0 names (`access_token`...).
    pub(super) oauth2_names: bool,
    /// DPoP-bound tokens are taken (RFC 9449).
    pub(super) dpop: bool,
    /// Proofs must carry a server nonce.
    pub(super) dpop_nonces: bool,
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_body(name: &str) -> Value {
    json!({ "application/json": { "schema": schema(name) } })
}

/// An error answer: the JSON error shape, with `description`.
fn error(description: &str) -> Value {
    json!({ "description": description, "content": json_body("Error") })
}

/// An error answer that may say when to retry.
fn error_retry(description: &str) -> Value {
    json!({
        "description": description,
        "headers": { "Retry-After": {
            "description": "seconds to wait before trying again",
            "schema": { "type": "integer", "minimum": 1 },
        }},
        "content": json_body("Error"),
    })
}

fn tokens(description: &str, cookie: Option<&str>) -> Value {
    let mut res = json!({ "description": description, "content": json_body("Tokens") });
    if let Some(name) = cookie {
        res["headers"] = json!({ "Set-Cookie": {
            "description": format!("the refresh token in the HttpOnly cookie `{name}`"),
            "schema": { "type": "string" },
        }});
    }
    res
}

fn bad_body() -> [(&'static str, Value); 4] {
    [
        ("400", error("a malformed body (`invalid_request`)")),
        ("413", error("a body over the size cap")),
        ("415", error("a body that is not `application/json`")),
        ("422", error("a body of the wrong shape")),
    ]
}

fn cross_origin() -> (&'static str, Value) {
    (
        "403",
        error("a cross-origin browser request (`cross_origin_request`)"),
    )
}

fn operation(
    id: &str,
    summary: &str,
    body: Option<Value>,
    responses: Vec<(&str, Value)>,
    security: Value,
) -> Value {
    let mut op = json!({
        "operationId": id,
        "summary": summary,
        "tags": ["auth"],
        "responses": responses.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>(),
        "security": security,
    });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

/// The OpenAPI document, as JSON.
pub(super) fn document(d: &Described<'_>) -> Value {
    let p = d.prefix;
    let bearer = if d.dpop {
        json!([{ "bearer": [] }, { "dpop": [] }])
    } else {
        json!([{ "bearer": [] }])
    };
    let none = json!([]);
    let refresh_security = match d.cookie {
        Some(_) => json!([{}, { "refreshCookie": [] }]),
        None => json!([]),
    };
    let mut paths = Map::new();

    let mut login = vec![
        ("200", tokens("signed in: a new session's tokens", d.cookie)),
        (
            "401",
            error("unknown user or wrong password (`invalid_credentials`)"),
        ),
        cross_origin(),
        (
            "503",
            error_retry("too many logins wait their turn (`temporarily_unavailable`)"),
        ),
    ];
    login.extend(bad_body());
    if d.throttled {
        login.push((
            "429",
            error_retry("the login throttle holds the attempt (`too_many_attempts`)"),
        ));
    }
    paths.insert(
        format!("{p}/login"),
        json!({ "post": operation(
            "login",
            "Sign in with a username and password",
            Some(json!({ "required": true, "content": json_body("LoginRequest") })),
            login,
            none.clone(),
        )}),
    );

    let mut refresh = vec![
        (
            "200",
            tokens(
                "the next pair; the refresh token presented is spent",
                d.cookie,
            ),
        ),
        (
            "401",
            error(
                "`refresh_superseded` (a concurrent refresh won: retry once) or `invalid_token` (sign in again)",
            ),
        ),
        cross_origin(),
        (
            "503",
            error("the store or the user directory is down (retry)"),
        ),
    ];
    refresh.extend(bad_body());
    paths.insert(
        format!("{p}/refresh"),
        json!({ "post": operation(
            "refresh",
            "Rotate the refresh token: a new pair",
            Some(json!({ "required": false, "content": json_body("RefreshRequest") })),
            refresh,
            refresh_security.clone(),
        )}),
    );

    let mut logout_security = vec![json!({}), json!({ "bearer": [] })];
    if d.cookie.is_some() {
        logout_security.push(json!({ "refreshCookie": [] }));
    }
    paths.insert(
        format!("{p}/logout"),
        json!({ "post": operation(
            "logout",
            "End the session of the tokens presented; clear the cookie",
            Some(json!({ "required": false, "content": json_body("RefreshRequest") })),
            {
                let mut answers = vec![
                    ("204", json!({ "description": "whatever the tokens: never an oracle" })),
                    cross_origin(),
                    ("503", error("the store is down")),
                ];
                if d.dpop {
                    answers.push((
                        "401",
                        error("a DPoP proof that does not verify (`invalid_dpop_proof`): nothing ended"),
                    ));
                }
                if d.dpop_nonces {
                    answers.push((
                        "400",
                        error("a DPoP proof without the server's current nonce (`use_dpop_nonce`): nothing ended, sign again with the `DPoP-Nonce` of this answer"),
                    ));
                }
                answers
            },
            Value::Array(logout_security),
        )}),
    );
    paths.insert(
        format!("{p}/logout-all"),
        json!({ "post": operation(
            "logoutAll",
            "End every session of the caller",
            None,
            vec![
                ("204", json!({ "description": "every session of the user is revoked" })),
                ("401", error("no valid access token")),
                cross_origin(),
            ],
            bearer.clone(),
        )}),
    );
    paths.insert(
        format!("{p}/sessions"),
        json!({ "get": operation(
            "listSessions",
            "The caller's live sessions, oldest first",
            None,
            vec![
                ("200", json!({ "description": "the sessions", "content": json_body("SessionList") })),
                ("401", error("no valid access token")),
            ],
            bearer.clone(),
        )}),
    );
    let mut delete = operation(
        "deleteSession",
        "End one of the caller's sessions",
        None,
        vec![
            (
                "204",
                json!({ "description": "its refresh and access tokens are refused from now on" }),
            ),
            ("401", error("no valid access token")),
            (
                "404",
                error("not one of the caller's live sessions (`not_found`)"),
            ),
        ],
        bearer.clone(),
    );
    delete["parameters"] = json!([{
        "name": "id", "in": "path", "required": true,
        "schema": { "type": "string", "format": "uuid" },
    }]);
    paths.insert(format!("{p}/sessions/{{id}}"), json!({ "delete": delete }));
    paths.insert(
        d.jwks_path.to_owned(),
        json!({ "get": operation(
            "jwks",
            "The public keys in force (RFC 7517)",
            None,
            vec![
                ("200", json!({ "description": "the key set", "content": json_body("Jwks") })),
                ("404", error("only HMAC keys are in use (`not_found`)")),
            ],
            none.clone(),
        )}),
    );
    if d.introspection {
        paths.insert(
            format!("{p}/introspect"),
            json!({ "post": operation(
                "introspect",
                "Whether a token is active (RFC 7662)",
                Some(json!({ "required": true, "content": {
                    "application/x-www-form-urlencoded": { "schema": schema("IntrospectionRequest") },
                }})),
                vec![
                    ("200", json!({
                        "description": "`{\"active\": false}` for anything but a live access token",
                        "content": json_body("Introspection"),
                    })),
                    ("400", error("no `token`, or more than one")),
                    ("401", error("client authentication failed (`invalid_client`)")),
                    cross_origin(),
                    ("413", error("a body over the size cap")),
                    ("415", error("a body that is not a form")),
                    ("503", error("the store is down")),
                ],
                json!([{ "clientBasic": [] }]),
            )}),
        );
    }
    if d.discovery {
        for (path, id) in [
            ("/.well-known/openid-configuration", "openidConfiguration"),
            (
                "/.well-known/oauth-authorization-server",
                "authorizationServerMetadata",
            ),
        ] {
            paths.insert(
                path.to_owned(),
                json!({ "get": operation(
                    id,
                    "Discovery metadata (OpenID Connect Discovery, RFC 8414)",
                    None,
                    vec![("200", json!({ "description": "the document", "content": json_body("Metadata") }))],
                    none.clone(),
                )}),
            );
        }
    }

    let mut schemes = json!({
        "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "an access token (JWT, `typ` at+jwt)" },
    });
    if let Some(name) = d.cookie {
        schemes["refreshCookie"] = json!({
            "type": "apiKey", "in": "cookie", "name": name,
            "description": "the refresh token, HttpOnly",
        });
    }
    if d.dpop {
        // OpenAPI's `http` schemes name only the schemes its registry
        // lists at the time (no `DPoP`): the proof header describes it.
        let mut description = "a DPoP proof (RFC 9449) signed by the key a DPoP-bound access \
            token's `cnf.jkt` names, sent with `Authorization: DPoP <token>`; logins and \
            refreshes carry a proof too"
            .to_owned();
        if d.dpop_nonces {
            description.push_str(
                "; its `nonce` claim is the latest `DPoP-Nonce` answer header (without it: \
                 `use_dpop_nonce`, 400 at login, refresh and logout, else 401)",
            );
        }
        schemes["dpop"] = json!({
            "type": "apiKey", "in": "header", "name": "DPoP",
            "description": description,
        });
    }
    if d.introspection {
        schemes["clientBasic"] = json!({
            "type": "http", "scheme": "basic",
            "description": "a registered introspection client: its id and secret",
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "auth routes",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Login, refresh, logout and sessions (auth-axum-extras).",
        },
        "paths": paths,
        "components": { "schemas": schemas(d.oauth2_names), "securitySchemes": schemes },
    })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn integer() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

fn schemas(oauth2_names: bool) -> Value {
    let [access, refresh, kind, expires] = if oauth2_names {
        ["access_token", "refresh_token", "token_type", "expires_in"]
    } else {
        ["accessToken", "refreshToken", "tokenType", "expiresIn"]
    };
    let tokens = json!({
        "type": "object",
        "required": [access, kind, expires],
        "properties": {
            access: string(),
            refresh: { "type": "string", "description": "absent for cookie-only clients" },
            kind: { "type": "string", "enum": ["Bearer"] },
            expires: integer(),
        },
    });
    json!({
        "LoginRequest": {
            "type": "object",
            "required": ["username", "password"],
            "properties": {
                "username": { "type": "string", "maxLength": 256 },
                "password": { "type": "string", "maxLength": 1024 },
                "cookieOnly": { "type": "boolean",
                    "description": "the refresh token only in the cookie, never in the body (browsers)" },
            },
            "additionalProperties": true,
            "description": "other fields go to the application's credential verifier",
        },
        "RefreshRequest": {
            "type": "object",
            "properties": { "refreshToken": string() },
        },
        "Tokens": tokens,
        "Error": {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": { "error": string(), "error_description": string() },
        },
        "Session": {
            "type": "object",
            "required": ["id", "createdAt", "lastRefreshedAt", "expiresAt", "absoluteExpiresAt", "device", "current"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "createdAt": integer(),
                "lastRefreshedAt": integer(),
                "expiresAt": integer(),
                "absoluteExpiresAt": integer(),
                "device": { "type": ["string", "null"] },
                "current": { "type": "boolean" },
            },
        },
        "SessionList": {
            "type": "object",
            "required": ["sessions"],
            "properties": { "sessions": { "type": "array", "items": schema("Session") } },
        },
        "Jwks": {
            "type": "object",
            "required": ["keys"],
            "properties": { "keys": { "type": "array", "items": { "type": "object" } } },
        },
        "IntrospectionRequest": {
            "type": "object",
            "required": ["token"],
            "properties": {
                "token": string(),
                "token_type_hint": { "type": "string", "description": "ignored" },
            },
        },
        "Introspection": {
            "type": "object",
            "required": ["active"],
            "properties": {
                "active": { "type": "boolean" },
                "token_type": string(),
                "sub": string(),
                "exp": integer(),
                "iat": integer(),
                "nbf": integer(),
                "auth_time": integer(),
                "iss": string(),
                "aud": { "type": ["string", "array"], "items": string() },
                "jti": string(),
                "scope": string(),
            },
            "additionalProperties": true,
        },
        "Metadata": {
            "type": "object",
            "required": ["issuer", "access_token_signing_alg_values_supported"],
            "properties": {
                "issuer": string(),
                "jwks_uri": string(),
                "access_token_signing_alg_values_supported": { "type": "array", "items": string() },
                "introspection_endpoint": string(),
                "introspection_endpoint_auth_methods_supported": { "type": "array", "items": string() },
            },
        },
    })
}
