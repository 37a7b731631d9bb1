package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// The commit check on real servers, with a proxy in front of the server.
// Inside fn, the proxy is armed for one of two cuts:
//
//   - "after": the reply of COMMIT is held back (a latency toxic on what
//     the server sends), and once the row is committed, as seen on an
//     admin connection, every connection through the proxy is cut (and new
//     ones are let through again): the reply is lost, the transaction
//     committed.
//   - "before": the COMMIT the client sends is dropped and its connection
//     closed (dbtest's drop_commit toxic): the server never sees it.

// checkTarget is one server kind for these tests.
type checkTarget struct {
	name   string
	driver string
	// via is the DSN of the server at addr (a proxy).
	via func(t *testing.T, addr string) string
}

var checkTargets = []checkTarget{
	{name: "postgres", driver: "pgx", via: func(t *testing.T, addr string) string { return pgVia(t, addr) }},
	{name: "mariadb", driver: "mysql", via: func(t *testing.T, addr string) string { return mysqlVia(t, addr) }},
}

func (c checkTarget) admin(t *testing.T) *sql.DB {
	if c.name == "postgres" {
		return dbtest.OpenPostgres(t)
	}
	return dbtest.OpenMySQL(t)
}

func (c checkTarget) addr(t *testing.T) string {
	if c.name == "postgres" {
		return pgAddr(t)
	}
	return mysqlAddr(t)
}

// cutRun runs a transaction inserting one row into table through proxy
// under RunInTx, with the cut ("after" or "before") in its first run;
// right after the cut it runs atCut (nil: nothing), before the proxy lets
// connections through again. It returns how many times fn ran and
// RunInTx's error.
func cutRun(t *testing.T, db, admin *sql.DB, proxy *dbtest.Proxy, table, cut string, atCut func(), opts ...retrysql.Option) (int32, error) {
	return cutRunWith(t, db, admin, proxy, table, cut, "", atCut, opts...)
}

// cutRunWith is cutRun whose transaction first runs first (unless empty).
func cutRunWith(t *testing.T, db, admin *sql.DB, proxy *dbtest.Proxy, table, cut, first string, atCut func(), opts ...retrysql.Option) (int32, error) {
	t.Helper()
	run := func(ctx context.Context, body txBody, opts ...retrysql.Option) error {
		return retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			exec := func(q string) error { _, err := tx.ExecContext(ctx, q); return err }
			if first != "" {
				if err := exec(first); err != nil {
					return err
				}
			}
			return body(ctx, exec)
		}, opts...)
	}
	return cutWith(t, run, admin, proxy, table, cut, atCut, opts...)
}

