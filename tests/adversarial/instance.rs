//! The example server, started in this process (as the example-server
//! tests do), and the key files its RS256 and ES256 instances load.

use super::*;

/// A server started in this process, stopped when dropped.
pub(crate) struct Instance {
    pub(crate) client: Client,
    pub(crate) stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Instance {
    /// The example server with these flags and `AUTH_JWT_SECRET`.
    pub(crate) async fn start(flags: &[&str], secret: Option<&str>) -> Instance {
        let mut argv = vec!["example-axum-server", "--addr", "127.0.0.1:0"];
        argv.extend_from_slice(flags);
        let args = Args::try_parse_from(argv).expect("flags parse");
        let authority = example_axum_server::authority(&args, secret.map(str::to_owned))
            .await
            .expect("authority");
        Instance::serve(authority).await
    }

    /// The example server's app and users around this authority.
    pub(crate) async fn serve(authority: TokenAuthority) -> Instance {
        let users = example_axum_server::demo_users().expect("demo users");
        let app = example_axum_server::app(authority, users).expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(example_axum_server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        Instance {
            client: Client::new(addr),
            stop: Some(stop),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.client.addr
    }

    /// Logs in and returns (access token, refresh token).
    pub(crate) async fn login(&self, user: &str, password: &str) -> (String, String) {
        let r = self.client.login(user, password).await;
        assert_eq!(r.status, 200, "login {user}: {}", r.json);
        (r.field("accessToken"), r.field("refreshToken"))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The path of a key file of auth-core's tests.
pub(crate) fn key_file(name: &str) -> String {
    format!(
        "{}/../auth-core/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}
