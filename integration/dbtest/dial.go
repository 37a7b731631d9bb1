package dbtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The unprivileged user of the MariaDB clusters, allowed everything on
// the database "test" only. Root must not be the tests' client: it holds
// READ_ONLY ADMIN in MariaDB 10.11 and writes through read_only.
const (
	AppUser     = "rs_app"
	AppPassword = "rs_app_pw"
)

// FailoverNet is the network name, registered with go-sql-driver/mysql,
// of MySQLFailoverDSN's DSNs: its address is a comma-separated list of
// host:port, dialled in order until one accepts (each for at most a
// second). go-sql-driver/mysql has no multi-host DSN of its own.
const FailoverNet = "rs-failover"

var registerFailover sync.Once

// MySQLFailoverDSN returns a go-sql-driver/mysql DSN for user on the
// database "test" whose connections go to the first of addrs that accepts
// a TCP connection: rs-failover(127.0.0.1:P1,127.0.0.1:P2). It fails over
// from a node that is down, not from one that is up but read-only or out
// of its cluster's primary component.
func MySQLFailoverDSN(user, password string, addrs ...string) string {
	registerFailover.Do(func() { mysql.RegisterDialContext(FailoverNet, dialInOrder) })
	return fmt.Sprintf("%s:%s@%s(%s)/test", user, password, FailoverNet, strings.Join(addrs, ","))
}

func dialInOrder(ctx context.Context, addrs string) (net.Conn, error) {
	var errs []error
	for _, addr := range strings.Split(addrs, ",") {
		d := net.Dialer{Timeout: time.Second, KeepAlive: 15 * time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}
