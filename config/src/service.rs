//! The message services efm can enable.

use std::fmt;
use std::str::FromStr;

use crate::expected::Expected;

/// A message service (the reference's `ServiceIdentifier`, less the removed FIKS IO).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Public bodies through the Altinn broker.
    Dpo,
    /// Businesses through Altinn correspondence.
    Dpv,
    /// Municipalities through KS FIKS SvarUt/SvarInn.
    Dpf,
    /// eInnsyn through Azure Service Bus.
    Dpe,
    /// Citizens (digital post til innbyggere).
    Dpi,
    /// Health (Norsk helsenett adapter).
    Dph,
}

impl Service {
    pub const ALL: [Service; 6] =
        [Service::Dpo, Service::Dpv, Service::Dpf, Service::Dpe, Service::Dpi, Service::Dph];

    /// The name the reference and the API use: `DPO`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Dpo => "DPO",
            Service::Dpv => "DPV",
            Service::Dpf => "DPF",
            Service::Dpe => "DPE",
            Service::Dpi => "DPI",
            Service::Dph => "DPH",
        }
    }

    /// The name of the service's table in efm.toml: `dpo`.
    pub fn table(self) -> &'static str {
        match self {
            Service::Dpo => "dpo",
            Service::Dpv => "dpv",
            Service::Dpf => "dpf",
            Service::Dpe => "dpe",
            Service::Dpi => "dpi",
            Service::Dph => "dph",
        }
    }

    /// Whether efm polls the service (for incoming messages or, for DPI, receipts):
    /// every one but DPV.
    pub(crate) fn polls(self) -> bool {
        self != Service::Dpv
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

pub(crate) const LIST_SHAPE: &str = "a list of services from DPO, DPV, DPF, DPE, DPI, DPH";

impl FromStr for Service {
    type Err = Expected;

    /// Any case, as Spring binds enum names.
    fn from_str(s: &str) -> Result<Self, Expected> {
        Service::ALL
            .into_iter()
            .find(|svc| svc.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Expected::because(LIST_SHAPE, format!("unknown service {s}")))
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of services, kept in [`Service::ALL`] order so that it prints the same way
/// whatever order it was written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServiceSet([bool; 6]);

impl ServiceSet {
    pub fn of(services: &[Service]) -> Self {
        let mut set = ServiceSet::default();
        for s in services {
            set.0[s.index()] = true;
        }
        set
    }

    pub fn contains(&self, service: Service) -> bool {
        self.0[service.index()]
    }

    pub fn iter(&self) -> impl Iterator<Item = Service> + '_ {
        Service::ALL.into_iter().filter(|s| self.contains(*s))
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// A comma list (`DPO,DPE`, spaces and case ignored, empty for none), as both
    /// `EFM_ENABLE` and the reference's `status-services` write it.
    pub fn parse_comma_list(s: &str) -> Result<Self, Expected> {
        let mut found = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            found.push(part.parse::<Service>()?);
        }
        Ok(ServiceSet::of(&found))
    }
}

impl fmt::Display for ServiceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Service::name).collect();
        f.write_str(&names.join(","))
    }
}

/// The `sendersFileTransferReference` a DPO consumer claims as its own.
///
/// The reference treats references matching `^[a-zA-Z0-9-_]{0,25}$` as channels
/// (anything else is a plain transfer id), so a channel outside that shape would
/// never be recognised and is refused here.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageChannel(String);

impl MessageChannel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MessageChannel {
    type Err = Expected;

    fn from_str(s: &str) -> Result<Self, Expected> {
        const SHAPE: &str = "1 to 25 characters from A-Z, a-z, 0-9, - and _";
        if s.is_empty() || s.len() > 25 {
            return Err(Expected::because(SHAPE, format!("{} characters", s.chars().count())));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Expected::because(SHAPE, "other characters"));
        }
        Ok(MessageChannel(s.to_owned()))
    }
}

impl fmt::Display for MessageChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
