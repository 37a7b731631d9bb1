package failover

import (
	"context"
	"database/sql"
	"sort"
	"sync"
)

// Where a failed attempt of a transfer failed.
const (
	// AtBegin: before fn ran (the connect, or BEGIN).
	AtBegin = "BEGIN"
	// AtStatement: fn returned the error: one of its statements failed.
	AtStatement = "statement"
	// AtCommit: fn returned nil and the transaction failed after it: at
	// COMMIT (or, with retrysql's commit check, at the marker row written
	// just before it).
	AtCommit = "COMMIT"
)

// A PlacedCount is how many failed attempts of transfers failed at one
// place with one kind of error (errorKey), retried or not.
type PlacedCount struct {
	Place, Key string
	N          int
}

// attempts follows the attempts of one transfer: the harness wraps fn to
// see whether each attempt's fn ran and what it returned, and places each
// failed attempt when it is reported (by Retried, or as the request's
// error).
type attempts struct {
	mu     sync.Mutex
	ran    bool  // fn ran in the current attempt
	fnErr  error // and returned this
	placed []PlacedCount
}

type attemptsKey struct{}

func (a *attempts) fnReturned(err error) {
	a.mu.Lock()
	a.ran, a.fnErr = true, err
	a.mu.Unlock()
}

// fail places the error of the current attempt and starts the next one.
func (a *attempts) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	place := AtCommit
	switch {
	case !a.ran:
		place = AtBegin
	case a.fnErr != nil:
		place = AtStatement
	}
	a.placed = append(a.placed, PlacedCount{Place: place, Key: errorKey(err), N: 1})
	a.ran, a.fnErr = false, nil
}

// Retried reports a failed attempt of a transfer that its TxRunner is
// about to retry, with ctx the context the runner was given (or one
// derived from it) and err the attempt's error: a runner that retries
// calls it, so that the report places every failed attempt, not only the
// last (with retrysql: retrysql.WithOnRetry(func(ev retrysql.Event) {
// failover.Retried(ev.Ctx, ev.Err) })). Any other context is ignored.
func Retried(ctx context.Context, err error) {
	if a, ok := ctx.Value(attemptsKey{}).(*attempts); ok && err != nil {
		a.fail(err)
	}
}

// runTracked runs a transfer with run, placing its failed attempts.
func runTracked(ctx context.Context, run TxRunner, db *sql.DB, fn func(context.Context, *sql.Tx) error) ([]PlacedCount, error) {
	a := &attempts{}
	err := run(context.WithValue(ctx, attemptsKey{}, a), db, func(ctx context.Context, tx *sql.Tx) error {
		err := fn(ctx, tx)
		a.fnReturned(err)
		return err
	})
	if err != nil {
		a.fail(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.placed, err
}

// sumPlaced adds up placed counts by place and key, most frequent first.
func sumPlaced(all [][]PlacedCount) []PlacedCount {
	sum := map[[2]string]int{}
	for _, ps := range all {
		for _, p := range ps {
			sum[[2]string{p.Place, p.Key}] += p.N
		}
	}
	var out []PlacedCount
	for k, n := range sum {
		out = append(out, PlacedCount{Place: k[0], Key: k[1], N: n})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].N != out[b].N {
			return out[a].N > out[b].N
		}
		if out[a].Place != out[b].Place {
			return out[a].Place < out[b].Place
		}
		return out[a].Key < out[b].Key
	})
	return out
}
