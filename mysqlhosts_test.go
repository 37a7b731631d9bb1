package retrysql_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/internal/wiretest"
)

// droppingHost accepts connections and closes them at once, counting them:
// a host that is up but cannot serve.
func droppingHost(t *testing.T) (addr string, accepts *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepts = new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), accepts
}

// hostOf returns the host:port of a go-sql-driver DSN of wiretest.
func hostOf(dsn string) string {
	return dsn[strings.Index(dsn, "tcp(")+4 : strings.Index(dsn, ")")]
}

// TestMySQLHostList: a connect tries the hosts in turn, the last good one
// first.
func TestMySQLHostList(t *testing.T) {
	bad, accepts := droppingHost(t)
	good := hostOf(wiretest.MySQL(t, wiretest.MySQLError{Number: 1213, Message: "only for statements"}))
	db, err := retrysql.Open("mysql", "fake:fake@tcp("+bad+","+good+")/fake?timeout=5s",
		retrysql.WithBreaker(nil), retrysql.WithBudget(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0) // every Ping connects anew
	for i := range 3 {
		if err := db.PingContext(t.Context()); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
	if n := accepts.Load(); n != 1 {
		t.Fatalf("the dropping host was tried %d times, want once: the last good host comes first", n)
	}
}

// TestMySQLHostListAllFail: when no host accepts, the error names every
// host's failure, is a failed connect for the classifier, and the connect
// is retried within the context.
func TestMySQLHostListAllFail(t *testing.T) {
	bad, _ := droppingHost(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := l.Addr().String()
	l.Close()
	db, err := retrysql.Open("mysql", "x:x@tcp("+bad+","+refused+")/x?timeout=5s",
		retrysql.WithBreaker(nil), retrysql.WithMaxAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = db.PingContext(ctx)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), refused) || retrysql.Attempts(err) != 2 {
		t.Fatalf("got %v (%d attempts)", err, retrysql.Attempts(err))
	}
	if res := classify.Default.Classify(err); res.Class != classify.ConnLost || !res.Connect || !res.Unsent {
		t.Fatalf("classified %v, want a failed connect", res)
	}
}

func TestMySQLHostListBadDSN(t *testing.T) {
	for dsn, want := range map[string]string{
		"u@tcp(h1:3306,,h2:3306)/db":                      "empty host",
		"u@tcp(h1:3306,h2:3306)/db?targetSessionAttrs=x":  "want any or read-write",
		"u@unix(/tmp/s)/db?targetSessionAttrs=read-write": "needs a TCP address",
	} {
		_, err := retrysql.Open("mysql", dsn)
		if err == nil {
			db, _ := retrysql.Open("mysql", dsn)
			err = db.Ping()
			db.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", dsn, err, want)
		}
	}
}
