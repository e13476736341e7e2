//! The store's setup: the URL's password, read-only stores, prefixes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_password_is_never_shown() {
    let builder = RedisStore::builder("redis://:hunter2@127.0.0.1:1/0");
    let shown = format!("{builder:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("redis://:***@127.0.0.1:1/0"), "{shown}");
    let err = builder
        .timeout(Duration::from_millis(100))
        .build()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut conn = connect(&server).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("hunter2")
        .query_async(&mut conn)
        .await
        .unwrap();
    let url = format!("redis://:hunter2@127.0.0.1:{}/0", server.port());
    let store = RedisStore::builder(url.as_str())
        .prefix(prefix())
        .build()
        .await
        .expect("store");
    let shown = format!("{store:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(":***@"), "{shown}");
    let err = RedisStore::builder(url.replace("hunter2", "wrong-hunter2"))
        .build()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_mirrors_revocations_and_never_writes() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let writer = store(&server, &p).await;
    let reader = RedisStore::builder(server.url())
        .prefix(&p)
        .read_only()
        .build()
        .await
        .expect("read-only store");
    let now = SystemClock.now();
    let s = session("alice", now);
    writer.create_session(s.clone()).await.unwrap();
    let t = token(&s, now);
    assert_eq!(reader.check(&t).await.unwrap(), Verdict::Allowed);
    assert_eq!(reader.sessions("alice").await.unwrap().len(), 1);

    let mut conn = connect(&server).await;
    let keys = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        let pattern = format!("{p}*");
        async move {
            let mut keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.sort();
            keys
        }
    };
    let before = keys(&mut conn).await;
    let other = session("bob", now);
    let refused = [
        reader.create_session(other.clone()).await.err(),
        reader.revoke_token(t.jti, now + 60).await.err(),
        reader
            .revoke_session(s.sid, &s.subject, now + 60)
            .await
            .err(),
        reader.revoke_subject("alice", now, now + 60).await.err(),
        reader
            .rotate(rotation_with_grace(
                &s,
                s.refresh_jti,
                now,
                Duration::from_secs(2),
            ))
            .await
            .err(),
    ];
    for e in refused {
        assert!(matches!(e, Some(StoreError::ReadOnly(_))), "{e:?}");
    }
    assert_eq!(keys(&mut conn).await, before, "a read-only store wrote");
    assert_eq!(reader.check(&t).await.unwrap(), Verdict::Allowed);

    // The issuer's revocation reaches the read-only mirror.
    writer
        .revoke_session(s.sid, &s.subject, now + 60)
        .await
        .unwrap();
    let d = refused_within(&reader, &t, Duration::from_millis(100)).await;
    eprintln!("read-only mirror refused the revoked session after {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_always_ends_in_a_separator() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let bare = format!("app{}", Uuid::new_v4().simple());
    let s = store(&server, &bare).await;
    s.revoke_token(Uuid::new_v4(), SystemClock.now() + 60)
        .await
        .unwrap();
    let mut conn = connect(&server).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{bare}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(key.starts_with(&format!("{bare}:")), "{key} in {keys:?}");
    }
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{bare}:{{")) && k.ends_with("}:idx")),
        "{keys:?}"
    );
    // A prefix already ending in a separator is kept as it is.
    let dashed = format!("app-{}-", Uuid::new_v4().simple());
    store(&server, &dashed)
        .await
        .revoke_token(Uuid::new_v4(), SystemClock.now() + 60)
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{dashed}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{dashed}{{")) && k.ends_with("}:idx")),
        "{keys:?}"
    );
}
