package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// pgVia returns a DSN of the test PostgreSQL server reached through addr.
func pgVia(t *testing.T, addr string) string {
	t.Helper()
	return pgViaDSN(t, dbtest.PostgresDSN(t), addr)
}

// pgViaDSN returns dsn (a PostgreSQL DSN) with its server reached through
// addr.
func pgViaDSN(t *testing.T, dsn, addr string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u := "postgres://" + cfg.User
	if cfg.Password != "" {
		u += ":" + cfg.Password
	}
	return u + "@" + addr + "/" + cfg.Database + "?sslmode=disable"
}

// pgAddr returns the test PostgreSQL server's host:port.
func pgAddr(t *testing.T) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbtest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// mysqlVia returns a DSN of the test MySQL server reached through addr.
func mysqlVia(t *testing.T, addr string) string {
	t.Helper()
	return mysqlViaDSN(t, dbtest.MySQLDSN(t), addr)
}

// mysqlViaDSN returns dsn (a MySQL DSN) with its server reached through
// addr.
func mysqlViaDSN(t *testing.T, dsn, addr string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Net, cfg.Addr = "tcp", addr
	return cfg.FormatDSN()
}

func mysqlAddr(t *testing.T) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dbtest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Addr
}

// openRetry opens a handle with a registered retrysql driver.
func openRetry(t *testing.T, driverName, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func retrierStats(t *testing.T, db *sql.DB) retrysql.Stats {
	t.Helper()
	r, ok := retrysql.RetrierOf(db)
	if !ok {
		t.Fatal("not a retrysql handle")
	}
	return r.Stats()
}

// flakyPG creates a function failing with SQLSTATE code for its first
// fails calls, counting in a sequence (which no rollback undoes).
func flakyPG(t *testing.T, admin *sql.DB, name, code string, fails int) {
	t.Helper()
	dbtest.Exec(t, admin,
		"DROP FUNCTION IF EXISTS "+name+"()",
		"DROP SEQUENCE IF EXISTS "+name+"_seq",
		"CREATE SEQUENCE "+name+"_seq",
		fmt.Sprintf(`CREATE FUNCTION %s() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	IF nextval('%s_seq') <= %d THEN
		RAISE EXCEPTION 'injected failure' USING ERRCODE = '%s';
	END IF;
	RETURN currval('%s_seq');
END $$`, name, name, fails, code, name),
	)
	t.Cleanup(func() {
		admin.Exec("DROP FUNCTION IF EXISTS " + name + "()")
		admin.Exec("DROP SEQUENCE IF EXISTS " + name + "_seq")
	})
}

// flakyMySQL creates a function failing with the given error number for its
// first fails calls, counting in a sequence.
func flakyMySQL(t *testing.T, admin *sql.DB, name string, errno, fails int, state, msg string) {
	t.Helper()
	dbtest.Exec(t, admin,
		"DROP FUNCTION IF EXISTS "+name,
		"DROP SEQUENCE IF EXISTS "+name+"_seq",
		"CREATE SEQUENCE "+name+"_seq",
		fmt.Sprintf(`CREATE FUNCTION %s() RETURNS BIGINT NOT DETERMINISTIC MODIFIES SQL DATA
BEGIN
	DECLARE n BIGINT;
	SET n = NEXTVAL(%s_seq);
	IF n <= %d THEN
		SIGNAL SQLSTATE '%s' SET MYSQL_ERRNO = %d, MESSAGE_TEXT = '%s';
	END IF;
	RETURN n;
END`, name, name, fails, state, errno, msg),
	)
	t.Cleanup(func() {
		admin.Exec("DROP FUNCTION IF EXISTS " + name)
		admin.Exec("DROP SEQUENCE IF EXISTS " + name + "_seq")
	})
}

func TestStatementRetriedUntilItSucceeds(t *testing.T) {
	ctx := context.Background()
	t.Run("postgres", func(t *testing.T) {
		admin := dbtest.OpenPostgres(t)
		db := openRetry(t, retrysql.DriverPgx, dbtest.PostgresDSN(t))
		for _, code := range []string{"40001", "40P01"} {
			name := "rs_flaky_" + code
			flakyPG(t, admin, name, code, 3)
			var n int64
			if err := db.QueryRowContext(ctx, "SELECT "+name+"()").Scan(&n); err != nil {
				t.Fatalf("%s: %v", code, err)
			}
			if n != 4 {
				t.Fatalf("%s: succeeded on call %d, want 4 (3 failures, then success)", code, n)
			}
		}
		if st := retrierStats(t, db); st.RetriesByCode["40001"] != 3 || st.RetriesByCode["40P01"] != 3 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("mariadb", func(t *testing.T) {
		admin := dbtest.OpenMySQL(t)
		db := openRetry(t, retrysql.DriverMySQL, dbtest.MySQLDSN(t))
		flakyMySQL(t, admin, "rs_flaky", 1213, 3, "40001", "Deadlock found when trying to get lock; try restarting transaction")
		// MySQL reports an error raised while computing a row after the
		// column definitions, that is while the rows are read, which is
		// never retried (see the README); a statement without rows reports
		// it at once.
		if _, err := db.ExecContext(ctx, "SET @rs_flaky = rs_flaky()"); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := admin.QueryRowContext(ctx, "SELECT NEXTVAL(rs_flaky_seq) - 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 4 {
			t.Fatalf("%d calls, want 4 (3 failures, then success)", n)
		}
		if st := retrierStats(t, db); st.RetriesByCode["1213"] != 3 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestUniqueViolationAttemptedOnce(t *testing.T) {
	ctx := context.Background()
	t.Run("postgres", func(t *testing.T) {
		admin := dbtest.OpenPostgres(t)
		dbtest.Exec(t, admin,
			"DROP TABLE IF EXISTS rs_once", "DROP SEQUENCE IF EXISTS rs_once_seq",
			"CREATE SEQUENCE rs_once_seq", "CREATE TABLE rs_once (id int PRIMARY KEY, n bigint)")
		t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_once"); admin.Exec("DROP SEQUENCE IF EXISTS rs_once_seq") })
		db := openRetry(t, retrysql.DriverPgx, dbtest.PostgresDSN(t))
		insert := "INSERT INTO rs_once (id, n) VALUES (1, nextval('rs_once_seq'))"
		if _, err := db.ExecContext(ctx, insert); err != nil {
			t.Fatal(err)
		}
		_, err := db.ExecContext(ctx, insert)
		expect(t, err, 0, "23505")
		var calls int64
		admin.QueryRowContext(ctx, "SELECT last_value FROM rs_once_seq").Scan(&calls)
		if calls != 2 {
			t.Fatalf("the INSERT ran %d times, want 2 (one success, one violation)", calls)
		}
	})
	t.Run("mariadb", func(t *testing.T) {
		admin := dbtest.OpenMySQL(t)
		dbtest.Exec(t, admin,
			"DROP TABLE IF EXISTS rs_once", "DROP SEQUENCE IF EXISTS rs_once_seq",
			"CREATE SEQUENCE rs_once_seq", "CREATE TABLE rs_once (id INT PRIMARY KEY, n BIGINT)")
		t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_once"); admin.Exec("DROP SEQUENCE IF EXISTS rs_once_seq") })
		db := openRetry(t, retrysql.DriverMySQL, dbtest.MySQLDSN(t))
		insert := "INSERT INTO rs_once (id, n) VALUES (1, NEXTVAL(rs_once_seq))"
		if _, err := db.ExecContext(ctx, insert); err != nil {
			t.Fatal(err)
		}
		_, err := db.ExecContext(ctx, insert)
		expect(t, err, 0, "1062")
		var calls int64
		admin.QueryRowContext(ctx, "SELECT NEXTVAL(rs_once_seq) - 1").Scan(&calls)
		if calls != 2 {
			t.Fatalf("the INSERT ran %d times, want 2", calls)
		}
	})
}

func TestKilledConnectionRecovered(t *testing.T) {
	ctx := context.Background()
	t.Run("postgres", func(t *testing.T) {
		admin := dbtest.OpenPostgres(t)
		db := openRetry(t, retrysql.DriverPgx, dbtest.PostgresDSN(t))
		db.SetMaxOpenConns(1)
		var pid int
		if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		dbtest.Exec(t, admin, "SELECT pg_terminate_backend("+strconv.Itoa(pid)+")")
		waitFor(t, func() bool {
			var n int
			admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n)
			return n == 0
		})
		var other int
		if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&other); err != nil {
			t.Fatal(err)
		}
		if other == pid {
			t.Fatal("still on the killed backend")
		}
		t.Logf("stats %+v", retrierStats(t, db))
	})
	t.Run("mariadb", func(t *testing.T) {
		admin := dbtest.OpenMySQL(t)
		db := openRetry(t, retrysql.DriverMySQL, dbtest.MySQLDSN(t))
		db.SetMaxOpenConns(1)
		var id int
		if err := db.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		dbtest.Exec(t, admin, "KILL CONNECTION "+strconv.Itoa(id))
		var other int
		if err := db.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&other); err != nil {
			t.Fatal(err)
		}
		if other == id {
			t.Fatal("still on the killed connection")
		}
		t.Logf("stats %+v", retrierStats(t, db))
	})
}

// TestCutDuringInsertIsNotRetried cuts the connection while an INSERT is in
// flight, so that its reply is lost: the INSERT must not run again, and
// the row exists at most once.
func TestCutDuringInsertIsNotRetried(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, driver, table string
		admin               func(testing.TB) *sql.DB
		via                 func(*testing.T, string) string
		addr                func(*testing.T) string
		slowInsert          string
	}{
		{"postgres", retrysql.DriverPgx, "rs_cut_pg", dbtest.OpenPostgres, pgVia, pgAddr,
			"INSERT INTO rs_cut_pg (id) SELECT 1 FROM pg_sleep(0.3)"},
		{"mariadb", retrysql.DriverMySQL, "rs_cut_my", dbtest.OpenMySQL, mysqlVia, mysqlAddr,
			"INSERT INTO rs_cut_my (id) SELECT 1 FROM (SELECT SLEEP(0.3)) AS s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			admin := tc.admin(t)
			dbtest.Exec(t, admin, "DROP TABLE IF EXISTS "+tc.table, "CREATE TABLE "+tc.table+" (id INT)")
			t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS " + tc.table) })
			proxy := dbtest.NewProxy(t, tc.addr(t))
			if err := proxy.Start(); err != nil {
				t.Fatal(err)
			}
			db := openRetry(t, tc.driver, tc.via(t, proxy.Addr()))
			if err := db.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := db.ExecContext(ctx, tc.slowInsert)
				errc <- err
			}()
			time.Sleep(100 * time.Millisecond) // the INSERT is running
			proxy.Toxic(t, `{"name":"cut","type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`)
			err := <-errc
			if !errors.Is(err, retrysql.ErrAmbiguous) {
				t.Fatalf("got %v, want ErrAmbiguous", err)
			}
			time.Sleep(500 * time.Millisecond) // let the server finish whatever it was doing
			var rows int
			if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM "+tc.table).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			t.Logf("%v; rows: %d", err, rows)
			if rows > 1 {
				t.Fatalf("%d rows: the INSERT ran twice", rows)
			}
			if st := retrierStats(t, db); st.Retries != 0 {
				t.Fatalf("stats %+v: something was retried", st)
			}
		})
	}
}

