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
	hotSlots        = 4096
	hotHalfLife     = time.Second
	hotMinContended = 2
	hotShare        = 0.10
)

// keyScore is one slot's decayed counts.
type keyScore struct{ attempts, contended float32 }

// hotKeys scores keys; the controller's lock guards it.
type hotKeys struct {
	slots   []keyScore // hotSlots, allocated at first use
	decayed time.Time  // when the scores were last halved
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
		return
	}
	f := float32(1) / float32(uint32(1)<<n)
	for i := range h.slots {
		h.slots[i].attempts *= f
		h.slots[i].contended *= f
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
