package retrysql

import (
	"context"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ledger keeps the loop's state for statements handed back to database/sql
// (see call.handoff) until database/sql calls again. database/sql retries
// at once, on the same goroutine, with the very same context and query; an
// entry is taken only by a call that matches all three, so that another
// goroutine running the same query with the same context (say
// context.Background) never continues a count that is not its own.
//
// Reading the goroutine's identity costs a few microseconds (it is parsed
// from runtime.Stack), so it is read only when a handoff is made and when a
// call's context and query match a waiting entry: statements pay one atomic
// load when nothing waits.
type ledger struct {
	n  atomic.Int32 // entries, read without the lock on every statement
	mu sync.Mutex
	m  map[ledgerKey][]ledgerEntry
}

type ledgerKey struct {
	ctx   context.Context
	query string
}

type ledgerEntry struct {
	gid uint64
	st  loopState
	at  time.Time
}

// ledgerTTL bounds how long a handed-off state waits: database/sql comes
// back at once, after at most a connect; an entry it did not come back for
// (its third try failed too) is dropped after that.
const ledgerTTL = 30 * time.Second

func (l *ledger) put(ctx context.Context, query string, st loopState) {
	if !reflect.TypeOf(ctx).Comparable() {
		return
	}
	gid := goroutineID()
	now := time.Now()
	k := ledgerKey{ctx, query}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[ledgerKey][]ledgerEntry)
	}
	l.purge(now)
	l.m[k] = append(l.m[k], ledgerEntry{gid: gid, st: st, at: now})
	l.n.Add(1)
}

func (l *ledger) take(ctx context.Context, query string) (loopState, bool) {
	if l.n.Load() == 0 || !reflect.TypeOf(ctx).Comparable() {
		return loopState{}, false
	}
	k := ledgerKey{ctx, query}
	l.mu.Lock()
	waiting := len(l.m[k]) > 0
	l.mu.Unlock()
	if !waiting {
		return loopState{}, false
	}
	gid := goroutineID()
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	es := l.m[k]
	for i, e := range es {
		if e.gid != gid {
			continue
		}
		es = append(es[:i], es[i+1:]...)
		if len(es) == 0 {
			delete(l.m, k)
		} else {
			l.m[k] = es
		}
		l.n.Add(-1)
		if now.Sub(e.at) > ledgerTTL {
			return loopState{}, false
		}
		return e.st, true
	}
	return loopState{}, false
}

// purge drops expired entries; the caller holds the lock.
func (l *ledger) purge(now time.Time) {
	for k, es := range l.m {
		kept := es[:0]
		for _, e := range es {
			if now.Sub(e.at) <= ledgerTTL {
				kept = append(kept, e)
			}
		}
		l.n.Add(int32(len(kept) - len(es)))
		if len(kept) == 0 {
			delete(l.m, k)
		} else {
			l.m[k] = kept
		}
	}
}

// goroutineID returns the current goroutine's number, read from the first
// line of its stack trace ("goroutine 42 [running]:"); 0 if it cannot.
// Goroutine numbers are never reused.
func goroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	const prefix = "goroutine "
	if n <= len(prefix) || string(buf[:len(prefix)]) != prefix {
		return 0
	}
	var id uint64
	for _, c := range buf[len(prefix):n] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
