//! The runtime's side of each node, as `efm-blocking` does it but in simulated
//! time: drain the node's outputs, carry out store work (in order, after a short
//! delay, sometimes failing), payload jobs (with the stand-in encodings), HTTP
//! requests (over the simulated network to the fake services), and ticks at the
//! time the node asks; crash and restart.

use bytes::Bytes;
use efm_core::node::{
    HttpRequest, HttpResponse, Input, Job, JobError, JobId, JobResult, Node, Output, ReqId,
    SealForm, StoreError, TransportError,
};
use efm_core::sbd::{BusinessMessage, Sbd};
use efm_core::transport::service_bus;

use crate::host::{BROKER_URL, BUS_URL, REGISTRY_URL, StoreOp};
use crate::network::{Link, TIMEOUT_MS};
use crate::sealing::{self, Document};
use crate::services::{Call, broker, empty, service_bus as bus};
use crate::world::{Event, Outbound, StoreCall, StoreCallKind, World};

/// Outputs one input may cause, at most: more is a loop in the node.
const DRAIN_LIMIT: usize = 100_000;
/// Ticks at one instant, at most: more means the node asks for a time already past
/// while a tick cannot act on it.
const SPIN_LIMIT: u32 = 1_000;

impl World {
    /// Feed one input to a running node and carry out what it asks for.
    pub fn feed(&mut self, h: usize, input: Input) {
        let now = self.hosts[h].now(self.now);
        let Some(node) = self.hosts[h].node.as_mut() else { return };
        node.handle_input(input, now);
        self.drain(h);
    }

    fn drain(&mut self, h: usize) {
        for _ in 0..DRAIN_LIMIT {
            let Some(node) = self.hosts[h].node.as_mut() else { return };
            match node.poll_output() {
                Output::Idle { wake_at } => return self.set_wake(h, wake_at),
                Output::Http(id, req) => self.http_out(h, id, req),
                Output::Load(id, q) => self.queue_store(h, StoreOp::Load(id, Box::new(q))),
                Output::Persist(id, w) => self.queue_store(h, StoreOp::Persist(id, Box::new(w))),
                Output::Respond(call, r) => self.responded(h, call, r),
                Output::Job(id, job) => self.job(h, id, job),
                Output::Status(s) => {
                    self.note(|| {
                        let why = s.description.as_deref().unwrap_or_default();
                        format!(
                            "node {h}: status {} {} {:?} {why}",
                            s.message_id, s.status, s.direction
                        )
                    });
                    let store = &self.hosts[h].store;
                    self.model.on_status_event(h, &s, store);
                }
                Output::Notice(text) => self.note(|| format!("node {h}: notice: {text}")),
                Output::Mail(m) => {
                    self.note(|| format!("node {h}: mail: {}", m.subject));
                    let store = &self.hosts[h].store;
                    self.model.on_mail(h, &m, store);
                }
            }
        }
        self.model.violations.push(format!(
            "node {h}: one input made more than {DRAIN_LIMIT} outputs without going idle"
        ));
    }

    /// Schedule a tick for when the node wants one (in its own time).
    pub fn set_wake(&mut self, h: usize, wake_at: Option<efm_core::Timestamp>) {
        let host = &mut self.hosts[h];
        host.wake_at = wake_at;
        let Some(w) = wake_at else {
            host.tick_at = None;
            return;
        };
        let at = (w.as_unix_millis() - host.offset).max(self.now);
        if host.tick_at == Some(at) {
            return;
        }
        host.tick_at = Some(at);
        host.tick_gen += 1;
        let (epoch, generation) = (host.epoch, host.tick_gen);
        self.schedule(at, Event::Tick { node: h, epoch, generation });
    }

    pub fn tick(&mut self, h: usize, epoch: u64, generation: u64) {
        let host = &mut self.hosts[h];
        if host.epoch != epoch || host.tick_gen != generation || host.node.is_none() {
            return;
        }
        host.tick_at = None;
        if host.last_tick == self.now {
            host.ticks_now += 1;
            if host.ticks_now > SPIN_LIMIT {
                let w = host.wake_at.map(|w| w.to_string()).unwrap_or_default();
                return self.model.violations.push(format!(
                    "node {h} asks to be woken at {w} again and again, and a tick does nothing: it spins"
                ));
            }
        } else {
            host.last_tick = self.now;
            host.ticks_now = 0;
        }
        if let Some(w) = host.wake_at
            && host.now(self.now) < w
        {
            // The node's clock stepped back: not time yet.
            let wake = host.wake_at;
            return self.set_wake(h, wake);
        }
        self.feed(h, Input::Tick);
    }

