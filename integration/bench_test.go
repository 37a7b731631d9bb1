package integration_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/contention"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// BenchmarkPostgres runs SELECT 1 and a one-row INSERT on the local
// PostgreSQL through pgx's own database/sql driver and through retry+pgx,
// in one run, so that benchstat can compare them:
//
//	go test -run '^$' -bench BenchmarkPostgres -count 10 ./integration | tee pg.txt
//	benchstat -col /driver pg.txt
//
// Sessions run with synchronous_commit off: the INSERT's cost is then the
// server's work and the drivers', not the variance of flushing the WAL to
// this machine's disk, which would hide a difference of a few percent.
func BenchmarkPostgres(b *testing.B) {
	admin := dbtest.OpenPostgres(b)
	dbtest.Exec(b, admin, "DROP TABLE IF EXISTS rs_bench", "CREATE TABLE rs_bench (id bigserial PRIMARY KEY, v int)")
	b.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_bench") })
	ctx := context.Background()
	for _, op := range []struct {
		name string
		run  func(*sql.DB) error
	}{
		{"SELECT1", func(db *sql.DB) error {
			var one int
			return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		}},
		{"INSERT", func(db *sql.DB) error {
			_, err := db.ExecContext(ctx, "INSERT INTO rs_bench (v) VALUES ($1)", 1)
			return err
		}},
	} {
		for _, drv := range []string{"pgx", retrysql.DriverPgx} {
			db, err := sql.Open(drv, withSetting(b, dbtest.PostgresDSN(b), "synchronous_commit", "off"))
			if err != nil {
				b.Fatal(err)
			}
			db.SetMaxIdleConns(4)
			b.Run("op="+op.name+"/driver="+drv, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := op.run(db); err != nil {
						b.Fatal(err)
					}
				}
			})
			db.Close()
		}
	}
}

// BenchmarkMariaDB is BenchmarkPostgres on the local MariaDB, through
// go-sql-driver/mysql and through retry+mysql: go-sql-driver does not read
// ahead, so retry+mysql reads a query's first row inside the retry loop
// (an error raised while computing it is retried), which this measures on
// a real server:
//
//	go test -run '^$' -bench BenchmarkMariaDB -count 10 ./integration | tee my.txt
//	benchstat -col /driver my.txt
//
// The INSERT's table is InnoDB with innodb_flush_log_at_trx_commit as the
// server has it: compare the SELECTs for the drivers' cost.
func BenchmarkMariaDB(b *testing.B) {
	admin := dbtest.OpenMySQL(b)
	dbtest.Exec(b, admin, "DROP TABLE IF EXISTS rs_bench", "CREATE TABLE rs_bench (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
	b.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_bench") })
	ctx := context.Background()
	for _, op := range []struct {
		name string
		run  func(*sql.DB) error
	}{
		{"SELECT1", func(db *sql.DB) error {
			var one int
			return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		}},
		{"SELECT3rows", func(db *sql.DB) error {
			rows, err := db.QueryContext(ctx, "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3")
			if err != nil {
				return err
			}
			defer rows.Close()
			var n, sum int
			for rows.Next() {
				if err := rows.Scan(&n); err != nil {
					return err
				}
				sum += n
			}
			return rows.Err()
		}},
		{"INSERT", func(db *sql.DB) error {
			_, err := db.ExecContext(ctx, "INSERT INTO rs_bench (v) VALUES (?)", 1)
			return err
		}},
	} {
		for _, drv := range []string{"mysql", retrysql.DriverMySQL} {
			db, err := sql.Open(drv, dbtest.MySQLDSN(b))
			if err != nil {
				b.Fatal(err)
			}
			db.SetMaxIdleConns(4)
			b.Run("op="+op.name+"/driver="+drv, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := op.run(db); err != nil {
						b.Fatal(err)
					}
				}
			})
			db.Close()
		}
	}
}

