//! Where the message services are reached and how a failed delivery is retried:
//! Maskinporten, the Altinn 3 broker (DPO), Altinn 3 Correspondence (DPV), Azure Service
//! Bus (DPE).
//!
//! The defaults are the reference's test environment (`application.properties`), so
//! a bare `efm serve` points at Digdir's test services, never at production.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use crate::expected::Expected;
use crate::http_url::HttpUrl;
use crate::interval::Interval;
use crate::org_nr::OrgNr;
use crate::secret::Secret;

pub const DEFAULT_MASKINPORTEN_URL: &str = "https://test.maskinporten.no/token";
pub const DEFAULT_MASKINPORTEN_AUDIENCE: &str = "https://test.maskinporten.no/";
pub const DEFAULT_BROKER_URL: &str = "https://platform.tt02.altinn.no/broker/api/v1";
pub const DEFAULT_BROKER_RESOURCE: &str = "eformidling-dpo-meldingsutveksling";
pub const DEFAULT_ALTINN_EXCHANGE_URL: &str =
    "https://platform.tt02.altinn.no/authentication/api/v1/exchange/maskinporten";
pub const DEFAULT_SERVICE_BUS_URL: &str = "https://efm-dpe-qa.servicebus.windows.net";
/// The host of [`DEFAULT_SERVICE_BUS_URL`], as the reference's `serviceBus.baseUrl` writes it.
pub(crate) const DEFAULT_SERVICE_BUS_HOST: &str = "efm-dpe-qa.servicebus.windows.net";
pub const DEFAULT_SAS_KEY_NAME: &str = "MoveDPE-pilotPolicy";
pub const DEFAULT_CORRESPONDENCE_URL: &str =
    "https://test.eformidling.no/altinn-proxy/correspondence/api/v1";
pub const DEFAULT_DPV_SENSITIVE_RESOURCE: &str = "eformidling-dpv-taushetsbelagt";
pub const DEFAULT_DPV_NOTIFICATION_TEXT: &str =
    "$correspondenceRecipientName$: Du har mottatt en melding fra $reporterName$.";
pub const DEFAULT_DPV_SENSITIVE_NOTIFICATION_TEXT: &str = "$correspondenceRecipientName$, har mottatt en taushetsbelagt melding fra $reporterName$. For å få tilgang til meldingen, er det nødvendig at noen i $correspondenceRecipientName$ har fått tildelt tilgang til tjenesten «eformidling-dpv-taushetsbelagt» i Altinn. Dersom dere er usikre på om noen har slik tilgang, anbefaler vi sterkt at dette sjekkes. Les mer om å gi tilgang til tjenester på Altinns nettsider.";
pub const DEFAULT_DPV_EMAIL_SUBJECT: &str = "Melding mottatt i Altinn";
/// `difi.move.fiks.ut.endpointUrl`: SvarUt's web service lives under it.
pub const DEFAULT_SVARUT_URL: &str = "https://test.svarut.ks.no";
/// `difi.move.fiks.inn.baseUrl`.
pub const DEFAULT_SVARINN_URL: &str = "https://test.svarut.ks.no/tjenester/svarinn";

/// The reference's `sasToken` default: a placeholder that means "not set".
pub(crate) const SAS_KEY_PLACEHOLDER: &str = "<token>";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transports {
    pub oidc: Oidc,
    pub dpo: DpoTransport,
    pub dpe: DpeTransport,
    pub dpi: DpiTransport,
    pub dpv: DpvTransport,
    pub dpf: DpfTransport,
    pub retry: Retry,
    pub receipts: ReceiptPolling,
}

/// The DPI corner 2 REST API (digital post to citizens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpiTransport {
    /// `difi.move.dpi.uri`. Default `https://sandbox1.ediex.no/api/v2/dpi` (production
    /// `https://edi.edigard.com/api/v2/dpi`).
    pub url: HttpUrl,
    /// `difi.move.dpi.mpcId`, the channel. Default `no.difi.move.integrasjonspunkt`.
    pub mpc_id: String,
    /// `difi.move.dpi.krr-print-url`: where KRR names the print provider. None (the
    /// default here): print goes to the provider the receiver's record names.
    pub krr_print_url: Option<HttpUrl>,
}

/// The reference's test corner 2.
pub const DEFAULT_DPI_URL: &str = "https://sandbox1.ediex.no/api/v2/dpi";

