package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
)

// TestExample runs the example briefly on the local PostgreSQL (or
// RETRYSQL_PG_DSN): both runs keep their invariants, and the tables are
// gone afterwards. An unreachable server skips the test, except under CI.
func TestExample(t *testing.T) {
	dsn := defaultDSN
	if v := os.Getenv("RETRYSQL_PG_DSN"); v != "" {
		dsn = v
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Ping(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("PostgreSQL: %v", err)
		}
		t.Fatalf("PostgreSQL: %v", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), dsn, config{Workers: 4, Transfers: 20, Accounts: 3}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	if n := strings.Count(out.String(), ": ok"); n != 2 {
		t.Fatalf("%d runs ok, want 2:\n%s", n, out.String())
	}
	var left int
	if err := admin.QueryRow("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'retrysql_sqlc_%'").Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d tables left, %v", left, err)
	}
}

// TestBadConfig: a run that cannot make transfers is refused before it
// touches the database.
func TestBadConfig(t *testing.T) {
	if err := run(context.Background(), "postgres://nobody@127.0.0.1:1/none", config{Workers: 1, Transfers: 1, Accounts: 1}, &bytes.Buffer{}); err == nil {
		t.Fatal("one account: no error")
	}
}
