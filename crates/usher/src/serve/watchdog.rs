//! One connection under its limits: closed when it stops making progress, asked to finish when
//! it grows old or the server shuts down.
//!
//! Progress is an answered request, or a frame of a long answer's body handed over to be sent
//! (the next is taken only once the socket takes the last), never a byte received: a client
//! that trickles a head or a body, stops reading an answer, or keeps HTTP/2 busy with pings
//! gets no more time for it, while a long download goes on as long as it moves. The rules
//! ([`Progress::check`]) run on a timer every quarter of the shortest limit, so the per-request
//! path only bumps [`super::requests`]'s counters; the price is that a limit may be overrun by up to
//! that quarter.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::limits::Limits;
use super::requests::{ConnWatch, Counts};

/// The timing rules of [`Limits`] every connection of a listener follows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Watchdog {
    stall: Duration,
    idle: Duration,
    lifetime: Duration,
    /// How often the rules are checked.
    period: Duration,
}

impl Watchdog {
    /// The rules of `limits`.
    pub(super) fn new(limits: &Limits) -> Watchdog {
        let shortest = limits
            .stall_timeout
            .min(limits.idle_timeout)
            .min(limits.max_lifetime);
        Watchdog {
            stall: limits.stall_timeout,
            idle: limits.idle_timeout,
            lifetime: limits.max_lifetime,
            period: (shortest / 4).max(Duration::from_millis(1)),
        }
    }
}

/// What a check decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// Old enough: answer what is in flight, then close.
    Finish,
    /// No progress in time: close at once.
    Close,
}

/// One connection's progress, as the checks have seen it.
#[derive(Debug)]
struct Progress {
    rules: Watchdog,
    opened: Instant,
    /// The last progress seen: an answer, a request begun on an idle connection, or the opening.
    since: Instant,
    seen: Counts,
}

impl Progress {
    fn new(rules: Watchdog, opened: Instant) -> Progress {
        Progress {
            rules,
            opened,
            since: opened,
            seen: Counts::default(),
        }
    }

