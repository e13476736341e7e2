//! The table's vocabulary: which server a row goes to, the request as sent
//! on the wire, what must come back, and sending it.

use super::*;

/// Which server a row is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// HS256, the known secret, no issuer/audience.
    Main,
    /// RS256 with auth-core/tests/keys/rsa2048.pem.
    Rsa,
    /// ES256 with auth-core/tests/keys/es256.pem.
    Ec,
    /// HS256 with the known secret, issuer [`ISS`] and audience [`AUD`].
    IssAud,
}

/// A request, as sent on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    /// Header name and raw value bytes, in order (repeats allowed).
    pub(crate) headers: Vec<(&'static str, Vec<u8>)>,
    pub(crate) body: Option<String>,
    /// Sent over a raw TCP stream rather than with hyper's client (huge
    /// headers: the server may answer before it has read everything).
    pub(crate) raw_tcp: bool,
}

/// `GET /profile` with these headers.
pub(crate) fn get(headers: Vec<(&'static str, Vec<u8>)>) -> Req {
    Req {
        method: Method::GET,
        path: "/profile",
        headers,
        body: None,
        raw_tcp: false,
    }
}

/// `GET /profile` with this exact `Authorization` value.
pub(crate) fn authz(value: impl Into<Vec<u8>>) -> Req {
    get(vec![("authorization", value.into())])
}

/// `GET /profile` with `Authorization: Bearer <token>`.
pub(crate) fn bearer(token: &str) -> Req {
    authz(format!("Bearer {token}"))
}

/// `POST /auth/refresh` with `{"refreshToken": token}`.
pub(crate) fn refresh_body(token: &str) -> Req {
    Req {
        method: Method::POST,
        path: "/auth/refresh",
        headers: vec![],
        body: Some(json!({ "refreshToken": token }).to_string()),
        raw_tcp: false,
    }
}

/// `POST /auth/refresh` with the token in the refresh cookie only.
pub(crate) fn refresh_cookie(token: &str) -> Req {
    Req {
        method: Method::POST,
        path: "/auth/refresh",
        headers: vec![("cookie", format!("refresh_token={token}").into_bytes())],
        body: None,
        raw_tcp: false,
    }
}

/// What `WWW-Authenticate` must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// `Bearer realm=..., error="<code>", ...`.
    Code(&'static str),
    /// `Bearer realm=...` without an error code (no credentials presented).
    Bare,
    /// No `WWW-Authenticate` header.
    Absent,
    /// Not checked (a 431 from hyper, before any auth code runs).
    Any,
}

/// What the body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyIs {
    /// JSON with this `error` field.
    Error(&'static str),
    /// JSON with this `sub` (the profile of this user).
    Sub(&'static str),
    /// Not checked.
    Any,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    pub(crate) status: &'static [u16],
    pub(crate) challenge: Challenge,
    pub(crate) body: BodyIs,
}

/// 401 `invalid_token`, JSON body: the layer refused the token.
pub(crate) const INVALID_TOKEN: Expect = Expect {
    status: &[401],
    challenge: Challenge::Code("invalid_token"),
    body: BodyIs::Error("invalid_token"),
};
/// 400 `invalid_request`, JSON body: the request itself is malformed.
pub(crate) const INVALID_REQUEST: Expect = Expect {
    status: &[400],
    challenge: Challenge::Code("invalid_request"),
    body: BodyIs::Error("invalid_request"),
};
/// 401 with a bare challenge and `missing_token`: no bearer token was found.
pub(crate) const MISSING: Expect = Expect {
    status: &[401],
    challenge: Challenge::Bare,
    body: BodyIs::Error("missing_token"),
};
/// `/auth/refresh` refused the token: 401 JSON `invalid_token`, no challenge.
pub(crate) const REFRESH_REFUSED: Expect = Expect {
    status: &[401],
    challenge: Challenge::Absent,
    body: BodyIs::Error("invalid_token"),
};
/// A clean client error for an oversized request; never 5xx.
pub(crate) const CLEAN_4XX: Expect = Expect {
    status: &[400, 401, 431],
    challenge: Challenge::Any,
    body: BodyIs::Any,
};

/// 200 with the profile of `sub`.
pub(crate) const fn ok(sub: &'static str) -> Expect {
    Expect {
        status: &[200],
        challenge: Challenge::Absent,
        body: BodyIs::Sub(sub),
    }
}

pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) target: Target,
    pub(crate) req: Req,
    pub(crate) expect: Expect,
}

