//! Server messages as they are shared by every client: numbered and encoded once, with
//! what a connection needs to handle them without parsing them again.
//!
//! A `progress` message also records where each figure and the totals sit in its text,
//! so a connection that is behind can send several of them as one `progress` message
//! ([`merge_progress`]) by copying those pieces, without encoding anything again.

use crate::protocol::ServerMessage;
use ferry_core::{JobId, JobProgress, JobStatus, QueueTotals};
use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::ops::Range;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// What kind of message an [`Encoded`] is, so a connection and the replay can handle it
/// without parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Progress figures (listed in [`Encoded::figures`]). `must` is set when one of them
    /// is a stage's last (`current == total`), which is never left out.
    Progress { must: bool },
    /// A job was created or changed state; `terminal` when it reached done, failed or
    /// cancelled (the client must acknowledge it).
    Job { job: JobId, terminal: bool },
    /// A full snapshot, broadcast when the hub itself had to resync with the engine.
    Snapshot,
    /// The queue's totals alone: any later progress or totals message replaces it.
    Totals,
}

/// One figure of an encoded `progress` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Figure {
    pub(crate) job: JobId,
    pub(crate) status: JobStatus,
    /// The stage's last figure (`current == total`): never replaced by one of another
    /// stage, so that every stage's 100 % reaches every client.
    pub(crate) last_of_stage: bool,
    /// Where the figure's JSON object sits in the message's text.
    pub(crate) span: Range<usize>,
}

/// A message numbered and encoded once, shared by every client that sends it.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The message's sequence number.
    pub(crate) seq: u64,
    /// What it is.
    pub(crate) kind: Kind,
    /// The figures of a progress message, in job order (empty for other messages): which
    /// later messages replace it, and the pieces a merge copies.
    pub(crate) figures: Box<[Figure]>,
    /// Where the totals' JSON object sits in the text of a progress message.
    pub(crate) totals: Range<usize>,
    /// The message as JSON text, shared by every client without copying.
    pub(crate) text: Utf8Bytes,
}

impl Encoded {
    /// Encodes any message (use [`Encoded::progress`] for progress figures, so they can be
    /// merged later).
    pub(crate) fn message(
        seq: u64,
        kind: Kind,
        message: &ServerMessage,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            seq,
            kind,
            figures: Box::default(),
            totals: 0..0,
            text: serde_json::to_string(message)?.into(),
        })
    }

    /// Encodes a `progress` message, exactly as serde writes
    /// [`ServerMessage::Progress`], noting where each figure and the totals are.
    pub(crate) fn progress(
        seq: u64,
        progress: &[JobProgress],
        totals: &QueueTotals,
    ) -> Result<Self, serde_json::Error> {
        let mut text: Vec<u8> = Vec::with_capacity(96 + progress.len() * 192);
        text.extend_from_slice(br#"{"type":"progress","seq":"#);
        // Writing into a Vec cannot fail.
        let _ = write!(text, "{seq}");
        text.extend_from_slice(br#","progress":["#);
        let mut figures = Vec::with_capacity(progress.len());
        for (n, figure) in progress.iter().enumerate() {
            if n > 0 {
                text.push(b',');
            }
            let start = text.len();
            serde_json::to_writer(&mut text, figure)?;
            figures.push(Figure {
                job: figure.job_id,
                status: figure.status,
                last_of_stage: figure.current >= figure.total,
                span: start..text.len(),
            });
        }
        text.extend_from_slice(br#"],"totals":"#);
        let totals_start = text.len();
        serde_json::to_writer(&mut text, totals)?;
        let totals_span = totals_start..text.len();
        text.push(b'}');
        // serde_json writes only valid UTF-8, and so does the rest.
        let text = String::from_utf8(text).map_err(serde::ser::Error::custom)?;
        Ok(Self {
            seq,
            kind: Kind::Progress {
                must: figures.iter().any(|f| f.last_of_stage),
            },
            figures: figures.into_boxed_slice(),
            totals: totals_span,
            text: text.into(),
        })
    }

    /// The jobs a message replaces the figures of: a progress message's, or a job
    /// message's job.
    pub(crate) fn replaces(&self) -> impl Iterator<Item = JobId> + '_ {
        let job = match self.kind {
            Kind::Job { job, .. } => Some(job),
            Kind::Progress { .. } | Kind::Snapshot | Kind::Totals => None,
        };
        self.figures.iter().map(|f| f.job).chain(job)
    }

    fn is_progress(&self) -> bool {
        matches!(self.kind, Kind::Progress { .. })
    }

    /// True for the messages that carry the queue's totals.
    pub(crate) fn carries_totals(&self) -> bool {
        matches!(self.kind, Kind::Progress { .. } | Kind::Totals)
    }
}

/// Drops the progress messages of a backlog whose every job and totals later messages
/// replace, and the totals messages a later one replaces, keeping those with a stage's
/// last figure and every other message. Applying the
/// result gives the same state as applying the whole backlog.
pub(crate) fn coalesce_batch<'a>(
    batch: impl DoubleEndedIterator<Item = &'a Arc<Encoded>>,
) -> Vec<Arc<Encoded>> {
    let mut replaced: HashSet<JobId> = HashSet::new();
    let mut totals_replaced = false;
    let mut kept: Vec<Arc<Encoded>> = Vec::new();
    for message in batch.rev() {
        match message.kind {
            Kind::Progress { must } => {
                // Its totals too must be newer in a later message: job and change
                // messages do not carry them.
                let all_replaced =
                    totals_replaced && message.figures.iter().all(|f| replaced.contains(&f.job));
                if must || !all_replaced {
                    kept.push(Arc::clone(message));
                }
            }
            Kind::Totals => {
                if !totals_replaced {
                    kept.push(Arc::clone(message));
                }
            }
            Kind::Job { .. } | Kind::Snapshot => kept.push(Arc::clone(message)),
        }
        replaced.extend(message.replaces());
        totals_replaced |= message.carries_totals();
    }
    kept.reverse();
    kept
}

