package pgxretry

import (
	"context"
	"errors"
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/retrysql/retrysql"
)

// Beginner begins a pgx transaction: *pgxpool.Pool, *pgxpool.Conn and
// *pgx.Conn are Beginners.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

var (
	_ Beginner = (*pgxpool.Pool)(nil)
	_ Beginner = (*pgxpool.Conn)(nil)
	_ Beginner = (*pgx.Conn)(nil)
)

// RunInTx runs fn in a transaction begun on db with opts and commits it,
// replaying the whole transaction as retrysql.RunInTx does (see the
// package documentation). opts are the options of every attempt's
// transaction; options are those of one retrysql.RunInTx call
// (retrysql.WithRetrier chooses the Retrier; otherwise
// retrysql.SharedRetrier()). With retrysql.WithCommitCheck(true), here or
// on the Retrier, db must be a *pgxpool.Pool or a *pgx.Conn.
func RunInTx(ctx context.Context, db Beginner, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error, options ...retrysql.Option) error {
	if fn == nil {
		return errNilFn
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
	case db == nil || isNil(db):
		return zero, errors.New("pgxretry: nil database")
	case fn == nil:
		return zero, errNilFn
	}
	return retrysql.TransactValueOn(ctx, checkConnector(db), opts.AccessMode == pgx.ReadOnly, func(ctx context.Context, a retrysql.TxAttempt) (T, error) {
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
		// The commit check's proof, first (nothing without the check).
		if err := a.Prove(ctx, func(ctx context.Context, q string, dest ...any) error {
			return inner.QueryRow(ctx, q).Scan(dest...)
		}); err != nil {
			panicked = false
			rollback(ctx, inner)
			return zero, err
		}
		v, err := fn(ctx, tx)
		panicked = false
		if tx.ended != nil {
			// fn committed or rolled back itself: nothing RunInTx can
			// commit, and a replay could run what it committed twice.
			if tx.commitFailed {
				return zero, a.CommitFailedByFn(err)
			}
			return zero, a.EndedByFn(*tx.ended, err)
		}
		if err != nil {
			rollback(ctx, inner)
			return zero, err
		}
		if err := a.Commit(func() error { return inner.Commit(ctx) }); err != nil {
			rollback(ctx, inner) // nothing left to end, unless Commit did not run
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
	ended        *bool // committed (true) or rolled back (false) by fn
	commitFailed bool  // fn's COMMIT failed
}

func (w *watched) Commit(ctx context.Context) error {
	committed := true
	w.ended = &committed
	err := w.Tx.Commit(ctx)
	w.commitFailed = err != nil
	return err
}

func (w *watched) Rollback(ctx context.Context) error {
	if w.ended == nil {
		rolledBack := false
		w.ended = &rolledBack
	}
	return w.Tx.Rollback(ctx)
}

var errNilFn = errors.New("pgxretry: nil fn")

// isNil reports whether db is a nil pointer (a typed nil in the
// interface).
func isNil(db any) bool {
	v := reflect.ValueOf(db)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
