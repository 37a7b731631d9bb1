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