/// The piece of `message`'s text at `span`.
fn piece<'a>(message: &'a Encoded, span: &Range<usize>) -> Option<&'a str> {
    message.text.as_str().get(span.clone())
}

/// Progress messages sent as one: the text to send, how many of the messages it stands
/// for, and how many of their figures it leaves out (replaced by newer ones).
#[derive(Debug)]
pub(crate) struct Merged {
    pub(crate) text: Utf8Bytes,
    pub(crate) taken: usize,
    pub(crate) replaced: usize,
}

/// Sends the leading run of consecutive `progress` messages of `backlog` as one
/// `progress` message: the newest figure of each job, in job order, with the last
/// message's `seq` and totals. A client applying it ends in the same state as after
/// applying each of them, and the number of frames a client reads no longer grows with
/// the number of jobs when it is behind.
///
/// The run stops before a message that would replace a stage's last figure with one of
/// another stage (never seen in practice: a job message comes between two stages), so
/// every stage's 100 % is still delivered. Returns `None` when `backlog` does not start
/// with two progress messages: the first message then goes out as it is.
pub(crate) fn merge_progress(backlog: &[Arc<Encoded>]) -> Option<Merged> {
    let run = backlog.iter().take_while(|m| m.is_progress()).count();
    if run < 2 {
        return None;
    }
    // For each job, the message and figure that are newest so far.
    let mut newest: BTreeMap<JobId, (&Encoded, &Figure)> = BTreeMap::new();
    let mut taken = 0;
    let mut figures_in = 0;
    for message in &backlog[..run] {
        let replaces_a_last_figure = message.figures.iter().any(|figure| {
            newest
                .get(&figure.job)
                .is_some_and(|(_, old)| old.last_of_stage && old.status != figure.status)
        });
        if replaces_a_last_figure {
            break;
        }
        for figure in &*message.figures {
            newest.insert(figure.job, (message, figure));
        }
        figures_in += message.figures.len();
        taken += 1;
    }
    if taken < 2 {
        return None;
    }
    let last = &backlog[taken - 1];
    let totals = piece(last, &last.totals)?;
    let mut text = String::with_capacity(
        64 + totals.len()
            + newest
                .values()
                .map(|(_, f)| f.span.len() + 1)
                .sum::<usize>(),
    );
    text.push_str(r#"{"type":"progress","seq":"#);
    text.push_str(&last.seq.to_string());
    text.push_str(r#","progress":["#);
    for (n, (message, figure)) in newest.values().enumerate() {
        if n > 0 {
            text.push(',');
        }
        text.push_str(piece(message, &figure.span)?);
    }
    text.push_str(r#"],"totals":"#);
    text.push_str(totals);
    text.push('}');
    Some(Merged {
        text: text.into(),
        taken,
        replaced: figures_in - newest.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(job: i64, status: JobStatus, current: u64) -> JobProgress {
        JobProgress {
            job_id: JobId(job),
            status,
            current,
            total: 100,
            speed: 1234.5,
            eta_secs: (current < 100).then_some(2.5),
            sent: (status == JobStatus::Uploading).then_some(current + 1),
        }
    }

    fn totals(done: u32) -> QueueTotals {
        QueueTotals {
            jobs: 3,
            done,
            bytes_total: 300,
            bytes_done: 120,
            speed: 77.0,
            eta_secs: Some(1.5),
            ..QueueTotals::default()
        }
    }

    fn progress(seq: u64, figures: &[JobProgress], done: u32) -> Arc<Encoded> {
        Arc::new(Encoded::progress(seq, figures, &totals(done)).unwrap())
    }

    fn job_message(seq: u64, job: i64) -> Arc<Encoded> {
        Arc::new(Encoded {
            seq,
            kind: Kind::Job {
                job: JobId(job),
                terminal: false,
            },
            figures: Box::default(),
            totals: 0..0,
            text: Utf8Bytes::from_static(""),
        })
    }

    fn read(text: &str) -> ServerMessage {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_progress_message_is_encoded_exactly_as_serde_writes_it() {
        let figures = [
            figure(1, JobStatus::Hashing, 100),
            figure(4, JobStatus::Uploading, 7),
        ];
        let encoded = Encoded::progress(42, &figures, &totals(1)).unwrap();
        let message = ServerMessage::Progress {
            seq: 42,
            progress: figures.to_vec(),
            totals: totals(1),
        };
        assert_eq!(
            encoded.text.as_str(),
            serde_json::to_string(&message).unwrap()
        );
        assert_eq!(encoded.kind, Kind::Progress { must: true });
        for (figure, original) in encoded.figures.iter().zip(&figures) {
            let piece = &encoded.text.as_str()[figure.span.clone()];
            assert_eq!(piece, serde_json::to_string(original).unwrap());
        }
        let totals_piece = &encoded.text.as_str()[encoded.totals.clone()];
        assert_eq!(totals_piece, serde_json::to_string(&totals(1)).unwrap());
    }

    #[test]
    fn merged_progress_reads_as_exactly_the_message_serde_writes_for_the_newest_figures() {
        let backlog = [
            progress(
                10,
                &[
                    figure(3, JobStatus::Uploading, 10),
                    figure(7, JobStatus::Hashing, 5),
                ],
                0,
            ),
            progress(11, &[figure(1, JobStatus::Verifying, 50)], 0),
            progress(12, &[figure(3, JobStatus::Uploading, 20)], 1),
            job_message(13, 9),
            progress(14, &[figure(3, JobStatus::Uploading, 30)], 1),
        ];
        let merged = merge_progress(&backlog).unwrap();
        assert_eq!(merged.taken, 3, "the run ends at the job message");
        assert_eq!(merged.replaced, 1, "job 3's first figure is replaced");
        let expected = ServerMessage::Progress {
            seq: 12,
            progress: vec![
                figure(1, JobStatus::Verifying, 50),
                figure(3, JobStatus::Uploading, 20),
                figure(7, JobStatus::Hashing, 5),
            ],
            totals: totals(1),
        };
        assert_eq!(read(merged.text.as_str()), expected);
        assert_eq!(
            merged.text.as_str(),
            serde_json::to_string(&expected).unwrap()
        );
        assert!(
            merge_progress(&backlog[3..]).is_none(),
            "a job message first"
        );
        assert!(merge_progress(&backlog[4..]).is_none(), "a single message");
    }

    #[test]
    fn a_merge_never_replaces_a_stage_last_figure_with_one_of_another_stage() {
        let backlog = [
            progress(1, &[figure(1, JobStatus::Hashing, 40)], 0),
            progress(2, &[figure(1, JobStatus::Hashing, 100)], 0),
            progress(3, &[figure(1, JobStatus::Uploading, 5)], 0),
        ];
        let merged = merge_progress(&backlog).unwrap();
        assert_eq!(merged.taken, 2);
        let ServerMessage::Progress { seq, progress, .. } = read(merged.text.as_str()) else {
            panic!("not a progress message");
        };
        assert_eq!(seq, 2);
        assert_eq!(progress, [figure(1, JobStatus::Hashing, 100)]);
    }

    #[test]
    fn a_backlog_leaves_out_only_progress_whose_every_job_is_replaced_later() {
        let f = |job| figure(job, JobStatus::Uploading, 1);
        let must = |job| figure(job, JobStatus::Uploading, 100);
        let backlog = [
            progress(1, &[f(1), f(2)], 0),
            progress(2, &[f(1)], 0),
            progress(3, &[must(2)], 0),
            job_message(4, 2),
            progress(5, &[f(1), f(3)], 0),
            progress(6, &[f(3)], 0),
        ];
        let kept: Vec<u64> = coalesce_batch(backlog.iter())
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(kept, [3, 4, 5, 6]);
    }

    #[test]
    fn a_backlog_keeps_the_newest_totals_whichever_message_carries_them() {
        let f = |job| figure(job, JobStatus::Uploading, 1);
        let totals_message = |seq| {
            let message = ServerMessage::Totals {
                seq,
                totals: totals(1),
            };
            Arc::new(Encoded::message(seq, Kind::Totals, &message).unwrap())
        };
        let kept = |backlog: &[Arc<Encoded>]| -> Vec<u64> {
            coalesce_batch(backlog.iter())
                .iter()
                .map(|m| m.seq)
                .collect()
        };
        // Job messages carry no totals: the progress message before them stays for its.
        assert_eq!(kept(&[progress(1, &[f(1)], 0), job_message(2, 1)]), [1, 2]);
        assert_eq!(
            kept(&[
                progress(1, &[f(1)], 0),
                job_message(2, 1),
                totals_message(3),
                totals_message(4),
                job_message(5, 1),
            ]),
            [2, 4, 5]
        );
        assert_eq!(
            kept(&[totals_message(1), progress(2, &[f(1)], 0)]),
            [2],
            "a progress message carries newer totals"
        );
    }
}