/// Altinn 3 Correspondence, reached through Digdir's proxy (DPV), and how its
/// correspondences read (`difi.move.dpv.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpvTransport {
    /// Default the test proxy (production `https://eformidling.no/altinn-proxy/correspondence/api/v1`).
    pub correspondence_url: HttpUrl,
    /// Notify by e-mail and SMS when a message does not say. Default both.
    pub notify_email: bool,
    pub notify_sms: bool,
    /// Days to the due date when a message does not say. Default 7.
    pub days_to_reply: u32,
    /// Set a due date when a message does not say. Default true.
    pub enable_due_date: bool,
    /// Correspondences under this resource are confidential.
    pub sensitive_resource: String,
    /// `$reporterName$` is replaced by the sender's name.
    pub notification_text: String,
    pub sensitive_notification_text: String,
    pub email_subject: String,
}

/// KS FIKS: SvarUt, which DPF sends through (SOAP web service, HTTP Basic), and
/// SvarInn, which it receives through (REST, HTTP Basic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpfTransport {
    /// SvarUt's base URL; the web service is `<url>/tjenester/forsendelseservice/
    /// ForsendelsesServiceV9`. Default `https://test.svarut.ks.no`.
    pub svarut_url: HttpUrl,
    pub svarut_username: Option<String>,
    pub svarut_password: Option<Secret>,
    /// Default `https://test.svarut.ks.no/tjenester/svarinn`.
    pub svarinn_url: HttpUrl,
    pub svarinn_username: Option<String>,
    pub svarinn_password: Option<Secret>,
    /// Whether SvarInn is polled (`fiks.inn.enable`). None: whenever DPF is enabled.
    pub receive: Option<bool>,
}

/// The Maskinporten JWT grant every service's access token starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oidc {
    /// Default `https://test.maskinporten.no/token` (production `https://maskinporten.no/token`).
    pub token_url: HttpUrl,
    /// The grant's `aud`. Default `https://test.maskinporten.no/`.
    pub audience: String,
    /// The grant's `iss`. None: `MOVE_IP_<org>` ([`Oidc::client_id_for`]).
    pub client_id: Option<String>,
}

/// The Altinn 3 broker (formidling) DPO sends and receives through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpoTransport {
    /// Default tt02 (production `https://platform.altinn.no/broker/api/v1`).
    pub broker_url: HttpUrl,
    /// The broker resource id. Default `eformidling-dpo-meldingsutveksling`.
    pub resource: String,
    /// Where a Maskinporten token is exchanged for an Altinn one. Default tt02.
    pub token_exchange_url: HttpUrl,
    /// The system user's organisation. None: `0192:<org>` ([`DpoTransport::system_user_org_for`]).
    pub system_user_org: Option<String>,
    /// The system user's name. None: `<org>_integrasjonspunkt_systembruker_<org>`
    /// ([`DpoTransport::system_user_name_for`]).
    pub system_user_name: Option<String>,
}

/// Azure Service Bus, which DPE (eInnsyn) sends and receives through (REST, peek-lock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpeTransport {
    /// The namespace URL queues are found under, with an optional path prefix
    /// (`http://localhost:8001/dpe`). Default `https://efm-dpe-qa.servicebus.windows.net`
    /// (production `https://efm-dpe-prod.servicebus.windows.net`).
    pub service_bus_url: HttpUrl,
    /// The SAS policy name. Default `MoveDPE-pilotPolicy` (production `MoveDPE-prodPolicy`).
    pub sas_key_name: String,
    /// The SAS key. None: not configured (the reference then takes it from the service
    /// registry's `/sastoken`).
    pub sas_key: Option<Secret>,
    /// Our own queue's suffix. Default innsyn.
    pub mode: DpeMode,
    /// The queue suffix status messages and eInnsyn receipts are sent to. None: chosen
    /// from the mode and the message, as the reference does.
    pub receipt_queue: Option<String>,
    /// At most this many messages are read per poll. Default 50.
    pub read_max: NonZeroU32,
}

/// Which of an organisation's eInnsyn queues this instance reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DpeMode {
    Innsyn,
    Data,
    Meeting,
}

/// Redelivery of a message whose send failed for a reason that may pass: the n-th
/// retry waits `base * 3^(n-1)`, never longer than `cap` (the reference's broker
/// redelivery policy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Default 20 s.
    pub base: Interval,
    /// Default 1 h.
    pub cap: Interval,
}

