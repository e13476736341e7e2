//! Helpers for the example-server contract tests: start the server from its
//! command-line flags on a loopback port, and talk to it with a real HTTP
//! client.

use std::net::SocketAddr;

use clap::Parser;
use cookie::Cookie;
use example_axum_server::Args;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// A server started in this process, stopped when dropped. Dereferences to
/// a [`Client`] of it.
pub struct Instance {
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::ops::Deref for Instance {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// An HTTP client of one server.
#[derive(Clone)]
pub struct Client {
    /// Where the server listens.
    pub addr: SocketAddr,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// A client of the server at `addr`.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
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
    /// The `Set-Cookie` header, parsed.
    pub fn set_cookie(&self) -> Option<Cookie<'static>> {
        let v = self.headers.get(http::header::SET_COOKIE)?;
        Cookie::parse(v.to_str().ok()?.to_owned()).ok()
    }

    /// A string field of the JSON body.
    pub fn field(&self, name: &str) -> String {
        self.json[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {}", self.json))
            .to_owned()
    }
}

/// Parses flags as the binary would (`--addr` defaults to a free port here).
pub fn args(flags: &[&str]) -> Result<Args, clap::Error> {
    let mut argv = vec!["example-axum-server", "--addr", "127.0.0.1:0"];
    argv.extend_from_slice(flags);
    Args::try_parse_from(argv)
}

impl Instance {
    /// Starts the example server with these flags and `AUTH_JWT_SECRET`.
    pub async fn start(flags: &[&str], secret: Option<&str>) -> Result<Instance, String> {
        let args = args(flags).map_err(|e| e.to_string())?;
        let authority = example_axum_server::authority(&args, secret.map(str::to_owned))
            .await
            .map_err(|e| e.to_string())?;
        let users = example_axum_server::demo_users().map_err(|e| e.to_string())?;
        let app = example_axum_server::app(authority, users).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(example_axum_server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        Ok(Instance {
            client: Client::new(addr),
            stop: Some(stop),
        })
    }
}

impl Client {
    /// Sends a request; `body` is sent as JSON.
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
        if body.is_some() {
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
        self.send(Method::POST, "/auth/login", &[], Some(&body))
            .await
    }

    /// `POST /auth/refresh` with the token in the cookie only, no body.
    pub async fn refresh_by_cookie(&self, cookie: &Cookie<'_>) -> Reply {
        let header = format!("{}={}", cookie.name(), cookie.value());
        self.send(Method::POST, "/auth/refresh", &[("cookie", &header)], None)
            .await
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
