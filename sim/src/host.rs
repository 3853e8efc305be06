//! One integration point as its runtime holds it: the node (none while it is down),
//! its store and staging folder, the store work it has asked for and not yet got,
//! its clock, and the API calls open on it.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use efm_core::mail::MailSettings;
use efm_core::node::{
    Config, DpeSettings, DpoSettings, LoadId, Node, Pacing, Query, Write, WriteId,
};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::transport::altinn_broker::BrokerEndpoint;
use efm_core::transport::service_bus::{QueueMode, ServiceBusEndpoint};
use efm_core::{Duration, Timestamp};

use crate::fagsystem::{CallKind, Client};
use crate::plan::NodeSetup;
use crate::services::broker::RESOURCE;
use crate::store::MemStore;

pub const REGISTRY_URL: &str = "http://registry.sim";
pub const BROKER_URL: &str = "http://broker.sim/broker/api/v1";
pub const BUS_URL: &str = "http://bus.sim/dpe";
/// The TTL of a message that names none.
pub const DEFAULT_TTL_MS: i64 = 50 * 60_000;

pub enum StoreOp {
    Load(LoadId, Box<Query>),
    Persist(WriteId, Box<Write>),
}

pub struct Host {
    pub org: String,
    pub mode: QueueMode,
    pub config: Config,
    pub node: Option<Node>,
    /// Bumped at each crash: work of an earlier life is dropped when it completes.
    pub epoch: u64,
    pub store: MemStore,
    pub staging: BTreeMap<String, Bytes>,
    pub store_queue: VecDeque<StoreOp>,
    /// A store step is scheduled.
    pub store_busy: bool,
    /// Per mille of store operations that fail.
    pub store_faults: u32,
    /// The node's wall clock minus the simulation's.
    pub offset: i64,
    /// When the node asked to be woken, in its own time.
    pub wake_at: Option<Timestamp>,
    /// The tick scheduled (simulation time), and its generation: older ticks are stale.
    pub tick_at: Option<i64>,
    pub tick_gen: u64,
    /// The instant of the last tick, and how many came at it.
    pub last_tick: i64,
    pub ticks_now: u32,
    /// Up without a crash since (simulation time).
    pub up_since: i64,
    pub next_call: u64,
    pub calls: BTreeMap<u64, (Client, CallKind)>,
}

impl Host {
    pub fn new(org: &str, setup: &NodeSetup) -> Host {
        Host {
            org: org.to_owned(),
            mode: setup.mode,
            config: config(org, setup),
            node: None,
            epoch: 0,
            store: MemStore::new(),
            staging: BTreeMap::new(),
            store_queue: VecDeque::new(),
            store_busy: false,
            store_faults: 0,
            offset: 0,
            wake_at: None,
            tick_at: None,
            tick_gen: 0,
            last_tick: 0,
            ticks_now: 0,
            up_since: 0,
            next_call: 0,
            calls: BTreeMap::new(),
        }
    }

    pub fn now(&self, sim: i64) -> Timestamp {
        Timestamp::from_unix_millis(sim + self.offset)
    }
}

/// The node's configuration: DPO and DPE on, the simulated services' addresses,
/// short retries (so that a healed network delivers within minutes).
fn config(org: &str, setup: &NodeSetup) -> Config {
    let mut c = Config::new(org);
    c.default_ttl = Duration::from_millis(DEFAULT_TTL_MS);
    c.registry_url = REGISTRY_URL.to_owned();
    c.enabled_services = vec![ServiceIdentifier::Dpo, ServiceIdentifier::Dpe];
    c.lock_timeout = Duration::from_millis(setup.lock_timeout_ms);
    // Mail on FEIL, so that the model sees each FEIL mailed at most once.
    let mut mail = MailSettings::new("smtp.sim", "efm@sim.test", "drift@sim.test");
    mail.mail_error_status = true;
    c.mail = Some(mail);
    c.dpo = Some(DpoSettings {
        broker: BrokerEndpoint {
            base_url: BROKER_URL.to_owned(),
            resource_id: RESOURCE.to_owned(),
        },
        message_channel: None,
        poll_interval: Duration::from_secs(15),
    });
    c.dpe = Some(DpeSettings {
        service_bus: ServiceBusEndpoint {
            base_url: BUS_URL.to_owned(),
            key_name: "sim-policy".to_owned(),
            key: "sim-key".to_owned(),
        },
        mode: setup.mode,
        receipt_queue: None,
        poll_interval: Duration::from_secs(20),
        read_max: 50,
    });
    c.pacing = Pacing {
        retry_base: Duration::from_secs(5),
        retry_cap: Duration::from_mins(2),
        parallel: setup.parallel,
    };
    c
}