    /// Applies the rules at `now` to the connection's `counts`. Progress made since the last
    /// check is dated now (the checks cannot know better without a clock read per request).
    fn check(&mut self, now: Instant, counts: Counts) -> Verdict {
        let answered = counts.answered != self.seen.answered;
        // A long answer's body moving on is progress too (see `Counted`).
        let sent = counts.frames != self.seen.frames;
        // A request that arrives on an idle connection gets the whole stall timeout; one that
        // arrives while another waits does not extend it.
        let became_busy = !self.seen.in_flight() && counts.in_flight();
        if answered || sent || became_busy {
            self.since = now;
        }
        self.seen = counts;
        let limit = if counts.in_flight() {
            self.rules.stall
        } else {
            self.rules.idle
        };
        if now.duration_since(self.since) >= limit {
            Verdict::Close
        } else if now.duration_since(self.opened) >= self.rules.lifetime {
            Verdict::Finish
        } else {
            Verdict::Keep
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection future under its [`Watchdog`]; resolves when the connection ends, and drops
    /// it (closing its socket, unless an upgrade took that) when it stalls.
    pub(super) struct Guarded<C> {
        #[pin]
        conn: C,
        watch: Arc<ConnWatch>,
        #[pin]
        tick: Sleep,
        progress: Progress,
        draining: bool,
    }
}

impl<C> Guarded<C> {
    /// `conn`, whose requests count on `watch`, under `rules`.
    pub(super) fn new(conn: C, watch: Arc<ConnWatch>, rules: Watchdog) -> Guarded<C> {
        let now = Instant::now();
        Guarded {
            conn,
            watch,
            tick: tokio::time::sleep_until(now + rules.period),
            progress: Progress::new(rules, now),
            draining: false,
        }
    }
}

impl<C, E> Future for Guarded<C>
where
    C: Future<Output = Result<(), E>> + GracefulConnection,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if this.conn.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        let mut finish = false;
        if !*this.draining {
            this.watch.waker.register(cx.waker());
            finish = this.watch.stop.load(Ordering::Acquire);
        }
        loop {
            if finish && !*this.draining {
                *this.draining = true;
                this.conn.as_mut().graceful_shutdown();
                // Finishing may end an idle connection at once.
                if this.conn.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            if this.tick.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            match this.progress.check(now, this.watch.counts()) {
                // Dropping the connection closes it.
                Verdict::Close => return Poll::Ready(()),
                Verdict::Finish => finish = true,
                Verdict::Keep => {}
            }
            let next = now + this.progress.rules.period;
            this.tick.as_mut().reset(next);
        }
    }
}

/// The connection types [`Guarded`] can ask to finish.
pub(super) trait GracefulConnection {
    /// Stops taking requests; the future resolves once those in flight are answered.
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, E> GracefulConnection
    for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: hyper::body::Body + Send + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper_util::server::conn::auto::UpgradeableConnection::graceful_shutdown(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn rules() -> Watchdog {
        Watchdog::new(&Limits {
            stall_timeout: 10 * SECOND,
            idle_timeout: 5 * SECOND,
            max_lifetime: 60 * SECOND,
            ..Limits::default()
        })
    }

    fn counts(begun: u64, answered: u64) -> Counts {
        Counts {
            begun,
            answered,
            ..Counts::default()
        }
    }

    #[test]
    fn an_idle_connection_closes_after_the_idle_timeout_and_a_busy_one_after_the_stall() {
        let start = Instant::now();
        let mut p = Progress::new(rules(), start);
        assert_eq!(p.check(start + 4 * SECOND, counts(0, 0)), Verdict::Keep);
        assert_eq!(p.check(start + 5 * SECOND, counts(0, 0)), Verdict::Close);
        let mut p = Progress::new(rules(), start);
        // A request arrives: it has the stall timeout from when it was seen.
        assert_eq!(p.check(start + 4 * SECOND, counts(1, 0)), Verdict::Keep);
        assert_eq!(p.check(start + 13 * SECOND, counts(1, 0)), Verdict::Keep);
        assert_eq!(p.check(start + 14 * SECOND, counts(1, 0)), Verdict::Close);
    }

    #[test]
    fn only_answers_are_progress() {
        let start = Instant::now();
        let mut p = Progress::new(rules(), start);
        // A second request while the first waits gives no more time...
        assert_eq!(p.check(start + SECOND, counts(1, 0)), Verdict::Keep);
        assert_eq!(p.check(start + 9 * SECOND, counts(2, 0)), Verdict::Keep);
        assert_eq!(p.check(start + 11 * SECOND, counts(3, 0)), Verdict::Close);
        // ...nor does a request abandoned before its answer; an answer does.
        let mut p = Progress::new(rules(), start);
        let reset = Counts {
            begun: 1,
            abandoned: 1,
            ..Counts::default()
        };
        assert_eq!(p.check(start + 5 * SECOND, reset), Verdict::Close);
        let mut p = Progress::new(rules(), start);
        assert_eq!(p.check(start + 4 * SECOND, counts(1, 1)), Verdict::Keep);
        assert_eq!(p.check(start + 8 * SECOND, counts(1, 1)), Verdict::Keep);
        assert_eq!(p.check(start + 9 * SECOND, counts(1, 1)), Verdict::Close);
    }

    /// Guards against a download longer than the idle timeout being cut: once its head was
    /// out the connection used to count as idle.
    #[test]
    fn a_long_answer_being_sent_keeps_its_connection_until_it_stops_moving() {
        let start = Instant::now();
        let mut p = Progress::new(rules(), start);
        let sending = |frames| Counts {
            begun: 1,
            answered: 1,
            sending: 1,
            frames,
            ..Counts::default()
        };
        // Far past the idle timeout (5 s), frames keep going out: kept.
        for s in 1..30 {
            assert_eq!(
                p.check(start + s * SECOND, sending(s.into())),
                Verdict::Keep
            );
        }
        // The reader stops reading: closed after the stall timeout (10 s), not the idle one.
        assert_eq!(p.check(start + 38 * SECOND, sending(29)), Verdict::Keep);
        assert_eq!(p.check(start + 39 * SECOND, sending(29)), Verdict::Close);
    }

    #[test]
    fn an_old_connection_is_asked_to_finish() {
        let start = Instant::now();
        let mut p = Progress::new(rules(), start);
        for s in 1..60 {
            assert_eq!(
                p.check(start + s * SECOND, counts(s.into(), s.into())),
                Verdict::Keep
            );
        }
        assert_eq!(
            p.check(start + 60 * SECOND, counts(60, 60)),
            Verdict::Finish
        );
    }
}
