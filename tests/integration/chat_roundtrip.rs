//! Real chat lines through a real topic: produced with their channel as key and `tmi-sent-ts` as the
//! record time, consumed back byte for byte, in order per channel, and parsed to the same events.

use std::collections::HashMap;
use std::time::Duration;

use chatpulse::chat::ChatEvent;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Timestamp;

use crate::harness::{create_topic, repo_file, settings, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_chat_lines_round_trip_through_tansu() {
    let nymn = std::fs::read_to_string(repo_file("data/sample/nymn-2024-01-06.irc.txt")).unwrap();
    let fixtures =
        std::fs::read_to_string(repo_file("tests/fixtures/irc_event_fixtures.irc.txt")).unwrap();
    let lines: Vec<&str> = nymn.lines().chain(fixtures.lines()).collect();
    assert_eq!(lines.len(), 910);

    let topic = unique("roundtrip");
    create_topic(&topic, 3).await;

    let producer: FutureProducer = settings().producer_config().create().expect("producer");
    let sends = lines.iter().map(|line| {
        let event = ChatEvent::parse(line).expect("real line parses");
        let mut record = FutureRecord::to(&topic).key(event.channel).payload(*line);
        // A few fixture lines carry no tmi-sent-ts; the producer stamps those itself.
        if let Some(ts) = event.ts_ms {
            record = record.timestamp(ts);
        }
        producer.send(record, Duration::from_secs(30))
    });
    for delivery in futures::future::join_all(sends).await {
        delivery.expect("delivered");
    }

    let consumer: StreamConsumer = settings()
        .consumer_config(&unique("roundtrip-group"))
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).unwrap();
    let mut got: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    let mut stream = consumer.stream();
    let received = tokio::time::timeout(Duration::from_secs(90), async {
        let mut n = 0;
        while n < lines.len() {
            let msg = stream.next().await.expect("stream open").expect("consume");
            let key = String::from_utf8(msg.key().unwrap().to_vec()).unwrap();
            let value = String::from_utf8(msg.payload().unwrap().to_vec()).unwrap();
            let Timestamp::CreateTime(ts) = msg.timestamp() else {
                panic!("expected a create time, got {:?}", msg.timestamp())
            };
            got.entry(key).or_default().push((value, ts));
            n += 1;
        }
        n
    })
    .await
    .expect("all 910 lines consumed within 90 s");
    assert_eq!(received, 910);

    // Byte for byte, in order per channel (one key lands on one partition), with the original time.
    let mut expected: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in &lines {
        expected
            .entry(ChatEvent::parse(line).unwrap().channel)
            .or_default()
            .push(line);
    }
    assert_eq!(expected.len(), got.len(), "same channels");
    for (channel, sent) in expected {
        let back = &got[channel];
        let values: Vec<&str> = back.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(
            values, sent,
            "channel {channel}: lines differ or are out of order"
        );
        for (value, ts) in back {
            let event = ChatEvent::parse(value).unwrap();
            if let Some(sent) = event.ts_ms {
                assert_eq!(sent, *ts, "record time is tmi-sent-ts");
            }
            assert_eq!(event.channel, channel);
        }
    }
}
