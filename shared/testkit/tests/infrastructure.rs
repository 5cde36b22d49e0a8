//! The harness gives each test real infrastructure behind real proxies: these tests drive
//! librdkafka and sqlx through the proxies, cut them, and check what a client sees.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};
use testkit::TestEnv;

fn kafka_config(env: &TestEnv) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", env.kafka_brokers())
        .set("reconnect.backoff.max.ms", "500");
    config
}

async fn create_topic(env: &TestEnv, topic: &str) {
    create_topic_with(env, topic, 1).await;
}

async fn create_topic_with(env: &TestEnv, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = kafka_config(env).create().unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    results.into_iter().for_each(|result| {
        result.unwrap();
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_through_the_proxy_holds_messages_while_cut_and_delivers_them_after() {
    let env = TestEnv::start().await;
    create_topic(&env, "orders").await;
    let producer: FutureProducer = kafka_config(&env)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "60000")
        .create()
        .unwrap();
    let consumer: StreamConsumer = kafka_config(&env)
        .set("group.id", "infrastructure-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["orders"]).unwrap();
    let headers = OwnedHeaders::new().insert(Header {
        key: "ce_type",
        value: Some("order.placed.v1"),
    });
    producer
        .send(
            FutureRecord::to("orders")
                .key("order-1")
                .payload("first")
                .headers(headers.clone()),
            Duration::from_secs(10),
        )
        .await
        .expect("delivered through the proxy");

    env.toxiproxy().set_enabled("kafka", false).await.unwrap();
    let pending = producer
        .send_result(
            FutureRecord::to("orders")
                .key("order-1")
                .payload("second")
                .headers(headers),
        )
        .expect("queued");
    let pending = tokio::spawn(pending);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !pending.is_finished(),
        "a message cannot be acknowledged while the proxy is cut"
    );

    env.toxiproxy().set_enabled("kafka", true).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(30), pending)
        .await
        .expect("delivered within 30 s of the proxy coming back")
        .unwrap();
    delivery
        .expect("the producer is alive")
        .expect("acknowledged after the cut");

    let mut received = Vec::new();
    while received.len() < 2 {
        let message = match tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("both messages arrive")
        {
            Ok(message) => message,
            // librdkafka reports the cut (AllBrokersDown) and carries on reconnecting.
            Err(error) => {
                eprintln!("transient consumer error: {error}");
                continue;
            }
        };
        let header = message.headers().unwrap().get(0);
        assert_eq!(
            (header.key, header.value),
            ("ce_type", Some(&b"order.placed.v1"[..]))
        );
        assert_eq!(message.key(), Some(&b"order-1"[..]));
        received.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
    }
    assert_eq!(
        received,
        ["first", "second"],
        "nothing lost, nothing duplicated, in order"
    );
    let extra = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await;
    assert!(
        !matches!(extra, Ok(Ok(_))),
        "no duplicate after the cut: {:?}",
        extra.map(|message| message.map(|message| message.offset()))
    );
}

/// The broker answers a waiting fetch when data arrives, not when the consumer's wait ends
/// (`shared/nisshi/1-fetch-wakes-on-produce.patch`): upstream re-reads at half the remaining wait,
/// so a message produced 1.5 s into a 10 s wait reaches the consumer 5 s in.
#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_fetch_answers_as_soon_as_a_message_arrives() {
    const WAIT_MS: u64 = 10_000;
    let env = TestEnv::start().await;
    create_topic(&env, "long-poll").await;
    let producer: FutureProducer = kafka_config(&env).create().unwrap();
    let consumer: StreamConsumer = kafka_config(&env)
        .set("group.id", "long-poll-test")
        .set("fetch.wait.max.ms", WAIT_MS.to_string())
        .create()
        .unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset("long-poll", 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    // Let the consumer's first fetch find nothing and start waiting.
    let _ = tokio::time::timeout(Duration::from_millis(1500), consumer.recv()).await;

    for n in 0..5 {
        let sent = std::time::Instant::now();
        producer
            .send(
                FutureRecord::to("long-poll").key("k").payload("x"),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
        let message = tokio::time::timeout(Duration::from_millis(WAIT_MS), consumer.recv())
            .await
            .expect("received within the fetch wait")
            .unwrap();
        assert_eq!(message.offset(), n);
        let took = sent.elapsed();
        assert!(
            took < Duration::from_millis(WAIT_MS / 5),
            "message {n} took {took:?} to reach a consumer waiting {WAIT_MS} ms per fetch"
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

/// The durable engine of `make up` (`sqlite://`, with `shared/nisshi`'s patches): messages,
/// their headers and a group's committed offset survive SIGKILL, and what is produced after the
/// restart is fetched too.
#[tokio::test(flavor = "multi_thread")]
async fn the_durable_broker_keeps_messages_and_offsets_across_a_kill() {
    let mut env = TestEnv::start_durable().await;
    create_topic(&env, "ledger").await;
    let produce = |env: &TestEnv, range: std::ops::Range<i64>| {
        let producer: FutureProducer = kafka_config(env)
            .set("enable.idempotence", "true")
            .create()
            .unwrap();
        async move {
            for n in range {
                let headers = OwnedHeaders::new().insert(Header {
                    key: "n",
                    value: Some(&n.to_string()),
                });
                let record = FutureRecord::to("ledger")
                    .key("k")
                    .payload("x")
                    .headers(headers);
                producer
                    .send(record, Duration::from_secs(10))
                    .await
                    .unwrap();
            }
        }
    };
    let consumer = |env: &TestEnv| -> StreamConsumer {
        let consumer: StreamConsumer = kafka_config(env)
            .set("group.id", "ledger-readers")
            .set("session.timeout.ms", "6000")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&["ledger"]).unwrap();
        consumer
    };
    // Every message arrives in order with its own header; returns the offsets read.
    async fn read(consumer: &StreamConsumer, count: usize) -> Vec<i64> {
        let mut offsets = Vec::new();
        while offsets.len() < count {
            let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .expect("the next message arrives")
                .unwrap();
            let header = message.headers().unwrap().get(0);
            assert_eq!(
                header.value,
                Some(message.offset().to_string().as_bytes()),
                "the header stored with offset {}",
                message.offset()
            );
            offsets.push(message.offset());
        }
        offsets
    }

    produce(&env, 0..100).await;
    let first = consumer(&env);
    assert_eq!(read(&first, 60).await, (0..60).collect::<Vec<_>>());
    let mut committed = rdkafka::TopicPartitionList::new();
    committed
        .add_partition_offset("ledger", 0, rdkafka::Offset::Offset(60))
        .unwrap();
    first
        .commit(&committed, rdkafka::consumer::CommitMode::Sync)
        .unwrap();
    drop(first);

    env.kill_broker();
    env.restart_broker().await.unwrap();
    produce(&env, 100..150).await;

    let second = consumer(&env);
    let watermarks = second
        .fetch_watermarks("ledger", 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!(watermarks, (0, 150), "low and high watermarks");
    assert_eq!(
        read(&second, 90).await,
        (60..150).collect::<Vec<_>>(),
        "from the committed offset, nothing lost or repeated"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_through_the_proxy_fails_clearly_while_cut_and_recovers() {
    let env = TestEnv::start().await;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&env.database_url("order"))
        .await
        .unwrap();
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);

    env.toxiproxy()
        .set_enabled("postgres", false)
        .await
        .unwrap();
    let error = sqlx::query_scalar::<_, i32>("select 1")
        .fetch_one(&pool)
        .await
        .expect_err("a query cannot succeed while Postgres is cut");
    assert!(
        matches!(
            error,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_)
        ),
        "a connection error, not a hang or a wrong answer: {error:?}"
    );

    env.toxiproxy().set_enabled("postgres", true).await.unwrap();
    let mut recovered = None;
    for _ in 0..20 {
        if let Ok(value) = sqlx::query_scalar::<_, i32>("select 2")
            .fetch_one(&pool)
            .await
        {
            recovered = Some(value);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        recovered,
        Some(2),
        "the pool reconnects once the proxy is back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_role_is_denied_another_services_schema() {
    let env = TestEnv::start().await;
    let mut order = PgConnection::connect(&env.database_url("order"))
        .await
        .unwrap();
    sqlx::query("create table orders (id int primary key)")
        .execute(&mut order)
        .await
        .unwrap();
    let schema: String = sqlx::query_scalar("select current_schema()")
        .fetch_one(&mut order)
        .await
        .unwrap();
    assert_eq!(
        schema, "order",
        "a role's own schema is first on its search path"
    );

    let mut inventory = PgConnection::connect(&env.database_url("inventory"))
        .await
        .unwrap();
    let error = sqlx::query(r#"select * from "order".orders"#)
        .execute(&mut inventory)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("permission denied for schema order"),
        "{error}"
    );
    let error = sqlx::query("create table public.sneaky (id int)")
        .execute(&mut inventory)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("permission denied for schema public"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_environment_stops_its_broker_and_proxies() {
    let env = TestEnv::start().await;
    let kafka = env.kafka_brokers().to_owned();
    let toxiproxy = env
        .toxiproxy()
        .base_url()
        .trim_start_matches("http://")
        .to_owned();
    assert!(tokio::net::TcpStream::connect(&kafka).await.is_ok());

    drop(env);
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert!(
        tokio::net::TcpStream::connect(&kafka).await.is_err(),
        "the kafka proxy is gone"
    );
    assert!(
        tokio::net::TcpStream::connect(&toxiproxy).await.is_err(),
        "the Toxiproxy API is gone"
    );
}

/// A static member of group `evictions`, polled by a task of its own (polling drives the group).
fn evictions_member(
    env: &TestEnv,
    instance: &str,
) -> (Arc<StreamConsumer>, tokio::task::JoinHandle<()>) {
    let consumer: StreamConsumer = kafka_config(env)
        .set("group.id", "evictions")
        .set("group.instance.id", instance)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .create()
        .unwrap();
    consumer.subscribe(&["evictions"]).unwrap();
    let consumer = Arc::new(consumer);
    let polled = consumer.clone();
    let poller = tokio::spawn(async move {
        loop {
            let _ = polled.recv().await;
        }
    });
    (consumer, poller)
}

/// Waits up to 30 s until `owned` (partitions per member) holds.
async fn wait_for_assignment(
    members: &[&StreamConsumer],
    expected: impl Fn(&[usize]) -> bool,
    what: &str,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let owned: Vec<usize> = members
            .iter()
            .map(|member| member.assignment().map_or(0, |list| list.count()))
            .collect();
        if expected(&owned) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: partitions owned {owned:?} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The group's first member leads it. When it dies (a static member leaves nothing behind), the
/// broker evicts it after the session timeout: the survivor must then take every partition, and
/// a member that joins later (the dead one restarted, under a new member id) must too. Without
/// `shared/nisshi/6-broker-evicted-leader-leaves-forming-group.patch` the survivor kept only its
/// own partitions, and the group formed again around the evicted leader, for ever.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_forms_again_without_a_member_the_broker_evicted() {
    let env = TestEnv::start().await;
    create_topic_with(&env, "evictions", 3).await;
    let (leader, leader_poller) = evictions_member(&env, "first");
    wait_for_assignment(&[&leader], |owned| owned == [3], "the first member").await;
    let (survivor, _survivor_poller) = evictions_member(&env, "second");
    wait_for_assignment(
        &[&leader, &survivor],
        |owned| owned.iter().sum::<usize>() == 3 && owned.iter().all(|&n| n > 0),
        "two members",
    )
    .await;

    // The leader dies: nothing polls it, then it closes without leaving (a static member).
    leader_poller.abort();
    let _ = leader_poller.await;
    let leader = Arc::into_inner(leader).expect("only the test holds it");
    tokio::task::spawn_blocking(move || drop(leader))
        .await
        .unwrap();
    wait_for_assignment(&[&survivor], |owned| owned == [3], "the survivor").await;

    // A third member joins the group the eviction left.
    let (newcomer, _newcomer_poller) = evictions_member(&env, "third");
    wait_for_assignment(
        &[&survivor, &newcomer],
        |owned| owned.iter().sum::<usize>() == 3 && owned.iter().all(|&n| n > 0),
        "the survivor and a newcomer",
    )
    .await;
}
