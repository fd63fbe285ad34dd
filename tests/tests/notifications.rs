//! LISTEN/NOTIFY and notices against a real server: a notification from a second connection
//! received on the stream while the listening connection is idle; notifications arriving in the
//! middle of running queries, intact and in order; unicode and maximum-length payloads; quoted
//! channel names; UNLISTEN; delivery at commit only; the stream ending when the server closes the
//! connection; and notices reaching the handler without disturbing the query in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, Config, Notification};

async fn config() -> Config {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    server
        .connection_string(server.superuser(), None, &db, false)
        .parse()
        .unwrap()
}

async fn two_clients() -> (Client, Client) {
    let config = config().await;
    (
        Client::connect(&config).await.unwrap(),
        Client::connect(&config).await.unwrap(),
    )
}

/// The next notification of `client`, within a few seconds.
async fn next_notification(client: &Client) -> Notification {
    tokio::time::timeout(Duration::from_secs(10), client.notifications().next())
        .await
        .expect("no notification arrived")
        .expect("the notification stream ended")
}

// Catches: notifications only being read when the listening connection runs a query (an idle
// connection must read the socket when its stream is polled), and wrong channel, payload or
// process id.
#[tokio::test]
async fn a_notification_from_a_second_connection_is_received_while_idle() {
    let (listener, sender) = two_clients().await;
    listener.listen("jobs").await.unwrap();
    let mut stream = listener.notifications();
    // The sender notifies only after the listener is already waiting on its stream, with no
    // request of its own outstanding.
    let (notification, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(10), stream.next()),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            sender.notify("jobs", "hello").await.unwrap();
        }
    );
    let notification = notification
        .expect("no notification while idle")
        .expect("the stream ended");
    assert_eq!(notification.channel, "jobs");
    assert_eq!(notification.payload, "hello");
    assert_eq!(Some(notification.process_id), sender.process_id());
    assert!(!listener.has_pending_requests());

    // An empty payload, through plain NOTIFY.
    sender.batch_execute("NOTIFY jobs").await.unwrap();
    let notification = next_notification(&listener).await;
    assert_eq!(notification.payload, "");
    // Nothing else is pending.
    assert!(listener.take_notifications().is_empty());
}

// Catches: notifications lost, truncated, reordered or mistaken for a query's response when they
// arrive between the messages of queries the listener is running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_arriving_during_running_queries_are_intact_and_in_order() {
    let (listener, sender) = two_clients().await;
    listener.listen("busy").await.unwrap();
    let sender = Arc::new(sender);
    let sending = {
        let sender = sender.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                sender
                    .notify("busy", &format!("message {i} {}", "p".repeat(i % 50)))
                    .await
                    .unwrap();
            }
        })
    };
    // Meanwhile the listener runs queries with many rows, and one that sleeps.
    let mut queries = 0;
    while !sending.is_finished() {
        let rows = listener
            .query(
                "SELECT g, repeat('q', 100) FROM generate_series(1, 2000) g",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 2000);
        assert_eq!(rows[1999].get::<_, i32>(0), 2000);
        queries += 1;
    }
    sending.await.unwrap();
    let row = listener
        .query_one("SELECT 5::int4 FROM pg_sleep(0.2)", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 5);
    assert!(queries > 0);

    let mut stream = listener.notifications();
    for i in 0..300 {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| panic!("notification {i} never arrived"))
            .unwrap();
        assert_eq!(n.channel, "busy");
        assert_eq!(n.payload, format!("message {i} {}", "p".repeat(i % 50)));
    }
}

