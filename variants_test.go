package retrysql

import (
	"database/sql/driver"
	"reflect"
	"testing"
)

var (
	connIfaceTypes = [...]reflect.Type{
		reflect.TypeFor[driver.ExecerContext](), reflect.TypeFor[driver.QueryerContext](),
		reflect.TypeFor[driver.ConnPrepareContext](), reflect.TypeFor[driver.ConnBeginTx](),
		reflect.TypeFor[driver.Pinger](), reflect.TypeFor[driver.SessionResetter](),
		reflect.TypeFor[driver.Validator](), reflect.TypeFor[driver.NamedValueChecker](),
	}
	stmtIfaceTypes = [...]reflect.Type{
		reflect.TypeFor[driver.StmtExecContext](), reflect.TypeFor[driver.StmtQueryContext](),
		reflect.TypeFor[driver.NamedValueChecker](), columnConverterType,
	}
	//lint:ignore SA1019 the wrapper forwards it when the driver has it
	columnConverterType = reflect.TypeFor[driver.ColumnConverter]()
)

// TestVariantsImplementExactlyTheirMask checks the generated variants.go
// against the bit order of connInterfaces and stmtInterfaces: each mask
// gives a value with exactly the interfaces of its bits.
func TestVariantsImplementExactlyTheirMask(t *testing.T) {
	for i, typ := range connIfaceTypes {
		if typ.Name() != connInterfaces[i] {
			t.Fatalf("bit %d: %s in the test, %s in conn.go", i, typ.Name(), connInterfaces[i])
		}
	}
	for i, typ := range stmtIfaceTypes {
		if typ.Name() != stmtInterfaces[i] {
			t.Fatalf("bit %d: %s in the test, %s in stmt.go", i, typ.Name(), stmtInterfaces[i])
		}
	}
	c := &conn{}
	for mask := uint(0); mask < 1<<len(connIfaceTypes); mask++ {
		v := reflect.TypeOf(connVariant(c, &connExt{c}, mask))
		for bit, typ := range connIfaceTypes {
			if want := mask&(1<<bit) != 0; v.Implements(typ) != want {
				t.Fatalf("conn mask %#x: implements %s = %v", mask, typ.Name(), !want)
			}
		}
		if !v.Implements(reflect.TypeFor[interface{ Unwrap() driver.Conn }]()) {
			t.Fatalf("conn mask %#x: no Unwrap", mask)
		}
	}
	s := &stmt{}
	for mask := uint(0); mask < 1<<len(stmtIfaceTypes); mask++ {
		v := reflect.TypeOf(stmtVariant(s, &stmtExt{s}, mask))
		for bit, typ := range stmtIfaceTypes {
			if want := mask&(1<<bit) != 0; v.Implements(typ) != want {
				t.Fatalf("stmt mask %#x: implements %s = %v", mask, typ.Name(), !want)
			}
		}
	}
}

// TestVariantsAreGenerated checks that variants.go is what the generator
// writes today.
func TestVariantsAreGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	out := t.TempDir() + "/variants.go"
	cmd := goCommand(t, "run", "./internal/gen/variants", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, b)
	}
	want := readFile(t, out)
	if got := readFile(t, "variants.go"); got != want {
		t.Fatal("variants.go is stale: run go generate")
	}
}
