package integration_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/retrysql/retrysql"
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
