//! Time limits on bodies passing through the router: a body that sends
//! nothing for `router_idle_timeout_s`, or is still going at the request's
//! deadline (`router_request_timeout_s` after it started), is cut off with an
//! error, so a stalled client or backend cannot hold a connection forever.
//! A request and its response share one idle clock: a response that waits
//! while the request body is still uploading (a CGI reading a big upload
//! before it answers) is not idle.
//! The timer is made only when a body first waits, so bodies that arrive at
//! once (most requests) cost nothing.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
struct Stalled(&'static str);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Stalled {}

#[derive(Clone, Debug)]
pub struct Limits {
    pub idle: Duration,
    pub deadline: Instant,
    base: Instant,
    /// When either body of the exchange last moved (ms after `base`).
    moved: Arc<AtomicU64>,
}

impl Limits {
    pub fn new(idle: Duration, deadline: Instant) -> Limits {
        Limits {
            idle,
            deadline,
            base: Instant::now(),
            moved: Arc::default(),
        }
    }

    fn touch(&self) {
        self.moved
            .store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// When the exchange turns idle, as things stand.
    fn idle_at(&self) -> Instant {
        let moved = self.base + Duration::from_millis(self.moved.load(Ordering::Relaxed));
        (moved + self.idle).min(self.deadline)
    }
}

pub struct Timed<B> {
    inner: B,
    limits: Limits,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> Timed<B> {
    pub fn new(inner: B, limits: Limits) -> Timed<B> {
        Timed {
            inner,
            limits,
            timer: None,
        }
    }

    fn next_deadline(&self) -> Instant {
        (Instant::now() + self.limits.idle).min(self.limits.deadline)
    }
}

impl<B> Body for Timed<B>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if frame.is_some() {
                    this.limits.touch();
                    let next = this.next_deadline();
                    if let Some(t) = this.timer.as_mut() {
                        t.as_mut().reset(next);
                    }
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let next = this.next_deadline();
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
                while timer.as_mut().poll(cx).is_ready() {
                    let now = Instant::now();
                    if now >= this.limits.deadline {
                        let why = "the request took longer than router_request_timeout_s";
                        return Poll::Ready(Some(Err(Box::new(Stalled(why)))));
                    }
                    // The other body of the exchange may have moved meanwhile.
                    let at = this.limits.idle_at();
                    if at <= now {
                        let why = "the body sent nothing for router_idle_timeout_s";
                        return Poll::Ready(Some(Err(Box::new(Stalled(why)))));
                    }
                    timer.as_mut().reset(at);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use http_body_util::BodyExt;

    /// A body that yields one chunk, then waits forever.
    struct Stall(bool);

    impl Body for Stall {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.0 {
                return Poll::Pending;
            }
            self.0 = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first")))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_cut_off_after_the_idle_time() {
        let limits = Limits::new(
            Duration::from_secs(5),
            Instant::now() + Duration::from_secs(3600),
        );
        let mut body = Timed::new(Stall(false), limits);
        let first = body.frame().await.expect("a frame").expect("ok");
        assert_eq!(first.into_data().expect("data"), "first");
        let started = Instant::now();
        let err = body.frame().await.expect("an end").expect_err("an error");
        assert!(err.to_string().contains("router_idle_timeout_s"), "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_response_is_not_idle_while_the_request_body_moves() {
        let limits = Limits::new(
            Duration::from_secs(5),
            Instant::now() + Duration::from_secs(3600),
        );
        let mut response = Timed::new(Stall(true), limits.clone());
        let started = Instant::now();
        // The upload moves every 3 s for 12 s; the response waits meanwhile.
        let upload = {
            let limits = limits.clone();
            async move {
                for _ in 0..4 {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    limits.touch();
                }
            }
        };
        let (_, cut) = tokio::join!(upload, response.frame());
        let err = cut.expect("an end").expect_err("an error");
        assert!(err.to_string().contains("router_idle_timeout_s"), "{err}");
        // Cut 5 s after the upload's last move (at 12 s), not 5 s after the start.
        assert_eq!(started.elapsed(), Duration::from_secs(17));
    }

    #[tokio::test(start_paused = true)]
    async fn the_request_deadline_wins_over_the_idle_time() {
        let limits = Limits::new(
            Duration::from_secs(60),
            Instant::now() + Duration::from_secs(2),
        );
        let mut body = Timed::new(Stall(true), limits);
        let err = body.frame().await.expect("an end").expect_err("an error");
        assert!(
            err.to_string().contains("router_request_timeout_s"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_body_that_arrives_at_once_passes_unchanged() {
        let limits = Limits::new(
            Duration::from_secs(1),
            Instant::now() + Duration::from_secs(1),
        );
        let body = Timed::new(
            http_body_util::Full::new(Bytes::from_static(b"all")),
            limits,
        );
        let got = body.collect().await.expect("collected").to_bytes();
        assert_eq!(got, "all");
    }
}
