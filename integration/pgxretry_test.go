package integration_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/pgxretry"
	"github.com/retrysql/retrysql/strategy"
)

func pgxPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// quickRetrier retries with short fixed delays.
func quickRetrier(t *testing.T, opts ...retrysql.Option) *retrysql.Retrier {
	t.Helper()
	r, err := retrysql.NewRetrier(append([]retrysql.Option{
		retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: time.Millisecond}),
		retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{Interval: 10 * time.Millisecond}),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPgxRunInTxReplays: serialization failures and deadlocks raised by the
// server are replayed through pgxpool, as RunInTx does through database/sql.
func TestPgxRunInTxReplays(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	pool := pgxPool(t, dbtest.PostgresDSN(t))
	r := quickRetrier(t)
	for _, code := range []string{"40001", "40P01"} {
		name := "rs_pgx_flaky_" + code
		flakyPG(t, admin, name, code, 2)
		var runs atomic.Int32
		n, err := pgxretry.RunInTxValue(ctx, pool, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) (int64, error) {
			runs.Add(1)
			var n int64
			err := tx.QueryRow(ctx, "SELECT "+name+"()").Scan(&n)
			return n, err
		}, retrysql.WithRetrier(r))
		if err != nil || n != 3 || runs.Load() != 3 {
			t.Fatalf("%s: %d, %v after %d runs", code, n, err, runs.Load())
		}
	}
	if st := r.Stats(); st.RetriesByCode["40001"] != 2 || st.RetriesByCode["40P01"] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPgxCutCommitIsAmbiguous: the reply to COMMIT is cut after the server
// committed: ErrAmbiguousCommit, fn ran once, and the row is there once.
func TestPgxCutCommitIsAmbiguous(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	dbtest.Exec(t, admin, "DROP TABLE IF EXISTS rs_pgx_cut", "CREATE TABLE rs_pgx_cut (id int)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_pgx_cut") })
	proxy := dbtest.NewProxy(t, pgAddr(t))
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	pool := pgxPool(t, pgVia(t, proxy.Addr()))
	var runs atomic.Int32
	err := pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		runs.Add(1)
		if _, err := tx.Exec(ctx, "INSERT INTO rs_pgx_cut VALUES (1)"); err != nil {
			return err
		}
		// The reply to what comes next (COMMIT) is lost.
		proxy.Toxic(t, `{"name":"cut","type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`)
		return nil
	}, retrysql.WithRetrier(quickRetrier(t)))
	if !errors.Is(err, retrysql.ErrAmbiguousCommit) || runs.Load() != 1 {
		t.Fatalf("got %v after %d runs, want ErrAmbiguousCommit after 1", err, runs.Load())
	}
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM rs_pgx_cut").Scan(&n); err != nil || n > 1 {
		t.Fatalf("%d rows, %v", n, err)
	}
}

// TestPgxKilledBackendReplayed: the transaction's backend is terminated
// before COMMIT: the transaction went with it, and is replayed on another
// connection.
func TestPgxKilledBackendReplayed(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	dbtest.Exec(t, admin, "DROP TABLE IF EXISTS rs_pgx_kill", "CREATE TABLE rs_pgx_kill (id int)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_pgx_kill") })
	pool := pgxPool(t, dbtest.PostgresDSN(t))
	var runs atomic.Int32
	err := pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		if runs.Add(1) == 1 {
			var pid int
			if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			dbtest.Exec(t, admin, "SELECT pg_terminate_backend("+strconv.Itoa(pid)+")")
		}
		_, err := tx.Exec(ctx, "INSERT INTO rs_pgx_kill VALUES (1)")
		return err
	}, retrysql.WithRetrier(quickRetrier(t)))
	if err != nil || runs.Load() != 2 {
		t.Fatalf("%v after %d runs", err, runs.Load())
	}
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM rs_pgx_kill").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows, %v", n, err)
	}
}

// TestPgxFnThatCommits: fn must not commit; if it does, no replay, and the
// error says so.
func TestPgxFnThatCommits(t *testing.T) {
	ctx := context.Background()
	pool := pgxPool(t, dbtest.PostgresDSN(t))
	var runs atomic.Int32
	err := pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		runs.Add(1)
		return tx.Commit(ctx)
	})
	if !errors.Is(err, retrysql.ErrTxEndedByFn) || runs.Load() != 1 {
		t.Fatalf("got %v after %d runs", err, runs.Load())
	}
}

