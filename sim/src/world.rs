//! The simulated world: nodes, services, network and fagsystems on one virtual
//! clock, driven by a queue of timed events. One run is a plan's actions, then the
//! network heals and the run settles until nothing is left to do (or every message
//! has long expired); the reference model is consulted after every event.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use bytes::Bytes;
use efm_core::node::{
    HttpResponse, JobError, JobId, JobResult, Loaded, Method, Query, ReqId, StoreError,
    TransportError, Write,
};

use crate::fagsystem::{CallKind, Client, Consumer, Holding, Reply, SendStep, Sender};
use crate::host::{DEFAULT_TTL_MS, Host};
use crate::messages::{Draft, draft};
use crate::model::{Expected, Model, SETTLE_MS, Service, TTL_GRACE_MS};
use crate::network::{Link, Network};
use crate::plan::{Action, ORGS, Plan};
use crate::rng::Rng;
use crate::services::broker::Broker;
use crate::services::registry::Registry;
use crate::services::service_bus::ServiceBus;

/// 2026-01-05 08:00 UTC: the simulation's epoch.
pub const START_MS: i64 = 1_767_600_000_000;
/// More events than this at one instant is a livelock, not a workload.
const INSTANT_LIMIT: u64 = 200_000;
/// A bound on a whole run, far beyond any plan's.
const EVENT_LIMIT: u64 = 50_000_000;
/// How often the TTL invariant is checked while a run goes on.
const AUDIT_MS: i64 = 60_000;

/// A request on its way to a service.
pub struct Outbound {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

pub enum Event {
    StoreStep {
        node: usize,
        epoch: u64,
    },
    Http {
        node: usize,
        epoch: u64,
        req: ReqId,
        result: Result<HttpResponse, TransportError>,
        save_to: Option<String>,
    },
    Arrive {
        node: usize,
        epoch: u64,
        req: ReqId,
        link: Link,
        request: Box<Outbound>,
        answer: bool,
        save_to: Option<String>,
    },
    Job {
        node: usize,
        epoch: u64,
        job: JobId,
        result: Result<JobResult, JobError>,
    },
    Tick {
        node: usize,
        epoch: u64,
        generation: u64,
    },
    Restart {
        node: usize,
    },
    Answer {
        client: Client,
        kind: CallKind,
        reply: Reply,
    },
    Wake {
        client: Client,
    },
    Audit,
}

struct Scheduled {
    at: i64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// One store operation as the simulated store carried it out, with its result: a
/// run's log replays against `efm-store` to show that the simulated store answers
/// as the real one does.
#[derive(Clone, Debug)]
pub struct StoreCall {
    pub node: usize,
    pub op: StoreCallKind,
    /// For a `CreateIncoming` with a staged file: its name and bytes, as the write
    /// found them.
    pub staged: Option<(String, Bytes)>,
}

#[derive(Clone, Debug)]
pub enum StoreCallKind {
    Load(Box<Query>, Box<Result<Loaded, StoreError>>),
    Persist(Box<Write>, Result<(), StoreError>),
}

/// What a run did, and what went wrong.
#[derive(Debug, Default)]
pub struct Report {
    pub nodes: usize,
    pub messages: usize,
    pub sent: usize,
    pub delivered: usize,
    pub crashes: u32,
    pub requests: u64,
    pub events: u64,
    /// Simulated time the run covered.
    pub virtual_ms: i64,
    pub violations: Vec<String>,
    /// The last lines of the trace, when tracing.
    pub trace: Vec<String>,
    /// Every store operation carried out, when recording.
    pub store_log: Vec<StoreCall>,
    /// Outgoing messages by the status they ended in.
    pub outcomes: std::collections::BTreeMap<&'static str, usize>,
}

pub struct World {
    pub now: i64,
    seq: u64,
    /// Events handled at the current instant.
    same_instant: u64,
    events: BinaryHeap<Reverse<Scheduled>>,
    pub hosts: Vec<Host>,
    pub broker: Broker,
    pub bus: ServiceBus,
    pub registry: Registry,
    pub net: Network,
    pub senders: Vec<Sender>,
    pub consumers: Vec<Consumer>,
    pub model: Model,
    /// When the network healed (simulation time).
    pub healed: Option<i64>,
    /// Randomness for node seeds, store faults, job and client timing.
    pub rng: Rng,
    trace: Option<VecDeque<String>>,
    /// Every store operation carried out, when recording.
    pub store_log: Option<Vec<StoreCall>>,
    /// Lines of trace kept, at most (the last ones).
    trace_lines: usize,
    pub stats: Report,
}

impl World {
    pub fn new(plan: &Plan, seed: u64, trace_lines: usize, record: bool) -> World {
        let hosts: Vec<Host> =
            plan.nodes.iter().zip(ORGS).map(|(setup, org)| Host::new(org, setup)).collect();
        let registry = Registry {
            orgs: hosts.iter().map(|h| (h.org.clone(), h.mode.suffix().to_owned())).collect(),
        };
        let consumers = plan
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| (0..n.consumers).map(move |c| (i, c, n.lock_timeout_ms)))
            .map(|(node, c, lock_timeout_ms)| Consumer {
                node,
                holding: Holding::Nothing,
                unruly: true,
                lock_timeout_ms,
                rng: Rng::new(seed, 100 + (node * 4 + c) as u64),
            })
            .collect();
        World {
            now: START_MS,
            seq: 0,
            same_instant: 0,
            events: BinaryHeap::new(),
            hosts,
            broker: Broker::new(Rng::new(seed, 2)),
            bus: ServiceBus::new(Rng::new(seed, 3), 30_000),
            registry,
            net: Network::new(Rng::new(seed, 4)),
            senders: Vec::new(),
            consumers,
            model: Model::default(),
            healed: None,
            rng: Rng::new(seed, 5),
            trace: (trace_lines > 0).then(VecDeque::new),
            store_log: record.then(Vec::new),
            trace_lines,
            stats: Report { nodes: plan.nodes.len(), ..Report::default() },
        }
    }

