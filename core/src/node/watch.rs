//! Receipts polled for: a message handed to DPV, DPF or DPI is watched, and its
//! service asked now and then how far it has got (published, read, delivered),
//! until the conversation ends or the service says there is nothing more to learn.
//!
//! The watch is written in the same transaction as the hand-off, so a crash cannot
//! leave a sent message that nobody polls for (the reference's stuck SENDT). The
//! polling interval grows with the message's age as the reference's
//! `LinearInterpolationPolling`: 1 minute when new, 60 minutes at 30 days.
//!
//! Each message service answers through [`Node::watch_answered`]; which requests
//! ask is the service's own module's business (see `poll_watches`).

use std::collections::HashSet;

use super::delivery::{InFlight, Outbound, Step as DeliveryStep};
use super::store::{Loaded, Query, StatusRecord, StoreError, Watch, Write};
use super::{Node, Pending};
use crate::ids::MessageId;
use crate::registry::model::ServiceIdentifier;
use crate::status::{Direction, Status};
use crate::{Duration, Timestamp};

/// The services whose receipts are polled for.
const WATCHED: [ServiceIdentifier; 3] =
    [ServiceIdentifier::Dpv, ServiceIdentifier::Dpf, ServiceIdentifier::Dpi];

/// How often a watched message is polled for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchSettings {
    /// The interval for a message just handed off.
    pub min_interval: Duration,
    /// The interval from `ramp` on.
    pub max_interval: Duration,
    /// The age at which the interval reaches `max_interval`, growing linearly.
    pub ramp: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            min_interval: Duration::from_mins(1),
            max_interval: Duration::from_mins(60),
            ramp: Duration::from_hours(30 * 24),
        }
    }
}

impl WatchSettings {
    /// The polling interval for a message of this age.
    pub fn interval(&self, age: Duration) -> Duration {
        let min = self.min_interval.as_millis().max(1);
        let max = self.max_interval.as_millis().max(min);
        let ramp = self.ramp.as_millis().max(1);
        let age = age.as_millis().clamp(0, ramp);
        // i128: the product of two day-scale millisecond counts overflows i64.
        let grown = i128::from(max - min) * i128::from(age) / i128::from(ramp);
        Duration::from_millis(min + i64::try_from(grown).unwrap_or(max - min))
    }
}

/// The node's watching: per service, whether a look is under way and when the
/// next poll is due; the messages being polled.
#[derive(Debug, Default)]
pub(super) struct Watching {
    looking: HashSet<ServiceIdentifier>,
    next: Vec<(ServiceIdentifier, Timestamp)>,
    pub(super) in_flight: HashSet<MessageId>,
}

impl Watching {
    pub(super) fn wake_at(&self) -> Option<Timestamp> {
        self.next
            .iter()
            .filter(|(service, _)| !self.looking.contains(service))
            .map(|(_, at)| *at)
            .min()
    }

    fn due(&self, service: ServiceIdentifier, now: Timestamp) -> bool {
        !self.looking.contains(&service)
            && self.next.iter().find(|(s, _)| *s == service).is_none_or(|(_, at)| *at <= now)
    }

    /// Look for `service`'s watches at `at` at the latest.
    fn due_by(&mut self, service: ServiceIdentifier, at: Timestamp) {
        let current = self.next.iter().find(|(s, _)| *s == service).map(|(_, t)| *t);
        if current.is_none_or(|t| at < t) {
            self.set_next(service, Some(at));
        }
    }

    fn set_next(&mut self, service: ServiceIdentifier, at: Option<Timestamp>) {
        self.next.retain(|(s, _)| *s != service);
        if let Some(at) = at {
            self.next.push((service, at));
        }
    }
}

/// Where a watch's work is.
#[derive(Debug)]
pub(super) enum Step {
    /// Looking for due watches of a service.
    Due(ServiceIdentifier),
    /// A poll's outcome is being recorded; its new statuses are told of once
    /// durable.
    Recording { watch: Box<Watch>, events: Vec<super::StatusEvent> },
}

impl Node {
    /// The message service has it, and its receipt will be polled for: SENDT (and
    /// `also`, at the same time), out of the queue, and watched, in one write.
    pub(super) fn handed_off_watched(
        &mut self,
        out: Outbound,
        reference: Option<String>,
        also: &[Status],
    ) {
        let key = out.key();
        let Outbound::Message { message, .. } = out else {
            // Replies are not watched: nothing polls for them.
            return self.handed_off(out);
        };
        let Some(message_id) = message.message_id() else {
            self.delivery.in_flight.remove(&key);
            return;
        };
        let queued = self.config.status_queue_includes.contains(&message.service);
        let conversation_id = message.sbd.header.conversation_id();
        let mut statuses = Vec::new();
        let mut events = Vec::new();
        for status in std::iter::once(Status::Sendt).chain(also.iter().copied()) {
            statuses.push(StatusRecord {
                message_id,
                status,
                description: None,
                at: self.now,
                queued,
            });
            events.push(super::StatusEvent {
                message_id,
                conversation_id,
                direction: Direction::Outgoing,
                status,
                description: None,
                at: self.now,
            });
        }
        let write = Write::HandOffWatched {
            statuses,
            service: message.service,
            reference,
            next_poll: self.now + self.config.watch.interval(Duration::ZERO),
        };
        let wid = self.persist(write);
        let step = DeliveryStep::Recording { key: InFlight::Message(message_id), events };
        self.writes.insert(wid, Pending::Delivery(Box::new(step)));
        // A new watch may be due before any the node knows of.
        let first = self.now + self.config.watch.interval(Duration::ZERO);
        self.watching.due_by(message.service, first);
    }

