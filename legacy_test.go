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

	"github.com/retrysql/retrysql"
)

// Small drivers, each with one subset of the optional interfaces, as
// database/sql's own tests compose them. Every scenario runs on the raw
// driver and on the same driver wrapped by retrysql: database/sql must see
// the same behaviour through the wrapper, on every path (the legacy ones,
// without the context interfaces, included).

// minimal has only driver.Conn's methods, and statements with only
// driver.Stmt's: database/sql prepares every statement and uses the legacy
// Exec and Query.
type minimal struct {
	mu   sync.Mutex
	log  []string
	opts struct {
		execer, checker, converter, columnTypes bool
	}
}

func (d *minimal) record(s string) {
	d.mu.Lock()
	d.log = append(d.log, s)
	d.mu.Unlock()
}

func (d *minimal) Open(string) (driver.Conn, error) {
	c := &minimalConn{d: d}
	switch {
	case d.opts.execer:
		return &execerConn{c}, nil
	case d.opts.checker:
		return &checkerConn{c}, nil
	}
	return c, nil
}

type minimalConn struct{ d *minimal }

func (c *minimalConn) Prepare(q string) (driver.Stmt, error) {
	c.d.record("prepare " + q)
	s := &minimalStmt{c: c, q: q}
	if c.d.opts.converter {
		return &converterStmt{s}, nil
	}
	return s, nil
}
func (c *minimalConn) Close() error { return nil }
func (c *minimalConn) Begin() (driver.Tx, error) {
	c.d.record("begin")
	return minimalTx{c.d}, nil
}

type minimalTx struct{ d *minimal }

func (t minimalTx) Commit() error   { t.d.record("commit"); return nil }
func (t minimalTx) Rollback() error { t.d.record("rollback"); return nil }

type minimalStmt struct {
	c *minimalConn
	q string
}

func (s *minimalStmt) Close() error  { return nil }
func (s *minimalStmt) NumInput() int { return -1 }
func (s *minimalStmt) Exec(args []driver.Value) (driver.Result, error) {
	s.c.d.record(fmt.Sprintf("exec %s %v", s.q, args))
	return driver.RowsAffected(len(args)), nil
}
func (s *minimalStmt) Query(args []driver.Value) (driver.Rows, error) {
	s.c.d.record(fmt.Sprintf("query %s %v", s.q, args))
	r := &minimalRows{vals: args}
	if s.c.d.opts.columnTypes {
		return &typedRows{r}, nil
	}
	return r, nil
}

type minimalRows struct {
	vals []driver.Value
	done bool
}

func (r *minimalRows) Columns() []string { return []string{"a"} }
func (r *minimalRows) Close() error      { return nil }
func (r *minimalRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = fmt.Sprint(r.vals)
	return nil
}

// typedRows adds two of the column type interfaces.
type typedRows struct{ *minimalRows }

func (r *typedRows) ColumnTypeDatabaseTypeName(int) string      { return "TEXT" }
func (r *typedRows) ColumnTypeNullable(int) (nullable, ok bool) { return true, true }

// execerConn adds the legacy Execer and Queryer: no prepare for them.
type execerConn struct{ *minimalConn }

func (c *execerConn) Exec(q string, args []driver.Value) (driver.Result, error) {
	c.d.record(fmt.Sprintf("conn-exec %s %v", q, args))
	return driver.RowsAffected(len(args)), nil
}
func (c *execerConn) Query(q string, args []driver.Value) (driver.Rows, error) {
	c.d.record(fmt.Sprintf("conn-query %s %v", q, args))
	return &minimalRows{vals: args}, nil
}

// checkerConn adds a connection-level NamedValueChecker that accepts a type
// of its own, which database/sql's default conversion refuses.
type checkerConn struct{ *minimalConn }

type point struct{ x, y int }

func (c *checkerConn) CheckNamedValue(nv *driver.NamedValue) error {
	if p, ok := nv.Value.(point); ok {
		nv.Value = fmt.Sprintf("(%d,%d)", p.x, p.y)
		return nil
	}
	return driver.ErrSkip
}

// converterStmt adds a ColumnConverter that doubles integers.
type converterStmt struct{ *minimalStmt }

func (s *converterStmt) ColumnConverter(int) driver.ValueConverter { return doubler{} }

type doubler struct{}

func (doubler) ConvertValue(v any) (driver.Value, error) {
	if n, ok := v.(int); ok {
		return int64(2 * n), nil
	}
	return driver.DefaultParameterConverter.ConvertValue(v)
}

type minimalConnector struct{ d *minimal }

func (c minimalConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open("") }
func (c minimalConnector) Driver() driver.Driver                        { return c.d }

