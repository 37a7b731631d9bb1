package retrysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"slices"

	"github.com/retrysql/retrysql/classify"
)

// NewConnector wraps a connector of any driver, for sql.OpenDB:
//
//	c, err := retrysql.NewConnector(stdlib.GetConnector(cfg), opts...)
//	if err != nil {
//		return err
//	}
//	db := sql.OpenDB(c)
//
// It returns an error if base is nil or an option is invalid. A connector
// of retrysql's is not wrapped twice: the driver's connector beneath it
// is, with its options followed by opts.
func NewConnector(base driver.Connector, opts ...Option) (driver.Connector, error) {
	if base == nil {
		return nil, errors.New("retrysql: NewConnector with a nil connector")
	}
	switch c := base.(type) {
	case *connector:
		base, opts = c.inner, slices.Concat(c.drv.opts, opts)
	case closingConnector:
		base, opts = c.inner, slices.Concat(c.drv.opts, opts)
	}
	return newConnector(base, base.Driver(), opts)
}

// connector wraps a driver's connector: it retries connecting and wraps
// the connections it makes.
type connector struct {
	inner driver.Connector
	h     *handle
	drv   *wrapDriver
}

var _ driver.Connector = (*connector)(nil)

// closingConnector is a connector whose driver's connector has Close, which
// database/sql calls from DB.Close.
type closingConnector struct{ *connector }

var _ io.Closer = closingConnector{}

func (c closingConnector) Close() error { return c.inner.(io.Closer).Close() }

func newConnector(inner driver.Connector, drv driver.Driver, opts []Option) (driver.Connector, error) {
	h, err := newHandle(inner, opts)
	if err != nil {
		return nil, err
	}
	c := &connector{inner: inner, h: h, drv: &wrapDriver{inner: drv, opts: opts, h: h}}
	if _, ok := inner.(io.Closer); ok {
		return closingConnector{c}, nil
	}
	return c, nil
}

// newHandle makes the handle of a connector, configured by opts.
func newHandle(inner driver.Connector, opts []Option) (*handle, error) {
	cfg := newConfig(scopeHandle)
	cfg.admit = newDefaultAdmission()
	if err := cfg.apply(opts); err != nil {
		return nil, err
	}
	h := &handle{idempotentQuery: cfg.idempotentQuery, connector: inner}
	if cfg.retrier != nil {
		if cfg.retrierOptions > 0 {
			return nil, errors.New("retrysql: WithRetrier shares a Retrier as it is; configure that Retrier instead of passing other options with it")
		}
		h.r = cfg.retrier
	} else {
		h.r = cfg.build()
	}
	return h, nil
}

// Connect opens a connection, retrying refused connections and "not now"
// answers (too many connections, the server starting) with the connect
// strategy, within ctx. Under an outer loop (RunInTx, Do) it makes one
// attempt, which that loop retries.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	var (
		inner driver.Conn
		err   error
	)
	if o := opOf(ctx); o != nil {
		if inner, err = c.inner.Connect(ctx); err != nil {
			o.connectFailed.Store(true)
			return nil, notBadConn(err)
		}
	} else if inner, err = run(ctx, c.h.r, &c.h.r.policy, connectSite{}, c.inner.Connect); err != nil {
		return nil, notBadConn(err)
	}
	return wrapConn(inner, c.h), nil
}

// Driver returns the wrapper's driver, bound to this connector's handle.
func (c *connector) Driver() driver.Driver { return c.drv }

// connectSite is the site of opening a connection: every failure but a
// permanent one is retried (nothing ran), and a connect funds no retries.
type connectSite struct{}

func (connectSite) place() Place                   { return PlaceConnect }
func (connectSite) funds() bool                    { return false }
func (connectSite) atConnect() bool                { return true }
func (connectSite) paced(res classify.Result) bool { return false }
func (connectSite) outer() bool                    { return false }

func (connectSite) decide(ctx context.Context, p *policy, err error, res classify.Result) decision {
	if res.Class == classify.Permanent {
		return stopWith(ReasonPermanent, nil)
	}
	return decision{act: retry}
}
