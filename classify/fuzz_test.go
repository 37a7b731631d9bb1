package classify_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql/classify"
)

// FuzzClassify builds errors of every shape the classifier meets, from
// arbitrary codes, numbers and messages, wrapped in arbitrary ways: it must
// never panic, always return one of the four classes, and answer the same
// twice.
func FuzzClassify(f *testing.F) {
	f.Add(uint8(0), "40001", uint16(0), "restart transaction", uint8(0))
	f.Add(uint8(1), "", uint16(1290), "running with the --read-only option", uint8(3))
	f.Add(uint8(2), "08P01", uint16(1105), "not serving", uint8(5))
	f.Add(uint8(7), "\x00\xff", uint16(65535), "", uint8(255))
	f.Fuzz(func(t *testing.T, kind uint8, code string, number uint16, msg string, wrap uint8) {
		var err error
		switch kind % 8 {
		case 0:
			err = &pgconn.PgError{Code: code, Message: msg}
		case 1:
			err = &mysql.MySQLError{Number: number, Message: msg}
		case 2:
			err = &net.OpError{Op: msg, Err: syscall.Errno(number)}
		case 3:
			err = errors.New(msg)
		case 4:
			err = driver.ErrBadConn
		case 5:
			err = io.ErrUnexpectedEOF
		case 6:
			err = context.Canceled
		case 7:
			err = nil
		}
		for i := range wrap % 4 {
			switch (wrap >> (2 + i)) % 3 {
			case 0:
				err = fmt.Errorf("%s: %w", msg, err)
			case 1:
				err = errors.Join(errors.New(code), err)
			case 2:
				err = errors.Join(err, &pgconn.PgError{Code: code})
			}
		}
		a := classify.Default.Classify(err)
		b := classify.Default.Classify(err)
		if a.Class >= classify.NumClasses || a != b {
			t.Fatalf("Classify(%v) = %v then %v", err, a, b)
		}
		if a.Unsent && a.Class != classify.ConnLost {
			t.Fatalf("Classify(%v) = %v: Unsent outside ConnLost", err, a)
		}
	})
}
