package gormretry_test

import (
	"context"
	"database/sql"
	"log"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/gormretry"
)

type Account struct {
	ID      int64
	Balance int64
}

// Open GORM on retrysql's pgx driver (only DriverName changes) and run a
// transfer that is replayed whole when the database aborts it.
func ExampleRunInTx() {
	db, err := gorm.Open(postgres.New(postgres.Config{
		DriverName: retrysql.DriverPgx, // "retry+pgx"
		DSN:        "postgres://app@localhost/shop",
	}), &gorm.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	err = gormretry.RunInTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *gorm.DB) error {
		if err := tx.Model(&Account{ID: 1}).Update("balance", gorm.Expr("balance - ?", 10)).Error; err != nil {
			return err // as it is, or wrapped with %w
		}
		return tx.Model(&Account{ID: 2}).Update("balance", gorm.Expr("balance + ?", 10)).Error
	})
	if err != nil {
		log.Fatal(err)
	}
}

// A transaction that computes a value: the value of the attempt that
// committed.
func ExampleRunInTxValue() {
	db, err := gorm.Open(postgres.New(postgres.Config{DriverName: retrysql.DriverPgx, DSN: "postgres://app@localhost/shop"}), &gorm.Config{})
	if err != nil {
		log.Fatal(err)
	}
	total, err := gormretry.RunInTxValue(context.Background(), db, nil, func(tx *gorm.DB) (int64, error) {
		var total int64
		err := tx.Model(&Account{}).Select("COALESCE(SUM(balance), 0)").Scan(&total).Error
		return total, err
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Println(total)
}