    fn queue_store(&mut self, h: usize, op: StoreOp) {
        let host = &mut self.hosts[h];
        host.store_queue.push_back(op);
        if !host.store_busy {
            host.store_busy = true;
            let (epoch, at) = (host.epoch, self.now + self.rng.range(0, 5));
            self.schedule(at, Event::StoreStep { node: h, epoch });
        }
    }

    /// The store carries out the oldest operation asked of it.
    pub fn store_step(&mut self, h: usize) {
        let faults = self.hosts[h].store_faults;
        let fail = faults > 0 && self.rng.chance(faults);
        let host = &mut self.hosts[h];
        host.store_busy = false;
        let Some(op) = host.store_queue.pop_front() else { return };
        let failure = || StoreError::Unavailable("simulated: database is locked".into());
        let input = match op {
            StoreOp::Load(id, _) if fail => Input::Loaded(id, Err(failure())),
            StoreOp::Persist(id, _) if fail => Input::Persisted(id, Err(failure())),
            StoreOp::Load(id, q) => {
                let r = host.store.load(&q);
                if let Some(log) = self.store_log.as_mut() {
                    log.push(StoreCall {
                        node: h,
                        op: StoreCallKind::Load(q, Box::new(r.clone())),
                        staged: None,
                    });
                }
                Input::Loaded(id, r)
            }
            StoreOp::Persist(id, w) => {
                let staged = staged_of(&w, &host.staging);
                let r = host.store.persist(&w, &mut host.staging);
                if let Err(e) = &r {
                    let name = write_name(&w);
                    self.note(|| format!("node {h}: {name} -> {e}"));
                }
                if let Some(log) = self.store_log.as_mut() {
                    log.push(StoreCall {
                        node: h,
                        op: StoreCallKind::Persist(w, r.clone()),
                        staged,
                    });
                }
                Input::Persisted(id, r)
            }
        };
        self.read_journal(h);
        self.feed(h, input);
        let host = &mut self.hosts[h];
        if !host.store_queue.is_empty() && !host.store_busy && host.node.is_some() {
            host.store_busy = true;
            let (epoch, at) = (host.epoch, self.now + self.rng.range(0, 5));
            self.schedule(at, Event::StoreStep { node: h, epoch });
        }
    }

    fn read_journal(&mut self, h: usize) {
        let journal = std::mem::take(&mut self.hosts[h].store.journal);
        for change in &journal {
            self.model.on_change(h, change);
        }
    }

