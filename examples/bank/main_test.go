package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retrysql/retrysql/examples/bank/workload"
	"github.com/retrysql/retrysql/examples/internal/chart"
)

// servers are the local PostgreSQL and MariaDB (or RETRYSQL_PG_DSN,
// RETRYSQL_MYSQL_DSN) the tests run against.
var servers = []struct{ name, env, dsn string }{
	{"postgres", "RETRYSQL_PG_DSN", defaultDSN},
	{"mariadb", "RETRYSQL_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/test"},
}

// server returns the DSN of a server and a plain handle on it; one that
// cannot be reached skips the test, except under CI, where it fails.
func server(t *testing.T, env, dsn string) (string, target, *sql.DB) {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		dsn = v
	}
	tg, err := parseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(tg.Driver, tg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("cannot reach %s: %v", tg.Where, err)
		}
		t.Fatalf("cannot reach %s: %v", tg.Where, err)
	}
	return dsn, tg, db
}

// testPrefix is a prefix of tables of this test process alone, so that
// tests run at the same time do not meet in the same tables.
func testPrefix(what string) string {
	return fmt.Sprintf("retrysql_%s_%d_", what, os.Getpid())
}

// TestDemo runs the demo for a moment in its three modes on each server:
// it must end with every invariant kept, print the table and draw the
// chart, and -drop must remove its tables.
func TestDemo(t *testing.T) {
	for i, tc := range servers {
		t.Run(tc.name, func(t *testing.T) {
			dsn, tg, db := server(t, tc.env, tc.dsn)
			prefix := testPrefix("demotest")
			tables := workload.Tables{Accounts: prefix + "accounts", Ledger: prefix + "ledger"}
			t.Cleanup(func() { _, _ = workload.DropOwned(context.Background(), db, tg.Dialect, tables) })
			chart := filepath.Join(t.TempDir(), []string{"bank.svg", "bank.png"}[i%2])
			var out bytes.Buffer
			err := run(context.Background(), &out, []string{"-dsn", dsn, "-duration", "500ms", "-workers", "8", "-accounts", "4",
				"-prefix", prefix, "-chart", chart})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			s := out.String()
			for _, want := range []string{
				"will create " + prefix + "accounts and " + prefix + "ledger",
				"[1/3] plain driver", "[2/3] retrysql, admission off", "[3/3] retrysql defaults",
				"committed/s  app errors", "runs/commit  invariants",
				"plain driver ", "retrysql, admission off ", "retrysql defaults ",
				"runs/commit  runs of the transaction function", "failed yet written",
				"chart written to " + chart,
			} {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q:\n%s", want, s)
				}
			}
			if strings.Contains(s, "VIOLATED") {
				t.Errorf("an invariant is violated:\n%s", s)
			}
			b, err := os.ReadFile(chart)
			if err != nil {
				t.Fatal(err)
			}
			if isSVG := strings.HasSuffix(chart, ".svg"); isSVG && !bytes.Contains(b, []byte("<svg")) || !isSVG && !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Errorf("%s is not an image of its kind: %.40q", chart, b)
			}

			// A second run finds its own tables and says so.
			out.Reset()
			if err := run(context.Background(), &out, []string{"-dsn", dsn, "-duration", "200ms", "-workers", "2", "-accounts", "4",
				"-prefix", prefix, "-modes", "retrysql"}); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "the demo's own") || strings.Contains(out.String(), "plain driver") {
				t.Errorf("second run:\n%s", out.String())
			}

			out.Reset()
			if err := run(context.Background(), &out, []string{"-dsn", dsn, "-prefix", prefix, "-drop"}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "dropped "+prefix+"ledger and "+prefix+"accounts") {
				t.Errorf("-drop: %s", out.String())
			}
			if found, err := workload.Existing(context.Background(), db, tg.Dialect, tables); err != nil || len(found) > 0 {
				t.Errorf("after -drop: %v, %v", found, err)
			}
		})
	}
}

