//! `change` messages: what the hub sends instead of a whole job when it can. Applying a
//! change to the job as it was gives the job as it is, for any pair of states; a change
//! is refused when it cannot say what happened (a field cleared, a fixed field changed).

use ferry_core::{JobId, JobProgress, JobStatus, JobView};
use ferry_ws::JobChange;
use proptest::prelude::*;

const STATUSES: [JobStatus; 9] = [
    JobStatus::Queued,
    JobStatus::Hashing,
    JobStatus::Parsing,
    JobStatus::Uploading,
    JobStatus::Verifying,
    JobStatus::Done,
    JobStatus::Failed,
    JobStatus::Paused,
    JobStatus::Cancelled,
];

/// One of the job's optional fields: absent, or one of two values.
fn optional() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("a".to_owned())),
        Just(Some("b".to_owned()))
    ]
}

/// Job 7 in `status` at `current` bytes of 1,000, with no optional field set.
fn job(status: JobStatus, current: u64) -> JobView {
    JobView {
        id: JobId(7),
        path: "/home/ana/report.pdf".into(),
        name: "report.pdf".into(),
        size: 1000,
        status,
        progress: JobProgress {
            job_id: JobId(7),
            status,
            current,
            total: 1000,
            speed: 12.5,
            eta_secs: None,
            sent: None,
        },
        mime: None,
        hash: None,
        remote: None,
        error: None,
        note: None,
        created_at_ms: 1_795_000_000_000,
    }
}

/// A state of job 7 (the fields that never change fixed, the others arbitrary).
fn state() -> impl Strategy<Value = JobView> {
    (
        0..STATUSES.len(),
        0..=1000_u64,
        optional(),
        optional(),
        optional(),
        optional(),
        optional(),
    )
        .prop_map(
            |(status, current, mime, hash, remote, error, note)| JobView {
                mime,
                hash,
                remote,
                error,
                note,
                ..job(STATUSES[status], current)
            },
        )
}

fn clears_a_field(before: &JobView, after: &JobView) -> bool {
    [
        (&before.mime, &after.mime),
        (&before.hash, &after.hash),
        (&before.remote, &after.remote),
        (&before.error, &after.error),
        (&before.note, &after.note),
    ]
    .iter()
    .any(|(old, new)| old.is_some() && new.is_none())
}

proptest! {
    #[test]
    fn a_change_applied_to_the_job_as_it_was_gives_the_job_as_it_is(
        before in state(),
        after in state(),
    ) {
        match JobChange::between(&before, &after) {
            Some(change) => {
                prop_assert!(!clears_a_field(&before, &after));
                let mut applied = before.clone();
                change.apply_to(&mut applied);
                prop_assert_eq!(applied, after);
            }
            None => prop_assert!(clears_a_field(&before, &after)),
        }
    }
}

#[test]
fn a_change_is_refused_for_another_job_or_a_changed_fixed_field() {
    let job = job(JobStatus::Uploading, 10);
    let renamed = JobView {
        name: "other.pdf".into(),
        ..job.clone()
    };
    let another = JobView {
        id: JobId(8),
        ..job.clone()
    };
    let resized = JobView {
        size: 2000,
        ..job.clone()
    };
    for after in [renamed, another, resized] {
        assert_eq!(JobChange::between(&job, &after), None);
    }
}

#[test]
fn a_stage_change_costs_a_fraction_of_the_whole_job() {
    let before = JobView {
        hash: Some("9f".repeat(32)),
        ..job(JobStatus::Uploading, 1000)
    };
    let after = JobView {
        hash: before.hash.clone(),
        remote: Some("/srv/uploads/report.pdf".into()),
        ..job(JobStatus::Verifying, 0)
    };
    let change = JobChange::between(&before, &after).expect("a stage change is a change");
    let change_len = serde_json::to_string(&change).unwrap().len();
    let job_len = serde_json::to_string(&after).unwrap().len();
    assert!(
        change_len * 2 < job_len,
        "a change of {change_len} bytes against the whole job's {job_len}"
    );
    assert_eq!(change.hash, None, "an unchanged hash travels again");
}
