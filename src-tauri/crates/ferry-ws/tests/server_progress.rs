//! Live progress of real jobs reaches every client, in order, and commands get replies.

mod support;

use ferry_core::{JobId, JobStatus};
use ferry_ws::protocol::ErrorCode;
use ferry_ws::{Client, ClientMessage, Command, CommandResult, ServerMessage, WsError};
use support::{expect_welcome, next, within, Fixture};
use tokio_tungstenite::tungstenite::Message;

/// Reads until `job` is done, checking that `seq` only grows and that upload progress
/// never goes backwards. Returns the stages seen, in order.
async fn follow_until_done(client: &mut Client, job: JobId, mut last_seq: u64) -> Vec<JobStatus> {
    let mut stages = Vec::new();
    let mut uploaded = 0;
    loop {
        let message = next(client).await;
        let seq = message.seq();
        assert!(
            seq > last_seq || matches!(message, ServerMessage::Reply { .. }),
            "seq went from {last_seq} to {seq}"
        );
        last_seq = last_seq.max(seq);
        match message {
            ServerMessage::Progress { progress, .. } => {
                for figure in progress.iter().filter(|p| p.job_id == job) {
                    if figure.status == JobStatus::Uploading {
                        assert!(figure.current >= uploaded, "upload progress went backwards");
                        assert!(figure.current <= figure.total);
                        uploaded = figure.current;
                    }
                    if stages.last() != Some(&figure.status) {
                        stages.push(figure.status);
                    }
                }
            }
            message => {
                let Some((_, status)) = message.job_status().filter(|(id, _)| *id == job) else {
                    continue;
                };
                if stages.last() != Some(&status) {
                    stages.push(status);
                }
                if status == JobStatus::Done {
                    return stages;
                }
                assert!(
                    !status.is_terminal(),
                    "the job ended {status:?}: {:?}",
                    client.state().jobs[&job].error
                );
            }
        }
    }
}

