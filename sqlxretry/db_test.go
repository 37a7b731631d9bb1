package sqlxretry_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/retrysql/retrysql" // registers retry+pgx and retry+mysql, and pgx's and go-sql-driver's own
)

// The databases: the local servers (DEVELOPERS.md), or those named by
// RETRYSQL_PG_DSN and RETRYSQL_MYSQL_DSN. One that cannot be reached skips
// the test, or fails it when CI is set (as integration/dbtest does).
const (
	defaultPG    = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultMySQL = "root@tcp(127.0.0.1:3306)/test"
)

type server struct {
	once sync.Once
	dsn  string
	err  error
}

var pgServer, myServer server

func (s *server) get(t testing.TB, name, env, def, driver string) string {
	t.Helper()
	s.once.Do(func() {
		s.dsn = def
		if v := os.Getenv(env); v != "" {
			s.dsn = v
		}
		db, err := sql.Open(driver, s.dsn)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
		}
		if err != nil {
			s.err = fmt.Errorf("%s is not reachable (%v); set %s, or start the local server", name, err, env)
		}
	})
	if s.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(s.err)
		}
		t.Skip(s.err)
	}
	return s.dsn
}

// dialect is one database, reached through one driver name.
type dialect struct {
	name   string // "postgres" or "mariadb"
	driver string // "pgx", "retry+pgx", "mysql" or "retry+mysql"
}

func (d dialect) String() string { return d.name + "/" + d.driver }

func (d dialect) pg() bool { return d.name == "postgres" }

// dialects are the four ways the tests reach the two servers: each
// driver's own name and retrysql's.
var dialects = []dialect{
	{"postgres", "pgx"}, {"postgres", retrysql.DriverPgx},
	{"mariadb", "mysql"}, {"mariadb", retrysql.DriverMySQL},
}

func (d dialect) dsn(t testing.TB) string {
	if d.pg() {
		return pgServer.get(t, "PostgreSQL", "RETRYSQL_PG_DSN", defaultPG, "pgx")
	}
	return myServer.get(t, "MariaDB", "RETRYSQL_MYSQL_DSN", defaultMySQL, "mysql")
}

// open opens sqlx on d as an application does: sqlx.Open(d.driver, dsn).
func (d dialect) open(t testing.TB) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open(d.driver, d.dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// admin returns a handle on d's server through the driver's own name.
func (d dialect) admin(t testing.TB) *sql.DB {
	t.Helper()
	drv := "mysql"
	if d.pg() {
		drv = "pgx"
	}
	db, err := sql.Open(drv, d.dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// table creates a table of its own for the test, dropped when it ends.
func table(t testing.TB, admin *sql.DB, name, columns string) {
	t.Helper()
	exec(t, admin, "DROP TABLE IF EXISTS "+name, "CREATE TABLE "+name+" ("+columns+")")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS " + name) })
}

func exec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// flaky creates a function name() that fails with the vendor code code
// (a SQLSTATE on PostgreSQL, an error number on MariaDB) on its first
// fails calls, counting in a sequence, which no rollback undoes.
func flaky(t testing.TB, d dialect, admin *sql.DB, name, code string, fails int) {
	t.Helper()
	drop := []string{"DROP FUNCTION IF EXISTS " + name, "DROP SEQUENCE IF EXISTS " + name + "_seq"}
	if d.pg() {
		drop[0] += "()"
		exec(t, admin, append(drop, "CREATE SEQUENCE "+name+"_seq", fmt.Sprintf(`CREATE FUNCTION %s() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	IF nextval('%s_seq') <= %d THEN
		RAISE EXCEPTION 'injected failure' USING ERRCODE = '%s';
	END IF;
	RETURN currval('%s_seq');
END $$`, name, name, fails, code, name))...)
	} else {
		exec(t, admin, append(drop, "CREATE SEQUENCE "+name+"_seq", fmt.Sprintf(`CREATE FUNCTION %s() RETURNS BIGINT NOT DETERMINISTIC MODIFIES SQL DATA
BEGIN
	DECLARE n BIGINT;
	SET n = NEXTVAL(%s_seq);
	IF n <= %d THEN
		SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = %s, MESSAGE_TEXT = 'injected failure';
	END IF;
	RETURN n;
END`, name, name, fails, code))...)
	}
	t.Cleanup(func() {
		for _, s := range drop {
			admin.Exec(s)
		}
	})
}
