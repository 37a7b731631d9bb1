package retrysql_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// fakeDriver is an in-memory driver with failure hooks, for what sqlmock
// cannot express: a bad connection before anything was sent, a slow call,
// a panic, a driver without some optional interfaces. Every statement runs
// through script, which returns the error for it (or nil).
type fakeDriver struct {
	mu      sync.Mutex
	script  func(op, query string, n int) error // n counts calls of op+query from 1
	counts  map[string]int
	log     []string
	opens   int
	openErr func(n int) error
	// firstRow, if set, returns the error of the first Next of the rows of
	// query (n counts its calls from 1): an error the server raises while
	// computing the first row, after the columns were sent.
	firstRow func(query string, n int) error
	rowsN    map[string]int
	// node, if set, returns an error for op+query on the connection opened
	// id-th (from 1): a node that refuses writes, say.
	node func(id int, op, query string) error
}

func newFake(script func(op, query string, n int) error) *fakeDriver {
	if script == nil {
		script = func(string, string, int) error { return nil }
	}
	return &fakeDriver{script: script, counts: map[string]int{}}
}

func (d *fakeDriver) hit(op, query string) error {
	d.mu.Lock()
	d.counts[op+" "+query]++
	n := d.counts[op+" "+query]
	d.log = append(d.log, op+" "+query)
	d.mu.Unlock()
	return d.script(op, query, n)
}

func (d *fakeDriver) count(op, query string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counts[op+" "+query]
}

func (d *fakeDriver) Open(string) (driver.Conn, error) {
	d.mu.Lock()
	d.opens++
	n := d.opens
	d.mu.Unlock()
	if d.openErr != nil {
		if err := d.openErr(n); err != nil {
			return nil, err
		}
	}
	return &fakeConn{d: d, id: n}, nil
}

func (d *fakeDriver) OpenConnector(name string) (driver.Connector, error) {
	return fakeConnector{d}, nil
}

type fakeConnector struct{ d *fakeDriver }

func (c fakeConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open("") }
func (c fakeConnector) Driver() driver.Driver                        { return c.d }

// fakeConn implements every optional interface of a connection.
type fakeConn struct {
	d      *fakeDriver
	id     int
	closed bool
	inTx   bool
}

// on returns the node hook's error for op+query on c, or nil.
func (c *fakeConn) on(op, query string) error {
	if c.d.node == nil {
		return nil
	}
	return c.d.node(c.id, op, query)
}

func (c *fakeConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *fakeConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	if err := c.d.hit("prepare", query); err != nil {
		return nil, c.fail(err)
	}
	return &fakeStmt{c: c, query: query}, nil
}

func (c *fakeConn) Close() error { c.closed = true; return nil }

func (c *fakeConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *fakeConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	if err := c.d.hit("begin", ""); err != nil {
		return nil, c.fail(err)
	}
	c.inTx = true
	return fakeTx{c}, nil
}

func (c *fakeConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	if err := c.on("exec", query); err != nil {
		c.d.hit("exec", query)
		return nil, err
	}
	if err := c.d.hit("exec", query); err != nil {
		if errors.Is(err, errUntilDone) {
			<-ctx.Done() // the request reached the server, the answer never came
			return nil, ctx.Err()
		}
		return nil, c.fail(err)
	}
	return driver.RowsAffected(1), nil
}

func (c *fakeConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	if err := c.d.hit("query", query); err != nil {
		return nil, c.fail(err)
	}
	return c.d.rows(query), nil
}

// fail applies what an error means for the connection: a lost connection
// closes it, so that database/sql and the next call see it dead.
func (c *fakeConn) fail(err error) error {
	switch {
	case errors.Is(err, errSlow):
		time.Sleep(50 * time.Millisecond)
		return nil
	case errors.Is(err, errPanic):
		panic("fake driver panics")
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF):
		c.closed = true
	}
	return err
}

func (c *fakeConn) Ping(ctx context.Context) error {
	if c.closed {
		return driver.ErrBadConn
	}
	return nil
}

func (c *fakeConn) ResetSession(ctx context.Context) error {
	if c.closed {
		return driver.ErrBadConn
	}
	return nil
}

func (c *fakeConn) IsValid() bool { return !c.closed }

func (c *fakeConn) CheckNamedValue(nv *driver.NamedValue) error {
	if _, ok := nv.Value.(removeMe); ok {
		return driver.ErrRemoveArgument
	}
	return driver.ErrSkip
}

// removeMe is an argument the fake's CheckNamedValue asks database/sql to
// drop.
type removeMe struct{}

var (
	errUntilDone = errors.New("fake: no answer until the context ends")
	errSlow      = errors.New("fake: slow call")
	errPanic     = errors.New("fake: panic")
)

type fakeTx struct{ c *fakeConn }

func (t fakeTx) Commit() error {
	t.c.inTx = false
	return t.c.d.hit("commit", "")
}

func (t fakeTx) Rollback() error {
	t.c.inTx = false
	return t.c.d.hit("rollback", "")
}

type fakeStmt struct {
	c     *fakeConn
	query string
}

func (s *fakeStmt) Close() error  { return nil }
func (s *fakeStmt) NumInput() int { return -1 }

func (s *fakeStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), nil)
}

func (s *fakeStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), nil)
}

func (s *fakeStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if s.c.closed {
		return nil, driver.ErrBadConn
	}
	if err := s.c.d.hit("stmt-exec", s.query); err != nil {
		return nil, s.c.fail(err)
	}
	return driver.RowsAffected(1), nil
}

func (s *fakeStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if s.c.closed {
		return nil, driver.ErrBadConn
	}
	if err := s.c.d.hit("stmt-query", s.query); err != nil {
		return nil, s.c.fail(err)
	}
	return s.c.d.rows(s.query), nil
}

// rows returns the rows of query: one row, whose computing may fail as
// firstRow says.
func (d *fakeDriver) rows(query string) *fakeRows {
	r := &fakeRows{n: 1}
	if d.firstRow != nil {
		d.mu.Lock()
		if d.rowsN == nil {
			d.rowsN = map[string]int{}
		}
		d.rowsN[query]++
		n := d.rowsN[query]
		d.mu.Unlock()
		r.err = d.firstRow(query, n)
	}
	return r
}

type fakeRows struct {
	n   int
	err error // of the first Next
}

func (r *fakeRows) Columns() []string { return []string{"x"} }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if err := r.err; err != nil {
		r.err = nil
		r.n = 0
		return err
	}
	if r.n == 0 {
		return io.EOF
	}
	r.n--
	dest[0] = int64(42)
	return nil
}

// failN returns a script that fails op+query with err for its first n calls.
func failN(op, query string, n int, err error) func(string, string, int) error {
	return func(o, q string, k int) error {
		if o == op && q == query && k <= n {
			return err
		}
		return nil
	}
}

func (d *fakeDriver) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprint(d.log)
}
