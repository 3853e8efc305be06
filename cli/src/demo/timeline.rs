//! The live timeline: each status either node records, printed once as it appears,
//! and the verdict on the run (every message delivered, one failed, or still
//! under way). The stream of small messages is summed up per status and round,
//! so that twenty messages make a handful of lines, not a hundred.

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use super::DemoError;
use super::fagsystem::{Fagsystem, StatusRow};
use super::messages::{Plan, Role, Side};

/// Statuses read per request.
const PAGE: u64 = 500;

/// Where one node's status list was read up to.
#[derive(Default)]
pub struct StatusFeed {
    /// Rows of the id-ordered list already read.
    read: u64,
    last_id: i64,
}

impl StatusFeed {
    /// The statuses recorded since the last call, oldest first.
    pub fn next(&mut self, fagsystem: &Fagsystem) -> Result<Vec<StatusRow>, DemoError> {
        let mut fresh = Vec::new();
        loop {
            let rows = fagsystem.statuses(self.read / PAGE, PAGE)?;
            let skip = usize::try_from(self.read % PAGE).unwrap_or(usize::MAX);
            let full = rows.len() as u64 == PAGE;
            let new: Vec<StatusRow> = rows.into_iter().skip(skip).collect();
            self.read += new.len() as u64;
            // Ids only grow; a row at or below the last one seen was read before.
            for row in new {
                if row.id > self.last_id {
                    self.last_id = row.id;
                    fresh.push(row);
                }
            }
            if !full {
                return Ok(fresh);
            }
        }
    }
}

/// What a message is, for the timeline.
struct Tracked {
    label: String,
    role: Role,
}

pub enum Verdict {
    /// Every message reached what it should.
    Done,
    /// A message failed; why.
    Failed(String),
    Pending,
}

pub struct Timeline {
    start: Instant,
    out: Box<dyn Write + Send>,
    feeds: [StatusFeed; 2],
    tracked: HashMap<String, Tracked>,
    stream_total: usize,
    /// The statuses each node recorded for each message, oldest first.
    reached: HashMap<(Side, String), Vec<String>>,
    /// The stream's progress at each node.
    stream: [StreamProgress; 2],
    /// Failure statuses seen, described.
    failures: Vec<String>,
}

/// How many of the stream's messages reached each status at one node, and when
/// that was last shown.
#[derive(Default)]
struct StreamProgress {
    /// Per status, in the order they first appeared.
    counts: Vec<(String, usize)>,
    /// Changed since last shown.
    changed: bool,
    shown: Option<Instant>,
}

/// Statuses after which a message goes no further.
const FAILED: [&str; 2] = ["FEIL", "LEVETID_UTLOPT"];

/// The stream's progress is shown at most this often per node, and whenever a
/// status is reached by every message of the stream.
const STREAM_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

impl Timeline {
    pub fn new(plan: &Plan, out: Box<dyn Write + Send>) -> Self {
        let tracked = plan
            .all()
            .map(|m| (m.id.clone(), Tracked { label: m.label(), role: m.role }))
            .collect();
        Timeline {
            start: Instant::now(),
            out,
            feeds: Default::default(),
            tracked,
            stream_total: plan.stream.len(),
            reached: HashMap::new(),
            stream: Default::default(),
            failures: Vec::new(),
        }
    }

