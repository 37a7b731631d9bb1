// Package admission runs transactions under an adaptive concurrency limit,
// so that on hot rows they take turns instead of aborting one another.
//
// A [Controller] stands in front of every attempt of a transaction: an
// attempt holds a permit from BEGIN to COMMIT or ROLLBACK, and at most L
// attempts (L rounded) hold one at a time. Waiters are served oldest first,
// by the time of their transaction's first attempt (its ticket), so a
// retried transaction keeps its place in line; there are no random sleeps.
// The limit L adapts, every window of attempts (at least MinWindow of them
// and twice the permits, or WindowTime):
//
//   - when the fraction F of attempts that aborted (deadlock, serialization
//     failure) exceeds TargetAbort, L shrinks in proportion to F, as DCTCP
//     shrinks its window: L·(1 − F/2);
//   - when attempts take longer than they did when the database was calm,
//     Q = L·(1 − baseline/latency) estimates how many wait inside the
//     database, as TCP Vegas does; Q > QueueThreshold shrinks L by 10%,
//     but only in a window that also saw at least two aborts, since group
//     commit alone makes latency grow with concurrency on a calm database
//     (lock waits show as latency on InnoDB, as aborts on PostgreSQL);
//   - when calm (F within the target, Q < 1) and saturated (every permit in
//     use, or work waiting), L grows: doubling at first (slow start), then
//     by a quarter of a permit or L/16, whichever is more, per window. After
//     a probe that aborts punished with a decrease, the next increase waits
//     twice as many calm windows as the last one (up to 16), so that a limit
//     at its optimum is not pushed off it again and again; 5 s without a
//     decrease starts slow start again.
//
// L starts at StartLimit (4) and stays within [MinLimit, MaxLimit] (and the
// pool's size, through SetMaxLimit). A transaction that aborted
// EscalateAfter times runs its next attempt alone: it waits for the
// attempts under way to finish and holds the only permit.
//
// The defaults come from the contention benchmark of BENCHMARKS.md. With
// nothing to contend for, F stays 0 and L climbs to its bound: admission
// then costs a lock and two clock readings per attempt.
//
// The update rule is a pure function of the window (state.next), unit-tested
// step by step; Admit and Release are safe for concurrent use.
package admission

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Defaults of Settings.
const (
	DefaultStartLimit     = 4
	DefaultMaxLimit       = 64
	DefaultTargetAbort    = 0.30
	DefaultEscalateAfter  = 5
	DefaultQueueThreshold = 2
	DefaultMinWindow      = 32
	DefaultWindowTime     = 250 * time.Millisecond
)

// Settings configure a Controller; zero fields take the defaults.
type Settings struct {
	// StartLimit is the initial limit (default 4).
	StartLimit int
	// MaxLimit bounds the limit (default 64); RunInTx bounds it by the
	// connection pool's size as well.
	MaxLimit int
	// MinLimit is the least limit (default 1). MinLimit = MaxLimit makes
	// a fixed limit, for comparisons.
	MinLimit int
	// TargetAbort is the abort fraction above which the limit shrinks
	// (default 0.30).
	TargetAbort float64
	// QueueThreshold is the estimate of attempts waiting inside the
	// database (Q) above which a window that saw aborts shrinks the limit
	// (default 2; negative: never).
	QueueThreshold float64
	// EscalateAfter is the number of aborts of one transaction after which
	// its attempts run alone (default 5; negative: never).
	EscalateAfter int
	// MinWindow is the least number of attempts in a window (default 32);
	// a window also ends after WindowTime (default 250ms) if it holds at
	// least one attempt.
	MinWindow  int
	WindowTime time.Duration
	// OnLimitChange, if set, is called when a window changes the number of
	// permits. It runs under the controller's lock: it
	// must be quick and must not call the controller.
	OnLimitChange func(LimitChange)
	// OnWait, if set, is called by every attempt that waited for its
	// permit, once granted, with the time it waited and whether the
	// permit is exclusive (an escalated attempt). It runs on the waiting
	// goroutine, outside the controller's lock.
	OnWait func(wait time.Duration, exclusive bool)
}

