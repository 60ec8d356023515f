//! An admission from the line under way: a claimed place, or a newcomer let past a gated line.
//! Until it ends, the place it will take counts as used. Dropped unfinished (the client went
//! away mid-admission), a claim is handed back, so the client keeps its place.

use std::sync::Arc;

use usher_queue::Place;
use usher_wire::Clock;

use super::{Wait, WaitingRoom};

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct InFlight {
    room: Arc<WaitingRoom>,
    clock: Arc<dyn Clock>,
    place: Option<Place>,
    done: bool,
}

impl InFlight {
    /// The admission of `place`, claimed by [`WaitingRoom::check_in`].
    pub(crate) fn claim(room: &Arc<WaitingRoom>, clock: &Arc<dyn Clock>, place: Place) -> Self {
        InFlight {
            room: Arc::clone(room),
            clock: Arc::clone(clock),
            place: Some(place),
            done: false,
        }
    }

    /// A newcomer let past by [`WaitingRoom::newcomer_may_pass`].
    pub(crate) fn newcomer(room: &Arc<WaitingRoom>, clock: &Arc<dyn Clock>) -> Self {
        InFlight {
            room: Arc::clone(room),
            clock: Arc::clone(clock),
            place: None,
            done: false,
        }
    }

    /// The admission ended; `admitted` false hands a claim back. Returns the client's wait
    /// (for a claim).
    pub(crate) fn finish(mut self, admitted: bool) -> Option<Wait> {
        self.done = true;
        self.end(admitted)
    }

    fn end(&self, admitted: bool) -> Option<Wait> {
        match self.place {
            Some(place) => Some(
                self.room
                    .settle_claim(place, self.clock.instant(), admitted),
            ),
            None => {
                self.room.newcomer_done();
                None
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.end(false);
        }
    }
}
