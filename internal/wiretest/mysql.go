package wiretest

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// MySQLError describes the ERR packet the fake MySQL server sends.
type MySQLError struct {
	When     When
	Number   uint16
	SQLState string // "HY000" if empty
	Message  string
	// Close makes the server drop the connection right after the error.
	Close bool
}

// MySQL starts a fake MySQL server and returns a go-sql-driver/mysql DSN for
// it. Every connection fails as e says. With a zero Number the server drops
// the connection instead of answering (before the handshake, or at the first
// statement).
func MySQL(t testing.TB, e MySQLError) string {
	addr := start(t, func(c net.Conn) { serveMySQL(c, e) })
	return "fake:fake@tcp(" + addr + ")/fake?timeout=5s"
}

// Capability flags the fake server announces: long password (which also
// tells go-sql-driver this is MySQL, not MariaDB), long flag, connect with
// db, protocol 4.1, transactions, secure connection, multi results, plugin
// auth.
const mysqlCaps = 1 | 4 | 8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000

func serveMySQL(c net.Conn, e MySQLError) {
	fail := func(seq byte) {
		if e.Number == 0 {
			return
		}
		state := e.SQLState
		if state == "" {
			state = "HY000"
		}
		p := []byte{0xff, 0, 0}
		binary.LittleEndian.PutUint16(p[1:], e.Number)
		p = append(p, '#')
		p = append(p, state...)
		p = append(p, e.Message...)
		writePacket(c, seq, p)
	}
	if e.When == OnConnect && e.Number == 0 {
		return
	}
	if e.When == OnConnect && e.Number != 1203 && e.Number != 1226 && e.Number != 1045 {
		// Refusals before authentication (too many connections, host
		// blocked) come instead of the handshake.
		fail(0)
		return
	}
	hs := []byte{10}
	hs = append(hs, "8.0.36-wiretest"...)
	hs = append(hs, 0)
	hs = binary.LittleEndian.AppendUint32(hs, 7) // connection id
	hs = append(hs, "abcdefgh"...)               // auth data, part 1
	hs = append(hs, 0)                           // filler
	hs = binary.LittleEndian.AppendUint16(hs, mysqlCaps&0xffff)
	hs = append(hs, 45)                          // utf8mb4_general_ci
	hs = binary.LittleEndian.AppendUint16(hs, 2) // autocommit
	hs = binary.LittleEndian.AppendUint16(hs, mysqlCaps>>16)
	hs = append(hs, 21)                  // auth data length
	hs = append(hs, make([]byte, 10)...) // reserved
	hs = append(hs, "ijklmnopqrst"...)   // auth data, part 2
	hs = append(hs, 0)
	hs = append(hs, "mysql_native_password"...)
	hs = append(hs, 0)
	if writePacket(c, 0, hs) != nil {
		return
	}
	if _, _, err := readPacket(c); err != nil { // handshake response
		return
	}
	if e.When == OnConnect {
		fail(2) // refused after authentication
		return
	}
	if writePacket(c, 2, []byte{0, 0, 0, 2, 0, 0, 0}) != nil { // OK
		return
	}
	for {
		_, p, err := readPacket(c)
		if err != nil || len(p) == 0 {
			return
		}
		switch p[0] {
		case 0x01: // COM_QUIT
			return
		case 0x0e: // COM_PING
			writePacket(c, 1, []byte{0, 0, 0, 2, 0, 0, 0})
		default: // COM_QUERY, COM_STMT_PREPARE, ...: the statement fails
			if e.Number == 0 {
				return
			}
			fail(1)
			if e.Close {
				return
			}
		}
	}
}

func writePacket(w io.Writer, seq byte, p []byte) error {
	h := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}
	_, err := w.Write(append(h, p...))
	return err
}

func readPacket(r io.Reader) (seq byte, p []byte, err error) {
	var h [4]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	p = make([]byte, n)
	_, err = io.ReadFull(r, p)
	return h[3], p, err
}
