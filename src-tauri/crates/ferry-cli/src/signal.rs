//! Waiting for the signals that stop a command cleanly.

/// Listens for Ctrl-C, and SIGTERM on Unix, from the moment it is made.
///
/// It is made once, before the work starts, and polled in every loop turn. Creating a
/// listener per turn would lose a signal that arrives between two turns: once tokio
/// owns a signal, its default action (ending the process) is gone for good, so a
/// signal with nobody listening is silently dropped and the command would run on.
pub(crate) struct StopSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(windows)]
    ctrl_c: Option<tokio::signal::windows::CtrlC>,
}

impl StopSignal {
    /// Starts listening now.
    pub(crate) fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                interrupt: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(windows)]
        {
            Self {
                ctrl_c: tokio::signal::windows::ctrl_c().ok(),
            }
        }
    }

    /// Resolves when a stop signal has arrived since [`StopSignal::listen`] or the last
    /// call. Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn next(signal: Option<&mut tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(self.term.as_mut()) => {}
                () = next(self.interrupt.as_mut()) => {}
            }
        }
        #[cfg(windows)]
        {
            match self.ctrl_c.as_mut() {
                Some(ctrl_c) => {
                    ctrl_c.recv().await;
                }
                None => std::future::pending().await,
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::StopSignal;

    fn send_sigterm_to_self() {
        rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TERM)
            .unwrap();
    }

    /// Regression: the upload loop made a new listener per event, so a SIGTERM that
    /// arrived between two events was dropped and the upload ran to the end.
    #[tokio::test]
    async fn a_signal_between_two_waits_is_not_lost() {
        let mut stop = StopSignal::listen();
        // A wait that ends for another reason, as a progress event ends a loop turn.
        tokio::select! {
            () = stop.recv() => panic!("no signal was sent yet"),
            () = tokio::task::yield_now() => {}
        }
        send_sigterm_to_self();
        tokio::time::timeout(Duration::from_secs(10), stop.recv())
            .await
            .expect("the SIGTERM sent while nobody was waiting is delivered to the next wait");
    }
}
