//! A real HTTP client for the end-to-end tests (the example-server contract,
//! the auth routes of auth-axum-extras, the multi-process Redis tests): JSON
//! bodies in, status, headers and JSON out, parsed `Set-Cookie`.

use std::net::SocketAddr;

use cookie::Cookie;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// An HTTP client of one server.
#[derive(Clone)]
pub struct Client {
    /// Where the server listens.
    pub addr: SocketAddr,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

/// How long a kept-alive connection may idle before the client drops it:
/// well under the example servers' keep-alive limit (their 10 s header
/// read timeout), so the client never sends a request on a connection the
/// server is closing at that moment (a reset, on a loaded machine).
const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(4);

impl Client {
    /// A client of the server at `addr`.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            http: HyperClient::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE)
                .build_http(),
        }
    }

    /// A client of the server at `addr` whose connections come from `source`
    /// (e.g. `127.0.0.2`: another machine, as the server sees it).
    pub fn from_source(addr: SocketAddr, source: std::net::IpAddr) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_local_address(Some(source));
        Client {
            addr,
            http: HyperClient::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE)
                .build(connector),
        }
    }
}

/// An answer, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty, a string when not JSON).
    pub json: Value,
}

impl Reply {
    /// The `Set-Cookie` header, parsed; panics when it does not parse.
    pub fn set_cookie(&self) -> Option<Cookie<'static>> {
        let v = self.headers.get(http::header::SET_COOKIE)?;
        Some(Cookie::parse(v.to_str().ok()?.to_owned()).expect("Set-Cookie parses"))
    }

    /// The `Set-Cookie` header setting the cookie `name`, parsed.
    pub fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| Cookie::parse(v.to_str().ok()?.to_owned()).ok())
            .find(|c| c.name() == name)
    }

    /// A string field of the JSON body.
    pub fn field(&self, name: &str) -> String {
        self.json[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {}", self.json))
            .to_owned()
    }
}

impl Client {
    /// Sends a request; `body` is sent as JSON unless `headers` name another
    /// content type.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path));
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .expect("request");
        let res = self.http.request(req).await.expect("the server answers");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            json,
        }
    }

    /// `POST path`.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
        self.send(Method::POST, path, headers, body).await
    }

    /// `method path` with `Authorization: Bearer <token>` and no body.
    pub async fn bearer(&self, method: Method, path: &str, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.send(method, path, &[("authorization", &auth)], None)
            .await
    }

    /// `GET path`, with a bearer token if given.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.send(Method::GET, path, &headers, None).await
    }

    /// `POST /auth/login`.
    pub async fn login(&self, user: &str, password: &str) -> Reply {
        let body = json!({ "username": user, "password": password }).to_string();
        self.post("/auth/login", &[], Some(&body)).await
    }

    /// `POST /auth/refresh` with `{"refreshToken"}` in the body.
    pub async fn refresh_body(&self, token: &str) -> Reply {
        let body = json!({ "refreshToken": token }).to_string();
        self.post("/auth/refresh", &[], Some(&body)).await
    }

    /// `POST /auth/refresh` with the token in the cookie only, no body.
    pub async fn refresh_by_cookie(&self, cookie: &Cookie<'_>) -> Reply {
        let header = format!("{}={}", cookie.name(), cookie.value());
        self.post("/auth/refresh", &[("cookie", &header)], None)
            .await
    }
}

/// The workspace README's examples (they need all three crates), compiled
/// and run as doc tests. They live here, in the workspace's own test crate,
/// because a published crate's package cannot reach the workspace README.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct WorkspaceReadme;

/// auth-core's README (its crates.io page), compiled and run.
#[cfg(doctest)]
#[doc = include_str!("../auth-core/README.md")]
struct AuthCoreReadme;

/// auth-tower's README (its crates.io page), compiled and run.
#[cfg(doctest)]
#[doc = include_str!("../auth-tower/README.md")]
struct AuthTowerReadme;

/// auth-axum-extras' README (its crates.io page), compiled.
#[cfg(doctest)]
#[doc = include_str!("../auth-axum-extras/README.md")]
struct AuthAxumExtrasReadme;

/// auth-derive's README (its crates.io page), compiled and run.
#[cfg(doctest)]
#[doc = include_str!("../auth-derive/README.md")]
struct AuthDeriveReadme;