/// What came back.
#[derive(Debug, Default)]
pub(crate) struct Got {
    pub(crate) status: Option<u16>,
    pub(crate) www_authenticate: Option<String>,
    pub(crate) body: Vec<u8>,
    /// Why there was no answer.
    pub(crate) failure: Option<String>,
}

impl Got {
    pub(crate) fn error_code(&self) -> Option<&str> {
        let h = self.www_authenticate.as_deref()?;
        let start = h.find("error=\"")? + 7;
        let len = h[start..].find('"')?;
        Some(&h[start..start + len])
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Why this answer does not meet `e`, if it does not.
    pub(crate) fn mismatch(&self, e: &Expect) -> Option<String> {
        let Some(status) = self.status else {
            return Some(format!(
                "no answer: {}",
                self.failure.as_deref().unwrap_or("?")
            ));
        };
        if !e.status.contains(&status) {
            return Some(format!("status {status}, want {:?}", e.status));
        }
        let realm = self
            .www_authenticate
            .as_deref()
            .is_some_and(|h| h.starts_with("Bearer realm=\""));
        let challenge_ok = match e.challenge {
            Challenge::Code(code) => realm && self.error_code() == Some(code),
            Challenge::Bare => realm && self.error_code().is_none(),
            Challenge::Absent => self.www_authenticate.is_none(),
            Challenge::Any => true,
        };
        if !challenge_ok {
            return Some(format!(
                "WWW-Authenticate {:?}, want {:?}",
                self.www_authenticate, e.challenge
            ));
        }
        let body_ok = match e.body {
            BodyIs::Error(code) => self.json()["error"] == code,
            BodyIs::Sub(sub) => self.json()["sub"] == sub,
            BodyIs::Any => true,
        };
        if !body_ok {
            return Some(format!(
                "body {:?}, want {:?}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)]),
                e.body
            ));
        }
        None
    }
}

pub(crate) type Http = HyperClient<HttpConnector, Full<Bytes>>;

pub(crate) async fn send(http: &Http, addr: SocketAddr, req: &Req) -> Got {
    if req.raw_tcp {
        return send_raw(addr, req).await;
    }
    let mut b = Request::builder()
        .method(req.method.clone())
        .uri(format!("http://{addr}{}", req.path));
    for (name, value) in &req.headers {
        b = b.header(*name, HeaderValue::from_bytes(value).expect("header value"));
    }
    if req.body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let body = Full::new(Bytes::from(req.body.clone().unwrap_or_default()));
    let res = match http.request(b.body(body).expect("request")).await {
        Ok(res) => res,
        Err(e) => {
            return Got {
                failure: Some(format!("{e:?}")),
                ..Got::default()
            };
        }
    };
    let status = res.status().as_u16();
    let www_authenticate = res
        .headers()
        .get("www-authenticate")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = match res.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(e) => {
            return Got {
                status: Some(status),
                failure: Some(format!("body: {e}")),
                ..Got::default()
            };
        }
    };
    Got {
        status: Some(status),
        www_authenticate,
        body,
        failure: None,
    }
}

/// Writes the request on its own task while reading the answer, so an answer
/// sent before the server has read a huge request is still seen.
pub(crate) async fn send_raw(addr: SocketAddr, req: &Req) -> Got {
    let mut wire = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n",
        req.method, req.path
    )
    .into_bytes();
    for (name, value) in &req.headers {
        wire.extend_from_slice(name.as_bytes());
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&wire).await;
        wr
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut buf)).await;
    drop(writer.await);
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Got {
            failure: Some(format!("no HTTP head in {} bytes ({read:?})", buf.len())),
            ..Got::default()
        };
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    let mut www_authenticate = None;
    let mut content_length = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("www-authenticate") {
                www_authenticate = Some(v.trim().to_owned());
            } else if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = buf[head_end + 4..].to_vec();
    if let Some(n) = content_length {
        body.truncate(n);
    }
    Got {
        status,
        www_authenticate,
        body,
        failure: None,
    }
}

pub(crate) fn row(name: impl Into<String>, target: Target, req: Req, expect: Expect) -> Row {
    Row {
        name: name.into(),
        target,
        req,
        expect,
    }
}
