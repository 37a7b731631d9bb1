package retryhttp

import (
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/retrysql/retrysql"
)

// IdleHostTimeout is how long a Transport keeps the Retrier of a host
// that has no request in flight and receives none: a host is forgotten
// between IdleHostTimeout and twice that after its last request ended.
// Its next request starts over with a new Retrier: a full budget, a
// closed breaker, counters at zero (Stats no longer lists it in
// between). A host with a request in flight, however long, is never
// forgotten, so no request loses its host's budget or breaker while it
// runs. With the default budget and breaker nothing of use is lost: a
// budget.Ratio forgets credit older than its window (10s), and the
// breaker lets a probe through after 500ms open.
//
// The Transport thus holds the hosts used within the last one or two
// IdleHostTimeouts, however many it has talked to; a budget or breaker
// given with retrysql.WithBudget or WithBreaker is shared by all hosts
// and never forgotten.
const IdleHostTimeout = 5 * time.Minute

// host is the Retrier of one host and how it is used.
type host struct {
	r *retrysql.Retrier
	// inflight counts the RoundTrips under way; used is set by every
	// RoundTrip, begun or ended, and cleared by every sweep. Both change
	// only under the Transport's read lock or after it, and a sweep reads
	// them under the write lock: a RoundTrip that found its host counts
	// before any sweep can forget it.
	inflight atomic.Int32
	used     atomic.Bool
}

type hostKey struct{ scheme, host string }

// acquire returns the host of u, made on first use, counted in flight
// until release.
func (t *Transport) acquire(u *url.URL) (*host, error) {
	k := hostKey{strings.ToLower(u.Scheme), strings.ToLower(u.Host)}
	t.mu.RLock()
	h := t.hosts[k]
	if h != nil {
		h.inflight.Add(1)
		h.mark()
	}
	t.mu.RUnlock()
	if h != nil {
		return h, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if h = t.hosts[k]; h == nil {
		r, err := retrysql.NewRetrier(t.opts...)
		if err != nil {
			return nil, err
		}
		h = &host{r: r}
		t.hosts[k] = h
		if t.sweeper == nil {
			t.sweeper = time.AfterFunc(IdleHostTimeout, t.sweep)
		}
	}
	h.inflight.Add(1)
	h.mark()
	return h, nil
}

// release ends a RoundTrip of h.
func (h *host) release() {
	h.mark()
	h.inflight.Add(-1)
}

// mark notes that h is in use, writing only when the mark is not there
// yet (the hot path of a busy host reads it).
func (h *host) mark() {
	if !h.used.Load() {
		h.used.Store(true)
	}
}

// sweep, run every IdleHostTimeout while the Transport knows hosts,
// forgets the hosts unused since the last sweep and with no request in
// flight, and clears the others' marks. It stops when no host is left,
// so that a Transport no longer used keeps no timer.
func (t *Transport) sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, h := range t.hosts {
		if !h.used.Swap(false) && h.inflight.Load() == 0 {
			delete(t.hosts, k)
		}
	}
	if len(t.hosts) == 0 {
		t.sweeper = nil
		return
	}
	t.sweeper.Reset(IdleHostTimeout)
}

// Stats returns a snapshot of the counters of the Retrier of each host
// the Transport knows (see IdleHostTimeout), by "scheme://host" (lower
// case, with the port when the URL had one).
func (t *Transport) Stats() map[string]retrysql.Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[string]retrysql.Stats, len(t.hosts))
	for k, h := range t.hosts {
		out[k.scheme+"://"+k.host] = h.r.Stats()
	}
	return out
}
