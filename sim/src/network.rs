//! The simulated network between the nodes and the services: latency (and with it
//! reordering), lost requests, lost answers, duplicated requests (a retrying proxy:
//! the service sees the request twice, the node one answer), partitions of one
//! node from one service, and services that are down (503).

use std::collections::BTreeMap;

use crate::rng::Rng;

/// The services a node reaches over the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Link {
    Broker,
    Bus,
    Registry,
}

impl Link {
    pub const ALL: [Link; 3] = [Link::Broker, Link::Bus, Link::Registry];
}

/// How long a request waits for an answer before the runtime gives up on it.
pub const TIMEOUT_MS: i64 = 30_000;

pub struct Network {
    /// Per mille of requests lost on the way.
    pub loss: u32,
    /// Per mille of answers lost on the way back (the request was carried out).
    pub answer_loss: u32,
    /// Per mille of requests the service receives twice.
    pub dup: u32,
    /// One-way latency, uniform in `1..=latency_max` milliseconds.
    pub latency_max: i64,
    partitions: BTreeMap<(usize, Link), i64>,
    outages: BTreeMap<Link, i64>,
    pub rng: Rng,
}

impl Network {
    pub fn new(rng: Rng) -> Network {
        Network {
            loss: 0,
            answer_loss: 0,
            dup: 0,
            latency_max: 40,
            partitions: BTreeMap::new(),
            outages: BTreeMap::new(),
            rng,
        }
    }

    pub fn latency(&mut self) -> i64 {
        self.rng.range(1, self.latency_max.max(1))
    }

    pub fn partition(&mut self, node: usize, link: Link, until: i64) {
        let e = self.partitions.entry((node, link)).or_insert(until);
        *e = (*e).max(until);
    }

    pub fn outage(&mut self, link: Link, until: i64) {
        let e = self.outages.entry(link).or_insert(until);
        *e = (*e).max(until);
    }

    pub fn partitioned(&self, node: usize, link: Link, now: i64) -> bool {
        self.partitions.get(&(node, link)).is_some_and(|until| *until > now)
    }

    pub fn out(&self, link: Link, now: i64) -> bool {
        self.outages.get(&link).is_some_and(|until| *until > now)
    }

    /// Back to a healthy network.
    pub fn heal(&mut self) {
        self.loss = 0;
        self.answer_loss = 0;
        self.dup = 0;
        self.latency_max = 40;
        self.partitions.clear();
        self.outages.clear();
    }
}