    /// Time is counted from here: the first send.
    pub fn start_clock(&mut self) {
        self.start = Instant::now();
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    /// Read, record and print what both nodes recorded since the last look.
    pub fn catch_up(&mut self, a: &Fagsystem, b: &Fagsystem) -> Result<(), DemoError> {
        for (side, fagsystem) in [(Side::A, a), (Side::B, b)] {
            let rows = self.feeds[index(side)].next(fagsystem)?;
            if !rows.is_empty() {
                self.observe(side, rows);
            }
        }
        Ok(())
    }

    /// Record and print one node's new statuses.
    pub fn observe(&mut self, side: Side, rows: Vec<StatusRow>) {
        let mut completed = false;
        for row in rows {
            let tracked = self.tracked.get(&row.message_id);
            let failed = FAILED.contains(&row.status.as_str());
            if failed {
                let label = tracked.map_or("an unknown message", |t| t.label.as_str());
                self.failures.push(format!(
                    "{label} {} ended {} at {side}: {}",
                    short(&row.message_id),
                    row.status,
                    row.description.as_deref().unwrap_or("no description")
                ));
            }
            match tracked {
                // OPPRETTET says only that the message exists; the stream's line
                // counts how far its messages got.
                Some(t) if t.role == Role::Stream && !failed => {
                    if row.status != "OPPRETTET" {
                        let total = self.stream_total;
                        let progress = &mut self.stream[index(side)];
                        let i = match progress.counts.iter().position(|(s, _)| *s == row.status) {
                            Some(i) => i,
                            None => {
                                progress.counts.push((row.status.clone(), 0));
                                progress.counts.len() - 1
                            }
                        };
                        if let Some((_, n)) = progress.counts.get_mut(i) {
                            *n += 1;
                            completed |= *n == total;
                        }
                        progress.changed = true;
                    }
                }
                _ => {
                    let label = tracked.map_or("?", |t| t.label.as_str()).to_owned();
                    let mut status = row.status.clone();
                    if failed && let Some(d) = &row.description {
                        status = format!("{status}: {d}");
                    }
                    self.line(side, short(&row.message_id), &label, &status);
                }
            }
            self.reached.entry((side, row.message_id)).or_default().push(row.status);
        }
        let due = self.stream[index(side)].shown.is_none_or(|t| t.elapsed() >= STREAM_EVERY);
        if completed || due {
            self.show_stream(side);
        }
        let _ = self.out.flush();
    }

    /// Print the stream's progress at `side` if it changed since last shown.
    fn show_stream(&mut self, side: Side) {
        let progress = &mut self.stream[index(side)];
        if !progress.changed {
            return;
        }
        progress.changed = false;
        progress.shown = Some(Instant::now());
        let counts: Vec<String> = progress.counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let label = super::messages::small_arkivmeldinger(self.stream_total);
        self.line(side, "stream", &label, &counts.join("  "));
    }

    /// Print what is not shown yet: at the end of the run.
    pub fn flush(&mut self) {
        self.show_stream(Side::A);
        self.show_stream(Side::B);
        let _ = self.out.flush();
    }

    /// A fagsystem's step worth showing beside the statuses.
    pub fn note(&mut self, side: Side, message_id: &str, text: &str) {
        let label = self.tracked.get(message_id).map_or("?", |t| t.label.as_str()).to_owned();
        self.line(side, short(message_id), &label, text);
        let _ = self.out.flush();
    }

    fn line(&mut self, side: Side, id: &str, label: &str, what: &str) {
        let t = self.start.elapsed().as_secs_f64();
        // Printing is best effort: a closed stdout must not stop the exchange.
        let _ =
            writeln!(self.out, "{:>8}  {side}  {id:<8}  {label:<24}  {what}", format!("+{t:.2}s"));
    }

    fn has(&self, side: Side, id: &str, status: &str) -> bool {
        self.reached.get(&(side, id.to_owned())).is_some_and(|s| s.iter().any(|x| x == status))
    }

    /// Whether a message reached its [`goal`] at its sender.
    fn complete(&self, id: &str, role: Role) -> bool {
        let side = role.sender();
        match goal(role) {
            "LEST" => self.has(side, id, "LEST"),
            _ => self.has(side, id, "LEVERT") || self.has(side, id, "LEST"),
        }
    }

    pub fn verdict(&self) -> Verdict {
        if let Some(f) = self.failures.first() {
            return Verdict::Failed(f.clone());
        }
        if self.tracked.iter().all(|(id, t)| self.complete(id, t.role)) {
            Verdict::Done
        } else {
            Verdict::Pending
        }
    }

    /// The messages still under way, for a timeout's report.
    pub fn outstanding(&self) -> String {
        let mut open: Vec<String> = self
            .tracked
            .iter()
            .filter(|(id, t)| !self.complete(id, t.role))
            .map(|(id, t)| {
                let side = t.role.sender();
                let last = self
                    .reached
                    .get(&(side, id.clone()))
                    .and_then(|s| s.last())
                    .map_or("no status yet", String::as_str);
                format!("{} {} at {side}: {last}, not {}", t.label, short(id), goal(t.role))
            })
            .collect();
        open.sort();
        let more = open.len().saturating_sub(5);
        open.truncate(5);
        let mut text = format!("{} message(s) not through: {}", open.len() + more, open.join("; "));
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        text
    }
}

/// The status a message must reach at its sender: LEST for the arkivmelding B
/// answers with a receipt, and for the legs to DPV (Correspondence reads it), DPF
/// (SvarUt says it was read) and DPI (the opening receipt); LEVERT (or the LEST
/// beyond it) for the others.
fn goal(role: Role) -> &'static str {
    match role {
        Role::Documents | Role::Dpv | Role::Dpf | Role::Dpi => "LEST",
        Role::Innsynskrav | Role::Stream | Role::Kvittering => "LEVERT",
    }
}

