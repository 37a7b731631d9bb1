//go:build unix

package retrysql

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// peeker looks at one connection's socket without blocking and without
// consuming anything. Made once per connection, it allocates nothing per
// look.
type peeker struct {
	raw             syscall.RawConn
	look            func(fd uintptr) // p.recv, bound once
	buf             [1]byte
	closed, pending bool
}

func newPeeker(c net.Conn) *peeker {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &peeker{raw: raw}
	p.look = p.recv
	return p
}

func (p *peeker) recv(fd uintptr) {
	n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == nil && n == 0:
		p.closed = true
	case err == nil:
		p.pending = true
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK):
	default:
		p.closed = true // reset, or another error: unusable
	}
}

// peek reports whether the peer hung up (closed) or has bytes waiting
// (pending); neither when it cannot tell.
func (p *peeker) peek() (closed, pending bool) {
	if p == nil {
		return false, false
	}
	p.closed, p.pending = false, false
	// Control, not Read: Read would wait for the socket's read lock, which
	// a reader blocked on the socket (pgx's background reader) may hold
	// until data comes; a recv that does not wait needs no lock.
	if err := p.raw.Control(p.look); err != nil {
		return false, false
	}
	return p.closed, p.pending
}
