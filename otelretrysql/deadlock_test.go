package otelretrysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/otelretrysql"
)

// TestRealDeadlock: two transactions take the same two rows in opposite
// orders on PostgreSQL; the server picks a victim (40P01), which RunInTx
// replays. One operation with one retry is recorded, and the victim's
// caller span carries the retry event, after the strategy's delay or at
// once (admitted says when).
func TestRealDeadlock(t *testing.T) {
	dsn := postgresDSN(t)
	admin := openPlain(t, "pgx", dsn)
	table := uniqueName(t, "deadlock")
	execAll(t, admin, "CREATE TABLE "+table+" (id int PRIMARY KEY, v int)", "INSERT INTO "+table+" VALUES (1, 0), (2, 0)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS " + table) })
	admitted(t, func(t *testing.T, delay float64, opts ...retrysql.Option) {
		// A short deadlock_timeout, for this test's sessions only.
		rec := newRecorder(t, otelretrysql.WithDBSystem("postgresql"))
		db := rec.handle(t, "pgx", withOption(dsn, "deadlock_timeout=50ms"), opts...)
		deadlock(t, rec, db, "UPDATE "+table+" SET v = v + 1 WHERE id = $1", "postgresql", "40P01", delay)
	})
}

// admitted runs test with admission off (each retry waits its strategy's
// delay, 1ms), under the handle's default admission (the transactions'
// rows were not hot, so their first attempts ran without permits: the
// victim's replay waits the delay too, then takes a permit), and under a
// controller that admits every attempt (the victim's replay waits for a
// permit, not for a delay: 0).
func admitted(t *testing.T, test func(t *testing.T, delay float64, opts ...retrysql.Option)) {
	every := func() admission.Settings { return admission.Settings{} }
	for _, c := range []struct {
		name     string
		delay    float64
		settings func() admission.Settings // nil: admission off
	}{
		{"admission off", 0.001, nil},
		{"default admission", 0.001, retrysql.DefaultAdmission},
		{"every attempt admitted", 0, every},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.settings == nil {
				test(t, c.delay)
				return
			}
			ctl, err := admission.New(c.settings())
			if err != nil {
				t.Fatal(err)
			}
			test(t, c.delay, retrysql.WithAdmission(ctl))
		})
	}
}

// TestRealDeadlockMariaDB is TestRealDeadlock on MariaDB (or MySQL),
// whose InnoDB finds the cycle at once and rolls the victim back (1213).
func TestRealDeadlockMariaDB(t *testing.T) {
	dsn := mysqlDSN(t)
	admin := openPlain(t, "mysql", dsn)
	var detect int
	if err := admin.QueryRow("SELECT @@innodb_deadlock_detect").Scan(&detect); err != nil || detect != 1 {
		t.Skipf("the server does not detect deadlocks (innodb_deadlock_detect %d, %v)", detect, err)
	}
	table := uniqueName(t, "deadlock")
	execAll(t, admin, "CREATE TABLE "+table+" (id INT PRIMARY KEY, v INT) ENGINE=InnoDB", "INSERT INTO "+table+" VALUES (1, 0), (2, 0)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS " + table) })
	admitted(t, func(t *testing.T, delay float64, opts ...retrysql.Option) {
		rec := newRecorder(t, otelretrysql.WithDBSystem("mariadb"))
		// A lock wait that is not a deadlock fails in 5s rather than 50s.
		db := rec.handle(t, "mysql", dsn+sep(dsn)+"innodb_lock_wait_timeout=5", opts...)
		deadlock(t, rec, db, "UPDATE "+table+" SET v = v + 1 WHERE id = ?", "mariadb", "1213", delay)
	})
}

// sep returns what joins a parameter to dsn: "?" or "&".
func sep(dsn string) string {
	if strings.Contains(dsn, "?") {
		return "&"
	}
	return "?"
}

// deadlock runs two transfers on db that update rows 1 and 2 with update
// (its parameter the row's id) in opposite orders, each holding its first
// row until the other holds its own, then checks that the server's
// deadlock errors, code, were replayed and recorded as such, each after
// delay (seconds): one retry at least, and as many as the runs beyond the
// first of each transfer (the victim's replay may take its first row
// before the survivor, and deadlock again).
func deadlock(t *testing.T, rec *recorder, db *sql.DB, update, system, code string, delay float64) {
	t.Helper()
	db.SetMaxOpenConns(2)
	var held sync.WaitGroup // both hold their first row before either takes its second
	held.Add(2)
	var runs [2]atomic.Int32
	transfer := func(ctx context.Context, i, first, second int) error {
		once := true
		return retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			runs[i].Add(1)
			if _, err := tx.ExecContext(ctx, update, first); err != nil {
				return err
			}
			if once {
				once = false
				held.Done()
				held.Wait()
			}
			_, err := tx.ExecContext(ctx, update, second)
			return err
		})
	}
	ctx, end := rec.span(context.Background(), "caller")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = transfer(ctx, 0, 1, 2) })
	wg.Go(func() { errs[1] = transfer(ctx, 1, 2, 1) })
	wg.Wait()
	end()
	retried, retries := 0, 0 // transfers replayed, replays
	for i := range runs {
		if n := int(runs[i].Load()); n > 1 {
			retried, retries = retried+1, retries+n-1
		}
	}
	if errs[0] != nil || errs[1] != nil || retries == 0 {
		t.Fatalf("%v, %v after %d and %d runs; want both committed, one replayed at least", errs[0], errs[1], runs[0].Load(), runs[1].Load())
	}
	attrs := "db.system.name=" + system + ",retrysql.outcome=success,retrysql.place=transaction"
	expect(t, rec.collect(t), map[string]map[string]string{
		otelretrysql.MetricRetries:    {attrs: fmt.Sprintf("count=%d sum=%d", retried, retries)},
		otelretrysql.MetricRetryDelay: {attrs: fmt.Sprintf("count=%d sum=%g", retried, float64(retries)*delay)},
	})
	var deadlocks int
	for _, e := range events(rec.finished(t, "caller")) {
		if strings.HasPrefix(e, "retrysql.retry db.response.status_code="+code+",retrysql.attempt=") &&
			strings.HasSuffix(e, fmt.Sprintf(",retrysql.delay=%g,retrysql.error.class=tx-aborted,retrysql.place=transaction", delay)) {
			deadlocks++
		}
	}
	if deadlocks != retries {
		t.Errorf("%d deadlock retry events on the caller's span, want %d: %v", deadlocks, retries, events(rec.finished(t, "caller")))
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