    pub fn schedule(&mut self, at: i64, event: Event) {
        self.seq += 1;
        self.events.push(Reverse(Scheduled { at: at.max(self.now), seq: self.seq, event }));
    }

    /// A line of trace, made only when tracing.
    pub fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_mut() {
            if t.len() >= self.trace_lines {
                t.pop_front();
            }
            t.push_back(format!("{:>9.3}s {}", (self.now - START_MS) as f64 / 1000.0, line()));
        }
    }

    pub fn failed(&self) -> bool {
        !self.model.violations.is_empty()
    }

    /// Run a whole plan: start, act, heal, settle, check.
    pub fn run(mut self, plan: &Plan) -> Report {
        for i in 0..self.hosts.len() {
            self.restart(i);
        }
        for c in 0..self.consumers.len() {
            let at = self.now + self.rng.range(0, 5_000);
            self.schedule(at, Event::Wake { client: Client::Consumer(c) });
        }
        self.schedule(self.now + AUDIT_MS, Event::Audit);
        for action in &plan.actions {
            if self.failed() {
                break;
            }
            self.act(action);
        }
        if !self.failed() {
            self.heal();
            self.settle();
        }
        if !self.failed() {
            self.finish();
        }
        self.report()
    }

    fn act(&mut self, action: &Action) {
        self.note(|| format!("action {action:?}"));
        let now = self.now;
        match action {
            Action::Wait { ms } => self.run_until(now + ms),
            Action::Send { from, to, service, files, multipart, ttl_mins } => {
                let (Some(f), Some(t)) = (self.hosts.get(*from), self.hosts.get(*to)) else {
                    return;
                };
                let (from_org, to_org) = (f.org.clone(), t.org.clone());
                let ttl = ttl_mins.map(|m| i64::from(m) * 60_000);
                // The fagsystem's clock is the sending node's.
                let expires = ttl.map(|t| f.now(now) + efm_core::Duration::from_millis(t));
                let d = draft(&mut self.rng, &from_org, &to_org, *service, *files, expires);
                self.launch(*from, *to, *service, d, *multipart, ttl);
            }
            Action::Crash { node, after_write, down_ms } => {
                if *node < self.hosts.len() && self.hosts[*node].node.is_some() {
                    self.crash(*node, *after_write);
                    self.schedule(now + down_ms.max(&1), Event::Restart { node: *node });
                }
            }
            Action::Partition { node, link, ms } => self.net.partition(*node, *link, now + ms),
            Action::Network { loss, answer_loss, dup, latency_max } => {
                self.net.loss = (*loss).min(500);
                self.net.answer_loss = (*answer_loss).min(500);
                self.net.dup = (*dup).min(500);
                self.net.latency_max = (*latency_max).clamp(1, 10_000);
            }
            Action::StoreFaults { node, per_mille } => {
                if let Some(h) = self.hosts.get_mut(*node) {
                    h.store_faults = (*per_mille).min(300);
                }
            }
            Action::ClockJump { node, delta_ms } => {
                if *node < self.hosts.len() {
                    self.hosts[*node].offset += delta_ms.clamp(&-600_000, &600_000);
                    self.hosts[*node].tick_at = None;
                    let wake = self.hosts[*node].wake_at;
                    self.set_wake(*node, wake);
                }
            }
            Action::Outage { link, ms } => self.net.outage(*link, now + ms),
        }
    }

