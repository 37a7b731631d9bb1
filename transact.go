package retrysql

import (
	"context"
	"errors"
)

// TxAttempt is one attempt of a transaction run by Transact: it runs the
// attempt's COMMIT, and says when the application's code ended the
// transaction itself. Its methods are for the goroutine running the
// attempt.
type TxAttempt struct{ t *txSite }

// Commit runs commit as the attempt's COMMIT and returns its error. While
// it runs, a lost connection leaves the outcome unknown: Transact then
// returns ErrAmbiguousCommit rather than replay, unless the transaction is
// idempotent or read-only.
func (a TxAttempt) Commit(commit func() error) error {
	if commit == nil {
		return errNilOp
	}
	return a.t.facts.end(true, commit)
}

// EndedByFn returns the error to give back for an attempt whose
// application code committed (committed true) or rolled back the
// transaction itself, after which the adapter cannot commit: Transact
// never replays it, and returns an error matching ErrTxEndedByFn that says
// what happened (and err, what the code returned, if not nil).
func (a TxAttempt) EndedByFn(committed bool, err error) error {
	how := "rolled back"
	if committed {
		how = "committed"
	}
	return &txEndedError{how: how, err: err}
}

// Transact replays a transaction of an API other than database/sql's
// (pgx's pgx.Tx, an ORM's) with RunInTx's rules: attempt begins a
// transaction, runs the work, and commits through a.Commit, rolling back
// on any failure before returning it. Transact classifies what attempt
// returns and replays it as RunInTx does (tx-aborted and transient errors,
// a connection lost before COMMIT), never after a COMMIT whose outcome is
// unknown; readOnly says the transaction is begun READ ONLY (its lost
// COMMIT is harmless, a write refused in it is permanent). It uses
// WithRetrier's Retrier, or the one shared by RunInTx on handles that are
// not retrysql's, with its policy, budget, breaker, admission and hooks;
// the options valid for one RunInTx apply, except WithCommitCheck(true),
// which it refuses: the commit check needs a *sql.DB to ask (RunInTx).
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
	if p.commitCheck && !readOnly {
		return zero, errors.New("retrysql: WithCommitCheck: Transact has no commit check yet (RunInTx on a *sql.DB has)")
	}
	t := &txSite{readOnly: readOnly, r: r, policy: p}
	t.op.Context, t.op.tx = ctx, &t.facts
	t.admitFor(ctx, r, nil, ctl)
	return run(&t.op, r, p, t, func(ctx context.Context) (T, error) {
		return admitted(ctx, t, func(ctx context.Context) (T, error) {
			v, err := attempt(ctx, TxAttempt{t})
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
