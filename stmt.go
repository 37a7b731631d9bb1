package retrysql

import (
	"context"
	"database/sql/driver"

	"github.com/retrysql/retrysql/classify"
)

// stmt wraps a prepared statement of the driver. The wrapper database/sql
// holds is one of the shapes of shapes_gen.go: with ColumnConverter
// exactly when the driver's statement has it.
//
// A statement prepared before its connection was replaced in place
// (conn.revive) prepares itself again on the new one before it runs.
type stmt struct {
	inner driver.Stmt
	c     *conn
	query string
	gen   uint32 // the connection's generation inner belongs to

	execer    driver.StmtExecContext
	queryer   driver.StmtQueryContext
	checker   driver.NamedValueChecker
	converter driver.ColumnConverter //lint:ignore SA1019 forwarded when the driver has it
}

func wrapStmt(inner driver.Stmt, c *conn, query string) driver.Stmt {
	w, s := newStmtShape(stmtShapeOf(inner))
	s.c, s.query = c, query
	s.set(inner)
	return w
}

func (s *stmt) set(inner driver.Stmt) {
	s.inner, s.gen = inner, s.c.gen
	s.execer, _ = inner.(driver.StmtExecContext)
	s.queryer, _ = inner.(driver.StmtQueryContext)
	s.checker, _ = inner.(driver.NamedValueChecker)
	s.converter, _ = inner.(driver.ColumnConverter) //lint:ignore SA1019 see stmt.converter
}

// current prepares the statement again if its connection was replaced
// since; the new statement must have the shape of the old.
func (s *stmt) current(ctx context.Context) error {
	if s.gen == s.c.gen {
		return nil
	}
	inner, err := s.c.prepareInner(ctx, s.query)
	if err != nil {
		return err
	}
	if stmtShapeOf(inner) != stmtShapeOf(s.inner) {
		inner.Close()
		s.c.unprepared(s.query)
		return errOtherShape
	}
	s.inner.Close() // of the lost connection
	s.set(inner)
	return nil
}

// notSent returns err, the failure of a statement's PREPARE again on the
// connection that replaced its own (stmt.current), marked as unsent if it
// lost the connection: the statement itself was not sent, so it may run
// again whatever it does.
func (c *conn) notSent(err error) error {
	res := c.h.r.policy.classify(err)
	if res.Class != classify.ConnLost || res.Unsent {
		return err
	}
	res.Unsent = true
	return Classified(err, res)
}

// Unwrap returns the driver's own statement.
func (s *stmt) Unwrap() driver.Stmt { return s.inner }

// Close implements driver.Stmt.
func (s *stmt) Close() error {
	if s.gen != s.c.gen {
		return nil // it died with its connection
	}
	s.c.unprepared(s.query)
	return s.inner.Close()
}

// NumInput implements driver.Stmt.
func (s *stmt) NumInput() int { return s.inner.NumInput() }

// Exec implements driver.Stmt for callers without a context.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

// Query implements driver.Stmt for callers without a context.
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

// ExecContext implements driver.StmtExecContext: the driver's, or its Exec
// with database/sql's checks. Outside a transaction it is retried as the
// connection's statements are.
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	exec := func(ctx context.Context) (driver.Result, error) {
		if err := s.current(ctx); err != nil {
			return nil, s.c.notSent(err)
		}
		if s.execer != nil {
			return s.execer.ExecContext(ctx, args)
		}
		vals, err := values(ctx, args)
		if err != nil {
			return nil, err
		}
		return s.inner.Exec(vals) //lint:ignore SA1019 the driver has nothing else
	}
	if t := s.c.tx; t != nil {
		if err := t.beforeStatement(ctx, s.query, args); err != nil {
			return nil, err
		}
		r, err := exec(ctx)
		return r, t.failed(err, s.query, true)
	}
	if err := s.c.usable(); err != nil {
		return nil, err
	}
	return statement(ctx, s.c.site.start(s.query, stmtPrepared, false), exec)
}

// QueryContext implements driver.StmtQueryContext, as ExecContext; outside
// a transaction the first row is prefetched, as for the connection's
// queries.
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	query := func(ctx context.Context) (driver.Rows, error) {
		if err := s.current(ctx); err != nil {
			return nil, s.c.notSent(err)
		}
		if s.queryer != nil {
			return s.queryer.QueryContext(ctx, args)
		}
		vals, err := values(ctx, args)
		if err != nil {
			return nil, err
		}
		return s.inner.Query(vals) //lint:ignore SA1019 the driver has nothing else
	}
	c := s.c
	if t := c.tx; t != nil {
		if err := t.beforeStatement(ctx, s.query, args); err != nil {
			return nil, err
		}
		rows, err := query(ctx)
		return rows, t.failed(err, s.query, true)
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	site := c.site.start(s.query, stmtPrepared, c.idempotentQuery(s.query))
	if !c.prefetch {
		return statement(ctx, site, query)
	}
	return statement(ctx, site, func(ctx context.Context) (driver.Rows, error) {
		rows, err := query(ctx)
		if err != nil {
			return nil, err
		}
		return c.prefetchFirst(rows)
	})
}

// CheckNamedValue implements driver.NamedValueChecker: the driver
// statement's, or else its connection's, which database/sql would use;
// answers pass through untouched.
func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if s.checker != nil {
		return s.checker.CheckNamedValue(nv)
	}
	return s.c.CheckNamedValue(nv)
}

// columnConverter implements driver.ColumnConverter, on the shape whose
// driver statement has it.
func (s *stmt) columnConverter(idx int) driver.ValueConverter {
	return s.converter.ColumnConverter(idx)
}

// named gives legacy arguments their ordinals.
func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}
