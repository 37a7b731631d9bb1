//go:build !unix

package retrysql

import "net"

// peeker cannot look at a socket without blocking on this platform.
type peeker struct{}

func newPeeker(net.Conn) *peeker { return nil }

func (p *peeker) peek() (closed, pending bool) { return false, false }
