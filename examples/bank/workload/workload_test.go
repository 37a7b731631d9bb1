package workload

import (
	"context"
	"strings"
	"testing"
)

func TestQueriesUseTheTables(t *testing.T) {
	demo := Tables{Accounts: "retrysql_demo_accounts", Ledger: "retrysql_demo_ledger"}
	for _, d := range []Dialect{Postgres, MySQL} {
		q := QueriesFor(d, demo)
		for _, s := range []string{q.Lock, q.Update} {
			if !strings.Contains(s, " retrysql_demo_accounts ") {
				t.Errorf("%q does not use the demo's accounts", s)
			}
		}
		if !strings.Contains(q.Ledger, " retrysql_demo_ledger ") {
			t.Errorf("%q does not use the demo's ledger", q.Ledger)
		}
		if (d == MySQL) != strings.Contains(q.Ledger, "?") {
			t.Errorf("dialect %d: placeholders of %q", d, q.Ledger)
		}
	}
	if got := (Tables{}).Names(); got[0] != "bank_accounts" || got[1] != "bank_ledger" {
		t.Errorf("unset tables are %v, not Setup's", got)
	}
}

func TestCreateRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "1accounts", "a; DROP TABLE users", "a-b", strings.Repeat("a", 61)} {
		err := create(context.Background(), nil, Postgres, 4, Tables{Accounts: name, Ledger: "ledger"}, Mark)
		if err == nil || !strings.Contains(err.Error(), "table name") {
			t.Errorf("%q: got %v", name, err)
		}
	}
	if err := create(context.Background(), nil, Postgres, 1, BenchTables, ""); err == nil {
		t.Error("one account accepted")
	}
	if _, err := DropOwned(context.Background(), nil, Postgres, Tables{}); err == nil {
		t.Error("DropOwned of no tables accepted")
	}
}

func TestNotOwnedErrorSaysWhy(t *testing.T) {
	for _, e := range []*NotOwnedError{{Table: "t"}, {Table: "t", Comment: "billing"}} {
		s := e.Error()
		for _, want := range []string{"table t exists", "not created by this demo", Mark, "-prefix"} {
			if !strings.Contains(s, want) {
				t.Errorf("%q lacks %q", s, want)
			}
		}
		if e.Comment != "" && !strings.Contains(s, `"billing"`) {
			t.Errorf("%q does not quote the comment", s)
		}
	}
}