// TestDemoRefusesTablesItDidNotCreate: tables of the demo's names that do
// not carry its mark are neither used nor dropped.
func TestDemoRefusesTablesItDidNotCreate(t *testing.T) {
	for _, tc := range servers {
		t.Run(tc.name, func(t *testing.T) {
			dsn, _, db := server(t, tc.env, tc.dsn)
			prefix := testPrefix("usertables")
			accounts := prefix + "accounts"
			t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + accounts) })
			if _, err := db.Exec("DROP TABLE IF EXISTS " + accounts); err != nil {
				t.Fatal(err)
			}
			// The user's table, with a row the demo must not lose.
			if _, err := db.Exec("CREATE TABLE " + accounts + " (id INT PRIMARY KEY, owner VARCHAR(20))"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("INSERT INTO " + accounts + " VALUES (1, 'alice')"); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"-dsn", dsn, "-prefix", prefix, "-duration", "200ms"},
				{"-dsn", dsn, "-prefix", prefix, "-drop"},
			} {
				var out bytes.Buffer
				err := run(context.Background(), &out, args)
				var no *workload.NotOwnedError
				if !errors.As(err, &no) || no.Table != accounts || !strings.Contains(err.Error(), "was not created by this demo") {
					t.Fatalf("%v: got %v\n%s", args, err, out.String())
				}
				if strings.Contains(out.String(), "committed") {
					t.Errorf("%v ran:\n%s", args, out.String())
				}
				var owner string
				if err := db.QueryRow("SELECT owner FROM " + accounts + " WHERE id = 1").Scan(&owner); err != nil || owner != "alice" {
					t.Fatalf("%v: the user's table was touched: %q, %v", args, owner, err)
				}
			}
			// A comment of someone else's is not the mark either.
			comment := "COMMENT ON TABLE " + accounts + " IS 'billing: do not drop'"
			if tc.name == "mariadb" {
				comment = "ALTER TABLE " + accounts + " COMMENT = 'billing: do not drop'"
			}
			if _, err := db.Exec(comment); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := run(context.Background(), &out, []string{"-dsn", dsn, "-prefix", prefix, "-duration", "200ms"})
			if err == nil || !strings.Contains(err.Error(), `"billing: do not drop"`) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// TestDemoUnreachable: an unreachable server's error is shown whole.
