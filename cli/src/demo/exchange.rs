//! The exchange itself: both fagsystems and the timeline on threads of their own,
//! until everything is through, something fails, the time is up or a signal comes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::DemoError;
use super::asic;
use super::fagsystem::Fagsystem;
use super::messages::{Message, Plan, Role, Side};
use super::timeline::{Timeline, Verdict, short};

/// What ends a run early.
pub struct Ends {
    pub deadline: Instant,
    pub limit: Duration,
    /// Set by SIGINT or SIGTERM.
    pub interrupted: Arc<AtomicBool>,
}

/// How the run ends: the first outcome any thread reports wins.
struct Outcome {
    result: Mutex<Option<Result<(), DemoError>>>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Outcome {
    fn settle(&self, r: Result<(), DemoError>) {
        let mut result = self.result.lock().unwrap_or_else(|p| p.into_inner());
        if result.is_none() {
            *result = Some(r);
        }
        self.stop.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The outcome, once one is settled, the deadline passes or a signal comes.
    fn wait(&self, ends: &Ends) -> Waited {
        let mut result = self.result.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = result.take() {
                return Waited::Settled(r);
            }
            if ends.interrupted.load(Ordering::SeqCst) {
                return Waited::Interrupted;
            }
            let Some(left) = ends.deadline.checked_duration_since(Instant::now()) else {
                return Waited::OutOfTime;
            };
            let slice = left.min(SIGNAL_CHECK);
            result = self.changed.wait_timeout(result, slice).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

enum Waited {
    Settled(Result<(), DemoError>),
    OutOfTime,
    Interrupted,
}

/// How often a waiting run looks whether it was interrupted.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// How often the fagsystems look for new statuses and messages.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Run both fagsystems and the timeline until everything is through, something
/// fails or the deadline passes. Returns the time from the first send.
pub fn exchange(
    plan: &Plan,
    fa: &Fagsystem,
    fb: &Fagsystem,
    ends: &Ends,
) -> Result<Duration, DemoError> {
    let outcome =
        Outcome { result: Mutex::new(None), changed: Condvar::new(), stop: AtomicBool::new(false) };
    let timeline = Mutex::new(Timeline::new(plan, Box::new(std::io::stdout())));
    lock(&timeline).start_clock();
    std::thread::scope(|s| {
        let outcome = &outcome;
        let timeline = &timeline;
        settling(s, "demo-timeline", outcome, move || watch(fa, fb, timeline, outcome));
        let both = [fa, fb];
        settling(s, "demo-fagsystem-b", outcome, move || {
            receive_at_b(plan, both, timeline, outcome)
        });
        settling(s, "demo-fagsystem-a", outcome, move || {
            send_from_a(plan, both, timeline, outcome)
        });
        let result = match outcome.wait(ends) {
            Waited::Settled(r) => r,
            Waited::Interrupted => Err(DemoError::Interrupted),
            Waited::OutOfTime => Err(DemoError::Timeout {
                limit: ends.limit,
                outstanding: lock(timeline).outstanding(),
            }),
        };
        // Whatever the end, the threads stop at their next look; a call in flight
        // ends within the client's timeout.
        outcome.settle(Ok(()));
        result.map(|()| lock(timeline).elapsed())
    })
}

/// The timeline, also if a thread panicked while printing: it holds nothing half-done.
fn lock(t: &Mutex<Timeline>) -> std::sync::MutexGuard<'_, Timeline> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run `f` on a thread of its own; its error settles the outcome.
fn settling<'scope, F>(
    s: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    outcome: &'scope Outcome,
    f: F,
) where
    F: FnOnce() -> Result<(), DemoError> + Send + 'scope,
{
    let spawned = std::thread::Builder::new().name(name.into()).spawn_scoped(s, move || {
        if let Err(e) = f() {
            outcome.settle(Err(e));
        }
    });
    if let Err(e) = spawned {
        outcome.settle(Err(DemoError::Thread(e)));
    }
}

/// The timeline's loop: read both nodes' new statuses, print them, and settle the
/// outcome when everything is through or something failed.
fn watch(
    fa: &Fagsystem,
    fb: &Fagsystem,
    timeline: &Mutex<Timeline>,
    outcome: &Outcome,
) -> Result<(), DemoError> {
    while !outcome.stopped() {
        let mut t = lock(timeline);
        t.catch_up(fa, fb)?;
        match t.verdict() {
            Verdict::Done => {
                t.flush();
                outcome.settle(Ok(()));
            }
            Verdict::Failed(why) => {
                t.flush();
                return Err(DemoError::MessageFailed(why));
            }
            Verdict::Pending => {}
        }
        drop(t);
        std::thread::sleep(LOOK_EVERY);
    }
    Ok(())
}

/// Show a fagsystem's step in the timeline, after the statuses recorded before it.
fn note(
    timeline: &Mutex<Timeline>,
    both: [&Fagsystem; 2],
    side: Side,
    id: &str,
    text: &str,
) -> Result<(), DemoError> {
    let mut t = lock(timeline);
    t.catch_up(both[0], both[1])?;
    t.note(side, id, text);
    Ok(())
}

/// A's fagsystem: send everything, then take B's receipt.
fn send_from_a(
    plan: &Plan,
    both: [&Fagsystem; 2],
    timeline: &Mutex<Timeline>,
    outcome: &Outcome,
) -> Result<(), DemoError> {
    let fa = both[0];
    for m in plan.sent_by_a() {
        if outcome.stopped() {
            return Ok(());
        }
        fa.send_message(m)?;
    }
    while !outcome.stopped() {
        let Some(sbd) = fa.peek()? else {
            std::thread::sleep(LOOK_EVERY);
            continue;
        };
        let id = message_id(&sbd, Side::A)?;
        let k = &plan.kvittering;
        if id != k.id {
            let why = "only B's receipt is sent to A".to_owned();
            return Err(DemoError::Unexpected { side: Side::A, id, why });
        }
        let answer = &sbd["arkivmelding_kvittering"];
        let related = answer["relatedToMessageId"].as_str().unwrap_or_default();
        if related != plan.documents.id || answer["receiptType"] != "OK" {
            let why = format!("the receipt says {answer}, not OK for {}", plan.documents.id);
            return Err(DemoError::Unexpected { side: Side::A, id, why });
        }
        let container = fa.pop(&id)?;
        if !container.is_empty() {
            let why = format!("a receipt carries no files, but pop gave {} bytes", container.len());
            return Err(DemoError::Unexpected { side: Side::A, id, why });
        }
        let text = format!("popped: receiptType OK for {}", short(&plan.documents.id));
        note(timeline, both, Side::A, &id, &text)?;
        return fa.delete(&id);
    }
    Ok(())
}

/// B's fagsystem: take every message A sends, check its files against what A sent,
/// and answer the arkivmelding with documents with a receipt.
fn receive_at_b(
    plan: &Plan,
    both: [&Fagsystem; 2],
    timeline: &Mutex<Timeline>,
    outcome: &Outcome,
) -> Result<(), DemoError> {
    let fb = both[1];
    let expected: HashSet<&str> = plan.to_b().map(|m| m.id.as_str()).collect();
    let mut taken: HashSet<String> = HashSet::new();
    while taken.len() < expected.len() && !outcome.stopped() {
        let Some(sbd) = fb.peek()? else {
            std::thread::sleep(LOOK_EVERY);
            continue;
        };
        let id = message_id(&sbd, Side::B)?;
        let Some(m) = plan.by_id(&id).filter(|m| expected.contains(m.id.as_str())) else {
            let why = "A sent no such message".to_owned();
            return Err(DemoError::Unexpected { side: Side::B, id, why });
        };
        if taken.contains(&id) {
            let why = "it was taken and deleted before".to_owned();
            return Err(DemoError::Unexpected { side: Side::B, id, why });
        }
        let container = fb.pop(&id)?;
        check_files(m, &container)?;
        match m.role {
            Role::Documents => {
                let text = format!("popped: {} files, each byte-equal to A's", m.files.len());
                note(timeline, both, Side::B, &id, &text)?;
            }
            Role::Innsynskrav => {
                note(timeline, both, Side::B, &id, "popped: the order file, byte-equal to A's")?;
            }
            _ => {}
        }
        fb.delete(&id)?;
        taken.insert(id.clone());
        if m.role == Role::Documents {
            // The archive has journaled it: answer with a receipt.
            fb.send_message(&plan.kvittering)?;
            let text = format!("sent: receiptType OK for {}", short(&id));
            note(timeline, both, Side::B, &plan.kvittering.id, &text)?;
        }
    }
    Ok(())
}

fn message_id(sbd: &serde_json::Value, side: Side) -> Result<String, DemoError> {
    sbd["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| DemoError::Unexpected {
            side,
            id: "a message".into(),
            why: "its SBD has no messageId".into(),
        })
}

/// The popped container holds exactly the files A sent, byte for byte.
fn check_files(m: &Message, container: &[u8]) -> Result<(), DemoError> {
    let mismatch = |why: String| DemoError::Mismatch { id: m.id.clone(), why };
    let documents = asic::documents(container).map_err(|e| mismatch(e.to_string()))?;
    for f in &m.files {
        match documents.iter().find(|(name, _)| *name == f.name) {
            None => return Err(mismatch(format!("{} is missing", f.name))),
            Some((_, got)) if *got != f.content => {
                return Err(mismatch(format!(
                    "{} differs ({} bytes, {} sent)",
                    f.name,
                    got.len(),
                    f.content.len()
                )));
            }
            Some(_) => {}
        }
    }
    if documents.len() != m.files.len() {
        let names: Vec<&str> = documents.iter().map(|(n, _)| n.as_str()).collect();
        return Err(mismatch(format!(
            "it holds {}, not {} files",
            names.join(", "),
            m.files.len()
        )));
    }
    Ok(())
}
