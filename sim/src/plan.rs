//! A run's plan: the network's shape and a sequence of actions (messages to send,
//! faults, clock jumps, waits), made from a seed or decoded from a fuzzer's bytes.
//! After the plan the network heals and the run settles.

use efm_core::transport::service_bus::QueueMode;

use crate::model::Service;
use crate::network::Link;
use crate::rng::Rng;

/// The organisations the nodes serve, in order.
pub const ORGS: [&str; 4] = ["910077473", "910075918", "910075935", "987654321"];

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A fagsystem at `from` sends a message to `to`.
    Send {
        from: usize,
        to: usize,
        service: Service,
        files: usize,
        multipart: bool,
        ttl_mins: Option<u32>,
    },
    Wait {
        ms: i64,
    },
    /// The node dies; with `after_write` the store completes the write at the head of
    /// its queue first, whose answer the node then never sees. It restarts after
    /// `down_ms`.
    Crash {
        node: usize,
        after_write: bool,
        down_ms: i64,
    },
    Partition {
        node: usize,
        link: Link,
        ms: i64,
    },
    /// The network's fault rates (per mille) and latency from now on.
    Network {
        loss: u32,
        answer_loss: u32,
        dup: u32,
        latency_max: i64,
    },
    /// Per mille of the node's store operations that fail (SQLITE_BUSY, a full disk).
    StoreFaults {
        node: usize,
        per_mille: u32,
    },
    /// The node's wall clock steps by `delta_ms`.
    ClockJump {
        node: usize,
        delta_ms: i64,
    },
    /// The service answers 503 for a while.
    Outage {
        link: Link,
        ms: i64,
    },
}

/// One node's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSetup {
    pub mode: QueueMode,
    /// Deliveries and receptions in flight at once.
    pub parallel: usize,
    pub lock_timeout_ms: i64,
    /// Receiving fagsystems peeking this node's messages.
    pub consumers: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub nodes: Vec<NodeSetup>,
    pub actions: Vec<Action>,
}

impl Plan {
    /// The service a message from `from` to `to` can go by: DPE carries innsynskrav
    /// from an eInnsyn client (mode innsyn) to an archive (mode data), whose status
    /// replies come back to the client's innsyn queue; anything else goes by DPO.
    pub fn service(&self, from: usize, to: usize, want_dpe: bool) -> Service {
        let mode = |i: usize| self.nodes.get(i).map(|n| n.mode);
        if want_dpe && mode(from) == Some(QueueMode::Innsyn) && mode(to) == Some(QueueMode::Data) {
            Service::Dpe
        } else {
            Service::Dpo
        }
    }

    /// A plan from `seed`: two to four nodes, a few minutes of traffic and faults.
    pub fn generate(seed: u64) -> Plan {
        let mut rng = Rng::new(seed, 1);
        let count = 2 + rng.index(3);
        let mut nodes: Vec<NodeSetup> = (0..count).map(|_| node_setup(&mut rng)).collect();
        // At least one client-archive pair, so that DPE has somewhere to go.
        nodes[0].mode = QueueMode::Innsyn;
        nodes[1].mode = QueueMode::Data;
        let mut plan = Plan { nodes, actions: Vec::new() };
        // One run in eight is calm: no faults at all, a baseline every change must keep.
        let calm = rng.chance(125);
        let chaos_ms = rng.range(60_000, 12 * 60_000);
        let messages = rng.range(2, 20);
        let mut elapsed = 0;
        let mut sent = 0;
        while elapsed < chaos_ms || sent < messages {
            let roll = rng.below(100);
            let action = match roll {
                0..=39 if sent < messages => {
                    sent += 1;
                    plan.send(&mut rng)
                }
                0..=69 => {
                    let ms = if rng.chance(200) {
                        rng.range(10_000, 90_000)
                    } else {
                        rng.range(10, 5_000)
                    };
                    elapsed += ms;
                    Action::Wait { ms }
                }
                _ if calm => continue,
                70..=75 => Action::Crash {
                    node: rng.index(count),
                    after_write: rng.chance(500),
                    down_ms: rng.range(100, 60_000),
                },
                76..=81 => Action::Partition {
                    node: rng.index(count),
                    link: Link::ALL[rng.index(3)],
                    ms: rng.range(1_000, 120_000),
                },
                82..=88 => Action::Network {
                    loss: rng.below(250) as u32,
                    answer_loss: rng.below(250) as u32,
                    dup: rng.below(250) as u32,
                    latency_max: rng.range(1, 3_000),
                },
                89..=92 => {
                    Action::StoreFaults { node: rng.index(count), per_mille: rng.below(150) as u32 }
                }
                93..=96 => Action::ClockJump {
                    node: rng.index(count),
                    delta_ms: rng.range(-120_000, 120_000),
                },
                _ => Action::Outage { link: Link::ALL[rng.index(3)], ms: rng.range(1_000, 60_000) },
            };
            plan.actions.push(action);
            if plan.actions.len() > 2_000 {
                break;
            }
        }
        plan
    }