// LimitChange describes a change of the limit, and the window that caused
// it.
type LimitChange struct {
	Old, New      int     // permits before and after
	AbortFraction float64 // F: the window's aborted attempts per attempt
	Queue         float64 // Q: the estimate of attempts waiting inside the database
	Attempts      int     // attempts in the window
}

// Snapshot is the state of a Controller, for tests and telemetry.
type Snapshot struct {
	Limit       float64       // current limit
	Permits     int           // current limit rounded: the permits
	MaxLimit    int           // the limit's bound: MaxLimit, or the pool's size if lower
	F, Q        float64       // the last window's abort fraction and queue estimate
	Inflight    int           // attempts holding a permit
	Queued      int           // attempts waiting (set by Snapshot)
	Admitted    uint64        // permits granted
	Escalations uint64        // exclusive permits granted
	Windows     uint64        // windows closed
	Changes     uint64        // windows that changed the permits
	QueueWait   time.Duration // total time spent waiting for permits
	MaxWait     time.Duration // longest wait
}

// Controller is the admission control of one contention domain (a
// database handle). The zero value is a controller with the default
// Settings; New sets others. A Controller is safe for concurrent use and
// must not be copied after first use.
type Controller struct {
	once sync.Once // sets the defaults of a zero Controller
	s    Settings
	now  func() time.Time

	mu        sync.Mutex
	st        state
	maxLimit  float64
	inflight  int
	exclusive bool
	queue     waiters
	seq       uint64
	win       window
	winStart  time.Time
	snap      Snapshot
}

// New returns a Controller, or an error if a setting is out of range.
func New(s Settings) (*Controller, error) {
	return newAt(s, time.Now)
}

func newAt(s Settings, now func() time.Time) (*Controller, error) {
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Controller{}
	c.once.Do(func() { c.setup(s, now) })
	return c, nil
}

// withDefaults checks s and fills its zero fields with the defaults.
func (s Settings) withDefaults() (Settings, error) {
	switch {
	case s.StartLimit < 0, s.MaxLimit < 0, s.MinLimit < 0, s.MinWindow < 0, s.WindowTime < 0:
		return s, errors.New("admission: negative setting")
	case s.MaxLimit > 0 && s.MinLimit > s.MaxLimit:
		return s, fmt.Errorf("admission: MinLimit %d above MaxLimit %d", s.MinLimit, s.MaxLimit)
	case math.IsNaN(s.QueueThreshold) || math.IsInf(s.QueueThreshold, 0):
		return s, fmt.Errorf("admission: queue threshold %v", s.QueueThreshold)
	case math.IsNaN(s.TargetAbort) || s.TargetAbort < 0 || s.TargetAbort >= 1:
		return s, fmt.Errorf("admission: target abort fraction %v is outside [0, 1)", s.TargetAbort)
	}
	if s.StartLimit == 0 {
		s.StartLimit = DefaultStartLimit
	}
	if s.MaxLimit == 0 {
		s.MaxLimit = DefaultMaxLimit
	}
	if s.MinLimit == 0 {
		s.MinLimit = 1
	}
	if s.MinLimit > s.MaxLimit {
		return s, fmt.Errorf("admission: MinLimit %d above the default MaxLimit %d", s.MinLimit, s.MaxLimit)
	}
	if s.TargetAbort == 0 {
		s.TargetAbort = DefaultTargetAbort
	}
	if s.QueueThreshold == 0 {
		s.QueueThreshold = DefaultQueueThreshold
	}
	if s.EscalateAfter == 0 {
		s.EscalateAfter = DefaultEscalateAfter
	}
	if s.MinWindow == 0 {
		s.MinWindow = DefaultMinWindow
	}
	if s.WindowTime == 0 {
		s.WindowTime = DefaultWindowTime
	}
	return s, nil
}

// setup starts c with the settings s (checked and completed).
func (c *Controller) setup(s Settings, now func() time.Time) {
	c.s, c.now, c.maxLimit = s, now, float64(s.MaxLimit)
	c.st = state{limit: min(max(float64(s.StartLimit), float64(s.MinLimit)), c.maxLimit), slowStart: true}
	c.winStart = now()
}

