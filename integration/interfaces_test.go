package integration_test

import (
	"context"
	"database/sql/driver"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// driverInterfaces reads database/sql/driver's source and returns every
// interface it declares with the names of its methods: the test below then
// notices an interface a new Go or a new driver adds, not only those known
// today.
func driverInterfaces(t *testing.T) map[string][]string {
	t.Helper()
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(strings.TrimSpace(string(goroot)), "src", "database", "sql", "driver")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	out := map[string][]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range g.Specs {
				ts, ok := s.(*ast.TypeSpec)
				if !ok || !ts.Name.IsExported() {
					continue
				}
				it, ok := ts.Type.(*ast.InterfaceType)
				if !ok {
					continue
				}
				for _, m := range it.Methods.List {
					for _, n := range m.Names {
						out[ts.Name.Name] = append(out[ts.Name.Name], n.Name)
					}
				}
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d interfaces in %s", len(out), dir)
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

// legacyCovered maps interfaces the wrapper does not forward to the one
// that stands in for them: database/sql uses the legacy ones only when the
// context ones are missing, and the wrapper serves those from either.
var legacyCovered = map[string]string{"Execer": "ExecerContext", "Queryer": "QueryerContext", "Conn": "Conn", "Stmt": "Stmt"}

// compareInterfaces fails if the wrapper's set of driver interfaces differs
// from the wrapped value's.
func compareInterfaces(t *testing.T, what string, wrapper, inner any, ifaces map[string][]string) {
	t.Helper()
	for name, methods := range ifaces {
		in, out := implementsByName(inner, methods), implementsByName(wrapper, methods)
		if in == out {
			continue
		}
		if stand, ok := legacyCovered[name]; ok && in && implementsByName(wrapper, ifaces[stand]) {
			continue
		}
		t.Errorf("%s: the driver's %T implements %s = %v, the wrapper %v", what, inner, name, in, out)
	}
}

// TestWrapperForwardsExactlyTheDriversInterfaces compares, by reflection,
// every interface of database/sql/driver on the real pgx and
// go-sql-driver/mysql connections and statements with the wrapper's. A
// driver upgrade that adds one fails here.
func TestWrapperForwardsExactlyTheDriversInterfaces(t *testing.T) {
	ifaces := driverInterfaces(t)
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
				compareInterfaces(t, "conn", dc, inner, ifaces)
				s, err := dc.(driver.ConnPrepareContext).PrepareContext(context.Background(), "SELECT 1")
				if err != nil {
					return err
				}
				defer s.Close()
				is := s.(interface{ Unwrap() driver.Stmt }).Unwrap()
				compareInterfaces(t, "stmt", s, is, ifaces)
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
