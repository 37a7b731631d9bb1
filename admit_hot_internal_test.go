package retrysql

import (
	"database/sql/driver"
	"testing"
)

func TestWhereArgs(t *testing.T) {
	cases := []struct {
		query string
		want  uint64
	}{
		{"UPDATE accounts SET balance = balance + $1 WHERE id = $2", 0b10},
		{"SELECT balance FROM accounts WHERE id = ? FOR UPDATE", 0b1},
		{"update t set a = ?, b = ? where id = ? and tenant = ?", 0b1100},
		{"SELECT x FROM t WHERE id IN ($1, $12)", 1 | 1<<11},
		{"INSERT INTO ledger (a, b) VALUES ($1, $2)", 0},
		{"SELECT * FROM t WHERE_x = $1", 0},                                            // not the word
		{"SELECT * FROM t WHERE a = 1", 0},                                             // no placeholder after it
		{"SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = $2) AND d = $1", 0b11}, // after the last WHERE
		{"DELETE FROM t\nwhere\tid=$3", 0b100},
	}
	for _, c := range cases {
		if got := whereArgs(c.query); got != c.want {
			t.Errorf("whereArgs(%q) = %b, want %b", c.query, got, c.want)
		}
	}
}

func TestStatementKeys(t *testing.T) {
	const update = "UPDATE accounts SET balance = balance + $1 WHERE id = $2"
	args := func(amount, id any) []driver.NamedValue {
		return []driver.NamedValue{{Ordinal: 1, Value: amount}, {Ordinal: 2, Value: id}}
	}
	a := statementKeys(nil, update, args(int64(5), int64(7)))
	b := statementKeys(nil, update, args(int64(-90), 7)) // another amount; a Go int, as pgx takes it
	c := statementKeys(nil, update, args(int64(5), int64(8)))
	if len(a) != 1 || len(b) != 1 || a[0] != b[0] {
		t.Fatalf("the same row gave keys %x and %x: the SET value must not count", a, b)
	}
	if a[0] == c[0] {
		t.Fatal("two rows gave one key")
	}
	insert := "INSERT INTO t VALUES ($1, $2)"
	if k := statementKeys(nil, insert, args("x", []byte("y"))); len(k) != 2 {
		t.Fatalf("no WHERE: %d keys, want one per argument", len(k))
	}
	if k := statementKeys(nil, "UPDATE counters SET n = n + 1", nil); len(k) != 1 {
		t.Fatalf("no arguments: %d keys, want the statement's", len(k))
	}
	type row struct{ id int }
	if k := statementKeys(nil, "SELECT 1 WHERE $1", []driver.NamedValue{{Ordinal: 1, Value: row{1}}}); len(k) != 0 {
		t.Fatalf("a struct argument gave keys %x", k)
	}
	type id int32
	if k := statementKeys(nil, update, args(1, id(7))); len(k) != 1 || k[0] != a[0] {
		t.Fatalf("a named integer type: %x, want %x", k, a)
	}
	many := make([]driver.NamedValue, 20)
	for i := range many {
		many[i] = driver.NamedValue{Ordinal: i + 1, Value: int64(i)}
	}
	if k := statementKeys(nil, insert, many); len(k) != maxKeys {
		t.Fatalf("%d keys, want at most %d", len(k), maxKeys)
	}
	for _, v := range []any{nil, true, false, 1.5, float32(2), uint8(3), "s", []byte("b")} {
		if _, ok := valueHash(v); !ok {
			t.Errorf("valueHash(%T) refused", v)
		}
	}
}
