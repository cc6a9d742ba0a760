//! A rolling deploy from the previous key layout (window `P:w:NAME`, one field per replica
//! and period, heartbeats `P:hb:REPLICA`) to the versioned one (`P:v2:{NAME}:*`): two
//! replicas of each run on one Redis. The previous layout's round is kept here as a
//! minimal replica (its publish and its read, as it was). Neither reads the other's
//! window: the new replicas' verdicts count only new replicas, the old replicas' hash
//! holds only their own fields, each in the old format.
#![cfg(all(feature = "fleet-redis", feature = "metrics", feature = "tracing"))]

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fleet::{PERIOD, WAIT, config, fail};
use crate::support::eventually::eventually;
use crate::support::process::free_port;
use breakerbox::fleet::{Fleet, FleetConfig};
use breakerbox::{Reason, Registry, State};
use redis::aio::MultiplexedConnection;

/// A replica of the previous layout: its round, reduced to what the keys see.
struct OldReplica {
    id: &'static str,
    conn: MultiplexedConnection,
    seq: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What an old replica reads: calls, failures and failing replicas, over the live ones.
#[derive(Debug, PartialEq, Eq)]
struct OldView {
    calls: u64,
    failures: u64,
    failing: u32,
}

impl OldReplica {
    async fn new(port: u16, id: &'static str) -> OldReplica {
        let client = redis::Client::open(crate::support::redis::url(port)).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        OldReplica { id, conn, seq: 0 }
    }

    /// The old publish: the heartbeat, and the deltas as one field `REPLICA:SEQ`.
    async fn publish(&mut self, calls: u64, failures: u64) {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(format!("breakerbox:hb:{}", self.id))
            .arg(1)
            .arg("PX")
            .arg(PERIOD.as_millis() as u64 * 3)
            .ignore();
        if calls > 0 {
            self.seq += 1;
            pipe.cmd("HSET")
                .arg("breakerbox:w:dep")
                .arg(format!("{}:{}", self.id, self.seq))
                .arg(format!("{} {calls} {failures} 0", now_ms()))
                .ignore();
        }
        pipe.query_async::<()>(&mut self.conn).await.unwrap();
    }

    /// The old read: every field must be an old bucket (the old code dropped any other);
    /// sums those of live replicas.
    async fn read(&mut self) -> OldView {
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg("breakerbox:w:dep")
            .query_async(&mut self.conn)
            .await
            .unwrap();
        let mut per: HashMap<String, (u64, u64)> = HashMap::new();
        for (field, value) in fields {
            let (replica, _) = field.split_once(':').expect("an old field REPLICA:SEQ");
            let n: Vec<u64> = value.split(' ').map(|x| x.parse().unwrap()).collect();
            assert_eq!(n.len(), 4, "an old bucket: {value:?}");
            let live: bool = redis::cmd("EXISTS")
                .arg(format!("breakerbox:hb:{replica}"))
                .query_async(&mut self.conn)
                .await
                .unwrap();
            if live {
                let e = per.entry(replica.to_owned()).or_default();
                *e = (e.0 + n[1], e.1 + n[2]);
            }
        }
        OldView {
            calls: per.values().map(|p| p.0).sum(),
            failures: per.values().map(|p| p.1).sum(),
            failing: per.values().filter(|p| p.1 > 0).count() as u32,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_new_key_layouts_run_side_by_side_without_reading_each_other() {
    let server = crate::support::redis::start(free_port());
    let port = server.port;
    let mut old = [
        OldReplica::new(port, "old-0").await,
        OldReplica::new(port, "old-1").await,
    ];
    let new: Vec<_> = (0..2)
        .map(|i| {
            let registry = Registry::new();
            let dep = registry.breaker("dep", config()).unwrap();
            let cfg = FleetConfig::new(crate::support::redis::url(port), format!("new-{i}"))
                .period(PERIOD)
                .quorum(2);
            let fleet = Fleet::start(&registry, cfg).unwrap();
            (registry, dep, fleet)
        })
        .collect();
    eventually("the new replicas connected", WAIT, || async {
        new.iter().all(|(.., f)| f.connected()).then_some(())
    })
    .await;

    // The old replicas see 12 failing calls on two replicas: a verdict in their fleet.
    for o in &mut old {
        o.publish(6, 6).await;
    }
    let want = OldView {
        calls: 12,
        failures: 12,
        failing: 2,
    };
    // Several rounds of the new replicas, with the old ones alive all along.
    for _ in 0..5 {
        tokio::time::sleep(PERIOD).await;
        for o in &mut old {
            o.publish(0, 0).await;
        }
        assert_eq!(old[0].read().await, want);
    }
    assert!(
        new.iter().all(|(_, b, _)| b.state() == State::Closed),
        "the new replicas do not count the old ones' window"
    );

    // The new replicas' own failures: a verdict on their numbers alone.
    fail(&new[0].1, 6);
    fail(&new[1].1, 6);
    eventually("both new replicas open", WAIT, || async {
        new.iter()
            .all(|(_, b, _)| b.state() == State::Open)
            .then_some(())
    })
    .await;
    for (_, b, _) in &new {
        let t = b.snapshot().last_transition.unwrap();
        assert_eq!(t.reason, Reason::Fleet);
        let f = t.fleet.unwrap();
        assert_eq!((f.calls, f.failures, f.replicas_failing), (12, 12, 2));
    }
    // And the old replicas' window still reads as theirs only, in their format (their
    // heartbeats refreshed first: the wait above may have outlived them).
    for o in &mut old {
        o.publish(0, 0).await;
    }
    assert_eq!(old[1].read().await, want);
}
