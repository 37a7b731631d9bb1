package retrysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"
)

// TxAttempt is one attempt of a transaction run by Transact: it runs the
// attempt's COMMIT, and says when the application's code ended the
// transaction itself. Its methods are for the goroutine running the
// attempt.
type TxAttempt struct {
	t *txSite
	// proof, under the commit check (TransactOn): what Prove found.
	proof *attemptProof
}

// Commit runs commit as the attempt's COMMIT and returns its error. While
// it runs, a lost connection leaves the outcome unknown: Transact then
// returns ErrAmbiguousCommit rather than replay, unless the transaction is
// idempotent or read-only. Under the commit check (TransactOn), such an
// outcome is first asked of the server: found committed, Commit returns
// nil; found not committed, an error that replays the transaction.
func (a TxAttempt) Commit(commit func() error) error {
	if commit == nil {
		return errNilOp
	}
	if a.proof != nil {
		return a.checkedCommit(commit)
	}
	return a.t.facts.end(true, commit)
}

// EndedByFn returns the error to give back for an attempt whose
// application code committed (committed true) or rolled back the
// transaction itself, after which the adapter cannot commit: Transact
// never replays it, and returns an error matching ErrTxEndedByFn that says
// what happened (and err, what the code returned, if not nil). It does
// not depend on the attempt: an adapter on RunInTx (a DBBeginner's fn) may
// return it from a zero TxAttempt, and RunInTx returns it as it is.
func (a TxAttempt) EndedByFn(committed bool, err error) error {
	how := "rolled back"
	if committed {
		how = "committed"
	}
	return &txEndedError{how: how, err: err}
}

// CommitFailedByFn is EndedByFn for a fn that called COMMIT itself and saw
// it fail: the transaction is not known to have committed (a COMMIT that
// lost its connection may have been applied), and is not replayed. err is
// what fn returned.
func (a TxAttempt) CommitFailedByFn(err error) error {
	return &txEndedError{how: "commit failed", err: err}
}

// Transact replays a transaction of an API other than database/sql's
// (pgx's pgx.Tx, an ORM's) with RunInTx's rules: attempt begins a
// transaction, runs the work, and commits through a.Commit, rolling back
// on any failure before returning it. Transact classifies what attempt
// returns and replays it as RunInTx does (tx-aborted and transient errors,
// a connection lost before COMMIT), never after a COMMIT whose outcome is
// unknown; readOnly says the transaction is begun READ ONLY (its lost
// COMMIT is harmless, a write refused in it is permanent). It uses
// WithRetrier's Retrier, or SharedRetrier(), with its policy, budget,
// breaker, admission and hooks;
// the options valid for one RunInTx apply, except WithCommitCheck(true),
// which it refuses: the commit check needs a connector to ask through
// (TransactOn).
//
// Package pgxretry is built on it.
func Transact(ctx context.Context, readOnly bool, attempt func(ctx context.Context, a TxAttempt) error, options ...Option) error {
	if attempt == nil {
		return errNilOp
	}
	_, err := TransactValue(ctx, readOnly, func(ctx context.Context, a TxAttempt) (struct{}, error) {
		return struct{}{}, attempt(ctx, a)
	}, options...)
	return err
}

// TransactValue is Transact for a transaction that computes a value: the
// value of the attempt that committed.
func TransactValue[T any](ctx context.Context, readOnly bool, attempt func(ctx context.Context, a TxAttempt) (T, error), options ...Option) (T, error) {
	return TransactValueOn[T](ctx, nil, readOnly, attempt, options...)
}

// TransactOn is Transact with the commit check (WithCommitCheck) for
// transactions on a PostgreSQL server that c also connects to: a connector
// of pgx's database/sql driver (stdlib.GetConnector, GetPoolConnector, or
// one of its own whose Driver is stdlib's; pgxretry makes one for a pool
// or a connection). With the check on (in options or the Retrier's),
// each attempt must call TxAttempt.Prove first thing after BEGIN; a COMMIT
// whose answer was lost is then asked of the server, by transaction id, on
// connections of c, as RunInTx asks a *sql.DB's: found committed, Transact
// returns nil (the attempt's value); found not committed, the transaction
// is replayed; anything the server cannot settle before ctx ends is
// ErrAmbiguousCommit, as without the check. c connects only then, and its
// connections are closed once the question is answered (c itself is never
// closed). A nil c, or one of another driver, refuses the check; without
// the check, TransactOn is Transact.
func TransactOn(ctx context.Context, c driver.Connector, readOnly bool, attempt func(ctx context.Context, a TxAttempt) error, options ...Option) error {
	if attempt == nil {
		return errNilOp
	}
	_, err := TransactValueOn(ctx, c, readOnly, func(ctx context.Context, a TxAttempt) (struct{}, error) {
		return struct{}{}, attempt(ctx, a)
	}, options...)
	return err
}