// withSetting adds a server setting to a PostgreSQL URL DSN (pgx sends
// unknown query parameters as run-time settings).
func withSetting(b *testing.B, dsn, name, value string) string {
	b.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		b.Skipf("the benchmark needs a URL DSN, got %q", dsn)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// uncontendedTx is the transaction of the uncontended benchmarks: a
// transfer between two rows that nothing else touches (two UPDATEs and a
// ledger INSERT). It returns the driver and DSN to open for dialect
// ("postgres" or "mariadb"), a function that creates the tables afresh on
// a handle and drops them when the benchmark ends (call it after
// openUncontended, whose Close must come later), and the transaction.
func uncontendedTx(b *testing.B, dialect string) (drv, dsn string, setup func(*sql.DB), fn func(context.Context, *sql.Tx) error) {
	var (
		ledger string
		q      [3]string
	)
	if dialect == "postgres" {
		dsn, drv = withSetting(b, dbtest.PostgresDSN(b), "synchronous_commit", "off"), "pgx"
		q = [3]string{"UPDATE rs_tx_accounts SET balance = balance - $1 WHERE id = 1", "UPDATE rs_tx_accounts SET balance = balance + $1 WHERE id = 2", "INSERT INTO rs_tx_ledger (amount) VALUES ($1)"}
		ledger = "CREATE TABLE rs_tx_ledger (id bigserial PRIMARY KEY, amount int)"
	} else {
		dsn, drv = dbtest.MySQLDSN(b), "mysql"
		q = [3]string{"UPDATE rs_tx_accounts SET balance = balance - ? WHERE id = 1", "UPDATE rs_tx_accounts SET balance = balance + ? WHERE id = 2", "INSERT INTO rs_tx_ledger (amount) VALUES (?)"}
		ledger = "CREATE TABLE rs_tx_ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, amount int)"
	}
	setup = func(db *sql.DB) {
		dbtest.Exec(b, db, "DROP TABLE IF EXISTS rs_tx_accounts", "DROP TABLE IF EXISTS rs_tx_ledger",
			"CREATE TABLE rs_tx_accounts (id int PRIMARY KEY, balance bigint)",
			"INSERT INTO rs_tx_accounts VALUES (1, 1000000), (2, 1000000)", ledger)
		b.Cleanup(func() { dbtest.Exec(b, db, "DROP TABLE IF EXISTS rs_tx_accounts", "DROP TABLE IF EXISTS rs_tx_ledger") })
	}
	fn = func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range q {
			if _, err := tx.ExecContext(ctx, s, 1); err != nil {
				return err
			}
		}
		return nil
	}
	return drv, dsn, setup, fn
}

