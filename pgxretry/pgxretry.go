// Package pgxretry replays whole pgx transactions, for programs that use
// pgx directly (pgxpool) rather than through database/sql, with retrysql's
// classifier, strategies, budget, breaker, admission and hooks:
//
//	err := pgxretry.RunInTx(ctx, pool, pgx.TxOptions{IsoLevel: pgx.Serializable},
//		func(ctx context.Context, tx pgx.Tx) error {
//			_, err := tx.Exec(ctx, debit, amount, from)
//			if err != nil {
//				return err
//			}
//			_, err = tx.Exec(ctx, credit, amount, to)
//			return err
//		})
//
// The rules are RunInTx's (package retrysql): a deadlock, a serialization
// failure, a lock timeout or a connection lost before COMMIT rolls back,
// waits and replays the whole function; a connection lost during COMMIT
// is retrysql.ErrAmbiguousCommit unless the transaction is idempotent or
// read-only; fn must not commit or roll back itself (if it does, the
// transaction is never replayed and the error says so). The commit check
// (retrysql.WithCommitCheck) is not available here yet and is refused.
//
// Statements outside a transaction are not retried by pgx: Exec retries
// one the way retrysql's driver does (transient and tx-aborted errors; a
// connection lost before anything was sent, which pgx reports with
// pgconn.SafeToRetry; not one lost after, unless declared idempotent).
package pgxretry

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
)

// Beginner begins a pgx transaction: *pgxpool.Pool, *pgx.Conn and pgx.Tx
// (for a savepoint) are Beginners.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// RunInTx runs fn in a transaction begun on db with opts and commits it,
// replaying the whole transaction as retrysql.RunInTx does. opts are the
// options of every attempt's transaction; options are those of one
// retrysql.RunInTx call (WithRetrier chooses the Retrier; otherwise the one
// retrysql shares between handles that are not its own).
func RunInTx(ctx context.Context, db Beginner, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error, options ...retrysql.Option) error {
	if fn == nil {
		return errors.New("pgxretry: nil fn")
	}
	_, err := RunInTxValue(ctx, db, opts, func(ctx context.Context, tx pgx.Tx) (struct{}, error) {
		return struct{}{}, fn(ctx, tx)
	}, options...)
	return err
}

// RunInTxValue is RunInTx for a transaction that computes a value: the
// value returned by the fn of the attempt that committed.
func RunInTxValue[T any](ctx context.Context, db Beginner, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) (T, error), options ...retrysql.Option) (T, error) {
	var zero T
	switch {
	case db == nil:
		return zero, errors.New("pgxretry: nil database")
	case fn == nil:
		return zero, errors.New("pgxretry: nil fn")
	}
	return retrysql.TransactValue(ctx, opts.AccessMode == pgx.ReadOnly, func(ctx context.Context, a retrysql.TxAttempt) (T, error) {
		inner, err := db.BeginTx(ctx, opts)
		if err != nil {
			return zero, err
		}
		tx := &watched{Tx: inner}
		panicked := true
		defer func() {
			if panicked {
				rollback(ctx, inner) // and the panic goes on
			}
		}()
		v, err := fn(ctx, tx)
		panicked = false
		if tx.ended != nil {
			// fn committed or rolled back itself: nothing RunInTx can
			// commit, and a replay could run what it committed twice.
			return zero, a.EndedByFn(*tx.ended, err)
		}
		if err != nil {
			rollback(ctx, inner)
			return zero, err
		}
		if err := a.Commit(func() error { return inner.Commit(ctx) }); err != nil {
			return zero, err
		}
		return v, nil
	}, options...)
}

// rollback rolls tx back after a failure, also when ctx has ended (pgx
// needs a live context to send ROLLBACK; a lost connection takes the
// transaction with it anyway).
func rollback(ctx context.Context, tx pgx.Tx) {
	tx.Rollback(context.WithoutCancel(ctx))
}

// watched is the pgx.Tx handed to fn: it notes a Commit or Rollback that
// fn makes itself.
type watched struct {
	pgx.Tx
	ended *bool // committed (true) or rolled back (false) by fn
}

func (w *watched) Commit(ctx context.Context) error {
	committed := true
	w.ended = &committed
	return w.Tx.Commit(ctx)
}

func (w *watched) Rollback(ctx context.Context) error {
	if w.ended == nil {
		rolledBack := false
		w.ended = &rolledBack
	}
	return w.Tx.Rollback(ctx)
}

// Execer runs a statement: *pgxpool.Pool and *pgx.Conn are Execers.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Exec runs one statement outside a transaction with r's policy (nil: the
// Retrier that retrysql shares between handles that are not its own):
// retried on a tx-aborted or transient error, or a connection lost before
// anything was sent; a connection lost after the request may have reached
// the server is returned as retrysql.ErrAmbiguous, unless the context was
// made by retrysql.Idempotent or options say retrysql.WithIdempotent.
func Exec(ctx context.Context, r *retrysql.Retrier, db Execer, sql string, args []any, options ...retrysql.Option) (pgconn.CommandTag, error) {
	if db == nil {
		return pgconn.CommandTag{}, errors.New("pgxretry: nil database")
	}
	if r == nil {
		r = shared
	}
	return retrysql.DoValue(ctx, r, func(ctx context.Context) (pgconn.CommandTag, error) {
		return db.Exec(ctx, sql, args...)
	}, options...)
}

// shared serves Exec without a Retrier.
var shared = func() *retrysql.Retrier {
	r, err := retrysql.NewRetrier()
	if err != nil {
		panic(err) // the defaults are valid (tested)
	}
	return r
}()
