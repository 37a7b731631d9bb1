package admission

import (
	"context"
	"math"
	"testing"
	"time"
)

// Regression tests of bugs that an audit found on 2026-12-08, one per
// bug; each test's comment says what went wrong before its fix.

// TestOlderArrivalBehindExclusiveWaiter: an exclusive waiter at the
// head of the line waits for the attempts under way. A newcomer whose
// ticket is older than the exclusive waiter's becomes the head of the
// line, and a permit is free for it: it must be granted (older tickets are
// served first), not left waiting until some attempt ends.
func TestOlderArrivalBehindExclusiveWaiter(t *testing.T) {
	ctx := context.Background()
	c := mustNew(t, Settings{StartLimit: 4}, newClock())
	running, err := c.Admit(ctx, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	defer running.Release(false)
	ex := admitAsync(c, ctx, 20, true) // waits for running to end
	waitQueued(t, c, 1)

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	p, err := c.Admit(short, 5, false) // older than the exclusive waiter
	if err != nil {
		t.Fatalf("ticket 5 not granted with 3 of 4 permits free and only a younger waiter in line: %v (snapshot %+v)", err, c.Snapshot())
	}
	p.Release(false)
	running.Release(false)
	if q, ok := <-ex; ok {
		q.Release(false)
	}
}

// TestLeastWithZeroLatency: a window's shortest attempt is kept with
// 0 as "none yet"; an attempt that took 0 is then forgotten and the next,
// longer one taken as the least. In a fleet (the least is the baseline)
// the queue estimate Q comes out negative: the baseline exceeds the mean.
func TestLeastWithZeroLatency(t *testing.T) {
	clk := newClock()
	c := mustNew(t, Settings{StartLimit: 1, MaxLimit: 1, MinWindow: 2, Fleet: "f"}, clk)
	ctx := context.Background()
	p, _ := c.Admit(ctx, 1, false)
	p.Release(false) // took 0
	p, _ = c.Admit(ctx, 1, false)
	clk.advance(10 * time.Millisecond)
	p.Release(false) // took 10ms: closes the window (2 attempts)
	s := c.Snapshot()
	if s.Windows != 1 {
		t.Fatalf("window not closed: %+v", s)
	}
	if s.Q < 0 || math.IsNaN(s.Q) {
		t.Fatalf("queue estimate Q = %v after a window of attempts taking 0 and 10ms (mean 5ms): must not be negative", s.Q)
	}
}

// TestHugeLimitSettings: New accepts StartLimit and MaxLimit of
// math.MaxInt; the limit, a float64 of 2^63, rounds to a negative number
// of permits, and Admit then waits forever with nothing under way.
func TestHugeLimitSettings(t *testing.T) {
	c, err := New(Settings{StartLimit: math.MaxInt, MaxLimit: math.MaxInt})
	if err != nil {
		return // refused: fine
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	p, err := c.Admit(ctx, 0, false)
	if err != nil {
		t.Fatalf("settings accepted by New, yet Admit with nothing under way: %v (snapshot %+v)", err, c.Snapshot())
	}
	p.Release(false)
}

// TestFleetOnWithoutGatedAttempts: once on, the gate turns off "when
// the gate has not made anyone wait for fleetCalm windows". Windows in
// which no attempt took the gate (its tables could not be made, it broke,
// the driver has none) match no case of fleetState.next: the gate stays
// on for good and pins the limit at its floor.
func TestFleetOnWithoutGatedAttempts(t *testing.T) {
	c, clk := fleetOn(t)
	ctx := context.Background()
	for range 4 * 10 * fleetCalm { // 10·fleetCalm calm windows, no gate taken
		p, err := c.Admit(ctx, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		clk.advance(ms)
		p.Release(false)
	}
	if s := c.Snapshot(); s.Fleet {
		t.Fatalf("after %d calm windows in which nobody took (or waited at) the gate, it is still on: %+v", s.Windows-1, s)
	}
}
