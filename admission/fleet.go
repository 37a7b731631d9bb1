package admission

import "time"

// The fleet gate: admission across processes, through the database.
//
// One controller per process can lower its limit to one attempt, not
// below: N processes on the same hot rows still run N at once, and abort
// one another. When a controller with a Fleet name finds itself there (its
// limit at the floor and still some aborts: fleetJoin of the attempts, and
// two), it turns the gate on. Its limit then stays at the floor (one
// attempt at a time from each process, so that each gets its turn), and
// every attempt it admits also takes one of the fleet's K gate slots
// inside the database, as the transaction's first statement (PostgreSQL:
// LOCK TABLE on a table per slot; MySQL and MariaDB: a row per slot,
// SELECT ... FOR UPDATE). Those locks end with the transaction, or with
// the session if the process dies, so a crashed process never wedges the
// others; the database queues the waiters in order of arrival.
//
// A process outside the gate whose attempts abort (fleetJoin) asks, once
// per window, whether its fleet's gate is in use in the database
// (FleetLook; the caller looks and answers with FleetSeen): if others take
// turns through it, it joins them at once rather than running beside them
// until its own limit reaches the floor (which it may never do, since the
// others' turns leave it few aborts) or its backoff ends. Measured before
// the look: one process of 8 that had left the gate committed 5 times as
// much as each of the 7 in it (PostgreSQL, 16 hot rows).
//
// Below the floor's reach, a fleet's process measures queueing against
// the shortest attempt it has seen rather than the least window mean
// (rule.leastBase): the others load the database from its first window
// on, so a window of its own is never calm, and with the means 8
// processes on MariaDB's 16 hot rows each took 24 ms as calm (an attempt
// alone takes under 2 ms), saw no queue and ran 5 at once, 40 in all.
//
// Two more rules keep a fleet's processes fair while their gates are off
// (MariaDB's 16 hot rows, where attempts wait for row locks more than
// they abort, never bring a process down to its floor):
//
//   - The queue estimate is a target, not a band (rule.point): a process's
//     limit grows below the band's middle (1.5 attempts by default) and
//     shrinks above it in a window with an abort (a process alone needs
//     two: rule.queueAborts). The processes share the database's latency,
//     so with the band [1, 2] any spread of limits inside it was stable:
//     traced on MariaDB's 16 hot rows in 8 processes, the limits froze at
//     1.31–2.03 from the third second on, and each process committed in
//     proportion. There, where 1–2% of attempts abort, a limit above the
//     point waited for a window with two aborts to come down, and limits
//     drifted apart again (1.46–2.27, Jain 0.81) until one was enough.
//   - A first attempt that ran without a permit (not found hot) but took
//     more than slowFactor times the calm attempt waited inside the
//     database for rows the others hold: it counts as contended for its
//     keys (Controller.Slow). Otherwise a process whose attempts win the
//     lock waits finds its rows cold and runs free, and wins more: one of
//     4 processes ran 2,637 first attempts so and committed 313/s, the
//     others 88–94/s.
//
// K adapts, slowly: the abort fraction cuts it in proportion (DCTCP);
// after fleetFirstProbe windows in which the gate made attempts wait
// without aborts above the target, a slot is added, and each time such a
// probe is punished the wait for the next doubles, up to fleetMaxHold
// windows. Each process probes on its own, and its probe aborts the
// others' attempts too (its second slot runs beside their one): probes
// must be rare. (InnoDB's lock waits run best at two or three at once,
// PostgreSQL's serialization failures on 4 hot rows at one.)
//
// The gate turns off again when it no longer helps: when K = 1 still sees
// the abort fraction above the target for fleetStrikes windows in which
// the gate made nobody wait (the contention comes from outside the fleet;
// it then stays off for a backoff that doubles, from fleetBackoff to
// fleetMaxBackoff), or when the gate has not made anyone wait for
// fleetCalm windows (the rows cooled down: it stays off for fleetBackoff;
// or, if it never made anyone wait, the process is alone: it stays off for
// the doubling backoff). "Made wait" compares a window's mean time to take
// the gate with the least time ever taken, the round trip. After a calm
// exit, aborts above the target at the floor bring the gate back at once:
// processes that joined together each found the gate free at first, and
// rows that cooled down can heat up again.

