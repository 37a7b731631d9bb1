package retrysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"testing"
)

// shapeConn is a driver connection whose statements lack
// driver.ColumnConverter.
type shapeConn struct{ driver.Conn }

func (shapeConn) Prepare(string) (driver.Stmt, error) { return plainStmt{}, nil }

type plainStmt struct{ driver.Stmt }

func (plainStmt) Close() error { return nil }

// converterStmt has driver.ColumnConverter.
type converterStmt struct{ plainStmt }

func (converterStmt) ColumnConverter(int) driver.ValueConverter {
	return driver.DefaultParameterConverter
}

// TestOtherShapeCountsOut: a statement prepared again on the connection
// that replaced its own, and found of another shape (errOtherShape), is
// counted out of the connection's prepared statements as it is closed;
// the count kept it, and a stale-statement error on a query of that text
// was then taken for a prepared statement's, never retried.
func TestOtherShapeCountsOut(t *testing.T) {
	c := &conn{inner: shapeConn{}, gen: 1}
	s := &stmt{c: c, query: "SELECT 1", inner: converterStmt{}}
	if err := s.current(context.Background()); !errors.Is(err, errOtherShape) {
		t.Fatalf("current: %v, want errOtherShape", err)
	}
	if n := c.prepared["SELECT 1"]; n != 0 {
		t.Errorf("the connection counts %d open statements of the query, want 0", n)
	}
}