    /// Look for due watches of every watched service this node sends with.
    pub(super) fn kick_watches(&mut self) {
        for service in WATCHED {
            if !self.config.enabled_services.contains(&service)
                || !self.watching.due(service, self.now)
            {
                continue;
            }
            let in_flight = self.watching.in_flight.len();
            let Some(free) = self.config.pacing.parallel.checked_sub(in_flight).filter(|n| *n > 0)
            else {
                return;
            };
            self.watching.looking.insert(service);
            let query = Query::DueWatches {
                service,
                now: self.now,
                limit: u32::try_from(free).unwrap_or(u32::MAX),
                skip: self.watching.in_flight.iter().copied().collect(),
            };
            let id = self.load(query);
            self.loads.insert(id, Pending::Watch(Box::new(Step::Due(service))));
        }
    }

    pub(super) fn watches_loaded(&mut self, step: Step, result: Result<Loaded, StoreError>) {
        let Step::Due(service) = step else {
            self.stale_answers += 1;
            return;
        };
        self.watching.looking.remove(&service);
        match result {
            Ok(Loaded::Watches { due, next }) => {
                self.watching.set_next(service, next);
                let due: Vec<Watch> = due
                    .into_iter()
                    .filter(|w| self.watching.in_flight.insert(w.message_id))
                    .collect();
                if !due.is_empty() {
                    self.poll_watches(service, due);
                }
            }
            Ok(other) => {
                self.note_failure(format!("watches: the store answered {other:?}"));
                self.watching.set_next(service, Some(self.now + self.config.ttl_check_interval));
            }
            Err(e) => {
                self.note_failure(format!("watches: the store failed: {e}"));
                self.watching.set_next(service, Some(self.now + self.config.ttl_check_interval));
            }
        }
    }

    /// Ask each due watch's service how far its message has got. Each service's
    /// module answers every watch it is given with `watch_answered`.
    fn poll_watches(&mut self, service: ServiceIdentifier, due: Vec<Watch>) {
        match service {
            // DPO and DPE tell of their progress with status messages, not polls.
            ServiceIdentifier::Dpo | ServiceIdentifier::Dpe => self.unwatch(due),
            ServiceIdentifier::Dpi => self.poll_dpi(due),
            ServiceIdentifier::Dpv => self.poll_dpv(due),
            ServiceIdentifier::Dpf => self.poll_dpf(due),
            _ => self.unwatch(due),
        }
    }

    /// Stop watching messages whose service this version cannot poll: nothing more
    /// will be learnt of them.
    fn unwatch(&mut self, due: Vec<Watch>) {
        for watch in due {
            self.note_failure(format!(
                "receipts of {} messages are not polled for by this version; {} is no longer watched",
                watch.service.as_str(),
                watch.message_id
            ));
            self.watch_answered(watch, Vec::new(), false);
        }
    }

    /// What the message service told of a watched message: `statuses` (status,
    /// description, when) to record, and whether to keep polling. After a transient
    /// failure, call with no statuses and `keep`: the next poll is as the message's
    /// age says.
    pub(super) fn watch_answered(
        &mut self,
        watch: Watch,
        statuses: Vec<(Status, Option<String>, Timestamp)>,
        keep: bool,
    ) {
        let queued = self.config.status_queue_includes.contains(&watch.service);
        let records: Vec<StatusRecord> = statuses
            .iter()
            .map(|(status, description, at)| StatusRecord {
                message_id: watch.message_id,
                status: *status,
                description: description.clone(),
                at: *at,
                queued,
            })
            .collect();
        let conversation_id = watch.conversation_id;
        let events = statuses
            .into_iter()
            .map(|(status, description, at)| super::StatusEvent {
                message_id: watch.message_id,
                conversation_id,
                direction: Direction::Outgoing,
                status,
                description,
                at,
            })
            .collect();
        let next_poll = keep.then(|| {
            let age = self.now - watch.handed_off;
            self.now + self.config.watch.interval(age)
        });
        if let Some(at) = next_poll {
            self.watching.due_by(watch.service, at);
        }
        let wid = self.persist(Write::Watched {
            message_id: watch.message_id,
            statuses: records,
            next_poll,
        });
        self.writes.insert(
            wid,
            Pending::Watch(Box::new(Step::Recording { watch: Box::new(watch), events })),
        );
    }

    pub(super) fn watch_persisted(&mut self, step: Step, result: Result<(), StoreError>) {
        let Step::Recording { watch, events } = step else {
            self.stale_answers += 1;
            return;
        };
        self.watching.in_flight.remove(&watch.message_id);
        match result {
            Ok(()) => {
                // Told only now that they are durable; a store that has them
                // already (a repeat) tells the subscriber once more at worst.
                for event in events {
                    self.status_maybe_recorded(event);
                }
                self.deliver_pushes();
            }
            Err(e) => {
                // Not recorded: the watch is as it was, and due again.
                self.note_failure(format!("poll of {} not recorded: {e}", watch.message_id));
                let retry = self.now + self.config.ttl_check_interval;
                self.watching.due_by(watch.service, retry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_grows_linearly_from_a_minute_to_an_hour_at_thirty_days() {
        let s = WatchSettings::default();
        assert_eq!(s.interval(Duration::ZERO), Duration::from_mins(1));
        assert_eq!(s.interval(Duration::from_hours(15 * 24)), Duration::from_millis(1_830_000));
        assert_eq!(s.interval(Duration::from_hours(30 * 24)), Duration::from_mins(60));
        assert_eq!(s.interval(Duration::from_hours(400 * 24)), Duration::from_mins(60));
        // A clock that went back gives the shortest interval, not a negative one.
        assert_eq!(s.interval(Duration::from_mins(-5)), Duration::from_mins(1));
    }
}
