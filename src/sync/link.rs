//! The till's link to the server: whether the server answers at all.
//!
//! A request of the till that met no answer — it timed out, or the connection was refused,
//! reset or closed — makes the link silent, unless the server answered another request
//! since that one was sent. While the link is silent the till's own requests (lookups,
//! calculations, holds, finding sales, SMS codes, logins: the clients [`guarded_by`] it)
//! are not sent at all: each fails at once with [`ClientError::Silent`], so the till
//! answers from its cache, or says the action needs the server, without waiting for the
//! timeout again. Any answer of the server ends the silence, an HTTP error with a body
//! too: the sync worker's batches count, and its [`Probe`] asks `/health` every few
//! seconds while the silence lasts. So the till waits its `timeout_ms` once per outage.
//!
//! [`guarded_by`]: ServerClient::guarded_by
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::client::{ClientError, ServerClient};
use super::worker::StatusCell;

/// Whether the server answers the till; what the status bar calls «сервер не отвечает».
pub struct Link {
    state: Mutex<State>,
    status: StatusCell,
}

#[derive(Debug, Default)]
struct State {
    silent: bool,
    /// When the server last answered a request of the till.
    heard_at: Option<Instant>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("silent", &self.is_silent())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link not known to be silent, publishing its changes into `status`.
    pub fn new(status: StatusCell) -> Arc<Link> {
        Arc::new(Link {
            state: Mutex::new(State::default()),
            status,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Two plain fields, each write complete: a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while the server is known not to answer.
    pub fn is_silent(&self) -> bool {
        self.state().silent
    }

    /// The server answered a request of the till.
    pub fn answered(&self) {
        let mut state = self.state();
        state.heard_at = Some(Instant::now());
        if state.silent {
            state.silent = false;
            self.status.send_modify(|s| s.silent = false);
            tracing::info!("the server answers again");
        }
    }

    /// A request sent at `asked` came back with `error`: silence when the server gave no
    /// answer at all and has answered nothing since `asked`.
    pub fn met(&self, asked: Instant, error: &ClientError) {
        if error.is_answer() {
            self.answered();
            return;
        }
        if !error.is_silence() {
            return;
        }
        let mut state = self.state();
        if state.silent || state.heard_at.is_some_and(|heard| heard > asked) {
            return;
        }
        state.silent = true;
        self.status.send_modify(|s| {
            s.silent = true;
            s.online = Some(false);
            s.last_error = Some(error.to_string());
        });
        tracing::warn!(error = %error, "the server does not answer: the till works from its cache until it does");
    }
}

/// What asks the server whether it answers again, while the link is silent: the till's
/// own client, so a probe waits no longer than a lookup would.
#[derive(Debug, Clone)]
pub struct Probe {
    pub link: Arc<Link>,
    pub client: ServerClient,
}

impl Probe {
    /// Asks `/health` every `every` while the link is silent; calls `heard` each time the
    /// server answered it. The client tells the link what the probe met, so an answer ends
    /// the silence. Never returns: it ends when its task is dropped.
    pub async fn run(&self, every: Duration, heard: impl Fn()) {
        let mut status = self.link.status.subscribe();
        loop {
            if status.wait_for(|s| s.silent).await.is_err() {
                // The link holds the status, so it cannot be gone while the probe runs.
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(every).await;
            if !self.link.is_silent() {
                continue;
            }
            match self.client.health().await {
                Ok(()) => {
                    self.link.status.send_modify(|s| {
                        s.online = Some(true);
                        s.last_error = None;
                    });
                    heard();
                }
                Err(e) if e.is_answer() => heard(),
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::worker::SyncStatus;

    fn link() -> Arc<Link> {
        Link::new(Arc::new(tokio::sync::watch::Sender::new(
            SyncStatus::default(),
        )))
    }

    #[test]
    fn no_answer_makes_the_link_silent_and_any_answer_ends_it() {
        let link = link();
        let asked = Instant::now();
        link.met(asked, &ClientError::Timeout);
        assert!(link.is_silent());
        let status = link.status.borrow().clone();
        assert!(status.silent);
        assert_eq!(status.online, Some(false));
        assert_eq!(
            status.last_error.as_deref(),
            Some("the server did not answer in time")
        );
        // A refusal with a body is an answer.
        link.met(Instant::now(), &ClientError::Status(503));
        assert!(!link.is_silent());
        assert!(!link.status.borrow().silent);
        link.met(Instant::now(), &ClientError::Unreachable);
        assert!(link.is_silent());
        link.answered();
        assert!(!link.is_silent());
    }

    #[test]
    fn a_request_older_than_the_last_answer_does_not_make_it_silent() {
        let link = link();
        let asked = Instant::now() - Duration::from_secs(1);
        link.answered();
        link.met(asked, &ClientError::Timeout);
        assert!(!link.is_silent());
        // What never reached the network says nothing of the server.
        for e in [
            ClientError::Silent,
            ClientError::InsecureUrl,
            ClientError::Certificate("unknown issuer".into()),
        ] {
            link.met(Instant::now(), &e);
            assert!(!link.is_silent(), "{e}");
        }
    }
}
