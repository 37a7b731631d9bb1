// Package dbtest gives the real-database tests their databases: the local
// PostgreSQL and MariaDB (or MySQL) servers by default, other servers named
// by RETRYSQL_PG_DSN and RETRYSQL_MYSQL_DSN, or, with
// RETRYSQL_TESTCONTAINERS=1, containers started by testcontainers-go (for
// machines with a Docker engine).
//
// A database that cannot be reached skips the test, unless CI is set: then
// it fails it.
//
// Tests that restart or reconfigure a server start their own: a lone
// instance (StartPostgres, StartMariaDB) or a cluster of them, each node
// on free ports with its own directories, stopped by its PID at cleanup:
// PostgreSQL streaming replication (StartPGCluster), MariaDB GTID
// replication (StartMariaDBReplication), MariaDB Galera (StartGalera) and
// Patroni with etcd (StartPatroni). The slow ones run only under CI or
// with RETRYSQL_CLUSTERS=1 (SlowClusters).
package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"   // also registers "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"go.uber.org/goleak"
)

// Default DSNs: the local servers, as DEVELOPERS.md describes them.
const (
	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test"
)

// Main runs the tests, stops any container they started, and fails if a
// goroutine is left behind. Call it from TestMain.
func Main(m *testing.M) {
	// go-sql-driver logs every broken connection to stderr; the fault
	// injection tests break thousands.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	code := m.Run()
	stopContainers()
	if code == 0 {
		// toxiproxy's own goroutines can stay blocked when a toxic is
		// removed while a link closes (a toxiproxy race, not retrysql's).
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

type source struct {
	once sync.Once
	dsn  string
	err  error
}

var pg, my source

// PostgresDSN returns the DSN of the PostgreSQL server to test against.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return pg.get(t, "PostgreSQL", "RETRYSQL_PG_DSN", DefaultPostgresDSN, "pgx", startPostgres)
}

// MySQLDSN returns the DSN of the MySQL or MariaDB server to test against.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	return my.get(t, "MySQL", "RETRYSQL_MYSQL_DSN", DefaultMySQLDSN, "mysql", startMySQL)
}

func (s *source) get(t testing.TB, name, env, def, driver string, container func(context.Context) (string, error)) string {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		switch {
		case os.Getenv("RETRYSQL_TESTCONTAINERS") == "1":
			s.dsn, s.err = container(ctx)
		case os.Getenv(env) != "":
			s.dsn = os.Getenv(env)
		default:
			s.dsn = def
		}
		if s.err == nil {
			s.err = ping(ctx, driver, s.dsn)
		}
		if s.err != nil {
			s.err = fmt.Errorf("%s at %s is not reachable (%v); set %s, or start the local server (DEVELOPERS.md)", name, redact(s.dsn), s.err, env)
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

func ping(ctx context.Context, driver, dsn string) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// redact hides a password in a DSN for messages.
func redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return dsn
	}
	user := dsn[:at]
	if i := strings.LastIndex(user, ":"); i >= 0 && !strings.HasSuffix(user[:i], "/") {
		return user[:i] + ":xxx" + dsn[at:]
	}
	return dsn
}

// OpenPostgres returns a handle on the test PostgreSQL server through pgx's
// database/sql driver, closed when the test ends.
func OpenPostgres(t testing.TB) *sql.DB {
	t.Helper()
	return open(t, "pgx", PostgresDSN(t))
}

// OpenMySQL returns a handle on the test MySQL or MariaDB server through
// go-sql-driver/mysql, closed when the test ends.
func OpenMySQL(t testing.TB) *sql.DB {
	t.Helper()
	return open(t, "mysql", MySQLDSN(t))
}

func open(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs statements on db, failing the test at the first error.
func Exec(t testing.TB, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
