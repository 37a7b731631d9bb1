package integration_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/integration/dbtest"
)

type rsAccount struct {
	ID      int64 `gorm:"primaryKey"`
	Balance int64
}

func (rsAccount) TableName() string { return "rs_gorm_accounts" }

// TestGORM runs GORM on retry+pgx: its statements go through the wrapper,
// and a serialization failure raised by the server is retried under it.
func TestGORM(t *testing.T) {
	admin := dbtest.OpenPostgres(t)
	flakyPG(t, admin, "rs_flaky_gorm", "40001", 2)
	db, err := gorm.Open(postgres.New(postgres.Config{DriverName: retrysql.DriverPgx, DSN: dbtest.PostgresDSN(t)}),
		&gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_gorm_accounts"); sqlDB.Close() })
	if err := db.AutoMigrate(&rsAccount{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&rsAccount{ID: 1, Balance: 100}).Error; err != nil {
		t.Fatal(err)
	}
	var got rsAccount
	if err := db.First(&got, 1).Error; err != nil || got.Balance != 100 {
		t.Fatalf("First: %+v, %v", got, err)
	}
	var n int64
	if err := db.Raw("SELECT rs_flaky_gorm()").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("succeeded on call %d, want 3", n)
	}
	if r, ok := retrysql.RetrierOf(sqlDB); !ok || r.Stats().RetriesByCode["40001"] != 2 {
		t.Fatalf("GORM's handle is not retrysql's, or the retries were not counted")
	}
}

// TestSqlx runs sqlx on retry+mysql.
func TestSqlx(t *testing.T) {
	admin := dbtest.OpenMySQL(t)
	flakyMySQL(t, admin, "rs_flaky_sqlx", 1213, 2, "40001", "Deadlock found when trying to get lock; try restarting transaction")
	db, err := sqlx.Open(retrysql.DriverMySQL, dbtest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); admin.Exec("DROP TABLE IF EXISTS rs_sqlx") })
	ctx := context.Background()
	dbtest.Exec(t, admin, "DROP TABLE IF EXISTS rs_sqlx", "CREATE TABLE rs_sqlx (id INT PRIMARY KEY, name VARCHAR(20))")
	if _, err := db.NamedExecContext(ctx, "INSERT INTO rs_sqlx (id, name) VALUES (:id, :name)", map[string]any{"id": 1, "name": "a"}); err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := db.SelectContext(ctx, &names, "SELECT name FROM rs_sqlx WHERE id = ?", 1); err != nil || len(names) != 1 {
		t.Fatalf("Select: %v %v", names, err)
	}
	if _, err := db.ExecContext(ctx, "SET @x = rs_flaky_sqlx()"); err != nil {
		t.Fatal(err)
	}
	if r, _ := retrysql.RetrierOf(db.DB); r.Stats().RetriesByCode["1213"] != 2 {
		t.Fatalf("stats %+v", r.Stats())
	}
}