const (
	fleetFirstProbe = 40  // windows at one slot before the first probe for a second
	fleetMaxHold    = 160 // the longest wait between probes
	fleetStrikes    = 12
	fleetCalm       = 8
	fleetBackoff    = 5 * time.Second
	fleetMaxBackoff = time.Minute
	// FleetStripes is the number of gate slots a database holds; the
	// slots of a fleet are taken from them, starting at its name's hash.
	FleetStripes = 16
)

// fleetState is what the gate carries from window to window.
type fleetState struct {
	on       bool
	slots    float64 // K: the gate's slots while on
	strikes  int     // windows in a row with K = 1 and aborts above the target
	calm     int     // windows in a row in which the gate made nobody wait
	hold     int     // calm windows to wait before the next slot
	holdNext int
	probed   bool
	waited   bool          // the gate made someone wait since it turned on
	offUntil time.Time     // not on again before
	backoff  time.Duration // the next offUntil's distance
	calmOff  bool          // it turned off last for calm, not for strikes
	base     time.Duration // least time an attempt took to take the gate: its round trip
}

// gateWindow is what one window measured of the gate.
type gateWindow struct {
	gated int           // attempts that took the gate
	wait  time.Duration // their total time taking it
	least time.Duration // the least of those times
}

// fleetJoin is the abort fraction that turns the gate on, at the floor
// only: low, since a process left outside while others take turns through
// the gate aborts theirs and takes more than its share, yet sees few aborts
// itself. Above the floor a process can still cut its own limit; a rule
// that let it join there (at half the target) pinned the limits of some
// processes at one while the others ran at six: on MariaDB's 16 hot rows
// in 4 processes, one process took most of the commits (Jain 0.36).
const fleetJoin = 0.05

// wantsLook reports whether the gate, off after the window w (abort
// fraction f), would turn on if the fleet's gate were in use: the aborts
// that let a process join.
func (s fleetState) wantsLook(w window, f float64) bool {
	return !s.on && f >= fleetJoin && w.aborts >= 2
}

// fleetSeenFor is how long a look that found the fleet's gate in use
// counts (FleetSeen).
const fleetSeenFor = time.Second

// next is the gate's rule after a window whose abort fraction was f (over
// the target: over); floor says the window ran with the limit at its
// least.
func (s fleetState) next(w window, f, target float64, floor bool, now time.Time) fleetState {
	over := f > target
	if !s.on {
		// Off for calm, a process comes back at once when its attempts
		// abort above the target at the floor: the others' gate made
		// nobody wait while it was not yet in (they joined at once, each
		// saw the gate free), or the rows are hot again. Off for strikes,
		// it waits its backoff out: the aborts come from outside. Either
		// way, it joins whenever it saw others take turns through the
		// gate (w.seen): one left outside takes most of the commits.
		back := s.calmOff && floor && over
		join := w.seen || floor && (back || !now.Before(s.offUntil))
		if join && s.wantsLook(w, f) {
			s.on, s.slots, s.strikes, s.calm, s.hold, s.holdNext, s.probed, s.waited = true, 1, 0, 0, fleetFirstProbe, 2*fleetFirstProbe, false, false
		}
		return s
	}
	off := func(failed bool) fleetState {
		s.on, s.slots, s.calmOff = false, 0, true
		if failed {
			s.backoff = min(max(2*s.backoff, fleetBackoff), fleetMaxBackoff)
			s.offUntil = now.Add(s.backoff)
		} else {
			s.backoff, s.offUntil = 0, now.Add(fleetBackoff)
		}
		return s
	}
	waited := false
	if w.gate.gated > 0 {
		// The round trip is the least time any attempt took: a window's
		// mean holds waits from the start when the gate is busy.
		if s.base == 0 || w.gate.least < s.base {
			s.base = w.gate.least
		}
		mean := w.gate.wait / time.Duration(w.gate.gated)
		// Waiting means more than twice the round trip and a tenth of a
		// millisecond: the gate held someone back.
		waited = mean > 2*s.base+100*time.Microsecond
		s.waited = s.waited || waited
	}
	switch {
	case over && permitsOf(s.slots) <= 1 && waited:
		// Others take turns through the gate too: the aborts come from
		// processes of the fleet not in yet, which join (fleetJoin).
		s.strikes, s.calm = 0, 0
	case over && permitsOf(s.slots) <= 1:
		s.calm = 0
		if s.strikes++; s.strikes >= fleetStrikes {
			s = off(true)
			s.calmOff = false
			return s
		}
	case over:
		s.strikes, s.calm = 0, 0
		if s.probed {
			s.hold = s.holdNext
			s.holdNext = min(fleetMaxHold, 2*s.holdNext)
		} else {
			s.hold = fleetFirstProbe
		}
		s.slots = max(1, s.slots*(1-f/2))
		s.probed = false
	case !waited:
		// A window in which no attempt took the gate (its tables cannot be
		// made, the handle has none, the attempts were read-only) made
		// nobody wait either.
		s.strikes = 0
		if s.calm++; s.calm >= fleetCalm {
			// A gate that never made anyone wait has no fleet behind it:
			// the process is alone, and tries again later and later.
			return off(!s.waited)
		}
	case waited:
		s.strikes, s.calm = 0, 0
		if s.hold > 0 {
			s.hold--
			s.probed = false
			return s
		}
		s.slots = min(s.slots+1, FleetStripes)
		s.probed, s.hold = true, fleetFirstProbe
	}
	return s
}

