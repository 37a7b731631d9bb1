package admission

import (
	"context"
	"testing"
	"time"
)

// gateWin is a window of n attempts, a aborted, whose g gated attempts
// took the gate in took each.
func gateWin(n, a, g int, took time.Duration) window {
	w := win(n, a, ms, true)
	w.gate = gateWindow{gated: g, wait: time.Duration(g) * took, least: took}
	return w
}

// TestFleetSteps walks the gate's rule one window at a time.
func TestFleetSteps(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	const target = 0.3
	type step struct {
		name  string
		w     window
		floor bool
		on    bool
		slots int
	}
	steps := []step{
		{name: "aborts, limit above the floor: stays off", w: gateWin(32, 4, 0, 0), on: false},
		{name: "one abort at the floor: stays off", w: gateWin(32, 1, 0, 0), floor: true, on: false},
		{name: "aborts at the floor: on, one slot", w: gateWin(32, 3, 0, 0), floor: true, on: true, slots: 1},
		{name: "first gated window sets the round trip", w: gateWin(32, 0, 32, 200*time.Microsecond), on: true, slots: 1},
		{name: "gate waited, no aborts: holds before probing", w: gateWin(32, 0, 32, 5*ms), on: true, slots: 1},
		{name: "aborts at one slot while others wait at the gate: no strike", w: gateWin(32, 16, 32, 5*ms), on: true, slots: 1},
	}
	s := fleetState{}
	var i int
	for _, st := range steps {
		i++
		s = s.next(st.w, float64(st.w.aborts)/float64(st.w.attempts), target, st.floor, t0.Add(time.Duration(i)*time.Second))
		if s.on != st.on || st.on && permitsOf(s.slots) != st.slots {
			t.Fatalf("step %d (%s): on %v slots %.2f, want %v %d", i, st.name, s.on, s.slots, st.on, st.slots)
		}
		if s.strikes != 0 {
			t.Fatalf("step %d (%s): %d strikes", i, st.name, s.strikes)
		}
	}
	// The probe: after fleetFirstProbe windows of waits without aborts, a
	// second slot; punished, back to one, and twice as long before the
	// next.
	wait := func(n int) {
		for range n {
			s = s.next(gateWin(32, 0, 32, 5*ms), 0, target, true, t0)
		}
	}
	wait(s.hold)
	if permitsOf(s.slots) != 1 {
		t.Fatalf("probed early: %.2f slots", s.slots)
	}
	wait(1)
	if permitsOf(s.slots) != 2 || !s.probed {
		t.Fatalf("no probe after the hold: %.2f slots", s.slots)
	}
	s = s.next(gateWin(32, 24, 32, 5*ms), 0.75, target, true, t0)
	if permitsOf(s.slots) != 1 || s.hold != 2*fleetFirstProbe {
		t.Fatalf("after a punished probe: %.2f slots, hold %d", s.slots, s.hold)
	}
	wait(2*fleetFirstProbe + 1)
	if permitsOf(s.slots) != 2 {
		t.Fatalf("no second probe: %.2f slots", s.slots)
	}
}

// TestFleetOffWhenNotTheFleet: aborts at one slot while the gate makes
// nobody wait come from outside the fleet: after fleetStrikes such
// windows the gate turns off for fleetBackoff, then twice that.
func TestFleetOffWhenNotTheFleet(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	s := fleetState{}
	at := t0
	join := func() {
		t.Helper()
		s = s.next(gateWin(32, 3, 0, 0), 3.0/32, 0.3, true, at)
		if !s.on {
			t.Fatalf("did not join at %v (off until %v)", at.Sub(t0), s.offUntil.Sub(t0))
		}
	}
	join()
	for i := range fleetStrikes {
		if !s.on {
			t.Fatalf("off after %d strikes", i)
		}
		s = s.next(gateWin(32, 16, 32, 200*time.Microsecond), 0.5, 0.3, true, at)
	}
	if s.on || s.offUntil != at.Add(fleetBackoff) {
		t.Fatalf("on %v, off until %v, want off for %v", s.on, s.offUntil.Sub(at), fleetBackoff)
	}
	s = s.next(gateWin(32, 3, 0, 0), 3.0/32, 0.3, true, at.Add(fleetBackoff/2))
	if s.on {
		t.Fatal("joined during the backoff")
	}
	at = at.Add(fleetBackoff)
	join()
	for range fleetStrikes {
		s = s.next(gateWin(32, 16, 32, 200*time.Microsecond), 0.5, 0.3, true, at)
	}
	if s.on || s.offUntil != at.Add(2*fleetBackoff) {
		t.Fatalf("second time off until %v, want %v", s.offUntil.Sub(at), 2*fleetBackoff)
	}
}