// cutWith runs, through run (RunInTx, or an adapter's), a transaction
// inserting one row into table, with the cut ("after" or "before") in its
// first attempt; right after the cut it runs atCut (nil: nothing), before
// the proxy lets connections through again. It returns how many times the
// body ran and run's error.
func cutWith(t *testing.T, run runner, admin *sql.DB, proxy *dbtest.Proxy, table, cut string, atCut func(), opts ...retrysql.Option) (int32, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var runs atomic.Int32
	armed := make(chan (<-chan struct{}), 1)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var dropped <-chan struct{}
		select {
		case dropped = <-armed:
		case <-ctx.Done():
			return
		}
		if cut == "before" {
			select {
			case <-dropped:
				if atCut != nil {
					atCut()
				}
			case <-ctx.Done():
			}
			return
		}
		for ctx.Err() == nil {
			var n int
			admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n)
			if n == 1 {
				proxy.Stop() // ends every connection through it
				proxy.Toxics.RemoveToxic(ctx, "held")
				if atCut != nil {
					atCut()
				}
				if err := proxy.Start(); err != nil {
					t.Error(err)
				}
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	err := run(ctx, func(ctx context.Context, exec func(string) error) error {
		if err := exec("INSERT INTO " + table + " VALUES (1)"); err != nil {
			return err
		}
		if runs.Add(1) == 1 {
			if cut == "after" {
				proxy.Toxic(t, `{"name":"held","type":"latency","stream":"downstream","attributes":{"latency":1500,"jitter":0}}`)
				armed <- nil
			} else {
				armed <- proxy.DropCommit(t)
			}
		}
		return nil
	}, opts...)
	cancel()
	<-watched
	return runs.Load(), err
}

// checkTable makes a one-column table for a test and drops it at the end.
func checkTable(t *testing.T, admin *sql.DB, name string) {
	t.Helper()
	dbtest.Exec(t, admin, "DROP TABLE IF EXISTS "+name, "CREATE TABLE "+name+" (id INT)")
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS " + name) })
}

func TestCommitCheckResolvesLostCommit(t *testing.T) {
	for _, c := range checkTargets {
		t.Run(c.name, func(t *testing.T) {
			admin := c.admin(t)
			proxy := dbtest.NewProxy(t, c.addr(t))
			if err := proxy.Start(); err != nil {
				t.Fatal(err)
			}
			r := quickRetrier(t, retrysql.WithCommitCheck(true))
			db := openRetry(t, c.driver, c.via(t, proxy.Addr()))
			for _, tc := range []struct {
				cut          string
				runs         int32
				committed    uint64
				notCommitted uint64
			}{
				{"after", 1, 1, 0},  // committed: nil, fn ran once
				{"before", 2, 1, 1}, // not committed: replayed
			} {
				table := "rs_cc_" + c.name + "_" + tc.cut
				checkTable(t, admin, table)
				runs, err := cutRun(t, db, admin, proxy, table, tc.cut, nil, retrysql.WithRetrier(r))
				if err != nil || runs != tc.runs {
					t.Fatalf("%s: %v after %d runs, want nil after %d", tc.cut, err, runs, tc.runs)
				}
				if n := value(t, admin, "SELECT COUNT(*) FROM "+table); n != 1 {
					t.Fatalf("%s: %d rows, want 1", tc.cut, n)
				}
				if st := r.Stats(); st.Resolved.Committed != tc.committed || st.Resolved.NotCommitted != tc.notCommitted {
					t.Fatalf("%s: resolved %+v", tc.cut, st.Resolved)
				}
			}
		})
	}
}

// TestCommitCheckOffIsAmbiguous: the same cut without the check is
// ErrAmbiguousCommit, as it always was.
func TestCommitCheckOffIsAmbiguous(t *testing.T) {
	for _, c := range checkTargets {
		t.Run(c.name, func(t *testing.T) {
			admin := c.admin(t)
			proxy := dbtest.NewProxy(t, c.addr(t))
			if err := proxy.Start(); err != nil {
				t.Fatal(err)
			}
			db := openRetry(t, c.driver, c.via(t, proxy.Addr()))
			table := "rs_cc_off_" + c.name
			checkTable(t, admin, table)
			runs, err := cutRun(t, db, admin, proxy, table, "after", nil, retrysql.WithRetrier(quickRetrier(t)))
			if !errors.Is(err, retrysql.ErrAmbiguousCommit) || runs != 1 {
				t.Fatalf("%v after %d runs, want ErrAmbiguousCommit after 1", err, runs)
			}
		})
	}
}

// TestCommitCheckServerGone: the server itself goes while COMMIT's reply
// is held back, or before COMMIT reaches it, and comes back within the
// deadline: a clean shutdown or a crash (SIGKILL). Every answer must
// match the table. The only one allowed to stay unknown is PostgreSQL's
// crash after the commit: crash recovery may give the transaction's id to
// another one (see pgCheck), so a "committed" then proves nothing;
// MariaDB's markers resolve all four.
func TestCommitCheckServerGone(t *testing.T) {
	for _, c := range checkTargets {
		t.Run(c.name, func(t *testing.T) {
			var inst *dbtest.Instance
			if c.name == "postgres" {
				inst = dbtest.StartPostgres(t)
			} else {
				inst = dbtest.StartMariaDB(t)
			}
			// The admin handle is a retrysql one: its pooled connections go
			// with each restart.
			admin := openRetry(t, map[string]string{"postgres": retrysql.DriverPgx, "mariadb": retrysql.DriverMySQL}[c.name], inst.DSN())
			proxy := dbtest.NewProxy(t, inst.Addr())
			if err := proxy.Start(); err != nil {
				t.Fatal(err)
			}
			var dsn string
			if c.name == "postgres" {
				dsn = pgViaDSN(t, inst.DSN(), proxy.Addr())
			} else {
				dsn = mysqlViaDSN(t, inst.DSN(), proxy.Addr())
			}
			db := openRetry(t, c.driver, dsn)
			hows := []string{"stop", "kill"}
			if c.name == "postgres" {
				// The instance commits asynchronously, so a crash may take a
				// commit with it; "kill durable" commits synchronously.
				hows = append(hows, "kill durable")
			}
			for _, how := range hows {
				for _, cut := range []string{"after", "before"} {
					table := fmt.Sprintf("rs_cc_gone_%s_%s", strings.ReplaceAll(how, " ", "_"), cut)
					checkTable(t, admin, table)
					if c.name == "postgres" {
						// The instance commits asynchronously: make the table
						// outlive a crash.
						dbtest.Exec(t, admin, "CHECKPOINT")
					}
					r := quickRetrier(t, retrysql.WithCommitCheck(true))
					down := func() {
						var err error
						if how == "stop" {
							err = inst.Stop()
						} else {
							err = inst.Kill()
						}
						if err == nil {
							err = inst.Start(context.Background())
						}
						if err != nil {
							t.Error(err)
						}
					}
					first := ""
					if how == "kill durable" {
						first = "SET LOCAL synchronous_commit = on"
					}
					runs, err := cutRunWith(t, db, admin, proxy, table, cut, first, down, retrysql.WithRetrier(r))
					n := value(t, admin, "SELECT COUNT(*) FROM "+table)
					res := r.Stats().Resolved
					t.Logf("%s %s: %v after %d runs, %d rows, resolved %+v", how, cut, err, runs, n, res)
					unknownAllowed := c.name == "postgres" && how != "stop" && cut == "after"
					switch {
					case cut == "before" && res.Committed > 0:
						t.Fatalf("%s %s: a COMMIT the server never saw resolved as committed", how, cut)
					case err == nil:
						// Found not committed, the transaction ran again. (After
						// a crash even a COMMIT seen to commit may be gone: the
						// instances run with synchronous_commit off.)
						if want := 1 + int32(res.NotCommitted); n != 1 || runs != want || res.Committed+res.NotCommitted != 1 {
							t.Fatalf("%s %s: nil with %d rows after %d runs, resolved %+v", how, cut, n, runs, res)
						}
					case errors.Is(err, retrysql.ErrAmbiguousCommit) && unknownAllowed:
						if how == "kill durable" && n != 1 {
							t.Fatalf("%s %s: a durable commit gone: %d rows", how, cut, n)
						}
					default:
						t.Fatalf("%s %s: %v (%d rows)", how, cut, err, n)
					}
				}
			}
		})
	}
}
