package admission

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a manual clock for the controller.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_000_000, 0)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustNew(t *testing.T, s Settings, clk *clock) *Controller {
	t.Helper()
	now := time.Now
	if clk != nil {
		now = clk.now
	}
	c, err := newAt(s, now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewSettings(t *testing.T) {
	c, err := New(Settings{})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Snapshot()
	if s.Limit != DefaultStartLimit || s.MaxLimit != DefaultMaxLimit || c.EscalateAfter() != DefaultEscalateAfter {
		t.Fatalf("defaults: %+v, escalate after %d", s, c.EscalateAfter())
	}
	c, err = New(Settings{StartLimit: 10, MaxLimit: 3, EscalateAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Snapshot(); s.Limit != 3 || c.EscalateAfter() != -1 {
		t.Fatalf("start above the bound: limit %v, escalate after %d", s.Limit, c.EscalateAfter())
	}
	for _, bad := range []Settings{
		{StartLimit: -1}, {MaxLimit: -2}, {MinWindow: -1}, {WindowTime: -time.Second},
		{TargetAbort: -0.1}, {TargetAbort: 1}, {TargetAbort: math.NaN()}, {TargetAbort: math.Inf(1)},
	} {
		if c, err := New(bad); err == nil || c != nil {
			t.Errorf("New(%+v) = %v, %v; want an error", bad, c, err)
		}
	}
	var p Permit
	p.Release(true) // the zero Permit is harmless
}

// admitAsync starts Admit on a goroutine and returns where its result
// arrives.
func admitAsync(c *Controller, ctx context.Context, ticket int64, exclusive bool) chan Permit {
	ch := make(chan Permit, 1)
	go func() {
		p, err := c.Admit(ctx, ticket, exclusive)
		if err != nil {
			close(ch)
			return
		}
		ch <- p
	}()
	return ch
}

// waitQueued waits until n attempts wait for a permit.
func waitQueued(t *testing.T, c *Controller, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Snapshot().Queued != n {
		if time.Now().After(deadline) {
			t.Fatalf("queued %d, want %d", c.Snapshot().Queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func granted(ch chan Permit) bool {
	select {
	case <-ch:
		return true
	case <-time.After(20 * time.Millisecond):
		return false
	}
}

// TestAdmitOldestFirst checks that waiters are served by ticket, not by
// arrival, and that the limit holds.
func TestAdmitOldestFirst(t *testing.T) {
	ctx := context.Background()
	c := mustNew(t, Settings{StartLimit: 2}, newClock())
	p1, _ := c.Admit(ctx, 100, false)
	p2, _ := c.Admit(ctx, 101, false)
	// They arrive newest first.
	tickets := []int64{50, 40, 30, 20, 10}
	chans := map[int64]chan Permit{}
	for i, tk := range tickets {
		chans[tk] = admitAsync(c, ctx, tk, false)
		waitQueued(t, c, i+1)
	}
	running := []Permit{p1, p2}
	for _, tk := range []int64{10, 20, 30, 40, 50} {
		if granted(chans[tk]) {
			t.Fatalf("ticket %d granted beyond the limit", tk)
		}
		// One of the running attempts ends: the oldest waiter gets its
		// permit.
		running[0].Release(false)
		p, ok := <-chans[tk]
		if !ok {
			t.Fatalf("ticket %d refused", tk)
		}
		running = append(running[1:], p)
		if s := c.Snapshot(); s.Inflight != 2 {
			t.Fatalf("inflight %d", s.Inflight)
		}
	}
	for _, p := range running {
		p.Release(false)
	}
	if s := c.Snapshot(); s.Inflight != 0 || s.Queued != 0 || s.Admitted != 7 {
		t.Fatalf("after all releases: %+v", s)
	}
}

// TestAdmitSameTicketFIFO: equal tickets are served in arrival order.
func TestAdmitSameTicketFIFO(t *testing.T) {
	ctx := context.Background()
	c := mustNew(t, Settings{StartLimit: 1}, newClock())
	p, _ := c.Admit(ctx, 1, false)
	var chans []chan Permit
	for i := range 4 {
		chans = append(chans, admitAsync(c, ctx, 7, false))
		waitQueued(t, c, i+1)
	}
	p.Release(false)
	for i, ch := range chans {
		q, ok := <-ch
		if !ok {
			t.Fatal("admit failed")
		}
		for j := i + 1; j < len(chans); j++ {
			if granted(chans[j]) {
				t.Fatalf("waiter %d served before %d", j, i)
			}
		}
		q.Release(false)
	}
}

// TestAdmitExclusive: an exclusive attempt waits for those under way and
// runs alone; everyone behind it waits.
func TestAdmitExclusive(t *testing.T) {
	ctx := context.Background()
	c := mustNew(t, Settings{StartLimit: 4}, newClock())
	a, _ := c.Admit(ctx, 10, false)
	b, _ := c.Admit(ctx, 11, false)
	ex := admitAsync(c, ctx, 1, true)
	waitQueued(t, c, 1)
	later := admitAsync(c, ctx, 20, false)
	waitQueued(t, c, 2)
	a.Release(false)
	if granted(ex) || granted(later) {
		t.Fatal("granted while an attempt is under way")
	}
	b.Release(false)
	p, ok := <-ex
	if !ok || !p.exclusive {
		t.Fatal("exclusive permit not granted")
	}
	if granted(later) {
		t.Fatal("an attempt ran beside an exclusive one")
	}
	// A newcomer with an older ticket cannot slip in either.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.Admit(short, 0, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Admit beside an exclusive permit: %v", err)
	}
	p.Release(false)
	if !granted(later) {
		t.Fatal("not served after the exclusive attempt")
	}
	if s := c.Snapshot(); s.Escalations != 1 {
		t.Fatalf("escalations %d", s.Escalations)
	}
}

// TestAdmitContext: a waiter whose context ends leaves the line, and the
// ones behind it move up.
func TestAdmitContext(t *testing.T) {
	c := mustNew(t, Settings{StartLimit: 1}, newClock())
	p, _ := c.Admit(context.Background(), 1, false)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Admit(ctx, 2, false)
		errc <- err
	}()
	waitQueued(t, c, 1)
	behind := admitAsync(c, context.Background(), 3, false)
	waitQueued(t, c, 2)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Admit = %v, want context.Canceled", err)
	}
	if s := c.Snapshot(); s.Queued != 1 {
		t.Fatalf("queued %d after the cancellation", s.Queued)
	}
	p.Release(false)
	q, ok := <-behind
	if !ok {
		t.Fatal("the waiter behind was not served")
	}
	q.Release(false)

	// An exclusive waiter at the head that leaves lets the others in.
	p, _ = c.Admit(context.Background(), 1, false)
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		_, err := c.Admit(ctx, 2, true)
		errc <- err
	}()
	waitQueued(t, c, 1)
	behind = admitAsync(c, context.Background(), 3, false)
	waitQueued(t, c, 2)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("exclusive Admit = %v, want context.Canceled", err)
	}
	p.Release(false)
	q, ok = <-behind
	if !ok {
		t.Fatal("the waiter behind the exclusive one was not served after it left")
	}
	q.Release(false)

	// An ended context is refused even with permits free.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.Admit(ctx, 5, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("Admit on an ended context: %v", err)
	}
	if s := c.Snapshot(); s.Queued != 0 {
		t.Fatalf("left in the queue: %+v", s)
	}
}

// TestWindowsAndHook drives the controller with a manual clock: windows
// close by count and by time, the limit moves, the hook sees it.
func TestWindowsAndHook(t *testing.T) {
	clk := newClock()
	var changes []LimitChange
	c := mustNew(t, Settings{StartLimit: 2, MaxLimit: 16, MinWindow: 8, TargetAbort: 0.1, OnLimitChange: func(ch LimitChange) { changes = append(changes, ch) }}, clk)
	ctx := context.Background()
	run := func(n int, aborted bool, lat time.Duration) {
		for range n {
			p, err := c.Admit(ctx, clk.now().UnixNano(), false)
			if err != nil {
				t.Fatal(err)
			}
			// Saturate: hold every permit at once.
			clk.advance(lat)
			p.Release(aborted)
		}
	}
	// One at a time never saturates a limit of 2: no growth.
	run(8, false, ms)
	if s := c.Snapshot(); s.Limit != 2 || s.Windows != 1 {
		t.Fatalf("unsaturated: %+v", s)
	}
	// Saturated calm windows double the limit (slow start).
	saturated := func(aborted bool) {
		l := int(c.Snapshot().Limit)
		ps := make([]Permit, l)
		for i := range ps {
			ps[i], _ = c.Admit(ctx, 1, false)
		}
		clk.advance(ms)
		for _, p := range ps {
			p.Release(aborted)
		}
	}
	for c.Snapshot().Windows < 2 {
		saturated(false)
	}
	if s := c.Snapshot(); s.Limit != 4 {
		t.Fatalf("after a saturated calm window: %+v", s)
	}
	for c.Snapshot().Windows < 3 {
		saturated(true)
	}
	if s := c.Snapshot(); s.Limit != 2 || s.F != 1 {
		t.Fatalf("after an aborted window: %+v", s)
	}
	if len(changes) != 2 || changes[0] != (LimitChange{Old: 2, New: 4, Attempts: 8}) || changes[1].Old != 4 || changes[1].New != 2 || changes[1].AbortFraction != 1 {
		t.Fatalf("hook saw %+v", changes)
	}
	// A window closes after WindowTime even with few attempts.
	p, _ := c.Admit(ctx, 1, false)
	clk.advance(DefaultWindowTime)
	p.Release(false)
	if s := c.Snapshot(); s.Windows != 4 {
		t.Fatalf("time window did not close: %+v", s)
	}
	// The pool bound caps the limit and can be lifted.
	c.SetMaxLimit(1)
	if s := c.Snapshot(); s.Limit != 1 || s.MaxLimit != 1 {
		t.Fatalf("SetMaxLimit(1): %+v", s)
	}
	c.SetMaxLimit(0)
	if s := c.Snapshot(); s.MaxLimit != 16 {
		t.Fatalf("SetMaxLimit(0): %+v", s)
	}
}

// TestQueueWait: the snapshot accounts the time spent waiting.
func TestQueueWait(t *testing.T) {
	clk := newClock()
	var waits []time.Duration
	c := mustNew(t, Settings{StartLimit: 1, OnWait: func(d time.Duration, excl bool) { waits = append(waits, d) }}, clk)
	p, _ := c.Admit(context.Background(), 1, false)
	ch := admitAsync(c, context.Background(), 2, false)
	waitQueued(t, c, 1)
	clk.advance(30 * ms)
	p.Release(false)
	q := <-ch
	q.Release(false)
	if s := c.Snapshot(); s.QueueWait != 30*ms || s.MaxWait != 30*ms {
		t.Fatalf("queue wait %v max %v, want 30ms", s.QueueWait, s.MaxWait)
	}
	if len(waits) != 1 || waits[0] != 30*ms {
		t.Fatalf("OnWait saw %v, want [30ms]", waits)
	}
}

// TestAdmitRace hammers one controller from 64 goroutines, with
// cancellations, escalations and a moving limit, and checks the invariants
// from the outside: never more attempts than permits, exclusive attempts
// alone, every Admit answered.
func TestAdmitRace(t *testing.T) {
	c := mustNew(t, Settings{StartLimit: 3, MaxLimit: 8, MinWindow: 4, WindowTime: time.Millisecond}, nil)
	var (
		inflight, exclusive atomic.Int64
		violations          atomic.Int64
		grantedN, refused   atomic.Int64
		wg                  sync.WaitGroup
	)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ticket := time.Now().UnixNano()
			for i := range 200 {
				ctx, cancel := context.WithCancel(context.Background())
				if i%17 == g%17 {
					cancel() // some give up before or while waiting
				}
				excl := i%50 == g%50
				p, err := c.Admit(ctx, ticket, excl)
				if err != nil {
					refused.Add(1)
					cancel()
					continue
				}
				grantedN.Add(1)
				n := inflight.Add(1)
				if excl {
					exclusive.Add(1)
					if n != 1 {
						violations.Add(1)
					}
				} else if exclusive.Load() != 0 {
					violations.Add(1)
				}
				if n > 8 {
					violations.Add(1) // beyond MaxLimit
				}
				if i%5 == 0 {
					time.Sleep(10 * time.Microsecond)
				}
				if excl {
					exclusive.Add(-1)
				}
				inflight.Add(-1)
				p.Release(i%3 == 0)
				cancel()
				if i%40 == 0 {
					c.SetMaxLimit(1 + i%8)
				}
			}
		}()
	}
	wg.Wait()
	s := c.Snapshot()
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d violations", v)
	}
	if s.Inflight != 0 || s.Queued != 0 || grantedN.Load()+refused.Load() != 64*200 || s.Admitted < uint64(grantedN.Load()) {
		t.Fatalf("end state %+v, granted %d refused %d", s, grantedN.Load(), refused.Load())
	}
	t.Logf("granted %d, refused %d, windows %d, escalations %d, limit %.2f", grantedN.Load(), refused.Load(), s.Windows, s.Escalations, s.Limit)
}

// TestZeroController: the zero value works, with the default settings.
func TestZeroController(t *testing.T) {
	var c Controller
	if got := c.EscalateAfter(); got != DefaultEscalateAfter {
		t.Fatalf("EscalateAfter %d", got)
	}
	p, err := c.Admit(t.Context(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Snapshot(); s.Inflight != 1 || s.Permits != DefaultStartLimit {
		t.Fatalf("snapshot %+v", s)
	}
	p.Release(false)
	c.SetMaxLimit(2)
	if s := c.Snapshot(); s.Inflight != 0 || s.MaxLimit != 2 {
		t.Fatalf("snapshot %+v", s)
	}
}
