//! The README's quickstart is this example, word for word, and it works:
//! the binary runs with a PEM key, and a client logs in, reads its claims,
//! passes the admin check, refreshes by cookie under `/api/auth`, and logs
//! out.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use contract_tests::Client;
use serde_json::json;

const MAIN: &str = include_str!("../src/main.rs");
const README: &str = include_str!("../../../README.md");

/// The first `rust` block after the README's "## Quickstart" heading.
fn readme_quickstart() -> String {
    let section = README
        .split_once("\n## Quickstart")
        .expect("the README has a Quickstart section")
        .1;
    let block = section
        .split_once("```rust")
        .expect("a rust block in the Quickstart")
        .1;
    let block = block.split_once('\n').expect("a fenced block").1;
    block
        .split_once("\n```")
        .expect("a closed block")
        .0
        .to_owned()
        + "\n"
}

#[test]
fn the_readme_quickstart_is_this_example() {
    assert_eq!(
        readme_quickstart(),
        MAIN,
        "README.md's Quickstart and examples/quickstart/src/main.rs differ: keep them one"
    );
}

/// Kills the server when the test ends, whatever the outcome.
struct Server(tokio::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

#[tokio::test]
async fn the_quickstart_app_logs_in_checks_roles_refreshes_and_logs_out() {
    let dir = std::env::temp_dir().join(format!("quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../auth-core/tests/keys/ed25519.pem"
    );
    std::fs::copy(key, dir.join("key.pem")).unwrap();
    let addr: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let _server = Server(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_example-quickstart"))
            .current_dir(&dir)
            .env("ADDR", addr.to_string())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap(),
    );
    // Up when it accepts a connection (generous: the machine may be busy).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the quickstart did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = Client::new(addr);

    let wrong = json!({ "username": "alice", "password": "nope" }).to_string();
    let refused = client.post("/api/auth/login", &[], Some(&wrong)).await;
    assert_eq!(
        (refused.status.as_u16(), refused.json["error"].as_str()),
        (401, Some("invalid_credentials"))
    );

    let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
    let login = client.post("/api/auth/login", &[], Some(&body)).await;
    assert_eq!(login.status, 200, "{}", login.json);
    let access = login.field("accessToken");
    let cookie = login.set_cookie().expect("the refresh cookie");
    assert_eq!(cookie.path(), Some("/api/auth"));

    let me = client.get("/api/me", Some(&access)).await;
    assert_eq!(me.json, json!({ "roles": ["admin"], "tenant": "acme" }));
    let admin = client.get("/api/admin", Some(&access)).await;
    assert_eq!(
        (admin.status.as_u16(), admin.json.as_str()),
        (200, Some("hello admin"))
    );
    assert_eq!(client.get("/api/me", None).await.status, 401);
    assert_eq!(
        client.get("/api/admin", Some("not-a-token")).await.status,
        401
    );

    let header = format!("{}={}", cookie.name(), cookie.value());
    let refreshed = client
        .post("/api/auth/refresh", &[("cookie", &header)], None)
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
    let new_access = refreshed.field("accessToken");
    let new_cookie = refreshed.set_cookie().expect("the rotated cookie");
    // The old refresh token is dead.
    let old = client
        .post("/api/auth/refresh", &[("cookie", &header)], None)
        .await;
    assert_eq!(old.status, 401);

    let header = format!("{}={}", new_cookie.name(), new_cookie.value());
    let bearer = format!("Bearer {new_access}");
    let logout = client
        .post(
            "/api/auth/logout",
            &[("cookie", &header), ("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(logout.status, 204);
    assert_eq!(client.get("/api/me", Some(&new_access)).await.status, 401);
    let _ = std::fs::remove_dir_all(&dir);
}