    fn send(&self, rng: &mut Rng) -> Action {
        let count = self.nodes.len();
        let from = rng.index(count);
        let to = (from + 1 + rng.index(count - 1)) % count;
        let service = self.service(from, to, rng.chance(500));
        Action::Send {
            from,
            to,
            service,
            files: 1 + rng.index(3),
            multipart: rng.chance(300),
            ttl_mins: rng.chance(150).then(|| rng.range(2, 20) as u32),
        }
    }

    /// A plan decoded from arbitrary bytes (the fuzzer's): every input is a valid
    /// plan, and a longer input a longer one.
    pub fn decode(data: &[u8]) -> Plan {
        let mut b = Bytes { data, at: 0 };
        let count = 2 + b.byte() as usize % 3;
        let mut rng = Rng::new(u64::from(b.u16()), 7);
        let mut nodes: Vec<NodeSetup> = (0..count).map(|_| node_setup(&mut rng)).collect();
        for n in nodes.iter_mut() {
            n.mode = if b.byte().is_multiple_of(2) { QueueMode::Innsyn } else { QueueMode::Data };
        }
        let mut plan = Plan { nodes, actions: Vec::new() };
        while !b.done() && plan.actions.len() < 256 {
            let node = b.byte() as usize % count;
            let action = match b.byte() % 10 {
                0..=2 => {
                    let to = (node + 1 + b.byte() as usize % (count - 1)) % count;
                    let flags = b.byte();
                    Action::Send {
                        from: node,
                        to,
                        service: plan.service(node, to, flags & 1 != 0),
                        files: 1 + (flags as usize >> 1) % 3,
                        multipart: flags & 8 != 0,
                        ttl_mins: (flags & 16 != 0).then(|| 2 + u32::from(flags >> 5) * 3),
                    }
                }
                3 | 4 => Action::Wait { ms: i64::from(b.u16()) * 4 },
                5 => Action::Crash {
                    node,
                    after_write: b.byte().is_multiple_of(2),
                    down_ms: i64::from(b.u16()),
                },
                6 => Action::Partition {
                    node,
                    link: Link::ALL[b.byte() as usize % 3],
                    ms: i64::from(b.u16()) * 2,
                },
                7 => Action::Network {
                    loss: u32::from(b.byte()),
                    answer_loss: u32::from(b.byte()),
                    dup: u32::from(b.byte()),
                    latency_max: 1 + i64::from(b.u16() % 4000),
                },
                8 => Action::StoreFaults { node, per_mille: u32::from(b.byte() % 200) },
                _ => Action::ClockJump { node, delta_ms: (i64::from(b.u16()) - 32_768) * 4 },
            };
            plan.actions.push(action);
        }
        plan
    }
}

fn node_setup(rng: &mut Rng) -> NodeSetup {
    NodeSetup {
        mode: if rng.chance(500) { QueueMode::Innsyn } else { QueueMode::Data },
        parallel: 1 + rng.index(8),
        lock_timeout_ms: rng.range(60_000, 5 * 60_000),
        consumers: 1 + rng.index(2),
    }
}

/// The fuzzer's bytes, read front to back; zeros once they run out.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}
