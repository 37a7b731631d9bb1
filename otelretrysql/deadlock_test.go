package otelretrysql_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/otelretrysql"
)

// TestRealDeadlock: two transactions take the same two rows in opposite
// orders on PostgreSQL; the server picks a victim (40P01), which RunInTx
// replays. One operation with one retry is recorded, and the victim's
// caller span carries the retry event.
func TestRealDeadlock(t *testing.T) {
	dsn := postgresDSN(t)
	admin := openPlain(t, "pgx", dsn)
	table := uniqueName(t, "deadlock")
	execAll(t, admin, "CREATE TABLE "+table+" (id int PRIMARY KEY, v int)", "INSERT INTO "+table+" VALUES (1, 0), (2, 0)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS " + table) })
	// A short deadlock_timeout, for this test's sessions only.
	rec := newRecorder(t, otelretrysql.WithDBSystem("postgresql"))
	db := rec.handle(t, "pgx", withOption(dsn, "deadlock_timeout=50ms"))
	db.SetMaxOpenConns(2)

	var held sync.WaitGroup // both hold their first row before either takes its second
	held.Add(2)
	var runs atomic.Int32
	transfer := func(ctx context.Context, first, second int) error {
		once := true
		return retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			runs.Add(1)
			if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET v = v + 1 WHERE id = $1", first); err != nil {
				return err
			}
			if once {
				once = false
				held.Done()
				held.Wait()
			}
			_, err := tx.ExecContext(ctx, "UPDATE "+table+" SET v = v + 1 WHERE id = $1", second)
			return err
		})
	}
	ctx, end := rec.span(context.Background(), "caller")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = transfer(ctx, 1, 2) })
	wg.Go(func() { errs[1] = transfer(ctx, 2, 1) })
	wg.Wait()
	end()
	if errs[0] != nil || errs[1] != nil || runs.Load() != 3 {
		t.Fatalf("%v, %v after %d runs; want both committed after 3", errs[0], errs[1], runs.Load())
	}
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricRetries:    {"db.system.name=postgresql,retrysql.outcome=success,retrysql.place=transaction": "count=1 sum=1"},
		otelretrysql.MetricRetryDelay: {"db.system.name=postgresql,retrysql.outcome=success,retrysql.place=transaction": "count=1 sum=0.001"},
	})
	var deadlocks int
	for _, e := range events(rec.finished(t, "caller")) {
		if e == "retrysql.retry db.response.status_code=40P01,retrysql.attempt=1,retrysql.delay=0.001,retrysql.error.class=tx-aborted,retrysql.place=transaction" {
			deadlocks++
		}
	}
	if deadlocks != 1 {
		t.Errorf("%d deadlock retry events on the caller's span, want 1: %v", deadlocks, events(rec.finished(t, "caller")))
	}
}

// withOption adds a server setting to a PostgreSQL URL DSN.
func withOption(dsn, setting string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set("options", "-c "+setting)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads no + as a space
	return u.String()
}
