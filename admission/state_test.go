package admission

import (
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is left behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ms = time.Millisecond

// win builds a window of n attempts, a of them aborted, each taking lat.
func win(n, a int, lat time.Duration, saturated bool) window {
	return window{attempts: n, aborts: a, latency: time.Duration(n) * lat, saturated: saturated}
}

// TestNextSteps walks the update rule through one window at a time.
func TestNextSteps(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type step struct {
		name string
		w    window
		at   time.Duration // since t0
		want float64       // limit after the window
		chk  func(t *testing.T, s state)
	}
	steps := []step{
		{name: "empty window changes nothing", w: window{}, want: 4},
		{name: "calm and saturated in slow start: doubles", w: win(8, 0, ms, true), want: 8,
			chk: func(t *testing.T, s state) {
				if s.baseline != ms || !s.probed || !s.slowStart {
					t.Errorf("baseline %v probed %v slowStart %v, want 1ms true true", s.baseline, s.probed, s.slowStart)
				}
			}},
		{name: "calm but not saturated: holds", w: win(16, 0, ms, false), want: 8},
		{name: "doubling is capped by the bound", w: win(16, 0, ms, true), want: 10},
		{name: "aborts above target: cut by F/2", w: win(20, 10, ms, true), want: 7.5, // 10·(1−0.5/2)
			chk: func(t *testing.T, s state) {
				if s.slowStart || s.probed {
					t.Errorf("slow start %v, probed %v after a cut", s.slowStart, s.probed)
				}
				if s.hold != 1 || s.holdNext != 2 {
					// The cut punished the doubling before it.
					t.Errorf("hold %d next %d, want 1 2", s.hold, s.holdNext)
				}
				if math.Abs(s.f-0.5) > 1e-9 {
					t.Errorf("f = %v", s.f)
				}
			}},
		{name: "calm after a punished probe: waits one window", w: win(16, 0, ms, true), want: 7.5},
		{name: "then grows by L/16 (more than a quarter)", w: win(16, 0, ms, true), want: 7.96875},
		{name: "aborts up to the target still let it grow", w: win(20, 2, ms, true), want: 8.466796875},
		{name: "slow attempts with one stray abort: no cut", w: win(20, 1, 4*ms, false), want: 8.466796875},
		{name: "slow attempts with aborts: Vegas cut by 10%", w: win(20, 2, 4*ms, true), want: 7.6201171875,
			chk: func(t *testing.T, s state) {
				// Q = 8.47·(1 − baseline/4ms), baseline drifted to 1.093ms.
				if s.q < 6.1 || s.q > 6.2 {
					t.Errorf("q = %v, want ≈ 6.15", s.q)
				}
				if s.hold != 0 || s.holdNext != 2 {
					t.Errorf("a cut for queueing changed the hold: %d %d", s.hold, s.holdNext)
				}
			}},
		{name: "slow attempts without aborts: no cut (group commit)", w: win(20, 0, 4*ms, true), want: 7.6201171875},
		{name: "the floor is one permit", w: win(20, 20, ms, true), want: 3.81005859375},
		{name: "", w: win(20, 20, ms, true), want: 1.905029296875},
		{name: "", w: win(20, 20, ms, true), want: 1},
		{name: "", w: win(20, 20, ms, true), want: 1},
		{name: "calm grows by a quarter, not doubling", w: win(8, 0, ms, true), want: 1.25},
		{name: "5 s without a cut: slow start again", at: 6 * time.Second, w: win(8, 0, ms, true), want: 2.5,
			chk: func(t *testing.T, s state) {
				if !s.slowStart {
					t.Error("not in slow start")
				}
			}},
	}
	s := state{limit: 4, slowStart: true}
	var maxLimit float64 = 10
	for i, st := range steps {
		s = s.next(st.w, rule{target: 0.1, queue: 2, lo: 1, hi: maxLimit}, t0.Add(st.at))
		if math.Abs(s.limit-st.want) > 1e-9 {
			t.Fatalf("step %d (%s): limit %v, want %v (state %+v)", i, st.name, s.limit, st.want, s)
		}
		if st.chk != nil {
			st.chk(t, s)
		}
	}
}

// TestNextProbeHoldDoubles checks that a limit pushed off its optimum by
// probes waits longer and longer before probing again, up to 16 windows.
func TestNextProbeHoldDoubles(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := state{limit: 1, baseline: ms}
	var holds []int
	for range 10 {
		// Calm windows until it probes.
		calm := 0
		for s.limit < 1.25 {
			s = s.next(win(8, 0, ms, true), rule{target: 0.1, queue: 2, lo: 1, hi: 64}, now)
			calm++
			if calm > 200 {
				t.Fatal("never probes")
			}
		}
		holds = append(holds, calm-1)
		// The probe is punished.
		s = s.next(win(8, 4, ms, true), rule{target: 0.1, queue: 2, lo: 1, hi: 64}, now)
		if s.limit != 1 {
			t.Fatalf("limit %v after the punishing window", s.limit)
		}
	}
	want := []int{0, 1, 2, 4, 8, 16, 16, 16, 16, 16}
	for i := range want {
		if holds[i] != want[i] {
			t.Fatalf("calm windows waited before each probe: %v, want %v", holds, want)
		}
	}
	// A probe followed by a window that neither grows nor cuts (here: not
	// saturated) was accepted: the next cut starts the doubling afresh.
	for s.limit < 1.25 {
		s = s.next(win(8, 0, ms, true), rule{target: 0.1, queue: 2, lo: 1, hi: 64}, now)
	}
	s = s.next(win(8, 0, ms, false), rule{target: 0.1, queue: 2, lo: 1, hi: 64}, now)
	s = s.next(win(8, 4, ms, true), rule{target: 0.1, queue: 2, lo: 1, hi: 64}, now)
	if s.hold != 0 || s.holdNext != 1 {
		t.Fatalf("hold %d next %d after a cut that followed a calm window, want 0 1", s.hold, s.holdNext)
	}
}

// TestNextBaseline checks the calm latency: the least mean seen, drifting
// up by 1/64 of the difference per slower window.
func TestNextBaseline(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := state{limit: 4}
	s = s.next(win(8, 0, 2*ms, false), rule{target: 0.1, queue: 2, lo: 1, hi: 64}, now)
	s = s.next(win(8, 0, 3*ms, false), rule{target: 0.1, queue: 2, lo: 1, hi: 64}, now)
	if want := 2*ms + ms/64; s.baseline != want {
		t.Fatalf("baseline %v, want %v", s.baseline, want)
	}
	s = s.next(win(8, 0, ms, false), rule{target: 0.1, queue: 2, lo: 1, hi: 64}, now)
	if s.baseline != ms {
		t.Fatalf("baseline %v, want 1ms", s.baseline)
	}
}

// TestNextBaselineFleet: a fleet's process takes its baseline from the
// shortest attempt of each window, not the mean: the other processes load
// the database from its first window on, so no window of its own is calm.
// With the means, 8 processes on MariaDB's 16 hot rows took 24 ms as calm
// where an attempt alone took 1.6 ms, saw a queue under 2, and ran 5 at
// once each; with the shortest, they settled at 2 each.
func TestNextBaselineFleet(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	r := rule{target: 0.3, queue: 2, lo: 1, hi: 8, leastBase: true}
	loaded := win(32, 4, 24*ms, true)
	loaded.least = 2 * ms
	s := state{limit: 8}.next(loaded, r, now)
	if s.baseline != 2*ms {
		t.Fatalf("baseline %v, want the shortest attempt, 2ms", s.baseline)
	}
	// Q = 8·(1 − 2/24) ≈ 7.3 > 2, with 4 aborts: cut by a tenth.
	if s.limit != 7.2 || s.q < 7 {
		t.Fatalf("limit %v, queue %.2f; want 7.2 after a cut for the queue", s.limit, s.q)
	}
	// Without leastBase the same window is its own baseline: no queue.
	r.leastBase = false
	if s := (state{limit: 8}).next(loaded, r, now); s.baseline != 24*ms || s.limit != 8 {
		t.Fatalf("baseline %v, limit %v; want 24ms and 8 (the mean, no cut)", s.baseline, s.limit)
	}
}

// TestNextConverges runs the rule against a model of a hot table: each
// attempt beyond the first concurrent one aborts with probability p per
// other attempt, and it checks where the limit settles.
func TestNextConverges(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		name     string
		p        float64 // abort probability per other concurrent attempt
		max      float64
		lo, hi   float64 // where the limit must stay after settling
		maxLimit float64
	}{
		{name: "no contention climbs to the pool size", p: 0, lo: 32, hi: 32, maxLimit: 32},
		{name: "hot rows settle at one or two", p: 0.5, lo: 1, hi: 2.25, maxLimit: 32},
		{name: "warm rows settle low", p: 0.05, lo: 1, hi: 4, maxLimit: 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := state{limit: 4, slowStart: true}
			var sum float64
			const windows, settle = 400, 100
			for i := range windows {
				l := math.Floor(s.limit)
				f := math.Min(1, tc.p*(l-1))
				n := max(8, 2*int(l))
				a := int(math.Round(f * float64(n)))
				s = s.next(win(n, a, ms, true), rule{target: 0.1, queue: 2, lo: 1, hi: tc.maxLimit}, now.Add(time.Duration(i)*250*ms))
				if i >= settle {
					if s.limit < tc.lo || s.limit > tc.hi {
						t.Fatalf("window %d: limit %v outside [%v, %v]", i, s.limit, tc.lo, tc.hi)
					}
					sum += s.limit
				}
			}
			t.Logf("mean limit %.2f", sum/float64(windows-settle))
		})
	}
}

