package retrysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"
	"weak"
)

// hangingConnector connects only once release is closed, and says when a
// connect has begun.
type hangingConnector struct {
	begun, release chan struct{}
}

func (c hangingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	select {
	case c.begun <- struct{}{}:
	default:
	}
	select {
	case <-c.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return nil, errors.New("no server")
}

func (hangingConnector) Driver() driver.Driver { return nil }

// TestGatePrepareDoesNotStall: while one attempt makes the fleet gate's
// tables on a server that does not answer, the others go on without the
// gate rather than wait for it.
func TestGatePrepareDoesNotStall(t *testing.T) {
	c := hangingConnector{begun: make(chan struct{}, 1), release: make(chan struct{})}
	db := sql.OpenDB(c)
	defer db.Close()
	g := &gate{d: postgresDialect, db: weak.Make(db)}
	var first atomic.Bool
	done := make(chan struct{})
	go func() {
		g.prepare(context.Background())
		first.Store(true)
		close(done)
	}()
	<-c.begun // the first attempt waits for the server
	g.prepare(context.Background())
	if first.Load() {
		t.Error("the second attempt waited for the first one's preparation")
	}
	close(c.release)
	<-done
	if g.ready.Load() {
		t.Error("the gate is ready without its tables")
	}
}
