package classify_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql/classify"
)

var sinkResult classify.Result

func BenchmarkClassify(b *testing.B) {
	for _, bc := range []struct {
		name string
		err  error
	}{
		{"PostgresSerialization", fmt.Errorf("transfer: %w", &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access due to concurrent update"})},
		{"PostgresUniqueViolation", &pgconn.PgError{Severity: "ERROR", Code: "23505", Message: "duplicate key value violates unique constraint"}},
		{"MySQLDeadlock", fmt.Errorf("transfer: %w", &mysql.MySQLError{Number: 1213, SQLState: [5]byte{'4', '0', '0', '0', '1'}, Message: "Deadlock found when trying to get lock; try restarting transaction"})},
		{"MySQLReadOnly", &mysql.MySQLError{Number: 1290, Message: "The MySQL server is running with the --read-only option so it cannot execute this statement"}},
		{"InvalidConn", fmt.Errorf("exec: %w", mysql.ErrInvalidConn)},
		{"UnexpectedEOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF)},
		{"Unknown", errors.New("something else")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkResult = classify.Default.Classify(bc.err)
			}
		})
	}
}
