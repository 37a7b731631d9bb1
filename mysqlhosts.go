package retrysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
)

// go-sql-driver/mysql has no multi-host DSN. Through retrysql a MySQL DSN
// may name several hosts, as pgx's does:
//
//	app:secret@tcp(db1:3306,db2:3306,db3:3306)/shop?targetSessionAttrs=read-write
//
// A connect tries the hosts in turn, starting with the one that served
// the last connect; with targetSessionAttrs=read-write (pgx's
// target_session_attrs) it skips a node that is read-only (@@read_only) or,
// in a Galera cluster, not ready (wsrep_ready not ON, or error 1047): the
// node a failover demoted, or one that left the primary component. The
// error of a connect that no host accepted joins every host's.

// hostsConnector connects to the first usable host of a list.
type hostsConnector struct {
	hosts  []string
	conns  []driver.Connector
	writer bool         // targetSessionAttrs=read-write
	last   atomic.Int32 // the host that served the last connect
	drv    driver.Driver
}

// mysqlHosts returns a connector for a go-sql-driver DSN whose address is a
// list of hosts (tcp(h1:p1,h2:p2)) or that has targetSessionAttrs, or nil
// for any other DSN.
func mysqlHosts(drv driver.Driver, dsn string) (driver.Connector, error) {
	dsn, attrs, writer, err := takeTargetSessionAttrs(dsn)
	if err != nil {
		return nil, err
	}
	at := strings.LastIndex(dsn[:max(strings.LastIndex(dsn, "/"), 0)], "@")
	rest := dsn[at+1:]
	end := strings.IndexByte(rest, ')')
	if !strings.HasPrefix(rest, "tcp(") || end < 0 {
		if attrs {
			return nil, errors.New("retrysql: targetSessionAttrs needs a TCP address: tcp(host1:port1,host2:port2)")
		}
		return nil, nil
	}
	if !attrs && !strings.Contains(rest[:end], ",") {
		return nil, nil // one host: go-sql-driver's own connector
	}
	// A DSN the driver refuses is refused with the driver's error.
	if _, err := mysql.ParseDSN(dsn); err != nil {
		return nil, err
	}
	h := &hostsConnector{writer: writer, drv: drv}
	for _, host := range strings.Split(rest[len("tcp("):end], ",") {
		host = strings.TrimSpace(host)
		if host == "" {
			return nil, fmt.Errorf("retrysql: an empty host in the host list of %q", rest[:end+1])
		}
		cfg, err := mysql.ParseDSN(dsn[:at+1] + "tcp(" + host + ")" + rest[end+1:])
		if err != nil {
			return nil, err
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, err
		}
		h.hosts, h.conns = append(h.hosts, cfg.Addr), append(h.conns, conn)
	}
	return h, nil
}

// takeTargetSessionAttrs removes retrysql's targetSessionAttrs parameter
// from dsn (go-sql-driver would send it to the server as a variable),
// reports whether it was there and whether it asks for a writer.
func takeTargetSessionAttrs(dsn string) (out string, attrs, writer bool, err error) {
	q := strings.LastIndexByte(dsn, '?')
	if q < 0 || !strings.Contains(dsn[q:], "targetSessionAttrs=") {
		return dsn, false, false, nil
	}
	params, err := url.ParseQuery(dsn[q+1:])
	if err != nil {
		return dsn, false, false, nil // go-sql-driver reports it
	}
	v := params.Get("targetSessionAttrs")
	if v != "any" && v != "read-write" {
		return "", false, false, fmt.Errorf("retrysql: targetSessionAttrs=%q: want any or read-write", v)
	}
	// The other parameters stay as they were written: encoded again, a
	// list such as charset=utf8mb4,utf8 would reach go-sql-driver, which
	// does not decode every value, as utf8mb4%2Cutf8.
	var kept []string
	for kv := range strings.SplitSeq(dsn[q+1:], "&") {
		if k, _, _ := strings.Cut(kv, "="); k != "targetSessionAttrs" {
			kept = append(kept, kv)
		}
	}
	out = dsn[:q]
	if len(kept) > 0 {
		out += "?" + strings.Join(kept, "&")
	}
	return out, true, v == "read-write", nil
}

// Connect implements driver.Connector.
func (h *hostsConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var errs []error
	start := int(h.last.Load())
	for i := range h.conns {
		k := (start + i) % len(h.conns)
		conn, err := h.conns[k].Connect(ctx)
		if err == nil && h.writer {
			if err = writable(ctx, conn); err != nil {
				conn.Close()
			}
		}
		if err == nil {
			h.last.Store(int32(k))
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", h.hosts[k], err))
	}
	return nil, &hostsError{errs: errs}
}

// Driver implements driver.Connector.
func (h *hostsConnector) Driver() driver.Driver { return h.drv }

// hostsError is the failure of every host of a list: its text names each
// host's error, and errors.Is and errors.As reach each.
type hostsError struct{ errs []error }

func (e *hostsError) Error() string {
	s := make([]string, len(e.errs))
	for i, err := range e.errs {
		s[i] = err.Error()
	}
	return "retrysql: no host accepted the connection: " + strings.Join(s, "; ")
}

func (e *hostsError) Unwrap() []error { return e.errs }

// notWritable is a node that is read-only, or a Galera node not ready:
// nothing was sent, and another host (or the same, once promoted) may do,
// so it has pgx's SafeToRetry behaviour, which classify reads as a
// connection lost before sending.
type notWritable struct{ why string }

func (e *notWritable) Error() string     { return "not a writer: " + e.why }
func (e *notWritable) SafeToRetry() bool { return true }

// writable checks that conn's node accepts writes: not read-only, and, in
// a Galera cluster, ready. An error of the check (1047 from a node outside
// the primary component) counts as not.
func writable(ctx context.Context, conn driver.Conn) error {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return nil
	}
	if v, err := queryValue(ctx, q, "SELECT @@global.read_only", 0); err != nil {
		return err
	} else if v != "0" {
		return &notWritable{why: "read_only is " + v}
	}
	// A Galera node (wsrep_on; MariaDB has the variable even outside a
	// cluster, MySQL not at all) must also be ready.
	if on, err := queryValue(ctx, q, "SHOW GLOBAL VARIABLES LIKE 'wsrep_on'", 1); err != nil || !strings.EqualFold(on, "ON") {
		return err
	}
	if v, err := queryValue(ctx, q, "SHOW GLOBAL STATUS LIKE 'wsrep_ready'", 1); err != nil {
		return err
	} else if !strings.EqualFold(v, "ON") {
		return &notWritable{why: "wsrep_ready is " + v}
	}
	return nil
}

// queryValue returns column col of the first row of query as text, or ""
// if there is no row.
func queryValue(ctx context.Context, q driver.QueryerContext, query string, col int) (string, error) {
	rows, err := q.QueryContext(ctx, query, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		if err == io.EOF {
			return "", nil
		}
		return "", err
	}
	switch v := dest[col].(type) {
	case []byte:
		return string(v), nil
	case nil:
		return "", nil
	default:
		return fmt.Sprint(v), nil
	}
}