// TestNextFleetPointTarget: two processes of a fleet see the same
// database (the same attempt times) with different limits. With the queue
// as a band, [1, 2], both limits lie inside it and neither moves: the
// spread the first windows left stays for good. With a fleet's single
// target (the band's middle), the higher limit shrinks and the lower
// grows until they meet.
func TestNextFleetPointTarget(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	// Attempts of 20 ms whose shortest took 2 ms: Q = 0.9·L. Two aborts
	// in 20 attempts: under the abort target, enough for a cut for the
	// queue.
	w := win(20, 2, 20*ms, true)
	w.least = 2 * ms
	run := func(r rule, limit float64) float64 {
		s := state{limit: limit}
		for i := range 200 {
			s = s.next(w, r, now.Add(time.Duration(i)*250*ms))
		}
		return s.limit
	}
	band := rule{target: 0.3, queue: 2, lo: 1, hi: 64, leastBase: true}
	if lo, hi := run(band, 1.3), run(band, 2.0); lo != 1.3 || hi != 2.0 {
		t.Fatalf("band: limits %.2f and %.2f, want 1.30 and 2.00 (frozen)", lo, hi)
	}
	point := band
	point.point = true
	lo, hi := run(point, 1.3), run(point, 2.0)
	// Resting where Q = 1.5, L = 1.5/0.9 ≈ 1.67, within a step (+0.25 or
	// a tenth).
	for _, l := range []float64{lo, hi} {
		if l < 1.45 || l > 1.95 {
			t.Fatalf("point: limits %.2f and %.2f, want both near 1.67", lo, hi)
		}
	}
	if math.Abs(lo-hi) > 0.3 {
		t.Fatalf("point: limits %.2f and %.2f did not meet", lo, hi)
	}
	// A band that never shrinks (a negative threshold) stays as it was.
	never := point
	never.queue = -1
	if g, s := never.queueBand(); g != 1 || s != -1 {
		t.Fatalf("queueBand with no threshold: %v, %v", g, s)
	}
}

// TestNextFleetQueueCutOneAbort: with the queue above its target, a
// window with one abort cuts a fleet process's limit (rule.point) and
// leaves a lone process's as it is, which needs two; a window with none
// cuts neither.
func TestNextFleetQueueCutOneAbort(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	// Q = 0.9·L = 2.7 at L = 3: above both the band (2) and the point
	// (1.5). One abort in 40 attempts: far under the abort target.
	one := win(40, 1, 20*ms, true)
	one.least = 2 * ms
	none := one
	none.aborts = 0
	base := rule{target: 0.3, queue: 2, lo: 1, hi: 64, leastBase: true}
	point := base
	point.point = true
	for _, tc := range []struct {
		name string
		r    rule
		w    window
		want float64
	}{
		{"fleet, one abort", point, one, 2.7},
		{"fleet, no abort", point, none, 3},
		{"alone, one abort", base, one, 3},
		{"alone, no abort", base, none, 3},
	} {
		s := state{limit: 3, baseline: 2 * ms}.next(tc.w, tc.r, now)
		if math.Abs(s.limit-tc.want) > 1e-9 {
			t.Errorf("%s: limit %.2f, want %.2f", tc.name, s.limit, tc.want)
		}
	}
}
