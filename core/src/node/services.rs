//! How this integration point reaches the message services it exchanges over: the
//! settings of the DPO, DPV and DPE transports and the pacing of sending and polling.

use crate::Duration;
use crate::transport::altinn_broker::BrokerEndpoint;
use crate::transport::correspondence::{CorrespondenceEndpoint, FormSettings};
use crate::transport::service_bus::{QueueMode, ServiceBusEndpoint};
use crate::transport::svarinn::SvarInnEndpoint;
use crate::transport::svarut::{SvarUtEndpoint, SvarUtOptions};

/// DPO over the Altinn 3 Broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpoSettings {
    pub broker: BrokerEndpoint,
    /// Only transfers with this `sendersFileTransferReference` are ours
    /// (`difi.move.dpo.messageChannel`); without one, other channels' are left.
    pub message_channel: Option<String>,
    /// The reference polls every 15 s.
    pub poll_interval: Duration,
}

/// DPE over Azure Service Bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpeSettings {
    pub service_bus: ServiceBusEndpoint,
    /// Which of our queues we read (`difi.move.nextmove.serviceBus.mode`).
    pub mode: QueueMode,
    /// Where status replies go, when set (`receiptQueue`).
    pub receipt_queue: Option<String>,
    /// The reference polls every 20 s.
    pub poll_interval: Duration,
    /// Messages read per poll before looking again (`readMaxMessages`, 50).
    pub read_max: u32,
}

/// DPI over the corner 2 REST API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpiSettings {
    /// `difi.move.dpi.uri`, e.g. `https://edi.edigard.com/api/v2/dpi`.
    pub base_url: String,
    /// `difi.move.dpi.mpcId`: the channel (dots become underscores); none sends
    /// without `kanal`.
    pub mpc_id: Option<String>,
    /// How often receipts are fetched (`difi.move.dpi.pollingrate`, 10 s).
    pub receipt_interval: Duration,
    /// The language of manifest titles when the message names none
    /// (`difi.move.dpi.language`, `NO`).
    pub language: String,
    /// The print provider, for print messages, when known in advance.
    pub print: Option<PrintProvider>,
    /// Where KRR tells the print provider (`difi.move.dpi.krr-print-url`), asked
    /// when `print` is not set. With neither, print goes to the provider the
    /// receiver's record names.
    pub krr_print_url: Option<String>,
}

/// Where print goes: the provider's organisation number and certificate (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintProvider {
    pub orgnr: String,
    pub certificate: String,
}

impl DpiSettings {
    pub fn new(base_url: impl Into<String>) -> Self {
        DpiSettings {
            base_url: base_url.into(),
            mpc_id: Some(crate::transport::dpi::DEFAULT_MPC_ID.to_owned()),
            receipt_interval: Duration::from_secs(10),
            language: "NO".into(),
            print: None,
            krr_print_url: None,
        }
    }
}

/// DPV over Altinn 3 Correspondence, through Digdir's proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpvSettings {
    /// `difi.move.dpv.correspondenceServiceUrl`.
    pub endpoint: CorrespondenceEndpoint,
    /// The `difi.move.dpv.*` settings that shape a correspondence.
    pub form: FormSettings,
    /// An arkivmelding, once published, is answered with an OK
    /// arkivmelding_kvittering in our incoming queue
    /// (`difi.move.arkivmelding.generate-arkivmelding-receipts`, true).
    pub arkivmelding_receipts: bool,
}

/// DPF over KS FIKS: SvarUt for sending, SvarInn for receiving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpfSettings {
    pub svarut: SvarUtEndpoint,
    pub options: SvarUtOptions,
    /// SvarInn, when receiving is on (`difi.move.fiks.inn.enable`).
    pub svarinn: Option<SvarInnEndpoint>,
    /// The reference polls SvarInn every 15 minutes (`difi.move.fiks.pollingrate`).
    pub poll_interval: Duration,
    /// The sender of a forsendelse that names none (`fiks.inn.fallback-sender-org-nr`).
    pub fallback_sender: String,
    /// When SvarUt reports a forsendelse read, also offer the fagsystem an
    /// arkivmelding_kvittering (OK) for it, as the reference does
    /// (`arkivmelding.generate-arkivmelding-receipts`, true).
    pub generate_receipts: bool,
}

/// How sending retries and how often the node looks for work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pacing {
    /// The first retry's delay; each next one triples, up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Deliveries and receptions in flight at once, per kind.
    pub parallel: usize,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            retry_base: Duration::from_secs(20),
            retry_cap: Duration::from_mins(60),
            parallel: 8,
        }
    }
}

impl Pacing {
    /// The delay before retry number `attempts` (1 = the first retry): tripling
    /// from `retry_base` up to `retry_cap`, then jittered down by up to a quarter
    /// with `random`, so nodes that failed together do not retry together.
    pub fn backoff(&self, attempts: u32, random: u64) -> Duration {
        let cap = self.retry_cap.as_millis().max(1).unsigned_abs();
        let mut delay = self.retry_base.as_millis().max(1).unsigned_abs();
        for _ in 1..attempts.min(40) {
            delay = delay.saturating_mul(3);
            if delay >= cap {
                break;
            }
        }
        let delay = delay.min(cap);
        let jitter = random % (delay / 4 + 1);
        Duration::from_millis(i64::try_from(delay - jitter).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_triples_to_the_cap_and_jitters_down_only() {
        let p = Pacing::default();
        assert_eq!(p.backoff(1, 0), Duration::from_secs(20));
        assert_eq!(p.backoff(2, 0), Duration::from_secs(60));
        assert_eq!(p.backoff(3, 0), Duration::from_secs(180));
        assert_eq!(p.backoff(30, 0), Duration::from_mins(60));
        assert_eq!(p.backoff(u32::MAX, 0), Duration::from_mins(60));
        for r in [1, 7, 1_000_000, u64::MAX] {
            let d = p.backoff(2, r);
            assert!(d <= Duration::from_secs(60) && d >= Duration::from_secs(45), "{d:?}");
        }
    }
}