/// The first eight characters of a messageId: enough to tell them apart here.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::messages::PARTIES;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn row(id: i64, message_id: &str, status: &str) -> StatusRow {
        StatusRow {
            id,
            status: status.into(),
            description: Some("why".into()),
            message_id: message_id.into(),
        }
    }

    #[test]
    fn done_only_when_every_message_is_through_and_the_answered_one_is_read() {
        let rng = ring::rand::SystemRandom::new();
        let plan = Plan::new(PARTIES, 2, "x", &rng).unwrap();
        let out = Captured::default();
        let mut t = Timeline::new(&plan, Box::new(out.clone()));
        let mut n = 0;
        let mut next = |m: &str, s: &str| {
            n += 1;
            row(n, m, s)
        };
        let mut rows = Vec::new();
        for m in plan.sent_by_a() {
            rows.push(next(&m.id, "SENDT"));
            rows.push(next(&m.id, "LEVERT"));
        }
        t.observe(Side::A, rows);
        assert!(matches!(t.verdict(), Verdict::Pending), "the receipt is not back yet");
        t.observe(Side::A, vec![next(&plan.documents.id, "LEST")]);
        assert!(matches!(t.verdict(), Verdict::Pending), "the other legs are not read yet");
        assert!(t.outstanding().starts_with("4 message(s) not through: "), "{}", t.outstanding());
        let read: Vec<StatusRow> = plan.others.iter().map(|m| next(&m.id, "LEST")).collect();
        t.observe(Side::A, read);
        assert!(matches!(t.verdict(), Verdict::Pending), "B's receipt is not delivered yet");
        assert!(t.outstanding().starts_with("1 message(s) not through: arkivmelding_kvittering"));
        t.observe(Side::B, vec![next(&plan.kvittering.id, "LEVERT")]);
        assert!(matches!(t.verdict(), Verdict::Done));

        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let stream: Vec<&str> =
            text.lines().filter(|l| l.contains("2 small arkivmeldinger")).collect();
        assert_eq!(stream.len(), 1, "one round, one line: {text}");
        assert!(stream[0].ends_with("SENDT 2  LEVERT 2"), "{text}");
        assert!(text.contains(&format!("A  {}  arkivmelding, 4 files", &plan.documents.id[..8])));
    }

    #[test]
    fn a_failed_message_fails_the_run_with_its_description() {
        let rng = ring::rand::SystemRandom::new();
        let plan = Plan::new(PARTIES, 0, "x", &rng).unwrap();
        let mut t = Timeline::new(&plan, Box::new(Captured::default()));
        t.observe(Side::A, vec![row(1, &plan.innsynskrav.id, "FEIL")]);
        let Verdict::Failed(why) = t.verdict() else { panic!("a failure") };
        assert!(why.starts_with("innsynskrav, 1 file"), "{why}");
        assert!(why.ends_with("ended FEIL at A: why"), "{why}");
    }
}