// TestPgxExec: a statement outside a transaction, retried on a
// serialization failure; an ambiguous one is not.
func TestPgxExec(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	pool := pgxPool(t, dbtest.PostgresDSN(t))
	flakyPG(t, admin, "rs_pgx_exec", "40001", 2)
	r := quickRetrier(t)
	if _, err := pgxretry.Exec(ctx, r, pool, "SELECT rs_pgx_exec()", nil); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.RetriesByCode["40001"] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPgxQueryRetriesWhileReading: the server fails the query with a
// serialization failure after it has sent two of its five rows; Query
// reads them inside its loop, so the query runs again from the start, and
// only the five rows of the attempt that succeeded come back.
func TestPgxQueryRetriesWhileReading(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	pool := pgxPool(t, dbtest.PostgresDSN(t))
	flakyPG(t, admin, "rs_pgx_rows", "40001", 1)
	r := quickRetrier(t)
	scans := 0
	got, err := pgxretry.Query(ctx, r, pool, "SELECT n, CASE WHEN n = 3 THEN rs_pgx_rows() ELSE 0 END FROM generate_series(1, 5) n", nil,
		func(row pgx.CollectableRow) (int64, error) {
			scans++
			var n, f int64
			err := row.Scan(&n, &f)
			return n, err
		})
	if err != nil || len(got) != 5 || got[0] != 1 || got[4] != 5 {
		t.Fatalf("got %v, %v", got, err)
	}
	// 2 rows of the first attempt, then 5.
	if scans != 7 || value(t, admin, "SELECT last_value FROM rs_pgx_rows_seq") != 2 {
		t.Fatalf("%d rows scanned, sequence at %d; want 7 and 2", scans, value(t, admin, "SELECT last_value FROM rs_pgx_rows_seq"))
	}
	if st := r.Stats(); st.RetriesByCode["40001"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPgxQueryRowErrorAtScan: an error that pgx's QueryRow reports only at
// Scan is retried by QueryRow, whose Scan runs inside the loop.
func TestPgxQueryRowErrorAtScan(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	pool := pgxPool(t, dbtest.PostgresDSN(t))
	flakyPG(t, admin, "rs_pgx_row", "40P01", 2)
	r := quickRetrier(t)
	n, err := pgxretry.QueryRow(ctx, r, pool, "SELECT rs_pgx_row()", nil, pgx.RowTo[int64])
	if err != nil || n != 3 {
		t.Fatalf("got %d, %v; want 3", n, err)
	}
	if st := r.Stats(); st.RetriesByCode["40P01"] != 2 {
		t.Fatalf("stats %+v", st)
	}
	_, err = pgxretry.QueryRow(ctx, r, pool, "SELECT 1 WHERE false", nil, pgx.RowTo[int64])
	if !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("no row: %v", err)
	}
}

// TestPgxStatementLostAfterSend: the backend ends its own connection while
// running the statement (pg_terminate_backend of itself), after the
// request reached it. Exec returns retrysql.ErrAmbiguous and sends nothing
// more; a query declared idempotent runs again on another connection of
// the pool.
func TestPgxStatementLostAfterSend(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	pool := pgxPool(t, dbtest.PostgresDSN(t))
	name := "rs_pgx_lost"
	dbtest.Exec(t, admin,
		"DROP FUNCTION IF EXISTS "+name+"()",
		"DROP SEQUENCE IF EXISTS "+name+"_seq",
		"CREATE SEQUENCE "+name+"_seq",
		`CREATE FUNCTION `+name+`() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	IF nextval('`+name+`_seq') <= 2 THEN
		PERFORM pg_terminate_backend(pg_backend_pid());
		PERFORM pg_sleep(10); -- ended by the termination
	END IF;
	RETURN currval('`+name+`_seq');
END $$`)
	t.Cleanup(func() {
		admin.Exec("DROP FUNCTION IF EXISTS " + name + "()")
		admin.Exec("DROP SEQUENCE IF EXISTS " + name + "_seq")
	})
	r := quickRetrier(t)
	_, err := pgxretry.Exec(ctx, r, pool, "SELECT "+name+"()", nil)
	if !errors.Is(err, retrysql.ErrAmbiguous) || value(t, admin, "SELECT last_value FROM "+name+"_seq") != 1 {
		t.Fatalf("Exec: %v; want ErrAmbiguous after 1 call", err)
	}
	n, err := pgxretry.QueryRow(retrysql.Idempotent(ctx), r, pool, "SELECT "+name+"()", nil, pgx.RowTo[int64])
	if err != nil || n != 3 {
		t.Fatalf("idempotent QueryRow: %d, %v; want 3", n, err)
	}
}
