package budget_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrysql/retrysql/budget"
)

const ms = time.Millisecond

// step is one row of a step table: at offset at from the budget's start,
// record requests first attempts, then ask for retries and expect granted of
// them to be allowed.
type step struct {
	at       time.Duration
	requests int
	retries  int
	granted  int
}

func runSteps(t *testing.T, start time.Time, request func(time.Time), retry func(time.Time) bool, steps []step) {
	t.Helper()
	for i, s := range steps {
		now := start.Add(s.at)
		for range s.requests {
			request(now)
		}
		got := 0
		for range s.retries {
			if retry(now) {
				got++
			}
		}
		if got != s.granted {
			t.Fatalf("step %d (at %v, %d requests): %d of %d retries granted, want %d", i, s.at, s.requests, got, s.retries, s.granted)
		}
	}
}

func TestTokenBucketSteps(t *testing.T) {
	b, err := budget.NewTokenBucket(2, 3) // a token every 500ms, 3 at most
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, b.Start(), func(time.Time) { b.Request() }, b.Retry, []step{
		{at: 0, requests: 100, retries: 5, granted: 3}, // starts full; requests add nothing
		{at: 100 * ms, retries: 1, granted: 0},
		{at: 500 * ms, retries: 2, granted: 1},
		{at: 999 * ms, retries: 1, granted: 0},
		{at: 1000 * ms, retries: 1, granted: 1},
		{at: 10 * time.Second, retries: 10, granted: 3}, // refills to the burst, no more
		{at: 11 * time.Second, retries: 10, granted: 2},
	})
	if got := b.Tokens(b.Start().Add(13 * time.Second)); got != 3 {
		t.Errorf("Tokens after a quiet period = %d, want 3", got)
	}
}

func TestRatioSteps(t *testing.T) {
	// Ratio 0.5: two first attempts fund one retry. No floor.
	b, err := budget.NewRatio(0.5, 0, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, b.Start(), b.RequestAt, b.Retry, []step{
		{at: 0, retries: 1, granted: 0},                             // no traffic, no credit
		{at: 0, requests: 4, retries: 3, granted: 2},                // 4 requests fund 2
		{at: 1 * time.Second, requests: 10, retries: 0},             // window 0 ends with credit 5
		{at: 10 * time.Second, retries: 0},                          // window 1: previous credit weighs 1
		{at: 15 * time.Second, retries: 3, granted: 2},              // half of it left: 2.5 retries
		{at: 19 * time.Second, requests: 2, retries: 2, granted: 0}, // the 2 retries spent what has slid out
		{at: 25 * time.Second, retries: 1, granted: 0},              // window 2: window 1 ended in debt
		{at: 25 * time.Second, requests: 2, retries: 1, granted: 0}, // which half weighs on fresh credit
		{at: 29 * time.Second, retries: 1, granted: 1},              // the debt fades as the window slides
		{at: 60 * time.Second, requests: 2, retries: 2, granted: 1}, // windows 3 and 4 were empty: all forgotten
	})
}

