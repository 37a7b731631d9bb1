// Package sqlxretry makes retrysql's drivers work with sqlx, and replays
// whole sqlx transactions.
//
// Importing it registers retrysql's driver names with sqlx's bind types:
// "retry+pgx" as sqlx.DOLLAR ($1, as "pgx") and "retry+mysql" as
// sqlx.QUESTION (?, as "mysql"). sqlx picks the placeholders of named
// queries (NamedExec, NamedQuery, BindNamed), Rebind and In by the driver
// name, and does not know retrysql's: without this, every named query
// sent through sqlx.Open("retry+pgx", dsn) has ? placeholders, which
// PostgreSQL rejects. A blank import is enough:
//
//	import _ "github.com/retrysql/retrysql/sqlxretry"
//
//	db, err := sqlx.Open("retry+pgx", dsn)
//
// A driver registered under another name with retrysql.Register needs
// sqlx.BindDriver(name, bindType) of its own.
//
// RunInTx runs a function in a *sqlx.Tx with retrysql.RunInTx's rules: a
// deadlock, a serialization failure, a lock timeout or a connection lost
// before COMMIT rolls back, waits and replays the whole function; a
// connection lost during COMMIT is retrysql.ErrAmbiguousCommit unless the
// transaction is idempotent or read-only; any other error rolls back and
// is returned as it is; a panic rolls back and panics on.
package sqlxretry

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"

	"github.com/retrysql/retrysql"
)

func init() {
	sqlx.BindDriver(retrysql.DriverPgx, sqlx.DOLLAR)
	sqlx.BindDriver(retrysql.DriverMySQL, sqlx.QUESTION)
}

// RunInTx runs fn in a transaction begun on db with opts and commits it,
// replaying the whole transaction as retrysql.RunInTx does: tx is the
// *sqlx.Tx of the attempt, begun with db.BeginTxx, so it binds, maps and
// names as db does (its driver name, Mapper and Unsafe setting).
//
// fn may run several times: what it does outside the database must be
// idempotent. It must return its statements' errors as they are or
// wrapped with %w, and must not call tx.Commit or tx.Rollback: if it
// does, RunInTx never replays the transaction and returns an error
// matching retrysql.ErrTxEndedByFn. A statement error that fn swallows
// after which the database rolled the transaction back is seen on a
// retrysql handle, as retrysql.RunInTx sees it.
//
// options are those of one retrysql.RunInTx call, which RunInTx is on
// db.DB: on a database opened with a retrysql driver the handle's Retrier
// is used (its policy, budget, breaker, admission, hooks and counters);
// otherwise retrysql.SharedRetrier(); retrysql.WithRetrier chooses
// another. The commit check (retrysql.WithCommitCheck, on the handle, the
// Retrier or the call) works as on db.DB, for pgx and go-sql-driver/mysql:
// a COMMIT whose answer was lost is asked of db's other connections. RunInTx
// is safe for concurrent use, as db is.
func RunInTx(ctx context.Context, db *sqlx.DB, opts *sql.TxOptions, fn func(ctx context.Context, tx *sqlx.Tx) error, options ...retrysql.Option) error {
	if fn == nil {
		return errNilFn
	}
	_, err := runInTx(ctx, db, opts, func(ctx context.Context, tx *sqlx.Tx) (struct{}, error) {
		return struct{}{}, fn(ctx, tx)
	}, fn, options)
	return err
}

// RunInTxValue is RunInTx for a transaction that computes a value: the
// value returned by the fn of the attempt that committed.
func RunInTxValue[T any](ctx context.Context, db *sqlx.DB, opts *sql.TxOptions, fn func(ctx context.Context, tx *sqlx.Tx) (T, error), options ...retrysql.Option) (T, error) {
	return runInTx(ctx, db, opts, fn, fn, options)
}

// runInTx is RunInTxValue, with the function the application gave (site),
// which names the transactions for admission (retrysql.SiteBeginner).
func runInTx[T any](ctx context.Context, db *sqlx.DB, opts *sql.TxOptions, fn func(ctx context.Context, tx *sqlx.Tx) (T, error), site any, options []retrysql.Option) (T, error) {
	var zero T
	switch {
	case ctx == nil:
		return zero, errors.New("sqlxretry: nil context")
	case db == nil || db.DB == nil:
		return zero, errors.New("sqlxretry: nil database")
	case fn == nil:
		return zero, errNilFn
	}
	b := &beginner{db: db, site: site}
	return retrysql.RunInTxValue(ctx, b, opts, func(ctx context.Context, tx *sql.Tx) (T, error) {
		stx := b.tx
		if stx == nil || stx.Tx != tx {
			return zero, errors.New("sqlxretry: the transaction handed to fn is not the one begun") // never: RunInTx begins, then runs fn
		}
		return fn(ctx, stx)
	}, options...)
}

// beginner begins the attempts of one RunInTxValue with BeginTxx, which
// alone makes a *sqlx.Tx that binds as db does (sqlx has no constructor
// for a *sqlx.Tx around a *sql.Tx: its driver name is unexported), and
// keeps the last one for fn. The attempts of one call are sequential. It
// is a retrysql.DBBeginner: RunInTx treats the call as one on db.DB.
type beginner struct {
	db   *sqlx.DB
	tx   *sqlx.Tx
	site any // the application's function
}

var (
	_ retrysql.DBBeginner   = (*beginner)(nil)
	_ retrysql.SiteBeginner = (*beginner)(nil)
)

// DB names the handle the transactions are begun on.
func (b *beginner) DB() *sql.DB { return b.db.DB }

// Site names the application's function, whose transactions admission
// judges apart from others made through this package.
func (b *beginner) Site() any { return b.site }

func (b *beginner) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	b.tx = nil
	tx, err := b.db.BeginTxx(ctx, opts)
	if err != nil {
		return nil, err
	}
	b.tx = tx
	return tx.Tx, nil
}

var errNilFn = errors.New("sqlxretry: nil fn")
