package dbtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Shopify/toxiproxy/v2/toxics"
)

// dropCommit is a toxic for the upstream stream: it passes everything
// until a client sends COMMIT (PostgreSQL's simple query "commit", as
// pgx sends it, or MySQL's COM_QUERY "COMMIT"), drops that message and
// closes the connection, so that the server never sees the COMMIT, and
// tells the test (Signal names the channel DropCommit returned). It does
// that once; the COMMITs after it pass.
type dropCommit struct {
	Signal string `json:"signal"`
}

// dropSignals holds the channels of dropCommit toxics by name.
var (
	dropSignals sync.Map // string → chan struct{}
	dropSeq     atomic.Int64
)

func init() { toxics.Register("drop_commit", new(dropCommit)) }

// isCommit reports whether a chunk the client sent ends with a COMMIT:
// PostgreSQL's 'Q' message "commit", MySQL's packet of COM_QUERY "COMMIT"
// (go-sql-driver/mysql may send a COM_STMT_CLOSE in the same write).
func isCommit(data []byte) bool {
	return bytes.HasSuffix(data, []byte("Q\x00\x00\x00\x0bcommit\x00")) ||
		bytes.HasSuffix(data, []byte("\x07\x00\x00\x00\x03COMMIT"))
}

func (d *dropCommit) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			ch, armed := dropSignals.Load(d.Signal)
			if !isCommit(c.Data) || !armed || !dropSignals.CompareAndDelete(d.Signal, ch) {
				stub.Output <- c // once dropped, it lets everything through
				continue
			}
			close(ch.(chan struct{}))
			stub.Close()
			return
		}
	}
}

// DropCommit arms the proxy: the next COMMIT a client sends through it is
// dropped, never reaching the server, and its connection closed; the
// channel returned is closed when that has happened. The toxic is removed
// when the test ends.
func (p *Proxy) DropCommit(t testing.TB) <-chan struct{} {
	t.Helper()
	name := fmt.Sprintf("drop_commit_%d", dropSeq.Add(1))
	ch := make(chan struct{})
	dropSignals.Store(name, ch)
	p.Toxic(t, `{"name":"`+name+`","type":"drop_commit","stream":"upstream","attributes":{"signal":"`+name+`"}}`)
	t.Cleanup(func() {
		dropSignals.Delete(name)
		p.Toxics.RemoveToxic(context.Background(), name)
	})
	return ch
}
