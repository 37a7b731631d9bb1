package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// TestNoRetryNowaitPostgres: a row locked by another connection, claimed
// with SELECT ... FOR UPDATE NOWAIT through a retry+pgx handle. With
// retrysql.NoRetry the claim makes exactly one attempt and returns the
// server's 55P03 (lock not available) as it is; without it, the same
// claim is retried as a transient error until the attempts run out
// (DefaultMaxAttempts, about 4s of backoff). Attempts are counted by the
// handle's Stats and by the transaction function's calls, not by time.
func TestNoRetryNowaitPostgres(t *testing.T) {
	admin := dbtest.OpenPostgres(t)
	tbl := table(t, admin, "rs_noretry_jobs")
	const claim = "SELECT id FROM rs_noretry_jobs WHERE id = 1 FOR UPDATE NOWAIT"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Another worker holds the job.
	holder, err := admin.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT id FROM "+tbl+" WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}

	db := openRetry(t, "retry+pgx", dbtest.PostgresDSN(t))
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	lockNotAvailable := func(t *testing.T, err error) {
		t.Helper()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
			t.Fatalf("got %v, want 55P03 (lock not available)", err)
		}
	}

	t.Run("statement with NoRetry: one attempt", func(t *testing.T) {
		before := retrierStats(t, db)
		var id int
		err := db.QueryRowContext(retrysql.NoRetry(ctx), claim).Scan(&id)
		lockNotAvailable(t, err)
		var e *retrysql.Error
		if errors.As(err, &e) {
			t.Fatalf("got %v, want the server's error as it is", err)
		}
		after := retrierStats(t, db)
		if n := after.Attempts - before.Attempts; n != 1 || after.Retries != before.Retries {
			t.Fatalf("%d attempts and %d retries, want 1 and 0", n, after.Retries-before.Retries)
		}
	})

	t.Run("transaction with NoRetry: one attempt", func(t *testing.T) {
		calls := 0
		err := retrysql.RunInTx(retrysql.NoRetry(ctx), db, nil, func(ctx context.Context, tx *sql.Tx) error {
			calls++
			var id int
			return tx.QueryRowContext(ctx, claim).Scan(&id)
		})
		lockNotAvailable(t, err)
		if calls != 1 {
			t.Fatalf("the transaction ran %d times, want 1", calls)
		}
	})

	t.Run("statement without NoRetry: retried", func(t *testing.T) {
		before := retrierStats(t, db)
		var id int
		err := db.QueryRowContext(ctx, claim).Scan(&id)
		lockNotAvailable(t, err)
		after := retrierStats(t, db)
		n := after.Attempts - before.Attempts
		if n != retrysql.DefaultMaxAttempts || retrysql.Attempts(err) != retrysql.DefaultMaxAttempts {
			t.Fatalf("%d attempts (the error says %d), want %d: %v", n, retrysql.Attempts(err), retrysql.DefaultMaxAttempts, err)
		}
		if r := after.RetriesByCode["55P03"] - before.RetriesByCode["55P03"]; r != retrysql.DefaultMaxAttempts-1 {
			t.Fatalf("%d retries of 55P03, want %d", r, retrysql.DefaultMaxAttempts-1)
		}
	})
}
