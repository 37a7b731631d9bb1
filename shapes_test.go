package retrysql

import (
	"database/sql/driver"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/retrysql/retrysql/internal/shape"
)

// driverInterfaces reads database/sql/driver's source and returns every
// interface it declares with the names of its methods, so that an
// interface a new Go adds is noticed, not only those known today.
func driverInterfaces(t *testing.T) map[string][]string {
	t.Helper()
	goroot, err := goCommand(t, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(strings.TrimSpace(string(goroot)), "src", "database", "sql", "driver")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			if it, ok := ts.Type.(*ast.InterfaceType); ok {
				out[ts.Name.Name] = []string{}
				for _, m := range it.Methods.List {
					for _, id := range m.Names {
						out[ts.Name.Name] = append(out[ts.Name.Name], id.Name)
					}
				}
			}
			return true
		})
	}
	if len(out) < 20 {
		t.Fatalf("found only %d interfaces in %s", len(out), dir)
	}
	return out
}

// TestShapeTableCoversTheDriverPackage: the table of internal/shape names
// every interface of database/sql/driver, with its methods, and nothing
// else.
func TestShapeTableCoversTheDriverPackage(t *testing.T) {
	src := driverInterfaces(t)
	seen := map[string]bool{}
	for _, i := range shape.Interfaces {
		seen[i.Name] = true
		methods, ok := src[i.Name]
		if !ok {
			t.Errorf("the table has %s, which database/sql/driver does not", i.Name)
			continue
		}
		if !slices.Equal(methods, i.Methods) {
			t.Errorf("%s: the table says methods %v, the source %v", i.Name, i.Methods, methods)
		}
		if !i.Varied && i.Fallback == "" {
			t.Errorf("%s: neither varied nor given a fallback", i.Name)
		}
	}
	for name := range src {
		if !seen[name] {
			t.Errorf("database/sql/driver has %s, which the table does not say what to do with", name)
		}
	}
}

// interfaceTypes maps the names of the table to the interface types.
var interfaceTypes = map[string]reflect.Type{
	"ExecerContext":                  reflect.TypeFor[driver.ExecerContext](),
	"QueryerContext":                 reflect.TypeFor[driver.QueryerContext](),
	"SessionResetter":                reflect.TypeFor[driver.SessionResetter](),
	"Validator":                      reflect.TypeFor[driver.Validator](),
	"Conn":                           reflect.TypeFor[driver.Conn](),
	"Execer":                         reflect.TypeFor[driver.Execer](),  //lint:ignore SA1019 checked to be absent
	"Queryer":                        reflect.TypeFor[driver.Queryer](), //lint:ignore SA1019 checked to be absent
	"ConnPrepareContext":             reflect.TypeFor[driver.ConnPrepareContext](),
	"ConnBeginTx":                    reflect.TypeFor[driver.ConnBeginTx](),
	"Pinger":                         reflect.TypeFor[driver.Pinger](),
	"NamedValueChecker":              reflect.TypeFor[driver.NamedValueChecker](),
	"ColumnConverter":                reflect.TypeFor[driver.ColumnConverter](), //lint:ignore SA1019 forwarded
	"Stmt":                           reflect.TypeFor[driver.Stmt](),
	"StmtExecContext":                reflect.TypeFor[driver.StmtExecContext](),
	"StmtQueryContext":               reflect.TypeFor[driver.StmtQueryContext](),
	"Rows":                           reflect.TypeFor[driver.Rows](),
	"RowsNextResultSet":              reflect.TypeFor[driver.RowsNextResultSet](),
	"RowsColumnTypeScanType":         reflect.TypeFor[driver.RowsColumnTypeScanType](),
	"RowsColumnTypeDatabaseTypeName": reflect.TypeFor[driver.RowsColumnTypeDatabaseTypeName](),
	"RowsColumnTypeLength":           reflect.TypeFor[driver.RowsColumnTypeLength](),
	"RowsColumnTypeNullable":         reflect.TypeFor[driver.RowsColumnTypeNullable](),
	"RowsColumnTypePrecisionScale":   reflect.TypeFor[driver.RowsColumnTypePrecisionScale](),
}

// TestShapesHaveExactlyTheirInterfaces: every shape of a connection and a
// statement has its varied interfaces exactly when its mask says, every
// claimed one always, and the legacy ones never (the context ones stand
// for them); the prefetched rows have every interface of rows.
func TestShapesHaveExactlyTheirInterfaces(t *testing.T) {
	wrappers := map[shape.Kind]func(mask uint8) any{
		shape.Conn: func(m uint8) any { w, _ := newConnShape(m); return w },
		shape.Stmt: func(m uint8) any { w, _ := newStmtShape(m); return w },
		shape.Rows: func(uint8) any { return &prefetched{} },
	}
	for kind, wrap := range wrappers {
		varied := shape.Varied(kind)
		for m := 0; m < 1<<len(varied); m++ {
			typ := reflect.TypeOf(wrap(uint8(m)))
			bit := 0
			for _, i := range shape.Interfaces {
				if i.Kind != kind {
					continue
				}
				it, ok := interfaceTypes[i.Name]
				if !ok {
					t.Fatalf("no type for %s", i.Name)
				}
				want := !i.Varied && i.Legacy == ""
				if i.Varied {
					want = m&(1<<bit) != 0
					bit++
				}
				if got := typ.Implements(it); got != want {
					t.Errorf("%v (mask %#x): implements %s = %v, want %v", typ, m, i.Name, got, want)
				}
			}
		}
	}
}

// TestShapesAreGenerated checks that shapes_gen.go is what the generator
// writes today.
func TestShapesAreGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	want, err := os.ReadFile("shapes_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := goCommand(t, "run", "./internal/gen/shapes")
	cmd.Dir = "."
	cmd.Env = append(os.Environ(), "RETRYSQL_SHAPES_OUT="+filepath.Join(dir, "shapes_gen.go"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "shapes_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("shapes_gen.go is out of date: run go generate")
	}
}
