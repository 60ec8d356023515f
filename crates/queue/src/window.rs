//! The claim bits of the places just behind the head, one bit each in a ring allocated once.

/// Claim bits for a sliding range of places.
///
/// Place `p` lives in slot `p % places()`. The line keeps every open place (eligible, within its
/// grace period) less than one ring's length behind the head, so two open places never share a
/// slot. The ring is allocated in [`ClaimWindow::new`] and never grows: this is what keeps the
/// line's memory independent of how many clients wait.
#[derive(Debug, Clone)]
pub(crate) struct ClaimWindow {
    words: Box<[u64]>,
}

impl ClaimWindow {
    /// A ring for `places` places, rounded up to a whole number of 64-bit words.
    pub(crate) fn new(places: u64) -> Self {
        let words = usize::try_from(places.div_ceil(64).max(1)).unwrap_or(1);
        Self {
            words: vec![0; words].into_boxed_slice(),
        }
    }

    /// How many places the ring holds.
    pub(crate) fn places(&self) -> u64 {
        self.words.len() as u64 * 64
    }

    /// Bytes allocated for the ring; fixed for the ring's life.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.words)
    }

    pub(crate) fn get(&self, place: u64) -> bool {
        let (word, mask) = self.slot(place);
        self.words[word] & mask != 0
    }

    pub(crate) fn set(&mut self, place: u64, claimed: bool) {
        let (word, mask) = self.slot(place);
        if claimed {
            self.words[word] |= mask;
        } else {
            self.words[word] &= !mask;
        }
    }

    /// Clears the bits of places `start..end`, which span at most one ring.
    pub(crate) fn clear_range(&mut self, start: u64, end: u64) {
        for (word, mask) in runs(self.places(), start, end) {
            self.words[word] &= !mask;
        }
    }

    /// Counts the set bits of places `start..end`, which span at most one ring.
    pub(crate) fn count_range(&self, start: u64, end: u64) -> u64 {
        runs(self.places(), start, end)
            .map(|(word, mask)| u64::from((self.words[word] & mask).count_ones()))
            .sum()
    }

    fn slot(&self, place: u64) -> (usize, u64) {
        slot(self.places(), place)
    }
}

/// The word and bit mask of `place` in a ring of `ring` places.
fn slot(ring: u64, place: u64) -> (usize, u64) {
    let index = place % ring;
    ((index / 64) as usize, 1 << (index % 64))
}

/// The words and masks covering places `start..end` of a ring of `ring` places, a word at a
/// time. The ring is a whole number of words, so a run never wraps inside a word.
fn runs(ring: u64, start: u64, end: u64) -> impl Iterator<Item = (usize, u64)> {
    let end = end.min(start.saturating_add(ring));
    let mut next = start;
    std::iter::from_fn(move || {
        if next >= end {
            return None;
        }
        let (word, first) = slot(ring, next);
        let offset = u64::from(first.trailing_zeros());
        let len = (64 - offset).min(end - next);
        let mask = if len == 64 {
            u64::MAX
        } else {
            ((1u64 << len) - 1) << offset
        };
        next += len;
        Some((word, mask))
    })
}

#[cfg(test)]
mod tests {
    use super::ClaimWindow;

    #[test]
    fn ranges_wrap_around_the_ring() {
        let mut window = ClaimWindow::new(128);
        for place in 100..228 {
            window.set(place, true);
        }
        assert_eq!(window.count_range(100, 228), 128);
        // Places 150..250 sit in slots 22..122; the run crosses the ring's end.
        window.clear_range(150, 250);
        assert!(!window.get(150));
        assert!(!window.get(249));
        assert!(window.get(250));
        assert_eq!(window.count_range(128, 256), 28);
        assert_eq!(window.count_range(250, 300), 28);
        window.set(250, false);
        assert_eq!(window.count_range(250, 378), 27);
    }

    #[test]
    fn size_rounds_up_to_words() {
        assert_eq!(ClaimWindow::new(1).places(), 64);
        assert_eq!(ClaimWindow::new(65).places(), 128);
        assert_eq!(ClaimWindow::new(1 << 18).heap_bytes(), 1 << 15);
    }
}