fn welcome_seq(message: &ServerMessage) -> u64 {
    match message {
        ServerMessage::Welcome { seq, .. } => *seq,
        other => panic!("expected a welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_gets_the_snapshot_then_live_progress_of_a_real_job() {
    let fixture = Fixture::start().await;
    let source = fixture.source("report.pdf", 3 * 1024 * 1024 + 17);
    let mut client = fixture.client().await;
    let seq = welcome_seq(&expect_welcome(&mut client).await);

    let report = fixture.engine.enqueue(vec![source.clone()]).await.unwrap();
    let job = report.jobs[0];
    let stages = within(
        "the job to finish",
        follow_until_done(&mut client, job, seq),
    )
    .await;
    for stage in [
        JobStatus::Hashing,
        JobStatus::Uploading,
        JobStatus::Verifying,
        JobStatus::Done,
    ] {
        assert!(
            stages.contains(&stage),
            "stage {stage:?} was never reported; saw {stages:?}"
        );
    }
    let copy = std::fs::read(fixture.destination().join("report.pdf")).unwrap();
    assert_eq!(copy, std::fs::read(&source).unwrap());

    // A client connecting afterwards starts from a snapshot that already holds the result.
    let mut late = fixture.client().await;
    match expect_welcome(&mut late).await {
        ServerMessage::Welcome { snapshot, .. } => {
            let view = snapshot.jobs.iter().find(|j| j.id == job).unwrap();
            assert_eq!(view.status, JobStatus::Done);
            assert_eq!(snapshot.totals.done, 1);
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn two_clients_both_receive_the_progress() {
    let fixture = Fixture::start().await;
    let source = fixture.source("video.mp4", 2 * 1024 * 1024);
    let mut first = fixture.client().await;
    let mut second = fixture.client().await;
    let first_seq = welcome_seq(&expect_welcome(&mut first).await);
    let second_seq = welcome_seq(&expect_welcome(&mut second).await);

    let job = fixture.engine.enqueue(vec![source]).await.unwrap().jobs[0];
    let (a, b) = tokio::join!(
        within(
            "the first client",
            follow_until_done(&mut first, job, first_seq)
        ),
        within(
            "the second client",
            follow_until_done(&mut second, job, second_seq)
        ),
    );
    assert_eq!(a.last(), Some(&JobStatus::Done));
    assert_eq!(b.last(), Some(&JobStatus::Done));
}

#[tokio::test]
async fn an_enqueue_command_is_answered_with_the_jobs_it_created() {
    let fixture = Fixture::start().await;
    let source = fixture.source("notes.txt", 4096);
    let missing = fixture.dir.path().join("sources").join("missing.txt");
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    client
        .send(&ClientMessage::Command {
            id: "c-1".into(),
            command: Command::Enqueue {
                paths: vec![source.display().to_string(), missing.display().to_string()],
            },
        })
        .await
        .unwrap();
    let reply = loop {
        if let ServerMessage::Reply {
            id, result, error, ..
        } = next(&mut client).await
        {
            assert_eq!(id, "c-1");
            assert!(error.is_none(), "{error:?}");
            break result.unwrap();
        }
    };
    match reply {
        CommandResult::Enqueued { report } => {
            assert_eq!(report.jobs.len(), 1);
            assert_eq!(report.skipped.len(), 1);
            assert!(report.skipped[0].path.ends_with("missing.txt"));
        }
        other @ CommandResult::Job { .. } => panic!("expected an enqueue report, got {other:?}"),
    }
}

#[tokio::test]
async fn a_command_for_an_unknown_job_is_answered_with_an_error() {
    let fixture = Fixture::start().await;
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    client
        .send(&ClientMessage::Command {
            id: "c-2".into(),
            command: Command::Pause {
                job_id: JobId(987_654),
            },
        })
        .await
        .unwrap();
    loop {
        if let ServerMessage::Reply {
            id, result, error, ..
        } = next(&mut client).await
        {
            assert_eq!(id, "c-2");
            assert!(result.is_none());
            assert_eq!(error.unwrap().code, ErrorCode::UnknownJob);
            break;
        }
    }
}

#[tokio::test]
async fn malformed_messages_get_an_error_and_the_connection_stays_usable() {
    let fixture = Fixture::start().await;
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    for bad in [
        "not json",
        r#"{"type":"launch_missiles"}"#,
        r#"{"type":"command","id":"x"}"#,
    ] {
        client.send_raw(Message::text(bad)).await.unwrap();
        match next(&mut client).await {
            ServerMessage::Error { error, .. } => {
                assert_eq!(error.code, ErrorCode::InvalidData);
                assert!(
                    error.message.contains("not a valid ferry.v1 message"),
                    "{}",
                    error.message
                );
            }
            other => panic!("expected an error for {bad:?}, got {other:?}"),
        }
    }
    client
        .send_raw(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut client).await,
        ServerMessage::Error { .. }
    ));
    // Still usable: a valid command is answered.
    client
        .send(&ClientMessage::Command {
            id: "ok".into(),
            command: Command::Enqueue { paths: vec![] },
        })
        .await
        .unwrap();
    assert!(matches!(
        next(&mut client).await,
        ServerMessage::Reply { .. }
    ));
}

#[tokio::test]
async fn an_oversized_message_closes_the_connection_with_1009() {
    let fixture = Fixture::start_with(ferry_ws::ServerConfig {
        max_message_size: 1024,
        ..ferry_ws::ServerConfig::default()
    })
    .await;
    let mut client = fixture.client().await;
    expect_welcome(&mut client).await;
    client
        .send_raw(Message::text("x".repeat(4096)))
        .await
        .unwrap();
    match within("the close", client.next_message()).await {
        Err(WsError::Closed(Some(reason))) => {
            assert!(reason.starts_with("1009"), "closed with {reason}");
        }
        other => panic!("expected a 1009 close, got {other:?}"),
    }
}