/// How often the receipts of handed-off DPV, DPF and DPI messages are polled for:
/// from `min_interval` for a new message, growing linearly with its age to
/// `max_interval` at 30 days (the reference's `LinearInterpolationPolling`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptPolling {
    /// Default 1 min.
    pub min_interval: Interval,
    /// Default 1 h.
    pub max_interval: Interval,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            oidc: Oidc {
                token_url: HttpUrl::known(DEFAULT_MASKINPORTEN_URL),
                audience: DEFAULT_MASKINPORTEN_AUDIENCE.to_owned(),
                client_id: None,
            },
            dpo: DpoTransport {
                broker_url: HttpUrl::known(DEFAULT_BROKER_URL),
                resource: DEFAULT_BROKER_RESOURCE.to_owned(),
                token_exchange_url: HttpUrl::known(DEFAULT_ALTINN_EXCHANGE_URL),
                system_user_org: None,
                system_user_name: None,
            },
            dpe: DpeTransport {
                service_bus_url: HttpUrl::known(DEFAULT_SERVICE_BUS_URL),
                sas_key_name: DEFAULT_SAS_KEY_NAME.to_owned(),
                sas_key: None,
                mode: DpeMode::Innsyn,
                receipt_queue: None,
                read_max: NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
            },
            dpi: DpiTransport {
                url: HttpUrl::known(DEFAULT_DPI_URL),
                mpc_id: "no.difi.move.integrasjonspunkt".to_owned(),
                krr_print_url: None,
            },
            dpv: DpvTransport {
                correspondence_url: HttpUrl::known(DEFAULT_CORRESPONDENCE_URL),
                notify_email: true,
                notify_sms: true,
                days_to_reply: 7,
                enable_due_date: true,
                sensitive_resource: DEFAULT_DPV_SENSITIVE_RESOURCE.to_owned(),
                notification_text: DEFAULT_DPV_NOTIFICATION_TEXT.to_owned(),
                sensitive_notification_text: DEFAULT_DPV_SENSITIVE_NOTIFICATION_TEXT.to_owned(),
                email_subject: DEFAULT_DPV_EMAIL_SUBJECT.to_owned(),
            },
            dpf: DpfTransport {
                svarut_url: HttpUrl::known(DEFAULT_SVARUT_URL),
                svarut_username: None,
                svarut_password: None,
                svarinn_url: HttpUrl::known(DEFAULT_SVARINN_URL),
                svarinn_username: None,
                svarinn_password: None,
                receive: None,
            },
            retry: Retry { base: Interval::secs(20), cap: Interval::mins(60) },
            receipts: ReceiptPolling {
                min_interval: Interval::mins(1),
                max_interval: Interval::mins(60),
            },
        }
    }
}

impl Oidc {
    /// The configured client id, else the reference's `MOVE_IP_<org>`.
    pub fn client_id_for(&self, org: &OrgNr) -> String {
        self.client_id.clone().unwrap_or_else(|| format!("MOVE_IP_{org}"))
    }
}

impl DpoTransport {
    /// The configured system user organisation, else `0192:<org>`.
    pub fn system_user_org_for(&self, org: &OrgNr) -> String {
        self.system_user_org.clone().unwrap_or_else(|| format!("0192:{org}"))
    }

    /// The configured system user name, else `<org>_integrasjonspunkt_systembruker_<org>`.
    pub fn system_user_name_for(&self, org: &OrgNr) -> String {
        self.system_user_name
            .clone()
            .unwrap_or_else(|| format!("{org}_integrasjonspunkt_systembruker_{org}"))
    }
}

impl DpeMode {
    pub const ALL: [DpeMode; 3] = [DpeMode::Innsyn, DpeMode::Data, DpeMode::Meeting];

    /// The queue suffix: `innsyn`, `data`, `meeting`.
    pub fn name(&self) -> &'static str {
        match self {
            DpeMode::Innsyn => "innsyn",
            DpeMode::Data => "data",
            DpeMode::Meeting => "meeting",
        }
    }
}

impl FromStr for DpeMode {
    type Err = Expected;

    /// Any case, as the reference's check (`innsyn|data|meeting`, case-insensitive).
    fn from_str(s: &str) -> Result<Self, Expected> {
        DpeMode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Expected::new("one of innsyn, data, meeting"))
    }
}

impl fmt::Display for DpeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A party id as Altinn writes it: `0192:` (the Norwegian ISO 6523 scheme) and an
/// organisation number.
pub(crate) fn party_id(s: &str) -> Result<String, Expected> {
    const SHAPE: &str = "an organisation id like 0192:910076787";
    let Some((scheme, number)) = s.split_once(':') else {
        return Err(Expected::because(SHAPE, "no scheme before a colon"));
    };
    if scheme.len() != 4 || !scheme.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Expected::because(SHAPE, "the scheme is four digits"));
    }
    number.parse::<OrgNr>().map_err(|e| Expected::because(SHAPE, e))?;
    Ok(s.to_owned())
}

