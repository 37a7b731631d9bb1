package retrysql_test

import (
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"

	"github.com/retrysql/retrysql"
)

// openMock wraps sqlmock's driver with retrysql: the exact statements the
// wrapper sends are checked by the mock's expectations.
func openMock(t *testing.T, opts ...retrysql.Option) (*sql.DB, sqlmock.Sqlmock) {
	t.Helper()
	dsn := fmt.Sprintf("retrysql-%s-%d", t.Name(), registrations.Add(1))
	base, mock, err := sqlmock.NewWithDSN(dsn, sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close() })
	db, err := retrysql.Open("sqlmock", dsn, append(append([]retrysql.Option{}, fastOptions...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		if err := mock.ExpectationsWereMet(); err != nil {
			t.Error(err)
		}
	})
	return db, mock
}

func TestSqlmockExactStatementSequence(t *testing.T) {
	db, mock := openMock(t)
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
	mock.ExpectExec("UPDATE accounts SET balance = balance - ? WHERE id = ?").WithArgs(10, 1).WillReturnError(deadlock)
	mock.ExpectExec("UPDATE accounts SET balance = balance - ? WHERE id = ?").WithArgs(10, 1).WillReturnError(deadlock)
	mock.ExpectExec("UPDATE accounts SET balance = balance - ? WHERE id = ?").WithArgs(10, 1).WillReturnResult(sqlmock.NewResult(0, 1))
	res, err := db.ExecContext(t.Context(), "UPDATE accounts SET balance = balance - ? WHERE id = ?", 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("rows affected %d", n)
	}
}

func TestSqlmockPermanentErrorOnce(t *testing.T) {
	db, mock := openMock(t)
	dup := &mysql.MySQLError{Number: 1062, Message: "Duplicate entry '1' for key 'PRIMARY'"}
	mock.ExpectExec("INSERT INTO t VALUES (1)").WillReturnError(dup)
	_, err := db.ExecContext(t.Context(), "INSERT INTO t VALUES (1)")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1062 {
		t.Fatalf("got %v", err)
	}
}

func TestSqlmockQueryRetried(t *testing.T) {
	db, mock := openMock(t)
	timeout := &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded; try restarting transaction"}
	mock.ExpectQuery("SELECT balance FROM accounts WHERE id = ?").WithArgs(1).WillReturnError(timeout)
	mock.ExpectQuery("SELECT balance FROM accounts WHERE id = ?").WithArgs(1).
		WillReturnRows(sqlmock.NewRows([]string{"balance"}).AddRow(90))
	var balance int
	if err := db.QueryRowContext(t.Context(), "SELECT balance FROM accounts WHERE id = ?", 1).Scan(&balance); err != nil {
		t.Fatal(err)
	}
	if balance != 90 {
		t.Fatalf("balance %d", balance)
	}
}

// TestSqlmockTransactionNotRetriedAlone: a deadlock inside a transaction is
// returned as it is, and the statements are BEGIN, UPDATE, ROLLBACK: no
// statement repeated.
func TestSqlmockTransactionNotRetriedAlone(t *testing.T) {
	db, mock := openMock(t)
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
	mock.ExpectBegin()
	mock.ExpectExec(regexp.QuoteMeta("UPDATE t SET x = 1")).WillReturnError(deadlock)
	mock.ExpectRollback()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), "UPDATE t SET x = 1"); err != deadlock {
		t.Fatalf("got %v, want the deadlock as it is", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}

func TestSqlmockBeginRetried(t *testing.T) {
	db, mock := openMock(t)
	mock.ExpectBegin().WillReturnError(&mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"})
	mock.ExpectBegin()
	mock.ExpectCommit()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