// TestFleetOffWhenCalm: a gate that makes nobody wait for fleetCalm
// windows, without aborts, turns off: for fleetBackoff when it had made
// some wait before (the rows cooled), for the doubling backoff when it
// never had (the process is alone).
func TestFleetOffWhenCalm(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	for _, fleet := range []bool{true, false} {
		s := fleetState{backoff: fleetBackoff}.next(gateWin(32, 3, 0, 0), 3.0/32, 0.3, true, t0)
		s = s.next(gateWin(32, 0, 32, 200*time.Microsecond), 0, 0.3, true, t0) // the round trip
		if fleet {
			s = s.next(gateWin(32, 0, 32, 5*ms), 0, 0.3, true, t0) // others held it
		}
		n := fleetCalm
		if !fleet {
			n-- // the round trip's window was calm too
		}
		for i := range n {
			if !s.on {
				t.Fatalf("fleet %v: off after %d calm windows", fleet, i)
			}
			s = s.next(gateWin(32, 0, 32, 200*time.Microsecond), 0, 0.3, true, t0)
		}
		want := fleetBackoff
		if !fleet {
			want = 2 * fleetBackoff
		}
		if s.on || s.offUntil != t0.Add(want) {
			t.Fatalf("fleet %v: on %v, off for %v, want %v", fleet, s.on, s.offUntil.Sub(t0), want)
		}
	}
}

