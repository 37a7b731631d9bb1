package admission

import (
	"time"
)

// state is what the update rule carries from window to window.
type state struct {
	limit     float64
	baseline  time.Duration // attempt latency when calm
	slowStart bool
	probed    bool // the last change was an increase
	hold      int  // calm windows to wait before the next increase
	holdNext  int  // the hold after the next punished probe
	lastCut   time.Time
	f, q      float64 // the last window's abort fraction and queue estimate
}

// window is what one window of attempts measured.
type window struct {
	attempts, aborts int
	latency          time.Duration // total
	least            time.Duration // the shortest attempt
	saturated        bool          // every permit was in use, or work waited
	gate             gateWindow
	seen             bool // the fleet's gate was seen in use (Controller.FleetSeen)
}

// slowStartAgain is how long without a decrease puts the controller back in
// slow start.
const slowStartAgain = 5 * time.Second

// maxHold bounds the calm windows waited before probing again: a table that
// cooled down is found out within that many windows.
const maxHold = 16

// rule holds the settings of the update rule.
type rule struct {
	target float64 // abort fraction tolerated
	queue  float64 // queue estimate tolerated with aborts (negative: any)
	lo, hi float64 // bounds of the limit
	// leastBase takes the baseline from windows' shortest attempts
	// rather than their means (a fleet's processes, see state.next).
	leastBase bool
	// point makes the queue a target rather than a band (a fleet's
	// processes): the limit grows below its middle and shrinks above it,
	// instead of growing below 1 and shrinking above the threshold. The
	// processes of a fleet share the database's latency, so their queue
	// estimates differ only by their limits; with a band, any spread of
	// limits inside it is stable, and a spread left by the first windows
	// stays for good (MariaDB's 16 hot rows in 8 processes: limits frozen
	// at 1.31–2.03 from the third second on, queues of 1.1–1.8, commits
	// per process following them). With one point there is one resting
	// limit, the same for all.
	point bool
}

// queueAborts is the least number of aborts with which a window's queue
// estimate above the band cuts the limit: latency that rises without
// aborts may come from the database's load, not from contention. Two for
// a process alone, so that a stray abort does not count; one in a fleet
// (rule.point), where the processes hold their rows' locks against one
// another more than they abort (MariaDB's 16 hot rows: 1–2% of attempts
// abort, under one a window): with two, a limit that had grown above the
// target (slow start, a calm spell) came back down only by chance, and
// the processes' limits drifted apart again (2 processes at 2.8 and 3.7,
// 8 at 1.46–2.27 with Jain 0.81).
func (r rule) queueAborts() int {
	if r.point {
		return 1
	}
	return 2
}

// queueBand returns the queue estimates below which the limit may grow and
// above which a window with aborts shrinks it.
func (r rule) queueBand() (grow, shrink float64) {
	if r.point && r.queue >= 1 {
		mid := (1 + r.queue) / 2
		return mid, mid
	}
	return 1, r.queue
}

// next is the update rule: the state after a window.
func (s state) next(w window, r rule, now time.Time) state {
	if w.attempts == 0 {
		return s
	}
	f := float64(w.aborts) / float64(w.attempts)
	mean := w.latency / time.Duration(w.attempts)
	calm := mean
	if r.leastBase && w.least > 0 {
		calm = w.least
	}
	switch {
	case s.baseline == 0 || calm < s.baseline:
		s.baseline = calm
	default:
		s.baseline += (calm - s.baseline) / 64 // re-baseline slowly
	}
	q := 0.0
	if mean > 0 {
		q = s.limit * (1 - float64(s.baseline)/float64(mean))
	}
	s.f, s.q = f, q
	cut := func(to float64, aborts bool) {
		switch {
		case aborts && s.probed:
			// The increase was punished with aborts: wait longer before
			// the next one.
			s.hold = max(1, s.holdNext)
			s.holdNext = min(maxHold, 2*s.hold)
		case aborts:
			s.hold, s.holdNext = 0, 1
		}
		// A cut for queueing leaves the hold as it is: latency comes and
		// goes with the load as much as with the limit.
		s.limit = max(r.lo, to)
		s.slowStart, s.probed, s.lastCut = false, false, now
	}
	grow, shrink := r.queueBand()
	switch {
	case f > r.target:
		cut(s.limit*(1-f/2), true)
	case r.queue >= 0 && q > shrink && w.aborts >= r.queueAborts():
		cut(0.9*s.limit, false)
	case q < grow && w.saturated:
		if !s.lastCut.IsZero() && now.Sub(s.lastCut) > slowStartAgain {
			s.slowStart, s.hold = true, 0
		}
		if s.hold > 0 {
			s.hold--
			return s
		}
		if s.slowStart {
			s.limit *= 2
		} else {
			// A quarter of a permit, or 1/16 of the limit when that is
			// more, so that a large limit recovers in a few windows.
			s.limit += max(0.25, s.limit/16)
		}
		s.probed = true
	default:
		s.probed = false
	}
	s.limit = min(max(s.limit, r.lo), r.hi)
	return s
}