// permitsOf is the number of slots of a slot count K: K rounded.
func permitsOf(k float64) int { return int(k + 0.5) }

// Fleet returns the fleet's name (Settings.Fleet).
func (c *Controller) Fleet() string { c.ready(); return c.s.Fleet }

// FleetOn reports whether the fleet gate is on: whether the permits
// granted now ask their attempts to take a gate slot (Permit.Gate).
func (c *Controller) FleetOn() bool {
	c.ready()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fleet.on
}

// FleetLook reports whether the controller asks to know if its fleet's
// gate is in use in the database, and which stripe to look at: its gate is
// off, and its attempts abort enough to join the others if they have
// turned theirs on. It asks at most once per window, and the answer goes
// to FleetSeen.
func (c *Controller) FleetLook() (stripe int, ok bool) {
	c.ready()
	if !c.fleetLook.CompareAndSwap(true, false) {
		return 0, false
	}
	return c.fleetBase, true
}

// FleetSeen tells the controller what a look (FleetLook) found: busy says
// some session holds or waits for the stripe's lock. A controller that saw
// it busy joins the gate at its next window with aborts, above its floor
// and during a backoff too.
func (c *Controller) FleetSeen(busy bool) {
	c.ready()
	if !busy {
		return
	}
	c.mu.Lock()
	c.fleetSeen = c.now().Add(fleetSeenFor)
	c.mu.Unlock()
}

// Gate returns the stripe of the fleet gate the permit's attempt must take
// as its transaction's first statement, in [0, FleetStripes), and true; or
// false when the gate is off. See Settings.Fleet.
func (p Permit) Gate() (stripe int, ok bool) { return p.stripe - 1, p.stripe > 0 }

// Gated tells the controller how long the attempt took to take its gate
// slot (the round trip, and the wait behind other processes).
func (p Permit) Gated(took time.Duration) {
	if p.c == nil || p.stripe == 0 {
		return
	}
	p.c.mu.Lock()
	g := &p.c.win.gate
	if g.gated == 0 || took < g.least {
		g.least = took
	}
	g.gated++
	g.wait += took
	p.c.mu.Unlock()
}

// slowFactor: a first attempt that ran without a permit and took this many
// times the calm attempt queued behind others (Controller.Slow).
const slowFactor = 8

// Slow reports whether an attempt that ran without a permit and took took
// queued inside the database: longer than slowFactor times the calm
// attempt (the rule's baseline). A fleet's process counts such a first
// attempt as contended (Observe), since the rows it waited for are held by
// the other processes, whose turns it would otherwise overtake.
func (c *Controller) Slow(took time.Duration) bool {
	c.ready()
	c.mu.Lock()
	base := c.st.baseline
	c.mu.Unlock()
	return base > 0 && took > slowFactor*base
}