/// A queue name suffix: it ends up in a URL path, so letters, digits, `.`, `-`, `_`.
pub(crate) fn queue_suffix(s: &str) -> Result<String, Expected> {
    const SHAPE: &str = "a queue suffix like innsyn (letters, digits, ., - and _)";
    if s.len() > 200 {
        return Err(Expected::because(SHAPE, "too long"));
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(Expected::because(SHAPE, "other characters"));
    }
    Ok(s.to_owned())
}

/// The reference's `serviceBus.baseUrl` (a host with an optional port and path) and
/// `useHttps`, as one URL: `localhost:8001/dpe` without https is `http://localhost:8001/dpe`.
pub(crate) fn service_bus_url(base: &str, https: bool) -> Result<HttpUrl, Expected> {
    const SHAPE: &str =
        "a host like efm-dpe-qa.servicebus.windows.net, optionally with :port and /path";
    if base.contains("://") {
        return Err(Expected::because(SHAPE, "no scheme: useHttps chooses it"));
    }
    let scheme = if https { "https" } else { "http" };
    HttpUrl::parse_as(&format!("{scheme}://{base}"), SHAPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_urls() {
        for url in [
            DEFAULT_MASKINPORTEN_URL,
            DEFAULT_BROKER_URL,
            DEFAULT_ALTINN_EXCHANGE_URL,
            DEFAULT_SERVICE_BUS_URL,
        ] {
            assert_eq!(url.parse::<HttpUrl>().map(|u| u.to_string()).as_deref(), Ok(url));
        }
        assert_eq!(
            service_bus_url(DEFAULT_SERVICE_BUS_HOST, true).unwrap().as_str(),
            DEFAULT_SERVICE_BUS_URL
        );
    }

    #[test]
    fn modes() {
        assert_eq!("innsyn".parse::<DpeMode>(), Ok(DpeMode::Innsyn));
        assert_eq!(" MEETING ".parse::<DpeMode>(), Ok(DpeMode::Meeting));
        assert_eq!("Data".parse::<DpeMode>().map(|m| m.name()), Ok("data"));
        assert!("foo".parse::<DpeMode>().is_err());
        assert!("".parse::<DpeMode>().is_err());
    }

    #[test]
    fn service_bus_hosts() {
        assert_eq!(
            service_bus_url("localhost:8001/dpe", false).unwrap().as_str(),
            "http://localhost:8001/dpe"
        );
        assert_eq!(
            service_bus_url("efm-dpe-prod.servicebus.windows.net", true).unwrap().as_str(),
            "https://efm-dpe-prod.servicebus.windows.net"
        );
        assert_eq!(
            service_bus_url("https://x.no", true).unwrap_err().0,
            "a host like efm-dpe-qa.servicebus.windows.net, optionally with :port and /path (no scheme: useHttps chooses it)"
        );
        assert_eq!(
            service_bus_url("a b", true).unwrap_err().0,
            "a host like efm-dpe-qa.servicebus.windows.net, optionally with :port and /path (contains whitespace)"
        );
        assert!(service_bus_url("", true).is_err());
        assert!(service_bus_url("host:0", true).is_err());
    }

    #[test]
    fn party_ids() {
        assert_eq!(party_id("0192:910076787").as_deref(), Ok("0192:910076787"));
        for bad in ["910076787", "192:910076787", "0192:91007678", "abcd:910076787", ":", ""] {
            assert!(party_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queue_suffixes() {
        assert!(queue_suffix("innsyn").is_ok());
        assert!(queue_suffix("my-queue_2.x").is_ok());
        for bad in ["a/b", "a b", "a?b", "æ"] {
            assert!(queue_suffix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_from_the_organisation() {
        let org: OrgNr = "910076787".parse().unwrap();
        let t = Transports::default();
        assert_eq!(t.oidc.client_id_for(&org), "MOVE_IP_910076787");
        assert_eq!(t.dpo.system_user_org_for(&org), "0192:910076787");
        assert_eq!(
            t.dpo.system_user_name_for(&org),
            "910076787_integrasjonspunkt_systembruker_910076787"
        );
        let named = Oidc { client_id: Some("mine".into()), ..t.oidc };
        assert_eq!(named.client_id_for(&org), "mine");
    }
}