    /// A payload job, done at once with the stand-in encodings; its answer comes a
    /// little later.
    fn job(&mut self, h: usize, id: JobId, job: Job) {
        let host = &mut self.hosts[h];
        let result = match job {
            Job::Seal(s) => (|| {
                // A status reply has no files, and so no envelope and no certificate.
                let receiver = || {
                    sealing::certificate_org(&s.receiver_certificate).ok_or_else(|| {
                        JobError::Invalid("the receiver's certificate cannot be read".into())
                    })
                };
                let mut docs = Vec::new();
                for f in &s.files {
                    let content =
                        host.store.file_content(s.message_id, &f.filename).ok_or_else(|| {
                            JobError::Io(format!(
                                "{} of {} is not stored",
                                f.filename, s.message_id
                            ))
                        })?;
                    docs.push(Document { name: f.filename.clone(), mime: f.mime.clone(), content });
                }
                match s.form {
                    SealForm::DpoParcel { sbd_json, name } => {
                        let envelope = match docs.is_empty() {
                            true => None,
                            false => Some(sealing::seal(&receiver()?, &docs)),
                        };
                        let parcel = sealing::parcel(&sbd_json, envelope.as_deref());
                        let size = parcel.len() as u64;
                        host.staging.insert(name.clone(), Bytes::from(parcel));
                        Ok(JobResult::Staged { name, size })
                    }
                    SealForm::Cms { limit } => {
                        let envelope = sealing::seal(&receiver()?, &docs);
                        if envelope.len() as u64 > limit {
                            return Err(JobError::Invalid(format!(
                                "the sealed message is larger than the service's limit of {limit} bytes"
                            )));
                        }
                        Ok(JobResult::Bytes(Bytes::from(envelope)))
                    }
                    // The simulated network has no DPI.
                    SealForm::Dpi(_) => Err(JobError::Invalid("DPI is not simulated".into())),
                }
            })(),
            Job::Unpack(u) => match host.staging.remove(&u.staged) {
                None => Err(JobError::Io(format!("{}: no such staged file", u.staged))),
                Some(bytes) => match sealing::unparcel(&bytes) {
                    Err(e) => Err(JobError::Invalid(e.to_string())),
                    Ok((sbd, envelope)) => {
                        let asic = envelope.map(|e| {
                            let size = e.len() as u64;
                            host.staging.insert(u.asic_to.clone(), e);
                            (u.asic_to.clone(), size)
                        });
                        Ok(JobResult::Unpacked { sbd, asic })
                    }
                },
            },
            Job::Stage { name, content } => {
                let size = content.len() as u64;
                host.staging.insert(name.clone(), content);
                Ok(JobResult::Staged { name, size })
            }
            // The simulated network has no DPF service; a job for one is a bug there.
            Job::SealSvarUt(_) | Job::OpenSvarInn(_) => {
                Err(JobError::Invalid("DPF is not simulated".into()))
            }
        };
        let (epoch, at) = (host.epoch, self.now + self.rng.range(1, 30));
        self.schedule(at, Event::Job { node: h, epoch, job: id, result });
    }

    pub fn job_done(
        &mut self,
        h: usize,
        epoch: u64,
        id: JobId,
        result: Result<JobResult, JobError>,
    ) {
        if self.hosts[h].epoch == epoch {
            self.feed(h, Input::JobDone(id, result));
        }
    }

    fn answer_later(
        &mut self,
        h: usize,
        req: ReqId,
        after: i64,
        result: Result<HttpResponse, TransportError>,
    ) {
        let epoch = self.hosts[h].epoch;
        self.schedule(self.now + after, Event::Http { node: h, epoch, req, result, save_to: None });
    }

    /// An HTTP request leaves the node.
    fn http_out(&mut self, h: usize, id: ReqId, req: HttpRequest) {
        self.stats.requests += 1;
        let Some((link, path, query)) = route(&req.url) else {
            // Webhook subscribers and anything else: no one listens.
            return self.answer_later(
                h,
                id,
                1,
                Err(TransportError::Connect(format!("{}: no route", req.url))),
            );
        };
        if !req.body_parts.is_empty() {
            // No simulated service takes a streamed form.
            let e = TransportError::Staging("streamed bodies are not simulated".into());
            return self.answer_later(h, id, 1, Err(e));
        }
        let body = match &req.body_file {
            Some(name) => match self.hosts[h].staging.get(name) {
                Some(b) => b.clone(),
                None => {
                    let e = TransportError::Staging(format!("{name}: no such staged file"));
                    return self.answer_later(h, id, 1, Err(e));
                }
            },
            None => req.body.clone(),
        };
        let url = req.url.clone();
        self.note(|| format!("node {h}: {:?} {url}", req.method));
        let latency = self.net.latency();
        if self.net.partitioned(h, link, self.now) {
            return self.answer_later(
                h,
                id,
                latency,
                Err(TransportError::Connect("partitioned".into())),
            );
        }
        if self.net.rng.chance(self.net.loss) {
            return self.answer_later(h, id, TIMEOUT_MS, Err(TransportError::Timeout));
        }
        let epoch = self.hosts[h].epoch;
        let outbound = |body: Bytes| {
            Box::new(Outbound {
                method: req.method,
                path: path.clone(),
                query: query.clone(),
                headers: req.headers.clone(),
                body,
            })
        };
        if self.net.rng.chance(self.net.dup) {
            let later = self.net.latency() + self.net.latency();
            let copy = outbound(body.clone());
            self.schedule(
                self.now + later,
                Event::Arrive {
                    node: h,
                    epoch,
                    req: id,
                    link,
                    request: copy,
                    answer: false,
                    save_to: None,
                },
            );
        }
        let request = outbound(body);
        self.schedule(
            self.now + latency,
            Event::Arrive {
                node: h,
                epoch,
                req: id,
                link,
                request,
                answer: true,
                save_to: req.save_to,
            },
        );
    }

