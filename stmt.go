package retrysql

import (
	"context"
	"database/sql/driver"
)

// stmtInterfaces lists, in the order of their bits in a stmtVariant mask,
// the optional interfaces a wrapped statement forwards when the driver's
// statement has them. A statement without NamedValueChecker leaves
// database/sql to fall back to the connection's, as it would without the
// wrapper.
var stmtInterfaces = [...]string{"StmtExecContext", "StmtQueryContext", "NamedValueChecker", "ColumnConverter"}

// stmt wraps a prepared statement of the driver.
type stmt struct {
	inner driver.Stmt
	c     *conn
	query string

	execer    driver.StmtExecContext
	queryer   driver.StmtQueryContext
	checker   driver.NamedValueChecker
	converter driver.ColumnConverter //lint:ignore SA1019 forwarded when the driver has it
}

type stmtExt struct{ s *stmt }

// columnConverter is driver.ColumnConverter under another name: embedded as
// driver.ColumnConverter, the field would be named like its method and hide
// it.
type columnConverter interface {
	ColumnConverter(idx int) driver.ValueConverter
}

var (
	_ driver.Stmt              = (*stmt)(nil)
	_ driver.StmtExecContext   = (*stmtExt)(nil)
	_ driver.StmtQueryContext  = (*stmtExt)(nil)
	_ driver.NamedValueChecker = (*stmtExt)(nil)
	_ driver.ColumnConverter   = (*stmtExt)(nil) //lint:ignore SA1019 see stmt.converter
)

func wrapStmt(inner driver.Stmt, c *conn, query string) driver.Stmt {
	s := &stmt{inner: inner, c: c, query: query}
	var mask uint
	var ok bool
	if s.execer, ok = inner.(driver.StmtExecContext); ok {
		mask |= 1
	}
	if s.queryer, ok = inner.(driver.StmtQueryContext); ok {
		mask |= 2
	}
	if s.checker, ok = inner.(driver.NamedValueChecker); ok {
		mask |= 4
	}
	//lint:ignore SA1019 forwarded when the driver has it
	if s.converter, ok = inner.(driver.ColumnConverter); ok {
		mask |= 8
	}
	return stmtVariant(s, &stmtExt{s}, mask)
}

// Unwrap returns the driver's own statement.
func (s *stmt) Unwrap() driver.Stmt { return s.inner }

// Close implements driver.Stmt.
func (s *stmt) Close() error { return s.inner.Close() }

// NumInput implements driver.Stmt.
func (s *stmt) NumInput() int { return s.inner.NumInput() }

// Exec implements driver.Stmt for callers without a context; it is not
// retried.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.inner.Exec(args) //lint:ignore SA1019 the legacy method of a legacy caller
}

// Query implements driver.Stmt for callers without a context; it is not
// retried.
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.inner.Query(args) //lint:ignore SA1019 the legacy method of a legacy caller
}

// ExecContext runs the prepared statement, retried as its connection's
// statements are.
func (x stmtExt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s := x.s
	exec := func(ctx context.Context) (driver.Result, error) { return s.execer.ExecContext(ctx, args) }
	if s.c.inTx.Load() {
		r, err := exec(ctx)
		return r, s.c.inTxFailed(err)
	}
	call := s.c.statement(s.query, false)
	return run(ctx, s.c.h.r, &s.c.h.r.policy, &call, exec)
}

// QueryContext runs the prepared query, retried as its connection's
// queries are.
func (x stmtExt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s := x.s
	query := func(ctx context.Context) (driver.Rows, error) { return s.queryer.QueryContext(ctx, args) }
	if s.c.inTx.Load() {
		rows, err := query(ctx)
		return rows, s.c.inTxFailed(err)
	}
	call := s.c.statement(s.query, false)
	if f := s.c.h.idempotentQuery; f != nil {
		call.idempotent = f(s.query)
	}
	return run(ctx, s.c.h.r, &s.c.h.r.policy, &call, query)
}

// CheckNamedValue implements driver.NamedValueChecker; answers pass through
// untouched.
func (x stmtExt) CheckNamedValue(nv *driver.NamedValue) error { return x.s.checker.CheckNamedValue(nv) }

// ColumnConverter implements driver.ColumnConverter.
func (x stmtExt) ColumnConverter(idx int) driver.ValueConverter {
	return x.s.converter.ColumnConverter(idx)
}