    /// A sending fagsystem starts on `draft`, from `from` to `to`.
    pub fn launch(
        &mut self,
        from: usize,
        to: usize,
        service: Service,
        d: Draft,
        multipart: bool,
        ttl: Option<i64>,
    ) {
        self.model.expect(
            d.message_id,
            Expected {
                from,
                to,
                service,
                files: d.files.clone(),
                create_acked: false,
                send_acked: false,
                expiry: None,
                delivered: 0,
                popped: 0,
            },
        );
        self.senders.push(Sender {
            node: from,
            message_id: d.message_id,
            sbd: d.sbd,
            files: d.files,
            multipart,
            check_statuses: self.rng.chance(300),
            step: SendStep::Create,
            give_up_at: self.now + ttl.unwrap_or(DEFAULT_TTL_MS) + 60_000,
            last_refusal: None,
        });
        self.stats.messages += 1;
        let client = Client::Sender(self.senders.len() - 1);
        self.call(client);
    }

    /// Process events up to `until`.
    pub fn run_until(&mut self, until: i64) {
        while let Some(Reverse(top)) = self.events.peek() {
            if top.at > until || self.failed() {
                break;
            }
            let Some(Reverse(s)) = self.events.pop() else { break };
            if s.at == self.now {
                self.same_instant += 1;
            } else {
                self.same_instant = 0;
            }
            self.now = s.at;
            self.stats.events += 1;
            if self.same_instant > INSTANT_LIMIT || self.stats.events > EVENT_LIMIT {
                self.model.violations.push(format!(
                    "{} events, {} of them at {}: something loops without progress",
                    self.stats.events,
                    self.same_instant,
                    efm_core::Timestamp::from_unix_millis(self.now)
                ));
                break;
            }
            self.handle(s.event);
        }
        self.now = self.now.max(until);
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::StoreStep { node, epoch } => {
                if self.hosts[node].epoch == epoch {
                    self.store_step(node);
                }
            }
            Event::Http { node, epoch, req, result, save_to } => {
                self.http_answer(node, epoch, req, result, save_to)
            }
            Event::Arrive { node, epoch, req, link, request, answer, save_to } => {
                self.arrive(node, epoch, req, link, *request, answer, save_to)
            }
            Event::Job { node, epoch, job, result } => self.job_done(node, epoch, job, result),
            Event::Tick { node, epoch, generation } => self.tick(node, epoch, generation),
            Event::Restart { node } => self.restart(node),
            Event::Answer { client, kind, reply } => self.client_answer(client, &kind, &reply),
            Event::Wake { client } => self.call(client),
            Event::Audit => {
                for i in 0..self.hosts.len() {
                    let h = &self.hosts[i];
                    if h.node.is_some() && self.now - h.up_since >= 2 * 60_000 {
                        let now = h.now(self.now);
                        self.model.check_ttl(i, &self.hosts[i].store, now);
                    }
                }
                self.schedule(self.now + AUDIT_MS, Event::Audit);
            }
        }
    }

    /// Every fault ends: the network is healthy, stores work, nodes are up, and the
    /// fagsystems behave.
    fn heal(&mut self) {
        self.note(|| "the network heals".into());
        self.healed = Some(self.now);
        self.net.heal();
        for i in 0..self.hosts.len() {
            self.hosts[i].store_faults = 0;
            if self.hosts[i].node.is_none() {
                self.restart(i);
            }
        }
        for c in &mut self.consumers {
            c.unruly = false;
        }
    }

    /// Nothing left to do anywhere.
    fn quiet(&self) -> bool {
        self.senders.iter().all(Sender::finished)
            && self.hosts.iter().all(|h| {
                h.node.is_some()
                    && h.store.unfinished_outgoing().is_empty()
                    && h.store.incoming_count() == 0
                    && h.store.reply_count() == 0
            })
            && self.broker.unconfirmed() == 0
            && self.bus.waiting() == 0
    }

    /// When a settling run may end at the latest: every message has long expired,
    /// every fagsystem long given up.
    fn settle_end(&self) -> i64 {
        let heal = self.healed.unwrap_or(self.now);
        let mut end = heal + SETTLE_MS;
        for h in &self.hosts {
            for (_, expiry) in h.store.unfinished_outgoing() {
                if let Some(e) = expiry {
                    end = end.max(e.as_unix_millis() - h.offset + TTL_GRACE_MS + 2 * 60_000);
                }
            }
        }
        for s in &self.senders {
            end = end.max(s.give_up_at + TTL_GRACE_MS + 2 * 60_000);
        }
        end
    }

    /// Run until quiet, or until every message has long expired.
    fn settle(&mut self) {
        while self.now < self.settle_end() && !self.failed() {
            let next = self.now + 30_000;
            self.run_until(next);
            if self.quiet() {
                break;
            }
        }
    }

    /// The end-of-run checks.
    fn finish(&mut self) {
        let heal = self.healed.unwrap_or(self.now);
        for i in 0..self.hosts.len() {
            let now = self.hosts[i].now(self.now);
            self.model.check_ttl(i, &self.hosts[i].store, now);
        }
        let offsets: Vec<i64> = self.hosts.iter().map(|h| h.offset).collect();
        let stores: Vec<&crate::store::MemStore> = self.hosts.iter().map(|h| &h.store).collect();
        self.model.check_durable(&stores);
        self.model.check_delivery(heal, &offsets, &stores);
        let mut stuck = Vec::new();
        for s in &self.senders {
            if s.step == SendStep::Abandoned && s.give_up_at >= heal + SETTLE_MS {
                stuck.push(format!(
                    "node {}: the fagsystem could not send {} in a healed network: {}",
                    s.node,
                    s.message_id,
                    s.last_refusal.as_deref().unwrap_or("no answer")
                ));
            }
        }
        self.model.violations.extend(stuck);
    }

    fn report(mut self) -> Report {
        let mut r = std::mem::take(&mut self.stats);
        r.sent = self.model.messages.values().filter(|m| m.send_acked).count();
        r.delivered = self.model.messages.values().filter(|m| m.delivered > 0).count();
        r.virtual_ms = self.now - START_MS;
        for h in &self.hosts {
            for s in h.store.outgoing_current() {
                *r.outcomes.entry(s.name()).or_default() += 1;
            }
        }
        r.violations = std::mem::take(&mut self.model.violations);
        r.trace = self.trace.take().map(Vec::from).unwrap_or_default();
        r.store_log = self.store_log.take().unwrap_or_default();
        r
    }

    /// The hosts' index by organisation.
    pub fn host_of(&self, org: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.org == org)
    }

    /// The node's seed at (re)start.
    pub fn node_seed(&mut self) -> [u8; 32] {
        self.rng.seed32()
    }
}
