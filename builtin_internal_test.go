package retrysql

import (
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/stdlib"
)

// TestOpenBuiltinDriversWrapsOnce: Open given retrysql's own registered
// drivers wraps the driver beneath (pgx's, go-sql-driver's) once, never
// another retrysql driver, and the handle's connector opens connections of
// that driver directly. (Open does not connect: no server is needed.)
func TestOpenBuiltinDriversWrapsOnce(t *testing.T) {
	for _, tc := range []struct {
		name, dsn string
		want      func(any) bool
	}{
		{DriverPgx, "postgres://app@127.0.0.1:1/db", func(d any) bool { _, ok := d.(*stdlib.Driver); return ok }},
		{DriverMySQL, "app@tcp(127.0.0.1:1)/db", func(d any) bool { _, ok := d.(*mysql.MySQLDriver); return ok }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(tc.name, tc.dsn, WithMaxAttempts(3))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			w, ok := db.Driver().(*wrapDriver)
			if !ok {
				t.Fatalf("driver %T, want retrysql's", db.Driver())
			}
			if _, nested := w.inner.(*wrapDriver); nested || !tc.want(w.inner) {
				t.Fatalf("the handle wraps %T, want the driver beneath retrysql's", w.inner)
			}
			switch w.h.connector.(type) {
			case *connector, closingConnector:
				t.Fatalf("the handle connects through another retrysql connector (%T)", w.h.connector)
			}
			if w.h.connector.Driver() != w.inner {
				t.Fatalf("the handle's connector belongs to %T, want %T", w.h.connector.Driver(), w.inner)
			}
		})
	}
}
