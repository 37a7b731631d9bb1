package dbtest

import (
	"net"
	"strings"
	"testing"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy is a toxiproxy proxy run in the test's own process, in front of a
// database server, for injecting faults.
type Proxy struct {
	*toxiproxy.Proxy
}

// NewProxy returns a proxy listening on a free loopback port and
// forwarding to upstream (host:port). It is not started; Start it (now or
// later, to play a server that is not there yet). It is stopped when the
// test ends.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := &Proxy{toxiproxy.NewProxy(srv, t.Name(), addr, upstream)}
	t.Cleanup(p.Stop)
	return p
}

// Addr returns the proxy's listening address.
func (p *Proxy) Addr() string { return p.Listen }

// Toxic adds a toxic given as toxiproxy's JSON, e.g.
// {"type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}.
func (p *Proxy) Toxic(t testing.TB, json string) {
	t.Helper()
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(json)); err != nil {
		t.Fatal(err)
	}
}