// scenario is what both handles are put through; it returns what it saw.
func scenario(ctx context.Context, db *sql.DB) string {
	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	res, err := db.ExecContext(ctx, "UPDATE t SET x = ?", 7)
	if err == nil {
		n, _ := res.RowsAffected()
		say("exec: %d", n)
	} else {
		say("exec: %v", err)
	}
	var s string
	err = db.QueryRowContext(ctx, "SELECT a FROM t WHERE x = ?", 3).Scan(&s)
	say("query: %q %v", s, err)
	_, err = db.ExecContext(ctx, "UPDATE t SET x = :x", sql.Named("x", 1))
	say("named: %v", err)
	_, err = db.ExecContext(ctx, "UPDATE t SET p = ?", point{1, 2})
	say("checker: %v", err)
	_, err = db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	say("isolation: %v", err)
	_, err = db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	say("read-only: %v", err)
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		_, err = tx.ExecContext(ctx, "UPDATE t SET x = ?", 1)
		say("tx exec: %v", err)
		say("commit: %v", tx.Commit())
	}
	say("ping: %v", db.PingContext(ctx))
	rows, err := db.QueryContext(ctx, "SELECT a FROM t")
	if err == nil {
		types, _ := rows.ColumnTypes()
		for _, ct := range types {
			nullable, ok := ct.Nullable()
			say("column %s %s %v %v %v", ct.Name(), ct.DatabaseTypeName(), ct.ScanType(), nullable, ok)
		}
		for rows.Next() {
			rows.Scan(&s)
			say("row %q", s)
		}
		say("rows: %v %v", rows.Err(), rows.NextResultSet())
		rows.Close()
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = db.ExecContext(cancelled, "UPDATE t SET x = ?", 1)
	say("cancelled: %v", err)
	return strings.Join(out, "\n")
}

func TestLegacyDriversBehaveTheSameWrapped(t *testing.T) {
	for name, set := range map[string]func(*minimal){
		"minimal":          func(*minimal) {},
		"legacy execer":    func(d *minimal) { d.opts.execer = true },
		"conn checker":     func(d *minimal) { d.opts.checker = true },
		"column converter": func(d *minimal) { d.opts.converter = true },
		"column types":     func(d *minimal) { d.opts.columnTypes = true },
	} {
		t.Run(name, func(t *testing.T) {
			raw, wrapped := &minimal{}, &minimal{}
			set(raw)
			set(wrapped)
			rawDB := sql.OpenDB(minimalConnector{raw})
			defer rawDB.Close()
			c, err := retrysql.NewConnector(minimalConnector{wrapped}, fastOptions...)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			want, got := scenario(t.Context(), rawDB), scenario(t.Context(), db)
			if got != want {
				t.Errorf("through retrysql:\n%s\n\nraw:\n%s", got, want)
			}
			if !reflect.DeepEqual(wrapped.log, raw.log) {
				t.Errorf("the driver saw, through retrysql:\n%s\n\nraw:\n%s", strings.Join(wrapped.log, "\n"), strings.Join(raw.log, "\n"))
			}
		})
	}
}

// TestConnWithoutResetterOrValidator: the wrapper of a connection without
// SessionResetter and Validator has neither, so that database/sql drops a
// connection whose transaction its context ended (keepConnOnRollback), as
// without the wrapper.
func TestConnWithoutResetterOrValidator(t *testing.T) {
	c, err := retrysql.NewConnector(minimalConnector{&minimal{}})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		_, r := dc.(driver.SessionResetter)
		_, v := dc.(driver.Validator)
		_, p := dc.(driver.Pinger)
		if r || v || !p {
			return fmt.Errorf("resetter %v, validator %v, pinger %v; want false, false, true", r, v, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// With both, the wrapper has both.
	db2 := openFake(t, newFake(nil))
	conn2, err := db2.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if err := conn2.Raw(func(dc any) error {
		if _, ok := dc.(driver.SessionResetter); !ok {
			return errors.New("the wrapper lost SessionResetter")
		}
		if _, ok := dc.(driver.Validator); !ok {
			return errors.New("the wrapper lost Validator")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestPreparedStatementOnReplacedConnection: a *sql.Stmt whose connection
// was lost before anything was sent runs on the connection that replaced
// it in place, prepared there again: one loop, one new connection, one
// more PREPARE, and no error.
func TestPreparedStatementOnReplacedConnection(t *testing.T) {
	d := newFake(failN("stmt-exec", "INSERT x", 1, driver.ErrBadConn))
	db := openFake(t, d)
	stmt, err := db.PrepareContext(t.Context(), "INSERT x")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	if _, err := stmt.ExecContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p, e := d.count("prepare", "INSERT x"), d.count("stmt-exec", "INSERT x"); p != 2 || e != 2 || d.opens != 2 {
		t.Fatalf("%d PREPAREs, %d executions on %d connections; want 2, 2 and 2", p, e, d.opens)
	}
	if st := stats(t, db); st.Retries != 1 {
		t.Fatalf("%d retries, want 1", st.Retries)
	}
}
