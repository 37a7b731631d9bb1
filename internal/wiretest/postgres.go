package wiretest

import (
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Hang, as a PGError Code, makes the server accept the connection and then
// never answer a statement.
const Hang = "hang"

// PGError describes the ErrorResponse the fake PostgreSQL server sends.
type PGError struct {
	When     When
	Severity string // "ERROR" if empty
	Code     string
	Message  string
	Detail   string
	// Close makes the server drop the connection right after the error,
	// as a FATAL error does.
	Close bool
}

// PG starts a fake PostgreSQL server and returns a pgx connection string for
// it. Every connection fails as e says. With a zero Code the server
// drops the connection instead of answering (at startup or at the first
// statement).
func PG(t testing.TB, e PGError) string {
	addr := start(t, func(c net.Conn) { servePG(c, e) })
	host, port, _ := net.SplitHostPort(addr)
	return "postgres://fake@" + host + ":" + port + "/fake?sslmode=disable&connect_timeout=5"
}

func servePG(c net.Conn, e PGError) {
	be := pgproto3.NewBackend(c, c)
	msg, err := be.ReceiveStartupMessage()
	if err != nil {
		return
	}
	if _, ok := msg.(*pgproto3.CancelRequest); ok {
		return
	}
	if _, ok := msg.(*pgproto3.SSLRequest); ok {
		if _, err := c.Write([]byte{'N'}); err != nil {
			return
		}
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return
		}
	}
	fail := func() {
		if e.Code == "" {
			return // drop the connection
		}
		sev := e.Severity
		if sev == "" {
			sev = "ERROR"
		}
		be.Send(&pgproto3.ErrorResponse{Severity: sev, SeverityUnlocalized: sev, Code: e.Code, Message: e.Message, Detail: e.Detail})
		be.Flush()
	}
	if e.When == OnConnect {
		fail()
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "15.0"})
	be.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
	be.Send(&pgproto3.ParameterStatus{Name: "standard_conforming_strings", Value: "on"})
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 2}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	failed := false
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		if e.Code == Hang {
			if _, ok := msg.(*pgproto3.Terminate); ok {
				return
			}
			continue
		}
		switch msg.(type) {
		case *pgproto3.Terminate:
			return
		case *pgproto3.Query:
			if e.Code == "" || e.Close {
				fail()
				return
			}
			fail()
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			be.Flush()
		case *pgproto3.Sync:
			failed = false
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			be.Flush()
		default: // Parse, Bind, Describe, Execute, Flush: fail at the first
			if failed {
				continue
			}
			fail()
			if e.Code == "" || e.Close {
				return
			}
			failed = true
		}
	}
}