    /// A request reaches its service, which answers it.
    #[allow(clippy::too_many_arguments)]
    pub fn arrive(
        &mut self,
        h: usize,
        epoch: u64,
        req: ReqId,
        link: Link,
        request: Outbound,
        answer: bool,
        save_to: Option<String>,
    ) {
        let caller = self.hosts[h].org.clone();
        let call = Call {
            caller: &caller,
            method: request.method,
            path: &request.path,
            query: &request.query,
            headers: &request.headers,
            body: &request.body,
            now: self.now,
        };
        let response = if self.net.out(link, self.now) {
            empty(503)
        } else {
            match link {
                Link::Registry => self.registry.handle(&call),
                Link::Broker => {
                    let (r, effect) = self.broker.handle(&call);
                    if let broker::Effect::Confirmed { recipient, payload } = effect {
                        match sealing::unparcel(&payload) {
                            Ok((sbd, _)) => {
                                self.acknowledged(&recipient, &sbd, "the broker (confirmdownload)")
                            }
                            Err(e) => self
                                .model
                                .violations
                                .push(format!("the broker holds a bad parcel: {e}")),
                        }
                    }
                    r
                }
                Link::Bus => {
                    let (r, effect) = self.bus.handle(&call);
                    if let bus::Effect::Completed { body, .. } = effect {
                        match service_bus::decode_payload(&body) {
                            Ok(p) => {
                                let sbd = Bytes::from(p.sbd.to_string());
                                self.acknowledged(&caller, &sbd, "the Service Bus (complete)");
                            }
                            Err(e) => self
                                .model
                                .violations
                                .push(format!("the Service Bus holds a bad payload: {e}")),
                        }
                    }
                    r
                }
            }
        };
        let (path, status) = (request.path.clone(), response.status);
        self.note(|| {
            format!(
                "{link:?} <- node {h}: {:?} {path} -> {status}{}",
                request.method,
                if answer { "" } else { " (duplicate)" }
            )
        });
        if !answer {
            return;
        }
        let latency = self.net.latency();
        let result = if self.net.rng.chance(self.net.answer_loss) {
            Err(TransportError::Io("connection reset by peer".into()))
        } else {
            Ok(response)
        };
        self.schedule(self.now + latency, Event::Http { node: h, epoch, req, result, save_to });
    }

    /// `org` acknowledged the message with this SBD to its service: it must hold it.
    fn acknowledged(&mut self, org: &str, sbd: &[u8], via: &str) {
        let Some(h) = self.host_of(org) else { return };
        let Ok(sbd) = Sbd::from_json(sbd) else { return };
        if matches!(sbd.message, BusinessMessage::Status(_)) {
            return;
        }
        if let Some(id) = sbd.message_id() {
            self.model.on_service_ack(h, id, &self.hosts[h].store, via);
        }
    }

    pub fn http_answer(
        &mut self,
        h: usize,
        epoch: u64,
        req: ReqId,
        mut result: Result<HttpResponse, TransportError>,
        save_to: Option<String>,
    ) {
        if self.hosts[h].epoch != epoch || self.hosts[h].node.is_none() {
            return;
        }
        if let (Ok(r), Some(name)) = (result.as_mut(), save_to)
            && (200..300).contains(&r.status)
        {
            let body = std::mem::take(&mut r.body);
            self.hosts[h].staging.insert(name, body);
        }
        self.feed(h, Input::Http(req, result));
    }