func TestDemoUnreachable(t *testing.T) {
	for _, dsn := range []string{
		"postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1",
		"host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=1",
		"nobody@tcp(127.0.0.1:1)/none?timeout=1s",
		"mysql://nobody:secret@127.0.0.1:1/none?timeout=1s",
	} {
		var out bytes.Buffer
		err := run(context.Background(), &out, []string{"-dsn", dsn, "-duration", "1s"})
		if err == nil {
			t.Fatalf("%s: no error", dsn)
		}
		for _, want := range []string{"cannot reach", "127.0.0.1:1", "connection refused", "point the demo at one with -dsn or DATABASE_URL"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q: %v", dsn, want, err)
			}
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the password is shown: %v", dsn, err)
		}
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-accounts", "1"},
		{"-workers", "0"},
		{"-duration", "0s"},
		{"-modes", "plain,fast"},
		{"-modes", "plain,plain"},
		{"-chart", "out.jpg"},
		{"-dsn", "sqlserver://sa@db/x"},
		{"-dsn", "postgres@127.0.0.1:5432/test"},
		{"-prefix", "1bad;", "-dsn", "nobody@tcp(127.0.0.1:1)/none?timeout=1s"},
		{"extra"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), &out, args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn     string
		dialect workload.Dialect
		form    string
		where   string
		in      string // in the DSN handed to the driver
	}{
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", workload.Postgres, "PostgreSQL URL",
			"PostgreSQL at 127.0.0.1:5432, database test, user postgres", "enable_seqscan=off"},
		{"postgresql://app:pw@db.example:6543/shop", workload.Postgres, "PostgreSQL URL",
			"PostgreSQL at db.example:6543, database shop, user app", "enable_seqscan=off"},
		{"host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable", workload.Postgres, "PostgreSQL keyword/value",
			"PostgreSQL at 127.0.0.1:5432, database test, user postgres", " enable_seqscan=off"},
		// The keyword form without host= (the case).
		{"user=postgres dbname=test port=5433", workload.Postgres, "PostgreSQL keyword/value", "database test, user postgres", "enable_seqscan=off"},
		{"dbname=test host=127.0.0.1 enable_seqscan=on", workload.Postgres, "PostgreSQL keyword/value", "database test", "enable_seqscan=on"},
		{"root@tcp(127.0.0.1:3306)/test", workload.MySQL, "go-sql-driver/mysql DSN",
			"MySQL/MariaDB at 127.0.0.1:3306, database test, user root", "/test"},
		{"app:pw@tcp(db:3307)/shop?parseTime=true", workload.MySQL, "go-sql-driver/mysql DSN",
			"MySQL/MariaDB at db:3307, database shop, user app", "parseTime=true"},
		{"mysql://root@127.0.0.1:3306/test", workload.MySQL, "MySQL URL",
			"MySQL/MariaDB at 127.0.0.1:3306, database test, user root", "root@tcp(127.0.0.1:3306)/test"},
		{"mariadb://app:p%40ss@db/shop?timeout=2s", workload.MySQL, "MySQL URL",
			"MySQL/MariaDB at db:3306, database shop, user app", "app:p@ss@tcp(db:3306)/shop?timeout=2s"},
	} {
		got, err := parseDSN(tc.dsn)
		if err != nil {
			t.Errorf("%s: %v", tc.dsn, err)
			continue
		}
		if got.Dialect != tc.dialect || got.Form != tc.form || !strings.Contains(got.Where, tc.where) || !strings.Contains(got.DSN, tc.in) {
			t.Errorf("%s: got %+v", tc.dsn, got)
		}
		if strings.Contains(got.Where, "pw") || strings.Contains(got.Where, "ss") {
			t.Errorf("%s: password in %q", tc.dsn, got.Where)
		}
		if strings.Count(got.DSN, "enable_seqscan") > 1 {
			t.Errorf("%s: setting added twice: %s", tc.dsn, got.DSN)
		}
	}
	for _, tc := range []struct{ dsn, want string }{
		{"", "no DSN given"},
		{"sqlserver://sa@db/x", `scheme "sqlserver://"`},
		{"postgres@127.0.0.1:5432/test", "in no form the demo knows"},
		{"root@tcp(127.0.0.1:3306)/", "names no database"},
		{"mysql://root@127.0.0.1/", "names no database"},
		{"host=127.0.0.1 port=notaport", "PostgreSQL keyword/value"},
	} {
		_, err := parseDSN(tc.dsn)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.dsn, err, tc.want)
		}
	}
	// Every error lists the forms the demo takes.
	if _, err := parseDSN("sqlserver://sa@db/x"); err == nil || !strings.Contains(err.Error(), "user:password@tcp(host:3306)/db") || !strings.Contains(err.Error(), "host=127.0.0.1 port=5432") {
		t.Errorf("the error does not list the forms: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:secret@db/shop":        "postgres://app:xxx@db/shop",
		"host=db password=secret user=app":     "host=db password=xxx user=app",
		"host=db password='se cret' user=app":  "host=db password=xxx user=app",
		"app:secret@tcp(db:3306)/shop":         "app:xxx@tcp(db:3306)/shop",
		"postgres://app@db/shop":               "postgres://app@db/shop",
		"mysql://root:secret@127.0.0.1:1/none": "mysql://root:xxx@127.0.0.1:1/none",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 3073: "3,073", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	if got := chart.Step(4500); got != 500 {
		t.Errorf("chart.Step(4500) = %v", got)
	}
}