// Catches: payloads or channel names mangled on the way (UTF-8, quotes, newlines, the longest
// payload the server allows), and channel names not quoted by listen().
#[tokio::test]
async fn unicode_and_long_payloads_and_quoted_channels_arrive_intact() {
    let (listener, sender) = two_clients().await;
    let channel = "Mixed Case \"quoted\" канал 🐘";
    listener.listen(channel).await.unwrap();
    listener.listen("plain").await.unwrap();
    let payloads = [
        "héllo wörld".to_owned(),
        "🐘 日本語 العربية ελληνικά".to_owned(),
        "line one\nline two\ttab 'single' \"double\" \\ backslash".to_owned(),
        // The server's limit is a payload shorter than 8000 bytes.
        "ü".repeat(3999) + "x",
    ];
    for payload in &payloads {
        sender.notify(channel, payload).await.unwrap();
    }
    sender.notify("plain", "end").await.unwrap();
    for payload in &payloads {
        let n = next_notification(&listener).await;
        assert_eq!(n.channel, channel);
        assert_eq!(&n.payload, payload);
    }
    let n = next_notification(&listener).await;
    assert_eq!((n.channel.as_str(), n.payload.as_str()), ("plain", "end"));
}

// Catches: UNLISTEN not stopping delivery, and notifications sent inside a transaction delivered
// before its commit (or after its rollback).
#[tokio::test]
async fn unlisten_and_transactions_decide_what_is_delivered() {
    let (listener, mut sender) = two_clients().await;
    listener.listen("a").await.unwrap();
    listener.listen("sentinel").await.unwrap();
    listener.unlisten("a").await.unwrap();
    sender.notify("a", "not for you").await.unwrap();
    sender.notify("sentinel", "1").await.unwrap();
    let n = next_notification(&listener).await;
    assert_eq!((n.channel.as_str(), n.payload.as_str()), ("sentinel", "1"));

    listener.listen("a").await.unwrap();
    let tx = sender.transaction().await.unwrap();
    tx.notify("a", "rolled back").await.unwrap();
    tx.rollback().await.unwrap();
    let tx = sender.transaction().await.unwrap();
    tx.notify("a", "committed").await.unwrap();
    // Not yet delivered: the listener sees nothing while the transaction is open.
    listener.query("SELECT 1", &[]).await.unwrap();
    assert!(listener.take_notifications().is_empty());
    tx.commit().await.unwrap();
    let n = next_notification(&listener).await;
    assert_eq!((n.channel.as_str(), n.payload.as_str()), ("a", "committed"));

    // A connection's own notifications reach it too.
    listener.notify("a", "self").await.unwrap();
    let taken = listener.take_notifications();
    assert_eq!(taken.len(), 1, "delivered with the NOTIFY's own reply");
    assert_eq!(taken[0].payload, "self");
    assert_eq!(Some(taken[0].process_id), listener.process_id());
}

// Catches: an idle listening connection that never notices the server ended the session (the
// stream would wait forever instead of ending, and the client would still claim to be open).
#[tokio::test]
async fn the_stream_ends_when_the_server_closes_the_connection() {
    let (listener, admin) = two_clients().await;
    listener.listen("x").await.unwrap();
    let pid = listener.process_id().unwrap();
    let mut stream = listener.notifications();
    let (next, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(10), stream.next()),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            admin
                .execute("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .unwrap();
        }
    );
    assert!(
        next.expect("the stream did not end").is_none(),
        "a notification instead of the end"
    );
    assert!(listener.is_closed());
    let err = listener.query("SELECT 1", &[]).await.unwrap_err();
    assert!(err.is_closed(), "{}", report(&err));
}

/// A notice handler that records (severity, message) pairs.
fn recording_handler(client: &Client) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    client.set_notice_handler(move |notice| {
        sink.lock()
            .unwrap()
            .push((notice.severity().to_owned(), notice.message().to_owned()))
    });
    seen
}

