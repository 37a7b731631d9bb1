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
	look            func(fd uintptr) bool // p.recv, bound once
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

func (p *peeker) recv(fd uintptr) bool {
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
	return true
}

// peek reports whether the peer hung up (closed) or has bytes waiting
// (pending); neither when it cannot tell.
func (p *peeker) peek() (closed, pending bool) {
	if p == nil {
		return false, false
	}
	p.closed, p.pending = false, false
	if err := p.raw.Read(p.look); err != nil {
		return false, false
	}
	return p.closed, p.pending
}