    /// The node dies: store work not yet done is lost (with `after_write`, the
    /// write at the head of the queue is done first, but its answer is lost),
    /// staging is emptied, open API calls break.
    pub fn crash(&mut self, h: usize, after_write: bool) {
        self.stats.crashes += 1;
        self.note(|| {
            format!("node {h} crashes{}", if after_write { " after a write" } else { "" })
        });
        let host = &mut self.hosts[h];
        if after_write && let Some(StoreOp::Persist(_, w)) = host.store_queue.front() {
            let staged = staged_of(w, &host.staging);
            let r = host.store.persist(w, &mut host.staging);
            if let Some(log) = self.store_log.as_mut() {
                log.push(StoreCall { node: h, op: StoreCallKind::Persist(w.clone(), r), staged });
            }
        }
        self.read_journal(h);
        let host = &mut self.hosts[h];
        host.node = None;
        host.epoch += 1;
        host.store_queue.clear();
        host.store_busy = false;
        host.staging.clear();
        host.wake_at = None;
        host.tick_at = None;
        let calls = std::mem::take(&mut host.calls);
        for (client, kind) in calls.into_values() {
            let at = self.now + 1;
            self.schedule(at, Event::Answer { client, kind, reply: crate::fagsystem::Reply::Lost });
        }
    }

    /// A new node on the same store, woken at once to take up what was left.
    pub fn restart(&mut self, h: usize) {
        if self.hosts[h].node.is_some() {
            return;
        }
        self.note(|| format!("node {h} starts"));
        let seed = self.node_seed();
        let now = self.hosts[h].now(self.now);
        let host = &mut self.hosts[h];
        host.node = Some(Node::new(host.config.clone(), seed, now));
        host.up_since = self.now;
        self.feed(h, Input::Tick);
    }
}

/// The service a URL names, and its path (without the leading `/`) and query.
fn route(url: &str) -> Option<(Link, String, String)> {
    let (link, base) =
        [(Link::Broker, BROKER_URL), (Link::Bus, BUS_URL), (Link::Registry, REGISTRY_URL)]
            .into_iter()
            .find(|(_, base)| {
                let host = base.trim_start_matches("http://").split('/').next().unwrap_or_default();
                url.trim_start_matches("http://").split('/').next() == Some(host)
            })?;
    let _ = base;
    let rest = url.trim_start_matches("http://");
    let rest = rest.split_once('/').map_or("", |(_, r)| r);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Some((link, path.to_owned(), query.to_owned()))
}

/// The staged file a write takes, with its bytes.
fn staged_of(
    w: &efm_core::node::Write,
    staging: &std::collections::BTreeMap<String, Bytes>,
) -> Option<(String, Bytes)> {
    match w {
        efm_core::node::Write::CreateIncoming { message, .. } => {
            let f = message.asic.as_ref()?;
            Some((f.name.clone(), staging.get(&f.name)?.clone()))
        }
        _ => None,
    }
}

fn write_name(w: &efm_core::node::Write) -> &'static str {
    use efm_core::node::Write as W;
    match w {
        W::CreateOutgoing { .. } => "CreateOutgoing",
        W::DeleteConversations(_) => "DeleteConversations",
        W::DeleteOutgoing(_) => "DeleteOutgoing",
        W::AddFile { .. } => "AddFile",
        W::AddStagedFile { .. } => "AddStagedFile",
        W::DequeueStatus(_) => "DequeueStatus",
        W::SaveSubscription { .. } => "SaveSubscription",
        W::DeleteSubscriptions(_) => "DeleteSubscriptions",
        W::PushDone(_) => "PushDone",
        W::PushRetry { .. } => "PushRetry",
        W::QueueOutgoing { .. } => "QueueOutgoing",
        W::RecordOutgoingStatus(_) => "RecordOutgoingStatus",
        W::CreateIncoming { .. } => "CreateIncoming",
        W::RecordIncomingExpired { .. } => "RecordIncomingExpired",
        W::ReplyDone(_) => "ReplyDone",
        W::ReplyRetry { .. } => "ReplyRetry",
        W::LeaseIncoming { .. } => "LeaseIncoming",
        W::DeleteIncoming { .. } => "DeleteIncoming",
        W::ExpireIncoming(_) => "ExpireIncoming",
        W::HandOff(_) => "HandOff",
        W::RetryOutgoing { .. } => "RetryOutgoing",
        W::ExpireConversations { .. } => "ExpireConversations",
        W::ApplyReceivedStatus(_) => "ApplyReceivedStatus",
        W::HandOffWatched { .. } => "HandOffWatched",
        W::Watched { .. } => "Watched",
    }
}
