package admission

import "time"

// Hot keys: which transactions contend, found out from what they do.
//
// A key stands for something a transaction's first statement names: the
// statement with one of its arguments (the hash is the caller's, see
// Controller.Hot). Each key has two scores, decayed by half every
// hotHalfLife: the attempts that named it, and those of them that
// contended (the database aborted them, or they waited for a permit behind
// others). A key is hot while at least hotMinContended of its attempts
// contended, and at least hotShare of them: an argument that hot and cold
// transactions share alike (an amount, a status) is diluted by the cold
// ones and stays cold. Counting the waits as well as the aborts keeps a
// key hot while admission keeps it from aborting; once its traffic neither
// aborts nor queues, it cools down within a few half-lives.
//
// Keys share hotSlots counters by their hash: two keys in one slot add up,
// which can only make a cold key look hot (a transaction then waits for a
// permit it did not need), never a hot one cold.

const (
	maxSites        = 1024
	siteMinFirst    = 4
	siteHotShare    = 0.5
	hotSlots        = 4096
	hotHalfLife     = time.Second
	hotMinContended = 2
	hotShare        = 0.10
)

// keyScore is one slot's decayed counts.
type keyScore struct{ attempts, contended float32 }

// Sites are where transactions come from (RunInTx's fn): a site most of
// whose recent first attempts (at least siteMinFirst, decayed alike) were
// hot is likely hot, and its next first attempt waits for its permit
// before BEGIN, holding no connection: waiting at the first statement
// holds one, and a hot row's transactions then run on as many
// connections (server processes) in turn as there are waiters, which cost
// a third of the goodput on hot PostgreSQL rows against the few
// connections that permits taken before BEGIN keep busy.

// siteScore is one site's decayed counts of first attempts, and of those
// found hot.
type siteScore struct{ first, hot float32 }

// hotKeys scores keys and sites; the controller's lock guards it.
type hotKeys struct {
	slots   []keyScore // hotSlots, allocated at first use
	sites   map[uintptr]*siteScore
	decayed time.Time // when the scores were last halved
}

// decay halves the scores once per half-life gone since the last time.
func (h *hotKeys) decay(now time.Time) {
	if h.decayed.IsZero() {
		h.decayed = now
		return
	}
	n := int(now.Sub(h.decayed) / hotHalfLife)
	if n <= 0 {
		return
	}
	h.decayed = h.decayed.Add(time.Duration(n) * hotHalfLife)
	if n > 20 {
		clear(h.slots)
		clear(h.sites)
		return
	}
	f := float32(1) / float32(uint32(1)<<n)
	for i := range h.slots {
		h.slots[i].attempts *= f
		h.slots[i].contended *= f
	}
	for k, s := range h.sites {
		if s.first *= f; s.first < 0.1 {
			delete(h.sites, k)
		}
		s.hot *= f
	}
}

// likely reports whether site is likely hot.
func (h *hotKeys) likely(site uintptr, now time.Time) bool {
	h.decay(now)
	s := h.sites[site]
	return s != nil && s.first >= siteMinFirst && s.hot >= siteHotShare*s.first
}

// first counts a first attempt from site, hot or not.
func (h *hotKeys) first(site uintptr, hot bool) {
	if site == 0 {
		return
	}
	s := h.sites[site]
	if s == nil {
		if len(h.sites) >= maxSites {
			return
		}
		if h.sites == nil {
			h.sites = make(map[uintptr]*siteScore)
		}
		s = &siteScore{}
		h.sites[site] = s
	}
	s.first++
	if hot {
		s.hot++
	}
}

// hot reports whether every one of keys is hot (and there is one): a
// transaction whose statement names a hot row beside a value seen
// nowhere else, or beside a cold row, may not contend.
func (h *hotKeys) hot(keys []uint64, now time.Time) bool {
	if h.slots == nil || len(keys) == 0 {
		return false
	}
	h.decay(now)
	for _, k := range keys {
		s := h.slots[k%hotSlots]
		if s.contended < hotMinContended || s.contended < hotShare*s.attempts {
			return false
		}
	}
	return true
}

// observe counts an attempt that named keys, and whether it contended.
func (h *hotKeys) observe(keys []uint64, contended bool, now time.Time) {
	if len(keys) == 0 {
		return
	}
	if h.slots == nil {
		h.slots = make([]keyScore, hotSlots)
	}
	h.decay(now)
	for _, k := range keys {
		s := &h.slots[k%hotSlots]
		s.attempts++
		if contended {
			s.contended++
		}
	}
}

// AdmitsHotOnly reports whether the controller admits first attempts only
// when they are hot (Settings.AdmitHotOnly).
func (c *Controller) AdmitsHotOnly() bool { c.ready(); return c.s.AdmitHotOnly }

// Hot reports whether a transaction whose first statement names keys is
// hot: whether every one of them is a key that recent attempts contended
// on (Observe). A caller with AdmitHotOnly admits a first attempt only if
// it is. The keys are the caller's hashes, one per thing the statement
// names (the statement with each of its arguments, say); they need not be
// the same in other processes. site, if not 0, names where the
// transaction comes from (RunInTx's fn); Hot counts the answer for it
// (LikelyHot).
func (c *Controller) Hot(site uintptr, keys []uint64) bool {
	c.ready()
	c.mu.Lock()
	defer c.mu.Unlock()
	hot := len(keys) > 0 && c.hot.hot(keys, c.now())
	c.hot.first(site, hot)
	if !hot {
		c.snap.Cold++
	}
	return hot
}

// LikelyHot reports whether most recent first attempts from site were
// found hot (Hot): a caller with AdmitHotOnly admits the next one before
// it begins its transaction rather than at its first statement.
func (c *Controller) LikelyHot(site uintptr) bool {
	c.ready()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hot.likely(site, c.now())
}

// Observe counts an attempt whose first statement named keys, admitted or
// not, once it has ended: contended says the database aborted it for
// contention or it waited for its permit behind others.
func (c *Controller) Observe(keys []uint64, contended bool) {
	c.ready()
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hot.observe(keys, contended, c.now())
}
