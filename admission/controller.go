package admission

import (
	"container/heap"
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

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
	hot       hotKeys    // with AdmitHotOnly
	fleet     fleetState // with a Fleet name
	fleetBase int        // the first of the fleet's gate stripes
	fleetSeq  uint64     // spreads permits over the gate's slots
	fleetSeen time.Time  // until when the fleet's gate was seen in use (FleetSeen)
	fleetLook atomic.Bool
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

// setup starts c with the settings s (checked and completed).
func (c *Controller) setup(s Settings, now func() time.Time) {
	c.s, c.now, c.maxLimit = s, now, float64(s.MaxLimit)
	c.st = state{limit: min(max(float64(s.StartLimit), float64(s.MinLimit)), c.maxLimit), slowStart: true}
	c.winStart = now()
	c.fleetBase = int(fnv32(s.Fleet) % FleetStripes)
}

// fnv32 is the FNV-1a hash of s: the same in every process.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
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
	stripe    int  // the fleet gate's stripe + 1, or 0
	waited    bool // the attempt waited behind others
}

// Waited reports whether the attempt waited for its permit behind others.
func (p Permit) Waited() bool { return p.waited }

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
		return c.grantNow(ticket, exclusive), nil
	}
	since := c.now()
	if ticket == 0 {
		ticket = since.UnixNano()
	}
	c.seq++
	w := &waiter{ticket: ticket, seq: c.seq, exclusive: exclusive, ready: make(chan struct{}), since: since}
	heap.Push(&c.queue, w)
	// An older ticket goes ahead of the line's head: behind an exclusive
	// waiter (which waits for the attempts under way), it may be granted
	// a free permit at once.
	c.dispatch()
	c.mu.Unlock()

	select {
	case <-w.ready:
		start := c.now()
		if c.s.OnWait != nil {
			c.s.OnWait(start.Sub(since), exclusive)
		}
		return Permit{c: c, exclusive: exclusive, start: start, ticket: ticket, stripe: w.stripe, waited: true}, nil
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

// TryAdmit grants a permit as Admit does, but only at once: when one is
// free and nobody waits for one; otherwise it returns false, and counts
// the request as work that waited (the limit may grow). A caller that
// holds what the attempts under way need to finish (a pooled connection)
// asks with TryAdmit rather than wait for them.
func (c *Controller) TryAdmit(ticket int64) (Permit, bool) {
	c.ready()
	c.mu.Lock()
	if len(c.queue) > 0 || !c.canGrant(false) {
		c.win.saturated = true
		c.mu.Unlock()
		return Permit{}, false
	}
	return c.grantNow(ticket, false), true
}

// grantNow grants a permit to a request that did not wait and unlocks
// c.mu, which the caller holds.
func (c *Controller) grantNow(ticket int64, exclusive bool) Permit {
	stripe := c.grant(exclusive, 0)
	c.mu.Unlock()
	start := c.now()
	if ticket == 0 {
		ticket = start.UnixNano()
	}
	return Permit{c: c, exclusive: exclusive, start: start, ticket: ticket, stripe: stripe}
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
		d := end.Sub(p.start)
		c.win.latency += d
		if c.win.attempts == 1 || d < c.win.least {
			c.win.least = d // an attempt may take 0 on a coarse clock
		}
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

// grant hands out a permit and returns its gate stripe + 1 (0: no gate);
// the caller holds the lock.
func (c *Controller) grant(exclusive bool, waited time.Duration) (stripe int) {
	c.inflight++
	if c.fleet.on {
		c.fleetSeq++
		stripe = 1 + (c.fleetBase+int(c.fleetSeq%uint64(max(1, permitsOf(c.fleet.slots)))))%FleetStripes
		c.snap.Gated++
	}
	if exclusive {
		c.exclusive = true
		c.snap.Escalations++
	}
	c.win.saturated = c.win.saturated || c.inflight >= permits(c.st.limit)
	c.snap.Admitted++
	c.snap.QueueWait += waited
	c.snap.MaxWait = max(c.snap.MaxWait, waited)
	return stripe
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
		w.stripe = c.grant(w.exclusive, c.now().Sub(w.since))
		w.granted = true
		close(w.ready)
	}
}

// closeWindow applies the update rule; the caller holds the lock.
func (c *Controller) closeWindow(now time.Time) {
	old := permits(c.st.limit)
	floor := c.st.limit <= c.minLimit()
	c.st = c.st.next(c.win, rule{target: c.s.TargetAbort, queue: c.s.QueueThreshold, lo: c.minLimit(), hi: c.maxLimit, leastBase: c.s.Fleet != "", point: c.s.Fleet != ""}, now)
	if c.s.Fleet != "" && c.win.attempts > 0 {
		// A process that saw its fleet's gate in use joins whatever its
		// limit and backoff: one left outside takes more than its share
		// (fleetJoin). One that might join asks to look (FleetLook).
		c.win.seen = now.Before(c.fleetSeen)
		c.fleet = c.fleet.next(c.win, c.st.f, c.s.TargetAbort, floor, now)
		if !c.win.seen && c.fleet.wantsLook(c.win, c.st.f) {
			c.fleetLook.Store(true)
		}
		if c.fleet.on {
			// One attempt at a time at the gate from each process: the
			// gate's slots, not the processes' limits, set how many run,
			// and each process gets its turn in the database's queue.
			c.st.limit, c.st.slowStart = c.minLimit(), false
		}
	}
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
	s.Fleet, s.FleetSlots = c.fleet.on, permitsOf(c.fleet.slots)
	return s
}
