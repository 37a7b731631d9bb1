package retrysql

import (
	"context"
	"database/sql/driver"
	"testing"

	"github.com/retrysql/retrysql/admission"
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

// TestProofThenFirstStatement: with the commit check, the transaction's
// first statement is retrysql's proof; admission judges fn's first
// statement instead (its keys, the site's record) but waits for nothing
// there, since the snapshot is taken; once the site's first attempts were
// hot, LikelyHot makes the next wait before BEGIN.
func TestProofThenFirstStatement(t *testing.T) {
	ctl, err := admission.New(admission.Settings{AdmitHotOnly: true, MaxLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	const site = 1
	update := "UPDATE accounts SET balance = balance + $1 WHERE id = $2"
	args := []driver.NamedValue{{Ordinal: 1, Value: int64(5)}, {Ordinal: 2, Value: int64(7)}}
	own := context.WithValue(t.Context(), ownStatement{}, true)
	attempt := func() *txSite {
		s := &txSite{}
		s.adm = admitter{ctl: ctl, hotOnly: true, site: site}
		s.facts.hook = s
		x := &tx{facts: &s.facts}
		for _, st := range []struct {
			ctx   context.Context
			query string
			args  []driver.NamedValue
		}{{own, "SELECT proof", nil}, {t.Context(), update, args}, {t.Context(), "UPDATE other SET n = n + 1", nil}} {
			if err := x.beforeStatement(st.ctx, st.query, st.args); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	s := attempt()
	if len(s.adm.keys) != 1 || s.adm.held || ctl.Snapshot().Cold != 1 {
		t.Fatalf("keys %x, held %v, %+v: want fn's first statement judged (one key, cold), no permit", s.adm.keys, s.adm.held, ctl.Snapshot())
	}
	for range 3 {
		ctl.Observe(s.adm.keys, true) // its row contends
	}
	for range 4 {
		if s := attempt(); s.adm.held || ctl.Snapshot().Inflight != 0 {
			t.Fatalf("a hot first statement after the proof waited for a permit: %+v", ctl.Snapshot())
		}
	}
	if ctl.Snapshot().Cold != 1 || !ctl.LikelyHot(site) {
		t.Fatalf("%+v, likely hot %v: want the four hot attempts counted for the site", ctl.Snapshot(), ctl.LikelyHot(site))
	}
}