// TestServerNotListeningYet starts with nothing listening at the address;
// the server appears after a moment, and connecting waits for it within the
// context (a 30 s deadline), also when it is late enough for the breaker
// to open.
func TestServerNotListeningYet(t *testing.T) {
	cases := []struct {
		name, driver string
		via          func(*testing.T, string) string
		addr         func(*testing.T) string
		late         time.Duration
	}{
		{"postgres", retrysql.DriverPgx, pgVia, pgAddr, 400 * time.Millisecond},
		{"mariadb", retrysql.DriverMySQL, mysqlVia, mysqlAddr, 400 * time.Millisecond},
		// Late enough that the breaker opens (5 failed connects): the
		// Ping waits for its probes instead of failing.
		{"postgres 4s late", retrysql.DriverPgx, pgVia, pgAddr, 4 * time.Second},
		{"mariadb 4s late", retrysql.DriverMySQL, mysqlVia, mysqlAddr, 4 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy := dbtest.NewProxy(t, tc.addr(t))
			db := openRetry(t, tc.driver, tc.via(t, proxy.Addr()))
			time.AfterFunc(tc.late, func() { proxy.Start() })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			if err := db.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			st := retrierStats(t, db)
			t.Logf("connected after %v, %d connect retries, %d breaker waits", time.Since(start), st.Retries, st.BreakerWaits)
			if st.Retries == 0 {
				t.Fatal("connected without retrying: the server was there from the start")
			}
		})
	}
}