// Catches: notices arriving between DataRows being taken as rows (or ending the query), lost, or
// delivered out of order; warnings not reaching the handler.
#[tokio::test]
async fn notices_go_to_the_handler_without_disturbing_the_query() {
    let client = Client::connect(&config().await).await.unwrap();
    client
        .batch_execute(
            "CREATE FUNCTION shout(n int4) RETURNS int4 LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF n % 10 = 0 THEN RAISE WARNING 'warning %', n; ELSE RAISE NOTICE 'notice %', n; END IF; \
               RETURN n * 2; \
             END $$; \
             SET client_min_messages = notice",
        )
        .await
        .unwrap();
    let seen = recording_handler(&client);
    let rows = client
        .query("SELECT shout(g) FROM generate_series(1, 200) g", &[])
        .await
        .unwrap();
    let values: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(values, (1..=200).map(|g| g * 2).collect::<Vec<_>>());
    let expected: Vec<(String, String)> = (1..=200)
        .map(|n| {
            if n % 10 == 0 {
                ("WARNING".to_owned(), format!("warning {n}"))
            } else {
                ("NOTICE".to_owned(), format!("notice {n}"))
            }
        })
        .collect();
    assert_eq!(*seen.lock().unwrap(), expected);

    // Through a row stream, a simple query and a batch as well.
    seen.lock().unwrap().clear();
    let mut stream = client
        .query_raw("SELECT shout(g) FROM generate_series(1, 3) g", &[])
        .await
        .unwrap();
    let mut streamed = Vec::new();
    while let Some(row) = stream.next().await {
        streamed.push(row.unwrap().get::<_, i32>(0));
    }
    assert_eq!(streamed, [2, 4, 6]);
    client.simple_query("SELECT shout(4)").await.unwrap();
    let four = 4i32;
    let params: [&(dyn pg_wire::types::ToSql + Sync); 1] = [&four];
    let mut batch = client.batch();
    batch.query("SELECT shout($1)", &params);
    let results = batch.run().await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().rows[0].get::<_, i32>(0), 8);
    let messages: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(
        messages,
        ["notice 1", "notice 2", "notice 3", "notice 4", "notice 4"]
    );
}

// Catches: notices of pipelined requests from several tasks being lost or breaking the
// request/response pairing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_from_pipelined_requests_all_arrive() {
    let client = Arc::new(Client::connect(&config().await).await.unwrap());
    client
        .batch_execute(
            "CREATE FUNCTION tell(t int4, i int4) RETURNS int4 LANGUAGE plpgsql AS $$ \
             BEGIN RAISE NOTICE 'task % item %', t, i; RETURN t * 1000 + i; END $$",
        )
        .await
        .unwrap();
    let seen = recording_handler(&client);
    let mut tasks = Vec::new();
    for task in 0..10i32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20i32 {
                let v: i32 = client
                    .query_one("SELECT tell($1, $2)", &[&task, &i])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(v, task * 1000 + i);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 200);
    for task in 0..10 {
        let own: Vec<&str> = seen
            .iter()
            .map(|(_, m)| m.as_str())
            .filter(|m| m.starts_with(&format!("task {task} ")))
            .collect();
        let expected: Vec<String> = (0..20).map(|i| format!("task {task} item {i}")).collect();
        assert_eq!(own, expected, "task {task}'s notices in its order");
    }
}

// Catches: a task waiting on the notification stream and another task running queries on the
// same connection starving each other: the waiting task must get every notification (those read
// by the queries' responses and those read while idle), in order, and the queries their rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_task_and_a_querying_task_share_one_connection() {
    let config = config().await;
    let client = Arc::new(Client::connect(&config).await.unwrap());
    let sender = Client::connect(&config).await.unwrap();
    client.listen("shared").await.unwrap();
    let listening = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut stream = client.notifications();
            let mut payloads = Vec::new();
            while payloads.len() < 200 {
                match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                    Ok(Some(n)) => payloads.push(n.payload),
                    _ => break,
                }
            }
            payloads
        })
    };
    let querying = {
        let client = client.clone();
        tokio::spawn(async move {
            for i in 0..300i32 {
                let row = client.query_one("SELECT $1::int4", &[&i]).await.unwrap();
                assert_eq!(row.get::<_, i32>(0), i);
            }
        })
    };
    for i in 0..200 {
        sender.notify("shared", &i.to_string()).await.unwrap();
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    querying.await.unwrap();
    let payloads = listening.await.unwrap();
    assert_eq!(
        payloads,
        (0..200).map(|i| i.to_string()).collect::<Vec<_>>()
    );
}
