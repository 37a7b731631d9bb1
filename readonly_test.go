package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
)

// A node that refuses writes (a standby, or a writer demoted after a
// failover) answers every write of its connections with 25006: the
// statement was refused, nothing ran, and only another connection, which a
// multi-host DSN points at the new primary, can help.

var readOnlyNode = &pgconn.PgError{Severity: "ERROR", Code: "25006", Message: "cannot execute INSERT in a read-only transaction"}

// demoted makes the first connection a demoted writer.
func demoted(id int, op, query string) error {
	if id == 1 && op == "exec" {
		return readOnlyNode
	}
	return nil
}

func TestReadOnlyNodeIsLeft(t *testing.T) {
	d := newFake(nil)
	d.node = demoted
	db := openFake(t, d)
	if _, err := db.ExecContext(t.Context(), "INSERT"); err != nil {
		t.Fatal(err)
	}
	if d.count("exec", "INSERT") != 2 || d.opens != 2 {
		t.Fatalf("%d executions on %d connections, want 2 on 2", d.count("exec", "INSERT"), d.opens)
	}
	// The pool healed: the demoted node's connection is gone.
	for range 3 {
		if _, err := db.ExecContext(t.Context(), "INSERT"); err != nil {
			t.Fatal(err)
		}
	}
	if d.opens != 2 || db.Stats().OpenConnections != 1 {
		t.Fatalf("%d connections opened, %d open", d.opens, db.Stats().OpenConnections)
	}
}

func TestRunInTxLeavesReadOnlyNode(t *testing.T) {
	d := newFake(nil)
	d.node = demoted
	db := openFake(t, d)
	var runs atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		_, err := tx.ExecContext(ctx, "INSERT")
		return err
	})
	if err != nil || runs.Load() != 2 || d.opens != 2 {
		t.Fatalf("%v after %d runs on %d connections", err, runs.Load(), d.opens)
	}
	if db.Stats().OpenConnections != 1 {
		t.Fatalf("%d connections open: the read-only node's was kept", db.Stats().OpenConnections)
	}
	// A transaction the application began READ ONLY: its write is its own
	// mistake, returned at once, and the connection is kept.
	d2 := newFake(nil)
	d2.node = func(id int, op, q string) error { return demoted(1, op, q) }
	db2 := openFake(t, d2)
	runs.Store(0)
	err = retrysql.RunInTx(t.Context(), db2, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		_, err := tx.ExecContext(ctx, "INSERT")
		return err
	})
	if !errors.Is(err, readOnlyNode) || runs.Load() != 1 || d2.opens != 1 || db2.Stats().OpenConnections != 1 {
		t.Fatalf("READ ONLY: %v after %d runs, %d opened, %d open", err, runs.Load(), d2.opens, db2.Stats().OpenConnections)
	}
}

// TestReadOnlyOnSessionInUse: a *sql.Conn that has served requests may
// have been made read-only on purpose: the refusal is returned as it is.
func TestReadOnlyOnSessionInUse(t *testing.T) {
	d := newFake(nil)
	d.node = func(id int, op, q string) error {
		if q == "INSERT" {
			return demoted(id, op, q)
		}
		return nil
	}
	db := openFake(t, d)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "INSERT"); err != readOnlyNode || d.count("exec", "INSERT") != 1 {
		t.Fatalf("got %v after %d attempts", err, d.count("exec", "INSERT"))
	}
}

// TestFailedRollbackDropsTheConnection: a ROLLBACK that fails (a Galera
// node without quorum answers 1047) leaves the transaction's state
// unknown; the connection must not go back to the pool, where the next
// BEGIN would run inside what is left of the transaction.
func TestFailedRollbackDropsTheConnection(t *testing.T) {
	notReady := &mysql.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"}
	d := newFake(failN("rollback", "", 1, notReady))
	db := openFake(t, d)
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.ExecContext(t.Context(), "UPDATE debit")
	if err := tx.Rollback(); err == nil || !errors.Is(err, notReady) {
		t.Fatalf("Rollback: %v", err)
	}
	if n := db.Stats().OpenConnections; n != 0 {
		t.Fatalf("%d connections open: the one whose ROLLBACK failed was kept", n)
	}
}

// TestFailedRollbackOnConn: on a *sql.Conn, whose connection never goes
// back to the pool, nothing more runs on a connection whose ROLLBACK
// failed: BEGIN and statements answer driver.ErrBadConn (database/sql then
// closes the *sql.Conn) and the driver sees neither.
func TestFailedRollbackOnConn(t *testing.T) {
	notReady := &mysql.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"}
	for _, next := range []string{"begin", "exec"} {
		t.Run(next, func(t *testing.T) {
			d := newFake(failN("rollback", "", 1, notReady))
			db := openFake(t, d)
			conn, err := db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			tx, err := conn.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			tx.ExecContext(t.Context(), "UPDATE debit")
			if err := tx.Rollback(); !errors.Is(err, notReady) {
				t.Fatalf("Rollback: %v", err)
			}
			switch next {
			case "begin":
				_, err = conn.BeginTx(t.Context(), nil)
			case "exec":
				_, err = conn.ExecContext(t.Context(), "INSERT credit")
			}
			if err != driver.ErrBadConn {
				t.Fatalf("%s after the failed ROLLBACK: %v, want driver.ErrBadConn", next, err)
			}
			if b, e := d.count("begin", ""), d.count("exec", "INSERT credit"); b != 1 || e != 0 {
				t.Fatalf("the driver saw %d BEGINs and %d INSERTs; want 1 and 0", b, e)
			}
		})
	}
}

// noValidatorConn is a fake connection without driver.Validator and
// driver.SessionResetter: database/sql cannot ask it whether it is still
// good, and puts it back in the pool after any error but ErrBadConn.
type noValidatorConn struct{ c *fakeConn }

func (n noValidatorConn) Prepare(q string) (driver.Stmt, error) { return n.c.Prepare(q) }
func (n noValidatorConn) Close() error                          { return n.c.Close() }
func (n noValidatorConn) Begin() (driver.Tx, error)             { return n.c.Begin() }
func (n noValidatorConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	return n.c.BeginTx(ctx, o)
}
func (n noValidatorConn) ExecContext(ctx context.Context, q string, a []driver.NamedValue) (driver.Result, error) {
	return n.c.ExecContext(ctx, q, a)
}

type noValidatorConnector struct{ d *fakeDriver }

func (c noValidatorConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.d.Open("")
	if err != nil {
		return nil, err
	}
	return noValidatorConn{conn.(*fakeConn)}, nil
}
func (c noValidatorConnector) Driver() driver.Driver { return c.d }

// TestFailedRollbackWithoutValidator: with a driver that cannot say its
// connection is bad, the connection whose ROLLBACK failed goes back to the
// pool; the next transaction is begun on a new connection, never on it.
func TestFailedRollbackWithoutValidator(t *testing.T) {
	notReady := &mysql.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"}
	d := newFake(failN("rollback", "", 1, notReady))
	c, err := retrysql.NewConnector(noValidatorConnector{d}, fastOptions...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxIdleConns(2)
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); !errors.Is(err, notReady) {
		t.Fatalf("Rollback: %v", err)
	}
	tx, err = db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if b := d.count("begin", ""); b != 2 || d.opens != 2 {
		t.Fatalf("%d BEGINs on %d connections; want 2 on 2 (the second on a new one)", b, d.opens)
	}
}
