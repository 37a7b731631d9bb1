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
// The commit check (retrysql.WithCommitCheck, on the handle, the Retrier
// or the call) works as retrysql.RunInTx's on the *sql.DB that GORM runs
// on (db.DB()), for pgx and go-sql-driver/mysql: a COMMIT whose answer was
// lost is asked of the handle's other connections; found committed,
// RunInTx returns nil; found not committed, it replays.
package gormretry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/retrysql/retrysql"
)

// RunInTx runs fn in a GORM transaction begun on db with opts (nil: the
// database's defaults) and commits it, replaying the whole transaction as
// retrysql.RunInTx does (see the package documentation). The tx handed to
// fn carries the attempt's context: the statements of fn run with it.
//
// options are those of one retrysql.RunInTx call (the package
// documentation of retrysql lists them), which RunInTx is on the *sql.DB
// that GORM runs on: on a database opened with a retrysql driver the
// handle's Retrier is used, with its policy, budget, breaker, admission,
// hooks and counters; otherwise retrysql.SharedRetrier();
// retrysql.WithRetrier chooses another. RunInTx is safe for concurrent
// use, as db is.
func RunInTx(ctx context.Context, db *gorm.DB, opts *sql.TxOptions, fn func(tx *gorm.DB) error, options ...retrysql.Option) error {
	if fn == nil {
		return errNilFn
	}
	_, err := runInTx(ctx, db, opts, func(tx *gorm.DB) (struct{}, error) {
		return struct{}{}, fn(tx)
	}, fn, options)
	return err
}

// RunInTxValue is RunInTx for a transaction that computes a value: the
// value returned by the fn of the attempt that committed.
func RunInTxValue[T any](ctx context.Context, db *gorm.DB, opts *sql.TxOptions, fn func(tx *gorm.DB) (T, error), options ...retrysql.Option) (T, error) {
	return runInTx(ctx, db, opts, fn, fn, options)
}

// runInTx is RunInTxValue, with the function the application gave (site),
// which names the transactions for admission (retrysql.SiteBeginner).
func runInTx[T any](ctx context.Context, db *gorm.DB, opts *sql.TxOptions, fn func(tx *gorm.DB) (T, error), site any, options []retrysql.Option) (T, error) {
	var zero T
	switch {
	case ctx == nil:
		return zero, errors.New("gormretry: nil context")
	case db == nil || db.Config == nil || db.Statement == nil || db.ConnPool == nil:
		return zero, errors.New("gormretry: the *gorm.DB is nil or was not opened by gorm.Open")
	case fn == nil:
		return zero, errNilFn
	case db.Error != nil:
		// GORM would begin anyway and hand the transaction back with the
		// error, holding a connection.
		return zero, db.Error
	}
	if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); inTx {
		return zero, errors.New("gormretry: db is a transaction already (RunInTx begins its own; inside one, tx.Transaction makes a savepoint)")
	}
	b := &beginner{db: db, site: site}
	b.sqlDB, _ = db.DB() // nil for a ConnPool that is not database/sql's
	return retrysql.RunInTxValue(ctx, b, opts, func(ctx context.Context, stx *sql.Tx) (T, error) {
		tx, w := b.tx, b.w
		if tx == nil || b.stx != stx {
			return zero, errors.New("gormretry: the transaction handed to fn is not the one begun") // never: RunInTx begins, then runs fn
		}
		v, err := fn(tx)
		if byFn, failed := w.endedByFn(); byFn != nil {
			// fn committed or rolled back itself: nothing to commit, and a
			// replay could run what it committed twice.
			if failed {
				return zero, retrysql.TxAttempt{}.CommitFailedByFn(err)
			}
			return zero, retrysql.TxAttempt{}.EndedByFn(*byFn, err)
		}
		return v, err
	}, options...)
}

// beginner begins the attempts of one RunInTxValue through GORM (db.Begin,
// with the attempt's context), which makes the *gorm.DB handed to fn, and
// gives retrysql.RunInTx the *sql.Tx inside it to commit or roll back;
// RunInTx's own COMMIT so bypasses GORM, which would only call the
// *sql.Tx's. It keeps the last attempt's transaction for fn (the attempts
// of one call are sequential), and is a retrysql.DBBeginner: RunInTx
// treats the call as one on the *sql.DB that GORM runs on.
type beginner struct {
	db    *gorm.DB
	site  any // the application's function
	sqlDB *sql.DB
	tx    *gorm.DB // the attempt's, for fn
	stx   *sql.Tx  // the database/sql transaction inside tx
	w     *watcher
}

var (
	_ retrysql.DBBeginner   = (*beginner)(nil)
	_ retrysql.SiteBeginner = (*beginner)(nil)
)

// DB names the handle GORM runs on, or nil.
func (b *beginner) DB() *sql.DB { return b.sqlDB }

// Site names the application's function, whose transactions admission
// judges apart from others made through this package.
func (b *beginner) Site() any { return b.site }

func (b *beginner) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	b.tx, b.stx, b.w = nil, nil, nil
	tx := b.db.WithContext(ctx).Begin(opts)
	if tx.Error != nil {
		if stx := sqlTx(tx.Statement.ConnPool); stx != nil {
			stx.Rollback() // begun with the error: not held for nothing
		}
		return nil, tx.Error
	}
	stx := sqlTx(tx.Statement.ConnPool)
	if stx == nil {
		pool := tx.Statement.ConnPool
		tx.Rollback()
		return nil, fmt.Errorf("gormretry: GORM began a %T, not a database/sql transaction (RunInTx needs a dialector over database/sql)", pool)
	}
	b.tx, b.stx, b.w = tx, stx, watch(tx, b.sqlDB)
	return stx, nil
}

var errNilFn = errors.New("gormretry: nil fn")
