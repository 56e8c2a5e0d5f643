//! What the server serves: a stream of engine events with a snapshot, and a way to run
//! commands. The upload engine is the backend of the app; tests and benchmarks can
//! plug in a scripted one.

use crate::protocol::{Command, CommandResult, ErrorCode, ProtocolError};
use ferry_core::{Engine, EngineEvent, JobId, Snapshot};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use tokio::sync::broadcast;

/// A boxed future returned by [`Backend::run`].
pub type CommandFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CommandResult, ProtocolError>> + Send + 'a>>;

/// The source of events and the executor of commands behind a server.
pub trait Backend: Send + Sync + 'static {
    /// The state now and every change after it, taken atomically so no event falls
    /// between them. Must never block for long: it is called under the hub's lock.
    fn subscribe_with_snapshot(&self) -> (Snapshot, broadcast::Receiver<EngineEvent>);

    /// Carries out one command.
    fn run(&self, command: Command) -> CommandFuture<'_>;
}

impl Backend for Engine {
    fn subscribe_with_snapshot(&self) -> (Snapshot, broadcast::Receiver<EngineEvent>) {
        Engine::subscribe_with_snapshot(self)
    }

    fn run(&self, command: Command) -> CommandFuture<'_> {
        Box::pin(run_on_engine(self, command))
    }
}

async fn run_on_engine(engine: &Engine, command: Command) -> Result<CommandResult, ProtocolError> {
    let known = |job_id: JobId| {
        if engine.job(job_id).is_none() {
            return Err(ProtocolError {
                code: ErrorCode::UnknownJob,
                message: format!("there is no job {}", job_id.0),
            });
        }
        Ok(job_id)
    };
    let failed = |error: ferry_core::CoreError| ProtocolError {
        code: ErrorCode::CommandFailed,
        message: error.to_string(),
    };
    let job = match command {
        Command::Enqueue { paths } => {
            let report = engine
                .enqueue(paths.into_iter().map(PathBuf::from).collect())
                .await
                .map_err(failed)?;
            return Ok(CommandResult::Enqueued { report });
        }
        Command::Pause { job_id } => engine.pause(known(job_id)?).await,
        Command::Resume { job_id } => engine.resume(known(job_id)?).await,
        Command::Cancel { job_id } => engine.cancel(known(job_id)?).await,
        Command::Retry { job_id } => engine.retry(known(job_id)?).await,
    };
    job.map(|job| CommandResult::Job { job }).map_err(failed)
}
