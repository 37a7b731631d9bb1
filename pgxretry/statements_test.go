package pgxretry_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/jackc/pgx/v5"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/pgxretry"
)

// The statement helpers on a fake pool, in virtual time (synctest): what
// each failure does, and how many times the statement was sent.

func newRetrier(t *testing.T) *retrysql.Retrier {
	t.Helper()
	r, err := retrysql.NewRetrier()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestQueryReadsInsideTheLoop: a failure while the rows are read runs the
// query again from the start, by the statement rules, and only the rows of
// the attempt that succeeded come back.
func TestQueryReadsInsideTheLoop(t *testing.T) {
	ok := attempt{vals: []int64{1, 2, 3}}
	for _, tc := range []struct {
		name       string
		first      attempt
		idempotent bool
		calls      int32
		want       []int64
		ambiguous  bool
	}{
		{name: "serialization failure after a row", first: attempt{vals: []int64{9, 9}, rowsErr: errSerialization, failAfter: 1}, calls: 2, want: ok.vals},
		{name: "serialization failure at Query", first: attempt{err: errSerialization}, calls: 2, want: ok.vals},
		{name: "nothing sent", first: attempt{err: errNothingSent}, calls: 2, want: ok.vals},
		{name: "lost after a row", first: attempt{vals: []int64{9, 9}, rowsErr: errLostAfterSend, failAfter: 1}, calls: 1, ambiguous: true},
		{name: "lost after a row, idempotent", first: attempt{vals: []int64{9, 9}, rowsErr: errLostAfterSend, failAfter: 1}, idempotent: true, calls: 2, want: ok.vals},
		{name: "lost at Query", first: attempt{err: errLostAfterSend}, calls: 1, ambiguous: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := &fakeDB{attempts: []attempt{tc.first, ok}}
				ctx := context.Background()
				if tc.idempotent {
					ctx = retrysql.Idempotent(ctx)
				}
				got, err := pgxretry.Query(ctx, newRetrier(t), db, "SELECT n FROM t", nil, pgx.RowTo[int64])
				if n := db.calls.Load(); n != tc.calls {
					t.Fatalf("%d queries sent, want %d", n, tc.calls)
				}
				if tc.ambiguous {
					if !errors.Is(err, retrysql.ErrAmbiguous) || got != nil {
						t.Fatalf("got %v, %v; want ErrAmbiguous", got, err)
					}
					return
				}
				if err != nil || !slices.Equal(got, tc.want) {
					t.Fatalf("got %v, %v; want %v", got, err, tc.want)
				}
			})
		})
	}
}

// TestQueryRowScansInsideTheLoop: QueryRow's row is made inside the loop,
// so an error that reaches it only there (pgx's QueryRow reports errors at
// Scan) is retried; no row is pgx.ErrNoRows, not retried.
func TestQueryRowScansInsideTheLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db := &fakeDB{attempts: []attempt{{rowsErr: errSerialization}, {vals: []int64{7, 8}}}}
		got, err := pgxretry.QueryRow(ctx, newRetrier(t), db, "SELECT n FROM t", nil, pgx.RowTo[int64])
		if err != nil || got != 7 || db.calls.Load() != 2 {
			t.Fatalf("got %d, %v after %d queries; want 7 after 2", got, err, db.calls.Load())
		}
		db = &fakeDB{attempts: []attempt{{}}}
		_, err = pgxretry.QueryRow(ctx, newRetrier(t), db, "SELECT n FROM t WHERE false", nil, pgx.RowTo[int64])
		if !errors.Is(err, pgx.ErrNoRows) || db.calls.Load() != 1 {
			t.Fatalf("no row: %v after %d queries; want pgx.ErrNoRows after 1", err, db.calls.Load())
		}
	})
}

