// Package gormretry replays whole GORM transactions with retrysql's rules:
//
//	err := gormretry.RunInTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable},
//		func(tx *gorm.DB) error {
//			if err := tx.Model(&Account{}).Where("id = ?", from).
//				Update("balance", gorm.Expr("balance - ?", amount)).Error; err != nil {
//				return err
//			}
//			return tx.Create(&Ledger{From: from, To: to, Amount: amount}).Error
//		})
//
// It works on any GORM dialector over database/sql: gorm.io/driver/postgres
// and gorm.io/driver/mysql with DriverName "retry+pgx" and "retry+mysql"
// (retrysql's drivers: statements outside transactions are retried too,
// and the handle's Retrier runs the transactions) or the plain "pgx" and
// "mysql" (the Retrier retrysql shares between handles that are not its
// own, or retrysql.WithRetrier's).
//
// The rules are retrysql.RunInTx's: a deadlock, a serialization failure, a
// lock timeout or a connection lost before COMMIT rolls the transaction
// back, waits as the error's strategy says and runs fn again in a new
// transaction; a connection lost while COMMIT was in flight is
// retrysql.ErrAmbiguousCommit (no replay) unless the transaction is
// idempotent or read-only; any other error rolls back and is returned as
// it is; a panic in fn rolls back and panics on.
//
// fn must return GORM's errors (tx.Create(...).Error and the like) as they
// are or wrapped with %w: retrysql decides from the driver's error inside,
// which GORM keeps. With gorm.Config{TranslateError: true}, GORM replaces
// only the errors of its table (a duplicate key, a foreign key or check
// constraint, an unknown column), none of which is retried; deadlocks and
// serialization failures stay the driver's. When GORM joins several errors
// of one statement ("a; b"), only the last one can be seen by errors.As.
//
// fn must not call tx.Commit or tx.Rollback: RunInTx does. If it does,
// RunInTx never replays the transaction and returns an error matching
// retrysql.ErrTxEndedByFn that says whether fn committed or rolled back.
// Nested tx.Transaction calls (savepoints) are fine.
//
// The commit check (retrysql.WithCommitCheck) is not available for GORM
// transactions yet (retrysql.Transact has none): the WithCommitCheck
// setting of a handle or Retrier does not apply here, and
// WithCommitCheck(true) given to RunInTx is refused; a lost COMMIT is
// ErrAmbiguousCommit.
package gormretry

import (
	"context"
	"database/sql"
	"errors"

	"gorm.io/gorm"

	"github.com/retrysql/retrysql"
)

// RunInTx runs fn in a GORM transaction begun on db with opts (nil: the
// database's defaults) and commits it, replaying the whole transaction as
// retrysql.RunInTx does (see the package documentation). The tx handed to
// fn carries the attempt's context: the statements of fn run with it.
//
// options are those of one retrysql.RunInTx call (the package
// documentation of retrysql lists them). On a database opened with a
// retrysql driver the handle's Retrier is used, with its policy, budget,
// breaker, admission, hooks and counters; otherwise the Retrier retrysql
// shares between handles that are not its own; retrysql.WithRetrier
// chooses another. RunInTx is safe for concurrent use, as db is.
func RunInTx(ctx context.Context, db *gorm.DB, opts *sql.TxOptions, fn func(tx *gorm.DB) error, options ...retrysql.Option) error {
	if fn == nil {
		return errNilFn
	}
	_, err := RunInTxValue(ctx, db, opts, func(tx *gorm.DB) (struct{}, error) {
		return struct{}{}, fn(tx)
	}, options...)
	return err
}

// RunInTxValue is RunInTx for a transaction that computes a value: the
// value returned by the fn of the attempt that committed.
func RunInTxValue[T any](ctx context.Context, db *gorm.DB, opts *sql.TxOptions, fn func(tx *gorm.DB) (T, error), options ...retrysql.Option) (T, error) {
	var zero T
	switch {
	case ctx == nil:
		return zero, errors.New("gormretry: nil context")
	case db == nil || db.Config == nil || db.Statement == nil || db.ConnPool == nil:
		return zero, errors.New("gormretry: the *gorm.DB is nil or was not opened by gorm.Open")
	case fn == nil:
		return zero, errNilFn
	}
	if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); inTx {
		return zero, errors.New("gormretry: db is a transaction already (RunInTx begins its own; inside one, tx.Transaction makes a savepoint)")
	}
	sqlDB, _ := db.DB() // nil for a ConnPool that is not database/sql's
	readOnly := opts != nil && opts.ReadOnly
	return retrysql.TransactValue(ctx, readOnly, func(ctx context.Context, a retrysql.TxAttempt) (T, error) {
		return attempt(ctx, a, db, sqlDB, opts, fn)
	}, callOptions(sqlDB, options)...)
}

// attempt is one attempt: BEGIN, fn, COMMIT.
func attempt[T any](ctx context.Context, a retrysql.TxAttempt, db *gorm.DB, sqlDB *sql.DB, opts *sql.TxOptions, fn func(*gorm.DB) (T, error)) (T, error) {
	var zero T
	tx := db.WithContext(ctx).Begin(opts)
	if tx.Error != nil {
		return zero, tx.Error
	}
	w := watch(tx, sqlDB)
	panicked := true
	defer func() {
		if panicked {
			w.rollback(tx) // and the panic goes on
		}
	}()
	v, err := fn(tx)
	panicked = false
	if byFn := w.endedByFn(); byFn != nil {
		// fn committed or rolled back itself: nothing to commit, and a
		// replay could run what it committed twice.
		return zero, a.EndedByFn(*byFn, err)
	}
	if err != nil {
		w.rollback(tx)
		return zero, err
	}
	if err := a.Commit(func() error { return w.commit(tx) }); err != nil {
		return zero, err
	}
	return v, nil
}

// callOptions puts before the caller's options the Retrier of sqlDB when
// it is a retrysql handle (a later WithRetrier wins), and turns off the
// commit check of the handle or Retrier, which Transact does not have.
func callOptions(sqlDB *sql.DB, options []retrysql.Option) []retrysql.Option {
	pre := []retrysql.Option{retrysql.WithCommitCheck(false)}
	if r, ok := retrysql.RetrierOf(sqlDB); ok {
		pre = append(pre, retrysql.WithRetrier(r))
	}
	return append(pre, options...)
}

var errNilFn = errors.New("gormretry: nil fn")
