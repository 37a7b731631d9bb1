package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
)

// Regression tests of the driver layer's bugs that an audit found on
// 2026-12-08, one per bug; each failed on the code before its fix.

// multiSet is a driver whose queries return two result sets with different
// columns, as a MySQL stored procedure (CALL) or a multi-statement query
// does: set 1 has column a, set 2 columns b and c.
type multiSet struct{}

func (multiSet) Open(string) (driver.Conn, error) { return multiSetConn{}, nil }

type multiSetConnector struct{}

func (multiSetConnector) Connect(context.Context) (driver.Conn, error) { return multiSetConn{}, nil }
func (multiSetConnector) Driver() driver.Driver                        { return multiSet{} }

type multiSetConn struct{}

func (multiSetConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("no prepare") }
func (multiSetConn) Close() error                        { return nil }
func (multiSetConn) Begin() (driver.Tx, error)           { return nil, errors.New("no tx") }
func (multiSetConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &multiSetRows{sets: [][]string{{"a"}, {"b", "c"}}}, nil
}

type multiSetRows struct {
	sets [][]string
	set  int
	done bool
}

func (r *multiSetRows) Columns() []string { return r.sets[r.set] }
func (r *multiSetRows) Close() error      { return nil }
func (r *multiSetRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	if len(dest) != len(r.sets[r.set]) {
		return errors.New("dest has the wrong length for this result set")
	}
	r.done = true
	for i := range dest {
		dest[i] = int64(10*(r.set+1) + i)
	}
	return nil
}
func (r *multiSetRows) HasNextResultSet() bool { return r.set+1 < len(r.sets) }
func (r *multiSetRows) NextResultSet() error {
	if r.set+1 >= len(r.sets) {
		return io.EOF
	}
	r.set++
	r.done = false
	return nil
}

// readSets reads both result sets and returns what it saw.
func readSets(t *testing.T, db *sql.DB) (cols [][]string, vals [][]int64) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "CALL p()")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for {
		c, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
		for rows.Next() {
			dest := make([]int64, len(c))
			ptrs := make([]any, len(c))
			for i := range dest {
				ptrs[i] = &dest[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("result set %d: %v", len(cols), err)
			}
			vals = append(vals, dest)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("result set %d: %v", len(cols), err)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	return cols, vals
}

// TestColumnsAfterNextResultSet: the rows of a statement run outside a
// transaction (their first row prefetched, rows.go) give each result set's
// own columns: database/sql asks for them again after NextResultSet to
// size the next set's values. Through retrysql a query with several sets
// (a CALL, a multi-statement query) reads as through the driver alone.
func TestColumnsAfterNextResultSet(t *testing.T) {
	raw := sql.OpenDB(multiSetConnector{})
	defer raw.Close()
	wantCols, wantVals := readSets(t, raw)

	c, err := retrysql.NewConnector(multiSetConnector{})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	gotCols, gotVals := readSets(t, db)
	if !reflect.DeepEqual(gotCols, wantCols) || !reflect.DeepEqual(gotVals, wantVals) {
		t.Fatalf("through retrysql: columns %v, values %v; raw driver: columns %v, values %v", gotCols, gotVals, wantCols, wantVals)
	}
}

// TestReadOnlyQueryLocksAndStatements: ReadOnlyQuery says false for every
// PostgreSQL advisory lock function (not only pg_advisory_lock and
// pg_advisory_xact_lock), for MySQL's lock functions, and for a query
// holding a second statement: WithIdempotentQueries(ReadOnlyQuery) would
// retry them after the request may have reached the server.
func TestReadOnlyQueryLocksAndStatements(t *testing.T) {
	for _, q := range []string{
		"SELECT pg_try_advisory_lock(42)",
		"SELECT pg_try_advisory_xact_lock(42)",
		"SELECT pg_advisory_lock_shared(42)",
		"SELECT pg_advisory_xact_lock_shared(42)",
		"SELECT pg_advisory_unlock(42)",
		"SELECT RELEASE_LOCK('k')",
		"SELECT 1; DROP TABLE t",
		"select * from t;\ndelete from t",
	} {
		if retrysql.ReadOnlyQuery(q) {
			t.Errorf("ReadOnlyQuery(%q) = true: it locks or writes", q)
		}
	}
	for _, q := range []string{"SELECT 1;", "SELECT a FROM t ; ", "SHOW TABLES"} {
		if !retrysql.ReadOnlyQuery(q) {
			t.Errorf("ReadOnlyQuery(%q) = false: it only reads", q)
		}
	}
}

// TestFailedCommitByFnIsNotCommitted: when fn commits RunInTx's
// transaction itself and that COMMIT fails (a serialization failure at
// COMMIT: the server rolled it back), RunInTx neither replays it nor says
// it is committed (the wrapped driver.Tx used to record "committed" before
// sending COMMIT): it returns ErrTxEndedByFn saying the COMMIT failed,
// whether fn returned that error or swallowed it.
func TestFailedCommitByFnIsNotCommitted(t *testing.T) {
	d := newFake(func(op, q string, n int) error {
		if op == "commit" {
			return serialization
		}
		return nil
	})
	db := openFake(t, d)
	for name, fn := range map[string]func(context.Context, *sql.Tx) error{
		"returned": func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "UPDATE t"); err != nil {
				return err
			}
			return tx.Commit()
		},
		"swallowed": func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "UPDATE t"); err != nil {
				return err
			}
			tx.Commit()
			return nil
		},
	} {
		begins := d.count("begin", "")
		err := retrysql.RunInTx(t.Context(), db, nil, fn)
		if !errors.Is(err, retrysql.ErrTxEndedByFn) {
			t.Fatalf("%s: got %v, want ErrTxEndedByFn", name, err)
		}
		if strings.Contains(err.Error(), "it is committed") || !strings.Contains(err.Error(), "not known to have committed") {
			t.Errorf("%s: COMMIT failed with %v, yet RunInTx says: %v", name, serialization, err)
		}
		if n := d.count("begin", "") - begins; n != 1 {
			t.Errorf("%s: %d BEGINs, want 1 (no replay)", name, n)
		}
	}
}

