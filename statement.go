package retrysql

import (
	"context"
	"database/sql/driver"

	"github.com/retrysql/retrysql/classify"
)

// stmtKind is what a statement does.
type stmtKind uint8

const (
	stmtExec     stmtKind = iota // Exec, on the connection or a prepared statement
	stmtQuery                    // Query, likewise
	stmtPrepare                  // PREPARE
	stmtBegin                    // BEGIN
	stmtPrepared                 // Exec or Query of a statement the application prepared
)

// stmtSite is the site of a statement outside a transaction: one per
// connection, set up by start for each statement (a connection runs one at
// a time).
//
// Transient and tx-aborted errors are retried on the same connection. A
// lost connection is retried when the request never reached the server or
// the statement is idempotent (BEGIN, PREPARE, a query the handle's policy
// declares, WithIdempotent, Idempotent(ctx)), and otherwise returned as
// ErrAmbiguous. The retry of a lost connection replaces it in place when
// the connection was fresh (nothing but prepared statements had reached
// the server since database/sql handed it out): one loop, one count, and
// database/sql never sees the loss. Otherwise (a *sql.Conn that has served
// requests) the loss is handed to database/sql at once as
// driver.ErrBadConn, without waiting and without state: database/sql
// closes a *sql.Conn and, for a *sql.DB, runs the statement on another
// connection.
type stmtSite struct {
	c          *conn
	kind       stmtKind
	query      string
	idempotent bool
	fresh      bool // the connection was fresh when the statement began
	reached    bool // an attempt may have reached the server
	reviving   bool // the last attempt failed while replacing the connection
}

// replaceInPlace switches the replacement of lost fresh connections on; off,
// every loss is handed to database/sql, which bounds its tries at three
// (the alternative design, kept for the measurement in BENCHMARKS.md; set
// by tests only, through export_test.go).
var replaceInPlace = true

// start sets the site up for a statement and returns it.
func (s *stmtSite) start(query string, kind stmtKind, idempotent bool) *stmtSite {
	s.kind, s.query, s.idempotent = kind, query, idempotent
	s.fresh, s.reached, s.reviving = s.c.fresh, false, false
	return s
}

func (s *stmtSite) place() Place                   { return PlaceStatement }
func (s *stmtSite) funds() bool                    { return true }
func (s *stmtSite) atConnect() bool                { return s.reviving }
func (s *stmtSite) paced(res classify.Result) bool { return false }
func (s *stmtSite) outer() bool                    { return false }

// stale reports whether a stale-statement error will recur: the statement
// is one the application prepared, or one prepared on the connection under
// its text (pgx names prepared statements so), which the next attempt
// would run again.
func (s *stmtSite) stale() bool {
	return s.kind == stmtPrepared || s.c.prepared[s.query] > 0
}

func (s *stmtSite) decide(ctx context.Context, p *policy, err error, res classify.Result) decision {
	c := s.c
	if res.Class == classify.ConnLost {
		c.dead = true
	}
	if !res.Unsent && !res.ReadOnly && !s.reviving && s.kind != stmtPrepare {
		s.reached = true
	}
	idempotent := s.idempotent || p.idempotent || IsIdempotent(ctx)
	if ctx.Err() != nil && !idempotent && !s.reviving && !res.Unsent && !classify.NotSent(err) {
		// The caller's context ended while the statement was in flight: it
		// may or may not have run. (While its connection was being
		// replaced, it had not been sent.)
		return stopWith(ReasonAmbiguous, ErrAmbiguous)
	}
	if res.StaleStatement && s.stale() {
		return stopWith(ReasonPermanent, nil)
	}
	if res.ReadOnly {
		// A read-only node refused the write: nothing ran, and retrying on
		// this connection cannot help. A fresh connection is left for a new
		// one (which a multi-host DSN points at the new primary); a session
		// that served requests may have been made read-only on purpose.
		if !s.fresh || !replaceInPlace {
			return stopWith(ReasonPermanent, nil)
		}
		c.dead = true
		return decision{act: retry}
	}
	if ok, why := mayRepeat(res, idempotent); !ok {
		if why == ReasonAmbiguous {
			return stopWith(why, ErrAmbiguous)
		}
		return stopWith(why, nil)
	}
	if c.dead && !(s.fresh && replaceInPlace) {
		return decision{act: handOff}
	}
	return decision{act: retry}
}

// statement runs one statement outside a transaction at site s: in the
// loop, or as a single attempt under an outer loop (opCtx).
func statement[T any](ctx context.Context, s *stmtSite, op func(context.Context) (T, error)) (T, error) {
	var zero T
	c := s.c
	if c.dead && !(c.fresh && replaceInPlace) {
		// Lost, and not yet dropped by database/sql: it drops it now and,
		// for a *sql.DB, tries another. No attempt was made.
		return zero, driver.ErrBadConn
	}
	if o := opOf(ctx); o != nil {
		return once(ctx, s, o, op)
	}
	v, err := run(ctx, c.h.r, &c.h.r.policy, s, func(ctx context.Context) (T, error) {
		s.reviving = false
		if c.dead {
			if err := c.revive(ctx); err != nil {
				s.reviving = true
				return zero, err
			}
		}
		v, err := op(ctx)
		if err == nil && s.kind != stmtPrepare {
			s.reached = true
		}
		return v, err
	})
	if s.reached {
		c.fresh = false
	}
	return v, err
}

// once makes the single attempt of a statement run under an outer loop,
// and reports to it.
func once[T any](ctx context.Context, s *stmtSite, o *opCtx, op func(context.Context) (T, error)) (T, error) {
	var zero T
	c := s.c
	if c.dead {
		if err := c.revive(ctx); err != nil {
			o.connectFailed.Store(true)
			return zero, err
		}
	}
	v, err := op(ctx)
	if err == driver.ErrSkip {
		return v, err
	}
	var res classify.Result
	if err != nil {
		res = c.h.r.policy.classify(err)
	}
	if s.kind != stmtPrepare && (err == nil || !res.Unsent) {
		c.fresh = false
	}
	if err == nil {
		return v, nil
	}
	if res.StaleStatement && s.stale() {
		o.stale.Store(true)
	}
	if res.ReadOnly && s.fresh {
		c.dead = true // left: the outer loop's next attempt takes another connection
		return zero, err
	}
	if res.Class == classify.ConnLost {
		c.dead = true
		return zero, notBadConn(err)
	}
	return zero, err
}
