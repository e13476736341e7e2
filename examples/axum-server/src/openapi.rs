//! `GET /openapi.json`: the OpenAPI description of the auth routes
//! (`AuthRoutes::openapi`) merged with the example's own routes.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa::openapi::OpenApi;

use crate::Error;

/// The example's own routes: the profile, the admin area and the key
/// operations, the health check.
fn own_routes() -> Value {
    let error = |d: &str| {
        json!({ "description": d, "content": { "application/json": {
            "schema": { "$ref": "#/components/schemas/Error" } } } })
    };
    let object = |d: &str| {
        json!({ "description": d, "content": { "application/json": {
            "schema": { "type": "object" } } } })
    };
    let bearer = json!([{ "bearer": [] }]);
    json!({
        "openapi": "3.1.0",
        "info": { "title": "example-axum-server", "version": env!("CARGO_PKG_VERSION") },
        "paths": {
            "/profile": { "get": {
                "operationId": "profile", "summary": "The caller's subject and roles",
                "security": bearer,
                "responses": { "200": object("`{\"sub\",\"roles\"}`"), "401": error("no valid access token") },
            }},
            "/admin": { "get": {
                "operationId": "admin", "summary": "The admin area (role admin)",
                "security": bearer,
                "responses": {
                    "200": object("`{\"sub\",\"admin\":true}`"),
                    "401": error("no valid access token"),
                    "403": error("not an admin (`insufficient_scope`)"),
                },
            }},
            "/admin/keys/rotate": { "post": {
                "operationId": "rotateKey",
                "summary": "Rotate the signing key (role admin, a login within --step-up-max-age)",
                "security": bearer,
                "responses": {
                    "200": object("`{\"kid\",\"alg\",\"signsFrom\",\"previousRetiresAt\"}`"),
                    "401": error("no valid access token, or a login too old (`insufficient_user_authentication`, with `max_age` in the challenge)"),
                    "403": error("not an admin (`insufficient_scope`)"),
                    "409": error("too many keys wait for their tokens to expire (`too_many_keys`)"),
                },
            }},
            "/admin/keys/withdraw": { "post": {
                "operationId": "withdrawKey",
                "summary": "Withdraw a key at once (role admin, a login within --step-up-max-age)",
                "security": bearer,
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["kid"],
                    "properties": { "kid": { "type": "string" } },
                    "additionalProperties": false,
                }}}},
                "responses": {
                    "200": object("the signing key was withdrawn: `{\"kid\",\"alg\"}` of the fresh one"),
                    "204": { "description": "a verification key was withdrawn" },
                    "401": error("no valid access token, or a login too old (`insufficient_user_authentication`)"),
                    "403": error("not an admin (`insufficient_scope`)"),
                    "404": error("no key of that kid"),
                },
            }},
            "/healthz": { "get": {
                "operationId": "healthz", "summary": "Liveness",
                "responses": { "200": object("`{\"status\":\"ok\"}`") },
            }},
        },
    })
}

/// The whole description, as JSON text.
pub(crate) fn document(auth: OpenApi) -> Result<String, Error> {
    let mut doc: OpenApi = serde_json::from_value(own_routes())?;
    doc.merge(auth);
    Ok(doc.to_json()?)
}

/// The answer of `GET /openapi.json`.
pub(crate) fn serve(doc: &str) -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], doc.to_owned()).into_response()
}
