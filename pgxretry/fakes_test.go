package pgxretry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Errors as pgx reports them: a serialization failure, a connection lost
// after the request was written (io.ErrUnexpectedEOF, inside pgx's own
// error), and one lost before anything was written (SafeToRetry).
var (
	errSerialization = &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
	errLostAfterSend = fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF)
	errNothingSent   = &unsent{}
)

type unsent struct{}

func (*unsent) Error() string     { return "failed to write startup message: broken pipe" }
func (*unsent) SafeToRetry() bool { return true }

// attempt is what one call of fakeDB's Query or Exec does: fail at once
// with err, or return rows that yield vals and then fail with rowsErr
// (after failAfter of them, when rowsErr is set).
type attempt struct {
	err       error
	vals      []int64
	rowsErr   error
	failAfter int
}

// fakeDB is a Querier and Execer whose calls do, in turn, what its
// attempts say (the last one again once they run out), and counts them.
type fakeDB struct {
	attempts []attempt
	calls    atomic.Int32
}

func (f *fakeDB) next() attempt {
	n := int(f.calls.Add(1))
	return f.attempts[min(n, len(f.attempts))-1]
}

func (f *fakeDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	a := f.next()
	if a.err != nil {
		return nil, a.err
	}
	return &fakeRows{a: a, i: -1}, nil
}

func (f *fakeDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	a := f.next()
	if a.err != nil {
		return pgconn.CommandTag{}, a.err
	}
	return pgconn.NewCommandTag("UPDATE 1"), nil
}

// fakeRows yields one int8 column.
type fakeRows struct {
	a      attempt
	i      int
	err    error
	closed bool
}

func (r *fakeRows) Next() bool {
	if r.closed || r.err != nil {
		return false
	}
	r.i++
	if r.a.rowsErr != nil && r.i == r.a.failAfter {
		r.err = r.a.rowsErr
		return false
	}
	return r.i < len(r.a.vals)
}

func (r *fakeRows) Scan(dest ...any) error {
	if len(dest) != 1 {
		return errors.New("fakeRows: one column")
	}
	p, ok := dest[0].(*int64)
	if !ok {
		return errors.New("fakeRows: scan into *int64")
	}
	*p = r.a.vals[r.i]
	return nil
}

func (r *fakeRows) Close()                                       { r.closed = true }
func (r *fakeRows) Err() error                                   { return r.err }
func (r *fakeRows) CommandTag() pgconn.CommandTag                { return pgconn.NewCommandTag("SELECT") }
func (r *fakeRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r *fakeRows) Values() ([]any, error)                       { return []any{r.a.vals[r.i]}, nil }
func (r *fakeRows) RawValues() [][]byte                          { return nil }
func (r *fakeRows) Conn() *pgx.Conn                              { return nil }
func (r *fakeRows) TypeMap() *pgtype.Map                         { return nil }

// fakeBeginner begins fakeTxs and counts its BEGINs.
type fakeBeginner struct{ begins atomic.Int32 }

func (b *fakeBeginner) BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error) {
	b.begins.Add(1)
	return fakeTx{}, nil
}

// fakeTx is a pgx.Tx whose Commit and Rollback succeed at once; its other
// methods are not called.
type fakeTx struct{ pgx.Tx }

func (fakeTx) Commit(context.Context) error   { return nil }
func (fakeTx) Rollback(context.Context) error { return nil }