// TestExecRules: Exec retries a transient error and a statement nothing of
// which was sent, and not one lost after it was sent.
func TestExecRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db := &fakeDB{attempts: []attempt{{err: errSerialization}, {err: errNothingSent}, {}}}
		if _, err := pgxretry.Exec(ctx, newRetrier(t), db, "UPDATE t SET n = 1", nil); err != nil || db.calls.Load() != 3 {
			t.Fatalf("%v after %d statements; want nil after 3", err, db.calls.Load())
		}
		db = &fakeDB{attempts: []attempt{{err: errLostAfterSend}, {}}}
		if _, err := pgxretry.Exec(ctx, newRetrier(t), db, "UPDATE t SET n = n + 1", nil); !errors.Is(err, retrysql.ErrAmbiguous) || db.calls.Load() != 1 {
			t.Fatalf("%v after %d statements; want ErrAmbiguous after 1", err, db.calls.Load())
		}
	})
}

// TestSharedRetrier: without a Retrier, the statement helpers and RunInTx
// use one, retrysql.SharedRetrier(), which counts their retries together.
func TestSharedRetrier(t *testing.T) {
	shared := retrysql.SharedRetrier() // made outside the bubble: it outlives it
	before := shared.Stats().RetriesByCode["40001"]
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db := &fakeDB{attempts: []attempt{{err: errSerialization}, {vals: []int64{1}}}}
		if _, err := pgxretry.Exec(ctx, nil, db, "UPDATE t SET n = 1", nil); err != nil {
			t.Fatal(err)
		}
		db = &fakeDB{attempts: []attempt{{err: errSerialization}, {vals: []int64{1}}}}
		if _, err := pgxretry.Query(ctx, nil, db, "SELECT n FROM t", nil, pgx.RowTo[int64]); err != nil {
			t.Fatal(err)
		}
		runs := 0
		err := pgxretry.RunInTx(ctx, &fakeBeginner{}, pgx.TxOptions{}, func(context.Context, pgx.Tx) error {
			if runs++; runs == 1 {
				return errSerialization
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if n := shared.Stats().RetriesByCode["40001"] - before; n != 3 {
		t.Fatalf("the shared Retrier counted %d retries, want 3 (Exec, Query, RunInTx)", n)
	}
}

// TestStatementsRefuse: bad input and a transaction are errors, before
// anything is sent.
func TestStatementsRefuse(t *testing.T) {
	ctx := context.Background()
	var nilDB *fakeDB
	db := &fakeDB{attempts: []attempt{{}}}
	tx := struct{ pgx.Tx }{} // a pgx.Tx: statements in it are never retried alone
	for name, call := range map[string]func() error{
		"Exec nil db":       func() error { _, err := pgxretry.Exec(ctx, nil, nil, "SELECT 1", nil); return err },
		"Query nil db":      func() error { _, err := pgxretry.Query(ctx, nil, nil, "SELECT 1", nil, pgx.RowTo[int64]); return err },
		"QueryRow nil fn":   func() error { _, err := pgxretry.QueryRow[int64](ctx, nil, db, "SELECT 1", nil, nil); return err },
		"Query nil fn":      func() error { _, err := pgxretry.Query[int64](ctx, nil, db, "SELECT 1", nil, nil); return err },
		"Exec typed nil db": func() error { _, err := pgxretry.Exec(ctx, nil, nilDB, "SELECT 1", nil); return err },
		"Exec in a tx":      func() error { _, err := pgxretry.Exec(ctx, nil, tx, "SELECT 1", nil); return err },
		"QueryRow in a tx": func() error {
			_, err := pgxretry.QueryRow(ctx, nil, tx, "SELECT 1", nil, pgx.RowTo[int64])
			return err
		},
		"Query in a tx": func() error {
			_, err := pgxretry.Query(ctx, nil, tx, "SELECT 1", nil, pgx.RowTo[int64])
			return err
		},
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.HasSuffix(name, "in a tx") && !strings.Contains(err.Error(), "RunInTx") {
			t.Errorf("%s: %v does not point to RunInTx", name, err)
		}
	}
	if n := db.calls.Load(); n != 0 {
		t.Fatalf("%d statements sent", n)
	}
}
