package otelretrysql_test

import (
	"bytes"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// cutProxy is a TCP proxy in front of a database server that can lose one
// COMMIT, for the tests of the commit check. Armed with loseAnswer, it
// forwards the next COMMIT a client sends, waits for the server's answer
// and drops it, closing both connections: the transaction committed, and
// its client cannot know. Armed with loseCommit, it drops the next COMMIT
// and closes the client's connection; the server's it closes lingerFor
// later, as a server behind a cut network notices late: the server never
// sees the COMMIT, keeps the transaction open (and its locks) for that
// long, then rolls it back. Other traffic passes untouched.
type cutProxy struct {
	ln     net.Listener
	target string
	armed  atomic.Int32 // a cut, or 0
	cut    chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

const (
	loseAnswer = 1 + iota
	loseCommit
)

// lingerFor is how long the server's session outlives its client's
// connection after loseCommit.
const lingerFor = 300 * time.Millisecond

// newCutProxy starts a proxy to target (host:port), stopped when the test
// ends.
func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cut: make(chan struct{}, 1), conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

// arm makes the next COMMIT the cut given.
func (p *cutProxy) arm(cut int32) { p.armed.Store(cut) }

// signal says that a cut was made.
func (p *cutProxy) signal() {
	select {
	case p.cut <- struct{}{}:
	default:
	}
}

// made reports whether a cut was made since the last call.
func (p *cutProxy) made() bool {
	select {
	case <-p.cut:
		return true
	default:
		return false
	}
}

func (p *cutProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = true, true
		p.mu.Unlock()
		var lost atomic.Bool // the server's next answer is to be lost
		end := func() {
			client.Close()
			server.Close()
		}
		p.wg.Go(func() { // client to server
			buf := make([]byte, 64<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 && isCommit(buf[:n]) {
					switch p.armed.Swap(0) {
					case loseAnswer:
						// The other direction ends both once the
						// answer has come.
						lost.Store(true)
						server.Write(buf[:n])
						return
					case loseCommit:
						client.Close()
						p.signal()
						time.Sleep(lingerFor)
						server.Close()
						return
					}
				}
				if n > 0 {
					if _, err := server.Write(buf[:n]); err != nil {
						end()
						return
					}
				}
				if err != nil {
					end()
					return
				}
			}
		})
		p.wg.Go(func() { // server to client
			defer end()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 && lost.Load() {
					p.signal() // COMMIT was answered: it committed
					return
				}
				if n > 0 {
					if _, err := client.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

// isCommit reports whether a chunk a client sent ends with a COMMIT:
// PostgreSQL's simple query "commit" (pgx), MySQL's COM_QUERY "COMMIT"
// (go-sql-driver/mysql, which may send a COM_STMT_CLOSE in the same
// write).
func isCommit(data []byte) bool {
	return bytes.HasSuffix(data, []byte("Q\x00\x00\x00\x0bcommit\x00")) ||
		bytes.HasSuffix(data, []byte("\x07\x00\x00\x00\x03COMMIT"))
}

// pgVia returns the PostgreSQL URL dsn pointed at addr, and the address it
// pointed at.
func pgVia(t *testing.T, dsn string, addr func(target string) string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Skipf("the PostgreSQL DSN %q is not a URL with a host", dsn)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	u.Host = addr(net.JoinHostPort(u.Hostname(), port))
	return u.String()
}

// mysqlVia is pgVia for a go-sql-driver/mysql DSN over TCP.
func mysqlVia(t *testing.T, dsn string, addr func(target string) string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil || cfg.Net != "tcp" {
		t.Skipf("the MySQL DSN %q is not one over TCP", dsn)
	}
	cfg.Addr = addr(cfg.Addr)
	return cfg.FormatDSN()
}
