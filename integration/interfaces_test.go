package integration_test

import (
	"context"
	"database/sql/driver"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/internal/shape"
)

// driverInterfaces returns every interface of database/sql/driver with its
// methods, from internal/shape's table (the root package's tests check the
// table against database/sql/driver's source, so an interface a new Go adds
// fails there).
func driverInterfaces() map[string][]string {
	out := map[string][]string{}
	for _, i := range shape.Interfaces {
		out[i.Name] = i.Methods
	}
	return out
}

func implementsByName(v any, methods []string) bool {
	typ := reflect.TypeOf(v)
	for _, m := range methods {
		if _, ok := typ.MethodByName(m); !ok {
			return false
		}
	}
	return len(methods) > 0
}

// compareInterfaces fails if the wrapper presents an interface of
// database/sql/driver otherwise than internal/shape's table says: a varied
// interface exactly when the driver's value has it (or its legacy one), a
// claimed one always, and a legacy one never (its context interface stands
// for it).
func compareInterfaces(t *testing.T, what string, kind shape.Kind, wrapper, inner any, ifaces map[string][]string) {
	t.Helper()
	for _, i := range shape.Interfaces {
		if i.Kind != kind {
			continue
		}
		want := !i.Varied && i.Legacy == ""
		if i.Varied {
			want = implementsByName(inner, i.Methods) || i.Legacy != "" && implementsByName(inner, ifaces[i.Legacy])
		}
		if got := implementsByName(wrapper, i.Methods); got != want {
			t.Errorf("%s: the driver's %T implements %s = %v; the wrapper %v, want %v", what, inner, i.Name, implementsByName(inner, i.Methods), got, want)
		}
	}
}

// TestWrapperForwardsExactlyTheDriversInterfaces compares, by reflection,
// every interface of database/sql/driver on the real pgx and
// go-sql-driver/mysql connections and statements with the wrapper's, as
// internal/shape's table says they must relate. A Go or driver upgrade
// that adds one fails here.
func TestWrapperForwardsExactlyTheDriversInterfaces(t *testing.T) {
	ifaces := driverInterfaces()
	for _, tc := range []struct{ name, driver, dsn string }{
		{"pgx", retrysql.DriverPgx, dbtest.PostgresDSN(t)},
		{"mysql", retrysql.DriverMySQL, dbtest.MySQLDSN(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openRetry(t, tc.driver, tc.dsn)
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = conn.Raw(func(dc any) error {
				inner := retrysql.UnwrapConn(dc)
				if inner == dc {
					t.Fatal("UnwrapConn returned the wrapper")
				}
				compareInterfaces(t, "conn", shape.Conn, dc, inner, ifaces)
				s, err := dc.(driver.ConnPrepareContext).PrepareContext(context.Background(), "SELECT 1")
				if err != nil {
					return err
				}
				defer s.Close()
				is := s.(interface{ Unwrap() driver.Stmt }).Unwrap()
				compareInterfaces(t, "stmt", shape.Stmt, s, is, ifaces)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := db.Driver().(driver.DriverContext); !ok {
				t.Fatal("the handle's driver is not the wrapper")
			}
		})
	}
}

// TestCopyFromThroughRaw uses pgx's CopyFrom on a retry+pgx handle, reached
// through Conn.Raw and UnwrapConn.
func TestCopyFromThroughRaw(t *testing.T) {
	admin := dbtest.OpenPostgres(t)
	dbtest.Exec(t, admin, "DROP TABLE IF EXISTS rs_copy", "CREATE TABLE rs_copy (id int, name text)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_copy") })
	db := openRetry(t, retrysql.DriverPgx, dbtest.PostgresDSN(t))
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows := [][]any{{1, "a"}, {2, "b"}, {3, "c"}}
	err = conn.Raw(func(dc any) error {
		pgxConn := retrysql.UnwrapConn(dc).(*stdlib.Conn).Conn()
		n, err := pgxConn.CopyFrom(ctx, []string{"rs_copy"}, []string{"id", "name"}, copyRows(rows))
		if err == nil && n != 3 {
			t.Errorf("copied %d rows", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var count int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM rs_copy").Scan(&count); err != nil || count != 3 {
		t.Fatalf("%d rows, %v", count, err)
	}
}

func copyRows(rows [][]any) interface {
	Next() bool
	Values() ([]any, error)
	Err() error
} {
	return &rowSource{rows: rows, i: -1}
}

type rowSource struct {
	rows [][]any
	i    int
}

func (r *rowSource) Next() bool             { r.i++; return r.i < len(r.rows) }
func (r *rowSource) Values() ([]any, error) { return r.rows[r.i], nil }
func (r *rowSource) Err() error             { return nil }

// TestResultSetsThroughRetrysql: a query with several result sets (a
// multi-statement query here; a CALL does the same) gives each set's own
// columns through retrysql. With the first set's, database/sql sized the
// second set's row for two values and go-sql-driver panicked reading it.
func TestResultSetsThroughRetrysql(t *testing.T) {
	dsn := dbtest.MySQLDSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db := openRetry(t, retrysql.DriverMySQL, dsn+sep+"multiStatements=true")
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("reading the second result set panicked: %v", r)
		}
	}()
	rows, err := db.QueryContext(t.Context(), "SELECT 1 AS a, 2 AS b; SELECT 3 AS c")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var a, b, c int
	for rows.Next() {
		if err := rows.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
	}
	if !rows.NextResultSet() {
		t.Fatalf("no second result set: %v", rows.Err())
	}
	if cols, _ := rows.Columns(); !reflect.DeepEqual(cols, []string{"c"}) {
		t.Errorf("columns of the second result set: %v, want [c]", cols)
	}
	for rows.Next() {
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil || a != 1 || b != 2 || c != 3 {
		t.Fatalf("got %d %d %d, %v; want 1 2 3", a, b, c, err)
	}
}