// TestControllerFleet: with a Fleet name, a controller whose limit is at
// its floor and whose attempts abort turns the gate on: its permits carry
// stripes of the fleet's range, its limit stays at the floor, and Gated
// counts them.
func TestControllerFleet(t *testing.T) {
	clk := newClock()
	c := mustNew(t, Settings{StartLimit: 1, MinWindow: 4, Fleet: "orders"}, clk)
	ctx := context.Background()
	base := int(fnv32("orders") % FleetStripes)
	for range 4 {
		p, err := c.Admit(ctx, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Gate(); ok {
			t.Fatal("a stripe before the gate is on")
		}
		clk.advance(ms)
		p.Release(true)
	}
	if !c.FleetOn() {
		t.Fatalf("gate off after a window of aborts at the floor: %+v", c.Snapshot())
	}
	for range 8 {
		p, err := c.Admit(ctx, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		stripe, ok := p.Gate()
		if !ok || stripe != (base+1)%FleetStripes && stripe != base {
			t.Fatalf("stripe %d %v, want the fleet's first (%d)", stripe, ok, base)
		}
		p.Gated(5 * ms)
		clk.advance(ms)
		p.Release(false)
	}
	s := c.Snapshot()
	if !s.Fleet || s.Gated != 8 || s.Permits != 1 {
		t.Fatalf("snapshot %+v", s)
	}
	if (Permit{}).Waited() {
		t.Fatal("the zero Permit waited")
	}
	(Permit{}).Gated(ms) // no controller: nothing
}

// fleetOn returns a fleet's controller at its floor (one permit) whose
// gate a window of aborts turned on, and its clock.
func fleetOn(t *testing.T) (*Controller, *clock) {
	t.Helper()
	clk := newClock()
	c := mustNew(t, Settings{StartLimit: 1, MinWindow: 4, Fleet: "orders"}, clk)
	for range 4 {
		p, err := c.Admit(context.Background(), 0, false)
		if err != nil {
			t.Fatal(err)
		}
		clk.advance(ms)
		p.Release(true)
	}
	if !c.FleetOn() {
		t.Fatalf("gate off after a window of aborts at the floor: %+v", c.Snapshot())
	}
	return c, clk
}

// TestControllerFleetBusyFromTheStart: when every process joins at once,
// the gate is busy from its first window, and the round trip is the least
// time an attempt took to take it, not a window's mean: the gate made
// attempts wait, so it stays on past fleetCalm windows.
func TestControllerFleetBusyFromTheStart(t *testing.T) {
	c, clk := fleetOn(t)
	ctx := context.Background()
	for i := range 4 * (fleetCalm + 4) {
		if !c.FleetOn() {
			t.Fatalf("gate off after %d gated attempts: %+v", i, c.Snapshot())
		}
		p, err := c.Admit(ctx, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		took := 100 * time.Microsecond // the gate was free
		if i%2 == 1 {
			took = 10 * ms // behind another process
		}
		p.Gated(took)
		clk.advance(ms)
		p.Release(false)
	}
}

// TestFleetJoinsAtTheFloorOnly: above its floor a process cuts its own
// limit; it joins the gate only at the floor.
func TestFleetJoinsAtTheFloorOnly(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	s := fleetState{}.next(gateWin(32, 24, 0, 0), 0.75, 0.3, false, t0)
	if s.on {
		t.Fatal("joined above the floor")
	}
	if s = s.next(gateWin(32, 2, 0, 0), 2.0/32, 0.3, true, t0); !s.on {
		t.Fatal("did not join at the floor with aborts")
	}
}

// TestFleetBackAfterCalm: off for calm, a process whose attempts abort
// above the target at the floor turns the gate on again at once; off for
// strikes, not before its backoff ends.
func TestFleetBackAfterCalm(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	s := fleetState{}.next(gateWin(32, 3, 0, 0), 3.0/32, 0.3, true, t0)
	for range fleetCalm {
		s = s.next(gateWin(32, 0, 32, 200*time.Microsecond), 0, 0.3, true, t0)
	}
	if s.on || !s.offUntil.After(t0) {
		t.Fatalf("on %v off until %v after fleetCalm calm windows", s.on, s.offUntil.Sub(t0))
	}
	if s2 := s.next(gateWin(32, 3, 0, 0), 3.0/32, 0.3, true, t0); s2.on {
		t.Fatal("back during the backoff with aborts below the target")
	}
	if s = s.next(gateWin(32, 16, 0, 0), 0.5, 0.3, true, t0); !s.on {
		t.Fatal("not back with aborts above the target at the floor")
	}
	for range fleetStrikes {
		s = s.next(gateWin(32, 16, 32, 200*time.Microsecond), 0.5, 0.3, true, t0)
	}
	if s.on {
		t.Fatal("on after fleetStrikes strikes")
	}
	if s = s.next(gateWin(32, 16, 0, 0), 0.5, 0.3, true, t0); s.on {
		t.Fatal("back during the backoff after strikes")
	}
	seen := gateWin(32, 3, 0, 0)
	seen.seen = true
	if s = s.next(seen, 3.0/32, 0.3, false, t0); !s.on {
		t.Fatal("not back during the backoff, above the floor, with the fleet's gate seen in use")
	}
}

// TestControllerWithoutFleet: without a Fleet name the gate never turns
// on, whatever the aborts.
func TestControllerWithoutFleet(t *testing.T) {
	clk := newClock()
	c := mustNew(t, Settings{StartLimit: 1, MinWindow: 4}, clk)
	for range 40 {
		p, err := c.Admit(context.Background(), 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Gate(); ok {
			t.Fatal("a stripe without a fleet")
		}
		clk.advance(ms)
		p.Release(true)
	}
	if c.FleetOn() || c.Fleet() != "" {
		t.Fatal("gate on without a fleet")
	}
}

// TestControllerFleetLook: a controller above its floor whose attempts
// abort asks once to look at its fleet's gate; seen in use, it joins at
// its next window with aborts; not seen, or seen too long ago, it does
// not.
func TestControllerFleetLook(t *testing.T) {
	for _, tc := range []struct {
		name  string
		busy  bool
		after time.Duration
		on    bool
	}{
		{"seen in use", true, 0, true},
		{"seen free", false, 0, false},
		{"seen in use too long ago", true, 2 * fleetSeenFor, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			c := mustNew(t, Settings{StartLimit: 4, MinWindow: 4, EscalateAfter: -1, Fleet: "orders"}, clk)
			aborted := func(n int) {
				for range n {
					p, err := c.Admit(context.Background(), 0, false)
					if err != nil {
						t.Fatal(err)
					}
					clk.advance(ms)
					p.Release(true)
				}
			}
			if _, ok := c.FleetLook(); ok {
				t.Fatal("a look asked before any window")
			}
			aborted(8)
			stripe, ok := c.FleetLook()
			if !ok || stripe != int(fnv32("orders")%FleetStripes) {
				t.Fatalf("look %v at stripe %d after a window of aborts above the floor (%+v)", ok, stripe, c.Snapshot())
			}
			if _, again := c.FleetLook(); again {
				t.Fatal("asked twice for one window")
			}
			c.FleetSeen(tc.busy)
			clk.advance(tc.after)
			aborted(4)
			if c.FleetOn() != tc.on {
				t.Fatalf("gate on %v, want %v (%+v)", c.FleetOn(), tc.on, c.Snapshot())
			}
		})
	}
}

// TestSlow: an attempt counts as slow past slowFactor times the rule's
// baseline, and never before there is one.
func TestSlow(t *testing.T) {
	c, err := New(Settings{Fleet: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Slow(time.Hour) {
		t.Fatal("slow without a baseline")
	}
	c.st.baseline = 2 * ms
	if c.Slow(slowFactor*2*ms) || !c.Slow(slowFactor*2*ms+1) {
		t.Fatalf("Slow around %v: wrong side", slowFactor*2*ms)
	}
}
