package integration_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/internal/wiretest"
)

// TestMySQLHostListSkipsReadOnly: with a list of hosts and
// targetSessionAttrs=read-write, a connect skips a node that is read-only
// (a replica, a demoted writer) for one that accepts writes; without it,
// the first host that answers serves. The read-only node is an instance of
// the test's own.
func TestMySQLHostListSkipsReadOnly(t *testing.T) {
	ctx := context.Background()
	readOnly := dbtest.StartMariaDB(t)
	ro := readOnly.Open(t)
	dbtest.Exec(t, ro, "SET GLOBAL read_only = ON")
	main := dbtest.MySQLDSN(t)
	mainHost := main[strings.Index(main, "tcp(")+4 : strings.Index(main, ")")]
	_, mainPort, _ := net.SplitHostPort(mainHost)
	for _, tc := range []struct {
		attrs, wantPort string
	}{
		{"?targetSessionAttrs=read-write", mainPort},
		{"", strconv.Itoa(readOnly.Port())},
	} {
		dsn := "root@tcp(" + readOnly.Addr() + "," + mainHost + ")/test" + tc.attrs
		db := openRetry(t, retrysql.DriverMySQL, dsn)
		var port string
		if err := db.QueryRowContext(ctx, "SELECT @@port").Scan(&port); err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if port != tc.wantPort {
			t.Errorf("%s: served by port %s, want %s", dsn, port, tc.wantPort)
		}
	}
}

// TestMySQLHostListSkips1047: a node that answers every statement with
// Galera's 1047 (not ready), the host list's own check included (a fake
// server: a real non-Primary node answers the check and reads
// wsrep_ready = OFF, TestGaleraHostListSkipsNotReady), is skipped with
// targetSessionAttrs=read-write for the next host, which serves; without
// it, the first host serves and the write gets 1047.
func TestMySQLHostListSkips1047(t *testing.T) {
	ctx := context.Background()
	notReady := wiretest.MySQL(t, wiretest.MySQLError{Number: 1047, SQLState: "08S01", Message: "WSREP has not yet prepared node for application use"})
	fake := notReady[strings.Index(notReady, "tcp(")+4 : strings.Index(notReady, ")")]
	main := dbtest.MySQLDSN(t)
	user, rest, _ := strings.Cut(main, "@tcp(")
	mainHost, tail, _ := strings.Cut(rest, ")")
	_, mainPort, _ := net.SplitHostPort(mainHost)
	dbtest.Exec(t, openRetry(t, retrysql.DriverMySQL, main), "CREATE TABLE IF NOT EXISTS rs_hosts_1047 (id INT AUTO_INCREMENT PRIMARY KEY)")
	list := user + "@tcp(" + fake + "," + mainHost + ")" + tail
	sep := "?"
	if strings.Contains(tail, "?") {
		sep = "&"
	}

	db := openRetry(t, retrysql.DriverMySQL, list+sep+"targetSessionAttrs=read-write")
	if _, err := db.ExecContext(ctx, "INSERT INTO rs_hosts_1047 VALUES (NULL)"); err != nil {
		t.Fatalf("a write through the host list with a node answering 1047 first: %v", err)
	}
	var port string
	if err := db.QueryRowContext(ctx, "SELECT @@port").Scan(&port); err != nil || port != mainPort {
		t.Errorf("served by port %s (%v), want %s", port, err, mainPort)
	}

	first, err := retrysql.Open("mysql", list, retrysql.WithMaxAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.ExecContext(ctx, "INSERT INTO rs_hosts_1047 VALUES (NULL)"); mysqlErrno(err) != 1047 {
		t.Errorf("without targetSessionAttrs: %v, want error 1047 from the first host", err)
	}
}

// TestNoWriterYetIsAFailedConnect: while a failover promotes a writer, a
// multi-host DSN asking for one finds none: pgx fails the connect with
// "ValidateConnect failed: read only connection", which no rule knows; it
// is a failed connect, retried, not a permanent error.
func TestNoWriterYetIsAFailedConnect(t *testing.T) {
	inst := dbtest.StartPostgres(t)
	dbtest.Exec(t, inst.Open(t), "ALTER SYSTEM SET default_transaction_read_only = on", "SELECT pg_reload_conf()")
	conn, err := pgx.Connect(context.Background(), inst.DSN()+"&target_session_attrs=read-write")
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("connected to a read-only server asking for a writer")
	}
	if res := classify.Default.Classify(err); res.Class != classify.ConnLost || !res.Unsent || !res.Connect {
		t.Fatalf("Classify(%v) = %v, want a failed connect", err, res)
	}
}

// TestHostListKeepsOtherParameters: targetSessionAttrs is taken out of a
// MySQL DSN and the other parameters reach go-sql-driver as they were
// written. Encoded again, a charset list (charset=utf8mb4,utf8) read
// utf8mb4%2Cutf8, which go-sql-driver does not decode, and every connect
// failed.
func TestHostListKeepsOtherParameters(t *testing.T) {
	dsn := dbtest.MySQLDSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, attrs := range []string{"any", "read-write"} {
		db := openRetry(t, retrysql.DriverMySQL, dsn+sep+"charset=utf8mb4,utf8&targetSessionAttrs="+attrs)
		var cs string
		if err := db.QueryRowContext(t.Context(), "SELECT @@character_set_client").Scan(&cs); err != nil {
			t.Fatalf("targetSessionAttrs=%s: %v", attrs, err)
		}
		if cs != "utf8mb4" {
			t.Errorf("targetSessionAttrs=%s: character set %s, want utf8mb4", attrs, cs)
		}
	}
}