// ready gives a zero Controller the default settings, once.
func (c *Controller) ready() {
	c.once.Do(func() {
		s, _ := Settings{}.withDefaults() // the defaults are valid (tested)
		c.setup(s, time.Now)
	})
}

// EscalateAfter returns the setting (negative: never).
func (c *Controller) EscalateAfter() int { c.ready(); return c.s.EscalateAfter }

// SetMaxLimit bounds the limit by n as well as by Settings.MaxLimit: the
// connection pool's size, say. n < 1 means no bound but MaxLimit.
// RunInTx calls it with the pool's size (sql.DBStats.MaxOpenConnections).
func (c *Controller) SetMaxLimit(n int) {
	c.ready()
	m := float64(c.s.MaxLimit)
	if n >= 1 {
		m = math.Min(float64(n), m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m == c.maxLimit {
		return
	}
	c.maxLimit = m
	c.st.limit = min(max(c.st.limit, c.minLimit()), c.maxLimit)
	c.dispatch()
}

// permits is the number of permits of limit l: l rounded, so that a small
// cut of a limit at a whole number does not take a whole permit away.
func permits(l float64) int { return int(l + 0.5) }

// minLimit is the limit's floor: MinLimit, unless the pool is smaller.
func (c *Controller) minLimit() float64 { return math.Min(float64(c.s.MinLimit), c.maxLimit) }

// Permit is held by an attempt from BEGIN to COMMIT or ROLLBACK. Release it
// exactly once. The zero Permit releases nothing.
type Permit struct {
	c         *Controller
	exclusive bool
	start     time.Time
	ticket    int64
}

// Ticket returns the ticket the permit was granted under: Admit's ticket,
// or the time of the request if that was 0.
func (p Permit) Ticket() int64 { return p.ticket }

// Admit waits for a permit for an attempt of the transaction whose first
// attempt asked at ticket (a time, in UnixNano; 0 means now, and
// Permit.Ticket returns it for the next attempts); exclusive asks to run
// alone. Older tickets are served first, equal ones in order of arrival.
// It returns ctx's error if ctx ends first.
func (c *Controller) Admit(ctx context.Context, ticket int64, exclusive bool) (Permit, error) {
	c.ready()
	if err := ctx.Err(); err != nil {
		return Permit{}, err
	}
	c.mu.Lock()
	if len(c.queue) == 0 && c.canGrant(exclusive) {
		c.grant(exclusive, 0)
		c.mu.Unlock()
		start := c.now()
		if ticket == 0 {
			ticket = start.UnixNano()
		}
		return Permit{c: c, exclusive: exclusive, start: start, ticket: ticket}, nil
	}
	since := c.now()
	if ticket == 0 {
		ticket = since.UnixNano()
	}
	c.seq++
	w := &waiter{ticket: ticket, seq: c.seq, exclusive: exclusive, ready: make(chan struct{}), since: since}
	heap.Push(&c.queue, w)
	c.mu.Unlock()

	select {
	case <-w.ready:
		start := c.now()
		if c.s.OnWait != nil {
			c.s.OnWait(start.Sub(since), exclusive)
		}
		return Permit{c: c, exclusive: exclusive, start: start, ticket: ticket}, nil
	case <-ctx.Done():
		c.mu.Lock()
		if w.granted {
			// Granted while the context ended: give the permit back.
			c.mu.Unlock()
			Permit{c: c, exclusive: exclusive}.release(false, false)
			return Permit{}, ctx.Err()
		}
		heap.Remove(&c.queue, w.index)
		c.dispatch() // the head may have changed
		c.mu.Unlock()
		return Permit{}, ctx.Err()
	}
}

// Release ends the attempt; aborted says whether the database rolled it back
// for contention (a deadlock, a serialization failure).
func (p Permit) Release(aborted bool) { p.release(aborted, true) }

func (p Permit) release(aborted, counted bool) {
	c := p.c
	if c == nil {
		return
	}
	end := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	if p.exclusive {
		c.exclusive = false
	}
	if counted {
		c.win.attempts++
		if aborted {
			c.win.aborts++
		}
		c.win.latency += end.Sub(p.start)
		if c.win.attempts >= max(c.s.MinWindow, 2*permits(c.st.limit)) || end.Sub(c.winStart) >= c.s.WindowTime {
			c.closeWindow(end)
		}
	}
	c.dispatch()
}

// canGrant reports whether a permit can be granted now; the caller holds
// the lock.
func (c *Controller) canGrant(exclusive bool) bool {
	if c.exclusive {
		return false
	}
	if exclusive {
		return c.inflight == 0
	}
	return c.inflight < permits(c.st.limit)
}

// grant hands out a permit; the caller holds the lock.
func (c *Controller) grant(exclusive bool, waited time.Duration) {
	c.inflight++
	if exclusive {
		c.exclusive = true
		c.snap.Escalations++
	}
	c.win.saturated = c.win.saturated || c.inflight >= permits(c.st.limit)
	c.snap.Admitted++
	c.snap.QueueWait += waited
	c.snap.MaxWait = max(c.snap.MaxWait, waited)
}

// dispatch grants permits to the waiters at the head of the line while it
// can; the caller holds the lock.
func (c *Controller) dispatch() {
	for len(c.queue) > 0 {
		w := c.queue[0]
		if !c.canGrant(w.exclusive) {
			c.win.saturated = true // work is waiting
			return
		}
		heap.Pop(&c.queue)
		c.grant(w.exclusive, c.now().Sub(w.since))
		w.granted = true
		close(w.ready)
	}
}

// closeWindow applies the update rule; the caller holds the lock.
func (c *Controller) closeWindow(now time.Time) {
	old := permits(c.st.limit)
	c.st = c.st.next(c.win, rule{target: c.s.TargetAbort, queue: c.s.QueueThreshold, lo: c.minLimit(), hi: c.maxLimit}, now)
	c.winStart = now
	c.snap.Windows++
	if n := permits(c.st.limit); n != old {
		c.snap.Changes++
		if c.s.OnLimitChange != nil {
			c.s.OnLimitChange(LimitChange{Old: old, New: n, AbortFraction: c.st.f, Queue: c.st.q, Attempts: c.win.attempts})
		}
	}
	c.win = window{}
}

// Snapshot returns the controller's state and counters.
func (c *Controller) Snapshot() Snapshot {
	c.ready()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap
	s.Limit = c.st.limit
	s.Permits = permits(c.st.limit)
	s.MaxLimit = int(c.maxLimit)
	s.F, s.Q = c.st.f, c.st.q
	s.Inflight = c.inflight
	s.Queued = len(c.queue)
	return s
}

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
	saturated        bool          // every permit was in use, or work waited
}

// slowStartAgain is how long without a decrease puts the controller back in
// slow start.
const slowStartAgain = 5 * time.Second

// maxHold bounds the calm windows waited before probing again: a table that
// cooled down is found out within that many windows.
const maxHold = 16

// next is the update rule: the state after a window.
// rule holds the settings of the update rule.
type rule struct {
	target float64 // abort fraction tolerated
	queue  float64 // queue estimate tolerated with aborts (negative: any)
	lo, hi float64 // bounds of the limit
}

func (s state) next(w window, r rule, now time.Time) state {
	if w.attempts == 0 {
		return s
	}
	f := float64(w.aborts) / float64(w.attempts)
	mean := w.latency / time.Duration(w.attempts)
	switch {
	case s.baseline == 0 || mean < s.baseline:
		s.baseline = mean
	default:
		s.baseline += (mean - s.baseline) / 64 // re-baseline slowly
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
	switch {
	case f > r.target:
		cut(s.limit*(1-f/2), true)
	case r.queue >= 0 && q > r.queue && w.aborts >= 2:
		cut(0.9*s.limit, false)
	case q < 1 && w.saturated:
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

// waiters is a heap of waiting attempts, oldest ticket first.
type waiters []*waiter

type waiter struct {
	ticket    int64
	seq       uint64
	exclusive bool
	ready     chan struct{}
	granted   bool
	since     time.Time
	index     int
}

func (q waiters) Len() int { return len(q) }
func (q waiters) Less(i, j int) bool {
	if q[i].ticket != q[j].ticket {
		return q[i].ticket < q[j].ticket
	}
	return q[i].seq < q[j].seq
}
func (q waiters) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *waiters) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return w
}