// openUncontended opens a handle on drv and dsn, with admission control
// when on is true, closed when the benchmark ends.
func openUncontended(b *testing.B, drv, dsn string, on bool) *sql.DB {
	// On: a handle's default admission (only what contends waits). Off:
	// WithAdmission(nil).
	opts := []retrysql.Option{retrysql.WithAdmission(nil)}
	if on {
		opts = nil
	}
	db, err := retrysql.Open(drv, dsn, opts...)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxIdleConns(4)
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkRunInTxUncontended runs a one-worker transfer transaction
// (two UPDATEs of different rows and a ledger INSERT, nothing competing)
// with RunInTx on retry+pgx and retry+mysql, with admission control off
// and on, in one run, so that benchstat shows what admission costs when
// there is no contention:
//
//	for i in 1 2 3 4 5 6 7 8 9 10; do
//	  RETRYSQL_BENCH_FLIP=$((i % 2)) go test -run '^$' -bench BenchmarkRunInTxUncontended -benchtime 2s ./integration
//	done | tee tx.txt
//	benchstat -col /admission tx.txt
//
// One process per run, with the order of the modes flipped every other
// run (RETRYSQL_BENCH_FLIP=1 runs "on" first): the servers' state drifts
// during a run (the ledger grows, checkpoints come), and a fixed order
// would charge that drift to the mode that runs second.
// BenchmarkRunInTxPaired measures the same cost with that drift cancelled.
func BenchmarkRunInTxUncontended(b *testing.B) {
	ctx := context.Background()
	modes := []string{"off", "on"}
	if os.Getenv("RETRYSQL_BENCH_FLIP") == "1" {
		modes = []string{"on", "off"}
	}
	for _, dialect := range []string{"postgres", "mariadb"} {
		drv, dsn, setup, fn := uncontendedTx(b, dialect)
		for _, mode := range modes {
			db := openUncontended(b, drv, dsn, mode == "on")
			setup(db)
			b.Run("db="+dialect+"/admission="+mode, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := retrysql.RunInTx(ctx, db, nil, fn); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// pairBlock is the number of transactions in each half of a pair of
// BenchmarkRunInTxPaired.
const pairBlock = 20

// BenchmarkRunInTxPaired measures what admission control costs a
// transaction that meets no contention, with the machine's drift
// cancelled: two handles on the same tables, one with admission and one
// without, run blocks of pairBlock uncontended transfers in turn (a coin
// toss decides which goes first in each pair), and each pair gives the
// ratio of the "on" block's time to the "off" block's. Blocks a few
// milliseconds apart see the same machine, so the ratio is free of the
// drift between runs that hides a few percent in
// BenchmarkRunInTxUncontended. One iteration is one pair; the benchmark
// reports the median ratio ("on/off") and a distribution-free 95%
// confidence interval for it ("lo95", "hi95", order statistics of the
// sorted ratios, from 20 pairs on):
//
//	go test -run '^$' -bench BenchmarkRunInTxPaired -benchtime 400x ./integration
func BenchmarkRunInTxPaired(b *testing.B) {
	ctx := context.Background()
	for _, dialect := range []string{"postgres", "mariadb"} {
		drv, dsn, setup, fn := uncontendedTx(b, dialect)
		off, on := openUncontended(b, drv, dsn, false), openUncontended(b, drv, dsn, true)
		setup(off)
		block := func(db *sql.DB) {
			for range pairBlock {
				if err := retrysql.RunInTx(ctx, db, nil, fn); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run("db="+dialect, func(b *testing.B) {
			paired(b, func() { block(off) }, func() { block(on) })
		})
	}
}

// paired runs b's iterations as pairs of off and on (a coin toss decides
// which goes first in each pair), after one warm-up of each, and reports
// the median ratio of on's time to off's ("on/off") with its 95%
// confidence interval ("lo95", "hi95").
func paired(b *testing.B, off, on func()) {
	off()
	on()
	rng := rand.New(rand.NewPCG(1, 2))
	var ratios []float64
	timed := func(f func()) time.Duration {
		start := time.Now()
		f()
		return time.Since(start)
	}
	for b.Loop() {
		var tOff, tOn time.Duration
		if rng.IntN(2) == 0 {
			tOff = timed(off)
			tOn = timed(on)
		} else {
			tOn = timed(on)
			tOff = timed(off)
		}
		ratios = append(ratios, float64(tOn)/float64(tOff))
	}
	med, lo, hi := contention.MedianCI(ratios)
	b.ReportMetric(med, "on/off")
	if lo > 0 {
		b.ReportMetric(lo, "lo95")
		b.ReportMetric(hi, "hi95")
	}
}

func TestMedianCI(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // ranks 1..100 hold 1..100 once sorted
	}
	med, lo, hi := contention.MedianCI(xs)
	if med != 50.5 || lo != 40 || hi != 61 { // the textbook ranks for n = 100
		t.Errorf("contention.MedianCI(1..100) = %v, %v, %v; want 50.5, 40, 61", med, lo, hi)
	}
	if med, lo, hi := contention.MedianCI([]float64{3, 1, 2}); med != 2 || lo != 0 || hi != 0 {
		t.Errorf("contention.MedianCI(3 values) = %v, %v, %v; want 2, 0, 0", med, lo, hi)
	}
	if med, _, _ := contention.MedianCI(nil); med != 0 {
		t.Errorf("contention.MedianCI(nil) = %v", med)
	}
}
