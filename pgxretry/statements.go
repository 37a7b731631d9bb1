package pgxretry

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
)

// Execer runs a statement: *pgxpool.Pool and *pgx.Conn are Execers.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Querier runs a query: *pgxpool.Pool and *pgx.Conn are Queriers.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Exec runs one statement outside a transaction with r's policy (nil:
// retrysql.SharedRetrier()), by the statement rules of the package
// documentation: retried on a transient or tx-aborted error, or a
// connection lost before anything was sent; a connection lost after the
// request may have reached the server is returned as retrysql.ErrAmbiguous,
// unless ctx was made by retrysql.Idempotent or options say
// retrysql.WithIdempotent(). options are those of one retrysql.Do.
func Exec(ctx context.Context, r *retrysql.Retrier, db Execer, sql string, args []any, options ...retrysql.Option) (pgconn.CommandTag, error) {
	if err := outside(db); err != nil {
		return pgconn.CommandTag{}, err
	}
	return retrysql.DoValue(ctx, retrier(r), func(ctx context.Context) (pgconn.CommandTag, error) {
		return db.Exec(ctx, sql, args...)
	}, options...)
}

// QueryRow runs a query outside a transaction and returns its first row,
// made by fn (pgx.RowTo[T], pgx.RowToStructByName[T], or a func of your
// own that calls row.Scan), retried as a whole (the query, and fn's Scan)
// by Exec's rules. A query without rows returns an error matching
// pgx.ErrNoRows, not retried.
func QueryRow[T any](ctx context.Context, r *retrysql.Retrier, db Querier, sql string, args []any, fn pgx.RowToFunc[T], options ...retrysql.Option) (T, error) {
	var zero T
	if err := outside(db); err != nil {
		return zero, err
	}
	if fn == nil {
		return zero, errNilFn
	}
	return retrysql.DoValue(ctx, retrier(r), func(ctx context.Context) (T, error) {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return zero, err
		}
		return pgx.CollectOneRow(rows, fn)
	}, options...)
}

// Query runs a query outside a transaction and returns every row, each
// made by fn, retried as a whole by Exec's rules: rows are read inside the
// loop, so a failure while reading them runs the query again from the
// start, and only the rows of the attempt that succeeded are returned. The
// rows are held in memory; a result too large for that is read with
// db.Query itself, whose failures after the first row are then the
// caller's to handle.
func Query[T any](ctx context.Context, r *retrysql.Retrier, db Querier, sql string, args []any, fn pgx.RowToFunc[T], options ...retrysql.Option) ([]T, error) {
	if err := outside(db); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, errNilFn
	}
	return retrysql.DoValue(ctx, retrier(r), func(ctx context.Context) ([]T, error) {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, fn)
	}, options...)
}

// retrier returns r, or the Retrier that retrysql shares.
func retrier(r *retrysql.Retrier) *retrysql.Retrier {
	if r == nil {
		return retrysql.SharedRetrier()
	}
	return r
}

// outside refuses a nil database and a transaction: a statement in a
// transaction is never retried alone.
func outside(db any) error {
	switch {
	case db == nil || isNil(db):
		return errors.New("pgxretry: nil database")
	case isTx(db):
		return errors.New("pgxretry: a statement in a transaction is not retried alone (its transaction may be gone): run the transaction with RunInTx, or the statement on the pool")
	}
	return nil
}

func isTx(db any) bool {
	_, ok := db.(pgx.Tx)
	return ok
}
