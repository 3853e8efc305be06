//! Webhook pushes: the store keeps an outbox of status pushes, written in the same
//! transaction as each status; the node posts what is due, removes what was
//! delivered, and tries failures again later, backing off, for a bounded time.

use bytes::Bytes;

use super::http::{HttpRequest, HttpResponse, Method, TransportError};
use super::store::{Loaded, Push, Query, StoreError, Write};
use super::{Node, Output, Pending, ReqId};
use crate::Duration;

/// Pushes taken from the outbox at a time.
const BATCH: u32 = 50;
/// After this many failed attempts a push is given up (about a day of retries).
const MAX_ATTEMPTS: u32 = 12;

/// 10 s, then three times longer each attempt, at most an hour.
fn backoff(attempts: u32) -> Duration {
    let secs = 10_i64.saturating_mul(3_i64.saturating_pow(attempts.min(10)));
    Duration::from_secs(secs.min(3600))
}

impl Node {
    /// Post what is due, unless a look at the outbox is already under way.
    pub(super) fn deliver_pushes(&mut self) {
        if self.pushes_loading {
            return;
        }
        self.pushes_loading = true;
        let id = self.load(Query::DuePushes { now: self.now, limit: BATCH });
        self.loads.insert(id, Pending::Pushes);
    }

    pub(super) fn on_pushes(&mut self, result: Result<Loaded, StoreError>) {
        self.pushes_loading = false;
        let Ok(Loaded::Pushes { due, next }) = result else {
            // The store did not answer: look again at the next tick.
            self.push_next = Some(self.now + Duration::from_secs(10));
            return;
        };
        self.push_next = next;
        for push in due {
            if self.pushes_in_flight.insert(push.id) {
                self.post(push);
            }
        }
    }

    fn post(&mut self, push: Push) {
        let request = HttpRequest::new(Method::Post, push.url)
            .header("Content-Type", "application/json")
            .body(Bytes::from(push.body));
        let id = ReqId(self.next());
        self.outputs.push_back(Output::Http(id, request));
        self.requests.insert(id, Pending::Push { id: push.id, attempts: push.attempts });
    }

    pub(super) fn on_pushed(
        &mut self,
        push: i64,
        attempts: u32,
        result: Result<HttpResponse, TransportError>,
    ) {
        self.pushes_in_flight.remove(&push);
        let delivered = matches!(&result, Ok(r) if (200..300).contains(&r.status));
        let write = if delivered || attempts + 1 >= MAX_ATTEMPTS {
            Write::PushDone(push)
        } else {
            let at = self.now + backoff(attempts);
            self.push_next = Some(self.push_next.map_or(at, |n| n.min(at)));
            Write::PushRetry { id: push, at }
        };
        let id = self.persist(write);
        self.writes.insert(id, Pending::PushWritten);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stops_at_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(10));
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(4), Duration::from_secs(810));
        assert_eq!(backoff(5), Duration::from_secs(2430));
        assert_eq!(backoff(6), Duration::from_secs(3600));
        assert_eq!(backoff(100), Duration::from_secs(3600));
    }
}
