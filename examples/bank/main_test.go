package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestDemo runs the demo for a moment on the local PostgreSQL and MariaDB
// (or RETRYSQL_PG_DSN, RETRYSQL_MYSQL_DSN): it must end with every
// invariant kept. A server that cannot be reached skips, except under CI.
func TestDemo(t *testing.T) {
	for _, tc := range []struct{ name, env, dsn string }{
		{"postgres", "RETRYSQL_PG_DSN", defaultDSN},
		{"mariadb", "RETRYSQL_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := tc.dsn
			if v := os.Getenv(tc.env); v != "" {
				dsn = v
			}
			var out bytes.Buffer
			err := run(context.Background(), &out, []string{"-dsn", dsn, "-duration", "1s", "-workers", "8", "-accounts", "4"})
			if err != nil && strings.Contains(err.Error(), "cannot reach") && os.Getenv("CI") == "" {
				t.Skip(err)
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			for _, want := range []string{"committed", "sum of balances", ": ok"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestDemoUnreachable(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, []string{"-dsn", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", "-duration", "1s"})
	if err == nil || !strings.Contains(err.Error(), "point the demo at one with -dsn or DATABASE_URL") {
		t.Fatalf("got %v", err)
	}
	if err := run(context.Background(), &out, []string{"-accounts", "1"}); err == nil {
		t.Fatal("one account accepted")
	}
}