// TestLostWhileRepreparingIsRetried: a prepared statement whose
// connection was replaced in place prepares itself again on the new one
// (stmt.current) inside the statement's attempt. When that PREPARE loses
// the connection, the statement itself was not sent: the INSERT is
// retried, not returned as ErrAmbiguous, and runs once.
func TestLostWhileRepreparingIsRetried(t *testing.T) {
	d := newFake(func(op, q string, n int) error {
		switch {
		case op == "stmt-exec" && q == "INSERT x" && n == 1:
			return driver.ErrBadConn // nothing sent: the connection is replaced in place
		case op == "prepare" && q == "INSERT x" && n == 2:
			return io.ErrUnexpectedEOF // the re-PREPARE on the new connection is lost
		}
		return nil
	})
	db := openFake(t, d)
	stmt, err := db.PrepareContext(t.Context(), "INSERT x")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	_, err = stmt.ExecContext(t.Context())
	if err != nil {
		t.Fatalf("the INSERT was sent %d time(s), never after the loss, and ended with %v", d.count("stmt-exec", "INSERT x"), err)
	}
	if n := d.count("stmt-exec", "INSERT x"); n != 2 {
		t.Errorf("INSERT sent %d times, want 2 (one refused before sending, one that ran)", n)
	}
}

// TestRegisterAtOnce: calls of Register with one name at once register it
// once and tell the others it is taken, rather than panic in sql.Register
// (the check and the registration were two steps).
func TestRegisterAtOnce(t *testing.T) {
	name := fmt.Sprintf("retry+regress-at-once-%d", time.Now().UnixNano()) // new at each -count
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { errs <- retrysql.Register(name, multiSet{}) })
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if !strings.Contains(err.Error(), "already registered") {
			t.Errorf("Register: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 8 calls registered %q, want 1", ok, name)
	}
}