// TransactValueOn is TransactOn for a transaction that computes a value:
// the value of the attempt that committed.
func TransactValueOn[T any](ctx context.Context, c driver.Connector, readOnly bool, attempt func(ctx context.Context, a TxAttempt) (T, error), options ...Option) (T, error) {
	var zero T
	switch {
	case ctx == nil:
		return zero, errNilContext
	case attempt == nil:
		return zero, errNilOp
	}
	r, p, ctl, err := txRetrier(nil, options)
	if err != nil {
		return zero, err
	}
	t := &txSite{readOnly: readOnly, r: r, policy: p}
	var asker driver.Connector // with the check: c
	if p.commitCheck && !readOnly {
		if err := onPostgres(c); err != nil {
			return zero, err
		}
		t.check, asker = &checker{commitCheck: pgCheck{}}, c
	}
	t.op.Context, t.op.tx = ctx, &t.facts
	t.admitFor(ctx, r, nil, ctl, siteOf(attempt))
	return run(&t.op, r, p, t, func(ctx context.Context) (T, error) {
		return admitted(ctx, t, func(ctx context.Context) (T, error) {
			a := TxAttempt{t: t}
			if t.check != nil {
				a.proof = &attemptProof{asker: asker}
			}
			v, err := attempt(ctx, a)
			if err != nil {
				return zero, err
			}
			if inCommit, _, _, _ := t.facts.snapshot(); !inCommit {
				return zero, errNoCommit
			}
			return v, nil
		})
	})
}

// errNoCommit: an attempt of Transact that succeeded without committing
// through TxAttempt.Commit (a bug of the adapter).
var errNoCommit = errors.New("retrysql: Transact's attempt returned nil without committing through TxAttempt.Commit")

// onPostgres returns nil when c is a connector of pgx's database/sql
// driver (retrysql's wrapper or not), and the error that refuses the
// commit check otherwise.
func onPostgres(c driver.Connector) error {
	if c == nil {
		return errors.New("retrysql: WithCommitCheck: Transact has no commit check without a connector to ask through (TransactOn; RunInTx on a *sql.DB has one)")
	}
	drv := c.Driver()
	if w, ok := drv.(*wrapDriver); ok {
		drv = w.inner
	}
	if _, ok := drv.(*stdlib.Driver); !ok {
		return fmt.Errorf("retrysql: WithCommitCheck: TransactOn checks PostgreSQL through pgx's driver, not %T (RunInTx on a *sql.DB checks MySQL too)", drv)
	}
	return nil
}

// attemptProof is what an attempt of TransactOn proved of itself, and
// the connector to ask through.
type attemptProof struct {
	p      commitProof
	proved bool
	asker  driver.Connector
}

// Prove leaves the commit check's proof in the attempt's transaction, for
// TransactOn with the check on; otherwise it does nothing and returns nil.
// Call it first, right after BEGIN, before anything takes a lock (the
// round trip does not then make contended transactions hold their locks
// longer). queryRow runs query in the attempt's transaction and scans its
// one row into dest; with pgx:
//
//	func(ctx context.Context, query string, dest ...any) error {
//		return tx.QueryRow(ctx, query).Scan(dest...)
//	}
//
// An error is queryRow's: roll back and return it, as for any statement.
func (a TxAttempt) Prove(ctx context.Context, queryRow func(ctx context.Context, query string, dest ...any) error) error {
	if a.proof == nil {
		return nil
	}
	if queryRow == nil {
		return errNilOp
	}
	p, err := pgProve(ctx, queryRow)
	if err != nil {
		return err
	}
	a.proof.p, a.proof.proved = p, true
	return nil
}

// checkedCommit runs commit under the commit check, as RunInTx's
// checkedCommit (commitcheck.go) runs a *sql.Tx's, asking through a
// *sql.DB made for the question on the attempt's connector.
func (a TxAttempt) checkedCommit(commit func() error) error {
	if !a.proof.proved {
		return errNotProved
	}
	return a.t.commitChecked(commit, a.proof.p, func() (*sql.DB, func()) {
		// The only *sql.DB of the call (struct{...} hides an io.Closer:
		// Close must not close the caller's connector).
		db := sql.OpenDB(struct{ driver.Connector }{a.proof.asker})
		return db, func() { db.Close() }
	})
}

// errNotProved: an attempt under the commit check that commits without
// having called Prove (a bug of the adapter); nothing is committed.
var errNotProved = errors.New("retrysql: TxAttempt.Commit under the commit check without TxAttempt.Prove first: not committed")