func TestRatioFloor(t *testing.T) {
	// No credit from traffic; a floor of 1 per second over 3 seconds holds 3.
	b, err := budget.NewRatio(0, 1, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, b.Start(), b.RequestAt, b.Retry, []step{
		{at: 0, requests: 1000, retries: 5, granted: 3},
		{at: 1 * time.Second, retries: 5, granted: 1},
		{at: 10 * time.Second, retries: 5, granted: 3},
	})
	// Credit from traffic is spent before the floor.
	b, err = budget.NewRatio(1, 1, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := b.Start()
	for range 2 {
		b.RequestAt(start)
	}
	if req, floor := b.Credit(start); req != 2 || floor != 3 {
		t.Fatalf("Credit = %d from requests, %d from the floor; want 2, 3", req, floor)
	}
	runSteps(t, start, b.RequestAt, b.Retry, []step{{at: 0, retries: 6, granted: 5}})
	if req, floor := b.Credit(start); req != 0 || floor != 0 {
		t.Fatalf("Credit after spending = %d, %d; want 0, 0", req, floor)
	}
}

func TestZeroValuesDenyEverything(t *testing.T) {
	var tb budget.TokenBucket
	var r budget.Ratio
	now := time.Now()
	r.Request()
	r.RequestAt(now)
	if tb.Retry(now) || r.Retry(now) {
		t.Fatal("a zero-value budget granted a retry")
	}
	if tb.Tokens(now) != 0 {
		t.Fatal("a zero-value token bucket has tokens")
	}
	if a, b := r.Credit(now); a != 0 || b != 0 {
		t.Fatal("a zero-value ratio budget has credit")
	}
}

func TestConstructorsRejectBadParameters(t *testing.T) {
	for name, err := range map[string]error{
		"zero rate":       second(budget.NewTokenBucket(0, 1)),
		"negative rate":   second(budget.NewTokenBucket(-1, 1)),
		"huge rate":       second(budget.NewTokenBucket(2e9, 1)),
		"zero burst":      second(budget.NewTokenBucket(1, 0)),
		"huge burst":      second(budget.NewTokenBucket(1, budget.MaxBurst+1)),
		"negative ratio":  second(budget.NewRatio(-0.1, 10, time.Second)),
		"huge ratio":      second(budget.NewRatio(11, 10, time.Second)),
		"negative floor":  second(budget.NewRatio(0.2, -1, time.Second)),
		"tiny floor":      second(budget.NewRatio(0.2, 1e-9, time.Second)),
		"short window":    second(budget.NewRatio(0.2, 10, time.Microsecond)),
		"long window":     second(budget.NewRatio(0.2, 10, 2*time.Hour)),
		"floor too large": second(budget.NewRatio(0.2, 1e6, time.Hour)),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := budget.NewRatio(budget.DefaultRatio, budget.DefaultFloor, budget.DefaultWindow); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestRetriesNeverExceedTheBound runs 64 goroutines recording first attempts
// and asking for retries while a shared fake clock moves on, and checks the
// documented bound: retries ≤ ratio·firsts + floor·T + burst.
func TestRetriesNeverExceedTheBound(t *testing.T) {
	cases := []struct {
		name          string
		ratio, floor  float64
		window        time.Duration
		retryPerFirst int // how many retries each goroutine asks for per first attempt
	}{
		{"finagle defaults", budget.DefaultRatio, budget.DefaultFloor, budget.DefaultWindow, 3},
		{"ratio only", 0.2, 0, 100 * ms, 3},
		{"floor only", 0, 50, 50 * ms, 1},
		{"short windows", 0.5, 20, ms, 2},
		{"retries rarer than credit", 0.2, 10, 10 * ms, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := budget.NewRatio(tc.ratio, tc.floor, tc.window)
			if err != nil {
				t.Fatal(err)
			}
			start := b.Start()
			var clock atomic.Int64 // nanoseconds since start
			var firsts, retries atomic.Int64
			var wg sync.WaitGroup
			for g := range 64 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 99))
					for range 2000 {
						if rng.IntN(8) == 0 {
							clock.Add(rng.Int64N(int64(tc.window / 20)))
						}
						b.RequestAt(start.Add(time.Duration(clock.Load())))
						firsts.Add(1)
						n := tc.retryPerFirst
						if n == 0 && rng.IntN(10) == 0 {
							n = 1
						}
						for range n {
							if b.Retry(start.Add(time.Duration(clock.Load()))) {
								retries.Add(1)
							}
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Duration(clock.Load())
			burst := max(1, int64(tc.floor*tc.window.Seconds()))
			if tc.floor == 0 {
				burst = 0
			}
			bound := tc.ratio*float64(firsts.Load()) + tc.floor*elapsed.Seconds() + float64(burst)
			t.Logf("%d first attempts over %v, %d retries granted, bound %.1f", firsts.Load(), elapsed, retries.Load(), bound)
			if float64(retries.Load()) > bound {
				t.Fatalf("%d retries granted, more than the bound %.1f", retries.Load(), bound)
			}
			if retries.Load() == 0 {
				t.Fatal("no retry was granted at all")
			}
		})
	}
}

func TestTokenBucketBoundUnderConcurrency(t *testing.T) {
	b, err := budget.NewTokenBucket(100, 20)
	if err != nil {
		t.Fatal(err)
	}
	start := b.Start()
	var clock, granted atomic.Int64
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 5000 {
				if rng.IntN(16) == 0 {
					clock.Add(int64(rng.IntN(100)) * int64(time.Microsecond))
				}
				if b.Retry(start.Add(time.Duration(clock.Load()))) {
					granted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Duration(clock.Load())
	bound := 20 + 100*elapsed.Seconds()
	if float64(granted.Load()) > bound || granted.Load() < 20 {
		t.Fatalf("%d granted over %v, bound %.1f", granted.Load(), elapsed, bound)
	}
}

// TestRequestNoticesWindowMoves checks that Request, which reads the clock
// only now and then, still moves the budget on while traffic flows.
func TestRequestNoticesWindowMoves(t *testing.T) {
	b, err := budget.NewRatio(1, 0, MinWindowForTest)
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		b.Request()
	}
	time.Sleep(3 * MinWindowForTest)
	for range 300 { // crosses a multiple of 256 deposits: the clock is read
		b.Request()
	}
	// The 300 deposits of the first window are forgotten (two windows ago);
	// at most the second batch funds retries.
	if req, _ := b.Credit(time.Now()); req > 300 {
		t.Fatalf("credit %d: old deposits were not forgotten", req)
	}
}

const MinWindowForTest = 5 * ms
